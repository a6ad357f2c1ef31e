//! Executions: the record of one run of a function, whatever started it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Function;
use crate::stored;

/// What started an execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// A request to `/fn/{ns}/{fn}/...`.
    #[default]
    Http,
    /// `POST .../executions`.
    Api,
    /// A cron trigger.
    Schedule,
    /// An event trigger.
    Event,
    /// A POST to a webhook's URL.
    Webhook,
    /// A request to an edge application whose rule ran one of its function instances.
    Edge,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Api => "api",
            Self::Schedule => "schedule",
            Self::Event => "event",
            Self::Webhook => "webhook",
            Self::Edge => "edge",
        }
    }
}

/// `queued → running → completed | failed | timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionStatus {
    Queued,
    Running,
    Completed,
    Failed,
    Timeout,
}

impl ExecutionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Timeout => "timeout",
        }
    }
}

impl std::str::FromStr for ExecutionStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [
            Self::Queued,
            Self::Running,
            Self::Completed,
            Self::Failed,
            Self::Timeout,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
        .ok_or_else(|| {
            format!("unknown status `{s}`; one of queued, running, completed, failed, timeout")
        })
    }
}

/// A body as recorded: UTF-8 text as is, anything else base64, cut at a bound.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RecordedBody {
    #[serde(default)]
    pub body: String,
    /// `body` is base64 because the bytes were not UTF-8.
    #[serde(default)]
    pub is_base64: bool,
    /// The body was longer than the bound and was cut; `size` says how long it was.
    #[serde(default)]
    pub truncated: bool,
    #[serde(default)]
    pub size: u64,
}

/// The request an execution ran with.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExecutionRequest {
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub query: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(flatten)]
    pub body: RecordedBody,
}

/// The response the function gave.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExecutionResponse {
    pub status_code: u16,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(flatten)]
    pub body: RecordedBody,
}

/// What the function printed. Bounded; truncation is marked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExecutionLogs {
    #[serde(default)]
    pub stdout: String,
    #[serde(default)]
    pub stderr: String,
    /// Output past the bound was dropped (a marker line says where).
    #[serde(default)]
    pub truncated: bool,
}

/// One execution as stored and returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Execution {
    #[serde(default)]
    pub id: String,
    pub namespace_id: String,
    #[serde(default)]
    pub function_id: String,
    #[serde(default)]
    pub deployment_id: Option<String>,
    /// The version of the function that ran (`/fn/{ns}/{fn}:{version}/…`, an alias, or an
    /// API execution naming one); `null`: the function's current configuration.
    #[serde(default)]
    pub function_version: Option<u32>,
    /// The alias it was invoked through, if any.
    #[serde(default)]
    pub alias: Option<String>,
    pub trigger: Trigger,
    pub status: ExecutionStatus,
    pub request: ExecutionRequest,
    #[serde(default)]
    pub response: Option<ExecutionResponse>,
    #[serde(default)]
    pub logs: ExecutionLogs,
    /// Why it failed or timed out, in one line.
    #[serde(default)]
    pub error_message: Option<String>,
    /// Wall time from start to the end of the response, in microseconds.
    #[serde(default)]
    pub duration_us: Option<u64>,
    /// Wall time from start until the function set its response head (status and headers),
    /// in microseconds: the handler's share of `duration_us`, the rest being its body.
    #[serde(default)]
    pub head_us: Option<u64>,
    /// Whether this run had to start a fresh instance of the code.
    #[serde(default)]
    pub cold_start: bool,
    /// How the start of the instance was spent (what the runtime can tell).
    #[serde(default)]
    pub startup: Option<Startup>,
    /// Runs started so far (async executions retry up to `max_attempts`).
    #[serde(default = "stored::one")]
    pub attempts: u32,
    /// Ran in the background: accepted with a 202, then run by the queue.
    #[serde(default, rename = "async")]
    pub is_async: bool,
    /// Attempts allowed (the function's `max_attempts` when it was accepted).
    #[serde(default = "stored::one")]
    pub max_attempts: u32,
    /// Queued: the earliest time the next attempt may start.
    #[serde(default, serialize_with = "stored::timestamp::option::serialize")]
    pub run_after: Option<DateTime<Utc>>,
    /// Every attempt failed; kept until replayed or pruned.
    #[serde(default)]
    pub dead_letter: bool,
    /// The client's `Idempotency-Key`: a repeated submit returns this execution.
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// What started it: the trigger id (schedule, event) with the event name for events.
    #[serde(default)]
    pub source: Option<String>,
    /// The execution this one replays.
    #[serde(default)]
    pub replay_of: Option<String>,
    /// The latest replay of this one (a replayed dead letter is a dead letter no more).
    #[serde(default)]
    pub replayed_by: Option<String>,
    /// Links in a chain of event-triggered executions that led to this one (0: not started by
    /// an event). Events of executions past [`MAX_EVENT_DEPTH`] trigger nothing.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub event_depth: u32,
    /// When it was accepted (queued, for async ones).
    #[serde(serialize_with = "stored::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    /// When its latest attempt started.
    #[serde(default, serialize_with = "stored::timestamp::option::serialize")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, serialize_with = "stored::timestamp::option::serialize")]
    pub finished_at: Option<DateTime<Utc>>,
}

