//! Logs, read or followed live with server-sent events.
//!
//! - `GET …/executions/{id}/logs`: the execution's stdout and stderr as JSON; with
//!   `follow=true`, an event stream: `stdout` and `stderr` events carry output as it is
//!   printed, `retry` says an attempt failed and the next one starts over, `end` carries the
//!   final status.
//! - `GET …/functions/{fn}/logs`: the last `tail` executions' output; with `follow=true`, an
//!   event stream that goes on with an `execution` event per execution as it finishes.

use std::convert::Infallible;

use axum::Json;
use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use gust_core::ExecutionLogs;
use gust_engine::Caller;
use gust_engine::ops::{ExecutionOutput, LogEvent};
use serde::Deserialize;
use tokio::sync::mpsc;
use utoipa::{IntoParams, ToSchema};

use crate::ApiState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiPath, ApiQuery};

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogsQuery {
    /// Stream with server-sent events until the execution ends (or, for a function, until
    /// the client leaves).
    pub follow: Option<bool>,
    /// Function logs: how many recent executions to show first (default 10, at most 100).
    pub tail: Option<u32>,
}

/// One server-sent event of a log stream (`follow=true`).
// Only describes the stream: `sse` writes the events.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct StreamEvent {
    /// `stdout` and `stderr` (output as it is printed), `retry` (an attempt failed; the next
    /// starts over), `end` (the execution's final status), `execution` (a function's stream: an
    /// execution finished); a build's: `status`, `log`, `end`.
    event: String,
    /// The output, or for `retry`, `end` and `execution` a JSON document.
    data: String,
}

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/functions/{fn}/executions/{id}/logs", tag = "executions",
    params(("ns" = String, Path), ("fn" = String, Path), ("id" = String, Path), LogsQuery),
    responses((status = 200, description = "JSON, or `text/event-stream` with `follow=true`",
            content((ExecutionLogs = "application/json"), (StreamEvent = "text/event-stream"))),
        (status = 404, body = ErrorBody)))]
pub async fn get_execution_logs(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f, id)): ApiPath<(String, String, String)>,
    ApiQuery(q): ApiQuery<LogsQuery>,
) -> ApiResult<Response> {
    if !q.follow.unwrap_or(false) {
        let logs = state.execution_logs(&caller, &ns, &f, &id).await?;
        return Ok(Json(logs).into_response());
    }
    let events = state.follow_execution_logs(&caller, &ns, &f, &id).await?;
    Ok(sse(events))
}

/// A deployment's build log.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct BuildLog {
    /// The deployment's state.
    pub status: gust_core::DeploymentStatus,
    /// Everything the build has written so far (all of it once the build is final).
    pub build_log: String,
}

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/functions/{fn}/deployments/{id}/build-log", tag = "deployments",
    params(("ns" = String, Path), ("fn" = String, Path), ("id" = String, Path), LogsQuery),
    responses((status = 200, description = "JSON; with `follow=true`, `text/event-stream` as the build goes: `status` when its state changes, `log` with the text written since, `end` (JSON: the final `status`, `error_message`, `active`) once it is ready or failed",
            content((BuildLog = "application/json"), (StreamEvent = "text/event-stream"))),
        (status = 404, body = ErrorBody)))]
pub async fn get_build_log(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f, id)): ApiPath<(String, String, String)>,
    ApiQuery(q): ApiQuery<LogsQuery>,
) -> ApiResult<Response> {
    if !q.follow.unwrap_or(false) {
        let d = state.get_deployment(&caller, &ns, &f, &id).await?;
        return Ok(Json(BuildLog {
            status: d.status,
            build_log: d.build_log,
        })
        .into_response());
    }
    Ok(sse(state.follow_build_log(&caller, &ns, &f, &id).await?))
}

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/functions/{fn}/logs", tag = "functions",
    params(("ns" = String, Path), ("fn" = String, Path), LogsQuery),
    responses((status = 200, description = "oldest first; `text/event-stream` with `follow=true`",
            content((Vec<ExecutionOutput> = "application/json"), (StreamEvent = "text/event-stream"))),
        (status = 404, body = ErrorBody)))]
pub async fn get_function_logs(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<LogsQuery>,
) -> ApiResult<Response> {
    let logs = state
        .function_logs(
            &caller,
            &ns,
            &f,
            q.tail.unwrap_or(10),
            q.follow.unwrap_or(false),
        )
        .await?;
    Ok(match logs.follow {
        Some(events) => sse(events),
        None => Json(logs.recent).into_response(),
    })
}

/// An event stream fed by `rx`; it ends when the sender is dropped.
fn sse(mut rx: mpsc::Receiver<LogEvent>) -> Response {
    let stream = futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx)
            .map(|e| e.map(|e| Ok(SseEvent::default().event(e.name).data(e.data))))
    });
    sse_response(stream)
}

fn sse_response(
    stream: impl Stream<Item = Result<SseEvent, Infallible>> + Send + 'static,
) -> Response {
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}
