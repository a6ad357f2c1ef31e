//! `/api/v1/namespaces/{ns}/functions/{fn}/executions[/{id}[/replay]]`: run a function
//! (synchronously, or queued with `async: true`), list, read and delete the records, replay
//! one; `…/dead-letters/replay` replays the dead letters; `/api/v1/namespaces/{ns}/executions/{id}`
//! finds one by its id alone.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use gust_core::{Execution, ExecutionStatus, ExecutionTrigger, ListQuery, Order, Page};
use gust_engine::ops::{Executed, ExecutionFilter, ExecutionInput};
use gust_engine::{Accepted, Caller, EXECUTION_ID_HEADER};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::ApiState;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};

/// List parameters plus filters. (Not `#[serde(flatten)]`: query strings cannot carry typed
/// values through it.)
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExecutionListQuery {
    /// Items per page, 1 to 1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
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
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<ExecutionListQuery>,
) -> ApiResult<Json<Page<Execution>>> {
    let query = ListQuery {
        limit: q.limit,
        cursor: q.cursor,
        offset: q.offset,
        search: None,
        order: q.order,
    };
    let filter = ExecutionFilter {
        status: q.status,
        trigger: q.trigger,
        since: q.since,
        until: q.until,
        dead_letter: q.dead_letter,
    };
    Ok(Json(
        state
            .list_executions(&caller, &ns, &f, &query, &filter)
            .await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/functions/{fn}/executions/{id}", tag = "executions",
    params(("ns" = String, Path), ("fn" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = Execution), (status = 404, body = ErrorBody)))]
pub async fn get_execution(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f, id)): ApiPath<(String, String, String)>,
) -> ApiResult<Json<Execution>> {
    Ok(Json(state.get_execution(&caller, &ns, &f, &id).await?))
}

#[utoipa::path(delete, path = "/api/v1/namespaces/{ns}/functions/{fn}/executions/{id}", tag = "executions",
    params(("ns" = String, Path), ("fn" = String, Path), ("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody),
        (status = 409, description = "still queued or running", body = ErrorBody)))]
pub async fn delete_execution(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f, id)): ApiPath<(String, String, String)>,
) -> ApiResult<StatusCode> {
    state.delete_execution(&caller, &ns, &f, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An execution found by its id alone among the namespace's functions (its `function_id` says
/// whose it is).
#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/executions/{id}", tag = "executions",
    params(("ns" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = Execution), (status = 404, body = ErrorBody)))]
pub async fn find_execution(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, id)): ApiPath<(String, String)>,
) -> ApiResult<Json<Execution>> {
    Ok(Json(state.find_execution(&caller, &ns, &id).await?.1))
}

#[utoipa::path(post, path = "/api/v1/namespaces/{ns}/functions/{fn}/executions", tag = "executions",
    params(("ns" = String, Path), ("fn" = String, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "async only: a repeated submit with the same key returns the first execution")),
    request_body = ExecutionInput,
    responses((status = 201, description = "ran to the end", body = Execution),
        (status = 202, description = "accepted and stored; runs from the queue", body = Execution),
        (status = 400, body = ErrorBody), (status = 413, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn create_execution(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f)): ApiPath<(String, String)>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<ExecutionInput>,
) -> ApiResult<Response> {
    let idempotency_key = gust_engine::jobs::idempotency_key(&headers)?;
    match state
        .create_execution(Some(&caller), &ns, &f, &input, idempotency_key)
        .await?
    {
        Executed::Ran(execution) => Ok((StatusCode::CREATED, Json(execution)).into_response()),
        Executed::Accepted(accepted) => Ok(accepted_response(&state, &accepted)),
    }
}

#[utoipa::path(post, path = "/api/v1/namespaces/{ns}/functions/{fn}/executions/{id}/replay", tag = "executions",
    params(("ns" = String, Path), ("fn" = String, Path), ("id" = String, Path)),
    responses((status = 202, description = "a new async execution with the same request", body = Execution),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn replay_execution(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f, id)): ApiPath<(String, String, String)>,
) -> ApiResult<Response> {
    let accepted = state.replay_execution(&caller, &ns, &f, &id).await?;
    Ok(accepted_response(&state, &accepted))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReplayDeadLettersQuery {
    /// The most dead letters to replay, newest first, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// The replays queued by one call.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ReplayedDeadLetters {
    /// One new async execution per dead letter, each naming it in `replay_of`.
    pub replays: Vec<Execution>,
}

/// Replay the function's dead letters: each becomes a new async execution with its request,
/// and is a dead letter no more (`replayed_by`), so calling this again replays only those that
/// failed since.
#[utoipa::path(post, path = "/api/v1/namespaces/{ns}/functions/{fn}/dead-letters/replay", tag = "executions",
    params(("ns" = String, Path), ("fn" = String, Path), ReplayDeadLettersQuery),
    responses((status = 202, description = "the replays queued", body = ReplayedDeadLetters),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn replay_dead_letters(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<ReplayDeadLettersQuery>,
) -> ApiResult<Response> {
    let limit = match query.limit {
        None => 100,
        Some(limit @ 1..=1000) => limit,
        Some(_) => {
            return Err(ApiError::invalid("limit", "must be 1 to 1000"));
        }
    };
    let accepted = state.replay_dead_letters(&caller, &ns, &f, limit).await?;
    let replays = accepted.into_iter().map(|a| a.execution).collect();
    Ok((StatusCode::ACCEPTED, Json(ReplayedDeadLetters { replays })).into_response())
}

/// The 202 for an accepted execution: its record, where to find it, and whether it is a
/// repeat of an earlier submit with the same idempotency key.
pub fn accepted_response(state: &ApiState, accepted: &Accepted) -> Response {
    use axum::http::HeaderValue;
    let location = format!(
        "{}/api/v1/namespaces/{}/functions/{}/executions/{}",
        state.base_url(),
        accepted.namespace,
        accepted.function,
        accepted.execution.id
    );
    let mut response = (StatusCode::ACCEPTED, Json(&accepted.execution)).into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&location) {
        headers.insert("location", value);
    }
    if let Ok(value) = HeaderValue::from_str(&accepted.execution.id) {
        headers.insert(EXECUTION_ID_HEADER, value);
    }
    if !accepted.is_new {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}
