//! Executions: run a function (async by default, as in 0.15), list and read the records.

use std::collections::BTreeMap;

use axum::extract::{Path, Query};
use axum::response::Response;
use bytes::Bytes;
use gust_engine::ops::{Executed, ExecutionFilter, ExecutionInput};
use http::StatusCode;

use super::params::{ListParams, Params, cursor_not_found};
use super::{Appwrite, AppwriteError, Result, models, reply};
use crate::common::{ExecutionView, Failure};

/// Longest `data`, in characters.
const DATA_MAX: usize = 8192;

/// `POST .../executions` with `data` and `async`. A key with execution scope may run any
/// function; without a key, only one whose `execute` has `role:all`.
pub async fn create_execution(
    aw: Appwrite,
    Path(function): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let params = Params::parse(&body)?;
    let data = params.string("data", DATA_MAX)?.unwrap_or_default();
    let is_async = params.boolean("async")?.unwrap_or(true);
    let input = ExecutionInput {
        method: "POST".into(),
        path: "/".into(),
        headers: BTreeMap::new(),
        body: Some(data),
        r#async: is_async,
        version: None,
        alias: None,
    };
    let executed = aw
        .engine
        .create_execution(aw.caller(), aw.ns(), &function, &input, None)
        .await
        .map_err(|e| match Failure::of(&e) {
            Failure::Unavailable if e.resource == Some("deployment") => AppwriteError::new(
                StatusCode::NOT_FOUND,
                "deployment_not_found",
                "Deployment not found. Create a deployment before trying to execute a function",
            ),
            Failure::Unauthenticated => AppwriteError::new(
                StatusCode::UNAUTHORIZED,
                "user_unauthorized",
                "The current user is not authorized to perform the requested action: the function's execute permission does not include role:all; send an API key with execution scope.",
            ),
            _ => e.into(),
        })?;
    let execution = match executed {
        Executed::Ran(execution) => execution,
        Executed::Accepted(accepted) => accepted.execution,
    };
    Ok(reply(
        StatusCode::CREATED,
        models::execution(&ExecutionView::new(&execution), aw.format),
    ))
}

/// Newest first, always (0.15 has no order to choose).
pub async fn list_executions(
    aw: Appwrite,
    Path(function): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Result<Response> {
    let caller = aw.key()?;
    let mut list = ListParams::parse(&query, false)?;
    list.window.newest_first = true;
    if let Some(cursor) = &list.window.cursor {
        aw.engine
            .get_execution(caller, aw.ns(), &function, cursor)
            .await
            .map_err(|e| match e.resource {
                Some("function") => AppwriteError::from(e),
                _ => cursor_not_found(cursor),
            })?;
    }
    let (engine, ns, function) = (&aw.engine, aw.ns(), &function);
    let filter = &ExecutionFilter::default();
    let (executions, total) = list
        .window
        .load(None, |query| async move {
            engine
                .list_executions(caller, ns, function, &query, filter)
                .await
        })
        .await?;
    let items = executions
        .iter()
        .map(|e| models::execution(&ExecutionView::new(e), aw.format))
        .filter(|model| {
            // Executions have no name: match the search against the status and trigger.
            list.search.as_deref().is_none_or(|s| {
                ["$id", "status", "trigger"]
                    .iter()
                    .any(|k| model[k].as_str().is_some_and(|v| v.contains(s)))
            })
        })
        .collect();
    Ok(reply(
        StatusCode::OK,
        models::list("executions", total, items),
    ))
}

pub async fn get_execution(
    aw: Appwrite,
    Path((function, id)): Path<(String, String)>,
) -> Result<Response> {
    let caller = aw.key()?;
    let execution = aw
        .engine
        .get_execution(caller, aw.ns(), &function, &id)
        .await?;
    Ok(reply(
        StatusCode::OK,
        models::execution(&ExecutionView::new(&execution), aw.format),
    ))
}
