//! Functions and runtimes.

use std::collections::BTreeMap;

use axum::extract::{Path, Query};
use axum::response::Response;
use bytes::Bytes;
use gust_core::{Function, FunctionSpec, HandlerContract, ListQuery, Privacy, TriggerKind};
use http::StatusCode;

use super::models::{self, ROLE_ALL, ScheduleTimes};
use super::params::{ListParams, Params, cursor_not_found};
use super::{Appwrite, AppwriteError, Result, no_content, reply};
use crate::common::unix_seconds;

/// Appwrite's default and longest timeouts, in seconds.
const TIMEOUT_DEFAULT: i64 = 15;
const TIMEOUT_MAX: i64 = 900;

pub async fn list_runtimes(aw: Appwrite) -> Result<Response> {
    aw.key()?;
    let available = aw.engine.runtimes();
    let runtimes: Vec<_> = models::RUNTIMES
        .iter()
        .filter(|(_, runtime, ..)| available.iter().any(|r| r.id == *runtime && r.available))
        .map(|(id, _, name, version)| models::runtime(id, name, version))
        .collect();
    Ok(reply(
        StatusCode::OK,
        models::list("runtimes", runtimes.len() as u64, runtimes),
    ))
}

pub async fn list_functions(
    aw: Appwrite,
    Query(query): Query<BTreeMap<String, String>>,
) -> Result<Response> {
    let caller = aw.key()?;
    let list = ListParams::parse(&query, true)?;
    if let Some(cursor) = &list.window.cursor {
        aw.engine
            .get_function(caller, aw.ns(), cursor)
            .await
            .map_err(|_| cursor_not_found(cursor))?;
    }
    let (engine, ns) = (&aw.engine, aw.ns());
    let (functions, total) = list
        .window
        .load(list.search.clone(), |query| async move {
            engine
                .list_functions(caller, ns, &query, &Default::default())
                .await
        })
        .await?;
    let mut items = Vec::with_capacity(functions.len());
    for f in &functions {
        items.push(models::function(f, schedule_times(&aw, f).await, aw.format));
    }
    Ok(reply(
        StatusCode::OK,
        models::list("functions", total, items),
    ))
}

pub async fn create_function(aw: Appwrite, body: Bytes) -> Result<Response> {
    let caller = aw.key()?;
    let params = Params::parse(&body)?;
    let function_id = Params::required("functionId", params.string("functionId", 36)?)?;
    let name = Params::required("name", params.string("name", 128)?)?;
    let execute = Params::required("execute", params.strings("execute", 100, 64)?)?;
    let runtime = Params::required("runtime", params.string("runtime", 128)?)?;
    let Some(gust_runtime) = models::gust_runtime(&runtime) else {
        let known: Vec<_> = models::RUNTIMES.iter().map(|(id, ..)| *id).collect();
        return Err(AppwriteError::invalid(format!(
            "Invalid runtime: Value must be one of ({})",
            known.join(", ")
        )));
    };
    if function_id != "unique()"
        && gust_core::validate::custom_id("functionId", &function_id).is_err()
    {
        return Err(AppwriteError::invalid(
            "Invalid functionId: Parameter must contain at most 36 chars. Valid chars are a-z, A-Z, 0-9, period, hyphen, and underscore. Can't start with a special char",
        ));
    }
    let id = if function_id == "unique()" {
        gust_core::new_id()
    } else {
        function_id
    };
    let spec = FunctionSpec {
        id: Some(id),
        runtime: Some(gust_runtime.as_str().to_string()),
        contract: Some(HandlerContract::Appwrite),
        ..configuration(&params, name, &execute)?
    };
    let function = aw
        .engine
        .create_function(caller, aw.ns(), spec)
        .await
        .map_err(rename_fields)?;
    Ok(reply(
        StatusCode::CREATED,
        models::function(&function, schedule_times(&aw, &function).await, aw.format),
    ))
}

pub async fn get_function(aw: Appwrite, Path(id): Path<String>) -> Result<Response> {
    let caller = aw.key()?;
    let function = aw.engine.get_function(caller, aw.ns(), &id).await?;
    Ok(reply(
        StatusCode::OK,
        models::function(&function, schedule_times(&aw, &function).await, aw.format),
    ))
}

/// A replace of what Appwrite configures: the optional fields left out go back to their
/// defaults. What only Gust configures (memory, scaling) is kept.
pub async fn update_function(
    aw: Appwrite,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let caller = aw.key()?;
    let params = Params::parse(&body)?;
    let name = Params::required("name", params.string("name", 128)?)?;
    let execute = Params::required("execute", params.strings("execute", 100, 64)?)?;
    let patch = configuration(&params, name, &execute)?;
    let function = aw
        .engine
        .update_function(caller, aw.ns(), &id, patch)
        .await
        .map_err(rename_fields)?;
    Ok(reply(
        StatusCode::OK,
        models::function(&function, schedule_times(&aw, &function).await, aw.format),
    ))
}

pub async fn delete_function(aw: Appwrite, Path(id): Path<String>) -> Result<Response> {
    let caller = aw.key()?;
    aw.engine.delete_function(caller, aw.ns(), &id).await?;
    Ok(no_content())
}

/// The fields create and update share, each with Appwrite's default when absent.
fn configuration(params: &Params, name: String, execute: &[String]) -> Result<FunctionSpec> {
    let timeout = params
        .integer("timeout", 1, TIMEOUT_MAX)?
        .unwrap_or(TIMEOUT_DEFAULT);
    Ok(FunctionSpec {
        title: Some(name),
        env: Some(params.string_map("vars")?.unwrap_or_default()),
        events: Some(params.strings("events", 100, 256)?.unwrap_or_default()),
        schedule: Some(params.string("schedule", 256)?.unwrap_or_default()),
        timeout_s: Some(timeout as u32),
        privacy: Some(if execute.iter().any(|role| role == ROLE_ALL) {
            Privacy::Public
        } else {
            Privacy::Private
        }),
        ..FunctionSpec::default()
    })
}

/// Native field names in validation errors, as the client sent them.
fn rename_fields(mut e: gust_engine::Error) -> gust_engine::Error {
    let renamed = e.field.as_deref().map(|field| {
        let (head, rest) = field.split_at(field.find(['.', '[']).unwrap_or(field.len()));
        let head = match head {
            "env" => "vars",
            "title" => "name",
            "timeout_s" => "timeout",
            "id" => "functionId",
            other => other,
        };
        format!("{head}{rest}")
    });
    e.field = renamed;
    e
}

/// `scheduleNext` and `schedulePrevious`, from the cron trigger the function's schedule is
/// kept as; they stay 0 until a deployment is active, as in Appwrite.
async fn schedule_times(aw: &Appwrite, function: &Function) -> ScheduleTimes {
    if function.schedule.is_none() || function.active_deployment.is_none() {
        return ScheduleTimes::default();
    }
    let Ok(caller) = aw.key() else {
        return ScheduleTimes::default();
    };
    let query = ListQuery {
        limit: Some(100),
        ..ListQuery::default()
    };
    let Ok(triggers) = aw
        .engine
        .list_triggers(caller, aw.ns(), &function.id, &query)
        .await
    else {
        return ScheduleTimes::default();
    };
    triggers
        .items
        .iter()
        .find(|t| t.kind == TriggerKind::Cron && t.origin == gust_core::TriggerOrigin::Function)
        .map(|t| ScheduleTimes {
            next: t.next_run_at.map(unix_seconds).unwrap_or(0),
            previous: t.last_run_at.map(unix_seconds).unwrap_or(0),
        })
        .unwrap_or_default()
}
