//! `/edge_applications` and their `functions_instances`: the native edge applications and
//! function instances, with Azion's field names (`edge_function_id`: the function's serial).

use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::response::Response;
use gust_core::{
    EdgeApplication, EdgeApplicationSpec, FunctionInstance, FunctionInstanceSpec, FunctionRef,
};
use http::StatusCode;
use serde_json::{Value, json};

use super::{Az, AzError, Body, ListParams, Result, deleted, listed, one, page_of, path_id};
use crate::common::every;

/// The module flags, as Azion and the native model both name them.
const FLAGS: [&str; 14] = [
    "application_acceleration",
    "caching",
    "debug_rules",
    "device_detection",
    "edge_firewall",
    "edge_functions",
    "http3",
    "image_optimization",
    "l2_caching",
    "load_balancer",
    "raw_logs",
    "web_application_firewall",
    "websocket",
    "active",
];

/// Read an application's body; `full` (create, PUT) requires `name`, and a PUT sets every flag
/// it leaves out back to its default. Main settings Gust has no use for (delivery protocol,
/// ports, TLS, origins: the listener's concern on Gust) are ignored, as unknown fields are.
fn application_spec(bytes: &[u8], full: bool) -> Result<EdgeApplicationSpec> {
    let mut body = Body::parse(bytes)?;
    let name = body.text("name", full);
    let mut flags: Vec<(&str, Option<bool>)> = Vec::new();
    for flag in FLAGS {
        let value = body.boolean(flag, false);
        let defaulted = match value {
            None if full => Some(flag == "active"),
            other => other,
        };
        flags.push((flag, defaulted));
    }
    body.finish()?;
    let flag = |name: &str| flags.iter().find(|(n, _)| *n == name).and_then(|(_, v)| *v);
    Ok(EdgeApplicationSpec {
        name,
        active: flag("active"),
        edge_functions: flag("edge_functions"),
        application_acceleration: flag("application_acceleration"),
        caching: flag("caching"),
        image_optimization: flag("image_optimization"),
        load_balancer: flag("load_balancer"),
        raw_logs: flag("raw_logs"),
        web_application_firewall: flag("web_application_firewall"),
        debug_rules: flag("debug_rules"),
        device_detection: flag("device_detection"),
        edge_firewall: flag("edge_firewall"),
        http3: flag("http3"),
        l2_caching: flag("l2_caching"),
        websocket: flag("websocket"),
    })
}

pub async fn create(az: Az, body: Bytes) -> Result<Response> {
    let spec = application_spec(&body, true)?;
    let app = az
        .engine
        .create_edge_application(&az.caller, &az.ns, spec)
        .await?;
    Ok(one(StatusCode::CREATED, application_view(&app)))
}

pub async fn get(az: Az, Path(id): Path<String>) -> Result<Response> {
    let app = application(&az, &id).await?;
    Ok(one(StatusCode::OK, application_view(&app)))
}

