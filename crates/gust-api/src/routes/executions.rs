//! `/api/v1/namespaces/{ns}/functions/{fn}/executions[/{id}[/replay]]`: run a function
//! (synchronously, or queued with `async: true`), list and read the records, replay one.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use gust_core::{Execution, ExecutionStatus, ExecutionTrigger, ListQuery, Order, Page, Scope};
use gust_store::ExecutionFilter;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};
use crate::invoke::{self, ExecutionInput, RunRequest};
use crate::jobs::{self, Submission};
use crate::routes::function_for;
use crate::state::Shared;

/// List parameters plus filters. (Not `#[serde(flatten)]`: query strings cannot carry typed
/// values through it.)
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExecutionListQuery {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    pub offset: Option<u32>,
    pub order: Option<Order>,
    /// Only executions with this status.
    pub status: Option<ExecutionStatus>,
    /// Only executions started this way.
    pub trigger: Option<ExecutionTrigger>,
    /// Only executions created at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Only executions created before this time (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// `true`: only dead letters (async executions that used up their attempts).
    pub dead_letter: Option<bool>,
}

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/functions/{fn}/executions", tag = "executions",
    params(("ns" = String, Path), ("fn" = String, Path), ExecutionListQuery),
    responses((status = 200, body = Page<Execution>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_executions(
    State(state): State<Shared>,
    caller: Caller,
    Path((ns, f)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<ExecutionListQuery>,
) -> ApiResult<Json<Page<Execution>>> {
    caller.require(Scope::Read)?;
    let query = ListQuery {
        limit: q.limit,
        cursor: q.cursor,
        offset: q.offset,
        search: None,
        order: q.order,
    };
    query.validate()?;
    if let (Some(since), Some(until)) = (q.since, q.until)
        && since >= until
    {
        return Err(ApiError::invalid("until", "must be later than `since`"));
    }
    let (_, function) = function_for(&state, &caller, &ns, &f).await?;
    // Records are written off the request path: make sure every finished one is visible.
    state.recorder.flush().await;
    let filter = ExecutionFilter {
        status: q.status,
        trigger: q.trigger,
        since: q.since,
        until: q.until,
        dead_letter: q.dead_letter,
    };
    Ok(Json(
        state
            .store
            .list_executions(&function.id, &query, &filter)
            .await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/functions/{fn}/executions/{id}", tag = "executions",
    params(("ns" = String, Path), ("fn" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = Execution), (status = 404, body = ErrorBody)))]
pub async fn get_execution(
    State(state): State<Shared>,
    caller: Caller,
    Path((ns, f, id)): Path<(String, String, String)>,
) -> ApiResult<Json<Execution>> {
    caller.require(Scope::Read)?;
    let (_, function) = function_for(&state, &caller, &ns, &f).await?;
    state.recorder.flush().await;
    Ok(Json(state.store.get_execution(&function.id, &id).await?))
}

#[utoipa::path(post, path = "/api/v1/namespaces/{ns}/functions/{fn}/executions", tag = "executions",
    params(("ns" = String, Path), ("fn" = String, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "async only: a repeated submit with the same key returns the first execution")),
    request_body = ExecutionInput,
    responses((status = 201, description = "ran to the end", body = Execution),
        (status = 202, description = "accepted and stored; runs from the queue", body = Execution),
        (status = 400, body = ErrorBody), (status = 413, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn create_execution(
    State(state): State<Shared>,
    caller: Caller,
    Path((ns, f)): Path<(String, String)>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<ExecutionInput>,
) -> ApiResult<Response> {
    let (namespace, function) = function_for(&state, &caller, &ns, &f).await?;
    caller.require_in(Scope::Invoke, &namespace.id)?;
    let request = RunRequest::from_input(&input)?;
    let live = invoke::find(&state, &namespace.id, &function.id).await?;
    if !input.r#async {
        let execution = invoke::execute(&state, live, request).await?;
        return Ok((StatusCode::CREATED, Json(execution)).into_response());
    }
    let limit = gust_core::execution::ASYNC_BODY_LIMIT;
    if request.body.len() > limit {
        return Err(ApiError::too_large(format!(
            "`body` is {} bytes; an async execution takes at most {limit}",
            request.body.len()
        )));
    }
    let submission = Submission {
        trigger: ExecutionTrigger::Api,
        request: request.to_record(true),
        idempotency_key: jobs::idempotency_key(&headers)?,
        source: None,
        replay_of: None,
        event_depth: 0,
    };
    let (execution, is_new) = jobs::submit(&state, &live.function, submission).await?;
    Ok(jobs::accepted(&state, &live.function, &execution, is_new))
}

#[utoipa::path(post, path = "/api/v1/namespaces/{ns}/functions/{fn}/executions/{id}/replay", tag = "executions",
    params(("ns" = String, Path), ("fn" = String, Path), ("id" = String, Path)),
    responses((status = 202, description = "a new async execution with the same request", body = Execution),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn replay_execution(
    State(state): State<Shared>,
    caller: Caller,
    Path((ns, f, id)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let (namespace, function) = function_for(&state, &caller, &ns, &f).await?;
    caller.require_in(Scope::Invoke, &namespace.id)?;
    state.recorder.flush().await;
    let original = state.store.get_execution(&function.id, &id).await?;
    if original.request.body.truncated {
        return Err(ApiError::conflict(format!(
            "execution {id} kept only {} of its {} request bytes, so it cannot be replayed exactly",
            original.request.body.body.len(),
            original.request.body.size
        )));
    }
    let live = invoke::find(&state, &namespace.id, &function.id).await?;
    let submission = Submission {
        trigger: original.trigger,
        request: original.request.clone(),
        idempotency_key: None,
        source: original.source.clone(),
        replay_of: Some(original.id.clone()),
        event_depth: original.event_depth,
    };
    let (execution, _) = jobs::submit(&state, &live.function, submission).await?;
    Ok(jobs::accepted(&state, &live.function, &execution, true))
}
