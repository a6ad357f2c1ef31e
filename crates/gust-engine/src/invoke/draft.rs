//! [`Draft`]: an execution record being assembled while a request runs, finished with the
//! run's [`Ending`].

use std::sync::Arc;
use std::time::Instant;

use gust_core::{
    Execution, ExecutionLogs, ExecutionRequest, ExecutionResponse, ExecutionStatus,
    ExecutionTrigger,
};
use gust_runtime::{Ending, Outcome};

use crate::live::ExecutionIds;

/// Who runs and since when, taken as a request arrives: enough to assemble its record later,
/// possibly on another thread.
pub(super) struct Start {
    ids: Arc<ExecutionIds>,
    created_at: chrono::DateTime<chrono::Utc>,
    started: Instant,
}

impl Start {
    /// A run of `live`, recorded under `ids` (the entry's own, or with the alias it was
    /// reached through).
    pub fn now(ids: &Arc<ExecutionIds>) -> Self {
        Self {
            ids: ids.clone(),
            created_at: gust_core::now(),
            started: Instant::now(),
        }
    }

    /// Microseconds since the start: when the response head was set.
    pub fn elapsed_us(&self) -> u64 {
        self.started.elapsed().as_micros() as u64
    }

    /// Time since the start, and the time it ended: an execution's end as its caller saw it.
    pub fn ended(&self) -> (std::time::Duration, chrono::DateTime<chrono::Utc>) {
        (self.started.elapsed(), gust_core::now())
    }
}

/// An execution record being assembled.
pub(super) struct Draft {
    pub id: String,
    start: Start,
    trigger: ExecutionTrigger,
    request: ExecutionRequest,
}

impl Draft {
    /// A draft for a run that began at `start`.
    pub fn new(
        start: Start,
        id: String,
        trigger: ExecutionTrigger,
        request: ExecutionRequest,
    ) -> Self {
        Self {
            id,
            start,
            trigger,
            request,
        }
    }

    /// The finished record of a run that took `duration` and ended at `finished_at`.
    pub fn end_at(
        self,
        ending: Ending,
        response: Option<ExecutionResponse>,
        head_us: Option<u64>,
        duration: std::time::Duration,
        finished_at: chrono::DateTime<chrono::Utc>,
    ) -> Execution {
        let Start {
            ids, created_at, ..
        } = self.start;
        let (status, message) = match ending.outcome {
            Outcome::Completed => (ExecutionStatus::Completed, None),
            Outcome::Failed(reason) => (ExecutionStatus::Failed, Some(reason)),
            Outcome::Timeout(reason) => (ExecutionStatus::Timeout, Some(reason)),
        };
        let run = Execution::started(
            self.id,
            &ids.namespace_id,
            &ids.function_id,
            &ids.deployment_id,
            self.trigger,
            self.request,
            created_at,
        );
        Execution {
            function_version: ids.function_version,
            alias: ids.alias.clone(),
            response,
            head_us,
            logs: ExecutionLogs {
                stdout: ending.logs.stdout,
                stderr: ending.logs.stderr,
                truncated: ending.logs.truncated,
            },
            error_message: message,
            cold_start: ending.cold_start,
            startup: ending.startup,
            ..run.ended(status, duration, finished_at)
        }
    }
}
