//! `/v1/webhooks`: webhooks, whose `webhook_url` is this dialect's `invoke` path. An invoke
//! needs no token; its body (JSON, or form fields made into a JSON object) is the input of
//! an async execution, answered 202 `{"execution_id"}`.

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::response::Response;
use gust_core::{Webhook, WebhookSpec};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Map, Value, json};

use super::functions::function;
use super::{Qin, QinError, Result, field, json_body, no_content, reply, root_url, views};

/// Webhooks run a function's current code; one on an alias or a version is refused rather
/// than run on something else.
fn current_code_only(body: &Map<String, Value>) -> Result<()> {
    if field::text(body, "function_alias")?.is_some_and(|a| !a.is_empty()) {
        return Err(QinError::input(
            "Invalid input for `function_alias`: webhooks run a function's current code; give \
             `function_id`",
        ));
    }
    if field::integer(body, "function_version")?.is_some_and(|v| v != 0) {
        return Err(QinError::input(
            "Invalid input for `function_version`: webhooks run a function's current code \
             (version 0)",
        ));
    }
    Ok(())
}

fn view(qin: &Qin, webhook: &Webhook) -> Value {
    views::webhook(webhook, &root_url(&qin.engine))
}

pub async fn create(qin: Qin, body: Bytes) -> Result<Response> {
    let body = json_body(&body)?;
    current_code_only(&body)?;
    let Some(function_id) = field::text(&body, "function_id")?.filter(|f| !f.is_empty()) else {
        return Err(QinError::input(
            "Either function_alias or function_id must be specified.",
        ));
    };
    let function = function(&qin, &function_id).await?;
    let spec = WebhookSpec {
        function: None,
        description: field::text(&body, "description")?,
    };
    let webhook = qin
        .engine
        .create_webhook(&qin.caller, &qin.ns, &function.id, spec)
        .await
        .map_err(|e| QinError::about(e, "Webhook", ""))?;
    Ok(reply(StatusCode::CREATED, view(&qin, &webhook)))
}

pub async fn list(qin: Qin) -> Result<Response> {
    let q = &qin;
    let webhooks = crate::common::every(|page| async move {
        q.engine.list_webhooks(&q.caller, &q.ns, None, &page).await
    })
    .await?;
    let items: Vec<_> = webhooks.iter().map(|w| view(&qin, w)).collect();
    Ok(reply(StatusCode::OK, json!({"webhooks": items})))
}

async fn webhook(qin: &Qin, id: &str) -> Result<Webhook> {
    let webhook = qin
        .engine
        .get_webhook(&qin.caller, id)
        .await
        .map_err(|e| QinError::about(e, "Webhook", id))?;
    if webhook.namespace_id != qin.namespace().await?.id {
        return Err(QinError::not_found("Webhook", id));
    }
    Ok(webhook)
}

pub async fn get(qin: Qin, Path(id): Path<String>) -> Result<Response> {
    let webhook = webhook(&qin, &id).await?;
    Ok(reply(StatusCode::OK, view(&qin, &webhook)))
}

/// Point the webhook at another function (`function_id`) or change its `description`.
pub async fn update(qin: Qin, Path(id): Path<String>, body: Bytes) -> Result<Response> {
    let body = json_body(&body)?;
    current_code_only(&body)?;
    webhook(&qin, &id).await?;
    let target = match field::text(&body, "function_id")?.filter(|f| !f.is_empty()) {
        Some(f) => Some(function(&qin, &f).await?.id),
        None => None,
    };
    let patch = WebhookSpec {
        function: target,
        description: field::text(&body, "description")?,
    };
    let webhook = qin
        .engine
        .update_webhook(&qin.caller, &id, patch)
        .await
        .map_err(|e| QinError::about(e, "Webhook", &id))?;
    Ok(reply(StatusCode::OK, view(&qin, &webhook)))
}

pub async fn delete(qin: Qin, Path(id): Path<String>) -> Result<Response> {
    webhook(&qin, &id).await?;
    qin.engine
        .delete_webhook(&qin.caller, &id)
        .await
        .map_err(|e| QinError::about(e, "Webhook", &id))?;
    Ok(no_content())
}

/// `POST /v1/webhooks/{id}/invoke`: no token; 202 `{"execution_id"}`.
pub async fn invoke(
    State(state): State<super::QinState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response> {
    let (mut parts, body) = request.into_parts();
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    let body = if is_form {
        // Qinling takes form fields as the input's keys, as it takes a JSON object's.
        let bytes = axum::body::to_bytes(body, gust_core::execution::ASYNC_BODY_LIMIT)
            .await
            .map_err(|e| QinError::input(format!("Invalid form body: {e}")).plain())?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| QinError::input(format!("Invalid form body: {e}")).plain())?;
        let object: Map<String, Value> = pairs.into_iter().map(|(k, v)| (k, json!(v))).collect();
        parts.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        parts.headers.remove(header::CONTENT_LENGTH);
        Body::from(Value::Object(object).to_string())
    } else {
        body
    };
    let accepted = state
        .engine
        .invoke_webhook(&id, Request::from_parts(parts, body))
        .await
        .map_err(|e| QinError::about(e, "Webhook", &id).plain())?;
    Ok(reply(
        StatusCode::ACCEPTED,
        json!({"execution_id": accepted.execution.id}),
    ))
}
