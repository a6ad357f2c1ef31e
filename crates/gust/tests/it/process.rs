//! Process runtimes through the server: Python and Node functions with a dependency installed
//! at build, the handler contract (responses, JSON values, exceptions), build failures that
//! name their cause, cold and warm starts on the record, and a custom runtime from a tiny
//! executable.

use gust_core::{ExecutionStatus, FunctionSpec, RuntimeId};
use reqwest::StatusCode;

use crate::harness::{TestServer, spec, tar_gz};

async fn get(server: &TestServer, function: &str, path: &str) -> reqwest::Response {
    server
        .http()
        .get(format!("{}/fn/default/{function}{path}", server.url))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn runtimes_list_the_process_runtimes_as_available() {
    let server = TestServer::start();
    let runtimes = server.client().runtimes().await.unwrap();
    for id in [RuntimeId::Python311, RuntimeId::Node20, RuntimeId::Custom] {
        let runtime = runtimes.iter().find(|r| r.id == id).unwrap();
        assert!(runtime.available, "{runtime:?}");
    }
    let python = runtimes
        .iter()
        .find(|r| r.id == RuntimeId::Python311)
        .unwrap();
    assert!(python.version.starts_with("3.11"), "{python:?}");
}

#[tokio::test]
async fn a_python_function_installs_its_requirements_and_follows_the_handler_contract() {
    let server = TestServer::start();
    let deployment = server
        .deploy_folder(
            "py",
            "python3.11",
            FunctionSpec {
                env: Some([("GREETING".to_string(), "hej".to_string())].into()),
                ..spec()
            },
            "python-hello",
        )
        .await;
    assert!(
        deployment.build_log.contains("Successfully installed six"),
        "{}",
        deployment.build_log
    );

    // A {statusCode, headers, body} answer, with the dependency working.
    let response = get(&server, "py", "/").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/plain");
    let id = response.headers()["x-gust-execution-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        response.text().await.unwrap(),
        "hello from python, six 1.17.0"
    );
    let client = server.client();
    let first = client.get_execution("default", "py", &id).await.unwrap();
    assert_eq!(first.status, ExecutionStatus::Completed);
    assert_eq!(first.logs.stdout, "hello from python on stdout\n");
    assert!(first.cold_start, "the first request started a worker");
    let startup = first.startup.clone().unwrap();
    assert!(
        startup.total_us > 0 && startup.import_us.is_some(),
        "{startup:?}"
    );

    // Any JSON value: 200 application/json. The second request finds a warm worker.
    let response = get(&server, "py", "/json").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    let id = response.headers()["x-gust-execution-id"]
        .to_str()
        .unwrap()
        .to_string();
    let value: serde_json::Value = response.json().await.unwrap();
    assert_eq!(value["items"], serde_json::json!([1, 2, 3]));
    assert_eq!(value["function"], "py");
    let warm = client.get_execution("default", "py", &id).await.unwrap();
    assert!(!warm.cold_start && warm.startup.is_none());

    // The event carries method, query, headers and body; the env is the function's.
    let response = server
        .http()
        .post(format!("{}/fn/default/py/echo?a=1&b=two", server.url))
        .bearer_auth(&server.token)
        .header("x-test", "yes")
        .body("payload")
        .send()
        .await
        .unwrap();
    let echo: serde_json::Value = response.json().await.unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["query"], serde_json::json!({"a": "1", "b": "two"}));
    assert_eq!(echo["body"], "payload");
    assert_eq!(echo["isBase64Encoded"], false);
    assert_eq!(echo["header"], "yes");
    let env: serde_json::Value = get(&server, "py", "/env").await.json().await.unwrap();
    assert_eq!(env["GREETING"], "hej");

    // Half a surrogate pair printed: not UTF-8, so it is replaced, and the worker's frame
    // stays valid.
    let response = get(&server, "py", "/half-pair").await;
    assert_eq!(response.status(), StatusCode::OK);
    let half = execution_of(&server, "py", &response).await;
    assert_eq!(half.logs.stdout, "half a pair: ?\n");

    // An exception: a 500 to the caller, a failed execution with the traceback in its logs.
    let response = get(&server, "py", "/error").await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let id = response.headers()["x-gust-execution-id"]
        .to_str()
        .unwrap()
        .to_string();
    let failed = client.get_execution("default", "py", &id).await.unwrap();
    assert_eq!(failed.status, ExecutionStatus::Failed);
    assert!(
        failed.logs.stderr.contains("Traceback")
            && failed
                .logs
                .stderr
                .contains("ValueError: the handler failed on purpose"),
        "{:?}",
        failed.logs
    );
    // The worker survives a handler's exception.
    assert_eq!(get(&server, "py", "/json").await.status(), StatusCode::OK);

    // From the API too.
    let execution = client
        .create_execution(
            "default",
            "py",
            &serde_json::json!({"method": "GET", "path": "/json"}),
        )
        .await
        .unwrap();
    assert_eq!(execution.status, ExecutionStatus::Completed);
    assert!(execution.response.unwrap().body.body.contains("\"items\""));

    // And in the background: an async execution runs on the same workers.
    let queued = client
        .submit_execution("default", "py", &serde_json::json!({"path": "/env"}), None)
        .await
        .unwrap();
    let done = client
        .wait_for_execution(
            "default",
            "py",
            &queued.id,
            std::time::Duration::from_secs(20),
        )
        .await
        .unwrap();
    assert_eq!(done.status, ExecutionStatus::Completed, "{done:?}");
    assert!(done.response.unwrap().body.body.contains("hej"));
}

