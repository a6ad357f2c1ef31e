//! `/api/v1/namespaces/{ns}/functions/{fn}/triggers[/{id}]`: cron and event triggers. The store
//! is written first, then the in-memory set the scheduler and the event router read.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use gust_core::{FunctionTrigger, ListQuery, Page, Scope, TriggerOrigin, TriggerSpec};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};
use crate::routes::function_for;
use crate::state::Shared;

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/functions/{fn}/triggers", tag = "triggers",
    params(("ns" = String, Path), ("fn" = String, Path), ListQuery),
    responses((status = 200, body = Page<FunctionTrigger>), (status = 404, body = ErrorBody)))]
pub async fn list_triggers(
    State(state): State<Shared>,
    caller: Caller,
    Path((ns, f)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Json<Page<FunctionTrigger>>> {
    caller.require(Scope::Read)?;
    query.validate()?;
    let (_, function) = function_for(&state, &caller, &ns, &f).await?;
    Ok(Json(state.store.list_triggers(&function.id, &query).await?))
}

#[utoipa::path(post, path = "/api/v1/namespaces/{ns}/functions/{fn}/triggers", tag = "triggers",
    params(("ns" = String, Path), ("fn" = String, Path)), request_body = TriggerSpec,
    responses((status = 201, body = FunctionTrigger), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create_trigger(
    State(state): State<Shared>,
    caller: Caller,
    Path((ns, f)): Path<(String, String)>,
    ApiJson(spec): ApiJson<TriggerSpec>,
) -> ApiResult<(StatusCode, Json<FunctionTrigger>)> {
    caller.require(Scope::Write)?;
    let (namespace, function) = function_for(&state, &caller, &ns, &f).await?;
    let trigger = spec.into_trigger(&namespace.id, &function.id, TriggerOrigin::Api)?;
    state.store.create_trigger(&trigger).await?;
    state.triggers.put(trigger.clone());
    Ok((StatusCode::CREATED, Json(trigger)))
}

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/functions/{fn}/triggers/{id}", tag = "triggers",
    params(("ns" = String, Path), ("fn" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = FunctionTrigger), (status = 404, body = ErrorBody)))]
pub async fn get_trigger(
    State(state): State<Shared>,
    caller: Caller,
    Path((ns, f, id)): Path<(String, String, String)>,
) -> ApiResult<Json<FunctionTrigger>> {
    caller.require(Scope::Read)?;
    let (_, function) = function_for(&state, &caller, &ns, &f).await?;
    Ok(Json(state.store.get_trigger(&function.id, &id).await?))
}

#[utoipa::path(delete, path = "/api/v1/namespaces/{ns}/functions/{fn}/triggers/{id}", tag = "triggers",
    params(("ns" = String, Path), ("fn" = String, Path), ("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_trigger(
    State(state): State<Shared>,
    caller: Caller,
    Path((ns, f, id)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    caller.require(Scope::Write)?;
    let (_, function) = function_for(&state, &caller, &ns, &f).await?;
    let trigger = state.store.get_trigger(&function.id, &id).await?;
    if trigger.origin == TriggerOrigin::Function {
        return Err(ApiError::conflict(format!(
            "trigger {id} comes from the function's `schedule` or `events` field; \
             change that field instead (PATCH the function)"
        )));
    }
    state.store.delete_trigger(&trigger.id).await?;
    state.triggers.remove(&trigger.id);
    Ok(StatusCode::NO_CONTENT)
}
