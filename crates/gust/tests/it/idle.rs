//! What an idle Wasm function holds: functions deployed with the same bytes share one loaded
//! component, a component unused past `GUST_WASM_UNLOAD_AFTER_SECS` is unloaded, and the next
//! request loads it again from its compiled artifact, recorded as a cold start.

use std::time::{Duration, Instant};

use gust_core::FunctionSpec;
use reqwest::StatusCode;

use crate::harness::{TestServer, hello_guest};

async fn components_loaded(server: &TestServer) -> f64 {
    server.metric("gust_wasm_components_loaded").await
}

/// Polls the gauge until it reads `want`; its last reading.
async fn await_components_loaded(server: &TestServer, want: f64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now = components_loaded(server).await;
        if now == want || Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Calls `name`; its body and the execution record it made.
async fn call(server: &TestServer, name: &str) -> (String, gust_core::Execution) {
    let response = server
        .http()
        .get(format!("{}/fn/default/{name}/", server.url))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let id = response.headers()["x-gust-execution-id"]
        .to_str()
        .unwrap()
        .to_string();
    let body = response.text().await.unwrap();
    let record = server
        .client()
        .wait_for_execution("default", name, &id, Duration::from_secs(10))
        .await
        .unwrap();
    (body, record)
}

/// The same component with a custom section appended: other bytes, other sha256.
fn variant(wasm: &[u8]) -> Vec<u8> {
    let name = b"variant";
    let mut section = vec![name.len() as u8];
    section.extend_from_slice(name);
    section.push(b'1');
    let mut out = wasm.to_vec();
    out.push(0);
    out.push(section.len() as u8);
    out.extend_from_slice(&section);
    out
}

#[tokio::test]
async fn equal_code_is_loaded_once_and_idle_code_not_at_all() {
    let server = TestServer::start_with_env(&[], &[("GUST_WASM_UNLOAD_AFTER_SECS", "1")]);
    let hello = hello_guest();
    let first = server
        .deploy_ready("one", FunctionSpec::default(), &hello)
        .await;
    assert!(
        first.build_log.contains("machine code"),
        "{}",
        first.build_log
    );
    // Code compiled once is not compiled again.
    let second = server
        .deploy_ready("two", FunctionSpec::default(), &hello)
        .await;
    assert!(
        second.build_log.contains("reusing the compiled artifact")
            && !second.build_log.contains("machine code"),
        "{}",
        second.build_log
    );
    let (body, _) = call(&server, "one").await;
    let (same, _) = call(&server, "two").await;
    assert_eq!(body, same);
    assert_eq!(
        components_loaded(&server).await,
        1.0,
        "one component for both"
    );

    // Idle past the unload time: nothing stays loaded.
    assert_eq!(await_components_loaded(&server, 0.0).await, 0.0);
    // The next request loads it again, and the record says it was a cold start with the load.
    let (again, record) = call(&server, "one").await;
    assert_eq!(again, body);
    assert!(record.cold_start, "{record:?}");
    let startup = record.startup.expect("the load is recorded");
    assert!(
        startup.import_us.is_some() && startup.total_us >= startup.import_us.unwrap(),
        "{startup:?}"
    );
    assert_eq!(components_loaded(&server).await, 1.0);
    // Loaded once more, the other function finds it without loading.
    let (_, warm) = call(&server, "two").await;
    assert!(!warm.cold_start, "{warm:?}");

    // Other bytes are another component.
    server
        .deploy_ready("three", FunctionSpec::default(), &variant(&hello))
        .await;
    let (other, _) = call(&server, "three").await;
    assert_eq!(other, body);
    assert_eq!(components_loaded(&server).await, 2.0);
}

#[tokio::test]
async fn a_restarted_server_loads_components_on_their_first_request() {
    let data = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_in(data.path(), &[]);
    server
        .deploy_ready("hello", FunctionSpec::default(), &hello_guest())
        .await;
    let (body, _) = call(&server, "hello").await;
    server.kill();

    let server = TestServer::start_in(data.path(), &[]);
    assert_eq!(
        components_loaded(&server).await,
        0.0,
        "nothing read at start"
    );
    let (again, record) = call(&server, "hello").await;
    assert_eq!(again, body);
    assert!(record.cold_start);
    assert_eq!(components_loaded(&server).await, 1.0);
}
