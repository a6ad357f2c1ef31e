//! Async executions: accepted with a 202 once stored, run from the queue, retried with backoff,
//! left as dead letters when every attempt failed, replayed on demand, and deduplicated by
//! `Idempotency-Key`.

use std::time::Duration;

use gust_core::{ExecutionStatus, ExecutionTrigger, FunctionSpec};
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{TestServer, spec, test_guest};

/// Retries 100 ms apart (doubling), so a test sees three attempts in well under a second.
const FAST_RETRIES: [(&str, &str); 1] = [("GUST_RETRY_BASE_MS", "100")];

#[tokio::test]
async fn async_executions_are_accepted_then_run_from_the_queue() {
    let server = TestServer::start();
    server.deploy_ready("worker", spec(), &test_guest()).await;
    let client = server.client();

    // From the API: 202 with the stored, queued record and where to find it.
    let response = server
        .http()
        .post(format!(
            "{}/api/v1/namespaces/default/functions/worker/executions",
            server.url
        ))
        .bearer_auth(&server.token)
        .json(&json!({"async": true, "method": "GET", "path": "/sleep?ms=300&lines=3"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let accepted: gust_core::Execution = response.json().await.unwrap();
    assert_eq!(accepted.status, ExecutionStatus::Queued);
    assert!(accepted.is_async);
    assert!(location.ends_with(&format!("/executions/{}", accepted.id)));

    let done = client
        .wait_for_execution("default", "worker", &accepted.id, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(done.status, ExecutionStatus::Completed, "{done:?}");
    assert_eq!(done.trigger, ExecutionTrigger::Api);
    assert_eq!(done.attempts, 1);
    let startup = done
        .startup
        .clone()
        .expect("the instance start is recorded");
    assert!(startup.instantiate_us.is_some() && !done.cold_start);
    assert_eq!(done.response.as_ref().unwrap().body.body, "slept 300");
    assert!(done.logs.stdout.contains("tick 2"), "{:?}", done.logs);
    assert!(done.started_at.unwrap() >= done.created_at);
    assert!(done.duration_us.unwrap() >= 300_000);

    // Over HTTP with X-Gust-Async: the function sees its attempt and execution id, not
    // Gust's own headers.
    let response = server
        .http()
        .post(format!("{}/fn/default/worker/echo?x=1", server.url))
        .bearer_auth(&server.token)
        .header("x-gust-async", "true")
        .header("x-custom", "kept")
        .body("payload")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let id = response.headers()["x-gust-execution-id"]
        .to_str()
        .unwrap()
        .to_string();
    let done = client
        .wait_for_execution("default", "worker", &id, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(done.status, ExecutionStatus::Completed);
    assert_eq!(done.trigger, ExecutionTrigger::Http);
    let echo: serde_json::Value = serde_json::from_str(&done.response.unwrap().body.body).unwrap();
    assert_eq!(echo["body"], "payload");
    assert_eq!(echo["query"], "x=1");
    assert_eq!(echo["headers"]["x-custom"], "kept");
    assert_eq!(echo["headers"]["x-gust-attempt"], "1");
    assert_eq!(echo["headers"]["x-gust-execution-id"], id.as_str());
    assert!(echo["headers"].get("x-gust-async").is_none());
    assert!(echo["headers"].get("authorization").is_none());
}

#[tokio::test]
async fn failures_retry_with_backoff_and_end_as_dead_letters_that_can_be_replayed() {
    let server = TestServer::start_with_env(&[], &FAST_RETRIES);
    server
        .deploy_ready(
            "flaky",
            FunctionSpec {
                max_attempts: Some(3),
                ..spec()
            },
            &test_guest(),
        )
        .await;
    let client = server.client();

    // Succeeds on its second attempt.
    let second = client
        .submit_execution(
            "default",
            "flaky",
            &json!({"path": "/flaky?succeed_at=2"}),
            None,
        )
        .await
        .unwrap();
    // Never succeeds.
    let doomed = client
        .submit_execution("default", "flaky", &json!({"path": "/flaky"}), None)
        .await
        .unwrap();

    let second = client
        .wait_for_execution("default", "flaky", &second.id, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(second.status, ExecutionStatus::Completed, "{second:?}");
    assert_eq!(second.attempts, 2);
    assert!(!second.dead_letter);

    let doomed = client
        .wait_for_execution("default", "flaky", &doomed.id, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(doomed.status, ExecutionStatus::Failed);
    assert_eq!(doomed.attempts, 3);
    assert!(doomed.dead_letter);
    let message = doomed.error_message.clone().unwrap();
    assert!(message.starts_with("gave up after 3 attempts"), "{message}");
    assert!(message.contains("trapped"), "{message}");
    // The record keeps the last attempt's output.
    assert!(
        doomed.logs.stderr.contains("flaky: attempt 3 fails"),
        "{:?}",
        doomed.logs
    );
    // Backoff: waits of 100 ms then 200 ms lie between acceptance and the last attempt.
    let waited = doomed.started_at.unwrap() - doomed.created_at;
    assert!(
        waited >= chrono::Duration::milliseconds(300),
        "the last attempt started {waited} after acceptance"
    );

    let dead = client
        .list_executions("default", "flaky", &[("dead_letter", "true")])
        .await
        .unwrap();
    assert_eq!(dead.total, 1);
    assert_eq!(dead.items[0].id, doomed.id);
    let failed = client
        .list_executions("default", "flaky", &[("status", "failed")])
        .await
        .unwrap();
    assert_eq!(failed.total, 1);

    // Fix the cause, then replay the dead letter: a new execution with the same request.
    client
        .update_function(
            "default",
            "flaky",
            &FunctionSpec {
                env: Some([("FLAKY_OK".to_string(), "1".to_string())].into()),
                ..spec()
            },
        )
        .await
        .unwrap();
    let replay = client
        .replay_execution("default", "flaky", &doomed.id)
        .await
        .unwrap();
    assert_ne!(replay.id, doomed.id);
    assert_eq!(replay.replay_of.as_deref(), Some(doomed.id.as_str()));
    let replay = client
        .wait_for_execution("default", "flaky", &replay.id, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(replay.status, ExecutionStatus::Completed);
    assert_eq!(replay.response.unwrap().body.body, "recovered");
    assert_eq!(replay.request.path, "/flaky");
    // The original names its replay and is a dead letter no more; it is still a failure.
    let original = client
        .get_execution("default", "flaky", &doomed.id)
        .await
        .unwrap();
    assert_eq!(original.replayed_by.as_deref(), Some(replay.id.as_str()));
    assert!(!original.dead_letter);
    assert_eq!(original.status, ExecutionStatus::Failed);
    let dead = client
        .list_executions("default", "flaky", &[("dead_letter", "true")])
        .await
        .unwrap();
    assert_eq!(dead.total, 0);
}

#[tokio::test]
async fn replaying_every_dead_letter_twice_at_once_replays_each_once() {
    let server = TestServer::start_with_env(&[], &FAST_RETRIES);
    server.deploy_ready("doomed", spec(), &test_guest()).await;
    let client = server.client();
    let mut dead = Vec::new();
    for _ in 0..6 {
        let e = client
            .submit_execution("default", "doomed", &json!({"path": "/flaky"}), None)
            .await
            .unwrap();
        dead.push(e.id);
    }
    for id in &dead {
        let e = client
            .wait_for_execution("default", "doomed", id, Duration::from_secs(20))
            .await
            .unwrap();
        assert!(e.dead_letter, "{e:?}");
    }
    client
        .update_function(
            "default",
            "doomed",
            &FunctionSpec {
                env: Some([("FLAKY_OK".to_string(), "1".to_string())].into()),
                ..spec()
            },
        )
        .await
        .unwrap();

    let (a, b) = tokio::join!(
        client.replay_dead_letters("default", "doomed", 100),
        client.replay_dead_letters("default", "doomed", 100),
    );
    let mut replayed: Vec<String> = a
        .unwrap()
        .into_iter()
        .chain(b.unwrap())
        .map(|e| e.replay_of.unwrap())
        .collect();
    replayed.sort();
    dead.sort();
    assert_eq!(replayed, dead, "each dead letter replayed exactly once");
    // Nothing is left to replay.
    let again = client
        .replay_dead_letters("default", "doomed", 100)
        .await
        .unwrap();
    assert!(again.is_empty(), "{again:?}");

    // Bad input names the parameter.
    let response = server
        .http()
        .post(format!(
            "{}/api/v1/namespaces/default/functions/doomed/dead-letters/replay?limit=0",
            server.url
        ))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::BAD_REQUEST);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["field"], "limit", "{body}");
}

#[tokio::test]
async fn an_idempotency_key_returns_the_first_execution() {
    let server = TestServer::start();
    server.deploy_ready("once", spec(), &test_guest()).await;
    let url = format!(
        "{}/api/v1/namespaces/default/functions/once/executions",
        server.url
    );
    let submit = |key: &'static str| {
        server
            .http()
            .post(&url)
            .bearer_auth(&server.token)
            .header("idempotency-key", key)
            .json(&json!({"async": true, "path": "/echo"}))
            .send()
    };
    let first = submit("order-42").await.unwrap();
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: gust_core::Execution = first.json().await.unwrap();
    let again = submit("order-42").await.unwrap();
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: gust_core::Execution = again.json().await.unwrap();
    assert_eq!(again.id, first.id);
    let other: gust_core::Execution = submit("order-43").await.unwrap().json().await.unwrap();
    assert_ne!(other.id, first.id);

    // Over HTTP too, and the key is shared by both ways in.
    let over_http = server
        .http()
        .post(format!("{}/fn/default/once/", server.url))
        .bearer_auth(&server.token)
        .header("x-gust-async", "true")
        .header("idempotency-key", "order-42")
        .send()
        .await
        .unwrap();
    assert_eq!(
        over_http.headers()["x-gust-execution-id"],
        first.id.as_str()
    );

    let client = server.client();
    for id in [&first.id, &other.id] {
        client
            .wait_for_execution("default", "once", id, Duration::from_secs(20))
            .await
            .unwrap();
    }
    let all = client
        .list_executions("default", "once", &[])
        .await
        .unwrap();
    assert_eq!(all.total, 2, "one execution per key");
}

#[tokio::test]
async fn bad_async_requests_name_what_is_wrong() {
    let server = TestServer::start();
    server.deploy_ready("strict", spec(), &test_guest()).await;
    let http = server.http();
    let api = format!(
        "{}/api/v1/namespaces/default/functions/strict/executions",
        server.url
    );

    let expect = |response: reqwest::Response, status: StatusCode, field: Option<&'static str>| async move {
        assert_eq!(response.status(), status);
        let body: serde_json::Value = response.json().await.unwrap();
        if let Some(field) = field {
            assert_eq!(body["error"]["field"], field, "{body}");
        }
    };
    let r = http
        .post(format!("{}/fn/default/strict/", server.url))
        .bearer_auth(&server.token)
        .header("x-gust-async", "maybe")
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::BAD_REQUEST, Some("X-Gust-Async")).await;
    let r = http
        .post(&api)
        .bearer_auth(&server.token)
        .header("idempotency-key", "has spaces")
        .json(&json!({"async": true}))
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::BAD_REQUEST, Some("Idempotency-Key")).await;
    let r = http
        .post(&api)
        .bearer_auth(&server.token)
        .header("idempotency-key", "k".repeat(300))
        .json(&json!({"async": true}))
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::BAD_REQUEST, Some("Idempotency-Key")).await;
    let r = http
        .post(&api)
        .bearer_auth(&server.token)
        .json(&json!({"async": "yes"}))
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::BAD_REQUEST, Some("async")).await;
    let big = "x".repeat(gust_core::execution::ASYNC_BODY_LIMIT + 1);
    let r = http
        .post(&api)
        .bearer_auth(&server.token)
        .json(&json!({"async": true, "body": big}))
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::PAYLOAD_TOO_LARGE, None).await;
    let r = http
        .post(format!("{}/fn/default/strict/", server.url))
        .bearer_auth(&server.token)
        .header("x-gust-async", "true")
        .body(vec![b'x'; gust_core::execution::ASYNC_BODY_LIMIT + 1])
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::PAYLOAD_TOO_LARGE, None).await;
    let r = http
        .get(format!(
            "{api}?since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z"
        ))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::BAD_REQUEST, Some("until")).await;
    let r = http
        .get(format!("{api}?since=yesterday"))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::BAD_REQUEST, Some("since")).await;
    let r = http
        .post(format!("{api}/no-such-id/replay"))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::NOT_FOUND, None).await;
    // Nothing was queued by any of that.
    let page = server
        .client()
        .list_executions("default", "strict", &[])
        .await
        .unwrap();
    assert_eq!(page.total, 0);
}

