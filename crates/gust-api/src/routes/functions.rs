//! `/api/v1/namespaces/{ns}/functions[/{fn}]`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use gust_core::{Function, FunctionPatch, FunctionSpec, ListQuery, Page};
use gust_engine::Caller;

use crate::ApiState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/functions", tag = "functions",
    params(("ns" = String, Path, description = "name or id"), ListQuery),
    responses((status = 200, body = Page<Function>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_functions(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(ns): ApiPath<String>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Json<Page<Function>>> {
    Ok(Json(state.list_functions(&caller, &ns, &query).await?))
}

#[utoipa::path(post, path = "/api/v1/namespaces/{ns}/functions", tag = "functions",
    params(("ns" = String, Path, description = "name or id")), request_body = FunctionSpec,
    responses((status = 201, body = Function), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_function(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(ns): ApiPath<String>,
    ApiJson(spec): ApiJson<FunctionSpec>,
) -> ApiResult<(StatusCode, Json<Function>)> {
    let function = state.create_function(&caller, &ns, spec).await?;
    Ok((StatusCode::CREATED, Json(function)))
}

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/functions/{fn}", tag = "functions",
    params(("ns" = String, Path, description = "name or id"), ("fn" = String, Path, description = "name or id")),
    responses((status = 200, body = Function), (status = 404, body = ErrorBody)))]
pub async fn get_function(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f)): ApiPath<(String, String)>,
) -> ApiResult<Json<Function>> {
    Ok(Json(state.get_function(&caller, &ns, &f).await?))
}

#[utoipa::path(put, path = "/api/v1/namespaces/{ns}/functions/{fn}", tag = "functions",
    params(("ns" = String, Path, description = "name or id"), ("fn" = String, Path, description = "name or id")),
    request_body = FunctionSpec, responses((status = 200, body = Function), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn replace_function(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f)): ApiPath<(String, String)>,
    ApiJson(spec): ApiJson<FunctionSpec>,
) -> ApiResult<Json<Function>> {
    Ok(Json(state.replace_function(&caller, &ns, &f, spec).await?))
}

#[utoipa::path(patch, path = "/api/v1/namespaces/{ns}/functions/{fn}", tag = "functions",
    params(("ns" = String, Path, description = "name or id"), ("fn" = String, Path, description = "name or id")),
    request_body = FunctionSpec, responses((status = 200, body = Function), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_function(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f)): ApiPath<(String, String)>,
    ApiJson(patch): ApiJson<FunctionPatch>,
) -> ApiResult<Json<Function>> {
    Ok(Json(state.update_function(&caller, &ns, &f, patch).await?))
}

#[utoipa::path(delete, path = "/api/v1/namespaces/{ns}/functions/{fn}", tag = "functions",
    params(("ns" = String, Path, description = "name or id"), ("fn" = String, Path, description = "name or id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_function(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    state.delete_function(&caller, &ns, &f).await?;
    Ok(StatusCode::NO_CONTENT)
}
