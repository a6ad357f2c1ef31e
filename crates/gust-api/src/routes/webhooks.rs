//! `/api/v1/namespaces/{ns}/webhooks[/{id}]`: webhooks, URLs (`/hooks/{id}`, served beside
//! `/fn/`) that start an async execution of a function without a token.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use gust_core::{ListQuery, Order, Page, Webhook, WebhookSpec};
use gust_engine::{Caller, Error};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::ApiState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};

/// List parameters plus the function filter.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WebhookListQuery {
    /// Items per page, 1 to 1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    pub offset: Option<u32>,
    pub order: Option<Order>,
    /// Only the webhooks of this function (name or id).
    pub function: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/webhooks", tag = "webhooks",
    params(("ns" = String, Path), WebhookListQuery),
    responses((status = 200, body = Page<Webhook>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_webhooks(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(ns): ApiPath<String>,
    ApiQuery(q): ApiQuery<WebhookListQuery>,
) -> ApiResult<Json<Page<Webhook>>> {
    let query = ListQuery {
        limit: q.limit,
        cursor: q.cursor,
        offset: q.offset,
        search: None,
        order: q.order,
    };
    Ok(Json(
        state
            .list_webhooks(&caller, &ns, q.function.as_deref(), &query)
            .await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/namespaces/{ns}/webhooks", tag = "webhooks",
    params(("ns" = String, Path)), request_body = WebhookSpec,
    responses((status = 201, body = Webhook), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create_webhook(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(ns): ApiPath<String>,
    ApiJson(mut spec): ApiJson<WebhookSpec>,
) -> ApiResult<(StatusCode, Json<Webhook>)> {
    let function = spec
        .function
        .take()
        .ok_or_else(|| Error::invalid("function", "is required: the function it runs"))?;
    let webhook = state.create_webhook(&caller, &ns, &function, spec).await?;
    Ok((StatusCode::CREATED, Json(webhook)))
}

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/webhooks/{id}", tag = "webhooks",
    params(("ns" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = Webhook), (status = 404, body = ErrorBody)))]
pub async fn get_webhook(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, id)): ApiPath<(String, String)>,
) -> ApiResult<Json<Webhook>> {
    let webhook = state.get_webhook(&caller, &id).await?;
    in_namespace(&state, &caller, &ns, &webhook).await?;
    Ok(Json(webhook))
}

#[utoipa::path(patch, path = "/api/v1/namespaces/{ns}/webhooks/{id}", tag = "webhooks",
    params(("ns" = String, Path), ("id" = String, Path)), request_body = WebhookSpec,
    responses((status = 200, body = Webhook), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_webhook(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, id)): ApiPath<(String, String)>,
    ApiJson(patch): ApiJson<WebhookSpec>,
) -> ApiResult<Json<Webhook>> {
    let webhook = state.get_webhook(&caller, &id).await?;
    in_namespace(&state, &caller, &ns, &webhook).await?;
    Ok(Json(state.update_webhook(&caller, &id, patch).await?))
}

#[utoipa::path(delete, path = "/api/v1/namespaces/{ns}/webhooks/{id}", tag = "webhooks",
    params(("ns" = String, Path), ("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_webhook(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, id)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    let webhook = state.get_webhook(&caller, &id).await?;
    in_namespace(&state, &caller, &ns, &webhook).await?;
    state.delete_webhook(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// 404 when the webhook is not in the namespace the path names.
async fn in_namespace(
    state: &ApiState,
    caller: &Caller,
    ns: &str,
    webhook: &Webhook,
) -> Result<(), Error> {
    let namespace = state.namespace_for(caller, ns).await?;
    if namespace.id != webhook.namespace_id {
        return Err(Error::not_found_of(
            "webhook",
            format!("no webhook {} in namespace `{ns}`", webhook.id),
        ));
    }
    Ok(())
}
