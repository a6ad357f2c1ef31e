//! Crons: cron triggers whose request body is the cron's `args`.

use std::collections::HashMap;

use axum::extract::{Path, Query as QueryString};
use axum::response::Response;
use bytes::Bytes;
use gust_core::{FunctionTrigger, ListQuery, TriggerKind, TriggerSpec};

use super::models;
use super::params::{Body, ORDERS_BY_TIME, Query};
use super::{Result, Scw, ScwError, reply};

/// `args` as the body each tick sends: the JSON object, written once.
fn args_body(body: &Body) -> Result<Option<String>> {
    Ok(body
        .object("args")?
        .map(|args| serde_json::Value::Object(args).to_string()))
}

pub async fn list(
    scw: Scw,
    QueryString(query): QueryString<HashMap<String, String>>,
) -> Result<Response> {
    let query = Query::new(query);
    let paging = query.paging(&ORDERS_BY_TIME)?;
    let function_id = Body::required("function_id", query.get("function_id"))?;
    let (ns, function) = super::functions::find(&scw, function_id).await?;
    let page = scw
        .engine
        .list_triggers(
            &scw.caller,
            &ns.id,
            &function.id,
            &ListQuery {
                limit: Some(gust_core::list::MAX_LIMIT),
                ..ListQuery::default()
            },
        )
        .await?;
    let crons: Vec<FunctionTrigger> = page
        .items
        .into_iter()
        .filter(|t| t.kind == TriggerKind::Cron && t.origin == gust_core::TriggerOrigin::Api)
        .collect();
    let (crons, total) = paging.cut(crons, |t| models::time(&t.created_at), |t| t.name.clone());
    Ok(reply(models::list(
        "crons",
        total,
        crons.iter().map(models::cron).collect(),
    )))
}

pub async fn create(scw: Scw, body: Bytes) -> Result<Response> {
    let body = Body::parse(&body)?;
    let function_id = Body::required("function_id", body.string("function_id")?)?;
    let schedule = Body::required("schedule", body.string("schedule")?)?;
    let (ns, function) = super::functions::find(&scw, &function_id).await?;
    let spec = TriggerSpec {
        kind: Some(TriggerKind::Cron),
        name: body.string("name")?,
        schedule: Some(schedule),
        body: Some(args_body(&body)?.unwrap_or_else(|| "{}".into())),
        ..TriggerSpec::default()
    };
    let trigger = scw
        .engine
        .create_trigger(&scw.caller, &ns.id, &function.id, spec)
        .await
        .map_err(|e| ScwError::about(e, "cron", ""))?;
    Ok(reply(models::cron(&trigger)))
}

pub async fn get(scw: Scw, Path((_, id)): Path<(String, String)>) -> Result<Response> {
    let (_, trigger) = scw.trigger(&id, TriggerKind::Cron, "cron").await?;
    Ok(reply(models::cron(&trigger)))
}

pub async fn update(
    scw: Scw,
    Path((_, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response> {
    let body = Body::parse(&body)?;
    let found = scw.trigger(&id, TriggerKind::Cron, "cron").await?;
    if let Some(function_id) = body.string("function_id")?
        && function_id != found.1.function_id
    {
        return Err(ScwError::invalid(
            "function_id",
            "constraint",
            "a cron stays with its function; create a cron on the other function instead",
        ));
    }
    let patch = TriggerSpec {
        name: body.string("name")?,
        schedule: body.string("schedule")?,
        body: args_body(&body)?,
        ..TriggerSpec::default()
    };
    let trigger = scw.update_trigger(&found, patch, "cron").await?;
    Ok(reply(models::cron(&trigger)))
}

pub async fn delete(scw: Scw, Path((_, id)): Path<(String, String)>) -> Result<Response> {
    let trigger = scw.delete_trigger(&id, TriggerKind::Cron, "cron").await?;
    let mut body = models::cron(&trigger);
    body["status"] = "deleting".into();
    Ok(reply(body))
}
