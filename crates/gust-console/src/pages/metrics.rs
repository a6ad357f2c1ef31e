//! Metrics: a function's charts over the last hour, day or week (requests and errors, duration
//! percentiles, cold starts, instances), drawn on the server as SVG from the engine's
//! per-minute aggregates, with the window's totals above them.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use axum::routing::get;
use gust_core::metrics::{MetricsPoint, MetricsWindow};
use serde::Deserialize;

use crate::ConsoleState;
use crate::charts::{Series, line_chart};
use crate::render::{Chrome, Html, PageResult, micros};
use crate::session::Signed;

pub fn routes() -> Router<ConsoleState> {
    Router::new().route("/ns/{ns}/fn/{fn}/metrics", get(show))
}

#[derive(Deserialize, Default)]
struct Params {
    window: Option<MetricsWindow>,
}

struct Chart {
    title: &'static str,
    svg: String,
    legend: Vec<(&'static str, String)>,
}

#[derive(Template)]
#[template(path = "metrics.html")]
struct MetricsPage {
    chrome: Chrome,
    ns: String,
    fname: String,
    window: &'static str,
    windows: [(&'static str, &'static str); 3],
    requests: u64,
    errors: u64,
    error_rate: String,
    cold_starts: u64,
    peak_instances: u32,
    charts: Vec<Chart>,
}

fn window_name(w: MetricsWindow) -> &'static str {
    match w {
        MetricsWindow::Hour => "hour",
        MetricsWindow::Day => "day",
        MetricsWindow::Week => "week",
    }
}

fn count(v: f64) -> String {
    if v >= 10.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn duration(v: f64) -> String {
    micros(v as u64)
}

fn series(
    points: &[MetricsPoint],
    label: &'static str,
    class: &'static str,
    value: impl Fn(&MetricsPoint) -> Option<f64>,
) -> Series {
    Series {
        label,
        class,
        points: points.iter().map(value).collect(),
    }
}

fn chart(
    title: &'static str,
    span: (&str, &str),
    all: Vec<Series>,
    unit: fn(f64) -> String,
) -> Chart {
    Chart {
        title,
        svg: line_chart(title, span, &all, unit),
        legend: all
            .iter()
            .map(|s| (s.label, s.class.replace('f', "k")))
            .collect(),
    }
}

async fn show(
    State(state): State<ConsoleState>,
    signed: Signed,
    Path((ns, f)): Path<(String, String)>,
    Query(params): Query<Params>,
) -> PageResult {
    let window = params.window.unwrap_or_default();
    let function = state.engine.get_function(&signed.caller, &ns, &f).await?;
    let m = state
        .engine
        .function_metrics(&signed.caller, &ns, &f, window)
        .await?;
    let points = &m.points;
    let requests: u64 = points.iter().map(|p| p.requests).sum();
    let errors: u64 = points.iter().map(|p| p.errors).sum();
    let span = match window {
        MetricsWindow::Hour => ("an hour ago", "now"),
        MetricsWindow::Day => ("a day ago", "now"),
        MetricsWindow::Week => ("a week ago", "now"),
    };
    let charts = vec![
        chart(
            "Requests and errors",
            span,
            vec![
                series(points, "requests", "f1", |p| Some(p.requests as f64)),
                series(points, "errors", "f2", |p| Some(p.errors as f64)),
            ],
            count,
        ),
        chart(
            "Duration percentiles",
            span,
            vec![
                series(points, "p50", "f4", |p| p.p50_us.map(|v| v as f64)),
                series(points, "p95", "f3", |p| p.p95_us.map(|v| v as f64)),
                series(points, "p99", "f2", |p| p.p99_us.map(|v| v as f64)),
            ],
            duration,
        ),
        chart(
            "Cold starts",
            span,
            vec![series(points, "cold starts", "f5", |p| {
                Some(p.cold_starts as f64)
            })],
            count,
        ),
        chart(
            "Instances",
            span,
            vec![series(points, "instances", "f1", |p| {
                Some(f64::from(p.instances))
            })],
            count,
        ),
    ];
    Ok(Html(MetricsPage {
        chrome: Chrome::new(&signed, format!("Metrics of {}", function.name)).function(
            &ns,
            &function.name,
            "Metrics",
        ),
        window: window_name(window),
        windows: [
            ("hour", "Last hour"),
            ("day", "Last day"),
            ("week", "Last week"),
        ],
        requests,
        errors,
        error_rate: if requests == 0 {
            "–".into()
        } else {
            format!("{:.1} %", errors as f64 * 100.0 / requests as f64)
        },
        cold_starts: points.iter().map(|p| p.cold_starts).sum(),
        peak_instances: points.iter().map(|p| p.instances).max().unwrap_or(0),
        charts,
        ns,
        fname: function.name,
    })
    .into_response())
}
