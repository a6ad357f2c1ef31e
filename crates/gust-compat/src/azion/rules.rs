//! `/edge_applications/{app}/rules_engine/{phase}/rules`: the native rules of an application.
//! Gust's rules decide how a request is answered, so only the `request` phase holds any; the
//! `response` phase lists none and takes none.

use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::response::Response;
use gust_core::edge::{BehaviorSpec, CriterionSpec};
use gust_core::{EdgeRule, EdgeRuleSpec};
use http::StatusCode;
use serde_json::{Map, Value, json};

use super::applications::application;
use super::{Az, AzError, Body, ListParams, Result, deleted, listed, one, page_of, path_id};

/// Native rule fields in Azion's terms.
const NAMES: &[(&str, &str)] = &[("active", "is_active")];

/// The phases Azion has; `true` for the one Gust's rules run in.
fn phase(given: &str) -> Result<bool> {
    match given {
        "request" => Ok(true),
        "response" => Ok(false),
        _ => Err(AzError::not_found()),
    }
}

/// A criterion as clients send it, with the short names the library's examples use (`input`
/// for `variable`, `value` for `input_value`) taken as the long ones.
fn criterion(value: &Value) -> Value {
    let Value::Object(given) = value else {
        return value.clone();
    };
    let mut out = Map::new();
    for (key, v) in given {
        let key = match key.as_str() {
            "input" if !given.contains_key("variable") => "variable",
            "value" if !given.contains_key("input_value") => "input_value",
            other => other,
        };
        out.insert(key.to_string(), v.clone());
    }
    Value::Object(out)
}

fn criteria(body: &mut Body) -> Option<Vec<Vec<CriterionSpec>>> {
    let raw = body.raw("criteria")?.clone();
    let shaped = match &raw {
        Value::Array(groups) => Value::Array(
            groups
                .iter()
                .map(|g| match g {
                    Value::Array(items) => Value::Array(items.iter().map(criterion).collect()),
                    other => other.clone(),
                })
                .collect(),
        ),
        other => other.clone(),
    };
    match serde_json::from_value(shaped) {
        Ok(criteria) => Some(criteria),
        Err(e) => {
            body.error(
                "criteria",
                format!(
                    "must be a list of groups, each a list of {{variable, operator, conditional, \
                     input_value}}: {e}"
                ),
            );
            None
        }
    }
}

fn behaviors(body: &mut Body) -> Option<Vec<BehaviorSpec>> {
    let raw = body.raw("behaviors")?.clone();
    match serde_json::from_value(raw) {
        Ok(behaviors) => Some(behaviors),
        Err(e) => {
            body.error(
                "behaviors",
                format!("must be a list of {{name, target}}: {e}"),
            );
            None
        }
    }
}

/// Read a rule's body; `full` (create, PUT) requires `name`, `criteria` and `behaviors`, and
/// a PUT sets `is_active` and `description` back to their defaults when left out.
fn rule_spec(bytes: &[u8], full: bool) -> Result<EdgeRuleSpec> {
    let mut body = Body::parse(bytes)?;
    let name = body.text("name", full);
    if let Some(given) = body.text("phase", false)
        && given != "request"
    {
        body.error(
            "phase",
            format!("\"{given}\": rules on Gust run in the `request` phase only."),
        );
    }
    for required in ["criteria", "behaviors"] {
        if full && !body.has(required) {
            body.error(required, super::REQUIRED);
        }
    }
    let criteria = criteria(&mut body);
    let behaviors = behaviors(&mut body);
    let active = match body.has("is_active") {
        true => body.boolean("is_active", false),
        false => body.boolean("active", false),
    };
    let description = match body.raw("description") {
        Some(Value::String(text)) => Some(text.clone()),
        Some(Value::Null) | None => None,
        Some(_) => {
            body.error("description", "Not a valid string.");
            None
        }
    };
    let order = match body.raw("order") {
        None | Some(Value::Null) => None,
        Some(value) => match value.as_u64().and_then(|o| u32::try_from(o).ok()) {
            Some(order) => Some(order),
            None => {
                body.error("order", "A valid integer is required.");
                None
            }
        },
    };
    body.finish()?;
    Ok(EdgeRuleSpec {
        name,
        description: description.or_else(|| full.then(String::new)),
        phase: None,
        order,
        active: active.or(full.then_some(true)),
        criteria,
        behaviors,
    })
}

