//! `/api/v1/namespaces/{ns}/functions/{fn}/executions[/{id}]`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use gust_core::{Execution, ExecutionStatus, ExecutionTrigger, ListQuery, Order, Page, Scope};
use gust_store::ExecutionFilter;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};
use crate::invoke::{self, ExecutionInput};
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
    let (_, function) = function_for(&state, &caller, &ns, &f).await?;
    // Records are written off the request path: make sure every finished one is visible.
    state.recorder.flush().await;
    let filter = ExecutionFilter {
        status: q.status,
        trigger: q.trigger,
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
    params(("ns" = String, Path), ("fn" = String, Path)), request_body = ExecutionInput,
    responses((status = 201, body = Execution), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn create_execution(
    State(state): State<Shared>,
    caller: Caller,
    Path((ns, f)): Path<(String, String)>,
    ApiJson(input): ApiJson<ExecutionInput>,
) -> ApiResult<(StatusCode, Json<Execution>)> {
    let (namespace, function) = function_for(&state, &caller, &ns, &f).await?;
    caller.require_in(Scope::Invoke, &namespace.id)?;
    if input.r#async {
        return Err(ApiError::invalid(
            "async",
            "asynchronous executions are not available on this server yet",
        ));
    }
    let live = invoke::find(&state, &namespace.id, &function.id).await?;
    let execution = invoke::execute(&state, live, input).await?;
    Ok((StatusCode::CREATED, Json(execution)))
}