impl Execution {
    /// A new async execution of `function`, accepted now and waiting for its first attempt.
    /// It runs on the function's active deployment with the function's `max_attempts`; the
    /// optional provenance (idempotency key, source, replay, event depth) starts empty.
    pub fn queued(function: &Function, trigger: Trigger, request: ExecutionRequest) -> Self {
        Self {
            id: crate::new_id(),
            namespace_id: function.namespace_id.clone(),
            function_id: function.id.clone(),
            deployment_id: function.active_deployment.clone(),
            function_version: None,
            alias: None,
            trigger,
            status: ExecutionStatus::Queued,
            request,
            response: None,
            logs: ExecutionLogs::default(),
            error_message: None,
            duration_us: None,
            head_us: None,
            cold_start: false,
            startup: None,
            attempts: 0,
            is_async: true,
            max_attempts: function.max_attempts,
            run_after: None,
            dead_letter: false,
            idempotency_key: None,
            source: None,
            replay_of: None,
            replayed_by: None,
            event_depth: 0,
            created_at: crate::now(),
            started_at: None,
            finished_at: None,
        }
    }

    /// A synchronous run of `deployment_id` that started at `started_at`: its one attempt is
    /// running, and it was accepted when it started.
    pub fn started(
        id: String,
        namespace_id: &str,
        function_id: &str,
        deployment_id: &str,
        trigger: Trigger,
        request: ExecutionRequest,
        started_at: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            namespace_id: namespace_id.to_string(),
            function_id: function_id.to_string(),
            deployment_id: Some(deployment_id.to_string()),
            function_version: None,
            alias: None,
            trigger,
            status: ExecutionStatus::Running,
            request,
            response: None,
            logs: ExecutionLogs::default(),
            error_message: None,
            duration_us: None,
            head_us: None,
            cold_start: false,
            startup: None,
            attempts: 1,
            is_async: false,
            max_attempts: 1,
            run_after: None,
            dead_letter: false,
            idempotency_key: None,
            source: None,
            replay_of: None,
            replayed_by: None,
            event_depth: 0,
            created_at: started_at,
            started_at: Some(started_at),
            finished_at: None,
        }
    }

    /// This run, ended at `finished_at` with `status` after `duration`. The duration is the
    /// caller's: measured on a monotonic clock, it need not equal `finished_at - started_at`.
    pub fn ended(
        self,
        status: ExecutionStatus,
        duration: std::time::Duration,
        finished_at: DateTime<Utc>,
    ) -> Self {
        Self {
            status,
            duration_us: Some(u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)),
            finished_at: Some(finished_at),
            ..self
        }
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Longest chain of executions started by each other's events (A's completion triggers B, whose
/// completion triggers C, ...): a cycle across functions stops here instead of running forever.
/// Kept short because a pattern matching both the `create` and the `update` event of an
/// execution doubles the chain at each link.
pub const MAX_EVENT_DEPTH: u32 = 5;

