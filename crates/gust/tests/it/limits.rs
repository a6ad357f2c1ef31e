//! Limits of the Wasm runtime: a guest that never returns gets a 504 without stalling the
//! server, and one that allocates past `memory_mb` fails with a message that says so.

use std::time::{Duration, Instant};

use gust_core::{ExecutionStatus, FunctionSpec};
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{TestServer, hello_guest, spec, test_guest};

#[tokio::test]
async fn a_guest_that_loops_forever_times_out_and_the_server_stays_responsive() {
    let server = TestServer::start();
    server
        .deploy_ready(
            "spin",
            FunctionSpec {
                timeout_s: Some(4),
                ..spec()
            },
            &test_guest(),
        )
        .await;
    server.deploy_ready("hello", spec(), &hello_guest()).await;
    let client = server.client();

    let started = Instant::now();
    let looping = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .invoke(reqwest::Method::GET, "default", "spin", "/loop", vec![])
                .await
                .unwrap()
        })
    };
    // Two loops at once on a two-core machine, and the server still answers others promptly.
    let second = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .invoke(reqwest::Method::GET, "default", "spin", "/loop", vec![])
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..5 {
        let response = client
            .invoke(reqwest::Method::GET, "default", "hello", "/", vec![])
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    // Served while both guests were still spinning: they did not hold the server's threads.
    assert!(
        !looping.is_finished() && !second.is_finished(),
        "the loops ended before hello was served"
    );
    let response = looping.await.unwrap();
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(4) && waited < Duration::from_secs(30),
        "{waited:?}"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "timeout");
    assert_eq!(second.await.unwrap().status(), StatusCode::GATEWAY_TIMEOUT);

    let timeouts = client
        .list_executions("default", "spin", &[("status", "timeout")])
        .await
        .unwrap();
    assert_eq!(timeouts.total, 2);
    assert!(
        timeouts.items[0]
            .error_message
            .as_deref()
            .unwrap()
            .contains("timed out")
    );
}

