//! One request into a worker and what comes back: [`ProcessRequest`], [`ProcessResponse`],
//! its [`Outcome`], its [`Logs`] and, for a cold start, its [`ColdStart`] breakdown.

use bytes::Bytes;

/// An HTTP request for a function, as the API received it. The pool hands it back with the
/// answer (see [`FunctionPool::invoke_then`](crate::FunctionPool::invoke_then)), so whoever
/// records the execution need not copy it first.
#[derive(Debug, Clone, Default)]
pub struct ProcessRequest {
    pub method: http::Method,
    /// The path after the function's prefix, starting with `/`.
    pub path: String,
    /// The query string as received, without `?`; the worker gets it parsed.
    pub query: String,
    pub headers: http::HeaderMap,
    pub body: Bytes,
    /// Given to the handler as `context.execution_id` / `executionId`.
    pub execution_id: String,
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    /// The handler raised, or the worker crashed or hit its memory limit; the reason.
    Failed(String),
    /// The function's timeout passed; the worker was killed (and will be replaced).
    Timeout,
}

/// A request's stdout and stderr, bounded by `log_limit` together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Logs {
    pub stdout: String,
    pub stderr: String,
    /// Output was cut at the limit.
    pub truncated: bool,
}

impl Logs {
    /// Appends to one stream within `limit` bytes for both together.
    pub(crate) fn append(&mut self, stderr: bool, text: &str, limit: usize) {
        let room = limit.saturating_sub(self.stdout.len() + self.stderr.len());
        let mut take = text.len().min(room);
        while !text.is_char_boundary(take) {
            take -= 1;
        }
        if take < text.len() {
            self.truncated = true;
        }
        let target = if stderr {
            &mut self.stderr
        } else {
            &mut self.stdout
        };
        target.push_str(&text[..take]);
    }
}

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
            Outcome::Timeout => (504, "the function timed out".to_string()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_stop_at_the_limit_and_say_so() {
        let mut logs = Logs::default();
        logs.append(false, "hello ", 10);
        logs.append(true, "wörld!", 10);
        assert_eq!(logs.stdout, "hello ");
        assert_eq!(logs.stderr, "wör");
        assert!(logs.truncated);
    }
}
