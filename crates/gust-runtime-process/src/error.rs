//! Errors. [`ProcessError`]: starting the runtime and building a function's code.
//! [`gust_runtime::NotRun`]: why a request was not run at all (overload, no worker could
//! start, the pool is draining). A request that ran and failed — handler exception, crash, timeout,
//! memory limit — is not an error but a [`ProcessResponse`](crate::ProcessResponse) with its
//! [`Outcome`](crate::Outcome).

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
