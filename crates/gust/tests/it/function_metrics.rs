//! Per-minute metrics of functions: counted from the records the server commits, the same
//! counts `/metrics` shows, written to the store once a flush interval and at shutdown,
//! charted over an hour, a day or a week, and pruned past 8 days.

use std::time::{Duration, Instant};

use gust_core::metrics::{FunctionActivity, FunctionMetrics, MetricsWindow};
use reqwest::StatusCode;
use serde_json::Value;

use crate::harness::{TestServer, cli, cli_stdout, spec, test_guest};

/// Runs `path` of function `f` `times` times, one after the other; returns the statuses.
async fn invoke(server: &TestServer, f: &str, path: &str, times: usize) -> Vec<StatusCode> {
    let mut statuses = Vec::new();
    for _ in 0..times {
        let response = server
            .http()
            .get(format!("{}/fn/default/{f}{path}", server.url))
            .bearer_auth(&server.token)
            .send()
            .await
            .unwrap();
        statuses.push(response.status());
        response.bytes().await.unwrap();
    }
    statuses
}

/// The sum of `/metrics` samples of `name` whose labels include `function="f"` and `filter`.
async fn metric_of(server: &TestServer, name: &str, f: &str, filter: &str) -> u64 {
    let text = server
        .http()
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let function = format!("function=\"{f}\"");
    text.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")))
        .filter(|line| line.contains(&function) && line.contains(filter))
        .map(|line| line.rsplit(' ').next().unwrap().parse::<f64>().unwrap() as u64)
        .sum()
}

async fn chart(server: &TestServer, f: &str, window: MetricsWindow) -> FunctionMetrics {
    server
        .client()
        .function_metrics("default", f, window)
        .await
        .unwrap()
}

fn totals(chart: &FunctionMetrics) -> (u64, u64, u64) {
    chart.points.iter().fold((0, 0, 0), |(r, e, c), p| {
        (r + p.requests, e + p.errors, c + p.cold_starts)
    })
}

