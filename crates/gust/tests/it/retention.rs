//! The disk stays bounded under load: a busy function is pruned as its records come, not
//! only on the retention timer, and past the data dir's ceiling the oldest finished
//! executions go first.

use std::time::{Duration, Instant};

use gust_core::FunctionSpec;
use gust_core::function::RetentionSpec;
use reqwest::StatusCode;

use crate::harness::{TestServer, hello_guest};

/// Sends `count` requests with `body` to a function, 16 at a time.
async fn load(server: &TestServer, name: &str, count: usize, body: &'static [u8]) {
    let http = server.http();
    let url = format!("{}/fn/default/{name}/", server.url);
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..16 {
        let (http, url, token) = (http.clone(), url.clone(), server.token.clone());
        tasks.spawn(async move {
            for _ in (worker..count).step_by(16) {
                let status = http
                    .post(&url)
                    .bearer_auth(&token)
                    .body(body)
                    .send()
                    .await
                    .unwrap()
                    .status();
                assert_eq!(status, StatusCode::OK);
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

async fn stored(server: &TestServer, name: &str) -> u64 {
    server
        .client()
        .list_executions("default", name, &[("limit", "1")])
        .await
        .unwrap()
        .total
}

#[tokio::test]
async fn a_busy_function_is_pruned_as_its_records_come() {
    // The timer alone would not prune for five minutes.
    let server = TestServer::start();
    let spec = FunctionSpec {
        retention: Some(RetentionSpec {
            max_count: Some(10),
            max_age_s: None,
        }),
        ..Default::default()
    };
    server.deploy_ready("busy", spec, &hello_guest()).await;
    load(&server, "busy", 1_200, b"").await;
    // The records of the last requests are written within a moment; the 1000th record's
    // prune then leaves the newest 10 plus what came after it.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = stored(&server, "busy").await;
        if now <= 10 + 200 + 16 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{now} executions kept of 1200 with a retention of 10"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn past_the_size_ceiling_the_oldest_finished_executions_go() {
    let server = TestServer::start_with_env(&[], &[("GUST_MAX_DATA_MB", "16")]);
    server
        .deploy_ready("big", FunctionSpec::default(), &hello_guest())
        .await;
    assert_eq!(
        server.metric("gust_data_limit_bytes").await,
        16.0 * 1048576.0
    );
    // Each record keeps the request's 32 KiB body: about 32 MiB in all, twice the ceiling,
    // and within the function's own retention of 1000.
    static BODY: [u8; 32 * 1024] = [b'x'; 32 * 1024];
    load(&server, "big", 1_000, &BODY).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let pruned = server.metric("gust_executions_pruned_for_size_total").await;
        let size = server.metric("gust_data_bytes").await;
        // The size check that follows the writer's pruning warns in the log.
        let log = std::fs::read_to_string(server.data_dir.join("serve.log")).unwrap();
        if pruned > 0.0 && size <= 16.0 * 1048576.0 && log.contains("size ceiling") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "data dir at {size} bytes, {pruned} pruned"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let kept = stored(&server, "big").await;
    assert!(kept > 100 && kept < 1_000, "{kept} kept");
    // The newest stay: the last request's execution is still there.
    let newest = server
        .client()
        .list_executions("default", "big", &[("limit", "1")])
        .await
        .unwrap();
    assert_eq!(newest.items[0].request.body.size, 32 * 1024);
}
