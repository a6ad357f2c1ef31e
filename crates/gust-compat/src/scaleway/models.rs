//! Gust's resources in Scaleway's JSON shapes. Every field the seed lists is present, the
//! nullable ones as `null`, since the SDKs read them all.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use gust_core::{Function, FunctionTrigger, HttpOption, Namespace, Privacy, Token};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Labels the dialect keeps its clients' values in.
pub const REGION: &str = "scaleway.region";
pub const PROJECT: &str = "scaleway.project_id";
pub const ORGANIZATION: &str = "scaleway.organization_id";
pub const SANDBOX: &str = "scaleway.sandbox";
pub const PRIVATE_NETWORK: &str = "scaleway.private_network_id";

/// What a resource created without a project belongs to.
pub const NO_PROJECT: &str = "00000000-0000-0000-0000-000000000000";

/// Scaleway's runtime names for Gust's, with the language, version, file extension and
/// default handler of each.
pub const RUNTIMES: [(&str, &str, &str, &str, &str); 2] = [
    ("python311", "python3.11", "Python", "3.11", "py"),
    ("node20", "node20", "Node", "20", "js"),
];

pub const DEFAULT_HANDLER: &str = "handler.handle";

/// The Gust runtime a Scaleway runtime name stands for.
pub fn native_runtime(name: &str) -> Option<&'static str> {
    RUNTIMES.iter().find(|r| r.0 == name).map(|r| r.1)
}

/// The Scaleway name of a Gust runtime.
pub fn scaleway_runtime(native: &str) -> &str {
    RUNTIMES
        .iter()
        .find(|r| r.1 == native)
        .map_or(native, |r| r.0)
}

