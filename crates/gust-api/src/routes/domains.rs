//! `/api/v1/namespaces/{ns}/functions/{fn}/domains[/{id}]`: custom domains. Requests whose host
//! is one of them run the function, as its generated domain name does.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use gust_core::{Domain, DomainSpec, ListQuery, Page};
use gust_engine::Caller;

use crate::ApiState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/functions/{fn}/domains", tag = "domains",
    params(("ns" = String, Path), ("fn" = String, Path), ListQuery),
    responses((status = 200, body = Page<Domain>), (status = 404, body = ErrorBody)))]
pub async fn list_domains(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Json<Page<Domain>>> {
    Ok(Json(state.list_domains(&caller, &ns, &f, &query).await?))
}

#[utoipa::path(post, path = "/api/v1/namespaces/{ns}/functions/{fn}/domains", tag = "domains",
    params(("ns" = String, Path), ("fn" = String, Path)), request_body = DomainSpec,
    responses((status = 201, body = Domain), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_domain(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f)): ApiPath<(String, String)>,
    ApiJson(spec): ApiJson<DomainSpec>,
) -> ApiResult<(StatusCode, Json<Domain>)> {
    let domain = state.create_domain(&caller, &ns, &f, spec).await?;
    Ok((StatusCode::CREATED, Json(domain)))
}

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/functions/{fn}/domains/{id}", tag = "domains",
    params(("ns" = String, Path), ("fn" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = Domain), (status = 404, body = ErrorBody)))]
pub async fn get_domain(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f, id)): ApiPath<(String, String, String)>,
) -> ApiResult<Json<Domain>> {
    Ok(Json(
        state.get_function_domain(&caller, &ns, &f, &id).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/namespaces/{ns}/functions/{fn}/domains/{id}", tag = "domains",
    params(("ns" = String, Path), ("fn" = String, Path), ("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_domain(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f, id)): ApiPath<(String, String, String)>,
) -> ApiResult<StatusCode> {
    state.delete_function_domain(&caller, &ns, &f, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
