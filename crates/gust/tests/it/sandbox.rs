//! Sandbox escape attempts, each run as a real function deployed to a running server
//! (`tests/functions/python-probe`). Each must fail, and each test asserts what really happened:
//! the server's admin token never comes back, the host's process lives on, the connection
//! never arrives. Controls show each probe works where it is allowed to.

use std::time::Duration;

use gust_core::{ExecutionStatus, FunctionSpec};
use reqwest::StatusCode;
use serde_json::Value;

use crate::harness::{TestServer, spec, tar_gz};

/// Small limits so the bombs are quick: 64 pids, a 16 MiB /tmp.
const LIMITS: [(&str, &str); 2] = [("GUST_SANDBOX_PIDS", "64"), ("GUST_SANDBOX_TMP_MB", "16")];

async fn server_with_probe(settings: FunctionSpec) -> TestServer {
    let server = TestServer::start_with_env(&[], &LIMITS);
    server
        .deploy_folder(
            "probe",
            "python3.11",
            FunctionSpec {
                timeout_s: settings.timeout_s.or(Some(20)),
                ..settings
            },
            "python-probe",
        )
        .await;
    server
}

/// Call the probe; the status and the whole body (JSON when it is).
async fn probe(server: &TestServer, path: &str) -> (StatusCode, String) {
    let response = server
        .http()
        .get(format!("{}/fn/default/probe{path}", server.url))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn probe_json(server: &TestServer, path: &str) -> Value {
    let (status, body) = probe(server, path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|_| panic!("{path}: not JSON: {body}"))
}

#[tokio::test]
async fn the_servers_data_dir_and_admin_token_are_out_of_reach() {
    let server = server_with_probe(spec()).await;
    let token_path = server.data_dir.join("admin-token");
    let database = server.data_dir.join("gust.db");
    for path in [
        token_path.display().to_string(),
        database.display().to_string(),
        "/root/.bash_history".into(),
        "/etc/shadow".into(),
    ] {
        let (_, body) = probe(&server, &format!("/read?path={path}")).await;
        let result: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(result["ok"], false, "{path}: {body}");
        assert!(!body.contains(&server.token), "the admin token leaked");
    }
    let listing = probe_json(
        &server,
        &format!("/list?path={}", server.data_dir.display()),
    )
    .await;
    assert_eq!(listing["ok"], false, "{listing}");
    // The token's bytes are nowhere in the sandbox's filesystem.
    let (_, found) = probe(&server, &format!("/find?needle={}", server.token)).await;
    assert_eq!(found, "[]");
    // Control: the probe finds what it may see (its own code).
    let own = probe_json(&server, "/find?needle=def%20fork_bomb").await;
    assert!(
        own.as_array().unwrap().iter().any(|p| p == "/code/main.py"),
        "{own}"
    );
}

#[tokio::test]
async fn another_functions_code_is_out_of_reach() {
    let server = server_with_probe(spec()).await;
    let secret = format!("victim-secret-{}", std::process::id());
    let code = format!("SECRET = '{secret}'\ndef handle(event, context):\n    return 'victim'\n");
    let victim = server
        .deploy_package(
            "victim",
            "python3.11",
            spec(),
            tar_gz(&[("main.py", code.as_bytes())]),
        )
        .await;
    assert_eq!(victim.status, gust_core::DeploymentStatus::Ready);
    let victim_file = server
        .data_dir
        .join("deployments")
        .join(&victim.id)
        .join("main.py");
    assert!(victim_file.exists(), "the victim's code is on the host");
    let (_, body) = probe(&server, &format!("/read?path={}", victim_file.display())).await;
    assert!(
        body.contains("\"ok\": false") || body.contains("\"ok\":false"),
        "{body}"
    );
    assert!(!body.contains(&secret));
    let (_, found) = probe(&server, &format!("/find?needle={secret}")).await;
    assert_eq!(
        found, "[]",
        "the other function's code is not in the sandbox"
    );
}

#[tokio::test]
async fn nothing_outside_tmp_is_writable() {
    let server = server_with_probe(spec()).await;
    for path in [
        "/code/main.py",
        "/code/new.py",
        "/etc/passwd",
        "/usr/bin/evil",
        "/evil",
        "/root/.pyenv/versions/3.11.7/evil",
    ] {
        let result = probe_json(&server, &format!("/write?path={path}")).await;
        assert_eq!(result["ok"], false, "{path} was writable: {result}");
    }
    assert!(!std::path::Path::new("/usr/bin/evil").exists());
    let control = probe_json(&server, "/write?path=/tmp/ok").await;
    assert_eq!(control["ok"], true, "{control}");
}

#[tokio::test]
async fn a_fork_bomb_stops_at_the_pids_limit() {
    let server = server_with_probe(spec()).await;
    let result = probe_json(&server, "/forkbomb").await;
    let children = result["children"].as_u64().unwrap();
    assert!(children < 64, "{result}");
    assert_eq!(result["errno"], 11, "EAGAIN from the pids limit: {result}");
    // The host and the server are unaffected.
    assert!(
        std::process::Command::new("true")
            .status()
            .unwrap()
            .success()
    );
    let health = server
        .http()
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_memory_bomb_hits_the_memory_limit_and_says_so() {
    let server = server_with_probe(FunctionSpec {
        memory_mb: Some(64),
        ..spec()
    })
    .await;
    let response = server
        .http()
        .get(format!("{}/fn/default/probe/memory", server.url))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let id = response.headers()["x-gust-execution-id"]
        .to_str()
        .unwrap()
        .to_string();
    let execution = server
        .client()
        .get_execution("default", "probe", &id)
        .await
        .unwrap();
    assert_eq!(execution.status, ExecutionStatus::Failed);
    let message = execution.error_message.unwrap_or_default();
    assert!(message.contains("memory limit of 64 MiB"), "{message}");
    // A fresh worker takes over.
    assert_eq!(probe(&server, "/whoami").await.0, StatusCode::OK);
}

#[tokio::test]
async fn filling_tmp_stops_at_its_size_limit() {
    let server = server_with_probe(spec()).await;
    let result = probe_json(&server, "/filltmp").await;
    let written = result["written"].as_u64().unwrap();
    assert!(written <= 16 << 20, "{result}");
    assert_eq!(result["errno"], 28, "ENOSPC: {result}");
}

#[tokio::test]
async fn ptrace_mount_and_new_namespaces_are_denied() {
    let server = server_with_probe(spec()).await;
    let ptrace = probe_json(&server, "/ptrace").await;
    for case in ["attach", "traceme"] {
        assert_eq!(ptrace[case]["result"], -1, "{ptrace}");
        assert_eq!(ptrace[case]["errno"], 1, "EPERM: {ptrace}");
    }
    for path in ["/mount", "/unshare"] {
        let result = probe_json(&server, path).await;
        assert_eq!(result["result"], -1, "{path}: {result}");
        assert_eq!(result["errno"], 1, "{path}: {result}");
    }
}

#[tokio::test]
async fn a_process_outside_the_sandbox_cannot_be_killed() {
    let server = server_with_probe(spec()).await;
    let mut host = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let result = probe_json(&server, &format!("/kill?pid={}", host.id())).await;
    assert_eq!(result["ok"], false, "{result}");
    assert!(
        host.try_wait().unwrap().is_none(),
        "the host process lives on"
    );
    let me = probe_json(&server, "/whoami").await;
    assert_eq!(me["uid"], 1000);
    assert_eq!(me["hostname"], "gust", "its own uts namespace");
    assert!(
        me["procs"].as_array().unwrap().len() <= 3,
        "only the sandbox's own processes are visible: {me}"
    );
    let _ = host.kill();
    let _ = host.wait();
}

#[tokio::test]
async fn with_the_network_off_no_connection_leaves_the_sandbox() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = server_with_probe(FunctionSpec {
        network: Some(false),
        ..spec()
    })
    .await;
    let result = probe_json(&server, &format!("/connect?port={port}")).await;
    assert_eq!(result["ok"], false, "{result}");
    assert!(listener.accept().is_err(), "nothing connected");

    // Control: turned on, the same probe reaches the host's loopback.
    server
        .client()
        .update_function(
            "default",
            "probe",
            &FunctionSpec {
                network: Some(true),
                ..spec()
            },
        )
        .await
        .unwrap();
    let result = probe_json(&server, &format!("/connect?port={port}")).await;
    assert_eq!(result["ok"], true, "{result}");
    std::thread::sleep(Duration::from_millis(100));
    assert!(listener.accept().is_ok());
}

#[tokio::test]
async fn running_past_the_timeout_is_stopped() {
    let server = server_with_probe(FunctionSpec {
        timeout_s: Some(1),
        ..spec()
    })
    .await;
    let started = std::time::Instant::now();
    let (status, _) = probe(&server, "/spin").await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert!(started.elapsed() < Duration::from_secs(5));
    let page = server
        .client()
        .list_executions("default", "probe", &[("status", "timeout")])
        .await
        .unwrap();
    assert_eq!(page.total, 1);
    // A fresh worker serves the next request.
    assert_eq!(probe(&server, "/whoami").await.0, StatusCode::OK);
}

/// The seccomp allow-list lets ordinary work through: files, processes, threads, sockets,
/// asyncio or libuv, sqlite, TLS contexts, large allocations, system information. Each step
/// reports its own error, so a call the filter wrongly denies names the step it broke.
#[tokio::test]
async fn everyday_work_passes_the_system_call_allow_list() {
    let server = TestServer::start_with_env(&[], &LIMITS);
    for (name, runtime, folder) in [
        ("py", "python3.11", "python-everyday"),
        ("js", "node20", "node-everyday"),
    ] {
        server
            .deploy_folder(
                name,
                runtime,
                FunctionSpec {
                    timeout_s: Some(30),
                    ..spec()
                },
                folder,
            )
            .await;
        let response = server
            .http()
            .get(format!("{}/fn/default/{name}/", server.url))
            .bearer_auth(&server.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{folder}");
        let steps: Value = response.json().await.unwrap();
        let steps = steps.as_object().unwrap();
        assert!(steps.len() >= 6, "{folder}: {steps:?}");
        for (step, result) in steps {
            assert_eq!(result["ok"], true, "{folder} {step}: {result}");
        }
    }
}

const EPERM: u64 = 1;

/// `result` (a probe's `{"errno": n}` for one call) failed with EPERM: the seccomp
/// allow-list's answer. Without it each call below succeeds or fails with another errno
/// (EINVAL, EBADF, ENOSYS), and `what` says which probe it was.
fn assert_eperm(result: &Value, what: &str) {
    assert_eq!(result["errno"], EPERM, "{what}: {result}");
}

#[tokio::test]
async fn raw_and_packet_sockets_are_denied_even_in_a_namespace_of_its_own() {
    let server = server_with_probe(spec()).await;
    let sockets = probe_json(&server, "/raw-sockets").await;
    for kind in ["packet", "packet_dgram", "inet_raw", "inet6_raw"] {
        assert_eperm(&sockets[kind], kind);
    }
    // The way around capabilities: a user and network namespace of its own, where it would
    // hold CAP_NET_RAW. Neither step is allowed.
    assert_eperm(&sockets["own_namespace"]["unshare"], "unshare");
    assert_eperm(
        &sockets["own_namespace"]["packet"],
        "packet in its own namespace",
    );
}

#[tokio::test]
async fn keyrings_bpf_userfaultfd_perf_events_and_io_uring_are_denied() {
    let server = server_with_probe(spec()).await;
    let calls = probe_json(&server, "/kernel-surface").await;
    let calls = calls.as_object().unwrap();
    for name in [
        "keyctl",
        "add_key",
        "request_key",
        "bpf_map_create",
        "bpf_map_lookup",
        "userfaultfd",
        "perf_event_open",
        "io_uring_setup",
    ] {
        assert_eperm(&calls[name], name);
    }
}

#[tokio::test]
async fn no_namespace_can_be_made_or_joined() {
    let server = server_with_probe(spec()).await;
    let result = probe_json(&server, "/namespaces").await;
    for kind in ["user", "mnt", "net", "pid", "uts", "ipc", "cgroup"] {
        assert_eperm(&result["unshare"][kind], &format!("unshare {kind}"));
        assert_eperm(&result["setns"][kind], &format!("setns {kind}"));
    }
}

#[tokio::test]
async fn nothing_can_be_mounted_over_the_code_folder() {
    let server = server_with_probe(spec()).await;
    let result = probe_json(&server, "/mount-code").await;
    for call in [
        "unshare",
        "mount",
        "umount2",
        "open_tree",
        "fsopen",
        "move_mount",
    ] {
        assert_eperm(&result[call], call);
    }
    assert_eq!(result["code"], serde_json::json!(["main.py"]), "{result}");
}

#[tokio::test]
async fn proc_is_read_only_so_no_process_attribute_can_be_written() {
    let server = server_with_probe(spec()).await;
    let result = probe_json(&server, "/proc-writes").await;
    // EROFS at open: writable, the LSM attributes would fail only at write (EINVAL without
    // an LSM, or a label change with one) and raising the OOM score would succeed.
    for file in ["current", "exec", "oom_score_adj"] {
        assert_eq!(result[file]["errno"], 30, "{file}: {result}");
        assert!(result[file]["opened"].is_null(), "{file}: {result}");
    }
}

#[tokio::test]
async fn other_abis_system_call_entries_are_denied_and_a_kill_is_logged() {
    if std::env::consts::ARCH != "x86_64" {
        return; // x32 and the 32-bit entry are x86_64's
    }
    let server = server_with_probe(spec()).await;
    // x32 numbers (bit 30 set) match no rule of the allow-list.
    let x32 = probe_json(&server, "/x32").await;
    assert_eperm(&x32, "x32 getpid");
    // The 32-bit entry (`int 0x80`) fails the filter's architecture check, whose answer is
    // to kill the process: the worker dies with SIGSYS and the execution says so.
    let response = server
        .http()
        .get(format!("{}/fn/default/probe/int80", server.url))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let id = response.headers()["x-gust-execution-id"]
        .to_str()
        .unwrap()
        .to_string();
    let execution = server
        .client()
        .get_execution("default", "probe", &id)
        .await
        .unwrap();
    assert_eq!(execution.status, ExecutionStatus::Failed);
    let said = "the worker was killed by SIGSYS: a system call the sandbox denies";
    assert!(execution.logs.stderr.contains(said), "{:?}", execution.logs);
    assert_eq!(execution.error_message.as_deref(), Some(said));
    // A fresh worker takes over.
    assert_eq!(probe(&server, "/whoami").await.0, StatusCode::OK);
}

/// A call outside the allow-list fails with EPERM, which the language raises; uncaught, the
/// execution fails and its logs say which call and why (Python: `sched_setaffinity`, Node:
/// `setpriority`; both allowed to an unprivileged process without the filter).
#[tokio::test]
async fn a_denied_system_call_fails_with_eperm_in_the_executions_logs() {
    let server = server_with_probe(spec()).await;
    let node = b"const os = require('os');\n\
                 exports.handle = async () => { os.setPriority(19); return 'lowered'; };\n";
    server
        .deploy_package(
            "renice",
            "node20",
            spec(),
            tar_gz(&[("main.js", node.as_slice())]),
        )
        .await;
    for (function, path, says) in [
        (
            "probe",
            "/affinity",
            "PermissionError: [Errno 1] Operation not permitted",
        ),
        ("renice", "/", "EPERM"),
    ] {
        let response = server
            .http()
            .get(format!("{}/fn/default/{function}{path}", server.url))
            .bearer_auth(&server.token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "{function}"
        );
        let id = response.headers()["x-gust-execution-id"]
            .to_str()
            .unwrap()
            .to_string();
        let execution = server
            .client()
            .get_execution("default", function, &id)
            .await
            .unwrap();
        assert_eq!(execution.status, ExecutionStatus::Failed, "{function}");
        assert!(
            execution.logs.stderr.contains(says),
            "{function}: {:?}",
            execution.logs
        );
    }
}

/// Installs run under the build profile, which has no listening sockets: a lifecycle
/// script that tries to serve gets EPERM, and the build log shows it. (Workers may listen:
/// `everyday_work_passes_the_system_call_allow_list`.) And what the install leaves in the code
/// folder comes back to the server's user without a setuid bit.
#[tokio::test]
async fn builds_run_under_their_own_narrower_profile() {
    let server = TestServer::start();
    let listen = "node -e \\\"require('net').createServer().listen(0, '127.0.0.1')\
                  .on('listening', () => { console.log('build listen: ok'); process.exit(0) })\
                  .on('error', (e) => { console.log('build listen: ' + e.code); process.exit(0) })\\\" \
                  && touch setuid && chmod 4711 setuid";
    let manifest = format!(
        r#"{{"name":"listener","version":"1.0.0","dependencies":{{"is-number":"7.0.0"}},"scripts":{{"postinstall":"{listen}"}}}}"#
    );
    let deployment = server
        .deploy_package(
            "listener",
            "node20",
            spec(),
            tar_gz(&[
                ("package.json", manifest.as_bytes()),
                ("main.js", b"exports.handle = async () => 'ok';\n"),
            ]),
        )
        .await;
    assert_eq!(
        deployment.status,
        gust_core::DeploymentStatus::Ready,
        "{}",
        deployment.build_log
    );
    assert!(
        deployment.build_log.contains("build listen: EPERM"),
        "{}",
        deployment.build_log
    );
    let made = server
        .data_dir
        .join("deployments")
        .join(&deployment.id)
        .join("setuid");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&made).unwrap().permissions());
    assert_eq!(mode & 0o7777, 0o755, "{}: {mode:o}", made.display());
}

#[tokio::test]
async fn the_worker_keeps_no_capability_and_runs_under_no_new_privs_seccomp_and_rlimits() {
    let server = TestServer::start_with_env(
        &[],
        &[
            ("GUST_SANDBOX_FSIZE_MB", "1"),
            ("GUST_SANDBOX_NOFILE", "64"),
        ],
    );
    server
        .deploy_folder("probe", "python3.11", spec(), "python-probe")
        .await;
    let result = probe_json(&server, "/confinement").await;
    let status = &result["status"];
    assert_eq!(status["NoNewPrivs"], "1", "{result}");
    assert_eq!(status["Seccomp"], "2", "filter mode: {result}");
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(status[set], "0000000000000000", "{set}: {result}");
    }
    let limits = &result["limits"];
    assert_eq!(limits["FSIZE"], 1 << 20, "{result}");
    assert_eq!(limits["NOFILE"], 64, "{result}");
    assert_eq!(limits["CORE"], 0, "{result}");
    assert_eq!(result["too_big"]["errno"], 27, "EFBIG: {result}");
    assert_eq!(result["too_many"]["errno"], 24, "EMFILE: {result}");
}
