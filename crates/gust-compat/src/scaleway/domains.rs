//! Domains: hostnames, besides its `domain_name`, that route to a function.

use std::collections::HashMap;

use axum::extract::{Path, Query as QueryString};
use axum::response::Response;
use bytes::Bytes;
use gust_core::{Domain, DomainSpec, ListQuery};
use serde_json::{Value, json};

use super::models;
use super::params::{Body, Query};
use super::{Result, Scw, ScwError, reply};

const ORDERS: [&str; 4] = [
    "created_at_asc",
    "created_at_desc",
    "hostname_asc",
    "hostname_desc",
];

fn view(d: &Domain) -> Value {
    json!({
        "id": d.id,
        "hostname": d.hostname,
        "function_id": d.function_id,
        "url": d.url,
        "status": "ready",
        "error_message": null,
    })
}

pub async fn list(
    scw: Scw,
    QueryString(query): QueryString<HashMap<String, String>>,
) -> Result<Response> {
    let query = Query::new(query);
    let paging = query.paging(&ORDERS)?;
    let function_id = Body::required("function_id", query.get("function_id"))?;
    let (ns, function) = super::functions::find(&scw, function_id).await?;
    let page = scw
        .engine
        .list_domains(
            &scw.caller,
            &ns.id,
            &function.id,
            &ListQuery {
                limit: Some(gust_core::list::MAX_LIMIT),
                ..ListQuery::default()
            },
        )
        .await?;
    let (domains, total) = paging.cut(
        page.items,
        |d| models::time(&d.created_at),
        |d| d.hostname.clone(),
    );
    Ok(reply(models::list(
        "domains",
        total,
        domains.iter().map(view).collect(),
    )))
}

pub async fn create(scw: Scw, body: Bytes) -> Result<Response> {
    let body = Body::parse(&body)?;
    let hostname = Body::required("hostname", body.string("hostname")?)?;
    let function_id = Body::required("function_id", body.string("function_id")?)?;
    let (ns, function) = super::functions::find(&scw, &function_id).await?;
    let domain = scw
        .engine
        .create_domain(
            &scw.caller,
            &ns.id,
            &function.id,
            DomainSpec {
                hostname: Some(hostname.clone()),
            },
        )
        .await
        .map_err(|e| ScwError::about(e, "domain", &hostname))?;
    Ok(reply(view(&domain)))
}

async fn find(scw: &Scw, id: &str) -> Result<Domain> {
    scw.engine
        .get_domain(&scw.caller, id)
        .await
        .map_err(|e| ScwError::about(e, "domain", id))
}

pub async fn get(scw: Scw, Path((_, id)): Path<(String, String)>) -> Result<Response> {
    Ok(reply(view(&find(&scw, &id).await?)))
}

pub async fn delete(scw: Scw, Path((_, id)): Path<(String, String)>) -> Result<Response> {
    let domain = find(&scw, &id).await?;
    scw.engine
        .delete_domain(&scw.caller, &id)
        .await
        .map_err(|e| ScwError::about(e, "domain", &id))?;
    let mut body = view(&domain);
    body["status"] = "deleting".into();
    Ok(reply(body))
}
