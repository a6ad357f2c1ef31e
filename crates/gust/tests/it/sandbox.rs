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