#[tokio::test]
async fn a_node_function_installs_its_dependencies_and_follows_the_handler_contract() {
    let server = TestServer::start();
    let deployment = server
        .deploy_folder("js", "node20", spec(), "node-hello")
        .await;
    assert!(
        deployment.build_log.contains("npm install"),
        "{}",
        deployment.build_log
    );
    let response = get(&server, "js", "/").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.text().await.unwrap(),
        "hello from node, is-number says true"
    );
    let value: serde_json::Value = get(&server, "js", "/json?n=7").await.json().await.unwrap();
    assert_eq!(
        value,
        serde_json::json!({"numeric": true, "function": "js"})
    );

    let response = get(&server, "js", "/error").await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let id = response.headers()["x-gust-execution-id"]
        .to_str()
        .unwrap()
        .to_string();
    let failed = server
        .client()
        .get_execution("default", "js", &id)
        .await
        .unwrap();
    assert_eq!(failed.status, ExecutionStatus::Failed);
    assert!(
        failed
            .logs
            .stderr
            .contains("Error: the handler failed on purpose"),
        "{:?}",
        failed.logs
    );
}

/// The execution a response was recorded as.
async fn execution_of(
    server: &TestServer,
    function: &str,
    response: &reqwest::Response,
) -> gust_core::Execution {
    let id = response.headers()["x-gust-execution-id"].to_str().unwrap();
    server
        .client()
        .get_execution("default", function, id)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_synchronous_node_handler_answers_and_its_failures_leave_the_worker_serving() {
    let server = TestServer::start();
    let handler = b"exports.handle = (event) => {
  if (event.path === '/throw') throw 'a bare string';
  if (event.path === '/null') throw null;
  if (event.path === '/unencodable') return { statusCode: 200, body: { n: 10n } };
  if (event.path === '/thenable') return { get then() { throw new Error('no then today'); } };
  if (event.path === '/odd') {
    const headers = Object.create({ inherited: 'no' });
    headers['x-\"odd\\\\'] = 'v';
    headers['x-ok'] = 'y';
    console.log('half a pair: \\ud83d');
    return { statusCode: 200, headers, body: 'odd' };
  }
  if (event.path === '/many') {
    const headers = {};
    for (let i = 0; i < 40000; i++) headers['x-' + i] = 'v';
    return { statusCode: 200, headers, body: 'many' };
  }
  console.log('sync hello');
  return { statusCode: 201, headers: { 'x-sync': 'yes' }, body: 'sync ' + event.httpMethod };
};
";
    server
        .deploy_package(
            "sync",
            "node20",
            FunctionSpec {
                min_scale: Some(1),
                max_scale: Some(1),
                ..spec()
            },
            tar_gz(&[("main.js", handler)]),
        )
        .await;

    let response = get(&server, "sync", "/").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["x-sync"], "yes");
    let first = execution_of(&server, "sync", &response).await;
    assert_eq!(response.text().await.unwrap(), "sync GET");
    assert_eq!(first.logs.stdout, "sync hello\n");

    // A thrown non-Error and a body JSON cannot encode both fail the request, not the worker.
    let response = get(&server, "sync", "/throw").await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let thrown = execution_of(&server, "sync", &response).await;
    assert_eq!(thrown.status, ExecutionStatus::Failed);
    assert!(thrown.logs.stderr.contains("a bare string"), "{thrown:?}");
    let response = get(&server, "sync", "/unencodable").await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let unencodable = execution_of(&server, "sync", &response).await;
    assert_eq!(unencodable.status, ExecutionStatus::Failed);
    assert!(
        unencodable
            .error_message
            .as_deref()
            .is_some_and(|m| m.contains("BigInt")),
        "{unencodable:?}"
    );

    // Failures a handler can make of a value: `throw null`, a thenable that throws.
    for path in ["/null", "/thenable"] {
        let response = get(&server, "sync", path).await;
        assert_eq!(
            response.status(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "{path}"
        );
        let failed = execution_of(&server, "sync", &response).await;
        assert_eq!(failed.status, ExecutionStatus::Failed, "{path}: {failed:?}");
    }

    // Headers HTTP cannot carry are left out of the response but kept in the record, which
    // stays readable; inherited properties are not headers; half a surrogate pair in the
    // logs becomes U+FFFD instead of breaking the worker's frame.
    let response = get(&server, "sync", "/odd").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-ok"], "y");
    assert!(response.headers().get("inherited").is_none());
    let odd = execution_of(&server, "sync", &response).await;
    let recorded = &odd.response.as_ref().unwrap().headers;
    assert_eq!(
        recorded.get("x-\"odd\\").map(String::as_str),
        Some("v"),
        "{odd:?}"
    );
    assert!(!recorded.contains_key("inherited"), "{odd:?}");
    assert_eq!(odd.logs.stdout, "half a pair: \u{fffd}\n");

    // More headers than a response holds: a 502 that says so, and the run is recorded.
    let response = get(&server, "sync", "/many").await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let many = execution_of(&server, "sync", &response).await;
    assert_eq!(many.status, ExecutionStatus::Completed);
    assert_eq!(many.response.as_ref().unwrap().headers.len(), 40000);

    let response = get(&server, "sync", "/").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let list: serde_json::Value = server
        .client()
        .send(server.client().request(
            reqwest::Method::GET,
            "/api/v1/namespaces/default/functions/sync/instances",
        ))
        .await
        .unwrap();
    let workers = list["items"].as_array().unwrap();
    assert_eq!(workers.len(), 1, "{workers:?}");
    assert_eq!(workers[0]["requests_served"], 8, "{workers:?}");
}

