//! What comes back from a worker: [`ProcessResponse`] and, for a cold start, its
//! [`ColdStart`] breakdown.

use bytes::Bytes;
use gust_runtime::{Logs, Outcome};

/// What a cold request waited for. Times in µs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ColdStart {
    /// From the request's arrival to its worker being ready.
    pub total_us: u64,
    /// Sandbox set-up: namespaces, mounts, cgroup — or, for a stem cell, attaching the code
    /// and applying the function's limits.
    pub sandbox_us: u64,
    /// Interpreter start until the worker said hello (0 for a stem cell: it was pre-started).
    pub interpreter_us: u64,
    /// Importing the handler module.
    pub import_us: u64,
    /// Served by a pre-started stem cell rather than a fresh interpreter.
    pub stem_cell: bool,
}

impl From<ColdStart> for gust_core::Startup {
    fn from(c: ColdStart) -> Self {
        gust_core::Startup {
            total_us: c.total_us,
            instantiate_us: None,
            sandbox_us: Some(c.sandbox_us),
            interpreter_us: Some(c.interpreter_us),
            import_us: Some(c.import_us),
        }
    }
}

/// The function's answer plus what the platform records about it.
#[derive(Debug, Clone)]
pub struct ProcessResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub outcome: Outcome,
    pub logs: Logs,
    /// `Some` when this request waited for a worker to start.
    pub cold_start: Option<ColdStart>,
    /// Host pid of the worker's sandbox (its init).
    pub worker_pid: i32,
}

impl ProcessResponse {
    /// The response for a request that did not complete: 500 or 504 with a JSON error.
    pub(crate) fn failure(outcome: Outcome, logs: Logs, worker_pid: i32) -> Self {
        let (status, message) = match &outcome {
            Outcome::Timeout(_) => (504, "the function timed out".to_string()),
            Outcome::Failed(reason) => (500, reason.clone()),
            Outcome::Completed => (500, "no response".to_string()),
        };
        let body = serde_json::json!({ "error": message }).to_string();
        ProcessResponse {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::from(body),
            outcome,
            logs,
            cold_start: None,
            worker_pid,
        }
    }
}
