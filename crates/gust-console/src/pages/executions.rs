//! Executions: the function's table (filtered by status, trigger and time, a page at a time),
//! and each execution's page: its request and response (a JSON body pretty-printed), its
//! logs, its attempts, a replay, and the waterfall of where its time went.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use gust_core::{Execution, ExecutionStatus, ExecutionTrigger, ListQuery};
use gust_engine::ops::ExecutionFilter;
use serde::Deserialize;

use super::Can;
use super::functions::ExecutionRow;
use crate::ConsoleState;
use crate::charts::{self, Segment};
use crate::render::{self, Chrome, Html, PageResult, Ts, fn_url, micros, ts};
use crate::session::Signed;

pub fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/ns/{ns}/fn/{fn}/executions", get(list))
        .route("/ns/{ns}/fn/{fn}/executions/{id}", get(show))
        .route("/ns/{ns}/fn/{fn}/executions/{id}/replay", post(replay))
        .route("/ns/{ns}/fn/{fn}/executions/{id}/events", get(events))
}

/// Rows per page.
const PAGE: u32 = 50;

/// The time filter's choices: a name and how far back it reaches.
const WINDOWS: [(&str, &str, i64); 5] = [
    ("", "Any time", 0),
    ("15m", "Last 15 minutes", 15 * 60),
    ("1h", "Last hour", 3600),
    ("24h", "Last 24 hours", 86_400),
    ("7d", "Last 7 days", 7 * 86_400),
];

#[derive(Deserialize, Default)]
pub struct ListParams {
    #[serde(default)]
    status: String,
    #[serde(default)]
    trigger: String,
    #[serde(default)]
    window: String,
    cursor: Option<String>,
}

#[derive(Template)]
#[template(path = "executions.html")]
struct ListPage {
    chrome: Chrome,
    ns: String,
    fname: String,
    executions: Vec<ExecutionRow>,
    status: String,
    trigger: String,
    window: String,
    statuses: Vec<&'static str>,
    triggers: Vec<&'static str>,
    windows: Vec<(&'static str, &'static str)>,
    total: u64,
    next: Option<String>,
    error: Option<String>,
}

fn parse_trigger(text: &str) -> Option<ExecutionTrigger> {
    serde_json::from_value(serde_json::Value::String(text.to_string())).ok()
}

async fn list(
    State(state): State<ConsoleState>,
    signed: Signed,
    Path((ns, f)): Path<(String, String)>,
    Query(params): Query<ListParams>,
) -> PageResult {
    let caller = &signed.caller;
    let function = state.engine.get_function(caller, &ns, &f).await?;
    let mut error = None;
    let status = match params.status.as_str() {
        "" => None,
        s => match s.parse::<ExecutionStatus>() {
            Ok(s) => Some(s),
            Err(e) => {
                error = Some(e);
                None
            }
        },
    };
    let trigger = match params.trigger.as_str() {
        "" => None,
        t => {
            let parsed = parse_trigger(t);
            if parsed.is_none() {
                error = Some(format!("unknown trigger `{t}`"));
            }
            parsed
        }
    };
    let since = WINDOWS
        .iter()
        .find(|(key, _, secs)| *key == params.window && *secs > 0)
        .map(|(_, _, secs)| gust_core::now() - chrono::Duration::seconds(*secs));
    let filter = ExecutionFilter {
        status,
        trigger,
        since,
        ..ExecutionFilter::default()
    };
    let page = state
        .engine
        .list_executions(
            caller,
            &ns,
            &f,
            &ListQuery {
                limit: Some(PAGE),
                cursor: params.cursor.clone(),
                ..ListQuery::default()
            },
            &filter,
        )
        .await?;
    let base = format!(
        "{}/executions?status={}&trigger={}&window={}",
        fn_url(&ns, &function.name),
        render::query_escape(&params.status),
        render::query_escape(&params.trigger),
        render::query_escape(&params.window),
    );
    Ok(Html(ListPage {
        chrome: Chrome::new(&signed, format!("Executions of {}", function.name)).function(
            &ns,
            &function.name,
            "Executions",
        ),
        executions: page.items.iter().map(ExecutionRow::of).collect(),
        total: page.total,
        next: super::Pager::new(&base, page.next_cursor.as_deref()).next,
        statuses: vec!["queued", "running", "completed", "failed", "timeout"],
        triggers: vec!["http", "api", "schedule", "event", "webhook", "edge"],
        windows: WINDOWS.iter().map(|(k, label, _)| (*k, *label)).collect(),
        status: params.status,
        trigger: params.trigger,
        window: params.window,
        ns,
        fname: function.name,
        error,
    })
    .into_response())
}

