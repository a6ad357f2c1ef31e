//! Executions and deployments in the terms the seed platforms share: a run waits, runs, then
//! completes or fails with a status code, an output and an error stream; a build waits,
//! builds, then is ready or failed.

use chrono::{DateTime, Utc};
use gust_core::{DeploymentStatus, Execution, ExecutionStatus, ExecutionTrigger};

/// Seconds since the epoch, the seed APIs' timestamps.
pub fn unix_seconds(time: DateTime<Utc>) -> i64 {
    time.timestamp()
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Waiting,
    Running,
    Completed,
    Failed,
}

/// An execution's record, read the way every dialect reads it.
#[derive(Debug, Clone)]
pub struct ExecutionView<'a> {
    pub execution: &'a Execution,
    pub state: RunState,
    /// The function's HTTP status; 500 when it failed without answering, 0 before it ends.
    pub status_code: u16,
    /// The response body as text (undecodable bytes replaced).
    pub body: String,
}

impl<'a> ExecutionView<'a> {
    pub fn new(execution: &'a Execution) -> Self {
        let state = match execution.status {
            ExecutionStatus::Queued => RunState::Waiting,
            ExecutionStatus::Running => RunState::Running,
            ExecutionStatus::Completed => RunState::Completed,
            ExecutionStatus::Failed | ExecutionStatus::Timeout => RunState::Failed,
        };
        let status_code = match (&execution.response, state) {
            (Some(response), _) => response.status_code,
            (None, RunState::Failed) => 500,
            (None, _) => 0,
        };
        let body = execution
            .response
            .as_ref()
            .map(|r| match r.body.is_base64 {
                false => r.body.body.clone(),
                true => String::from_utf8_lossy(&r.body.to_bytes()).into_owned(),
            })
            .unwrap_or_default();
        Self {
            execution,
            state,
            status_code,
            body,
        }
    }

    /// Whether the run ended and was not a success: it failed, timed out, or answered 5xx.
    pub fn is_failure(&self) -> bool {
        self.state == RunState::Failed
            || (self.state == RunState::Completed && self.status_code >= 500)
    }

    /// What went wrong, for the error stream: the engine's one line (timeouts, crashes) after
    /// what the code wrote to stderr.
    pub fn errors(&self) -> String {
        let stderr = &self.execution.logs.stderr;
        match &self.execution.error_message {
            Some(message) if !stderr.contains(message.as_str()) => {
                if stderr.is_empty() {
                    message.clone()
                } else {
                    format!("{stderr}\n{message}")
                }
            }
            _ => stderr.clone(),
        }
    }

    /// Run time in seconds (0 before it ends).
    pub fn seconds(&self) -> f64 {
        self.execution.duration_us.unwrap_or(0) as f64 / 1e6
    }

    /// When the record last changed.
    pub fn updated_at(&self) -> DateTime<Utc> {
        let e = self.execution;
        e.finished_at.or(e.started_at).unwrap_or(e.created_at)
    }

    /// `http`, `schedule` or `event`: API, HTTP and webhook invocations are all requests.
    pub fn trigger(&self) -> &'static str {
        match self.execution.trigger {
            ExecutionTrigger::Http
            | ExecutionTrigger::Api
            | ExecutionTrigger::Webhook
            | ExecutionTrigger::Edge => "http",
            ExecutionTrigger::Schedule => "schedule",
            ExecutionTrigger::Event => "event",
        }
    }
}

/// The last `max` characters of `text`.
pub fn tail(text: &str, max: usize) -> &str {
    match text.char_indices().rev().nth(max.saturating_sub(1)) {
        Some((at, _)) if max > 0 => &text[at..],
        _ if max == 0 => "",
        _ => text,
    }
}

/// Where a build stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildState {
    /// Its code is still arriving, or it waits for a deploy or a builder.
    Queued,
    Building,
    Ready,
    Failed,
}

impl BuildState {
    pub fn of(status: DeploymentStatus) -> Self {
        match status {
            DeploymentStatus::Uploading
            | DeploymentStatus::Uploaded
            | DeploymentStatus::Waiting => Self::Queued,
            DeploymentStatus::Building => Self::Building,
            DeploymentStatus::Ready => Self::Ready,
            DeploymentStatus::Failed => Self::Failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails_count_characters() {
        assert_eq!(tail("abcdef", 3), "def");
        assert_eq!(tail("ab", 3), "ab");
        assert_eq!(tail("ééé", 2), "éé");
        assert_eq!(tail("abc", 0), "");
    }
}
