//! Logs, read or followed live with server-sent events.
//!
//! - `GET …/executions/{id}/logs`: the execution's stdout and stderr as JSON; with
//!   `follow=true`, an event stream: `stdout` and `stderr` events carry output as it is
//!   printed, `retry` says an attempt failed and the next one starts over, `end` carries the
//!   final status.
//! - `GET …/functions/{fn}/logs`: the last `tail` executions' output; with `follow=true`, an
//!   event stream that goes on with an `execution` event per execution as it finishes.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use gust_core::{Execution, ExecutionLogs, ExecutionStatus, ListQuery, Order};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use utoipa::{IntoParams, ToSchema};

use gust_engine::{Caller, Shared};

use crate::ApiState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::ApiQuery;

/// How often a follower looks again at an execution that is not running yet.
const POLL: Duration = Duration::from_millis(100);

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogsQuery {
    /// Stream with server-sent events until the execution ends (or, for a function, until
    /// the client leaves).
    pub follow: Option<bool>,
    /// Function logs: how many recent executions to show first (default 10, at most 100).
    pub tail: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/functions/{fn}/executions/{id}/logs", tag = "executions",
    params(("ns" = String, Path), ("fn" = String, Path), ("id" = String, Path), LogsQuery),
    responses((status = 200, body = ExecutionLogs, description = "JSON, or `text/event-stream` with `follow=true`"),
        (status = 404, body = ErrorBody)))]
pub async fn get_execution_logs(
    State(state): State<ApiState>,
    caller: Caller,
    Path((ns, f, id)): Path<(String, String, String)>,
    ApiQuery(q): ApiQuery<LogsQuery>,
) -> ApiResult<Response> {
    let execution = state.get_execution(&caller, &ns, &f, &id).await?;
    let function = execution.function_id.clone();
    if !q.follow.unwrap_or(false) {
        return Ok(Json(execution.logs).into_response());
    }
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(follow_execution(state.0.clone(), function, id, tx));
    Ok(sse(rx))
}

/// One execution's output as it comes, attempt after attempt, until it ends.
async fn follow_execution(
    state: Shared,
    function_id: String,
    id: String,
    tx: mpsc::Sender<SseEvent>,
) {
    // Bytes of stdout and stderr already sent, and the attempt they belong to.
    let mut sent = (0usize, 0usize);
    let mut attempt: Option<u64> = None;
    loop {
        if let Some((running_attempt, watch)) = state.logs.get(&id) {
            if attempt != Some(running_attempt) {
                attempt = Some(running_attempt);
                sent = (0, 0);
            }
            let changed = watch.changed();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let (out, err) = watch.read_from(sent);
            if !send_output(&tx, &mut sent, &out, &err).await {
                return;
            }
            tokio::select! {
                _ = changed => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = tx.closed() => return,
            }
            continue;
        }
        // Not running: ended, between attempts, or not started yet.
        state.flush_records().await;
        let Ok(execution) = state.store.get_execution(&function_id, &id).await else {
            return;
        };
        let ended_attempt = gust_engine::metrics::ended_attempt(&execution);
        if ended_attempt && attempt.is_some() {
            // The rest of the attempt we were following, from its record.
            let logs = &execution.logs;
            let out = tail_from(&logs.stdout, sent.0);
            let err = tail_from(&logs.stderr, sent.1);
            if !send_output(&tx, &mut sent, out.as_bytes(), err.as_bytes()).await {
                return;
            }
        } else if ended_attempt && execution.status != ExecutionStatus::Queued {
            // It ended before we looked: everything at once.
            let logs = &execution.logs;
            sent = (0, 0);
            if !send_output(
                &tx,
                &mut sent,
                logs.stdout.as_bytes(),
                logs.stderr.as_bytes(),
            )
            .await
            {
                return;
            }
        }
        match execution.status {
            ExecutionStatus::Completed | ExecutionStatus::Failed | ExecutionStatus::Timeout => {
                let end = serde_json::json!({
                    "status": execution.status,
                    "error_message": execution.error_message,
                    "attempts": execution.attempts,
                });
                let _ = tx
                    .send(SseEvent::default().event("end").data(end.to_string()))
                    .await;
                return;
            }
            ExecutionStatus::Queued if attempt.take().is_some() => {
                let retry = serde_json::json!({
                    "attempts": execution.attempts,
                    "next_attempt_at": execution.run_after,
                    "error_message": execution.error_message,
                });
                if tx
                    .send(SseEvent::default().event("retry").data(retry.to_string()))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            _ => {}
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = tx.closed() => return,
        }
    }
}

/// Send new stdout and stderr bytes as events; `false` once the client has gone.
async fn send_output(
    tx: &mpsc::Sender<SseEvent>,
    sent: &mut (usize, usize),
    stdout: &[u8],
    stderr: &[u8],
) -> bool {
    for (name, bytes, counter) in [
        ("stdout", stdout, &mut sent.0),
        ("stderr", stderr, &mut sent.1),
    ] {
        if bytes.is_empty() {
            continue;
        }
        *counter += bytes.len();
        let text = String::from_utf8_lossy(bytes);
        if tx
            .send(SseEvent::default().event(name).data(text))
            .await
            .is_err()
        {
            return false;
        }
    }
    true
}

/// `text` past `offset` bytes (moved back to a character boundary).
fn tail_from(text: &str, offset: usize) -> &str {
    let mut at = offset.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    &text[at..]
}

/// One execution's output, as the function log shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExecutionOutput {
    pub id: String,
    pub status: ExecutionStatus,
    pub trigger: gust_core::ExecutionTrigger,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub error_message: Option<String>,
    #[serde(flatten)]
    pub logs: ExecutionLogs,
}