/// A recorded body as a page shows it: JSON pretty-printed, binary said to be so.
pub fn shown_body(
    body: &gust_core::execution::RecordedBody,
    headers: Option<&std::collections::BTreeMap<String, String>>,
) -> String {
    if body.is_base64 {
        return format!(
            "({} bytes of binary data, base64)\n{}",
            body.size, body.body
        );
    }
    let json = headers
        .and_then(|h| {
            h.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        })
        .is_some_and(|(_, v)| v.contains("json"))
        || body.body.trim_start().starts_with(['{', '[']);
    let mut text = if json {
        serde_json::from_str::<serde_json::Value>(&body.body)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or_else(|| body.body.clone())
    } else {
        body.body.clone()
    };
    if body.truncated {
        text.push_str(&format!("\n… cut: {} bytes in all", body.size));
    }
    text
}

#[derive(Template)]
#[template(path = "execution.html")]
struct ShowPage {
    chrome: Chrome,
    can: Can,
    ns: String,
    fname: String,
    e: Execution,
    status: &'static str,
    trigger: &'static str,
    created: Ts,
    started: Option<Ts>,
    finished: Option<Ts>,
    run_after: Option<Ts>,
    duration: String,
    request_line: String,
    request_headers: Vec<(String, String)>,
    request_body: String,
    response_headers: Vec<(String, String)>,
    response_body: String,
    response_code: Option<u16>,
    segments: Vec<Segment>,
    waterfall: String,
    replayable: bool,
    /// Queued or running: its output is followed live.
    live: bool,
}

async fn show(
    State(state): State<ConsoleState>,
    signed: Signed,
    Path((ns, f, id)): Path<(String, String, String)>,
) -> PageResult {
    let caller = &signed.caller;
    let function = state.engine.get_function(caller, &ns, &f).await?;
    let e = state.engine.get_execution(caller, &ns, &f, &id).await?;
    let segments = charts::waterfall(&e);
    let request = &e.request;
    let request_line = format!(
        "{} {}{}{}",
        request.method,
        request.path,
        if request.query.is_empty() { "" } else { "?" },
        request.query
    );
    let response = e.response.as_ref();
    Ok(Html(ShowPage {
        chrome: Chrome::new(&signed, format!("Execution {}", e.id)).function(
            &ns,
            &function.name,
            "Executions",
        ),
        can: Can::of(caller),
        status: e.status.as_str(),
        trigger: e.trigger.as_str(),
        created: ts(&e.created_at),
        started: e.started_at.as_ref().map(ts),
        finished: e.finished_at.as_ref().map(ts),
        run_after: e.run_after.as_ref().map(ts),
        duration: e.duration_us.map(micros).unwrap_or_default(),
        request_line,
        request_headers: request.headers.clone().into_iter().collect(),
        request_body: shown_body(&request.body, Some(&request.headers)),
        response_headers: response
            .map(|r| r.headers.clone().into_iter().collect())
            .unwrap_or_default(),
        response_body: response
            .map(|r| shown_body(&r.body, Some(&r.headers)))
            .unwrap_or_default(),
        response_code: response.map(|r| r.status_code),
        waterfall: if segments.is_empty() {
            String::new()
        } else {
            charts::waterfall_svg(&segments)
        },
        segments,
        live: matches!(e.status, ExecutionStatus::Queued | ExecutionStatus::Running),
        replayable: !e.request.body.truncated
            && matches!(
                e.status,
                ExecutionStatus::Completed | ExecutionStatus::Failed | ExecutionStatus::Timeout
            ),
        ns,
        fname: function.name,
        e,
    })
    .into_response())
}

/// The execution's output as it is printed (the engine's follow, as the API's stream has it):
/// `stdout` and `stderr` events, `retry` between attempts, `end` with the final status.
async fn events(
    State(state): State<ConsoleState>,
    signed: Signed,
    Path((ns, f, id)): Path<(String, String, String)>,
) -> PageResult {
    let rx = state
        .engine
        .follow_execution_logs(&signed.caller, &ns, &f, &id)
        .await?;
    Ok(render::sse(rx))
}

/// Queue the execution's request again, as a new async execution.
async fn replay(
    State(state): State<ConsoleState>,
    signed: Signed,
    Path((ns, f, id)): Path<(String, String, String)>,
) -> PageResult {
    let accepted = state
        .engine
        .replay_execution(&signed.caller, &ns, &f, &id)
        .await?;
    Ok(render::done(
        &format!("{}/executions/{}", fn_url(&ns, &f), accepted.execution.id),
        "replayed",
    ))
}
