//! `/api/v1/namespaces/{ns}/functions/{fn}/triggers[/{id}]`: cron, event and queue triggers. The store
//! is written first, then the in-memory set the scheduler and the event router read.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use gust_core::{FunctionTrigger, ListQuery, Page, TriggerPatch, TriggerSpec};
use gust_engine::Caller;

use crate::ApiState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/functions/{fn}/triggers", tag = "triggers",
    params(("ns" = String, Path), ("fn" = String, Path), ListQuery),
    responses((status = 200, body = Page<FunctionTrigger>), (status = 404, body = ErrorBody)))]
pub async fn list_triggers(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Json<Page<FunctionTrigger>>> {
    Ok(Json(state.list_triggers(&caller, &ns, &f, &query).await?))
}

#[utoipa::path(post, path = "/api/v1/namespaces/{ns}/functions/{fn}/triggers", tag = "triggers",
    params(("ns" = String, Path), ("fn" = String, Path)), request_body = TriggerSpec,
    responses((status = 201, body = FunctionTrigger), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create_trigger(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f)): ApiPath<(String, String)>,
    ApiJson(spec): ApiJson<TriggerSpec>,
) -> ApiResult<(StatusCode, Json<FunctionTrigger>)> {
    let trigger = state.create_trigger(&caller, &ns, &f, spec).await?;
    Ok((StatusCode::CREATED, Json(trigger)))
}

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/functions/{fn}/triggers/{id}", tag = "triggers",
    params(("ns" = String, Path), ("fn" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = FunctionTrigger), (status = 404, body = ErrorBody)))]
pub async fn get_trigger(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f, id)): ApiPath<(String, String, String)>,
) -> ApiResult<Json<FunctionTrigger>> {
    Ok(Json(state.get_trigger(&caller, &ns, &f, &id).await?))
}

#[utoipa::path(patch, path = "/api/v1/namespaces/{ns}/functions/{fn}/triggers/{id}", tag = "triggers",
    params(("ns" = String, Path), ("fn" = String, Path), ("id" = String, Path)), request_body = TriggerSpec,
    responses((status = 200, body = FunctionTrigger), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update_trigger(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f, id)): ApiPath<(String, String, String)>,
    ApiJson(patch): ApiJson<TriggerPatch>,
) -> ApiResult<Json<FunctionTrigger>> {
    Ok(Json(
        state.update_trigger(&caller, &ns, &f, &id, patch).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/namespaces/{ns}/functions/{fn}/triggers/{id}", tag = "triggers",
    params(("ns" = String, Path), ("fn" = String, Path), ("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_trigger(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f, id)): ApiPath<(String, String, String)>,
) -> ApiResult<StatusCode> {
    state.delete_trigger(&caller, &ns, &f, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
