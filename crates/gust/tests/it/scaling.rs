//! Scaling of process functions through the server: `min_scale` workers warm once the
//! deployment is active, `max_scale` never exceeded under a burst, 429 with Retry-After past
//! the queue, scale to zero after the idle timeout, detach, and scale changes without a
//! restart.

use std::time::Duration;

use gust_core::{ExecutionStatus, FunctionSpec};
use reqwest::StatusCode;

use crate::harness::{TestServer, spec};

async fn instances(server: &TestServer, function: &str) -> Vec<serde_json::Value> {
    let list: serde_json::Value = server
        .client()
        .send(server.client().request(
            reqwest::Method::GET,
            &format!("/api/v1/namespaces/default/functions/{function}/instances"),
        ))
        .await
        .unwrap();
    list["items"].as_array().unwrap().clone()
}

/// Poll until `check` holds on the instance count, for at most `limit`.
async fn wait_for_count(
    server: &TestServer,
    function: &str,
    limit: Duration,
    check: impl Fn(usize) -> bool,
) -> usize {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let count = instances(server, function).await.len();
        if check(count) || tokio::time::Instant::now() >= deadline {
            return count;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn sleep_request(server: &TestServer, function: &str, ms: u32) -> reqwest::RequestBuilder {
    server
        .http()
        .get(format!(
            "{}/fn/default/{function}/sleep?ms={ms}",
            server.url
        ))
        .bearer_auth(&server.token)
}

#[tokio::test]
async fn min_scale_is_warm_at_deploy_and_max_scale_holds_under_a_burst() {
    let server = TestServer::start();
    server
        .deploy_folder(
            "burst",
            "python3.11",
            FunctionSpec {
                min_scale: Some(1),
                max_scale: Some(2),
                ..spec()
            },
            "python-hello",
        )
        .await;
    let warm = wait_for_count(&server, "burst", Duration::from_secs(10), |n| n >= 1).await;
    assert_eq!(
        warm, 1,
        "min_scale workers start when the deployment is active"
    );

    // Eight requests of 300 ms at once on at most two workers: all answered (the rest wait in
    // the queue), never more than two workers.
    let burst: Vec<_> = (0..8)
        .map(|_| tokio::spawn(sleep_request(&server, "burst", 300).send()))
        .collect();
    let mut peak = 0;
    for _ in 0..20 {
        peak = peak.max(instances(&server, "burst").await.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for request in burst {
        assert_eq!(request.await.unwrap().unwrap().status(), StatusCode::OK);
    }
    assert_eq!(peak, 2, "the burst scaled to max_scale and no further");

    // Raising max_scale takes effect without a restart.
    server
        .client()
        .update_function(
            "default",
            "burst",
            &FunctionSpec {
                max_scale: Some(4),
                ..spec()
            },
        )
        .await
        .unwrap();
    let burst: Vec<_> = (0..8)
        .map(|_| tokio::spawn(sleep_request(&server, "burst", 400).send()))
        .collect();
    let grown = wait_for_count(&server, "burst", Duration::from_secs(5), |n| n >= 4).await;
    for request in burst {
        assert_eq!(request.await.unwrap().unwrap().status(), StatusCode::OK);
    }
    assert_eq!(grown, 4);
}

#[tokio::test]
async fn past_the_queue_requests_get_429_with_retry_after() {
    let server = TestServer::start_with_env(
        &[],
        &[("GUST_QUEUE_LIMIT", "2"), ("GUST_QUEUE_WAIT_MS", "5000")],
    );
    server
        .deploy_folder(
            "narrow",
            "python3.11",
            FunctionSpec {
                max_scale: Some(1),
                ..spec()
            },
            "python-hello",
        )
        .await;
    // One running, two queued, the rest refused at once.
    let burst: Vec<_> = (0..8)
        .map(|_| tokio::spawn(sleep_request(&server, "narrow", 700).send()))
        .collect();
    let mut ok = 0;
    let mut refused = 0;
    for request in burst {
        let response = request.await.unwrap().unwrap();
        match response.status() {
            StatusCode::OK => ok += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                refused += 1;
                let retry: u64 = response.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(retry >= 1);
                let body: serde_json::Value = response.json().await.unwrap();
                assert_eq!(body["error"]["code"], "too_many_requests");
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(ok >= 1 && refused >= 1, "{ok} answered, {refused} refused");
    assert!(ok <= 3, "one worker plus a queue of two: {ok} answered");
}

#[tokio::test]
async fn idle_workers_stop_and_detach_stops_them_all() {
    let server = TestServer::start_with_env(&[], &[("GUST_IDLE_TIMEOUT_SECS", "1")]);
    server
        .deploy_folder("idle", "python3.11", spec(), "python-hello")
        .await;
    assert_eq!(
        instances(&server, "idle").await.len(),
        0,
        "min_scale 0: none at deploy"
    );
    let response = sleep_request(&server, "idle", 10).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let listed = instances(&server, "idle").await;
    assert_eq!(listed.len(), 1);
    let worker = &listed[0];
    assert!(worker["pid"].as_i64().unwrap() > 0);
    assert_eq!(worker["requests_served"], 1);
    assert!(worker["memory_bytes"].as_u64().unwrap_or(1) > 0);
    let gone = wait_for_count(&server, "idle", Duration::from_secs(10), |n| n == 0).await;
    assert_eq!(gone, 0, "scaled to zero after the idle timeout");

    // Detach: every worker stops; the next request starts a fresh one.
    let busy: Vec<_> = (0..3)
        .map(|_| tokio::spawn(sleep_request(&server, "idle", 200).send()))
        .collect();
    for request in busy {
        request.await.unwrap().unwrap();
    }
    let before = instances(&server, "idle").await.len();
    assert!(before >= 1);
    let detached: serde_json::Value = server
        .client()
        .send(server.client().request(
            reqwest::Method::DELETE,
            "/api/v1/namespaces/default/functions/idle/instances",
        ))
        .await
        .unwrap();
    assert_eq!(detached["detached"], before);
    assert_eq!(instances(&server, "idle").await.len(), 0);
    let response = sleep_request(&server, "idle", 10).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_new_deployment_replaces_the_old_workers() {
    let server = TestServer::start();
    server
        .deploy_folder(
            "versions",
            "python3.11",
            FunctionSpec {
                min_scale: Some(1),
                ..spec()
            },
            "python-hello",
        )
        .await;
    wait_for_count(&server, "versions", Duration::from_secs(10), |n| n == 1).await;
    let old_pid = instances(&server, "versions").await[0]["pid"].clone();
    // A slow request in flight on the old version finishes after the new one is deployed.
    let slow = tokio::spawn(sleep_request(&server, "versions", 1500).send());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let code = crate::harness::tar_gz(&[(
        "main.py",
        b"def handle(event, context):\n    return {'version': 2}\n",
    )]);
    let client = server.client();
    let deployment = client
        .create_deployment("default", "versions", code, "application/gzip", true)
        .await
        .unwrap();
    let deployment = client
        .wait_for_build(
            "default",
            "versions",
            &deployment.id,
            Duration::from_secs(120),
        )
        .await
        .unwrap();
    assert_eq!(deployment.status, gust_core::DeploymentStatus::Ready);
    let answer: serde_json::Value = server
        .http()
        .get(format!("{}/fn/default/versions/", server.url))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["version"], 2);
    assert_eq!(
        slow.await.unwrap().unwrap().status(),
        StatusCode::OK,
        "the old worker finished its request"
    );
    let now = instances(&server, "versions").await;
    assert!(
        now.iter().all(|w| w["pid"] != old_pid),
        "the old worker drained: {now:?}"
    );
}

#[tokio::test]
async fn callers_that_hang_up_do_not_keep_their_workers() {
    let server = TestServer::start_with_env(&[], &[("GUST_QUEUE_WAIT_MS", "3000")]);
    server
        .deploy_folder(
            "hangup",
            "python3.11",
            FunctionSpec {
                max_scale: Some(1),
                ..spec()
            },
            "python-hello",
        )
        .await;
    // Callers that give up mid-request, some while running, some while queued.
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(150))
        .build()
        .unwrap();
    let gone: Vec<_> = (0..4)
        .map(|_| {
            let request = impatient
                .get(format!("{}/fn/default/hangup/sleep?ms=300", server.url))
                .bearer_auth(&server.token);
            tokio::spawn(request.send())
        })
        .collect();
    for request in gone {
        assert!(request.await.unwrap().is_err(), "the caller timed out");
    }
    // Their requests finish in the worker, then the worker is free again.
    let idle = {
        let mut idle = false;
        for _ in 0..100 {
            let now = instances(&server, "hangup").await;
            if now.len() == 1 && now[0]["in_flight"] == 0 {
                idle = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        idle
    };
    assert!(idle, "slots of callers that hung up were never freed");
    // What ran is recorded although nobody was left to answer (those that hung up while
    // queued never ran).
    let client = server.client();
    let ran = client
        .list_executions("default", "hangup", &[])
        .await
        .unwrap()
        .items;
    assert!(
        !ran.is_empty(),
        "the run whose caller hung up has no record"
    );
    for execution in &ran {
        assert_eq!(
            execution.status,
            ExecutionStatus::Completed,
            "{execution:?}"
        );
        assert_eq!(execution.response.as_ref().unwrap().status_code, 200);
    }
    let response = sleep_request(&server, "hangup", 10).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_run_whose_caller_hung_up_still_times_out_and_is_recorded() {
    let server = TestServer::start();
    server
        .deploy_folder(
            "abandoned",
            "python3.11",
            FunctionSpec {
                min_scale: Some(1),
                max_scale: Some(1),
                timeout_s: Some(1),
                ..spec()
            },
            "python-hello",
        )
        .await;
    assert_eq!(
        wait_for_count(&server, "abandoned", Duration::from_secs(20), |n| n == 1).await,
        1
    );
    let first_pid = instances(&server, "abandoned").await[0]["pid"].clone();
    let gone = server
        .impatient(Duration::from_millis(150))
        .get(format!(
            "{}/fn/default/abandoned/sleep?ms=30000",
            server.url
        ))
        .bearer_auth(&server.token)
        .send()
        .await;
    assert!(gone.is_err(), "the caller timed out");
    // The timeout still holds: the worker is stopped and the run recorded as timed out.
    let execution = server.first_execution("abandoned").await;
    assert_eq!(execution.status, ExecutionStatus::Timeout, "{execution:?}");
    // min_scale brings a fresh worker in place of the stopped one.
    let mut replaced = false;
    for _ in 0..100 {
        let now = instances(&server, "abandoned").await;
        if now.len() == 1 && now[0]["pid"] != first_pid {
            replaced = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(replaced, "the worker that timed out was not replaced");
    let response = sleep_request(&server, "abandoned", 10)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn warm_workers_are_started_and_stopped_on_request() {
    let server = TestServer::start();
    server
        .deploy_folder(
            "warmed",
            "python3.11",
            FunctionSpec {
                min_scale: Some(0),
                max_scale: Some(3),
                ..spec()
            },
            "python-hello",
        )
        .await;
    let client = server.client();
    assert!(instances(&server, "warmed").await.is_empty());

    let up = client
        .scale_instances("default", "warmed", 2, None)
        .await
        .unwrap();
    assert_eq!(
        (up["started"].as_u64(), up["instances"].as_u64()),
        (Some(2), Some(2))
    );
    let listed = instances(&server, "warmed").await;
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|i| i["state"] == "idle"));
    // Capped at max_scale.
    let up = client
        .scale_instances("default", "warmed", 5, None)
        .await
        .unwrap();
    assert_eq!(
        (up["started"].as_u64(), up["instances"].as_u64()),
        (Some(1), Some(3))
    );

    let down = client
        .scale_instances("default", "warmed", -2, None)
        .await
        .unwrap();
    assert_eq!(
        (down["stopped"].as_u64(), down["instances"].as_u64()),
        (Some(2), Some(1))
    );
    let survivor = instances(&server, "warmed").await;
    assert_eq!(survivor.len(), 1);

    // Detach: none left, and the next request starts a fresh worker.
    let detached = client
        .detach_instances("default", "warmed", None)
        .await
        .unwrap();
    assert_eq!(detached["detached"], 1);
    assert!(instances(&server, "warmed").await.is_empty());
    let r = server
        .http()
        .get(format!("{}/fn/default/warmed/", server.url))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let fresh = instances(&server, "warmed").await;
    assert_eq!(fresh.len(), 1);
    assert_ne!(fresh[0]["pid"], survivor[0]["pid"]);
    assert_eq!(fresh[0]["requests_served"], 1);
    // Scaling down never goes below zero.
    let down = client
        .scale_instances("default", "warmed", -10, None)
        .await
        .unwrap();
    assert_eq!(
        (down["stopped"].as_u64(), down["instances"].as_u64()),
        (Some(1), Some(0))
    );

    // Through the CLI.
    let home = tempfile::tempdir().unwrap();
    let out = crate::harness::cli(
        &server,
        home.path(),
        &["fn", "scale", "warmed", "--up", "1"],
    );
    crate::harness::cli_stdout(&out);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("1 live workers"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(instances(&server, "warmed").await.len(), 1);

    // A version's workers are its own: scaling one loads it, and the function's stay as
    // they are.
    client
        .create_version("default", "warmed", &gust_core::VersionSpec::default())
        .await
        .unwrap();
    let out = crate::harness::cli(
        &server,
        home.path(),
        &["fn", "scale", "warmed", "--up", "2", "--version", "1"],
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("2 live workers"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let of_version = client
        .list_instances("default", "warmed", Some(1))
        .await
        .unwrap();
    assert_eq!(of_version["total"], 2);
    assert_eq!(instances(&server, "warmed").await.len(), 1);
    let down = client
        .scale_instances("default", "warmed", -1, Some(1))
        .await
        .unwrap();
    assert_eq!(down["instances"], 1);
    let err = client
        .scale_instances("default", "warmed", 1, Some(7))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::NOT_FOUND));
    assert_eq!(instances(&server, "warmed").await.len(), 1);

    // Bad input, and Wasm functions, which keep no workers.
    let err = client
        .scale_instances("default", "warmed", 0, None)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::BAD_REQUEST));
    assert!(format!("{err:?}").contains("count"), "{err:?}");
    server
        .deploy_ready("wasm", spec(), &crate::harness::hello_guest())
        .await;
    let err = client
        .scale_instances("default", "wasm", 1, None)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::CONFLICT));
    assert!(format!("{err:?}").contains("Wasm"), "{err:?}");
}