impl From<&Execution> for ExecutionOutput {
    fn from(e: &Execution) -> Self {
        Self {
            id: e.id.clone(),
            status: e.status,
            trigger: e.trigger,
            created_at: e.created_at,
            error_message: e.error_message.clone(),
            logs: e.logs.clone(),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/functions/{fn}/logs", tag = "functions",
    params(("ns" = String, Path), ("fn" = String, Path), LogsQuery),
    responses((status = 200, body = Vec<ExecutionOutput>, description = "oldest first; `text/event-stream` with `follow=true`"),
        (status = 404, body = ErrorBody)))]
pub async fn get_function_logs(
    State(state): State<ApiState>,
    caller: Caller,
    Path((ns, f)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<LogsQuery>,
) -> ApiResult<Response> {
    let function = state.get_function(&caller, &ns, &f).await?;
    let tail = q.tail.unwrap_or(10).min(100);
    // Subscribe before reading the recent ones, so nothing falls between the two.
    let live = q
        .follow
        .unwrap_or(false)
        .then(|| state.logs.subscribe(&function.id));
    state.flush_records().await;
    let mut recent = if tail == 0 {
        Vec::new()
    } else {
        let query = ListQuery {
            limit: Some(tail),
            order: Some(Order::Desc),
            ..Default::default()
        };
        state
            .store
            .list_executions(&function.id, &query, &Default::default())
            .await?
            .items
    };
    recent.retain(gust_engine::metrics::ended_attempt);
    recent.reverse();
    let Some(mut live) = live else {
        let outputs: Vec<ExecutionOutput> = recent.iter().map(ExecutionOutput::from).collect();
        return Ok(Json(outputs).into_response());
    };
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        // By attempt, not by execution: a retried execution's later attempts are new output.
        let mut seen: std::collections::HashSet<(String, u32)> =
            recent.iter().map(|e| (e.id.clone(), e.attempts)).collect();
        for e in &recent {
            if tx.send(output_event(e)).await.is_err() {
                return;
            }
        }
        loop {
            let next = tokio::select! {
                next = live.recv() => next,
                _ = tx.closed() => return,
            };
            match next {
                Ok(e) => {
                    // A record read as recent may arrive again through the subscription.
                    if seen.remove(&(e.id.clone(), e.attempts)) {
                        continue;
                    }
                    if tx.send(output_event(&e)).await.is_err() {
                        return;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                    let note = serde_json::json!({ "missed": missed });
                    let _ = tx
                        .send(SseEvent::default().event("lagged").data(note.to_string()))
                        .await;
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    Ok(sse(rx))
}

fn output_event(execution: &Execution) -> SseEvent {
    let data = serde_json::to_string(&ExecutionOutput::from(execution)).unwrap_or_default();
    SseEvent::default().event("execution").data(data)
}

/// An event stream fed by `rx`; it ends when the sender is dropped.
fn sse(mut rx: mpsc::Receiver<SseEvent>) -> Response {
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|e| e.map(Ok)));
    sse_response(stream)
}

fn sse_response(
    stream: impl Stream<Item = Result<SseEvent, Infallible>> + Send + 'static,
) -> Response {
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}
