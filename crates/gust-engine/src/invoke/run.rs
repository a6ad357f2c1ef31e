//! One run through whatever runs the function ([`gust_runtime::Runtime`]), for every door: the
//! response head goes back as soon as the function sets it, the body as it is written, and
//! the execution record is assembled as the body passes through ([`RecordingBody`]). Nothing
//! here waits for the store: the record goes to the recorder once the run is over.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use gust_core::execution::{RECORDED_BODY_LIMIT, RecordedBody};
use gust_core::{Execution, ExecutionResponse, ExecutionTrigger};
use gust_runtime::{Abandoned, BodyError, Head, NotRun, Outcome, Running};
use http::{HeaderName, HeaderValue, StatusCode};
use http_body::Frame;
use http_body_util::BodyExt;
use tokio::sync::oneshot;

use super::body::{Response, ResponseBody};
use super::draft::{Draft, Start};
use super::{EXECUTION_ID_HEADER, RunRequest};
use crate::error::Error;
use crate::live::{ExecutionIds, LiveFunction};
use crate::recorder::RecordSlot;
use crate::recorder::Recorder;

/// Answer an HTTP invocation: the function's head as soon as it is set, its body as it comes.
pub(super) async fn respond(
    recorder: &Recorder,
    live: &LiveFunction,
    ids: &Arc<ExecutionIds>,
    mut request: RunRequest,
    trigger: ExecutionTrigger,
) -> Result<Response, Error> {
    let start = Start::now(ids);
    let slot = recorder.slot().await;
    request.execution_id = gust_core::new_id();
    request.trigger = trigger;
    let run = live.runtime.start(request, &mut |_| {});
    let mut recording = Recording::new(run, Sink::Recorder(slot), start, trigger);
    match recording.head().await {
        Err(not_run) => {
            recording.forget();
            Err(not_run_error(not_run))
        }
        Ok(Head::Unusable { status, reason }) => {
            let id = recording.run().execution_id().to_string();
            recording.deliver();
            Err(unusable_error(status, reason, id))
        }
        Ok(Head::Answered(mut head)) => {
            let id =
                HeaderValue::from_str(recording.run().execution_id()).map_err(Error::internal)?;
            head.headers
                .insert(const { HeaderName::from_static(EXECUTION_ID_HEADER) }, id);
            let body = ResponseBody::Streaming(RecordingBody::new(recording));
            Ok(Response::from_parts(head, body))
        }
    }
}

/// Run a request to its end (API and async executions) and return its record; `Err` when it
/// could not run at all. `on_start` gets the run's live output.
pub(super) async fn run_to_end(
    live: &LiveFunction,
    ids: &Arc<ExecutionIds>,
    id: String,
    trigger: ExecutionTrigger,
    mut request: RunRequest,
    on_start: impl FnOnce(gust_runtime::LogWatch),
) -> Result<Execution, Error> {
    let start = Start::now(ids);
    request.execution_id = id;
    request.trigger = trigger;
    let mut on_start = Some(on_start);
    let run = live.runtime.start(request, &mut |watch| {
        if let Some(on_start) = on_start.take() {
            on_start(watch);
        }
    });
    let (reply, record) = oneshot::channel();
    let mut recording = Recording::new(run, Sink::Reply(reply), start, trigger);
    match recording.head().await {
        Err(not_run) => {
            recording.forget();
            return Err(not_run_error(not_run));
        }
        Ok(Head::Unusable { .. }) => recording.deliver(),
        Ok(Head::Answered(_)) => {
            // Reading the body drives the function; the record arrives once it has returned.
            // The frames are not kept: the record holds its own bounded copy. The body is
            // dropped before waiting, so an early error still ends the run and sends the record.
            let mut body = std::pin::pin!(RecordingBody::new(recording));
            while let Some(Ok(_)) = body.frame().await {}
        }
    }
    Ok(record
        .await
        .expect("a run delivers its record when it ends or is dropped"))
}

/// A request the runtime could not take: 429 when every worker is busy and the queue is
/// full, 503 when nothing can run it.
fn not_run_error(not_run: NotRun) -> Error {
    match not_run {
        NotRun::Overloaded { retry_after } => Error::too_many_requests(
            "every worker of the function is busy and its queue is full",
            retry_after.as_secs_f64().ceil().max(1.0) as u64,
        ),
        NotRun::Unavailable(reason) => {
            Error::unavailable(format!("the function cannot run now: {reason}"), 5)
        }
    }
}