/// Reads of a function's chart until it has counted `requests` (records are written, and so
/// counted, just after the response).
async fn counted(server: &TestServer, f: &str, requests: u64) -> FunctionMetrics {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let chart = chart(server, f, MetricsWindow::Hour).await;
        if totals(&chart).0 >= requests {
            return chart;
        }
        assert!(
            Instant::now() < deadline,
            "{f} counted {:?}",
            totals(&chart)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn charts_count_what_metrics_counts_and_survive_a_restart() {
    let mut server = TestServer::start();
    server.deploy_ready("charted", spec(), &test_guest()).await;
    server.deploy_ready("other", spec(), &test_guest()).await;
    let ok = invoke(&server, "charted", "/", 4).await;
    assert!(ok.iter().all(StatusCode::is_success), "{ok:?}");
    let failed = invoke(&server, "charted", "/panic", 2).await;
    assert!(failed.iter().all(|s| s.is_server_error()), "{failed:?}");
    invoke(&server, "other", "/", 1).await;

    let hour = counted(&server, "charted", 6).await;
    assert_eq!(
        (hour.window, hour.step_s, hour.points.len()),
        (MetricsWindow::Hour, 60, 60)
    );
    let (requests, errors, cold_starts) = totals(&hour);
    assert_eq!((requests, errors), (6, 2));
    // The same counts as /metrics.
    assert_eq!(
        requests,
        metric_of(&server, "gust_executions_total", "charted", "").await
    );
    assert_eq!(
        errors,
        metric_of(
            &server,
            "gust_executions_total",
            "charted",
            "status=\"failed\""
        )
        .await
    );
    assert_eq!(
        cold_starts,
        metric_of(&server, "gust_cold_starts_total", "charted", "").await
    );
    let busy: Vec<_> = hour.points.iter().filter(|p| p.requests > 0).collect();
    for point in &busy {
        let (p50, p99) = (point.p50_us.unwrap(), point.p99_us.unwrap());
        assert!(p50 > 0 && p50 <= point.p95_us.unwrap() && point.p95_us.unwrap() <= p99);
        assert!(point.instances >= 1);
    }
    assert!(
        hour.points
            .iter()
            .all(|p| p.requests > 0 || p.p50_us.is_none())
    );
    // Steps are a minute apart, the last one the current minute.
    for pair in hour.points.windows(2) {
        assert_eq!((pair[1].at - pair[0].at).num_seconds(), 60);
    }
    let day = chart(&server, "charted", MetricsWindow::Day).await;
    assert_eq!((day.step_s, day.points.len()), (900, 96));
    assert_eq!(totals(&day), totals(&hour));
    let week = chart(&server, "charted", MetricsWindow::Week).await;
    assert_eq!((week.step_s, week.points.len()), (7200, 84));
    assert_eq!(totals(&week), totals(&hour));

    let activity = server
        .client()
        .namespace_activity("default", 86_400)
        .await
        .unwrap();
    let ids = |name: &str| {
        let client = server.client();
        let name = name.to_string();
        async move { client.get_function("default", &name).await.unwrap().id }
    };
    let mut expected = vec![
        FunctionActivity {
            function_id: ids("charted").await,
            requests: 6,
            errors: 2,
        },
        FunctionActivity {
            function_id: ids("other").await,
            requests: 1,
            errors: 0,
        },
    ];
    expected.sort_by(|a, b| a.function_id.cmp(&b.function_id));
    assert_eq!(activity, expected);

    // The CLI's table: a row per minute of the day's steps, the same requests.
    let home = tempfile::tempdir().unwrap();
    let table = cli_stdout(&cli(
        &server,
        home.path(),
        &["fn", "metrics", "charted", "--window", "day"],
    ));
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    assert!(
        header.contains("REQUESTS") && header.contains("P99"),
        "{table}"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), 96, "{table}");
    let requests_column: u64 = rows.iter().map(|r| r[2].parse::<u64>().unwrap()).sum();
    assert_eq!(requests_column, 6, "{table}");

    // Shutdown writes what was counted; the next start charts it.
    assert_eq!(server.stop(), Some(0));
    let data_dir = server.data_dir.clone();
    let server = TestServer::start_in(&data_dir, &[]);
    let again = chart(&server, "charted", MetricsWindow::Hour).await;
    assert_eq!(totals(&again), totals(&hour));
    assert_eq!(
        server
            .client()
            .namespace_activity("default", 86_400)
            .await
            .unwrap(),
        expected
    );
}

/// The requests the store holds for function `id`, read from the database itself.
fn stored_requests(server: &TestServer, id: &str) -> i64 {
    let db = rusqlite::Connection::open(server.data_dir.join("gust.db")).unwrap();
    db.query_row(
        "SELECT COALESCE(SUM(requests), 0) FROM function_minutes WHERE function_id = ?",
        [id],
        |row| row.get(0),
    )
    .unwrap()
}

#[tokio::test]
async fn minutes_reach_the_store_each_flush_and_outlive_a_crash() {
    let mut server = TestServer::start_with_env(&[], &[("GUST_METRICS_FLUSH_SECS", "1")]);
    server.deploy_ready("flushed", spec(), &test_guest()).await;
    let id = server
        .client()
        .get_function("default", "flushed")
        .await
        .unwrap()
        .id;
    invoke(&server, "flushed", "/", 3).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while stored_requests(&server, &id) < 3 {
        assert!(
            Instant::now() < deadline,
            "the minutes never reached the store"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stored_requests(&server, &id), 3);
    // No shutdown: only what the flushes wrote is left.
    server.kill();
    let data_dir = server.data_dir.clone();
    let server = TestServer::start_in(&data_dir, &[]);
    assert_eq!(
        totals(&chart(&server, "flushed", MetricsWindow::Hour).await).0,
        3
    );
}

#[tokio::test]
async fn overlapping_runs_are_instances() {
    let server = TestServer::start();
    server.deploy_ready("parallel", spec(), &test_guest()).await;
    let runs = (0..3).map(|_| invoke(&server, "parallel", "/sleep?ms=1500", 1));
    let statuses = futures_util::future::join_all(runs).await;
    assert!(
        statuses.iter().flatten().all(StatusCode::is_success),
        "{statuses:?}"
    );
    let chart = counted(&server, "parallel", 3).await;
    let most = chart.points.iter().map(|p| p.instances).max().unwrap();
    assert_eq!(
        most,
        3,
        "{:?}",
        chart
            .points
            .iter()
            .filter(|p| p.requests > 0)
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn minutes_past_eight_days_are_pruned() {
    let mut server = TestServer::start();
    server.deploy_ready("old", spec(), &test_guest()).await;
    let id = server
        .client()
        .get_function("default", "old")
        .await
        .unwrap()
        .id;
    let ns = server
        .client()
        .get_function("default", "old")
        .await
        .unwrap()
        .namespace_id;
    assert_eq!(server.stop(), Some(0));
    // Minutes of 9 days ago and of 6 days ago (within a week's chart), as an earlier run left them.
    let now = chrono::Utc::now().timestamp() / 60 * 60;
    let db = rusqlite::Connection::open(server.data_dir.join("gust.db")).unwrap();
    for (days, requests) in [(9, 5), (6, 2)] {
        db.execute(
            "INSERT INTO function_minutes (function_id, namespace_id, minute, requests, errors, \
             cold_starts, instances, durations) VALUES (?, ?, ?, ?, 0, 0, 1, '{}')",
            rusqlite::params![id, ns, now - days * 86_400, requests],
        )
        .unwrap();
    }
    drop(db);
    let data_dir = server.data_dir.clone();
    let server = TestServer::start_in_env(&data_dir, &[], &[("GUST_RETENTION_INTERVAL_SECS", "1")]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while stored_requests(&server, &id) != 2 {
        assert!(Instant::now() < deadline, "the old minute was never pruned");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let week = chart(&server, "old", MetricsWindow::Week).await;
    assert_eq!(totals(&week).0, 2);
}

#[tokio::test]
async fn bad_windows_and_spans_are_refused_naming_the_parameter() {
    let server = TestServer::start();
    server.deploy_ready("measured", spec(), &test_guest()).await;
    let get = |path: String| {
        let request = server
            .http()
            .get(format!("{}{path}", server.url))
            .bearer_auth(&server.token);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let base = "/api/v1/namespaces/default";
    for (path, field) in [
        (
            format!("{base}/functions/measured/metrics?window=month"),
            "window",
        ),
        (
            format!("{base}/functions/measured/metrics?window="),
            "window",
        ),
        (format!("{base}/functions/measured/metrics?step=60"), "step"),
        (format!("{base}/activity?since_s=0"), "since_s"),
        (format!("{base}/activity?since_s=59"), "since_s"),
        (format!("{base}/activity?since_s=691201"), "since_s"),
        (format!("{base}/activity?since_s=-1"), "since_s"),
        (format!("{base}/activity?since_s=day"), "since_s"),
    ] {
        let (status, body) = get(path.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["error"]["field"], field, "{path}: {body}");
    }
    let (status, _) = get(format!("{base}/functions/missing/metrics")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = get("/api/v1/namespaces/missing/activity".into()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = get(format!("{base}/activity?since_s=691200")).await;
    assert_eq!((status, body), (StatusCode::OK, Value::Array(vec![])));
    let anonymous = reqwest::Client::new()
        .get(format!("{}{base}/functions/measured/metrics", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}
