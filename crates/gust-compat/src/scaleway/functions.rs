//! Functions, their code (upload URL, deploy, download URL) and runtimes.

use std::collections::HashMap;

use axum::extract::{Path, Query as QueryString, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use gust_core::{
    DeploymentStatus, Function, FunctionSpec, FunctionStatus, HttpOption, ListQuery, Namespace,
    Order, Privacy,
};
use gust_engine::invoke::Transport;
use http::{HeaderMap, StatusCode, header};
use serde_json::json;

use super::models::{self, FunctionState, PRIVATE_NETWORK, REGION, SANDBOX};
use super::namespaces::in_scope;
use super::params::{Body, ORDERS_BY_NAME, Query, merge_secrets};
use super::{Result, SIGNED_DOWNLOAD, SIGNED_UPLOAD, Scw, ScwError, reply};
use crate::SCALEWAY_PREFIX;

/// Scaleway's defaults where Gust's differ: 300 s, 256 MB, at most 5 instances, public.
const TIMEOUT_DEFAULT: u32 = 300;
const MEMORY_DEFAULT: u32 = 256;
const MAX_SCALE_DEFAULT: u32 = 5;

/// Every function of a namespace.
pub async fn all_in(scw: &Scw, namespace_id: &str) -> Result<Vec<Function>> {
    crate::common::every(|query| async move {
        scw.engine
            .list_functions(&scw.caller, namespace_id, &query, &Default::default())
            .await
            .map_err(|e| ScwError::about(e, "namespace", namespace_id))
    })
    .await
}

/// The function `id`, with its namespace.
pub async fn find(scw: &Scw, id: &str) -> Result<(Namespace, Function)> {
    scw.engine
        .function_by_id(&scw.caller, id)
        .await
        .map_err(|e| ScwError::about(e, "function", id))
}

/// The function's newest deployment, if it has one.
async fn latest_deployment(scw: &Scw, f: &Function) -> Result<Option<gust_core::Deployment>> {
    let query = ListQuery {
        limit: Some(1),
        order: Some(Order::Desc),
        ..ListQuery::default()
    };
    let page = scw
        .engine
        .list_deployments(&scw.caller, &f.namespace_id, &f.id, &query)
        .await?;
    Ok(page.items.into_iter().next())
}

/// Where a function stands for Scaleway: `pending` while a build that will serve runs (a
/// redeploy included), `error` when that build failed, else its native status.
async fn state(scw: &Scw, f: &Function) -> Result<FunctionState> {
    let latest = latest_deployment(scw, f).await?;
    let meant_to_serve = |d: &gust_core::Deployment| {
        f.active_deployment.as_deref() != Some(d.id.as_str())
            && (d.activate_when_ready || f.active_deployment.is_none())
    };
    if let Some(d) = latest.filter(meant_to_serve) {
        match d.status {
            DeploymentStatus::Waiting | DeploymentStatus::Building => {
                return Ok(FunctionState {
                    status: "pending",
                    error_message: None,
                });
            }
            DeploymentStatus::Failed => {
                return Ok(FunctionState {
                    status: "error",
                    error_message: d.error_message.or_else(|| Some("the build failed".into())),
                });
            }
            _ => {}
        }
    }
    Ok(FunctionState {
        status: match f.status {
            FunctionStatus::Created => "created",
            FunctionStatus::Building => "pending",
            FunctionStatus::Ready => "ready",
            FunctionStatus::Error => "error",
        },
        error_message: f.error_message.clone(),
    })
}

async fn view(scw: &Scw, f: &Function) -> Result<serde_json::Value> {
    Ok(models::function(f, state(scw, f).await?, &scw.region))
}

pub async fn list(
    scw: Scw,
    QueryString(query): QueryString<HashMap<String, String>>,
) -> Result<Response> {
    let query = Query::new(query);
    let paging = query.paging(&ORDERS_BY_NAME)?;
    let namespaces = match query.get("namespace_id") {
        Some(id) => vec![super::namespaces::find(&scw, id).await?],
        None => super::namespaces::all(&scw)
            .await?
            .into_iter()
            .filter(|ns| in_scope(&ns.labels, &scw.region, query.get("project_id")))
            .collect(),
    };
    let mut functions = Vec::new();
    for ns in &namespaces {
        functions.extend(all_in(&scw, &ns.id).await?);
    }
    let name = query.get("name");
    functions.retain(|f| {
        name.is_none_or(|n| f.name.contains(n))
            && f.labels.get(REGION).is_none_or(|r| *r == scw.region)
    });
    let (page, total) = paging.cut(
        functions,
        |f| models::time(&f.created_at),
        |f| f.name.clone(),
    );
    let mut items = Vec::with_capacity(page.len());
    for f in &page {
        items.push(view(&scw, f).await?);
    }
    Ok(reply(models::list("functions", total, items)))
}

/// The settings a create or update sends, as a native spec (`current`: the function an update
/// changes, whose secrets the sent ones are merged into).
fn spec_of(body: &Body, current: Option<&Function>) -> Result<FunctionSpec> {
    let runtime = match body.string("runtime")? {
        None => None,
        Some(name) => Some(
            models::native_runtime(&name)
                .ok_or_else(|| {
                    let offered: Vec<&str> = models::RUNTIMES.iter().map(|r| r.0).collect();
                    ScwError::invalid(
                        "runtime",
                        "constraint",
                        format!(
                            "`{name}` is not a runtime of this server; it offers {}",
                            offered.join(", ")
                        ),
                    )
                })?
                .to_string(),
        ),
    };
    let secrets = match body.secrets("secret_environment_variables")? {
        None => None,
        Some(changes) => {
            let mut secrets = current.map(|f| f.secrets.clone()).unwrap_or_default();
            merge_secrets(&mut secrets, changes);
            Some(secrets)
        }
    };
    let scale = |name: &str| -> Result<Option<u32>> {
        Ok(body
            .integer(name, 0, i64::from(u32::MAX))?
            .map(|n| n as u32))
    };
    let mut labels = current.map(|f| f.labels.clone()).unwrap_or_default();
    if let Some(sandbox) = body.choice("sandbox", &["v1", "v2"])? {
        labels.insert(SANDBOX.into(), sandbox);
    }
    if let Some(network) = body.string("private_network_id")? {
        labels.insert(PRIVATE_NETWORK.into(), network);
    }
    Ok(FunctionSpec {
        runtime,
        handler: body.string("handler")?,
        description: body.string("description")?,
        env: body.map("environment_variables")?,
        secrets,
        memory_mb: body
            .integer("memory_limit", 0, i64::from(u32::MAX))?
            .map(|n| n as u32),
        timeout_s: body.duration_s("timeout")?,
        min_scale: scale("min_scale")?,
        max_scale: scale("max_scale")?,
        privacy: body.choice("privacy", &["public", "private"])?.map(|p| {
            if p == "public" {
                Privacy::Public
            } else {
                Privacy::Private
            }
        }),
        http_option: body
            .choice("http_option", &["enabled", "redirected"])?
            .map(|h| {
                if h == "enabled" {
                    HttpOption::Enabled
                } else {
                    HttpOption::Redirected
                }
            }),
        tags: body.strings("tags")?,
        labels: Some(labels),
        ..FunctionSpec::default()
    })
}

pub async fn create(scw: Scw, body: Bytes) -> Result<Response> {
    let body = Body::parse(&body)?;
    let namespace_id = Body::required("namespace_id", body.string("namespace_id")?)?;
    let ns = super::namespaces::find(&scw, &namespace_id).await?;
    let mut spec = spec_of(&body, None)?;
    let name = body
        .string("name")?
        .unwrap_or_else(|| format!("fn-{}", &gust_core::new_id()[24..]));
    spec.name = Some(name.clone());
    spec.handler = spec
        .handler
        .or_else(|| Some(models::DEFAULT_HANDLER.into()));
    spec.timeout_s = spec.timeout_s.or(Some(TIMEOUT_DEFAULT));
    spec.memory_mb = spec.memory_mb.or(Some(MEMORY_DEFAULT));
    spec.privacy = spec.privacy.or(Some(Privacy::Public));
    if spec.max_scale.is_none() {
        spec.max_scale = Some(MAX_SCALE_DEFAULT.max(spec.min_scale.unwrap_or(0)));
    }
    if let Some(labels) = spec.labels.as_mut() {
        labels.insert(REGION.into(), scw.region.clone());
    }
    let function = scw
        .engine
        .create_function(&scw.caller, &ns.id, spec)
        .await
        .map_err(|e| ScwError::about(e, "function", &name))?;
    Ok(reply(view(&scw, &function).await?))
}

pub async fn get(scw: Scw, Path((_, id)): Path<(String, String)>) -> Result<Response> {
    let (_, function) = find(&scw, &id).await?;
    Ok(reply(view(&scw, &function).await?))
}

/// Changes settings; `redeploy: true` (what the CLI sends after an upload) then builds and
/// activates the newest code, as does an update that leaves `redeploy` out while an upload
/// awaits its deploy.
pub async fn update(
    scw: Scw,
    Path((_, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response> {
    let body = Body::parse(&body)?;
    let (ns, current) = find(&scw, &id).await?;
    let patch = spec_of(&body, Some(&current))?;
    let redeploy = body.boolean("redeploy")?;
    let function = scw
        .engine
        .update_function(&scw.caller, &ns.id, &current.id, patch)
        .await
        .map_err(|e| ScwError::about(e, "function", &id))?;
    // With no code at all there is nothing to redeploy, as on Scaleway.
    let awaits = upload_awaits(&scw, &function).await?;
    if redeploy.unwrap_or(awaits) && (awaits || function.active_deployment.is_some()) {
        scw.engine
            .deploy_function(&scw.caller, &ns.id, &function.id)
            .await
            .map_err(|e| ScwError::about(e, "function", &id))?;
    }
    let (_, function) = find(&scw, &id).await?;
    Ok(reply(view(&scw, &function).await?))
}

/// Whether code was uploaded that no deploy has built yet.
async fn upload_awaits(scw: &Scw, f: &Function) -> Result<bool> {
    Ok(latest_deployment(scw, f)
        .await?
        .is_some_and(|d| d.status == DeploymentStatus::Uploaded))
}

pub async fn delete(scw: Scw, Path((_, id)): Path<(String, String)>) -> Result<Response> {
    let (ns, function) = find(&scw, &id).await?;
    let mut body = view(&scw, &function).await?;
    scw.engine
        .delete_function(&scw.caller, &ns.id, &function.id)
        .await
        .map_err(|e| ScwError::about(e, "function", &id))?;
    body["status"] = "deleting".into();
    Ok(reply(body))
}

/// Build and activate the uploaded code (or rebuild the current code).
pub async fn deploy(scw: Scw, Path((_, id)): Path<(String, String)>) -> Result<Response> {
    let (ns, function) = find(&scw, &id).await?;
    scw.engine
        .deploy_function(&scw.caller, &ns.id, &function.id)
        .await
        .map_err(|e| ScwError::about(e, "function", &id))?;
    let (_, function) = find(&scw, &id).await?;
    Ok(reply(view(&scw, &function).await?))
}

/// The URL the client reached this server at, for the URLs it is handed.
fn origin(headers: &HeaderMap, transport: Option<Transport>) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if gust_engine::invoke::is_https(headers, transport) {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}

pub async fn upload_url(
    scw: Scw,
    Path((_, id)): Path<(String, String)>,
    QueryString(query): QueryString<HashMap<String, String>>,
    headers: HeaderMap,
    transport: Option<axum::Extension<Transport>>,
) -> Result<Response> {
    let query = Query::new(query);
    let length = Body::required("content_length", query.get("content_length"))?;
    let length: u64 = length.parse().map_err(|_| {
        ScwError::invalid(
            "content_length",
            "format",
            format!("`{length}` is not a byte count"),
        )
    })?;
    let (ns, function) = find(&scw, &id).await?;
    let signed = scw
        .engine
        .create_upload_url(&scw.caller, &ns.id, &function.id, length)
        .await
        .map_err(|e| ScwError::about(e, "function", &id))?;
    let url = format!(
        "{}{SCALEWAY_PREFIX}{SIGNED_UPLOAD}/{}",
        origin(&headers, transport.map(|t| t.0)),
        signed.token
    );
    Ok(reply(json!({
        "url": url,
        "headers": {
            "content-length": [length.to_string()],
            "content-type": ["application/octet-stream"],
        },
    })))
}

/// The target of an upload URL: the signature is the credential.
pub async fn put_upload(
    State(engine): State<std::sync::Arc<gust_engine::Engine>>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    engine
        .put_signed_upload(&token, declared, body)
        .await
        .map_err(|e| match e.status {
            StatusCode::FORBIDDEN => ScwError::permissions_denied("function", "upload", &e.message),
            _ => ScwError::about(e, "function", ""),
        })?;
    Ok(StatusCode::OK.into_response())
}

pub async fn download_url(
    scw: Scw,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    transport: Option<axum::Extension<Transport>>,
) -> Result<Response> {
    let (ns, function) = find(&scw, &id).await?;
    let signed = scw
        .engine
        .create_download_url(&scw.caller, &ns.id, &function.id, None)
        .await
        .map_err(|e| ScwError::about(e, "function", &id))?;
    let url = format!(
        "{}{SCALEWAY_PREFIX}{SIGNED_DOWNLOAD}/{}",
        origin(&headers, transport.map(|t| t.0)),
        signed.token
    );
    Ok(reply(json!({ "url": url })))
}

/// The target of a download URL: exactly the bytes uploaded.
pub async fn get_download(
    State(engine): State<std::sync::Arc<gust_engine::Engine>>,
    Path(token): Path<String>,
) -> Result<Response> {
    let (deployment, path) =
        engine
            .read_signed_download(&token)
            .await
            .map_err(|e| match e.status {
                StatusCode::FORBIDDEN => {
                    ScwError::permissions_denied("function", "download", &e.message)
                }
                _ => ScwError::about(e, "function", ""),
            })?;
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| ScwError::from(gust_engine::Error::internal(e)))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, deployment.size.to_string()),
        ],
        axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(file)),
    )
        .into_response())
}

pub async fn runtimes(scw: Scw) -> Result<Response> {
    let available = scw.engine.runtimes();
    let runtimes: Vec<_> = models::RUNTIMES
        .iter()
        .filter(|(_, native, ..)| {
            available
                .iter()
                .any(|r| r.id.as_str() == *native && r.available)
        })
        .map(|(name, _, language, version, extension)| {
            models::runtime(name, language, version, extension)
        })
        .collect();
    Ok(reply(models::list(
        "runtimes",
        runtimes.len() as u64,
        runtimes,
    )))
}
