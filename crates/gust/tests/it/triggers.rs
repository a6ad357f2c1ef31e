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