/// Largest request body an async execution accepts, in bytes: it is stored whole with the
/// execution until it runs (Lambda allows 256 KiB for async payloads; so do we, four times over).
pub const ASYNC_BODY_LIMIT: usize = 1024 * 1024;

/// Where the start of an execution's instance went, in microseconds. Each runtime fills the
/// parts it has: Wasm instantiates a component; process runtimes start a sandbox and an
/// interpreter and import the handler.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Startup {
    pub total_us: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instantiate_us: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_us: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interpreter_us: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_us: Option<u64>,
}

/// Longest `Idempotency-Key`.
pub const IDEMPOTENCY_KEY_MAX: usize = 255;

/// Check an `Idempotency-Key` value: 1 to 255 visible ASCII characters.
pub fn idempotency_key(value: &str) -> Result<(), String> {
    if value.is_empty() || value.len() > IDEMPOTENCY_KEY_MAX {
        return Err(format!("must be 1 to {IDEMPOTENCY_KEY_MAX} characters"));
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must be visible ASCII characters without spaces".into());
    }
    Ok(())
}

/// Delay before attempt `attempt + 1` after `attempt` failed: `base` doubled per failed
/// attempt, at most `cap`.
pub fn retry_delay(
    attempt: u32,
    base: std::time::Duration,
    cap: std::time::Duration,
) -> std::time::Duration {
    let factor = 1u32 << attempt.saturating_sub(1).min(20);
    base.saturating_mul(factor).min(cap)
}

/// Bodies kept in an execution record, in bytes (request and response each).
pub const RECORDED_BODY_LIMIT: usize = 64 * 1024;

impl RecordedBody {
    /// Keep all of `bytes` (an async request, which must be replayable in full).
    pub fn whole(bytes: &[u8]) -> Self {
        use base64::Engine as _;
        match std::str::from_utf8(bytes) {
            Ok(text) => Self {
                body: text.to_string(),
                is_base64: false,
                truncated: false,
                size: bytes.len() as u64,
            },
            Err(_) => Self {
                body: base64::engine::general_purpose::STANDARD.encode(bytes),
                is_base64: true,
                truncated: false,
                size: bytes.len() as u64,
            },
        }
    }

    /// The bytes kept (decoded when base64).
    pub fn to_bytes(&self) -> Vec<u8> {
        use base64::Engine as _;
        if self.is_base64 {
            base64::engine::general_purpose::STANDARD
                .decode(&self.body)
                .unwrap_or_default()
        } else {
            self.body.clone().into_bytes()
        }
    }

