//! Errors. [`ProcessError`]: starting the runtime and building a function's code.
//! [`ProcessInvokeError`]: why a request was not run at all (overload, no worker could start,
//! the pool is draining). A request that ran and failed — handler exception, crash, timeout,
//! memory limit — is not an error but a [`ProcessResponse`](crate::ProcessResponse) with its
//! [`Outcome`](crate::Outcome).

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("starting the sandbox")]
    Sandbox(#[from] gust_sandbox::SandboxError),
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("runtime {0} is not available here: {1}")]
    RuntimeUnavailable(String, String),
    #[error("{0}")]
    Build(String),
}

pub type ProcessResult<T> = Result<T, ProcessError>;

impl ProcessError {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        ProcessError::Io {
            what: what.into(),
            source,
        }
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ProcessInvokeError {
    /// Every worker is busy and the queue is full or was waited on too long: a 429 with
    /// `Retry-After` (rounded up to whole seconds).
    #[error(
        "every worker of the function is busy and its queue is full; retry after {retry_after:?}"
    )]
    Overloaded { retry_after: Duration },
    /// No worker could be started (runtime missing, handler import failed, sandbox refused):
    /// a 503 with the reason.
    #[error("the function cannot run now: {0}")]
    Unavailable(String),
}
