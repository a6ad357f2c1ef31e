//! Dead letters: the function's async executions whose every attempt failed, with a replay of
//! one or of all of them (each replay is a new execution with the same request; the replayed
//! record stays, as the record of what failed, naming its replay, but leaves this list, so
//! "replay all" twice replays each once).

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use gust_core::ListQuery;
use gust_engine::ops::ExecutionFilter;
use serde::Deserialize;

use super::Can;
use super::functions::ExecutionRow;
use crate::ConsoleState;
use crate::render::{self, Chrome, Html, PageResult, fn_url};
use crate::session::Signed;

pub fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/ns/{ns}/fn/{fn}/dead-letters", get(list))
        .route("/ns/{ns}/fn/{fn}/dead-letters/replay-all", post(replay_all))
        .route(
            "/ns/{ns}/fn/{fn}/dead-letters/{id}/replay",
            post(replay_one),
        )
}

/// Dead letters per page, and the most one "replay all" queues.
const PAGE: u32 = 50;
const REPLAY_ALL_MAX: u32 = 1000;

fn dead_letters() -> ExecutionFilter {
    ExecutionFilter {
        dead_letter: Some(true),
        ..ExecutionFilter::default()
    }
}

#[derive(Deserialize, Default)]
struct ListParams {
    cursor: Option<String>,
}

#[derive(Template)]
#[template(path = "dead_letters.html")]
struct ListPage {
    chrome: Chrome,
    can: Can,
    ns: String,
    fname: String,
    executions: Vec<ExecutionRow>,
    total: u64,
    next: Option<String>,
}

async fn list(
    State(state): State<ConsoleState>,
    signed: Signed,
    Path((ns, f)): Path<(String, String)>,
    Query(params): Query<ListParams>,
) -> PageResult {
    let caller = &signed.caller;
    let function = state.engine.get_function(caller, &ns, &f).await?;
    let page = state
        .engine
        .list_executions(
            caller,
            &ns,
            &f,
            &ListQuery {
                limit: Some(PAGE),
                cursor: params.cursor,
                ..ListQuery::default()
            },
            &dead_letters(),
        )
        .await?;
    let base = format!("{}/dead-letters", fn_url(&ns, &function.name));
    Ok(Html(ListPage {
        chrome: Chrome::new(&signed, format!("Dead letters of {}", function.name)).function(
            &ns,
            &function.name,
            "Dead letters",
        ),
        can: Can::of(caller),
        executions: page.items.iter().map(ExecutionRow::of).collect(),
        total: page.total,
        next: super::Pager::new(&base, page.next_cursor.as_deref()).next,
        ns,
        fname: function.name,
    })
    .into_response())
}

async fn replay_one(
    State(state): State<ConsoleState>,
    signed: Signed,
    Path((ns, f, id)): Path<(String, String, String)>,
) -> PageResult {
    state
        .engine
        .replay_execution(&signed.caller, &ns, &f, &id)
        .await?;
    Ok(render::done(
        &format!("{}/dead-letters", fn_url(&ns, &f)),
        "replayed",
    ))
}

/// Replay every dead letter (up to [`REPLAY_ALL_MAX`], newest first).
async fn replay_all(
    State(state): State<ConsoleState>,
    signed: Signed,
    Path((ns, f)): Path<(String, String)>,
) -> PageResult {
    state
        .engine
        .replay_dead_letters(&signed.caller, &ns, &f, REPLAY_ALL_MAX)
        .await?;
    Ok(render::done(
        &format!("{}/dead-letters", fn_url(&ns, &f)),
        "replayed-all",
    ))
}
