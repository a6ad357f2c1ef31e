//! `/v1/functions/{id}/versions[/{n}]` (snapshots of a function's package and settings, with
//! their workers) and `/v1/aliases[/{name}]` (names that point at a function and a version).

use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::response::Response;
use gust_core::{AliasSpec, ExecutionStatus, Function, FunctionVersion, ListQuery, VersionSpec};
use http::StatusCode;
use serde_json::json;

use super::functions::{self, GetQuery, function, is_true, users_of, worker_count, zip_file};
use super::{Qin, QinError, Result, accepted, field, json_body, no_content, reply, views};
use crate::common::Failure;

pub async fn create(qin: Qin, Path(id): Path<String>, body: Bytes) -> Result<Response> {
    let body = json_body(&body)?;
    let function = function(&qin, &id).await?;
    let spec = VersionSpec {
        description: field::text(&body, "description")?,
    };
    let made = qin
        .engine
        .create_version(&qin.caller, &qin.ns, &function.id, spec)
        .await
        .map_err(|e| match Failure::of(&e) {
            // No code, code unchanged since the last version, or ten versions already.
            Failure::Conflict => QinError::not_allowed(e.message),
            _ => QinError::about(e, "Function", &id),
        })?;
    Ok(reply(StatusCode::CREATED, views::version(&made, 0)))
}

pub async fn list(qin: Qin, Path(id): Path<String>) -> Result<Response> {
    let function = function(&qin, &id).await?;
    let versions = qin
        .engine
        .list_versions(&qin.caller, &qin.ns, &function.id)
        .await?;
    let counts = version_counts(&qin, &function).await?;
    let items: Vec<_> = versions
        .items
        .iter()
        .map(|v| views::version(v, counts.get(&v.number).copied().unwrap_or(0)))
        .collect();
    Ok(reply(StatusCode::OK, json!({"function_versions": items})))
}

/// How many executions each version has run (from the function's records).
async fn version_counts(
    qin: &Qin,
    function: &Function,
) -> Result<std::collections::HashMap<u32, u64>> {
    let id = &function.id;
    let runs = crate::common::every(|page| async move {
        qin.engine
            .list_executions(
                &qin.caller,
                &qin.ns,
                id,
                &page,
                &gust_engine::ops::ExecutionFilter::default(),
            )
            .await
    })
    .await?;
    let mut counts = std::collections::HashMap::new();
    for run in runs
        .iter()
        .filter(|e| !matches!(e.status, ExecutionStatus::Queued))
    {
        if let Some(n) = run.function_version {
            *counts.entry(n).or_insert(0) += 1;
        }
    }
    Ok(counts)
}

pub async fn get(
    qin: Qin,
    Path((id, number)): Path<(String, String)>,
    Query(query): Query<GetQuery>,
) -> Result<Response> {
    let got = async {
        let (function, version) = version(&qin, &id, &number).await?;
        if query.download.as_deref().is_some_and(is_true) {
            let (_, path) = qin
                .engine
                .version_code(&qin.caller, &qin.ns, &function.id, version.number)
                .await?;
            return zip_file(&path, &id).await;
        }
        let counts = version_counts(&qin, &function).await?;
        let count = counts.get(&version.number).copied().unwrap_or(0);
        Ok(reply(StatusCode::OK, views::version(&version, count)))
    };
    got.await.map_err(QinError::plain)
}

/// 204; 403 while an alias points at the version.
pub async fn delete(qin: Qin, Path((id, number)): Path<(String, String)>) -> Result<Response> {
    let (function, version) = version(&qin, &id, &number).await?;
    let users = users_of(&qin, &function, Some(version.number)).await?;
    if !users.is_empty() {
        return Err(QinError::not_allowed(format!(
            "Version {} of function {id} is still in use by {}",
            version.number,
            users.join(", ")
        )));
    }
    qin.engine
        .delete_version(&qin.caller, &qin.ns, &function.id, version.number)
        .await
        .map_err(|e| match Failure::of(&e) {
            Failure::Conflict => QinError::not_allowed(e.message),
            _ => QinError::about(e, "FunctionVersion", &number),
        })?;
    Ok(no_content())
}