#[tokio::test]
async fn builds_fail_with_the_reason_when_code_cannot_load() {
    let server = TestServer::start();
    // Function name, runtime, package files, what the build log must name.
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a [u8])>, &'a str);
    let cases: [Case; 5] = [
        (
            "bad-req",
            "python3.11",
            vec![
                ("main.py", b"def handle(e, c):\n    return 1\n"),
                (
                    "requirements.txt",
                    b"gust-no-such-package-exists-0xdeadbeef\n",
                ),
            ],
            "gust-no-such-package-exists-0xdeadbeef",
        ),
        (
            "bad-import",
            "python3.11",
            vec![("main.py", b"import not_a_module_anywhere\n")],
            "not_a_module_anywhere",
        ),
        (
            "no-handler",
            "python3.11",
            vec![("main.py", b"def other(e, c):\n    return 1\n")],
            "handle",
        ),
        (
            "bad-js",
            "node20",
            vec![(
                "main.js",
                b"exports.handle = (e, c) => { syntax error here\n",
            )],
            "SyntaxError",
        ),
        (
            "no-bootstrap",
            "custom",
            vec![("run.sh", b"#!/bin/sh\n")],
            "bootstrap",
        ),
    ];
    for (name, runtime, files, needle) in cases {
        let deployment = server
            .deploy_package(name, runtime, spec(), tar_gz(&files))
            .await;
        assert_eq!(
            deployment.status,
            gust_core::DeploymentStatus::Failed,
            "{name}: {}",
            deployment.build_log
        );
        assert!(
            deployment.build_log.contains(needle),
            "{name}: the log names the cause: {}",
            deployment.build_log
        );
        let function = server.client().get_function("default", name).await.unwrap();
        assert_eq!(function.status, gust_core::FunctionStatus::Error);
    }
    // A .wasm is not a python function's code.
    let deployment = server
        .deploy_package("py-wasm", "python3.11", spec(), b"\0asm\x01\0\0\0".to_vec())
        .await;
    assert_eq!(deployment.status, gust_core::DeploymentStatus::Failed);
}

