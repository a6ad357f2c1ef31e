//! Namespaces.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Path, Query as QueryString};
use axum::response::Response;
use bytes::Bytes;
use gust_core::{Namespace, NamespaceSpec};

use super::models::{self, ORGANIZATION, PROJECT, REGION};
use super::params::{Body, ORDERS_BY_NAME, Query, merge_secrets};
use super::{Result, Scw, ScwError, reply};

/// Every namespace the caller sees.
pub async fn all(scw: &Scw) -> Result<Vec<Namespace>> {
    crate::common::every(|query| async move {
        Result::<_, ScwError>::Ok(scw.engine.list_namespaces(&scw.caller, &query).await?)
    })
    .await
}

/// Whether a resource with these labels belongs in a list for this region and project: it
/// names them, or names none.
pub fn in_scope(labels: &BTreeMap<String, String>, region: &str, project: Option<&str>) -> bool {
    labels.get(REGION).is_none_or(|r| r == region)
        && project.is_none_or(|p| labels.get(PROJECT).is_none_or(|own| own == p))
}

pub async fn list(
    scw: Scw,
    QueryString(query): QueryString<HashMap<String, String>>,
) -> Result<Response> {
    let query = Query::new(query);
    let paging = query.paging(&ORDERS_BY_NAME)?;
    let name = query.get("name");
    let project = query.get("project_id");
    let namespaces: Vec<Namespace> = all(&scw)
        .await?
        .into_iter()
        .filter(|ns| in_scope(&ns.labels, &scw.region, project))
        .filter(|ns| name.is_none_or(|n| ns.name.contains(n)))
        .collect();
    let (page, total) = paging.cut(
        namespaces,
        |ns| models::time(&ns.created_at),
        |ns| ns.name.clone(),
    );
    let items = page
        .iter()
        .map(|ns| models::namespace(ns, &scw.region))
        .collect();
    Ok(reply(models::list("namespaces", total, items)))
}

pub async fn create(scw: Scw, body: Bytes) -> Result<Response> {
    let body = Body::parse(&body)?;
    let name = body
        .string("name")?
        .unwrap_or_else(|| format!("ns-{}", &gust_core::new_id()[24..]));
    let mut secrets = BTreeMap::new();
    if let Some(changes) = body.secrets("secret_environment_variables")? {
        merge_secrets(&mut secrets, changes);
    }
    let mut labels = BTreeMap::from([(REGION.to_string(), scw.region.clone())]);
    for (key, label) in [("project_id", PROJECT), ("organization_id", ORGANIZATION)] {
        if let Some(value) = body.string(key)? {
            labels.insert(label.to_string(), value);
        }
    }
    let spec = NamespaceSpec {
        name: Some(name.clone()),
        description: body.string("description")?,
        env: body.map("environment_variables")?,
        secrets: Some(secrets),
        tags: body.strings("tags")?,
        labels: Some(labels),
    };
    let ns = scw
        .engine
        .create_namespace(&scw.caller, spec)
        .await
        .map_err(|e| ScwError::about(e, "namespace", &name))?;
    Ok(reply(models::namespace(&ns, &scw.region)))
}

pub async fn get(scw: Scw, Path((_, id)): Path<(String, String)>) -> Result<Response> {
    let ns = find(&scw, &id).await?;
    Ok(reply(models::namespace(&ns, &scw.region)))
}

/// The namespace `id` (an id: names are not Scaleway's keys).
pub async fn find(scw: &Scw, id: &str) -> Result<Namespace> {
    scw.engine
        .get_namespace(&scw.caller, id)
        .await
        .map_err(|e| ScwError::about(e, "namespace", id))
}

pub async fn update(
    scw: Scw,
    Path((_, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response> {
    let body = Body::parse(&body)?;
    let current = find(&scw, &id).await?;
    let secrets = match body.secrets("secret_environment_variables")? {
        None => None,
        Some(changes) => {
            let mut secrets = current.secrets.clone();
            merge_secrets(&mut secrets, changes);
            Some(secrets)
        }
    };
    let patch = NamespaceSpec {
        description: body.string("description")?,
        env: body.map("environment_variables")?,
        secrets,
        tags: body.strings("tags")?,
        ..NamespaceSpec::default()
    };
    let ns = scw
        .engine
        .update_namespace(&scw.caller, &current.id, patch)
        .await
        .map_err(|e| ScwError::about(e, "namespace", &id))?;
    Ok(reply(models::namespace(&ns, &scw.region)))
}

/// Scaleway deletes a namespace with its functions; the answer is the namespace, `deleting`.
pub async fn delete(scw: Scw, Path((_, id)): Path<(String, String)>) -> Result<Response> {
    let ns = find(&scw, &id).await?;
    for function in super::functions::all_in(&scw, &ns.id).await? {
        scw.engine
            .delete_function(&scw.caller, &ns.id, &function.id)
            .await
            .map_err(|e| ScwError::about(e, "function", &function.id))?;
    }
    scw.engine
        .delete_namespace(&scw.caller, &ns.id)
        .await
        .map_err(|e| ScwError::about(e, "namespace", &id))?;
    let mut body = models::namespace(&ns, &scw.region);
    body["status"] = "deleting".into();
    Ok(reply(body))
}
