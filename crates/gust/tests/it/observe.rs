//! Watching a server: `/metrics` in Prometheus format, logs followed live while an execution
//! prints them, and the CLI's `logs`, `invoke --async`, `exec replay`, `trigger` and `event`.

use std::time::{Duration, Instant};

use gust_core::FunctionSpec;
use serde_json::json;

use crate::harness::{TestServer, cli, cli_stdout as stdout, hello_guest, spec, test_guest};

/// The value of one sample line of the metrics text (`name{labels} value`).
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|label| l.contains(label)))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .next()
}

#[tokio::test]
async fn metrics_count_executions_builds_and_store_writes() {
    let server = TestServer::start();
    server.deploy_ready("hello", spec(), &hello_guest()).await;
    let client = server.client();
    for _ in 0..3 {
        let r = client
            .invoke(reqwest::Method::GET, "default", "hello", "/", vec![])
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    // Reading executions waits for their records, and metrics count records.
    client
        .list_executions("default", "hello", &[])
        .await
        .unwrap();
    let response = server
        .http()
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    let fn_labels = ["function=\"hello\"", "namespace=\"default\""];
    let completed = sample(
        &text,
        "gust_executions_total",
        &[
            fn_labels[0],
            fn_labels[1],
            "status=\"completed\"",
            "trigger=\"http\"",
        ],
    );
    assert_eq!(completed, Some(3.0), "{text}");
    assert_eq!(
        sample(&text, "gust_execution_duration_seconds_count", &fn_labels),
        Some(3.0)
    );
    assert_eq!(
        sample(
            &text,
            "gust_builds_total",
            &["runtime=\"wasm\"", "status=\"ready\""]
        ),
        Some(1.0)
    );
    assert!(text.contains("gust_build_duration_seconds_bucket"));
    assert!(
        sample(
            &text,
            "gust_store_latency_seconds_count",
            &["operation=\"put_executions\""]
        )
        .unwrap()
            >= 1.0
    );
    assert_eq!(sample(&text, "gust_async_running", &[]), Some(0.0));
    assert_eq!(sample(&text, "gust_wasm_instances", &[]), Some(0.0));
}

#[tokio::test]
async fn wasm_instances_count_requests_in_flight() {
    let server = TestServer::start();
    server.deploy_ready("sleeper", spec(), &test_guest()).await;
    let metrics = || server.metric("gust_wasm_instances");
    assert_eq!(metrics().await, 0.0);

    let in_flight = 4;
    let requests: Vec<_> = (0..in_flight)
        .map(|_| {
            let request = server
                .http()
                .get(format!("{}/fn/default/sleeper/sleep?ms=1500", server.url))
                .bearer_auth(&server.token);
            tokio::spawn(async move {
                let response = request.send().await.unwrap();
                let status = response.status();
                response.bytes().await.unwrap();
                status
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut most = 0.0;
    while Instant::now() < deadline && most < 1.0 {
        most = f64::max(most, metrics().await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        (1.0..=in_flight as f64).contains(&most),
        "{most} instances while {in_flight} requests run"
    );
    for request in requests {
        assert!(request.await.unwrap().is_success());
    }
    // Each response ends once its guest has returned, and the guest is counted until then.
    assert_eq!(metrics().await, 0.0);
}

#[tokio::test]
async fn logs_stream_while_the_execution_runs() {
    let server = TestServer::start();
    server.deploy_ready("talker", spec(), &test_guest()).await;
    let client = server.client();
    let execution = client
        .submit_execution(
            "default",
            "talker",
            &json!({"path": "/sleep?ms=900&lines=3"}),
            None,
        )
        .await
        .unwrap();
    let started = Instant::now();
    let mut seen: Vec<(String, String, Duration)> = Vec::new();
    client
        .follow(
            &format!(
                "/api/v1/namespaces/default/functions/talker/executions/{}/logs",
                execution.id
            ),
            &[("follow", "true")],
            |event| {
                let done = event.event == "end";
                seen.push((event.event, event.data, started.elapsed()));
                !done
            },
        )
        .await
        .unwrap();
    let stdout: String = seen
        .iter()
        .filter(|(e, _, _)| e == "stdout")
        .map(|(_, d, _)| d.as_str())
        .collect();
    assert_eq!(stdout, "tick 0\ntick 1\ntick 2\n", "{seen:?}");
    let (last, data, ended) = seen.last().unwrap();
    assert_eq!(last, "end");
    assert!(data.contains("\"completed\""), "{data}");
    // Live: the first line came well before the execution ended.
    let first = seen.iter().find(|(e, _, _)| e == "stdout").unwrap().2;
    assert!(
        *ended - first >= Duration::from_millis(300),
        "first output at {first:?}, end at {ended:?}: not streamed"
    );

    // A finished execution's logs, without following.
    let logs: gust_core::ExecutionLogs = client
        .send(client.request(
            reqwest::Method::GET,
            &format!(
                "/api/v1/namespaces/default/functions/talker/executions/{}/logs",
                execution.id
            ),
        ))
        .await
        .unwrap();
    assert_eq!(logs.stdout, "tick 0\ntick 1\ntick 2\n");
}

fn gust(server: &TestServer, args: &[&str]) -> std::process::Output {
    cli(server, &server.data_dir, args)
}

#[tokio::test]
async fn the_cli_drives_async_work_triggers_events_and_logs() {
    let server = TestServer::start_with_env(&[], &[("GUST_RETRY_BASE_MS", "50")]);
    server
        .deploy_ready(
            "cli-job",
            FunctionSpec {
                max_attempts: Some(2),
                ..spec()
            },
            &test_guest(),
        )
        .await;
    let client = server.client();

    // invoke --async prints the id; logs --execution -f follows it to the end.
    let id = stdout(&gust(
        &server,
        &[
            "invoke",
            "cli-job",
            "--async",
            "--path",
            "/sleep?ms=200&lines=2",
        ],
    ))
    .trim()
    .to_string();
    let followed = stdout(&gust(
        &server,
        &["logs", "cli-job", "--execution", &id, "-f"],
    ));
    assert_eq!(followed, "tick 0\ntick 1\n");

    // A failing one becomes a dead letter; exec list finds it; exec replay queues it again.
    let failing = stdout(&gust(
        &server,
        &["invoke", "cli-job", "--async", "--path", "/flaky"],
    ))
    .trim()
    .to_string();
    client
        .wait_for_execution("default", "cli-job", &failing, Duration::from_secs(20))
        .await
        .unwrap();
    let listed = stdout(&gust(
        &server,
        &["exec", "list", "cli-job", "--status", "failed"],
    ));
    assert!(
        listed.contains(&failing) && listed.contains("dead letter"),
        "{listed}"
    );
    let replay = stdout(&gust(&server, &["exec", "replay", "cli-job", &failing]))
        .trim()
        .to_string();
    let replayed = client
        .get_execution("default", "cli-job", &replay)
        .await
        .unwrap();
    assert_eq!(replayed.replay_of.as_deref(), Some(failing.as_str()));
    // Once its replay has failed too, it is the one dead letter left: `--dead-letters` replays
    // it, and nothing the second time.
    client
        .wait_for_execution("default", "cli-job", &replay, Duration::from_secs(20))
        .await
        .unwrap();
    let all = gust(&server, &["exec", "replay", "cli-job", "--dead-letters"]);
    let replays = stdout(&all);
    assert_eq!(replays.lines().count(), 1, "{replays}");
    let again = gust(&server, &["exec", "replay", "cli-job", "--dead-letters"]);
    assert_eq!(stdout(&again), "");
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("queued 0 replays"),
        "{again:?}"
    );
    let neither = gust(&server, &["exec", "replay", "cli-job"]);
    assert!(!neither.status.success());
    assert!(
        String::from_utf8_lossy(&neither.stderr).contains("<ID>"),
        "{neither:?}"
    );

    // Triggers and events.
    let trigger = stdout(&gust(
        &server,
        &["trigger", "create", "cli-job", "--event", "builds.*"],
    ))
    .trim()
    .to_string();
    let listed = stdout(&gust(&server, &["trigger", "list", "cli-job"]));
    assert!(
        listed.contains(&trigger) && listed.contains("builds.*"),
        "{listed}"
    );
    let published = gust(
        &server,
        &[
            "event",
            "publish",
            "builds.done",
            "--data",
            r#"{"ok":true}"#,
        ],
    );
    stdout(&published);
    assert!(
        String::from_utf8_lossy(&published.stderr).contains("started 1 execution"),
        "{}",
        String::from_utf8_lossy(&published.stderr)
    );
    let bad = gust(
        &server,
        &["trigger", "create", "cli-job", "--cron", "not cron"],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("schedule"));
    stdout(&gust(&server, &["trigger", "delete", "cli-job", &trigger]));
    assert_eq!(
        client
            .list_triggers("default", "cli-job")
            .await
            .unwrap()
            .total,
        0
    );

    // logs without -f: the recent executions' output.
    let logs = stdout(&gust(&server, &["logs", "cli-job"]));
    assert!(logs.contains("tick 1") && logs.contains(&id), "{logs}");
}

#[tokio::test]
async fn queue_depth_counts_executions_held_only_in_the_store() {
    // No async workers, and room for 100 queued executions in memory: the rest wait in the
    // store alone, and the gauge must still count them.
    let server = TestServer::start_with_env(
        &[],
        &[("GUST_ASYNC_WORKERS", "0"), ("GUST_QUEUE_MEMORY", "100")],
    );
    server.deploy_ready("hello", spec(), &hello_guest()).await;
    server.submit_async("hello", 150).await;
    let text = server
        .http()
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        sample(&text, "gust_queue_depth", &["function=\"hello\""]),
        Some(150.0),
        "{text}"
    );
}