#[tokio::test]
async fn a_custom_runtime_speaks_the_worker_protocol() {
    let server = TestServer::start();
    server
        .deploy_folder("shout", "custom", spec(), "custom-shout")
        .await;
    for word in ["hello", "louder"] {
        let response = server
            .http()
            .post(format!("{}/fn/default/shout/", server.url))
            .bearer_auth(&server.token)
            .body(word)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let id = response.headers()["x-gust-execution-id"]
            .to_str()
            .unwrap()
            .to_string();
        assert_eq!(response.text().await.unwrap(), word.to_uppercase());
        let execution = server
            .client()
            .get_execution("default", "shout", &id)
            .await
            .unwrap();
        assert!(
            execution.logs.stdout.starts_with("request "),
            "{:?}",
            execution.logs
        );
    }
}

/// The server's sandbox spawner: its child process started with `GUST_SANDBOX_SPAWNER` set.
fn spawner_pid(server: u32) -> Option<u32> {
    let tasks = std::fs::read_dir(format!("/proc/{server}/task")).ok()?;
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|children| {
            children
                .split_whitespace()
                .filter_map(|pid| pid.parse::<u32>().ok())
                .collect::<Vec<_>>()
        })
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
                env.split(|&b| b == 0)
                    .any(|v| v.starts_with(b"GUST_SANDBOX_SPAWNER="))
            })
        })
}

