//! `/v1/runtimes`: Gust's Python and Node runtimes, each under a UUID made from its id, with
//! `image` naming it. Registering a runtime whose `image` names one of them answers it; Gust's
//! runtimes are built in, so they are neither changed nor deleted here.

use axum::body::Bytes;
use axum::extract::Path;
use axum::response::Response;
use gust_core::RuntimeInfo;
use http::StatusCode;
use serde_json::json;

use super::{Qin, QinError, Result, field, json_body, reply, views};

fn runtimes(qin: &Qin) -> Vec<RuntimeInfo> {
    views::qinling_runtimes(qin.engine.runtimes())
}

/// The project's id, and its creation time, which stands for when its runtimes were
/// registered.
async fn project(qin: &Qin) -> Result<(String, chrono::DateTime<chrono::Utc>)> {
    let ns = qin.namespace().await?;
    Ok((ns.id, ns.created_at))
}

pub async fn list(qin: Qin) -> Result<Response> {
    let (project, at) = project(&qin).await?;
    let items: Vec<_> = runtimes(&qin)
        .iter()
        .map(|r| views::runtime(r, &project, at))
        .collect();
    Ok(reply(StatusCode::OK, json!({"runtimes": items})))
}

fn find(qin: &Qin, id: &str) -> Result<RuntimeInfo> {
    runtimes(qin)
        .into_iter()
        .find(|r| views::runtime_uuid(r.id) == id || r.id.as_str() == id)
        .ok_or_else(|| QinError::not_found("Runtime", id))
}

pub async fn get(qin: Qin, Path(id): Path<String>) -> Result<Response> {
    let runtime = find(&qin, &id)?;
    let (project, at) = project(&qin).await?;
    Ok(reply(
        StatusCode::OK,
        views::runtime(&runtime, &project, at),
    ))
}

pub async fn create(qin: Qin, body: Bytes) -> Result<Response> {
    let body = json_body(&body)?;
    let Some(image) = field::text(&body, "image")?.filter(|i| !i.is_empty()) else {
        return Err(QinError::input("Invalid input for `image`: it is required"));
    };
    let names: Vec<&str> = runtimes(&qin).iter().map(|r| r.id.as_str()).collect();
    let runtime = find(&qin, &image).map_err(|_| {
        QinError::input(format!(
            "Invalid input for `image`: `{image}` is not a Gust runtime; use one of: {}",
            names.join(", ")
        ))
    })?;
    let (project, at) = project(&qin).await?;
    Ok(reply(
        StatusCode::CREATED,
        views::runtime(&runtime, &project, at),
    ))
}

pub async fn update(qin: Qin, Path(id): Path<String>) -> Result<Response> {
    find(&qin, &id)?;
    Err(QinError::not_allowed(format!(
        "Runtime {id} is built into Gust and cannot be changed"
    )))
}

pub async fn delete(qin: Qin, Path(id): Path<String>) -> Result<Response> {
    find(&qin, &id)?;
    Err(QinError::not_allowed(format!(
        "Runtime {id} is built into Gust and cannot be deleted"
    )))
}