/// A run that gave no response the caller can have.
fn unusable_error(status: StatusCode, reason: String, execution_id: String) -> Error {
    let code = match status {
        StatusCode::GATEWAY_TIMEOUT => "timeout",
        StatusCode::BAD_GATEWAY => "bad_response",
        _ => "function_failed",
    };
    Error {
        execution_id: Some(execution_id),
        ..Error::new(status, code, reason)
    }
}

/// Where a finished record goes.
enum Sink {
    /// HTTP invocations: queued for the store, in the place taken for them.
    Recorder(RecordSlot),
    /// API executions: back to the caller, which returns it.
    Reply(oneshot::Sender<Execution>),
}

/// A bounded copy of the response body for the record. A body that comes in one piece (most
/// do) is kept by reference, not copied.
#[derive(Default)]
struct Capture {
    first: Option<Bytes>,
    more: Option<BytesMut>,
    total: u64,
}

impl Capture {
    fn push(&mut self, data: &Bytes) {
        self.total += data.len() as u64;
        if self.first.is_none() && self.more.is_none() {
            self.first = Some(data.slice(..data.len().min(RECORDED_BODY_LIMIT)));
            return;
        }
        let kept = self
            .more
            .get_or_insert_with(|| BytesMut::from(self.first.take().unwrap_or_default()));
        let room = RECORDED_BODY_LIMIT.saturating_sub(kept.len());
        kept.extend_from_slice(&data[..room.min(data.len())]);
    }

    fn record(&self) -> RecordedBody {
        match (&self.first, &self.more) {
            (_, Some(more)) => RecordedBody::capture(more, self.total),
            (Some(first), None) => RecordedBody::capture(first, self.total),
            (None, None) => RecordedBody::capture(&[], self.total),
        }
    }
}

/// A run and what its record needs, until the record is sent. Dropped before that (its
/// caller went away), it abandons the run: a function that can be stopped is, and recorded as
/// such; one that cannot is followed to its end by a task, which records it; a request that
/// never reached the function is not recorded.
struct Recording {
    state: Option<RecordingState>,
}

struct RecordingState {
    run: Running,
    sink: Sink,
    start: Start,
    trigger: ExecutionTrigger,
    answered: bool,
    /// Microseconds from the start until the function set its response head.
    head_us: Option<u64>,
    body: Capture,
    /// Why the body did not reach its end, when it did not.
    body_error: Option<String>,
}

impl Recording {
    fn new(run: Running, sink: Sink, start: Start, trigger: ExecutionTrigger) -> Self {
        Recording {
            state: Some(RecordingState {
                run,
                sink,
                start,
                trigger,
                answered: false,
                head_us: None,
                body: Capture::default(),
                body_error: None,
            }),
        }
    }

    fn state(&mut self) -> &mut RecordingState {
        self.state
            .as_mut()
            .expect("a recording is used until it is sent")
    }

    fn run(&mut self) -> Pin<&mut dyn gust_runtime::Invocation> {
        self.state().run.as_mut()
    }

    async fn head(&mut self) -> Result<Head, NotRun> {
        let head = std::future::poll_fn(|cx| self.run().poll_head(cx)).await;
        let state = self.state();
        state.answered = matches!(head, Ok(Head::Answered(_)));
        if state.answered {
            state.head_us = Some(state.start.elapsed_us());
        }
        head
    }

    /// The request never reached the function: nothing to record.
    fn forget(mut self) {
        self.state = None;
    }

    fn deliver(mut self) {
        if let Some(state) = self.state.take() {
            state.deliver();
        }
    }
}

impl RecordingState {
    /// Complete the record and send it where it belongs.
    fn deliver(self) {
        let (duration, finished_at) = self.start.ended();
        let RecordingState {
            mut run,
            sink,
            start,
            trigger,
            head_us,
            body,
            body_error,
            ..
        } = self;
        let fits_a_record = run.fits_a_record();
        let assemble = move || {
            let finished = run.as_mut().finish();
            let response = finished
                .head
                .map(|(status_code, headers)| ExecutionResponse {
                    status_code,
                    headers,
                    body: body.record(),
                });
            let mut ending = finished.ending;
            if let (Outcome::Completed, Some(error)) = (&ending.outcome, body_error) {
                ending.outcome = Outcome::Failed(error);
            }
            Draft::new(start, finished.execution_id, trigger, finished.request).end_at(
                ending,
                response,
                head_us,
                duration,
                finished_at,
            )
        };
        match sink {
            // Assembled on the recorder's thread: turning the run into a record is work the
            // caller need not wait for. Unless the run holds more than a record keeps: then
            // the record is made here, so that what waits in the queue is never more than one.
            Sink::Recorder(slot) if fits_a_record => slot.record_with(assemble),
            Sink::Recorder(slot) => slot.record(assemble()),
            Sink::Reply(reply) => {
                let _ = reply.send(assemble());
            }
        }
    }

