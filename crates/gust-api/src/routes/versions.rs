//! `/api/v1/namespaces/{ns}/functions/{fn}/versions[/{number}[/code]]`: immutable snapshots of
//! a function's code and configuration, and `/api/v1/namespaces/{ns}/aliases[/{name}]`: names
//! pointing at a function and one of its versions. Both are invoked as
//! `/fn/{ns}/{fn}:{version or alias}/…`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use gust_core::{
    Alias, AliasPatch, AliasSpec, FunctionVersion, ListQuery, Order, Page, VersionSpec,
};
use gust_engine::Caller;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::ApiState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::routes::deployments::{DeploymentPackage, code_response};

#[utoipa::path(post, path = "/api/v1/namespaces/{ns}/functions/{fn}/versions", tag = "versions",
    params(("ns" = String, Path), ("fn" = String, Path)), request_body = VersionSpec,
    responses((status = 201, description = "a snapshot of the active deployment and the configuration", body = FunctionVersion),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "no active deployment (`no_code`), the code is unchanged since the latest version, or the function has as many versions as it may (10)", body = ErrorBody)))]
pub async fn create_version(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f)): ApiPath<(String, String)>,
    ApiJson(spec): ApiJson<VersionSpec>,
) -> ApiResult<(StatusCode, Json<FunctionVersion>)> {
    let version = state.create_version(&caller, &ns, &f, spec).await?;
    Ok((StatusCode::CREATED, Json(version)))
}

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/functions/{fn}/versions", tag = "versions",
    params(("ns" = String, Path), ("fn" = String, Path)),
    responses((status = 200, description = "every version, lowest number first", body = Page<FunctionVersion>),
        (status = 404, body = ErrorBody)))]
pub async fn list_versions(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f)): ApiPath<(String, String)>,
) -> ApiResult<Json<Page<FunctionVersion>>> {
    Ok(Json(state.list_versions(&caller, &ns, &f).await?))
}

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/functions/{fn}/versions/{number}", tag = "versions",
    params(("ns" = String, Path), ("fn" = String, Path), ("number" = u32, Path, minimum = 1)),
    responses((status = 200, body = FunctionVersion), (status = 404, body = ErrorBody)))]
pub async fn get_version(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f, number)): ApiPath<(String, String, String)>,
) -> ApiResult<Json<FunctionVersion>> {
    let number = version_number(&number)?;
    Ok(Json(state.get_version(&caller, &ns, &f, number).await?))
}

#[utoipa::path(delete, path = "/api/v1/namespaces/{ns}/functions/{fn}/versions/{number}", tag = "versions",
    params(("ns" = String, Path), ("fn" = String, Path), ("number" = u32, Path, minimum = 1)),
    responses((status = 204), (status = 404, body = ErrorBody),
        (status = 409, description = "an alias points at the version", body = ErrorBody)))]
pub async fn delete_version(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f, number)): ApiPath<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let number = version_number(&number)?;
    state.delete_version(&caller, &ns, &f, number).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/functions/{fn}/versions/{number}/code", tag = "versions",
    params(("ns" = String, Path), ("fn" = String, Path), ("number" = u32, Path, minimum = 1)),
    responses((status = 200, description = "the version's package, byte for byte as uploaded, typed by its format",
            content((DeploymentPackage = "application/wasm"), (DeploymentPackage = "application/gzip"), (DeploymentPackage = "application/zip"))),
        (status = 404, body = ErrorBody)))]
pub async fn get_version_code(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f, number)): ApiPath<(String, String, String)>,
) -> ApiResult<Response> {
    let number = version_number(&number)?;
    let (deployment, path) = state.version_code(&caller, &ns, &f, number).await?;
    code_response(&deployment, path).await
}

/// A version number from a path: 400 naming `number` when it is not one.
fn version_number(text: &str) -> Result<u32, gust_engine::Error> {
    text.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
        gust_engine::Error::invalid(
            "number",
            format!("`{text}` is not a version number (versions are numbered from 1)"),
        )
    })
}

/// List parameters plus the function filter.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AliasListQuery {
    /// Items per page, 1 to 1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    pub offset: Option<u32>,
    pub search: Option<String>,
    pub order: Option<Order>,
    /// Only the aliases of this function (name or id).
    pub function: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/namespaces/{ns}/aliases", tag = "aliases",
    params(("ns" = String, Path)), request_body = AliasSpec,
    responses((status = 201, body = Alias), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "the name is taken in the namespace", body = ErrorBody)))]
pub async fn create_alias(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(ns): ApiPath<String>,
    ApiJson(spec): ApiJson<AliasSpec>,
) -> ApiResult<(StatusCode, Json<Alias>)> {
    let alias = state.create_alias(&caller, &ns, spec).await?;
    Ok((StatusCode::CREATED, Json(alias)))
}

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/aliases", tag = "aliases",
    params(("ns" = String, Path), AliasListQuery),
    responses((status = 200, body = Page<Alias>), (status = 404, body = ErrorBody)))]
pub async fn list_aliases(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(ns): ApiPath<String>,
    ApiQuery(q): ApiQuery<AliasListQuery>,
) -> ApiResult<Json<Page<Alias>>> {
    let query = ListQuery {
        limit: q.limit,
        cursor: q.cursor,
        offset: q.offset,
        search: q.search,
        order: q.order,
    };
    Ok(Json(
        state
            .list_aliases(&caller, &ns, q.function.as_deref(), &query)
            .await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/aliases/{name}", tag = "aliases",
    params(("ns" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = Alias), (status = 404, body = ErrorBody)))]
pub async fn get_alias(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, name)): ApiPath<(String, String)>,
) -> ApiResult<Json<Alias>> {
    Ok(Json(state.get_alias(&caller, &ns, &name).await?))
}

#[utoipa::path(patch, path = "/api/v1/namespaces/{ns}/aliases/{name}", tag = "aliases",
    params(("ns" = String, Path), ("name" = String, Path)), request_body = AliasPatch,
    responses((status = 200, body = Alias), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_alias(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, name)): ApiPath<(String, String)>,
    ApiJson(patch): ApiJson<AliasPatch>,
) -> ApiResult<Json<Alias>> {
    Ok(Json(state.update_alias(&caller, &ns, &name, patch).await?))
}

#[utoipa::path(delete, path = "/api/v1/namespaces/{ns}/aliases/{name}", tag = "aliases",
    params(("ns" = String, Path), ("name" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_alias(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, name)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    state.delete_alias(&caller, &ns, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