pub async fn scale_up(
    qin: Qin,
    Path((id, number)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response> {
    let (function, version) = version(&qin, &id, &number).await?;
    let count = worker_count(&body)?;
    functions::scale(&qin, &function, Some(version.number), i64::from(count)).await
}

pub async fn scale_down(
    qin: Qin,
    Path((id, number)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response> {
    let (function, version) = version(&qin, &id, &number).await?;
    let count = worker_count(&body)?;
    functions::scale(&qin, &function, Some(version.number), -i64::from(count)).await
}

pub async fn detach(qin: Qin, Path((id, number)): Path<(String, String)>) -> Result<Response> {
    let (function, version) = version(&qin, &id, &number).await?;
    qin.engine
        .detach_instances(&qin.caller, &qin.ns, &function.id, Some(version.number))
        .await?;
    Ok(accepted())
}

/// Version `number` of function `id`: 404 `FunctionVersion not found` otherwise.
async fn version(qin: &Qin, id: &str, number: &str) -> Result<(Function, FunctionVersion)> {
    let function = function(qin, id).await?;
    let not_found = || {
        QinError::new(
            StatusCode::NOT_FOUND,
            format!("FunctionVersion not found [function_id={id}, version_number={number}]"),
        )
    };
    let n: u32 = number
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(not_found)?;
    let version = qin
        .engine
        .get_version(&qin.caller, &qin.ns, &function.id, n)
        .await
        .map_err(|e| match Failure::of(&e) {
            Failure::NotFound(_) => not_found(),
            _ => e.into(),
        })?;
    Ok((function, version))
}

pub async fn create_alias(qin: Qin, body: Bytes) -> Result<Response> {
    let body = json_body(&body)?;
    let Some(name) = field::text(&body, "name")?.filter(|n| !n.is_empty()) else {
        return Err(QinError::input("Invalid input for `name`: it is required"));
    };
    let Some(function_id) = field::text(&body, "function_id")?.filter(|f| !f.is_empty()) else {
        return Err(QinError::input(
            "Invalid input for `function_id`: it is required",
        ));
    };
    let function = function(&qin, &function_id).await?;
    let spec = AliasSpec {
        name: Some(name.clone()),
        function: Some(function.id.clone()),
        version: alias_version(&body)?,
        description: field::text(&body, "description")?,
    };
    let alias = qin
        .engine
        .create_alias(&qin.caller, &qin.ns, spec)
        .await
        .map_err(|e| QinError::about(e, "FunctionAlias", &name))?;
    Ok(reply(StatusCode::CREATED, views::alias(&alias)))
}

fn alias_version(body: &serde_json::Map<String, serde_json::Value>) -> Result<Option<u32>> {
    field::integer(body, "function_version")?
        .map(|v| {
            u32::try_from(v).map_err(|_| {
                QinError::input(format!(
                    "Invalid input for `function_version`: {v} is not a version number"
                ))
            })
        })
        .transpose()
}

pub async fn list_aliases(qin: Qin) -> Result<Response> {
    let q = &qin;
    let aliases = crate::common::every(|page: ListQuery| async move {
        q.engine.list_aliases(&q.caller, &q.ns, None, &page).await
    })
    .await?;
    let items: Vec<_> = aliases.iter().map(views::alias).collect();
    Ok(reply(StatusCode::OK, json!({"function_aliases": items})))
}

pub async fn get_alias(qin: Qin, Path(name): Path<String>) -> Result<Response> {
    let alias = qin
        .engine
        .get_alias(&qin.caller, &qin.ns, &name)
        .await
        .map_err(|e| QinError::about(e, "FunctionAlias", &name))?;
    Ok(reply(StatusCode::OK, views::alias(&alias)))
}

/// Move an alias: `function_id`, `function_version` (0: the function's current code) and
/// `description`.
pub async fn update_alias(qin: Qin, Path(name): Path<String>, body: Bytes) -> Result<Response> {
    let body = json_body(&body)?;
    let function = match field::text(&body, "function_id")?.filter(|f| !f.is_empty()) {
        Some(id) => Some(function(&qin, &id).await?.id),
        None => None,
    };
    let patch = AliasSpec {
        name: None,
        function,
        version: alias_version(&body)?,
        description: field::text(&body, "description")?,
    };
    let alias = qin
        .engine
        .update_alias(&qin.caller, &qin.ns, &name, patch)
        .await
        .map_err(|e| QinError::about(e, "FunctionAlias", &name))?;
    Ok(reply(StatusCode::OK, views::alias(&alias)))
}

pub async fn delete_alias(qin: Qin, Path(name): Path<String>) -> Result<Response> {
    qin.engine
        .delete_alias(&qin.caller, &qin.ns, &name)
        .await
        .map_err(|e| QinError::about(e, "FunctionAlias", &name))?;
    Ok(no_content())
}
