//! `/api/v1/namespaces[/{ns}]`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use gust_core::{ListQuery, Namespace, NamespacePatch, NamespaceSpec, Page};
use gust_engine::Caller;

use crate::ApiState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};

#[utoipa::path(get, path = "/api/v1/namespaces", tag = "namespaces", params(ListQuery),
    responses((status = 200, body = Page<Namespace>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list_namespaces(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Json<Page<Namespace>>> {
    Ok(Json(state.list_namespaces(&caller, &query).await?))
}

#[utoipa::path(post, path = "/api/v1/namespaces", tag = "namespaces", request_body = NamespaceSpec,
    responses((status = 201, body = Namespace), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_namespace(
    State(state): State<ApiState>,
    caller: Caller,
    ApiJson(spec): ApiJson<NamespaceSpec>,
) -> ApiResult<(StatusCode, Json<Namespace>)> {
    let namespace = state.create_namespace(&caller, spec).await?;
    Ok((StatusCode::CREATED, Json(namespace)))
}

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}", tag = "namespaces", params(("ns" = String, Path, description = "name or id")),
    responses((status = 200, body = Namespace), (status = 404, body = ErrorBody)))]
pub async fn get_namespace(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(ns): ApiPath<String>,
) -> ApiResult<Json<Namespace>> {
    Ok(Json(state.get_namespace(&caller, &ns).await?))
}

#[utoipa::path(patch, path = "/api/v1/namespaces/{ns}", tag = "namespaces", params(("ns" = String, Path, description = "name or id")),
    request_body = NamespaceSpec, responses((status = 200, body = Namespace), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_namespace(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(ns): ApiPath<String>,
    ApiJson(patch): ApiJson<NamespacePatch>,
) -> ApiResult<Json<Namespace>> {
    Ok(Json(state.update_namespace(&caller, &ns, patch).await?))
}

#[utoipa::path(delete, path = "/api/v1/namespaces/{ns}", tag = "namespaces", params(("ns" = String, Path, description = "name or id")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_namespace(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(ns): ApiPath<String>,
) -> ApiResult<StatusCode> {
    state.delete_namespace(&caller, &ns).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(put, path = "/api/v1/namespaces/{ns}/secrets/{key}", tag = "namespaces",
    params(("ns" = String, Path, description = "name or id"),
        ("key" = String, Path, description = "the secret's name: letters, digits and `_`, not starting with a digit")),
    request_body = super::functions::SecretValue,
    responses((status = 200, body = Namespace), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
/// Set one secret, leaving the namespace's others as they are.
pub async fn set_namespace_secret(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, key)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<super::functions::SecretValue>,
) -> ApiResult<Json<Namespace>> {
    Ok(Json(
        state
            .set_namespace_secret(&caller, &ns, &key, Some(body.value))
            .await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/namespaces/{ns}/secrets/{key}", tag = "namespaces",
    params(("ns" = String, Path, description = "name or id"), ("key" = String, Path, description = "the secret's name")),
    responses((status = 200, body = Namespace), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Remove one secret (none set by that name: nothing changes).
pub async fn delete_namespace_secret(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, key)): ApiPath<(String, String)>,
) -> ApiResult<Json<Namespace>> {
    Ok(Json(
        state.set_namespace_secret(&caller, &ns, &key, None).await?,
    ))
}
