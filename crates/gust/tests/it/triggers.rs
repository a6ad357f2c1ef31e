//! Cron and event triggers: ticks fire once each (and once at most after downtime), platform
//! and custom events start executions of matching triggers, and event loops stop.

use std::time::Duration;

use gust_core::{Execution, ExecutionStatus, ExecutionTrigger, FunctionSpec, FunctionTrigger};
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{TestServer, hello_guest, spec, test_guest};

async fn executions(server: &TestServer, function: &str, trigger: &str) -> Vec<Execution> {
    server
        .client()
        .list_executions(
            "default",
            function,
            &[("trigger", trigger), ("limit", "200"), ("order", "asc")],
        )
        .await
        .unwrap()
        .items
}

/// Wait until `function` has at least `count` finished executions of `trigger`.
async fn wait_for(
    server: &TestServer,
    function: &str,
    trigger: &str,
    count: usize,
) -> Vec<Execution> {
    for _ in 0..200 {
        let found = executions(server, function, trigger).await;
        if found
            .iter()
            .filter(|e| e.status == ExecutionStatus::Completed)
            .count()
            >= count
        {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{function} did not get {count} {trigger} executions in 10 s");
}

#[tokio::test]
async fn cron_ticks_fire_once_each_and_downtime_gives_one_catch_up_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_in(dir.path(), &[]);
    server.deploy_ready("ticker", spec(), &test_guest()).await;
    let client = server.client();
    let trigger: FunctionTrigger = client
        .create_trigger(
            "default",
            "ticker",
            &json!({"kind": "cron", "schedule": "@every 1s", "body": "tick!"}),
        )
        .await
        .unwrap();
    assert!(trigger.next_run_at.unwrap() > trigger.created_at);

    let fired = wait_for(&server, "ticker", "schedule", 2).await;
    let first = &fired[0];
    let echo: serde_json::Value =
        serde_json::from_str(&first.response.as_ref().unwrap().body.body).unwrap();
    assert_eq!(echo["body"], "tick!");
    assert_eq!(echo["headers"]["x-gust-trigger-id"], trigger.id.as_str());
    // One execution per tick: the scheduled times are all different.
    let mut ticks: Vec<String> = fired
        .iter()
        .map(|e| e.request.headers["x-gust-scheduled-time"].clone())
        .collect();
    ticks.dedup();
    assert_eq!(ticks.len(), fired.len(), "a tick fired twice: {ticks:?}");
    let listed = client.list_triggers("default", "ticker").await.unwrap();
    let shown = &listed.items[0];
    assert!(shown.last_run_at.is_some());
    assert!(shown.next_run_at > shown.last_run_at);

    // Down for ~4 ticks: after the restart, one catch-up run, not a burst.
    assert_eq!(server.stop(), Some(0));
    let stopped_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    tokio::time::sleep(Duration::from_millis(4200)).await;
    let server = TestServer::start_in(dir.path(), &[]);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let since_restart = server
        .client()
        .list_executions(
            "default",
            "ticker",
            &[("trigger", "schedule"), ("since", &stopped_at)],
        )
        .await
        .unwrap()
        .total;
    assert!(
        (1..=2).contains(&since_restart),
        "{since_restart} runs right after a restart that missed 4 ticks"
    );
}

#[tokio::test]
async fn a_functions_schedule_field_is_a_managed_cron_trigger() {
    let server = TestServer::start();
    server
        .deploy_ready(
            "nightly",
            FunctionSpec {
                schedule: Some("0 3 * * *".into()),
                ..spec()
            },
            &hello_guest(),
        )
        .await;
    let client = server.client();
    let triggers = client.list_triggers("default", "nightly").await.unwrap();
    assert_eq!(triggers.total, 1);
    let managed = &triggers.items[0];
    assert_eq!(managed.schedule.as_deref(), Some("0 3 * * *"));
    let next = managed.next_run_at.unwrap();
    assert_eq!(next.format("%H:%M").to_string(), "03:00");
    // Managed by the field: deleting it directly is refused, clearing the field removes it.
    let err = client
        .delete_trigger("default", "nightly", &managed.id)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::CONFLICT));
    client
        .update_function(
            "default",
            "nightly",
            &FunctionSpec {
                schedule: Some(String::new()),
                ..spec()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        client
            .list_triggers("default", "nightly")
            .await
            .unwrap()
            .total,
        0
    );
}

