//! [`Draft`]: an execution record being assembled while a request runs, finished by the
//! runtime that ran it with an [`Ending`].

use std::sync::Arc;
use std::time::Instant;

use gust_core::{
    Execution, ExecutionLogs, ExecutionRequest, ExecutionResponse, ExecutionStatus,
    ExecutionTrigger, Startup,
};

use super::RunRequest;
use crate::live::{ExecutionIds, LiveFunction};

/// How a run ended, in the terms of the record.
pub(super) struct Ending {
    pub status: ExecutionStatus,
    /// Why it failed or timed out.
    pub message: Option<String>,
    pub logs: ExecutionLogs,
    pub response: Option<ExecutionResponse>,
    /// It waited for a fresh worker.
    pub cold_start: bool,
    pub startup: Option<Startup>,
}

impl Ending {
    /// The request could not even be handed to the function.
    pub fn refused(message: String) -> Self {
        Self {
            status: ExecutionStatus::Failed,
            message: Some(message),
            logs: ExecutionLogs::default(),
            response: None,
            cold_start: false,
            startup: None,
        }
    }
}

/// Who runs and since when, taken as a request arrives: enough to assemble its record later,
/// possibly on another thread (see [`Draft::started`]).
pub(super) struct Start {
    ids: Arc<ExecutionIds>,
    created_at: chrono::DateTime<chrono::Utc>,
    started: Instant,
}

impl Start {
    pub fn now(live: &LiveFunction) -> Self {
        Self {
            ids: live.ids.clone(),
            created_at: gust_core::now(),
            started: Instant::now(),
        }
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
    pub fn from_request(
        live: &LiveFunction,
        id: String,
        trigger: ExecutionTrigger,
        request: &RunRequest,
    ) -> Self {
        Self::started(Start::now(live), id, trigger, request)
    }

    /// A draft for a run that began at `start`.
    pub fn started(
        start: Start,
        id: String,
        trigger: ExecutionTrigger,
        request: &RunRequest,
    ) -> Self {
        Self {
            id,
            start,
            trigger,
            request: request.to_record(false),
        }
    }

    /// The finished record, ending now.
    pub fn end(self, ending: Ending) -> Execution {
        let (duration, finished_at) = self.start.ended();
        self.end_at(ending, duration, finished_at)
    }

    /// The finished record of a run that took `duration` and ended at `finished_at`.
    pub fn end_at(
        self,
        ending: Ending,
        duration: std::time::Duration,
        finished_at: chrono::DateTime<chrono::Utc>,
    ) -> Execution {
        let Start {
            ids, created_at, ..
        } = self.start;
        Execution {
            id: self.id,
            namespace_id: ids.namespace_id.clone(),
            function_id: ids.function_id.clone(),
            deployment_id: Some(ids.deployment_id.clone()),
            trigger: self.trigger,
            status: ending.status,
            request: self.request,
            response: ending.response,
            logs: ending.logs,
            error_message: ending.message,
            duration_us: Some(duration.as_micros() as u64),
            cold_start: ending.cold_start,
            startup: ending.startup,
            attempts: 1,
            is_async: false,
            max_attempts: 1,
            run_after: None,
            dead_letter: false,
            idempotency_key: None,
            source: None,
            replay_of: None,
            event_depth: 0,
            created_at,
            started_at: Some(created_at),
            finished_at: Some(finished_at),
        }
    }
}
