//! Gust's resources in Qinling's shapes.

use chrono::{DateTime, Utc};
use gust_core::{
    Alias, Execution, ExecutionStatus, Function, FunctionTrigger, FunctionVersion, RuntimeId,
    RuntimeInfo, TriggerStatus, Webhook,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Qinling's dates: `YYYY-MM-DD HH:MM:SS`, UTC, no zone.
pub fn date(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Qinling sets `updated_at` only once a resource has changed.
fn updated(created: DateTime<Utc>, updated: DateTime<Utc>) -> Value {
    if updated > created {
        json!(date(updated))
    } else {
        Value::Null
    }
}

/// A UUID made from `seed`, for what Gust names otherwise (runtimes, versions): the same
/// seed always gives the same id.
pub fn stable_uuid(seed: &str) -> String {
    let digest = Sha256::digest(seed.as_bytes());
    let mut b: [u8; 16] = digest[..16].try_into().unwrap_or_default();
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

pub fn runtime_uuid(runtime: RuntimeId) -> String {
    stable_uuid(&format!("gust-runtime:{}", runtime.as_str()))
}

/// The runtimes Qinling code can use: Gust's Python and Node.
pub fn qinling_runtimes(all: Vec<RuntimeInfo>) -> Vec<RuntimeInfo> {
    all.into_iter()
        .filter(|r| matches!(r.id, RuntimeId::Python311 | RuntimeId::Node20))
        .collect()
}

pub fn runtime(info: &RuntimeInfo, project: &str, created: DateTime<Utc>) -> Value {
    json!({
        "id": runtime_uuid(info.id),
        "name": info.id.as_str(),
        "image": info.id.as_str(),
        "description": format!("{} {}", info.name, info.version).trim().to_string(),
        "is_public": true,
        "trusted": true,
        "status": if info.available { "available" } else { "error" },
        "project_id": project,
        "created_at": date(created),
        "updated_at": null,
    })
}

/// What a function view needs besides the function.
pub struct FunctionFacts {
    /// md5 of the newest package.
    pub md5: Option<String>,
    /// Executions recorded.
    pub count: u64,
    /// Highest version number, 0 for none.
    pub latest_version: u32,
}

/// A function. `code` is an object in single-object answers and a JSON string inside lists,
/// as Qinling's WSME type serialises it.
pub fn function(f: &Function, facts: &FunctionFacts, code_as_string: bool) -> Value {
    let code = json!({"source": "package", "md5sum": facts.md5});
    json!({
        "id": f.id,
        "name": f.title,
        "description": f.description,
        "runtime_id": runtime_uuid(f.runtime),
        "code": if code_as_string { json!(code.to_string()) } else { code },
        "entry": f.handler.as_deref().unwrap_or(DEFAULT_ENTRY),
        "cpu": f.cpu_millis,
        "memory_size": u64::from(f.memory_mb) * MIB,
        "timeout": f.timeout_s,
        "count": facts.count,
        "latest_version": facts.latest_version,
        "project_id": f.namespace_id,
        "created_at": date(f.created_at),
        "updated_at": updated(f.created_at, f.updated_at),
    })
}

pub const DEFAULT_ENTRY: &str = "main.main";
pub const MIB: u64 = 1024 * 1024;

pub fn version(v: &FunctionVersion, count: u64) -> Value {
    json!({
        "id": stable_uuid(&format!("{}:{}", v.function_id, v.number)),
        "description": v.description,
        "function_id": v.function_id,
        "version_number": v.number,
        "count": count,
        "project_id": v.namespace_id,
        "created_at": date(v.created_at),
        "updated_at": null,
    })
}

pub fn alias(a: &Alias) -> Value {
    json!({
        "id": a.id,
        "name": a.name,
        "description": a.description,
        "function_id": a.function_id,
        "function_version": a.version.unwrap_or(0),
        "project_id": a.namespace_id,
        "created_at": date(a.created_at),
        "updated_at": updated(a.created_at, a.updated_at),
    })
}

/// Qinling's execution status.
pub fn execution_status(e: &Execution) -> &'static str {
    match e.status {
        ExecutionStatus::Queued | ExecutionStatus::Running => "running",
        ExecutionStatus::Completed if e.response.as_ref().is_some_and(|r| r.status_code >= 500) => {
            "failed"
        }
        ExecutionStatus::Completed => "success",
        ExecutionStatus::Failed | ExecutionStatus::Timeout => "failed",
    }
}

/// `result`: a JSON string `{"duration", "output"}`; the output is what the function returned
/// (as JSON when it is), or Qinling's texts for a failure and a timeout.
fn result(e: &Execution) -> Value {
    let duration = (e.duration_us.unwrap_or(0) as f64 / 1e3).round() / 1e3;
    let output = match (e.status, execution_status(e)) {
        (ExecutionStatus::Queued | ExecutionStatus::Running, _) => return Value::Null,
        (ExecutionStatus::Timeout, _) => json!("Function execution timeout."),
        (_, "failed") => json!("Function execution failed."),
        _ => {
            let body = e
                .response
                .as_ref()
                .map(|r| r.body.to_bytes())
                .unwrap_or_default();
            serde_json::from_slice(&body).unwrap_or_else(|_| json!(String::from_utf8_lossy(&body)))
        }
    };
    json!(json!({"duration": duration, "output": output}).to_string())
}

pub fn execution(e: &Execution) -> Value {
    let input = e.request.body.to_bytes();
    let finished = e.finished_at.or(e.started_at);
    json!({
        "id": e.id,
        "function_id": e.function_id,
        "function_version": e.function_version.unwrap_or(0),
        "function_alias": e.alias,
        "description": null,
        "status": execution_status(e),
        "sync": !e.is_async,
        "input": if input.is_empty() { Value::Null } else { json!(String::from_utf8_lossy(&input)) },
        "result": result(e),
        "project_id": e.namespace_id,
        "created_at": date(e.created_at),
        "updated_at": finished.map(date),
    })
}

/// A job's status: a cron trigger's, in Qinling's words.
pub fn job_status(status: TriggerStatus) -> &'static str {
    match status {
        TriggerStatus::Ready | TriggerStatus::Error => "running",
        TriggerStatus::Paused => "paused",
        TriggerStatus::Done => "done",
        TriggerStatus::Cancelled => "cancelled",
    }
}

pub fn job(t: &FunctionTrigger) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "function_id": t.function_id,
        "function_alias": null,
        "function_version": 0,
        "function_input": t.body,
        "status": job_status(t.status),
        "pattern": t.schedule,
        "count": t.count,
        "first_execution_time": t.first_run_at.map(date),
        "next_execution_time": t.next_run_at.map(date),
        "project_id": t.namespace_id,
        "created_at": date(t.created_at),
        "updated_at": t.last_run_at.map(date),
    })
}

pub fn webhook(w: &Webhook, root: &str) -> Value {
    json!({
        "id": w.id,
        "function_id": w.function_id,
        "function_alias": null,
        "function_version": 0,
        "description": w.description,
        "project_id": w.namespace_id,
        "webhook_url": format!("{root}/v1/webhooks/{}/invoke", w.id),
        "created_at": date(w.created_at),
        "updated_at": updated(w.created_at, w.updated_at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_in_qinling_format() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-12-05T20:01:02.345Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(date(t), "2026-12-05 20:01:02");
    }

    #[test]
    fn stable_uuids_are_uuids_and_stable() {
        let a = stable_uuid("gust-runtime:python3.11");
        assert_eq!(a, stable_uuid("gust-runtime:python3.11"));
        assert_ne!(a, stable_uuid("gust-runtime:node20"));
        assert!(gust_core::id::looks_like_id(&a), "{a}");
    }
}
