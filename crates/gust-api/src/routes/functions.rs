//! `/api/v1/namespaces/{ns}/functions[/{fn}]`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use gust_core::{
    Function, FunctionPatch, FunctionSpec, FunctionStatus, ListQuery, Order, Page, RuntimeId,
};
use gust_engine::Caller;
use gust_engine::ops::FunctionFilter;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::ApiState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};

/// List parameters plus filters. (Not `#[serde(flatten)]`: query strings cannot carry typed
/// values through it.)
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FunctionListQuery {
    /// Items per page, 1 to 1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
    /// Items to skip (an alternative to `cursor`).
    pub offset: Option<u32>,
    /// Only functions whose name, title or description contains this text.
    pub search: Option<String>,
    /// `desc` (newest first, the default) or `asc`.
    pub order: Option<Order>,
    /// Only functions on this runtime.
    pub runtime: Option<RuntimeId>,
    /// Only functions in this state.
    pub status: Option<FunctionStatus>,
}

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/functions", tag = "functions",
    params(("ns" = String, Path, description = "name or id"), FunctionListQuery),
    responses((status = 200, body = Page<Function>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_functions(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(ns): ApiPath<String>,
    ApiQuery(q): ApiQuery<FunctionListQuery>,
) -> ApiResult<Json<Page<Function>>> {
    let query = ListQuery {
        limit: q.limit,
        cursor: q.cursor,
        offset: q.offset,
        search: q.search,
        order: q.order,
    };
    let filter = FunctionFilter {
        runtime: q.runtime,
        status: q.status,
    };
    Ok(Json(
        state.list_functions(&caller, &ns, &query, &filter).await?,
    ))
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

/// A secret's value.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretValue {
    /// Write-only: never returned (the secret's name is, its value masked).
    pub value: String,
}

#[utoipa::path(put, path = "/api/v1/namespaces/{ns}/functions/{fn}/secrets/{key}", tag = "functions",
    params(("ns" = String, Path, description = "name or id"), ("fn" = String, Path, description = "name or id"),
        ("key" = String, Path, description = "the secret's name: letters, digits and `_`, not starting with a digit")),
    request_body = SecretValue,
    responses((status = 200, body = Function), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
/// Set one secret, leaving the function's others as they are.
pub async fn set_function_secret(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f, key)): ApiPath<(String, String, String)>,
    ApiJson(body): ApiJson<SecretValue>,
) -> ApiResult<Json<Function>> {
    Ok(Json(
        state
            .set_function_secret(&caller, &ns, &f, &key, Some(body.value))
            .await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/namespaces/{ns}/functions/{fn}/secrets/{key}", tag = "functions",
    params(("ns" = String, Path, description = "name or id"), ("fn" = String, Path, description = "name or id"),
        ("key" = String, Path, description = "the secret's name")),
    responses((status = 200, body = Function), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Remove one secret (none set by that name: nothing changes).
pub async fn delete_function_secret(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f, key)): ApiPath<(String, String, String)>,
) -> ApiResult<Json<Function>> {
    Ok(Json(
        state
            .set_function_secret(&caller, &ns, &f, &key, None)
            .await?,
    ))
}
