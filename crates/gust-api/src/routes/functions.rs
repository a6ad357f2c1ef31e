//! `/api/v1/namespaces/{ns}/functions[/{fn}]`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use gust_core::{Function, FunctionPatch, FunctionSpec, ListQuery, Page, Scope};

use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};
use crate::jobs::events::Change;
use crate::jobs::triggers;
use crate::routes::{decorate, function_for, namespace_for, runtimes};
use crate::state::Shared;

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/functions", tag = "functions",
    params(("ns" = String, Path, description = "name or id"), ListQuery),
    responses((status = 200, body = Page<Function>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_functions(
    State(state): State<Shared>,
    caller: Caller,
    Path(ns): Path<String>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Json<Page<Function>>> {
    caller.require(Scope::Read)?;
    query.validate()?;
    let namespace = namespace_for(&state, &caller, &ns).await?;
    let mut page = state.store.list_functions(&namespace.id, &query).await?;
    page.items.iter_mut().for_each(|f| decorate(&state, f));
    Ok(Json(page))
}

#[utoipa::path(post, path = "/api/v1/namespaces/{ns}/functions", tag = "functions",
    params(("ns" = String, Path, description = "name or id")), request_body = FunctionSpec,
    responses((status = 201, body = Function), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_function(
    State(state): State<Shared>,
    caller: Caller,
    Path(ns): Path<String>,
    ApiJson(spec): ApiJson<FunctionSpec>,
) -> ApiResult<(StatusCode, Json<Function>)> {
    caller.require(Scope::Write)?;
    let namespace = namespace_for(&state, &caller, &ns).await?;
    let mut function = spec.into_new_function(&namespace.id, &namespace.name)?;
    runtimes::require_available(&state, function.runtime)?;
    state.store.create_function(&function).await?;
    if let Err(e) = triggers::sync_function_fields(&state, None, &function).await {
        // Nothing half-made stays behind.
        let _ = state.store.delete_function(&function.id).await;
        return Err(e);
    }
    decorate(&state, &mut function);
    emit(&state, &function, Change::Create);
    Ok((StatusCode::CREATED, Json(function)))
}

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/functions/{fn}", tag = "functions",
    params(("ns" = String, Path, description = "name or id"), ("fn" = String, Path, description = "name or id")),
    responses((status = 200, body = Function), (status = 404, body = ErrorBody)))]
pub async fn get_function(
    State(state): State<Shared>,
    caller: Caller,
    Path((ns, f)): Path<(String, String)>,
) -> ApiResult<Json<Function>> {
    caller.require(Scope::Read)?;
    Ok(Json(function_for(&state, &caller, &ns, &f).await?.1))
}

#[utoipa::path(put, path = "/api/v1/namespaces/{ns}/functions/{fn}", tag = "functions",
    params(("ns" = String, Path, description = "name or id"), ("fn" = String, Path, description = "name or id")),
    request_body = FunctionSpec, responses((status = 200, body = Function), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn replace_function(
    State(state): State<Shared>,
    caller: Caller,
    Path((ns, f)): Path<(String, String)>,
    ApiJson(spec): ApiJson<FunctionSpec>,
) -> ApiResult<Json<Function>> {
    caller.require(Scope::Write)?;
    let (_, current) = function_for(&state, &caller, &ns, &f).await?;
    let function = spec.replace(&current)?;
    save(&state, &current, function).await
}

#[utoipa::path(patch, path = "/api/v1/namespaces/{ns}/functions/{fn}", tag = "functions",
    params(("ns" = String, Path, description = "name or id"), ("fn" = String, Path, description = "name or id")),
    request_body = FunctionSpec, responses((status = 200, body = Function), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_function(
    State(state): State<Shared>,
    caller: Caller,
    Path((ns, f)): Path<(String, String)>,
    ApiJson(patch): ApiJson<FunctionPatch>,
) -> ApiResult<Json<Function>> {
    caller.require(Scope::Write)?;
    let (_, current) = function_for(&state, &caller, &ns, &f).await?;
    let mut function = current.clone();
    patch.apply_to(&mut function)?;
    save(&state, &current, function).await
}

async fn save(state: &Shared, before: &Function, function: Function) -> ApiResult<Json<Function>> {
    runtimes::require_available(state, function.runtime)?;
    state.store.update_function(&function).await?;
    triggers::sync_function_fields(state, Some(before), &function).await?;
    // Re-read: the state fields may have moved on (a build finishing) since this request read them.
    let mut function = state.store.get_function_by_id(&function.id).await?;
    state.live.sync(state, &function).await?;
    decorate(state, &mut function);
    emit(state, &function, Change::Update);
    Ok(Json(function))
}

/// `functions.{id}.{change}`, with the function as it is now.
fn emit(state: &Shared, function: &Function, change: Change) {
    state.events.resource(
        &function.namespace_id,
        &format!("functions.{}", function.id),
        change,
        || serde_json::to_value(function).unwrap_or_default(),
    );
}

#[utoipa::path(delete, path = "/api/v1/namespaces/{ns}/functions/{fn}", tag = "functions",
    params(("ns" = String, Path, description = "name or id"), ("fn" = String, Path, description = "name or id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_function(
    State(state): State<Shared>,
    caller: Caller,
    Path((ns, f)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    caller.require(Scope::Write)?;
    let (_, function) = function_for(&state, &caller, &ns, &f).await?;
    let deployments = state
        .store
        .list_deployments(
            &function.id,
            &ListQuery {
                limit: Some(gust_core::list::MAX_LIMIT),
                ..Default::default()
            },
        )
        .await?;
    state.live.remove(&function.id);
    state.store.delete_function(&function.id).await?;
    state.triggers.remove_function(&function.id);
    emit(&state, &function, Change::Delete);
    for deployment in deployments.items {
        crate::routes::deployments::release(&state, &deployment).await;
    }
    Ok(StatusCode::NO_CONTENT)
}
