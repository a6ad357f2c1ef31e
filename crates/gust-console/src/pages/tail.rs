//! Live tail: a function's executions' output as each finishes, over server-sent events (the
//! engine's follow of a function's log), which the page's script shows with pause and filter.
//! Without the script the page shows the latest executions' output, fresh on each reload.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::routing::get;
use gust_engine::ops::ExecutionOutput;

use crate::ConsoleState;
use crate::render::{self, Chrome, Html, PageResult, Ts, fn_url, ts};
use crate::session::Signed;

pub fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/ns/{ns}/fn/{fn}/tail", get(show))
        .route("/ns/{ns}/fn/{fn}/tail/events", get(events))
}

/// Executions shown before the live ones.
const RECENT: u32 = 20;

struct Entry {
    id: String,
    status: &'static str,
    trigger: &'static str,
    created: Ts,
    error: Option<String>,
    stdout: String,
    stderr: String,
}

#[derive(Template)]
#[template(path = "tail.html")]
struct TailPage {
    chrome: Chrome,
    fname: String,
    base: String,
    recent: Vec<Entry>,
}

fn entry(o: &ExecutionOutput) -> Entry {
    Entry {
        id: o.id.clone(),
        status: o.status.as_str(),
        trigger: o.trigger.as_str(),
        created: ts(&o.created_at),
        error: o.error_message.clone(),
        stdout: o.logs.stdout.clone(),
        stderr: o.logs.stderr.clone(),
    }
}

async fn show(
    State(state): State<ConsoleState>,
    signed: Signed,
    Path((ns, f)): Path<(String, String)>,
) -> PageResult {
    let function = state.engine.get_function(&signed.caller, &ns, &f).await?;
    let logs = state
        .engine
        .function_logs(&signed.caller, &ns, &f, RECENT, false)
        .await?;
    Ok(Html(TailPage {
        chrome: Chrome::new(&signed, format!("Live tail of {}", function.name)).function(
            &ns,
            &function.name,
            "Live tail",
        ),
        base: fn_url(&ns, &function.name),
        recent: logs.recent.iter().map(entry).collect(),
        fname: function.name,
    })
    .into_response())
}

/// The engine's follow of the function's log as an event stream: each execution as it
/// finishes (`execution` events with its output as JSON), until the page goes. The page
/// already shows the latest ones, so none are sent first.
async fn events(
    State(state): State<ConsoleState>,
    signed: Signed,
    Path((ns, f)): Path<(String, String)>,
) -> PageResult {
    let logs = state
        .engine
        .function_logs(&signed.caller, &ns, &f, 0, true)
        .await?;
    let Some(rx) = logs.follow else {
        return Err(gust_engine::Error::internal("a followed log came without its stream").into());
    };
    Ok(render::sse(rx))
}
