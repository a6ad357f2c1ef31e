//! The Wasm side of the invocation path: a fresh instance per request, the response streamed
//! back as the guest writes it. The execution record is assembled as the body passes through
//! (`RecordingBody`) and handed over once the guest is done: nothing here waits for the store.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use gust_core::execution::{RECORDED_BODY_LIMIT, RecordedBody};
use gust_core::{Execution, ExecutionLogs, ExecutionResponse, ExecutionStatus, ExecutionTrigger};
use gust_runtime_wasm::{
    InvokeError, InvokeLimits, LogWatch, Outcome, OutcomeKind, ResponseBody, Running, WasmFunction,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, Full};
use tokio::sync::oneshot;

use super::body::{Response, ResponseBody as InvocationBody};
use super::draft::{Draft, Ending};
use super::{EXECUTION_ID_HEADER, RunRequest, header_map};
use crate::Shared;
use crate::error::Error;
use crate::live::LiveFunction;
use crate::recorder::RecordSlot;

/// Answer an HTTP invocation: the guest's head as soon as it is set, its body as it streams.
pub(super) async fn respond(
    state: &Shared,
    live: &LiveFunction,
    component: &WasmFunction,
    limits: &InvokeLimits,
    request: RunRequest,
) -> Result<Response, Error> {
    let draft = Draft::from_request(live, gust_core::new_id(), ExecutionTrigger::Http, &request);
    let slot = state.recorder.slot().await;
    let path_and_query = request.path_and_query();
    let guest_request = guest_request(
        request.method,
        &path_and_query,
        request.headers,
        request.body,
    )?;
    let mut unanswered = Unanswered {
        draft: Some((draft, slot)),
        logs: None,
    };
    let invoked = component
        .invoke_watched(guest_request, limits, |logs| unanswered.logs = Some(logs))
        .await;
    let (draft, slot) = unanswered
        .draft
        .take()
        .expect("taken only here and on drop");
    match invoked {
        Ok((response, running)) => {
            let (mut head, body) = response.into_parts();
            let recorded_head = (head.status.as_u16(), header_map(&head.headers, &[]));
            head.headers.insert(
                EXECUTION_ID_HEADER,
                HeaderValue::from_str(&draft.id).expect("ids are ASCII"),
            );
            let body = RecordingBody::new(
                body,
                Finisher {
                    sink: Sink::Recorder(slot),
                    draft,
                    head: recorded_head,
                    running,
                },
            );
            Ok(Response::from_parts(head, InvocationBody::Streaming(body)))
        }
        Err(error) => {
            let execution = draft.end(ending(error.outcome(), None, None));
            let id = execution.id.clone();
            let error = invoke_error(&error, id);
            slot.record(execution);
            Err(error)
        }
    }
}

/// Records a run whose caller went away before the guest answered. Dropping the invocation
/// stopped the guest, so the record says so, with what the guest had written.
struct Unanswered {
    /// With the record's place in the recorder's queue.
    draft: Option<(Draft, RecordSlot)>,
    logs: Option<LogWatch>,
}

impl Drop for Unanswered {
    fn drop(&mut self) {
        let Some((draft, slot)) = self.draft.take() else {
            return;
        };
        let (stdout, stderr) = match &self.logs {
            Some(logs) => logs.read_from((0, 0)),
            None => Default::default(),
        };
        let mut ending = Ending::refused(
            "the caller went away before the function answered; the function was stopped".into(),
        );
        ending.logs = ExecutionLogs {
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            truncated: false,
        };
        slot.record(draft.end(ending));
    }
}