    /// Record `bytes` (a prefix of a body of `total` bytes), keeping at most [`RECORDED_BODY_LIMIT`].
    pub fn capture(bytes: &[u8], total: u64) -> Self {
        use base64::Engine as _;
        let kept = &bytes[..bytes.len().min(RECORDED_BODY_LIMIT)];
        let truncated = (kept.len() as u64) < total;
        match std::str::from_utf8(kept) {
            Ok(text) => Self {
                body: text.to_string(),
                is_base64: false,
                truncated,
                size: total,
            },
            // A cut may split a character: keep the valid prefix as text rather than switch to base64.
            Err(e) if truncated && e.error_len().is_none() => Self {
                body: String::from_utf8_lossy(&kept[..e.valid_up_to()]).into_owned(),
                is_base64: false,
                truncated,
                size: total,
            },
            Err(_) => Self {
                body: base64::engine::general_purpose::STANDARD.encode(kept),
                is_base64: true,
                truncated,
                size: total,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_bounded_and_marked() {
        let big = vec![b'a'; RECORDED_BODY_LIMIT + 10];
        let rec = RecordedBody::capture(&big, big.len() as u64);
        assert!(rec.truncated);
        assert_eq!(rec.body.len(), RECORDED_BODY_LIMIT);
        assert_eq!(rec.size, big.len() as u64);
        let bin = RecordedBody::capture(&[0xff, 0x00], 2);
        assert!(bin.is_base64 && !bin.truncated);
        let big = vec![b'x'; RECORDED_BODY_LIMIT * 2];
        let whole = RecordedBody::whole(&big);
        assert!(!whole.truncated && whole.to_bytes() == big);
        assert_eq!(RecordedBody::whole(&[0xff, 0x00]).to_bytes(), [0xff, 0x00]);
    }

    fn request() -> ExecutionRequest {
        ExecutionRequest {
            method: "POST".into(),
            path: "/orders".into(),
            body: RecordedBody::whole(b"{}"),
            ..ExecutionRequest::default()
        }
    }

    #[test]
    fn a_queued_execution_waits_on_its_functions_active_deployment() {
        let mut function = crate::FunctionSpec {
            name: Some("orders".into()),
            runtime: Some("wasm".into()),
            max_attempts: Some(7),
            ..Default::default()
        }
        .into_new_function("ns-1", "shop")
        .unwrap();
        function.active_deployment = Some("dep-1".into());
        let before = crate::now();
        let execution = Execution::queued(&function, Trigger::Schedule, request());

        assert!(crate::id::looks_like_id(&execution.id), "{}", execution.id);
        assert_eq!(execution.namespace_id, "ns-1");
        assert_eq!(execution.function_id, function.id);
        assert_eq!(execution.deployment_id.as_deref(), Some("dep-1"));
        assert_eq!(execution.trigger, Trigger::Schedule);
        assert_eq!(execution.status, ExecutionStatus::Queued);
        assert_eq!(execution.request, request());
        // No attempt has started yet; the function's allowance is copied as it is now.
        assert_eq!((execution.attempts, execution.max_attempts), (0, 7));
        assert!(execution.is_async && !execution.dead_letter);
        assert!(execution.created_at >= before);
        assert_eq!(
            (
                execution.started_at,
                execution.finished_at,
                execution.run_after
            ),
            (None, None, None)
        );
        assert_eq!(execution.response, None);
        assert_eq!(
            (
                execution.idempotency_key,
                execution.source,
                execution.replay_of
            ),
            (None, None, None)
        );
        assert_eq!(execution.event_depth, 0);

        let other = Execution::queued(&function, Trigger::Api, request());
        assert_ne!(
            other.id, execution.id,
            "each execution gets an id of its own"
        );
    }

    #[test]
    fn a_started_run_is_one_running_sync_attempt_until_it_ends() {
        let started_at: DateTime<Utc> = "2026-03-01T10:00:00Z".parse().unwrap();
        let run = Execution::started(
            "exec-1".into(),
            "ns-1",
            "fn-1",
            "dep-1",
            Trigger::Http,
            request(),
            started_at,
        );
        assert_eq!(
            (
                run.id.as_str(),
                run.namespace_id.as_str(),
                run.function_id.as_str()
            ),
            ("exec-1", "ns-1", "fn-1")
        );
        assert_eq!(run.deployment_id.as_deref(), Some("dep-1"));
        assert_eq!(run.status, ExecutionStatus::Running);
        assert_eq!(
            (run.attempts, run.max_attempts, run.is_async),
            (1, 1, false)
        );
        assert_eq!(
            (run.created_at, run.started_at),
            (started_at, Some(started_at))
        );
        assert_eq!((run.finished_at, run.duration_us), (None, None));

        let finished_at = started_at + chrono::Duration::milliseconds(3);
        let ended = run.clone().ended(
            ExecutionStatus::Completed,
            std::time::Duration::from_micros(2_750),
            finished_at,
        );
        assert_eq!(ended.status, ExecutionStatus::Completed);
        assert_eq!(ended.duration_us, Some(2_750));
        assert_eq!(ended.finished_at, Some(finished_at));
        // Ending touches only the outcome.
        assert_eq!(
            Execution {
                status: run.status,
                duration_us: None,
                head_us: None,
                finished_at: None,
                ..ended
            },
            run
        );
    }

    #[test]
    fn retries_back_off_exponentially_to_a_cap() {
        use std::time::Duration;
        let base = Duration::from_secs(1);
        let cap = Duration::from_secs(60);
        let delays: Vec<u64> = (1..=8)
            .map(|a| retry_delay(a, base, cap).as_secs())
            .collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60]);
    }
}