#[tokio::test]
async fn workers_come_back_after_the_sandbox_spawner_is_killed() {
    let server = TestServer::start();
    server
        .deploy_folder("shout", "custom", spec(), "custom-shout")
        .await;
    let shout = |word: &'static str| {
        let request = server
            .http()
            .post(format!("{}/fn/default/shout/", server.url))
            .bearer_auth(&server.token)
            .body(word);
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response.text().await.unwrap())
        }
    };
    assert_eq!(
        shout("before").await,
        (StatusCode::OK, "BEFORE".to_string())
    );

    let old = spawner_pid(server.pid()).expect("the server runs a spawner");
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &old.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());

    // Its sandboxes, the worker among them, die with it; requests fail (never hang) until the
    // pool has noticed, then a new spawner starts the replacement.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (status, body) = shout("after").await;
        if status == StatusCode::OK {
            assert_eq!(body, "AFTER");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no worker came back after the spawner died: {status} {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // A request may have been answered by the worker in the moment before it died with its
    // spawner: the replacement comes with the next request the pool cannot serve.
    let new = loop {
        if let Some(new) = spawner_pid(server.pid()).filter(|new| *new != old) {
            break new;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no new spawner started after the old one died"
        );
        let (status, body) = shout("again").await;
        assert!(
            status == StatusCode::OK || status.is_server_error(),
            "{status} {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_ne!(new, old);
}

#[tokio::test]
async fn builds_and_workers_still_start_after_code_was_attached_to_a_stem_cell() {
    // Attaching code steps the spawner into a sandbox's mount namespace and back, which moves
    // its working directory to `/`; the server's data dir is relative here (see the harness).
    let server = TestServer::start();
    server
        .deploy_folder("py", "python3.11", spec(), "python-hello")
        .await;
    assert_eq!(get(&server, "py", "/").await.status(), StatusCode::OK);
    server
        .deploy_folder("shout", "custom", spec(), "custom-shout")
        .await;
    let response = server
        .http()
        .post(format!("{}/fn/default/shout/", server.url))
        .bearer_auth(&server.token)
        .body("again")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "AGAIN");
}

/// `GET …/deployments/{id}/build-log?follow=true`: the build's states and its log as it is
/// written, then its end; the pieces add up to the log the deployment keeps.
#[tokio::test]
async fn a_build_log_is_followed_as_it_is_written() {
    let server = TestServer::start();
    let client = server.client();
    client
        .create_function(
            "default",
            &FunctionSpec {
                name: Some("followed".into()),
                runtime: Some("python3.11".into()),
                ..spec()
            },
        )
        .await
        .unwrap();
    let deployment = client
        .create_deployment(
            "default",
            "followed",
            crate::harness::package("python-hello"),
            "application/gzip",
            false,
        )
        .await
        .unwrap();
    let url = format!(
        "{}/api/v1/namespaces/default/functions/followed/deployments/{}/build-log",
        server.url, deployment.id
    );
    let mut stream = server
        .http()
        .get(format!("{url}?follow=true"))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let mut text = String::new();
    while let Some(chunk) = stream.chunk().await.unwrap() {
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    // Parse the events: name, then data lines (a multi-line log piece is several `data:`).
    let mut events: Vec<(String, String)> = Vec::new();
    for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let mut name = String::new();
        let mut data = Vec::new();
        for line in block.lines() {
            if let Some(n) = line.strip_prefix("event: ") {
                name = n.to_string();
            } else if let Some(d) = line.strip_prefix("data: ").or(line.strip_prefix("data:")) {
                data.push(d);
            }
        }
        if !name.is_empty() {
            events.push((name, data.join("\n")));
        }
    }
    let statuses: Vec<&str> = events
        .iter()
        .filter(|(n, _)| n == "status")
        .map(|(_, d)| d.as_str())
        .collect();
    assert_eq!(statuses.last(), Some(&"ready"), "{events:?}");
    let (last, end) = events.last().unwrap();
    assert_eq!(last, "end");
    let end: serde_json::Value = serde_json::from_str(end).unwrap();
    assert_eq!(end["status"], "ready");
    let followed: String = events
        .iter()
        .filter(|(n, _)| n == "log")
        .map(|(_, d)| d.as_str())
        .collect();
    let kept: serde_json::Value = server
        .http()
        .get(&url)
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(kept["status"], "ready");
    let kept = kept["build_log"].as_str().unwrap();
    assert!(kept.contains("handler loads"), "{kept}");
    assert_eq!(followed, kept, "the followed pieces make up the kept log");
    // A finished build, followed, answers at once with all of it.
    let again = server
        .http()
        .get(format!("{url}?follow=true"))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(again.contains("event: end"));
}
