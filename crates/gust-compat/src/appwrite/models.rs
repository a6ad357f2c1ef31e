//! Appwrite 0.15's models, rendered from Gust's records, with the 0.13/0.14 field names for
//! clients that ask for those formats.

use gust_core::{Deployment, DeploymentStatus, Function, Privacy, RuntimeId};
use serde_json::{Map, Value, json};

use super::Format;
use crate::common::{BuildState, ExecutionView, tail, unix_seconds};

/// The role that lets anyone execute a function.
pub const ROLE_ALL: &str = "role:all";

/// Executions keep the last this many characters of their output, as Appwrite's do.
const OUTPUT_CHARS: usize = 4000;

/// The runtimes Appwrite clients can name, and Gust's runtime behind each.
pub const RUNTIMES: [(&str, RuntimeId, &str, &str); 2] = [
    ("python-3.11", RuntimeId::Python311, "Python", "3.11"),
    ("node-20.0", RuntimeId::Node20, "Node.js", "20.0"),
];

pub fn runtime_id(runtime: RuntimeId) -> String {
    RUNTIMES
        .iter()
        .find(|(_, r, _, _)| *r == runtime)
        .map(|(id, ..)| id.to_string())
        .unwrap_or_else(|| runtime.as_str().to_string())
}

pub fn gust_runtime(id: &str) -> Option<RuntimeId> {
    RUNTIMES
        .iter()
        .find(|(name, ..)| *name == id)
        .map(|(_, r, _, _)| *r)
}

pub fn runtime(id: &str, name: &str, version: &str) -> Value {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let lang = id.split('-').next().unwrap_or(id);
    json!({
        "$id": id,
        "name": name,
        "version": version,
        "base": format!("{lang}:{version}"),
        "image": format!("openruntimes/{lang}:v1-{version}"),
        "logo": format!("{lang}.png"),
        "supports": [arch],
    })
}

/// The timestamps of a model under the client's format's names.
fn stamp(map: &mut Map<String, Value>, format: Format, created: i64, updated: i64) {
    if format >= Format::V015 {
        map.insert("$createdAt".into(), created.into());
        map.insert("$updatedAt".into(), updated.into());
    } else {
        map.insert("dateCreated".into(), created.into());
        map.insert("dateUpdated".into(), updated.into());
    }
}

/// When the function's schedule fires next and fired last (Unix seconds, 0 for none).
#[derive(Debug, Default, Clone, Copy)]
pub struct ScheduleTimes {
    pub next: i64,
    pub previous: i64,
}

pub fn function(f: &Function, times: ScheduleTimes, format: Format) -> Value {
    let mut map = Map::new();
    map.insert("$id".into(), f.id.clone().into());
    stamp(
        &mut map,
        format,
        unix_seconds(f.created_at),
        unix_seconds(f.updated_at),
    );
    let execute: Vec<&str> = match f.privacy {
        Privacy::Public => vec![ROLE_ALL],
        Privacy::Private => vec![],
    };
    let body = json!({
        "execute": execute,
        "name": f.title,
        // Nothing in 0.15 sets a function `enabled`; clients show what they get.
        "status": "disabled",
        "runtime": runtime_id(f.runtime),
        "deployment": f.active_deployment.clone().unwrap_or_default(),
        "vars": f.env,
        "events": f.events,
        "schedule": f.schedule.clone().unwrap_or_default(),
        "scheduleNext": times.next,
        "schedulePrevious": times.previous,
        "timeout": f.timeout_s,
    });
    if let Value::Object(fields) = body {
        map.extend(fields);
    }
    Value::Object(map)
}

/// The SDKs' chunk size.
const CHUNK_BYTES: u64 = 5 * 1024 * 1024;

fn chunks(bytes: u64) -> u64 {
    bytes.div_ceil(CHUNK_BYTES).max(1)
}

pub fn deployment(d: &Deployment, format: Format) -> Value {
    let mut map = Map::new();
    map.insert("$id".into(), d.id.clone().into());
    stamp(
        &mut map,
        format,
        unix_seconds(d.created_at),
        unix_seconds(d.updated_at),
    );
    let status = match BuildState::of(d.status) {
        BuildState::Queued => "processing",
        BuildState::Building => "building",
        BuildState::Ready => "ready",
        BuildState::Failed => "failed",
    };
    let body = json!({
        "resourceId": d.function_id,
        "resourceType": "functions",
        "entrypoint": d.entrypoint.clone().unwrap_or_default(),
        "size": d.size,
        // One build per deployment: the build shares its id.
        "buildId": d.id,
        "activate": d.active || d.activate_when_ready,
        "status": status,
        "buildStdout": d.build_log,
        "buildStderr": d.error_message.clone().unwrap_or_default(),
        // Not in 0.15's model, but the SDKs read them to report an upload's progress.
        "chunksTotal": chunks(d.size),
        "chunksUploaded": if d.status == DeploymentStatus::Uploading {
            chunks(d.received)
        } else {
            chunks(d.size)
        },
    });
    if let Value::Object(fields) = body {
        map.extend(fields);
    }
    Value::Object(map)
}

/// An execution: a status of 500 or more fails it, with the body in `stderr` (or, without a
/// body, why it failed); below that the body is the `response` and `stderr` holds what the
/// code wrote to its stderr.
pub fn execution(view: &ExecutionView<'_>, format: Format) -> Value {
    let e = view.execution;
    let mut map = Map::new();
    map.insert("$id".into(), e.id.clone().into());
    stamp(
        &mut map,
        format,
        unix_seconds(e.created_at),
        unix_seconds(view.updated_at()),
    );
    let status = match view.state {
        crate::common::RunState::Waiting => "waiting",
        crate::common::RunState::Running => "processing",
        _ if view.is_failure() => "failed",
        _ => "completed",
    };
    let (response, stderr) = if view.is_failure() && !view.body.is_empty() {
        (String::new(), view.body.clone())
    } else if view.is_failure() {
        (String::new(), view.errors())
    } else {
        (view.body.clone(), view.errors())
    };
    let output_name = if format >= Format::V014 {
        "response"
    } else {
        "stdout"
    };
    map.insert("$read".into(), json!([]));
    map.insert("functionId".into(), e.function_id.clone().into());
    map.insert("trigger".into(), view.trigger().into());
    map.insert("status".into(), status.into());
    map.insert("statusCode".into(), view.status_code.into());
    map.insert(
        output_name.into(),
        tail(&response, OUTPUT_CHARS).to_string().into(),
    );
    map.insert(
        "stderr".into(),
        tail(&stderr, OUTPUT_CHARS).to_string().into(),
    );
    map.insert("time".into(), json!(view.seconds()));
    Value::Object(map)
}

/// `{"total": n, "<plural>": [...]}`.
pub fn list(plural: &str, total: u64, items: Vec<Value>) -> Value {
    let mut map = Map::new();
    map.insert("total".into(), total.into());
    map.insert(plural.into(), Value::Array(items));
    Value::Object(map)
}