pub async fn create(
    az: Az,
    Path((app, phase_name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response> {
    let app = application(&az, &app).await?;
    if !phase(&phase_name)? {
        return Err(AzError::field(
            "phase",
            "Rules on Gust run in the `request` phase only.",
        ));
    }
    let spec = rule_spec(&body, true)?;
    let rule = az
        .engine
        .create_edge_rule(&az.caller, app.id, spec)
        .await
        .map_err(|e| AzError::of(e, NAMES))?;
    Ok(one(StatusCode::CREATED, view(&rule)))
}

pub async fn list(
    az: Az,
    Path((app, phase_name)): Path<(String, String)>,
    Query(params): Query<ListParams>,
) -> Result<Response> {
    let app = application(&az, &app).await?;
    let rules = if phase(&phase_name)? {
        az.engine.list_edge_rules(&az.caller, app.id).await?.items
    } else {
        Vec::new()
    };
    let views = rules.iter().map(view).collect();
    let (items, envelope) = page_of(
        &az.engine,
        &format!(
            "/edge_applications/{}/rules_engine/{phase_name}/rules",
            app.id
        ),
        &params,
        views,
        &["id", "name", "order", "is_active"],
    )?;
    Ok(listed(envelope, items))
}

/// The rule `id` of the application in the path's phase: 404 for any other.
async fn rule(az: &Az, app: &str, phase_name: &str, id: &str) -> Result<EdgeRule> {
    let app = application(az, app).await?;
    if !phase(phase_name)? {
        return Err(AzError::not_found());
    }
    Ok(az
        .engine
        .get_edge_rule(&az.caller, app.id, path_id(id)?)
        .await?)
}

pub async fn get(
    az: Az,
    Path((app, phase_name, id)): Path<(String, String, String)>,
) -> Result<Response> {
    let rule = rule(&az, &app, &phase_name, &id).await?;
    Ok(one(StatusCode::OK, view(&rule)))
}

pub async fn put(
    az: Az,
    Path((app, phase_name, id)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Response> {
    update(az, &app, &phase_name, &id, &body, true).await
}

pub async fn patch(
    az: Az,
    Path((app, phase_name, id)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Response> {
    update(az, &app, &phase_name, &id, &body, false).await
}

async fn update(
    az: Az,
    app: &str,
    phase_name: &str,
    id: &str,
    bytes: &[u8],
    full: bool,
) -> Result<Response> {
    let rule = rule(&az, app, phase_name, id).await?;
    let spec = rule_spec(bytes, full)?;
    let rule = az
        .engine
        .update_edge_rule(&az.caller, rule.edge_application_id, rule.id, spec)
        .await
        .map_err(|e| AzError::of(e, NAMES))?;
    Ok(one(StatusCode::OK, view(&rule)))
}

pub async fn delete(
    az: Az,
    Path((app, phase_name, id)): Path<(String, String, String)>,
) -> Result<Response> {
    let rule = rule(&az, &app, &phase_name, &id).await?;
    az.engine
        .delete_edge_rule(&az.caller, rule.edge_application_id, rule.id)
        .await?;
    Ok(deleted())
}

fn view(rule: &EdgeRule) -> Value {
    let behaviors: Vec<Value> = rule
        .behaviors
        .iter()
        .map(|b| {
            json!({
                "name": b.name,
                "target": b.target.clone().unwrap_or(Value::Null),
            })
        })
        .collect();
    json!({
        "id": rule.id,
        "name": rule.name,
        "phase": "request",
        "behaviors": behaviors,
        "criteria": rule.criteria,
        "is_active": rule.active,
        "order": rule.order,
        "description": rule.description,
    })
}

/// Property tests: any rule body is a rule or a 400 naming its fields, and a rule read from
/// a body validates (or names its field) without a panic.
#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;
    use crate::common::testing::{body, config};

    const FIELDS: &[&str] = &[
        "name",
        "phase",
        "criteria",
        "behaviors",
        "is_active",
        "active",
        "description",
        "order",
    ];

    proptest! {
        #![proptest_config(config(256))]

        #[test]
        fn any_rule_body_is_a_rule_or_names_its_fields(bytes in body(FIELDS), full in any::<bool>()) {
            match rule_spec(&bytes, full) {
                Err(error) => prop_assert_eq!(error.status, StatusCode::BAD_REQUEST),
                Ok(spec) => {
                    if let Err(error) = spec.into_rule(1, 0) {
                        prop_assert!(!error.field.is_empty());
                    }
                }
            }
        }

        #[test]
        fn criteria_in_short_names_read_as_the_long_ones(
            groups in proptest::collection::vec(
                proptest::collection::vec(crate::common::testing::object(&["input", "variable", "value", "input_value", "operator", "conditional"]), 0..3),
                0..3,
            ),
        ) {
            let body = json!({"name": "r", "criteria": groups, "behaviors": [{"name": "deliver"}]});
            let _ = rule_spec(body.to_string().as_bytes(), true).map(|spec| spec.into_rule(1, 0));
        }
    }
}
