//! How a run ends: its [`Outcome`], its output ([`Logs`]) and what it waited for to start,
//! together its [`Ending`]; or why it did not run at all ([`NotRun`]).

use std::time::Duration;

use gust_core::Startup;

/// How a request that ran ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    /// The handler raised or trapped, the worker crashed, a memory limit was hit; the reason.
    Failed(String),
    /// The function's timeout passed and it was stopped; what was stopped, and when.
    Timeout(String),
}

impl Outcome {
    /// Why it failed or timed out.
    pub fn message(&self) -> Option<&str> {
        match self {
            Outcome::Completed => None,
            Outcome::Failed(reason) | Outcome::Timeout(reason) => Some(reason),
        }
    }
}

/// A request's stdout and stderr, bounded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Logs {
    pub stdout: String,
    pub stderr: String,
    /// Output was cut at the limit.
    pub truncated: bool,
}

impl Logs {
    /// Appends to one stream within `limit` bytes for both together.
    pub fn append(&mut self, stderr: bool, text: &str, limit: usize) {
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

/// How a run ended, in the terms of its record.
#[derive(Debug, Clone, PartialEq)]
pub struct Ending {
    pub outcome: Outcome,
    pub logs: Logs,
    /// It waited for a fresh worker.
    pub cold_start: bool,
    pub startup: Option<Startup>,
}

impl Ending {
    /// A run that failed for `reason` before the function said anything.
    pub fn failed(reason: String) -> Self {
        Self {
            outcome: Outcome::Failed(reason),
            logs: Logs::default(),
            cold_start: false,
            startup: None,
        }
    }
}

/// Why a request was not run at all.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum NotRun {
    /// Every worker is busy and the queue is full or was waited on too long: a 429 with
    /// `Retry-After` (rounded up to whole seconds).
    #[error(
        "every worker of the function is busy and its queue is full; retry after {retry_after:?}"
    )]
    Overloaded { retry_after: Duration },
    /// Nothing could start to run it (runtime missing, handler import failed, sandbox
    /// refused, being replaced): a 503 with the reason.
    #[error("the function cannot run now: {0}")]
    Unavailable(String),
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
