//! Executions: the record of one run of a function, whatever started it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What started an execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// A request to `/fn/{ns}/{fn}/...`.
    Http,
    /// `POST .../executions`.
    Api,
    /// A cron trigger.
    Schedule,
    /// An event trigger.
    Event,
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
    pub body: String,
    /// `body` is base64 because the bytes were not UTF-8.
    pub is_base64: bool,
    /// The body was longer than the bound and was cut; `size` says how long it was.
    pub truncated: bool,
    pub size: u64,
}

/// The request an execution ran with.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExecutionRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: BTreeMap<String, String>,
    #[serde(flatten)]
    pub body: RecordedBody,
}

/// The response the function gave.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExecutionResponse {
    pub status_code: u16,
    pub headers: BTreeMap<String, String>,
    #[serde(flatten)]
    pub body: RecordedBody,
}

/// What the function printed. Bounded; truncation is marked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExecutionLogs {
    pub stdout: String,
    pub stderr: String,
    /// Output past the bound was dropped (a marker line says where).
    pub truncated: bool,
}

/// One execution as stored and returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Execution {
    pub id: String,
    pub namespace_id: String,
    pub function_id: String,
    pub deployment_id: Option<String>,
    pub trigger: Trigger,
    pub status: ExecutionStatus,
    pub request: ExecutionRequest,
    pub response: Option<ExecutionResponse>,
    pub logs: ExecutionLogs,
    /// Why it failed or timed out, in one line.
    pub error_message: Option<String>,
    /// Wall time from start to the end of the response, in microseconds.
    pub duration_us: Option<u64>,
    /// Whether this run had to start a fresh instance of the code.
    pub cold_start: bool,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// Bodies kept in an execution record, in bytes (request and response each).
pub const RECORDED_BODY_LIMIT: usize = 64 * 1024;

impl RecordedBody {
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
    }
}
