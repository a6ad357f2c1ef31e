//! `/api/v1/namespaces[/{ns}]`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use gust_core::{ListQuery, Namespace, NamespacePatch, NamespaceSpec, Page, Scope};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};
use crate::jobs::events::Change;
use crate::routes::namespace_for;
use crate::state::Shared;

#[utoipa::path(get, path = "/api/v1/namespaces", tag = "namespaces", params(ListQuery),
    responses((status = 200, body = Page<Namespace>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list_namespaces(
    State(state): State<Shared>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Json<Page<Namespace>>> {
    caller.require(Scope::Read)?;
    query.validate()?;
    Ok(Json(
        state
            .store
            .list_namespaces(&query, caller.token.namespace_id.as_deref())
            .await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/namespaces", tag = "namespaces", request_body = NamespaceSpec,
    responses((status = 201, body = Namespace), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_namespace(
    State(state): State<Shared>,
    caller: Caller,
    ApiJson(spec): ApiJson<NamespaceSpec>,
) -> ApiResult<(StatusCode, Json<Namespace>)> {
    caller.require(Scope::Admin)?;
    let ns = spec.into_new_namespace()?;
    state.store.create_namespace(&ns).await?;
    emit(&state, &ns, Change::Create);
    Ok((StatusCode::CREATED, Json(ns)))
}

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}", tag = "namespaces", params(("ns" = String, Path, description = "name or id")),
    responses((status = 200, body = Namespace), (status = 404, body = ErrorBody)))]
pub async fn get_namespace(
    State(state): State<Shared>,
    caller: Caller,
    Path(ns): Path<String>,
) -> ApiResult<Json<Namespace>> {
    caller.require(Scope::Read)?;
    Ok(Json(namespace_for(&state, &caller, &ns).await?))
}

#[utoipa::path(patch, path = "/api/v1/namespaces/{ns}", tag = "namespaces", params(("ns" = String, Path, description = "name or id")),
    request_body = NamespaceSpec, responses((status = 200, body = Namespace), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_namespace(
    State(state): State<Shared>,
    caller: Caller,
    Path(ns): Path<String>,
    ApiJson(patch): ApiJson<NamespacePatch>,
) -> ApiResult<Json<Namespace>> {
    caller.require(Scope::Write)?;
    let mut namespace = namespace_for(&state, &caller, &ns).await?;
    patch.apply_to(&mut namespace)?;
    state.store.update_namespace(&namespace).await?;
    state.live.sync_namespace(&state, &namespace).await?;
    emit(&state, &namespace, Change::Update);
    Ok(Json(namespace))
}

/// `namespaces.{id}.{change}`, with the namespace as it is now (secrets masked).
fn emit(state: &Shared, namespace: &Namespace, change: Change) {
    state.events.resource(
        &namespace.id,
        &format!("namespaces.{}", namespace.id),
        change,
        || serde_json::to_value(namespace).unwrap_or_default(),
    );
}

#[utoipa::path(delete, path = "/api/v1/namespaces/{ns}", tag = "namespaces", params(("ns" = String, Path, description = "name or id")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_namespace(
    State(state): State<Shared>,
    caller: Caller,
    Path(ns): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require(Scope::Admin)?;
    let namespace = namespace_for(&state, &caller, &ns).await?;
    if namespace.name == gust_core::DEFAULT_NAMESPACE {
        return Err(ApiError::conflict(
            "the default namespace cannot be deleted",
        ));
    }
    state.store.delete_namespace(&namespace.id).await?;
    emit(&state, &namespace, Change::Delete);
    Ok(StatusCode::NO_CONTENT)
}
