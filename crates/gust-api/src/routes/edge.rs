//! Edge applications (`/api/v1/namespaces/{ns}/edge-applications`, `/api/v1/edge-applications[/{app}]`),
//! their function instances (`…/{app}/function-instances[/{id}]`) and rules
//! (`…/{app}/rules[/{id}]`), and edge domains (`/api/v1/namespaces/{ns}/edge-domains`,
//! `/api/v1/edge-domains[/{id}]`). Ids are integers. Applications answer requests at
//! `/edge/{app}/{*path}` and at their domains' cnames.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use gust_core::{
    EdgeApplication, EdgeApplicationPatch, EdgeApplicationSpec, EdgeDomain, EdgeDomainPatch,
    EdgeDomainSpec, EdgeRule, EdgeRulePatch, EdgeRuleSpec, FunctionInstance, FunctionInstancePatch,
    FunctionInstanceSpec, ListQuery, Page,
};
use gust_engine::Caller;

use crate::ApiState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};

/// An integer id from the path; anything else names nothing (404).
fn id_of(kind: &'static str, text: &str) -> Result<u64, gust_engine::Error> {
    text.parse::<u64>()
        .map_err(|_| gust_engine::Error::not_found_of(kind, format!("no {kind} `{text}`")))
}

#[utoipa::path(post, path = "/api/v1/namespaces/{ns}/edge-applications", tag = "edge",
    params(("ns" = String, Path)), request_body = EdgeApplicationSpec,
    responses((status = 201, body = EdgeApplication), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create_edge_application(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(ns): ApiPath<String>,
    ApiJson(spec): ApiJson<EdgeApplicationSpec>,
) -> ApiResult<(StatusCode, Json<EdgeApplication>)> {
    let app = state.create_edge_application(&caller, &ns, spec).await?;
    Ok((StatusCode::CREATED, Json(app)))
}

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/edge-applications", tag = "edge",
    params(("ns" = String, Path), ListQuery),
    responses((status = 200, body = Page<EdgeApplication>), (status = 404, body = ErrorBody)))]