#[tokio::test]
async fn platform_and_custom_events_start_matching_triggers() {
    let server = TestServer::start();
    server.deploy_ready("listener", spec(), &test_guest()).await;
    let client = server.client();
    client
        .create_trigger(
            "default",
            "listener",
            &json!({"kind": "event", "events": ["functions.*.deployments.*.update", "orders.*"]}),
        )
        .await
        .unwrap();

    // A platform event: another function's deployment finishing its build.
    server.deploy_ready("other", spec(), &hello_guest()).await;
    let other = client.get_function("default", "other").await.unwrap();
    let got = wait_for(&server, "listener", "event", 1).await;
    let body: serde_json::Value = serde_json::from_str(&got[0].request.body.body).unwrap();
    let name = body["name"].as_str().unwrap();
    assert!(
        name.starts_with(&format!("functions.{}.deployments.", other.id))
            && name.ends_with(".update"),
        "{name}"
    );
    assert_eq!(body["payload"]["status"], "ready");

    // A custom event: the answer names the execution it started.
    let published = client
        .publish_event("default", "orders.created", &json!({"order": 42}))
        .await
        .unwrap();
    let started = published["executions"].as_array().unwrap();
    assert_eq!(started.len(), 1);
    let id = started[0].as_str().unwrap();
    let run = client
        .wait_for_execution("default", "listener", id, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(run.trigger, ExecutionTrigger::Event);
    let echo: serde_json::Value = serde_json::from_str(&run.response.unwrap().body.body).unwrap();
    let event: serde_json::Value = serde_json::from_str(echo["body"].as_str().unwrap()).unwrap();
    assert_eq!(event["name"], "orders.created");
    assert_eq!(event["payload"]["order"], 42);
    assert_eq!(echo["headers"]["x-gust-event"], "orders.created");

    // Events nobody listens for start nothing.
    let published = client
        .publish_event("default", "invoices.paid", &json!(null))
        .await
        .unwrap();
    assert!(published["executions"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn execution_events_do_not_loop() {
    let server = TestServer::start();
    let client = server.client();
    // `selfish` listens to every execution event, its own included.
    server
        .deploy_ready(
            "selfish",
            FunctionSpec {
                events: Some(vec!["functions.*.executions.*".into()]),
                ..spec()
            },
            &hello_guest(),
        )
        .await;
    let response = client
        .invoke(reqwest::Method::GET, "default", "selfish", "/", vec![])
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let all = client
        .list_executions("default", "selfish", &[])
        .await
        .unwrap();
    assert_eq!(all.total, 1, "its own execution's event triggered it again");

    // Two functions that listen to each other's new executions ping-pong, but the chain stops.
    for name in ["selfish", "echo"] {
        let function = FunctionSpec {
            events: Some(vec!["functions.*.executions.*.create".into()]),
            ..spec()
        };
        if name == "echo" {
            server.deploy_ready(name, function, &hello_guest()).await;
        } else {
            client
                .update_function("default", name, &function)
                .await
                .unwrap();
        }
    }
    client
        .invoke(reqwest::Method::GET, "default", "echo", "/", vec![])
        .await
        .unwrap();
    let mut last = 0;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let total = client
            .list_executions("default", "selfish", &[])
            .await
            .unwrap()
            .total
            + client
                .list_executions("default", "echo", &[])
                .await
                .unwrap()
                .total;
        if total == last && total > 2 {
            break;
        }
        last = total;
    }
    let depth = gust_core::execution::MAX_EVENT_DEPTH as u64;
    assert!(last > 2, "the two functions never triggered each other");
    assert!(
        last <= 2 + depth + 1,
        "{last} executions: the event chain did not stop at depth {depth}"
    );
}

#[tokio::test]
async fn bad_trigger_and_event_input_names_the_field() {
    let server = TestServer::start();
    server.deploy_ready("t", spec(), &hello_guest()).await;
    let http = server.http();
    let base = format!("{}/api/v1/namespaces/default", server.url);
    let cases = [
        (json!({"kind": "cron", "schedule": "every day"}), "schedule"),
        (json!({"kind": "cron", "schedule": "* * * *"}), "schedule"),
        (
            json!({"kind": "cron", "schedule": "61 * * * *"}),
            "schedule",
        ),
        (
            json!({"kind": "cron", "schedule": "* * * * *", "timezone": "Mars/Olympus"}),
            "timezone",
        ),
        (json!({"kind": "cron"}), "schedule"),
        (json!({"kind": "event", "events": []}), "events"),
        (json!({"kind": "event", "events": ["a..b"]}), "events[0]"),
        (
            json!({"kind": "event", "events": ["ok.*", "bad pattern"]}),
            "events[1]",
        ),
        (json!({"kind": "weekly"}), "kind"),
        (
            json!({"kind": "event", "events": ["a"], "schedule": "@hourly"}),
            "schedule",
        ),
    ];
    for (body, field) in cases {
        let r = http
            .post(format!("{base}/functions/t/triggers"))
            .bearer_auth(&server.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        let err: serde_json::Value = r.json().await.unwrap();
        assert_eq!(err["error"]["field"], field, "{body} → {err}");
    }
    for (body, field) in [
        (json!({"payload": 1}), "name"),
        (json!({"name": "functions.fake.create"}), "name"),
        (json!({"name": "a..b"}), "name"),
    ] {
        let r = http
            .post(format!("{base}/events"))
            .bearer_auth(&server.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        let err: serde_json::Value = r.json().await.unwrap();
        assert_eq!(err["error"]["field"], field, "{body} → {err}");
    }
    let r = http
        .patch(format!("{base}/functions/t"))
        .bearer_auth(&server.token)
        .json(&json!({"schedule": "sometimes"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Nothing was created by any of it.
    assert_eq!(
        server
            .client()
            .list_triggers("default", "t")
            .await
            .unwrap()
            .total,
        0
    );
}

#[tokio::test]
async fn queue_triggers_are_kept_in_error_and_hear_their_mapped_events() {
    let server = TestServer::start();
    server.deploy_ready("consumer", spec(), &test_guest()).await;
    let client = server.client();
    let trigger: FunctionTrigger = client
        .create_trigger(
            "default",
            "consumer",
            &json!({"kind": "queue", "name": "orders in",
                    "queue": {"protocol": "nats", "name": "orders.eu.>",
                              "settings": {"region": "fr-par"}}}),
        )
        .await
        .unwrap();
    assert_eq!(trigger.status, gust_core::TriggerStatus::Error);
    assert_eq!(trigger.events, ["queues.nats.orders.eu"]);
    let why = trigger.error_message.clone().unwrap();
    assert!(
        why.contains("no message broker") && why.contains("queues.nats.orders.eu"),
        "{why}"
    );

    // A Gust event on the mapped name delivers its payload as the message.
    let published = client
        .publish_event(
            "default",
            "queues.nats.orders.eu.created",
            &json!({"order": 7}),
        )
        .await
        .unwrap();
    let id = published["executions"][0].as_str().unwrap().to_string();
    let run = client
        .wait_for_execution("default", "consumer", &id, Duration::from_secs(20))
        .await
        .unwrap();
    let echo: serde_json::Value = serde_json::from_str(&run.response.unwrap().body.body).unwrap();
    assert_eq!(echo["body"], r#"{"order":7}"#);

    // A patch renames it; its kind and its source's fields are its own.
    let renamed = client
        .update_trigger(
            "default",
            "consumer",
            &trigger.id,
            &json!({"name": "orders"}),
        )
        .await
        .unwrap();
    assert_eq!(renamed.name, "orders");
    assert_eq!(renamed.status, gust_core::TriggerStatus::Error);
    for (patch, field) in [
        (json!({"schedule": "* * * * *"}), "schedule"),
        (json!({"kind": "cron"}), "kind"),
        (
            json!({"queue": {"protocol": "sqs", "name": ""}}),
            "queue.name",
        ),
    ] {
        let refused = client
            .update_trigger("default", "consumer", &trigger.id, &patch)
            .await
            .unwrap_err();
        assert_eq!(refused.status(), Some(StatusCode::BAD_REQUEST));
        assert!(format!("{refused:?}").contains(field), "{refused:?}");
    }
    let kept = client
        .get_trigger("default", "consumer", &trigger.id)
        .await
        .unwrap();
    assert_eq!(kept.name, "orders");
}

#[tokio::test]
async fn a_cron_trigger_patch_moves_its_schedule_and_body() {
    let server = TestServer::start();
    server.deploy_ready("patched", spec(), &test_guest()).await;
    let client = server.client();
    let trigger: FunctionTrigger = client
        .create_trigger(
            "default",
            "patched",
            &json!({"kind": "cron", "schedule": "0 0 1 1 *", "body": "old"}),
        )
        .await
        .unwrap();
    let patched = client
        .update_trigger(
            "default",
            "patched",
            &trigger.id,
            &json!({"schedule": "@every 1s", "body": "new"}),
        )
        .await
        .unwrap();
    assert!(patched.next_run_at < trigger.next_run_at);
    let got = wait_for(&server, "patched", "schedule", 1).await;
    let echo: serde_json::Value =
        serde_json::from_str(&got[0].response.as_ref().unwrap().body.body).unwrap();
    assert_eq!(echo["body"], "new");
    let refused = client
        .update_trigger(
            "default",
            "patched",
            &trigger.id,
            &json!({"schedule": "nope"}),
        )
        .await
        .unwrap_err();
    assert!(format!("{refused:?}").contains("schedule"), "{refused:?}");
}

/// Poll the trigger until its status is `status`.
async fn wait_for_status(
    server: &TestServer,
    function: &str,
    id: &str,
    status: gust_core::TriggerStatus,
) -> FunctionTrigger {
    for _ in 0..200 {
        let trigger = server
            .client()
            .get_trigger("default", function, id)
            .await
            .unwrap();
        if trigger.status == status {
            return trigger;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("trigger {id} did not become {status:?} in 10 s");
}

#[tokio::test]
async fn a_counted_cron_trigger_runs_its_count_then_is_done() {
    let server = TestServer::start();
    server.deploy_ready("counted", spec(), &test_guest()).await;
    let client = server.client();
    let trigger: FunctionTrigger = client
        .create_trigger(
            "default",
            "counted",
            &json!({"kind": "cron", "schedule": "@every 1s", "count": 2}),
        )
        .await
        .unwrap();
    assert_eq!(trigger.count, Some(2));
    let done = wait_for_status(
        &server,
        "counted",
        &trigger.id,
        gust_core::TriggerStatus::Done,
    )
    .await;
    assert_eq!(done.count, Some(0));
    assert_eq!(done.next_run_at, None);
    wait_for(&server, "counted", "schedule", 2).await;
    // Another tick's time passes: still two.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(executions(&server, "counted", "schedule").await.len(), 2);
    // Done is final.
    let refused = client
        .update_trigger(
            "default",
            "counted",
            &trigger.id,
            &json!({"status": "ready"}),
        )
        .await
        .unwrap_err();
    assert_eq!(refused.status(), Some(StatusCode::CONFLICT));
}

#[tokio::test]
async fn a_first_run_time_without_a_schedule_runs_once() {
    let server = TestServer::start();
    server.deploy_ready("once", spec(), &test_guest()).await;
    let at = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let trigger: FunctionTrigger = server
        .client()
        .create_trigger(
            "default",
            "once",
            &json!({"kind": "cron", "first_run_at": at, "body": "now"}),
        )
        .await
        .unwrap();
    assert_eq!(trigger.next_run_at, Some(at));
    assert_eq!(trigger.schedule, None);
    let ran = wait_for(&server, "once", "schedule", 1).await;
    assert!(ran[0].created_at >= at, "ran before its time");
    let done = wait_for_status(&server, "once", &trigger.id, gust_core::TriggerStatus::Done).await;
    assert_eq!(done.next_run_at, None);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(executions(&server, "once", "schedule").await.len(), 1);
}

#[tokio::test]
async fn a_paused_trigger_does_not_fire_until_resumed_and_cancel_is_final() {
    let server = TestServer::start();
    server.deploy_ready("pausable", spec(), &test_guest()).await;
    let client = server.client();
    let trigger: FunctionTrigger = client
        .create_trigger(
            "default",
            "pausable",
            &json!({"kind": "cron", "schedule": "@every 1s"}),
        )
        .await
        .unwrap();
    wait_for(&server, "pausable", "schedule", 1).await;
    let paused = client
        .update_trigger(
            "default",
            "pausable",
            &trigger.id,
            &json!({"status": "paused"}),
        )
        .await
        .unwrap();
    assert_eq!(paused.status, gust_core::TriggerStatus::Paused);
    // A run submitted just before the pause may still be finishing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = executions(&server, "pausable", "schedule").await.len();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        executions(&server, "pausable", "schedule").await.len(),
        before,
        "a paused trigger fired"
    );

    let resumed = client
        .update_trigger(
            "default",
            "pausable",
            &trigger.id,
            &json!({"status": "ready"}),
        )
        .await
        .unwrap();
    assert_eq!(resumed.status, gust_core::TriggerStatus::Ready);
    assert!(resumed.next_run_at.unwrap() > chrono::Utc::now() - chrono::Duration::seconds(1));
    wait_for(&server, "pausable", "schedule", before + 1).await;

    let cancelled = client
        .update_trigger(
            "default",
            "pausable",
            &trigger.id,
            &json!({"status": "cancelled"}),
        )
        .await
        .unwrap();
    assert_eq!(cancelled.status, gust_core::TriggerStatus::Cancelled);
    assert_eq!(cancelled.next_run_at, None);
    for patch in [json!({"status": "ready"}), json!({"name": "again"})] {
        let refused = client
            .update_trigger("default", "pausable", &trigger.id, &patch)
            .await
            .unwrap_err();
        assert_eq!(refused.status(), Some(StatusCode::CONFLICT), "{patch}");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after_cancel = executions(&server, "pausable", "schedule").await.len();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        executions(&server, "pausable", "schedule").await.len(),
        after_cancel
    );
}

#[tokio::test]
async fn bad_counts_and_run_times_name_the_field_and_change_nothing() {
    let server = TestServer::start();
    server.deploy_ready("strict", spec(), &hello_guest()).await;
    let client = server.client();
    let soon = chrono::Utc::now() + chrono::Duration::minutes(5);
    let past = chrono::Utc::now() - chrono::Duration::minutes(5);
    for (body, field) in [
        (json!({"kind": "cron", "count": 2}), "schedule"),
        (
            json!({"kind": "cron", "first_run_at": soon, "count": 2}),
            "count",
        ),
        (
            json!({"kind": "cron", "schedule": "@hourly", "count": 0}),
            "count",
        ),
        (
            json!({"kind": "cron", "schedule": "@hourly", "count": -1}),
            "count",
        ),
        (
            json!({"kind": "cron", "first_run_at": past}),
            "first_run_at",
        ),
        (
            json!({"kind": "cron", "first_run_at": "tomorrow"}),
            "first_run_at",
        ),
        (
            json!({"kind": "cron", "schedule": "@hourly", "status": "done"}),
            "status",
        ),
        (
            json!({"kind": "event", "events": ["a"], "status": "paused"}),
            "status",
        ),
    ] {
        let refused = client
            .create_trigger("default", "strict", &body)
            .await
            .unwrap_err();
        assert_eq!(refused.status(), Some(StatusCode::BAD_REQUEST), "{body}");
        assert!(
            format!("{refused:?}").contains(field),
            "{body}: {refused:?}"
        );
    }
    assert_eq!(
        client
            .list_triggers("default", "strict")
            .await
            .unwrap()
            .total,
        0
    );

    let trigger: FunctionTrigger = client
        .create_trigger(
            "default",
            "strict",
            &json!({"kind": "cron", "schedule": "@hourly", "count": 3}),
        )
        .await
        .unwrap();
    for (patch, field) in [
        (json!({"status": "done"}), "status"),
        (json!({"status": "error"}), "status"),
        (json!({"next_run_at": past}), "next_run_at"),
        (json!({"count": 0}), "count"),
        (json!({"schedule": "", "count": 3}), "schedule"),
    ] {
        let refused = client
            .update_trigger("default", "strict", &trigger.id, &patch)
            .await
            .unwrap_err();
        assert_eq!(refused.status(), Some(StatusCode::BAD_REQUEST), "{patch}");
        assert!(
            format!("{refused:?}").contains(field),
            "{patch}: {refused:?}"
        );
    }
    let kept = client
        .get_trigger("default", "strict", &trigger.id)
        .await
        .unwrap();
    assert_eq!(kept, trigger);

    // A client may move the next run while the trigger is not finished.
    let moved = client
        .update_trigger(
            "default",
            "strict",
            &trigger.id,
            &json!({"next_run_at": soon, "count": 1}),
        )
        .await
        .unwrap();
    assert_eq!(moved.next_run_at, Some(soon));
    assert_eq!(moved.count, Some(1));
}

#[tokio::test]
async fn a_restart_keeps_the_runs_left() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_in(dir.path(), &[]);
    server.deploy_ready("survivor", spec(), &test_guest()).await;
    let trigger: FunctionTrigger = server
        .client()
        .create_trigger(
            "default",
            "survivor",
            &json!({"kind": "cron", "schedule": "@every 1s", "count": 3}),
        )
        .await
        .unwrap();
    wait_for(&server, "survivor", "schedule", 1).await;
    assert_eq!(server.stop(), Some(0));
    let server = TestServer::start_in(dir.path(), &[]);
    wait_for_status(
        &server,
        "survivor",
        &trigger.id,
        gust_core::TriggerStatus::Done,
    )
    .await;
    wait_for(&server, "survivor", "schedule", 3).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        executions(&server, "survivor", "schedule").await.len(),
        3,
        "the count was lost or used twice across the restart"
    );
}

#[tokio::test]
async fn counted_and_paused_triggers_through_the_cli() {
    let server = TestServer::start();
    server.deploy_ready("clitick", spec(), &hello_guest()).await;
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| crate::harness::cli(&server, home.path(), args);
    let at = (chrono::Utc::now() + chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let out = run(&[
        "trigger",
        "create",
        "clitick",
        "--cron",
        "@every 1h",
        "--count",
        "4",
        "--first-run-at",
        &at,
    ]);
    let id = crate::harness::cli_stdout(&out).trim().to_string();
    let trigger = server
        .client()
        .get_trigger("default", "clitick", &id)
        .await
        .unwrap();
    assert_eq!(trigger.count, Some(4));
    assert_eq!(
        trigger
            .next_run_at
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        at
    );

    crate::harness::cli_stdout(&run(&["trigger", "update", "clitick", &id, "--pause"]));
    let list = crate::harness::cli_stdout(&run(&["trigger", "list", "clitick"]));
    assert!(list.contains("paused (4 left)"), "{list}");
    crate::harness::cli_stdout(&run(&["trigger", "update", "clitick", &id, "--resume"]));
    crate::harness::cli_stdout(&run(&["trigger", "update", "clitick", &id, "--cancel"]));
    let out = run(&["trigger", "update", "clitick", &id, "--resume"]);
    assert!(!out.status.success());
    let once = run(&["trigger", "create", "clitick", "--first-run-at", &at]);
    crate::harness::cli_stdout(&once);
    let list = crate::harness::cli_stdout(&run(&["trigger", "list", "clitick", "--json"]));
    let page: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(page["total"], 2);
}