/// Run a request to its end (API and async executions) and return its record.
pub(super) async fn run_to_end(
    component: &WasmFunction,
    limits: &InvokeLimits,
    draft: Draft,
    request: RunRequest,
    on_start: impl FnOnce(LogWatch),
) -> Execution {
    let path_and_query = request.path_and_query();
    let guest_request = match guest_request(
        request.method,
        &path_and_query,
        request.headers,
        request.body,
    ) {
        Ok(r) => r,
        Err(e) => return draft.end(Ending::refused(e.message)),
    };
    match component
        .invoke_watched(guest_request, limits, on_start)
        .await
    {
        Ok((response, running)) => {
            let (head, body) = response.into_parts();
            let head = (head.status.as_u16(), header_map(&head.headers, &[]));
            let (reply, record) = oneshot::channel();
            let finisher = Finisher {
                sink: Sink::Reply(reply),
                draft,
                head,
                running,
            };
            // Reading the body drives the guest; the record arrives once it has returned. The
            // frames are not kept: the record holds its own bounded copy. The body is dropped
            // before waiting, so an early error still ends the guest and sends the record.
            {
                let mut body = std::pin::pin!(RecordingBody::new(body, finisher));
                while let Some(Ok(_)) = body.frame().await {}
            }
            record
                .await
                .expect("a RecordingBody delivers its record when it ends or is dropped")
        }
        Err(error) => draft.end(ending(error.outcome(), None, None)),
    }
}

/// A guest's outcome as the record's ending; `response` when it answered, `body_error` when
/// its body failed after the head was sent.
fn ending(
    outcome: &Outcome,
    response: Option<ExecutionResponse>,
    body_error: Option<String>,
) -> Ending {
    let mut status = match outcome.kind {
        OutcomeKind::Completed => ExecutionStatus::Completed,
        OutcomeKind::Failed => ExecutionStatus::Failed,
        OutcomeKind::Timeout => ExecutionStatus::Timeout,
    };
    let mut message = outcome.message.clone();
    if status == ExecutionStatus::Completed && body_error.is_some() {
        status = ExecutionStatus::Failed;
        message = body_error;
    }
    Ending {
        status,
        message,
        logs: ExecutionLogs {
            stdout: outcome.logs.stdout.clone(),
            stderr: outcome.logs.stderr.clone(),
            truncated: outcome.logs.truncated,
        },
        response,
        // A pooled Wasm instance is ready in microseconds: never a cold start, but how long
        // the instance took is kept.
        cold_start: false,
        startup: (!outcome.instantiate.is_zero()).then(|| gust_core::Startup {
            total_us: outcome.instantiate.as_micros() as u64,
            instantiate_us: Some(outcome.instantiate.as_micros() as u64),
            ..Default::default()
        }),
    }
}

fn guest_request(
    method: Method,
    path_and_query: &str,
    mut headers: HeaderMap,
    body: Bytes,
) -> Result<http::Request<Full<Bytes>>, Error> {
    // wasi:http needs an authority; API executions have no Host header of their own.
    if !headers.contains_key("host") {
        headers.insert("host", HeaderValue::from_static("localhost"));
    }
    let mut request = http::Request::builder()
        .method(method)
        .uri(path_and_query)
        .body(Full::new(body))
        .map_err(|e| Error::bad_request(format!("invalid request: {e}")))?;
    *request.headers_mut() = headers;
    Ok(request)
}

fn invoke_error(error: &InvokeError, execution_id: String) -> Error {
    let outcome = error.outcome();
    let message = outcome
        .message
        .clone()
        .unwrap_or_else(|| "the function failed".into());
    let error = match error {
        InvokeError::Timeout(_) => Error::new(StatusCode::GATEWAY_TIMEOUT, "timeout", message),
        InvokeError::Failed(_) => Error::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "function_failed",
            message,
        ),
    };
    Error {
        execution_id: Some(execution_id),
        ..error
    }
}

/// Where a finished record goes.
pub(super) enum Sink {
    /// HTTP invocations: queued for the store, in the place taken for them.
    Recorder(RecordSlot),
    /// API executions: back to the handler, which returns it.
    Reply(oneshot::Sender<Execution>),
}

/// What a streamed response needs to become a record once it ends.
struct Finisher {
    sink: Sink,
    draft: Draft,
    head: (u16, BTreeMap<String, String>),
    /// The guest, still running: it writes the body this wrapper reads.
    running: Running,
}

