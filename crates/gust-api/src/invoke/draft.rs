//! [`Draft`]: an execution record being assembled while a request runs, finished by the
//! runtime that ran it with an [`Ending`].

use std::time::Instant;

use gust_core::{
    Execution, ExecutionLogs, ExecutionRequest, ExecutionResponse, ExecutionStatus,
    ExecutionTrigger, Startup,
};

use super::RunRequest;
use crate::live::LiveFunction;

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

/// An execution record being assembled.
pub(super) struct Draft {
    pub id: String,
    namespace_id: String,
    function_id: String,
    deployment_id: String,
    trigger: ExecutionTrigger,
    request: ExecutionRequest,
    created_at: chrono::DateTime<chrono::Utc>,
    started: Instant,
}

impl Draft {
    pub fn from_request(
        live: &LiveFunction,
        id: String,
        trigger: ExecutionTrigger,
        request: &RunRequest,
    ) -> Self {
        Self {
            id,
            namespace_id: live.function.namespace_id.clone(),
            function_id: live.function.id.clone(),
            deployment_id: live.deployment_id.clone(),
            trigger,
            request: request.to_record(false),
            created_at: gust_core::now(),
            started: Instant::now(),
        }
    }

    /// The finished record.
    pub fn end(self, ending: Ending) -> Execution {
        let duration = self.started.elapsed();
        Execution {
            id: self.id,
            namespace_id: self.namespace_id,
            function_id: self.function_id,
            deployment_id: Some(self.deployment_id),
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
            created_at: self.created_at,
            started_at: Some(self.created_at),
            finished_at: Some(gust_core::now()),
        }
    }
}