#[tokio::test]
async fn allocating_past_the_memory_limit_fails_the_execution() {
    let server = TestServer::start();
    server
        .deploy_ready(
            "hog",
            FunctionSpec {
                memory_mb: Some(32),
                ..spec()
            },
            &test_guest(),
        )
        .await;
    let client = server.client();
    let within = client
        .create_execution(
            "default",
            "hog",
            &json!({"method": "GET", "path": "/alloc?mb=8"}),
        )
        .await
        .unwrap();
    assert_eq!(within.status, ExecutionStatus::Completed);
    assert_eq!(within.response.unwrap().body.body, "allocated 8");

    let past = client
        .create_execution(
            "default",
            "hog",
            &json!({"method": "GET", "path": "/alloc?mb=64"}),
        )
        .await
        .unwrap();
    assert_eq!(past.status, ExecutionStatus::Failed);
    let message = past.error_message.unwrap();
    assert!(
        message.contains("memory limit of 32 MiB was hit"),
        "{message}"
    );

    // Over HTTP the caller gets an error status, and the next request runs normally.
    let response = client
        .invoke(
            reqwest::Method::GET,
            "default",
            "hog",
            "/alloc?mb=64",
            vec![],
        )
        .await
        .unwrap();
    assert!(response.status().is_server_error());
    let ok = client
        .invoke(
            reqwest::Method::GET,
            "default",
            "hog",
            "/alloc?mb=4",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_trapping_guest_is_a_failed_execution() {
    let server = TestServer::start();
    server.deploy_ready("crash", spec(), &test_guest()).await;
    let client = server.client();
    let response = client
        .invoke(reqwest::Method::GET, "default", "crash", "/panic", vec![])
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let failed = client
        .list_executions("default", "crash", &[("status", "failed")])
        .await
        .unwrap();
    assert_eq!(failed.total, 1);
    assert!(
        failed.items[0].logs.stderr.contains("guest panic"),
        "{:?}",
        failed.items[0].logs
    );
    // Streaming responses arrive whole.
    let streamed = client
        .invoke(
            reqwest::Method::GET,
            "default",
            "crash",
            "/stream?chunks=3",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        streamed.text().await.unwrap(),
        "chunk 0\nchunk 1\nchunk 2\n"
    );
}

#[tokio::test]
async fn the_record_tells_the_handler_from_the_body_that_followed_its_head() {
    let server = TestServer::start();
    server
        .deploy_ready("slow-body", spec(), &test_guest())
        .await;
    let client = server.client();
    let response = client
        .invoke(
            reqwest::Method::GET,
            "default",
            "slow-body",
            "/stream?chunks=2&pause_ms=150",
            vec![],
        )
        .await
        .unwrap();
    let id = response.headers()["x-gust-execution-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(response.text().await.unwrap(), "chunk 0\nchunk 1\n");
    let execution = server.first_execution("slow-body").await;
    assert_eq!(execution.id, id);
    let head_us = execution.head_us.expect("the head's time is recorded");
    let duration_us = execution.duration_us.unwrap();
    // The two pauses come after the head was set, so they are the body's, not the handler's.
    assert!(
        duration_us - head_us >= 300_000,
        "head at {head_us} µs of {duration_us} µs"
    );
}

#[tokio::test]
async fn a_timeout_after_the_response_began_cuts_the_body_visibly() {
    let server = TestServer::start();
    server
        .deploy_ready(
            "partial",
            FunctionSpec {
                timeout_s: Some(1),
                ..spec()
            },
            &test_guest(),
        )
        .await;
    let client = server.client();
    let response = client
        .invoke(
            reqwest::Method::GET,
            "default",
            "partial",
            "/stream-then-loop",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the head was already sent"
    );
    let body = response.bytes().await;
    assert!(
        body.is_err(),
        "a cut body must not read as complete: {body:?}"
    );
    let page = client
        .list_executions("default", "partial", &[])
        .await
        .unwrap();
    assert_eq!(page.items[0].status, ExecutionStatus::Timeout);
    assert_eq!(
        page.items[0].response.as_ref().unwrap().body.body,
        "partial\n"
    );
}

#[tokio::test]
async fn a_guest_whose_caller_hangs_up_is_stopped_and_recorded() {
    let server = TestServer::start();
    server
        .deploy_ready(
            "forsaken",
            FunctionSpec {
                timeout_s: Some(30),
                ..spec()
            },
            &test_guest(),
        )
        .await;
    let gone = server
        .impatient(Duration::from_millis(300))
        .get(format!("{}/fn/default/forsaken/loop", server.url))
        .bearer_auth(&server.token)
        .send()
        .await;
    assert!(gone.is_err(), "the caller timed out");
    // Recorded at once, long before the 30 s timeout would have stopped the guest.
    let execution = server.first_execution("forsaken").await;
    assert_eq!(execution.status, ExecutionStatus::Failed);
    let message = execution.error_message.clone().unwrap_or_default();
    assert!(message.contains("caller went away"), "{execution:?}");
    let response = server
        .client()
        .invoke(reqwest::Method::GET, "default", "forsaken", "/", vec![])
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_api_execution_whose_caller_hangs_up_runs_to_its_end_and_is_recorded() {
    let server = TestServer::start();
    server.deploy_ready("patient", spec(), &test_guest()).await;
    let gone = server
        .impatient(Duration::from_millis(200))
        .post(format!(
            "{}/api/v1/namespaces/default/functions/patient/executions",
            server.url
        ))
        .bearer_auth(&server.token)
        .json(&json!({"method": "GET", "path": "/sleep?ms=800"}))
        .send()
        .await;
    assert!(gone.is_err(), "the caller timed out");
    let execution = server.first_execution("patient").await;
    assert_eq!(
        execution.status,
        ExecutionStatus::Completed,
        "{execution:?}"
    );
    assert_eq!(execution.response.unwrap().body.body, "slept 800");
}

/// A Wasm function's `network` setting governs its outgoing HTTP requests as it does a process
/// function's sockets: off, the request is denied before any connection is made.
#[tokio::test]
async fn a_wasm_function_without_network_makes_no_outgoing_request() {
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let authority = upstream.local_addr().unwrap().to_string();
    upstream.set_nonblocking(true).unwrap();
    let server = TestServer::start();
    let offline = FunctionSpec {
        network: Some(false),
        ..spec()
    };
    server.deploy_ready("fetcher", offline, &test_guest()).await;
    let client = server.client();
    let fetch = async || {
        let response = client
            .invoke(
                reqwest::Method::GET,
                "default",
                "fetcher",
                &format!("/fetch?authority={authority}"),
                vec![],
            )
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    };
    let (status, body) = fetch().await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(body.contains("HttpRequestDenied"), "{body}");
    assert!(upstream.accept().is_err(), "nothing connected");

    // Control: with the network on, the same request reaches the upstream.
    client
        .update_function(
            "default",
            "fetcher",
            &FunctionSpec {
                network: Some(true),
                ..spec()
            },
        )
        .await
        .unwrap();
    upstream.set_nonblocking(false).unwrap();
    let answering = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut connection, _) = upstream.accept().unwrap();
        let mut head = [0u8; 1024];
        let _ = connection.read(&mut head).unwrap();
        connection
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\nconnection: close\r\n\r\nupstream")
            .unwrap();
    });
    let (status, body) = fetch().await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "fetched 200 upstream")
    );
    answering.join().unwrap();
}
