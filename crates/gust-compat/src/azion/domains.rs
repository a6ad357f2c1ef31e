//! `/domains`: the native edge domains. `domain_name` is the generated host name that routes
//! to the application beside the cnames (so `cname_access_only` is always false on Gust).

use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::response::Response;
use gust_core::{EdgeDomain, EdgeDomainSpec};
use http::StatusCode;
use serde_json::{Value, json};

use super::{Az, AzError, Body, ListParams, Result, deleted, listed, one, page_of, path_id};
use crate::common::every;

/// Native domain fields in Azion's terms.
const NAMES: &[(&str, &str)] = &[("active", "is_active")];

/// Read a domain's body; `full` (create, PUT) requires `name` and `edge_application_id`, and
/// a PUT sets `cnames` and `is_active` back to their defaults when left out.
fn domain_spec(bytes: &[u8], full: bool) -> Result<EdgeDomainSpec> {
    let mut body = Body::parse(bytes)?;
    let name = body.text("name", full);
    let cnames = match body.raw("cnames") {
        None => full.then(Vec::new),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => Some(
            items
                .iter()
                .filter_map(|c| c.as_str().map(String::from))
                .collect(),
        ),
        Some(_) => {
            body.error("cnames", "Expected a list of host names.");
            None
        }
    };
    let application = match body.raw("edge_application_id") {
        Some(Value::Null) if !full => Some(None),
        _ => body.id("edge_application_id", full).map(Some),
    };
    if body.boolean("cname_access_only", false) == Some(true) {
        body.error(
            "cname_access_only",
            "Gust always routes the domain's generated name (`domain_name`) too.",
        );
    }
    let active = body.boolean("is_active", false).or(full.then_some(true));
    body.finish()?;
    Ok(EdgeDomainSpec {
        name,
        cnames,
        edge_application_id: application,
        active,
    })
}

pub async fn create(az: Az, body: Bytes) -> Result<Response> {
    let spec = domain_spec(&body, true)?;
    let domain = az
        .engine
        .create_edge_domain(&az.caller, &az.ns, spec)
        .await
        .map_err(|e| AzError::of(e, NAMES))?;
    Ok(one(StatusCode::CREATED, view(&domain)))
}

pub async fn get(az: Az, Path(id): Path<String>) -> Result<Response> {
    let domain = domain(&az, &id).await?;
    Ok(one(StatusCode::OK, view(&domain)))
}

pub async fn list(az: Az, Query(params): Query<ListParams>) -> Result<Response> {
    let a = &az;
    let domains = every(|query| async move {
        a.engine
            .list_edge_domains(&a.caller, Some(&a.ns), &query)
            .await
    })
    .await?;
    let views = domains.iter().map(view).collect();
    let (items, envelope) = page_of(
        &az.engine,
        "/domains",
        &params,
        views,
        &["id", "name", "edge_application_id", "is_active"],
    )?;
    Ok(listed(envelope, items))
}

pub async fn put(az: Az, Path(id): Path<String>, body: Bytes) -> Result<Response> {
    update(az, &id, &body, true).await
}

pub async fn patch(az: Az, Path(id): Path<String>, body: Bytes) -> Result<Response> {
    update(az, &id, &body, false).await
}

async fn update(az: Az, id: &str, bytes: &[u8], full: bool) -> Result<Response> {
    let domain = domain(&az, id).await?;
    let spec = domain_spec(bytes, full)?;
    let domain = az
        .engine
        .update_edge_domain(&az.caller, domain.id, spec)
        .await
        .map_err(|e| AzError::of(e, NAMES))?;
    Ok(one(StatusCode::OK, view(&domain)))
}

pub async fn delete(az: Az, Path(id): Path<String>) -> Result<Response> {
    let domain = domain(&az, &id).await?;
    az.engine.delete_edge_domain(&az.caller, domain.id).await?;
    Ok(deleted())
}

/// The domain with this path id in the caller's namespace; 404 otherwise.
async fn domain(az: &Az, id: &str) -> Result<EdgeDomain> {
    let domain = az.engine.get_edge_domain(&az.caller, path_id(id)?).await?;
    let namespace = az.engine.namespace_for(&az.caller, &az.ns).await?;
    if domain.namespace_id != namespace.id {
        return Err(AzError::not_found());
    }
    Ok(domain)
}

fn view(domain: &EdgeDomain) -> Value {
    json!({
        "id": domain.id,
        "name": domain.name,
        "cnames": domain.cnames,
        "cname_access_only": false,
        "digital_certificate_id": null,
        "edge_application_id": domain.edge_application_id,
        "is_active": domain.active,
        "domain_name": domain.domain_name,
    })
}

/// Property tests: any domain body is a domain or a 400 naming its fields.
#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;
    use crate::common::testing::{body, config};

    proptest! {
        #![proptest_config(config(256))]

        #[test]
        fn any_domain_body_is_a_domain_or_names_its_fields(
            bytes in body(&["name", "cnames", "edge_application_id", "is_active", "cname_access_only"]),
            full in any::<bool>(),
        ) {
            match domain_spec(&bytes, full) {
                Err(error) => prop_assert_eq!(error.status, StatusCode::BAD_REQUEST),
                Ok(spec) => {
                    if let Err(error) = spec.into_domain("ns") {
                        prop_assert!(!error.field.is_empty());
                    }
                }
            }
        }
    }
}
