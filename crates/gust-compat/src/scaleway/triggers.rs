//! Triggers (SQS and NATS): queue triggers, stored with Scaleway's fields and kept in status
//! `error`, since Gust connects to no message broker; each listens to the Gust events its
//! queue or subject maps to (`queues.sqs.<queue>`, `queues.nats.<subject>`).

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Path, Query as QueryString};
use axum::response::Response;
use bytes::Bytes;
use gust_core::{ListQuery, QueueProtocol, QueueSource, TriggerKind, TriggerSpec};
use serde_json::Value;

use super::models;
use super::params::{Body, ORDERS_BY_TIME, Query};
use super::{Result, Scw, ScwError, reply};

/// Scaleway's limits on a trigger's name and description.
const NAME_MAX: usize = 50;
const DESCRIPTION_MAX: usize = 255;

fn text(body: &Body, name: &str, min: usize, max: usize) -> Result<Option<String>> {
    match body.string(name)? {
        Some(s) if !(min..=max).contains(&s.chars().count()) => Err(ScwError::invalid(
            name,
            "constraint",
            format!("must be {min} to {max} characters"),
        )),
        other => Ok(other),
    }
}

/// The queue a `scw_sqs_config` or `scw_nats_config` names, its other fields kept as the
/// source's settings.
fn source(body: &Body) -> Result<QueueSource> {
    let (config, protocol, name_field) = match (
        body.object("scw_sqs_config")?,
        body.object("scw_nats_config")?,
    ) {
        (Some(sqs), None) => (sqs, QueueProtocol::Sqs, "queue"),
        (None, Some(nats)) => (nats, QueueProtocol::Nats, "subject"),
        _ => {
            return Err(ScwError::invalid(
                "scw_sqs_config",
                "required",
                "give exactly one of scw_sqs_config and scw_nats_config",
            ));
        }
    };
    let section = match protocol {
        QueueProtocol::Sqs => "scw_sqs_config",
        QueueProtocol::Nats => "scw_nats_config",
    };
    let name = config
        .get(name_field)
        .and_then(Value::as_str)
        .filter(|n| (1..=100).contains(&n.chars().count()))
        .ok_or_else(|| {
            ScwError::invalid(
                &format!("{section}.{name_field}"),
                "constraint",
                "must be 1 to 100 characters",
            )
        })?
        .to_string();
    let mut settings = BTreeMap::new();
    for (key, value) in &config {
        if key == name_field || value.is_null() {
            continue;
        }
        let Some(value) = value.as_str() else {
            return Err(ScwError::invalid(
                &format!("{section}.{key}"),
                "format",
                "must be a string",
            ));
        };
        if key == "mnq_region" && !(1..=20).contains(&value.chars().count()) {
            return Err(ScwError::invalid(
                &format!("{section}.mnq_region"),
                "constraint",
                "must be 1 to 20 characters",
            ));
        }
        settings.insert(key.clone(), value.to_string());
    }
    Ok(QueueSource {
        protocol,
        name,
        settings,
    })
}

pub async fn list(
    scw: Scw,
    QueryString(query): QueryString<HashMap<String, String>>,
) -> Result<Response> {
    let query = Query::new(query);
    let paging = query.paging(&ORDERS_BY_TIME)?;
    let functions = match (query.get("function_id"), query.get("namespace_id")) {
        (Some(id), _) => vec![super::functions::find(&scw, id).await?.1],
        (None, Some(ns)) => {
            let ns = super::namespaces::find(&scw, ns).await?;
            super::functions::all_in(&scw, &ns.id).await?
        }
        (None, None) => {
            let mut all = Vec::new();
            for ns in super::namespaces::all(&scw).await? {
                all.extend(super::functions::all_in(&scw, &ns.id).await?);
            }
            all
        }
    };
    let mut triggers = Vec::new();
    for f in &functions {
        let page = scw
            .engine
            .list_triggers(
                &scw.caller,
                &f.namespace_id,
                &f.id,
                &ListQuery {
                    limit: Some(gust_core::list::MAX_LIMIT),
                    ..ListQuery::default()
                },
            )
            .await?;
        triggers.extend(
            page.items
                .into_iter()
                .filter(|t| t.kind == TriggerKind::Queue),
        );
    }
    let (triggers, total) = paging.cut(
        triggers,
        |t| models::time(&t.created_at),
        |t| t.name.clone(),
    );
    Ok(reply(models::list(
        "triggers",
        total,
        triggers.iter().map(models::trigger).collect(),
    )))
}

pub async fn create(scw: Scw, body: Bytes) -> Result<Response> {
    let body = Body::parse(&body)?;
    let name = Body::required("name", text(&body, "name", 1, NAME_MAX)?)?;
    let function_id = Body::required("function_id", body.string("function_id")?)?;
    let queue = source(&body)?;
    let (ns, function) = super::functions::find(&scw, &function_id).await?;
    let spec = TriggerSpec {
        kind: Some(TriggerKind::Queue),
        name: Some(name),
        description: text(&body, "description", 0, DESCRIPTION_MAX)?,
        queue: Some(queue),
        ..TriggerSpec::default()
    };
    let trigger = scw
        .engine
        .create_trigger(&scw.caller, &ns.id, &function.id, spec)
        .await
        .map_err(|e| ScwError::about(e, "trigger", ""))?;
    Ok(reply(models::trigger(&trigger)))
}

pub async fn get(scw: Scw, Path((_, id)): Path<(String, String)>) -> Result<Response> {
    let (_, trigger) = scw.trigger(&id, TriggerKind::Queue, "trigger").await?;
    Ok(reply(models::trigger(&trigger)))
}

pub async fn update(
    scw: Scw,
    Path((_, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response> {
    let body = Body::parse(&body)?;
    let found = scw.trigger(&id, TriggerKind::Queue, "trigger").await?;
    let patch = TriggerSpec {
        name: text(&body, "name", 1, NAME_MAX)?,
        description: text(&body, "description", 0, DESCRIPTION_MAX)?,
        ..TriggerSpec::default()
    };
    let trigger = scw.update_trigger(&found, patch, "trigger").await?;
    Ok(reply(models::trigger(&trigger)))
}

pub async fn delete(scw: Scw, Path((_, id)): Path<(String, String)>) -> Result<Response> {
    let trigger = scw
        .delete_trigger(&id, TriggerKind::Queue, "trigger")
        .await?;
    let mut body = models::trigger(&trigger);
    body["status"] = "deleting".into();
    Ok(reply(body))
}