pub async fn list(az: Az, Query(params): Query<ListParams>) -> Result<Response> {
    let a = &az;
    let apps = every(|query| async move {
        a.engine
            .list_edge_applications(&a.caller, Some(&a.ns), &query)
            .await
    })
    .await?;
    let views = apps.iter().map(application_view).collect();
    let (items, envelope) = page_of(
        &az.engine,
        "/edge_applications",
        &params,
        views,
        &["id", "name", "active", "edge_functions"],
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
    let app = application(&az, id).await?;
    let spec = application_spec(bytes, full)?;
    let app = az
        .engine
        .update_edge_application(&az.caller, app.id, spec)
        .await?;
    Ok(one(StatusCode::OK, application_view(&app)))
}

/// 204; the application's instances and rules go with it, its domains stay, bound to none.
pub async fn delete(az: Az, Path(id): Path<String>) -> Result<Response> {
    let app = application(&az, &id).await?;
    az.engine
        .delete_edge_application(&az.caller, app.id)
        .await?;
    Ok(deleted())
}

/// The application with this path id in the caller's namespace; 404 otherwise.
pub async fn application(az: &Az, id: &str) -> Result<EdgeApplication> {
    let app = az
        .engine
        .get_edge_application(&az.caller, path_id(id)?)
        .await
        .map_err(AzError::from)?;
    if app.namespace_id != az.ns && app.namespace != az.ns {
        return Err(AzError::not_found());
    }
    Ok(app)
}

fn application_view(app: &EdgeApplication) -> Value {
    json!({
        "id": app.id,
        "name": app.name,
        "active": app.active,
        "application_acceleration": app.application_acceleration,
        "caching": app.caching,
        "debug_rules": app.debug_rules,
        "device_detection": app.device_detection,
        "edge_firewall": app.edge_firewall,
        "edge_functions": app.edge_functions,
        "http3": app.http3,
        "image_optimization": app.image_optimization,
        "l2_caching": app.l2_caching,
        "load_balancer": app.load_balancer,
        "raw_logs": app.raw_logs,
        "web_application_firewall": app.web_application_firewall,
        "websocket": app.websocket,
    })
}

/// Native instance fields in Azion's terms.
const INSTANCE_NAMES: &[(&str, &str)] = &[("function", "edge_function_id")];

/// Read an instance's body; `full` (create, PUT) requires `name`, `edge_function_id` and
/// `args`. The function must be an edge function of the namespace (400 naming
/// `edge_function_id` otherwise); `args` any JSON, or JSON text.
async fn instance_spec(az: &Az, bytes: &[u8], full: bool) -> Result<FunctionInstanceSpec> {
    let mut body = Body::parse(bytes)?;
    let name = body.text("name", full);
    let serial = body.id("edge_function_id", full);
    let args = body.json("args", full);
    body.finish()?;
    if let Some(serial) = serial
        && super::functions::edge_function(az, serial).await.is_err()
    {
        return Err(AzError::field(
            "edge_function_id",
            format!("Invalid pk \"{serial}\" - no edge function {serial} in this account."),
        ));
    }
    Ok(FunctionInstanceSpec {
        name,
        function: serial.map(FunctionRef::Serial),
        args,
    })
}

pub async fn create_instance(az: Az, Path(app): Path<String>, body: Bytes) -> Result<Response> {
    let app = application(&az, &app).await?;
    let spec = instance_spec(&az, &body, true).await?;
    let instance = az
        .engine
        .create_edge_instance(&az.caller, app.id, spec)
        .await
        .map_err(|e| AzError::of(e, INSTANCE_NAMES))?;
    Ok(one(StatusCode::CREATED, instance_view(&instance)))
}

pub async fn get_instance(az: Az, Path((app, id)): Path<(String, String)>) -> Result<Response> {
    let app = application(&az, &app).await?;
    let instance = az
        .engine
        .get_edge_instance(&az.caller, app.id, path_id(&id)?)
        .await?;
    Ok(one(StatusCode::OK, instance_view(&instance)))
}

pub async fn list_instances(
    az: Az,
    Path(app): Path<String>,
    Query(params): Query<ListParams>,
) -> Result<Response> {
    let app = application(&az, &app).await?;
    let a = &az;
    let instances = every(|query| async move {
        a.engine
            .list_edge_instances(&a.caller, app.id, &query)
            .await
    })
    .await?;
    let views = instances.iter().map(instance_view).collect();
    let (items, envelope) = page_of(
        &az.engine,
        &format!("/edge_applications/{}/functions_instances", app.id),
        &params,
        views,
        &["id", "name", "edge_function_id"],
    )?;
    Ok(listed(envelope, items))
}

pub async fn put_instance(
    az: Az,
    Path((app, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response> {
    update_instance(az, &app, &id, &body, true).await
}

pub async fn patch_instance(
    az: Az,
    Path((app, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response> {
    update_instance(az, &app, &id, &body, false).await
}

async fn update_instance(
    az: Az,
    app: &str,
    id: &str,
    bytes: &[u8],
    full: bool,
) -> Result<Response> {
    let app = application(&az, app).await?;
    let id = path_id(id)?;
    // An unknown instance is a 404 before its body is judged.
    az.engine.get_edge_instance(&az.caller, app.id, id).await?;
    let spec = instance_spec(&az, bytes, full).await?;
    let instance = az
        .engine
        .update_edge_instance(&az.caller, app.id, id, spec)
        .await
        .map_err(|e| AzError::of(e, INSTANCE_NAMES))?;
    Ok(one(StatusCode::OK, instance_view(&instance)))
}

/// 204; refused (409) while a rule runs the instance, as upstream.
pub async fn delete_instance(az: Az, Path((app, id)): Path<(String, String)>) -> Result<Response> {
    let app = application(&az, &app).await?;
    az.engine
        .delete_edge_instance(&az.caller, app.id, path_id(&id)?)
        .await?;
    Ok(deleted())
}

fn instance_view(instance: &FunctionInstance) -> Value {
    json!({
        "id": instance.id,
        "edge_function_id": instance.function_serial,
        "name": instance.name,
        "args": instance.args,
    })
}

/// Property tests: any application body is an application or a 400 naming its fields.
#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;
    use crate::common::testing::{body, config};

    proptest! {
        #![proptest_config(config(256))]

        #[test]
        fn any_application_body_is_an_application_or_names_its_fields(
            bytes in body(&["name", "active", "caching", "edge_functions", "http3", "delivery_protocol"]),
            full in any::<bool>(),
        ) {
            match application_spec(&bytes, full) {
                Err(error) => prop_assert_eq!(error.status, StatusCode::BAD_REQUEST),
                Ok(spec) => {
                    if let Err(error) = spec.into_application("ns", "default") {
                        prop_assert!(!error.field.is_empty());
                    }
                }
            }
        }
    }
}
