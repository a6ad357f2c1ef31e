//! What the dialects share: paging over the engine's lists, the classification of engine
//! errors, and executions and deployments seen the way the seed platforms see them.

mod paging;
mod records;
#[cfg(test)]
pub mod testing;

pub use paging::{Window, every};
pub use records::{BuildState, ExecutionView, RunState, tail, unix_seconds};

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use gust_engine::{Engine, Error};
use http::StatusCode;

/// The client's address, when the server recorded the connection's peer on the request.
pub fn client_ip(extensions: &http::Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

/// The dialects' error bodies have no place for a wait; an address slowed for failing to
/// authenticate gets it as `Retry-After`, whichever dialect refused it.
pub async fn retry_after_when_throttled(
    State(engine): State<Arc<Engine>>,
    request: Request,
    next: Next,
) -> Response {
    let client = client_ip(request.extensions());
    let mut response = next.run(request).await;
    if response.status() == StatusCode::TOO_MANY_REQUESTS
        && !response.headers().contains_key(http::header::RETRY_AFTER)
        && let Some(ip) = client
        && let Err(refused) = engine.tokens.failures.check(ip)
        && let Some(seconds) = refused.retry_after
    {
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, seconds.into());
    }
    response
}

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
