//! What the dialects share: paging over the engine's lists, the classification of engine
//! errors, and executions and deployments seen the way the seed platforms see them.

mod paging;
mod records;

pub use paging::{Window, every};
pub use records::{BuildState, ExecutionView, RunState, tail, unix_seconds};

use gust_engine::Error;
use http::StatusCode;

/// An engine error, in the categories the dialects render differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// A value the client sent is wrong.
    Invalid,
    /// No credential, or one that is not valid.
    Unauthenticated,
    /// The credential lacks a scope or covers another namespace.
    Forbidden,
    /// What was looked up does not exist: `function`, `deployment`, `execution`, `namespace`,
    /// ... (`None` when the engine did not say).
    NotFound(Option<&'static str>),
    /// It exists already, or its state forbids the change.
    Conflict,
    /// The upload or body is over a limit.
    TooLarge,
    /// A chunk does not continue the upload it names.
    BadRange,
    /// The server is saturated; retry.
    Busy,
    Unavailable,
    Internal,
}

impl Failure {
    pub fn of(error: &Error) -> Self {
        match error.status {
            StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => Self::Invalid,
            StatusCode::UNAUTHORIZED => Self::Unauthenticated,
            StatusCode::FORBIDDEN => Self::Forbidden,
            StatusCode::NOT_FOUND => Self::NotFound(error.resource),
            StatusCode::CONFLICT => Self::Conflict,
            StatusCode::PAYLOAD_TOO_LARGE => Self::TooLarge,
            StatusCode::RANGE_NOT_SATISFIABLE => Self::BadRange,
            StatusCode::TOO_MANY_REQUESTS => Self::Busy,
            StatusCode::SERVICE_UNAVAILABLE => Self::Unavailable,
            _ => Self::Internal,
        }
    }
}