#[tokio::test]
async fn finished_executions_are_pruned_past_their_retention() {
    let server = TestServer::start_with_env(&[], &[("GUST_RETENTION_INTERVAL_SECS", "1")]);
    server
        .deploy_ready(
            "kept",
            FunctionSpec {
                retention: Some(gust_core::function::RetentionSpec {
                    max_count: Some(3),
                    max_age_s: None,
                }),
                ..spec()
            },
            &test_guest(),
        )
        .await;
    let client = server.client();
    let mut ids = Vec::new();
    for i in 0..6 {
        let r = client
            .invoke(
                reqwest::Method::GET,
                "default",
                "kept",
                &format!("/echo?n={i}"),
                vec![],
            )
            .await
            .unwrap();
        ids.push(
            r.headers()["x-gust-execution-id"]
                .to_str()
                .unwrap()
                .to_string(),
        );
    }
    let mut total = 0;
    for _ in 0..60 {
        total = client
            .list_executions("default", "kept", &[])
            .await
            .unwrap()
            .total;
        if total == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(total, 3, "retention keeps the newest 3");
    let kept = client
        .list_executions("default", "kept", &[("order", "asc")])
        .await
        .unwrap();
    let kept: Vec<&str> = kept.items.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(
        kept,
        ids[3..].iter().map(String::as_str).collect::<Vec<_>>()
    );

    // Out-of-range retention is refused, naming the field.
    let r = server
        .http()
        .patch(format!(
            "{}/api/v1/namespaces/default/functions/kept",
            server.url
        ))
        .bearer_auth(&server.token)
        .json(&json!({"retention": {"max_count": 0}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["field"], "retention.max_count");
}

#[tokio::test]
async fn a_queue_larger_than_memory_runs_every_execution_once() {
    // Room for 100 queued executions in memory: the rest wait in the store alone and are read
    // back as the queue drains, while new ones keep arriving.
    let small_memory = ("GUST_QUEUE_MEMORY", "100");
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_in_env(
        dir.path(),
        &[],
        &[("GUST_ASYNC_WORKERS", "0"), small_memory],
    );
    server.deploy_ready("bulk", spec(), &test_guest()).await;
    server.submit_async("bulk", 450).await;
    assert_eq!(server.stop(), Some(0));

    let server = TestServer::start_in_env(dir.path(), &[], &[small_memory]);
    server.submit_async("bulk", 150).await;
    let client = server.client();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let completed = loop {
        let page = client
            .list_executions(
                "default",
                "bulk",
                &[("status", "completed"), ("limit", "1000")],
            )
            .await
            .unwrap();
        if page.total >= 600 {
            break page;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} of 600 executions completed",
            page.total
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(completed.total, 600);
    assert!(
        completed.items.iter().all(|e| e.attempts == 1),
        "every execution ran once"
    );
    for status in ["queued", "running"] {
        let left = client
            .list_executions("default", "bulk", &[("status", status)])
            .await
            .unwrap();
        assert_eq!(left.total, 0, "{status} executions left");
    }
}