pub fn time(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Secrets as Scaleway answers them: each key with a salted hash of its value, never the value.
pub fn hashed_secrets(owner_id: &str, secrets: &BTreeMap<String, String>) -> Value {
    secrets
        .iter()
        .map(|(key, value)| {
            let mut hash = Sha256::new();
            for part in [owner_id, key, value] {
                hash.update(part.as_bytes());
                hash.update([0]);
            }
            json!({"key": key, "hashed_value": format!("$sha256${}", hex::encode(hash.finalize()))})
        })
        .collect()
}

fn label<'a>(labels: &'a BTreeMap<String, String>, key: &str, default: &'a str) -> &'a str {
    labels.get(key).map_or(default, String::as_str)
}

pub fn namespace(ns: &Namespace, region: &str) -> Value {
    json!({
        "id": ns.id,
        "name": ns.name,
        "environment_variables": ns.env,
        "organization_id": label(&ns.labels, ORGANIZATION, NO_PROJECT),
        "project_id": label(&ns.labels, PROJECT, NO_PROJECT),
        "status": "ready",
        "registry_namespace_id": "",
        "error_message": null,
        "registry_endpoint": "",
        "description": ns.description,
        "secret_environment_variables": hashed_secrets(&ns.id, &ns.secrets),
        "region": label(&ns.labels, REGION, region),
        "tags": ns.tags,
        "created_at": time(&ns.created_at),
        "updated_at": time(&ns.updated_at),
        "vpc_integration_activated": false,
    })
}

/// How a function stands, in Scaleway's terms, with the message that goes with it.
pub struct FunctionState {
    pub status: &'static str,
    pub error_message: Option<String>,
}

pub fn function(f: &Function, state: FunctionState, region: &str) -> Value {
    json!({
        "id": f.id,
        "name": f.name,
        "namespace_id": f.namespace_id,
        "status": state.status,
        "environment_variables": f.env,
        "min_scale": f.min_scale,
        "max_scale": f.max_scale,
        "runtime": scaleway_runtime(f.runtime.as_str()),
        "memory_limit": f.memory_mb,
        // Scaleway gives 140 mVCPU per 256 MB.
        "cpu_limit": u64::from(f.memory_mb) * 140 / 256,
        "timeout": format!("{}s", f.timeout_s),
        "handler": f.handler.clone().unwrap_or_else(|| DEFAULT_HANDLER.into()),
        "error_message": state.error_message,
        "build_message": f.build_message,
        "privacy": match f.privacy { Privacy::Public => "public", Privacy::Private => "private" },
        "description": f.description,
        "domain_name": f.domain_name,
        "secret_environment_variables": hashed_secrets(&f.id, &f.secrets),
        "http_option": match f.http_option { HttpOption::Enabled => "enabled", HttpOption::Redirected => "redirected" },
        "runtime_message": "",
        "sandbox": label(&f.labels, SANDBOX, "v2"),
        "created_at": time(&f.created_at),
        "updated_at": time(&f.updated_at),
        "ready_at": f.ready_at.as_ref().map(time),
        "tags": f.tags,
        "private_network_id": f.labels.get(PRIVATE_NETWORK),
        "region": label(&f.labels, REGION, region),
    })
}

pub fn cron(t: &FunctionTrigger) -> Value {
    let args = t
        .body
        .as_deref()
        .and_then(|b| serde_json::from_str::<Value>(b).ok())
        .unwrap_or_else(|| json!({}));
    json!({
        "id": t.id,
        "function_id": t.function_id,
        "schedule": t.schedule,
        "args": args,
        "status": "ready",
        "name": t.name,
    })
}

pub fn token(t: &Token) -> Value {
    json!({
        "id": t.id,
        "token": t.token,
        "function_id": t.function_id,
        "namespace_id": if t.function_id.is_some() { None } else { t.namespace_id.as_deref() },
        "public_key": "",
        "status": "ready",
        "description": t.description,
        "expires_at": t.expires_at.as_ref().map(time),
    })
}

pub fn trigger(t: &FunctionTrigger) -> Value {
    let queue = t.queue.as_ref();
    let setting = |key: &str| queue.and_then(|q| q.settings.get(key)).cloned();
    let (input_type, sqs, nats) = match queue.map(|q| q.protocol) {
        Some(gust_core::QueueProtocol::Nats) => (
            "scw_nats",
            Value::Null,
            json!({
                "subject": queue.map(|q| q.name.clone()),
                "mnq_nats_account_id": setting("mnq_nats_account_id"),
                "mnq_project_id": setting("mnq_project_id"),
                "mnq_region": setting("mnq_region"),
                "mnq_credential_id": setting("mnq_credential_id"),
            }),
        ),
        _ => (
            "scw_sqs",
            json!({
                "queue": queue.map(|q| q.name.clone()),
                "mnq_project_id": setting("mnq_project_id"),
                "mnq_region": setting("mnq_region"),
                "mnq_credential_id": setting("mnq_credential_id"),
            }),
            Value::Null,
        ),
    };
    json!({
        "id": t.id,
        "name": t.name,
        "description": t.description,
        "function_id": t.function_id,
        "input_type": input_type,
        // Queue triggers are only ever ready or in error (pausing is for crons).
        "status": if t.status == gust_core::TriggerStatus::Error { "error" } else { "ready" },
        "error_message": t.error_message,
        "scw_sqs_config": sqs,
        "scw_nats_config": nats,
    })
}

pub fn runtime(scaleway: &str, language: &str, version: &str, extension: &str) -> Value {
    json!({
        "name": scaleway,
        "language": language,
        "version": version,
        "default_handler": DEFAULT_HANDLER,
        "code_sample": "",
        "status": "available",
        "status_message": "",
        "extension": extension,
        "implementation": "",
        "logo_url": "",
    })
}

/// `{"<plural>": [...], "total_count": n}`.
pub fn list(plural: &str, total: u64, items: Vec<Value>) -> Value {
    let mut body = serde_json::Map::new();
    body.insert(plural.to_string(), Value::Array(items));
    body.insert("total_count".to_string(), total.into());
    Value::Object(body)
}