impl Finisher {
    /// Stop the guest where it is and deliver the record.
    fn abandon(self, reason: &str, body: RecordedBody, error: Option<String>) {
        let Finisher {
            sink,
            draft,
            head,
            running,
        } = self;
        deliver(sink, draft, head, &running.cancel(reason), body, error);
    }
}

/// Complete a record and send it where it belongs.
fn deliver(
    sink: Sink,
    draft: Draft,
    head: (u16, BTreeMap<String, String>),
    outcome: &Outcome,
    body: RecordedBody,
    error: Option<String>,
) {
    let response = ExecutionResponse {
        status_code: head.0,
        headers: head.1,
        body,
    };
    let execution = draft.end(ending(outcome, Some(response), error));
    match sink {
        Sink::Recorder(slot) => slot.record(execution),
        Sink::Reply(reply) => {
            let _ = reply.send(execution);
        }
    }
}

/// Passes the guest's response body through, keeping a bounded copy for the record, and drives
/// the guest while it does (the guest runs on this task, not one of its own). The end of the
/// body is held back until the guest has returned, so the record is complete; if the client
/// goes away first, dropping this stops the guest and records why.
pub struct RecordingBody {
    inner: ResponseBody,
    captured: BytesMut,
    total: u64,
    error: Option<String>,
    inner_done: bool,
    /// The guest returned normally rather than being interrupted (known once `finisher` is gone).
    completed: bool,
    finisher: Option<Finisher>,
}

impl RecordingBody {
    fn new(inner: ResponseBody, finisher: Finisher) -> Self {
        Self {
            inner,
            captured: BytesMut::new(),
            total: 0,
            error: None,
            inner_done: false,
            completed: false,
            finisher: Some(finisher),
        }
    }

    /// Ready once the guest has returned and the record is sent; `false` when the guest was
    /// interrupted (a timeout or a trap after its response began), so the body must not look whole.
    fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        let Some(finisher) = self.finisher.as_mut() else {
            return Poll::Ready(self.completed);
        };
        let outcome = match finisher.running.poll_outcome(cx) {
            Poll::Ready(outcome) => outcome.clone(),
            Poll::Pending => return Poll::Pending,
        };
        let Finisher {
            sink, draft, head, ..
        } = self.finisher.take().expect("checked above");
        let body = RecordedBody::capture(&self.captured, self.total);
        self.completed = !outcome.interrupted;
        deliver(sink, draft, head, &outcome, body, self.error.take());
        Poll::Ready(self.completed)
    }

    /// The end of the body: clean if the guest completed, an error (so the client sees a cut,
    /// not a short but well-formed response) if it did not.
    fn end(completed: bool) -> Option<Result<Frame<Bytes>, gust_runtime_wasm::BodyError>> {
        (!completed).then_some(Err(gust_runtime_wasm::BodyError::HttpResponseIncomplete))
    }
}

impl http_body::Body for RecordingBody {
    type Data = Bytes;
    type Error = gust_runtime_wasm::BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if this.inner_done {
            return this.poll_finish(cx).map(Self::end);
        }
        // Let the guest run: it produces what we are about to read.
        if let Some(finisher) = this.finisher.as_mut() {
            let _ = finisher.running.poll_outcome(cx);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.total += data.len() as u64;
                    let room = RECORDED_BODY_LIMIT.saturating_sub(this.captured.len());
                    if room > 0 {
                        this.captured
                            .extend_from_slice(&data[..room.min(data.len())]);
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                // The guest failed mid-body (a trap or a timeout): it has returned by now.
                this.error = Some(format!("the response body failed: {e}"));
                this.inner_done = true;
                let _ = this.poll_finish(cx);
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                this.inner_done = true;
                this.poll_finish(cx).map(Self::end)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.finisher.is_none() && (self.inner_done || self.inner.is_end_stream())
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for RecordingBody {
    fn drop(&mut self) {
        if let Some(finisher) = self.finisher.take() {
            let reason = "the client went away before the response was complete";
            if self.error.is_none() && !self.inner_done {
                self.error = Some(reason.into());
            }
            let body = RecordedBody::capture(&self.captured, self.total);
            finisher.abandon(reason, body, self.error.take());
        }
    }
}
