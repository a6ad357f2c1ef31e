//! [`SandboxError`]: every failure of this crate, on the server side (talking to the spawner)
//! and in the spawner (setting a sandbox up). A sandboxed process that fails after it started
//! is not an error here: it is an [`ExitInfo`](crate::ExitInfo) for the caller to interpret.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("could not start the sandbox spawner `{program}`")]
    StartSpawner {
        program: String,
        #[source]
        source: io::Error,
    },
    #[error("the sandbox spawner is gone: {0}")]
    SpawnerGone(String),
    #[error("talking to the sandbox spawner")]
    Channel(#[source] io::Error),
    #[error("malformed message from the sandbox spawner")]
    Protocol(#[source] serde_json::Error),
    #[error("the spawner refused: {0}")]
    Refused(String),
    #[error("{what}")]
    Setup {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("compiling the seccomp filter: {0}")]
    Seccomp(String),
}

pub type SandboxResult<T> = Result<T, SandboxError>;

impl SandboxError {
    /// An I/O failure while doing `what`, for messages like "mounting /usr: Permission denied".
    pub fn setup(what: impl Into<String>, source: io::Error) -> Self {
        SandboxError::Setup {
            what: what.into(),
            source,
        }
    }
}
