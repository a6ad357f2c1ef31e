//! What every Gust runtime implements, so that the invocation path is written once.
//!
//! A loaded function is a [`Runtime`]: [`Runtime::start`] takes a [`Request`] and hands back
//! the run as one [`Running`] object that its caller polls — for the response head, then the
//! body (which drives the function, for a runtime that streams), then the end. What it keeps
//! for the record comes out of [`Invocation::finish`], possibly on another thread.
//!
//! The run is a single object rather than an `async fn` per step: a trait object's async
//! methods would box a future per request, and a Wasm run is boxed anyway (its guest is a
//! future), so the box it already had is the only one.
//!
//! Layout: `request` ([`Request`] and its record form), `ending` ([`Outcome`], [`Ending`],
//! [`Logs`], [`NotRun`]), `logs` (bounded output pipes and their live view, [`LogWatch`]).

use std::collections::BTreeMap;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use gust_core::ExecutionRequest;
use http_body::Frame;

mod ending;
mod logs;
mod request;

pub use ending::{Ending, Logs, NotRun, Outcome};
pub use logs::{LogPipe, LogWatch};
pub use request::{REDACTED_HEADERS, Request, recorded_headers};

/// Why a response body could not be read to its end.
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// What runs one function's requests: a loaded component with its limits, a worker pool.
pub trait Runtime: Send + Sync {
    /// Start running `request`; nothing happens until the run is polled. `watch` gets the
    /// run's live output, for runtimes that have it before the end.
    fn start(&self, request: Request, watch: &mut dyn FnMut(LogWatch)) -> Running;
}

/// One request being run.
pub type Running = Pin<Box<dyn Invocation>>;

/// How the function answered, once it has.
pub enum Head {
    /// Its response head; the body follows through [`Invocation::poll_frame`].
    Answered(http::response::Parts),
    /// It ran but gave no response that can be sent: the caller gets `status` and `reason`.
    Unusable {
        status: http::StatusCode,
        reason: String,
    },
}

/// Where a run stands once its caller has gone away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abandoned {
    /// The function was stopped where it was; the record says why.
    Stopped,
    /// It had already ended; its ending stands.
    Ended,
    /// It cannot be stopped mid-request: poll the run to its end anyway, and record that.
    RunsOn,
    /// Nothing reached the function: there is nothing to record.
    NeverRan,
}

/// What a run leaves for its record.
pub struct Finished {
    pub execution_id: String,
    pub request: ExecutionRequest,
    /// Status and headers, when the function answered.
    pub head: Option<(u16, BTreeMap<String, String>)>,
    pub ending: Ending,
}

/// A run, polled by its caller: [`poll_head`](Self::poll_head) until the function answers,
/// then [`poll_frame`](Self::poll_frame) to the end of the body, then
/// [`poll_end`](Self::poll_end); [`finish`](Self::finish) once, after the end or after
/// [`abandon`](Self::abandon) said it stopped.
pub trait Invocation: Send {
    /// The execution the run serves.
    fn execution_id(&self) -> &str;

    /// Drives the function until it has answered; `Err` when it could not run at all.
    fn poll_head(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Head, NotRun>>;

    /// The next piece of the response body, driving the function while it writes it.
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>>;

    /// The body's length, when it is known before it is read.
    fn body_size(&self) -> Option<u64>;

    /// Ready once the function has returned. `Err` when it was cut short (a trap or timeout
    /// after it began its body), so that the body must not look whole.
    fn poll_end(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), BodyError>>;

    /// Its caller is gone, `reason` says how.
    fn abandon(self: Pin<&mut Self>, reason: &str) -> Abandoned;

    /// Whether [`finish`](Self::finish) holds no more than a record keeps, so it can wait in
    /// the recorder's queue as it is.
    fn fits_a_record(&self) -> bool;

    /// The parts of the record; after this the run is spent.
    fn finish(self: Pin<&mut Self>) -> Finished;
}