    /// Follow a run its caller left to its end, then record it.
    async fn run_out(mut self) {
        if !self.answered {
            match std::future::poll_fn(|cx| self.run.as_mut().poll_head(cx)).await {
                Err(_) => return,
                Ok(Head::Unusable { .. }) => return self.deliver(),
                Ok(Head::Answered(_)) => {
                    self.answered = true;
                    self.head_us = Some(self.start.elapsed_us());
                }
            }
        }
        while let Some(frame) = std::future::poll_fn(|cx| self.run.as_mut().poll_frame(cx)).await {
            match frame {
                Ok(frame) => {
                    if let Some(data) = frame.data_ref() {
                        self.body.push(data);
                    }
                }
                Err(e) => {
                    self.body_error = Some(format!("the response body failed: {e}"));
                    break;
                }
            }
        }
        let _ = std::future::poll_fn(|cx| self.run.as_mut().poll_end(cx)).await;
        self.deliver();
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        let Some(mut state) = self.state.take() else {
            return;
        };
        let reason = if state.answered {
            "the client went away before the response was complete"
        } else {
            "the caller went away before the function answered; the function was stopped"
        };
        match state.run.as_mut().abandon(reason) {
            Abandoned::Stopped => {
                if state.answered && state.body_error.is_none() {
                    state.body_error = Some(reason.into());
                }
                state.deliver();
            }
            Abandoned::Ended => state.deliver(),
            Abandoned::RunsOn => match tokio::runtime::Handle::try_current() {
                Ok(runtime) => drop(runtime.spawn(state.run_out())),
                // The runtime is going away, and the run with it.
                Err(_) => drop(state),
            },
            Abandoned::NeverRan => {}
        }
    }
}

/// Passes the function's response body through, keeping a bounded copy for the record, and
/// drives the function while it does (a Wasm guest runs on this task, not one of its own).
/// The end of the body is held back until the function has returned, so the record is
/// complete; if the client goes away first, dropping this abandons the run (see [`Recording`]).
pub struct RecordingBody {
    recording: Recording,
    body_done: bool,
    /// Set once the record is sent: whether the function was cut short.
    cut: Option<bool>,
}

impl RecordingBody {
    fn new(recording: Recording) -> Self {
        Self {
            recording,
            body_done: false,
            cut: None,
        }
    }

    /// Ready once the function has returned and the record is sent; `Err` when it was cut
    /// short, so the body must not look whole.
    fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BodyError>> {
        if let Some(cut) = self.cut {
            return Poll::Ready(if cut { Err(cut_short()) } else { Ok(()) });
        }
        let ended = std::task::ready!(self.recording.run().poll_end(cx));
        self.cut = Some(ended.is_err());
        self.recording.deliver_now();
        Poll::Ready(ended)
    }
}

impl Recording {
    fn deliver_now(&mut self) {
        if let Some(state) = self.state.take() {
            state.deliver();
        }
    }
}

fn cut_short() -> BodyError {
    "the function was cut short".into()
}

impl http_body::Body for RecordingBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        if this.body_done {
            return this.poll_finish(cx).map(|ended| ended.err().map(Err));
        }
        match this.recording.run().poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.recording.state().body.push(data);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                // The function failed mid-body (a trap or a timeout): it has returned by now.
                this.recording.state().body_error = Some(format!("the response body failed: {e}"));
                this.body_done = true;
                let _ = this.poll_finish(cx);
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                this.body_done = true;
                this.poll_finish(cx).map(|ended| ended.err().map(Err))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body_done && self.cut.is_some()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match self.recording.state.as_ref().map(|s| s.run.body_size()) {
            Some(Some(size)) if !self.body_done => http_body::SizeHint::with_exact(size),
            _ => http_body::SizeHint::default(),
        }
    }
}
