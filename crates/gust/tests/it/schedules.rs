//! The next fire times of a cron schedule, before any trigger is saved: the scheduler's own
//! parser and tick rule, so a preview shows the times a trigger then gets.

use chrono::{DateTime, Datelike, Timelike, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{TestServer, cli, cli_stdout, spec, test_guest};

async fn next(server: &TestServer, query: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = server
        .http()
        .get(format!("{}/api/v1/schedules/next", server.url))
        .query(query)
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

fn times(answer: &Value) -> Vec<DateTime<Utc>> {
    answer["times"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().parse().unwrap())
        .collect()
}

#[tokio::test]
async fn fire_times_follow_the_schedule_in_its_timezone() {
    let server = TestServer::start();
    let before = Utc::now();
    let (status, answer) = next(
        &server,
        &[
            ("schedule", "30 9 * * 1-5"),
            ("timezone", "Europe/Paris"),
            ("count", "7"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let fires = times(&answer);
    assert_eq!(fires.len(), 7);
    assert!(fires[0] > before);
    for pair in fires.windows(2) {
        assert!(pair[0] < pair[1], "{fires:?}");
    }
    for fire in &fires {
        // 09:30 on a weekday in Paris, whatever the offset of that day.
        let paris = fire.with_timezone(&chrono_tz::Europe::Paris);
        assert_eq!(
            (paris.hour(), paris.minute(), paris.second()),
            (9, 30, 0),
            "{fire}"
        );
        assert!(paris.weekday().number_from_monday() <= 5, "{fire}");
    }
    // Five by default, in UTC without a timezone; intervals sit on their multiples.
    let (_, answer) = next(&server, &[("schedule", "@every 90s")]).await;
    let fires = times(&answer);
    assert_eq!(fires.len(), 5);
    assert!(fires.iter().all(|t| t.timestamp() % 90 == 0), "{fires:?}");
    // A date that never comes has no fire time.
    let (status, answer) = next(&server, &[("schedule", "0 0 30 2 *")]).await;
    assert_eq!((status, answer), (StatusCode::OK, json!({"times": []})));
}

#[tokio::test]
async fn a_saved_trigger_runs_next_at_the_first_time_previewed() {
    let server = TestServer::start();
    server.deploy_ready("ticking", spec(), &test_guest()).await;
    for (schedule, timezone) in [
        ("*/5 * * * *", None),
        ("0 7 * * *", Some("America/New_York")),
    ] {
        let mut query = vec![("schedule", schedule), ("count", "2")];
        if let Some(tz) = timezone {
            query.push(("timezone", tz));
        }
        let (_, before) = next(&server, &query).await;
        let trigger = server
            .client()
            .create_trigger(
                "default",
                "ticking",
                &json!({"kind": "cron", "schedule": schedule, "timezone": timezone}),
            )
            .await
            .unwrap();
        let (_, after) = next(&server, &query).await;
        // A tick may pass between the calls: the trigger's next run is the first time one of
        // the previews shows.
        let next_run = trigger.next_run_at.unwrap();
        assert!(
            times(&before)[0] == next_run || times(&after)[0] == next_run,
            "{schedule}: trigger {next_run}, previews {before} {after}"
        );
    }
}

#[tokio::test]
async fn bad_schedules_are_refused_naming_the_parameter() {
    let server = TestServer::start();
    server.deploy_ready("ticking", spec(), &test_guest()).await;
    for (query, field) in [
        (vec![("schedule", "61 * * * *")], "schedule"),
        (vec![("schedule", "* * * *")], "schedule"),
        (vec![("schedule", "")], "schedule"),
        (vec![("schedule", "@every 0s")], "schedule"),
        (vec![("count", "3")], "schedule"),
        (
            vec![("schedule", "@hourly"), ("timezone", "Mars/Olympus")],
            "timezone",
        ),
        (vec![("schedule", "@hourly"), ("count", "0")], "count"),
        (vec![("schedule", "@hourly"), ("count", "21")], "count"),
        (vec![("schedule", "@hourly"), ("count", "many")], "count"),
        (vec![("schedule", "@hourly"), ("tz", "UTC")], "tz"),
    ] {
        let (status, answer) = next(&server, &query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query:?}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{query:?}: {answer}");
    }
    let (_, answer) = next(&server, &[("schedule", "@hourly"), ("count", "20")]).await;
    assert_eq!(times(&answer).len(), 20);
    // A preview stores nothing.
    let triggers = server
        .client()
        .list_triggers("default", "ticking")
        .await
        .unwrap();
    assert_eq!(triggers.total, 0);
}

#[tokio::test]
async fn the_cli_prints_the_next_fire_times() {
    let server = TestServer::start();
    let home = tempfile::tempdir().unwrap();
    let out = cli_stdout(&cli(
        &server,
        home.path(),
        &[
            "trigger",
            "next",
            "0 9 * * *",
            "--timezone",
            "Asia/Kolkata",
            "--count",
            "3",
        ],
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    for line in lines {
        // UTC first (09:00 in Kolkata is 03:30 UTC), then the local time.
        let utc: DateTime<Utc> = line.split_whitespace().next().unwrap().parse().unwrap();
        assert_eq!((utc.hour(), utc.minute()), (3, 30), "{line}");
        assert!(line.contains("09:00:00 IST"), "{line}");
    }
    let bad = cli(&server, home.path(), &["trigger", "next", "61 * * * *"]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("schedule"),
        "{bad:?}"
    );
}
