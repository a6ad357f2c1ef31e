//! Tokens: invoke tokens limited to one function or one namespace, sent to private functions
//! as `X-Auth-Token`.

use std::collections::HashMap;

use axum::extract::{Path, Query as QueryString};
use axum::response::Response;
use bytes::Bytes;
use gust_core::{Scope, Token, TokenSpec};

use super::models;
use super::params::{Body, ORDERS_BY_TIME, Query};
use super::{Result, Scw, ScwError, reply};

pub async fn list(
    scw: Scw,
    QueryString(query): QueryString<HashMap<String, String>>,
) -> Result<Response> {
    let query = Query::new(query);
    let paging = query.paging(&ORDERS_BY_TIME)?;
    let function_id = query.get("function_id");
    let namespace_id = query.get("namespace_id");
    let scw = &scw;
    let mut tokens = crate::common::every(|query| async move {
        Result::<_, ScwError>::Ok(scw.engine.list_tokens(&scw.caller, &query).await?)
    })
    .await?;
    // The tokens this API makes: limited to a function or a namespace, and only to invoke.
    tokens.retain(|t: &Token| {
        t.scopes == [Scope::Invoke]
            && t.namespace_id.is_some()
            && function_id.is_none_or(|f| t.function_id.as_deref() == Some(f))
            && namespace_id
                .is_none_or(|n| t.function_id.is_none() && t.namespace_id.as_deref() == Some(n))
    });
    let (tokens, total) = paging.cut(tokens, |t| models::time(&t.created_at), |t| t.id.clone());
    Ok(reply(models::list(
        "tokens",
        total,
        tokens.iter().map(models::token).collect(),
    )))
}

pub async fn create(scw: Scw, body: Bytes) -> Result<Response> {
    let body = Body::parse(&body)?;
    let (namespace, function) = match (body.string("function_id")?, body.string("namespace_id")?) {
        (Some(function_id), None) => {
            let (ns, function) = super::functions::find(&scw, &function_id).await?;
            (ns.id, Some(function.id))
        }
        (None, Some(namespace_id)) => {
            (super::namespaces::find(&scw, &namespace_id).await?.id, None)
        }
        _ => {
            return Err(ScwError::invalid(
                "function_id",
                "required",
                "give exactly one of function_id and namespace_id",
            ));
        }
    };
    let expires_at = match body.string("expires_at")? {
        None => None,
        Some(text) => Some(
            chrono::DateTime::parse_from_rfc3339(&text)
                .map_err(|_| {
                    ScwError::invalid(
                        "expires_at",
                        "format",
                        format!("`{text}` is not an RFC 3339 time"),
                    )
                })?
                .with_timezone(&chrono::Utc),
        ),
    };
    let spec = TokenSpec {
        description: body.string("description")?,
        scopes: Some(vec![Scope::Invoke]),
        namespace: Some(namespace),
        function,
        expires_at,
        format: None,
    };
    let token = scw
        .engine
        .create_token(&scw.caller, spec)
        .await
        .map_err(|e| ScwError::about(e, "token", ""))?;
    Ok(reply(models::token(&token)))
}

async fn find(scw: &Scw, id: &str) -> Result<Token> {
    scw.engine
        .get_token(&scw.caller, id)
        .await
        .map_err(|e| ScwError::about(e, "token", id))
}

pub async fn get(scw: Scw, Path((_, id)): Path<(String, String)>) -> Result<Response> {
    Ok(reply(models::token(&find(&scw, &id).await?)))
}

pub async fn delete(scw: Scw, Path((_, id)): Path<(String, String)>) -> Result<Response> {
    let token = find(&scw, &id).await?;
    scw.engine
        .delete_token(&scw.caller, &id)
        .await
        .map_err(|e| ScwError::about(e, "token", &id))?;
    let mut body = models::token(&token);
    body["status"] = "deleting".into();
    Ok(reply(body))
}