pub async fn list_namespace_edge_applications(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(ns): ApiPath<String>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Json<Page<EdgeApplication>>> {
    Ok(Json(
        state
            .list_edge_applications(&caller, Some(&ns), &query)
            .await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/edge-applications", tag = "edge", params(ListQuery),
    responses((status = 200, description = "every edge application the token may see", body = Page<EdgeApplication>)))]
pub async fn list_edge_applications(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Json<Page<EdgeApplication>>> {
    Ok(Json(
        state.list_edge_applications(&caller, None, &query).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/edge-applications/{app}", tag = "edge",
    params(("app" = u64, Path)),
    responses((status = 200, body = EdgeApplication), (status = 404, body = ErrorBody)))]
pub async fn get_edge_application(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(app): ApiPath<String>,
) -> ApiResult<Json<EdgeApplication>> {
    let app = id_of("edge application", &app)?;
    Ok(Json(state.get_edge_application(&caller, app).await?))
}

#[utoipa::path(patch, path = "/api/v1/edge-applications/{app}", tag = "edge",
    params(("app" = u64, Path)), request_body = EdgeApplicationPatch,
    responses((status = 200, body = EdgeApplication), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_edge_application(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(app): ApiPath<String>,
    ApiJson(patch): ApiJson<EdgeApplicationPatch>,
) -> ApiResult<Json<EdgeApplication>> {
    let app = id_of("edge application", &app)?;
    Ok(Json(
        state.update_edge_application(&caller, app, patch).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/edge-applications/{app}", tag = "edge",
    params(("app" = u64, Path)),
    responses((status = 204, description = "deleted with its instances and rules; its domains are unbound"),
        (status = 404, body = ErrorBody)))]
pub async fn delete_edge_application(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(app): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let app = id_of("edge application", &app)?;
    state.delete_edge_application(&caller, app).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/edge-applications/{app}/function-instances", tag = "edge",
    params(("app" = u64, Path)), request_body = FunctionInstanceSpec,
    responses((status = 201, body = FunctionInstance),
        (status = 400, description = "a bad field, or `function` names no function of the namespace", body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn create_edge_instance(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(app): ApiPath<String>,
    ApiJson(spec): ApiJson<FunctionInstanceSpec>,
) -> ApiResult<(StatusCode, Json<FunctionInstance>)> {
    let app = id_of("edge application", &app)?;
    let instance = state.create_edge_instance(&caller, app, spec).await?;
    Ok((StatusCode::CREATED, Json(instance)))
}

#[utoipa::path(get, path = "/api/v1/edge-applications/{app}/function-instances", tag = "edge",
    params(("app" = u64, Path), ListQuery),
    responses((status = 200, body = Page<FunctionInstance>), (status = 404, body = ErrorBody)))]
pub async fn list_edge_instances(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(app): ApiPath<String>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Json<Page<FunctionInstance>>> {
    let app = id_of("edge application", &app)?;
    Ok(Json(state.list_edge_instances(&caller, app, &query).await?))
}

#[utoipa::path(get, path = "/api/v1/edge-applications/{app}/function-instances/{id}", tag = "edge",
    params(("app" = u64, Path), ("id" = u64, Path)),
    responses((status = 200, body = FunctionInstance), (status = 404, body = ErrorBody)))]
pub async fn get_edge_instance(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((app, id)): ApiPath<(String, String)>,
) -> ApiResult<Json<FunctionInstance>> {
    let app = id_of("edge application", &app)?;
    let id = id_of("instance", &id)?;
    Ok(Json(state.get_edge_instance(&caller, app, id).await?))
}

#[utoipa::path(patch, path = "/api/v1/edge-applications/{app}/function-instances/{id}", tag = "edge",
    params(("app" = u64, Path), ("id" = u64, Path)), request_body = FunctionInstancePatch,
    responses((status = 200, body = FunctionInstance), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_edge_instance(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((app, id)): ApiPath<(String, String)>,
    ApiJson(patch): ApiJson<FunctionInstancePatch>,
) -> ApiResult<Json<FunctionInstance>> {
    let app = id_of("edge application", &app)?;
    let id = id_of("instance", &id)?;
    Ok(Json(
        state.update_edge_instance(&caller, app, id, patch).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/edge-applications/{app}/function-instances/{id}", tag = "edge",
    params(("app" = u64, Path), ("id" = u64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody),
        (status = 409, description = "a rule runs the instance", body = ErrorBody)))]
pub async fn delete_edge_instance(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((app, id)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    let app = id_of("edge application", &app)?;
    let id = id_of("instance", &id)?;
    state.delete_edge_instance(&caller, app, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/edge-instance-counts", tag = "edge",
    params(("ns" = String, Path)),
    responses((status = 200, description = "how many function instances run each function of the namespace, by function id", body = BTreeMap<String, u64>),
        (status = 404, body = ErrorBody)))]
pub async fn edge_instance_counts(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(ns): ApiPath<String>,
) -> ApiResult<Json<BTreeMap<String, u64>>> {
    Ok(Json(state.edge_instance_counts(&caller, &ns).await?))
}

#[utoipa::path(post, path = "/api/v1/edge-applications/{app}/rules", tag = "edge",
    params(("app" = u64, Path)), request_body = EdgeRuleSpec,
    responses((status = 201, body = EdgeRule),
        (status = 400, description = "a bad field, or a `run_function` target that is not an instance of the application", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "the application has as many rules as it may (256)", body = ErrorBody)))]
pub async fn create_edge_rule(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(app): ApiPath<String>,
    ApiJson(spec): ApiJson<EdgeRuleSpec>,
) -> ApiResult<(StatusCode, Json<EdgeRule>)> {
    let app = id_of("edge application", &app)?;
    let rule = state.create_edge_rule(&caller, app, spec).await?;
    Ok((StatusCode::CREATED, Json(rule)))
}

#[utoipa::path(get, path = "/api/v1/edge-applications/{app}/rules", tag = "edge",
    params(("app" = u64, Path)),
    responses((status = 200, description = "every rule, in evaluation order (`order`, then id)", body = Page<EdgeRule>),
        (status = 404, body = ErrorBody)))]
pub async fn list_edge_rules(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(app): ApiPath<String>,
) -> ApiResult<Json<Page<EdgeRule>>> {
    let app = id_of("edge application", &app)?;
    Ok(Json(state.list_edge_rules(&caller, app).await?))
}

#[utoipa::path(get, path = "/api/v1/edge-applications/{app}/rules/{id}", tag = "edge",
    params(("app" = u64, Path), ("id" = u64, Path)),
    responses((status = 200, body = EdgeRule), (status = 404, body = ErrorBody)))]
pub async fn get_edge_rule(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((app, id)): ApiPath<(String, String)>,
) -> ApiResult<Json<EdgeRule>> {
    let app = id_of("edge application", &app)?;
    let id = id_of("rule", &id)?;
    Ok(Json(state.get_edge_rule(&caller, app, id).await?))
}

#[utoipa::path(patch, path = "/api/v1/edge-applications/{app}/rules/{id}", tag = "edge",
    params(("app" = u64, Path), ("id" = u64, Path)), request_body = EdgeRulePatch,
    responses((status = 200, body = EdgeRule), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_edge_rule(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((app, id)): ApiPath<(String, String)>,
    ApiJson(patch): ApiJson<EdgeRulePatch>,
) -> ApiResult<Json<EdgeRule>> {
    let app = id_of("edge application", &app)?;
    let id = id_of("rule", &id)?;
    Ok(Json(state.update_edge_rule(&caller, app, id, patch).await?))
}

#[utoipa::path(delete, path = "/api/v1/edge-applications/{app}/rules/{id}", tag = "edge",
    params(("app" = u64, Path), ("id" = u64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_edge_rule(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((app, id)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    let app = id_of("edge application", &app)?;
    let id = id_of("rule", &id)?;
    state.delete_edge_rule(&caller, app, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/namespaces/{ns}/edge-domains", tag = "edge",
    params(("ns" = String, Path)), request_body = EdgeDomainSpec,
    responses((status = 201, body = EdgeDomain), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "a cname is taken", body = ErrorBody)))]
pub async fn create_edge_domain(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(ns): ApiPath<String>,
    ApiJson(spec): ApiJson<EdgeDomainSpec>,
) -> ApiResult<(StatusCode, Json<EdgeDomain>)> {
    let domain = state.create_edge_domain(&caller, &ns, spec).await?;
    Ok((StatusCode::CREATED, Json(domain)))
}

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/edge-domains", tag = "edge",
    params(("ns" = String, Path), ListQuery),
    responses((status = 200, body = Page<EdgeDomain>), (status = 404, body = ErrorBody)))]
pub async fn list_namespace_edge_domains(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(ns): ApiPath<String>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Json<Page<EdgeDomain>>> {
    Ok(Json(
        state.list_edge_domains(&caller, Some(&ns), &query).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/edge-domains", tag = "edge", params(ListQuery),
    responses((status = 200, description = "every edge domain the token may see", body = Page<EdgeDomain>)))]
pub async fn list_edge_domains(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Json<Page<EdgeDomain>>> {
    Ok(Json(state.list_edge_domains(&caller, None, &query).await?))
}

#[utoipa::path(get, path = "/api/v1/edge-domains/{id}", tag = "edge",
    params(("id" = u64, Path)),
    responses((status = 200, body = EdgeDomain), (status = 404, body = ErrorBody)))]
pub async fn get_edge_domain(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<EdgeDomain>> {
    let id = id_of("edge domain", &id)?;
    Ok(Json(state.get_edge_domain(&caller, id).await?))
}

#[utoipa::path(patch, path = "/api/v1/edge-domains/{id}", tag = "edge",
    params(("id" = u64, Path)), request_body = EdgeDomainPatch,
    responses((status = 200, body = EdgeDomain), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "a cname is taken", body = ErrorBody)))]
pub async fn update_edge_domain(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(patch): ApiJson<EdgeDomainPatch>,
) -> ApiResult<Json<EdgeDomain>> {
    let id = id_of("edge domain", &id)?;
    Ok(Json(state.update_edge_domain(&caller, id, patch).await?))
}

#[utoipa::path(delete, path = "/api/v1/edge-domains/{id}", tag = "edge",
    params(("id" = u64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_edge_domain(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let id = id_of("edge domain", &id)?;
    state.delete_edge_domain(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
