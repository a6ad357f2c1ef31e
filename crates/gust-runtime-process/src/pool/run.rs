//! [`FunctionPool`] as a [`Runtime`]: a run takes a worker (a warm one without waiting, else
//! through the pool's queue), sends the request, and answers with the worker's whole response.
//! The request stays in the run and is handed back for the record, not copied.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use gust_core::execution::RECORDED_BODY_LIMIT;
use gust_runtime::{
    Abandoned, BodyError, Ending, Finished, Head, Invocation, LogWatch, NotRun, Request, Running,
    Runtime,
};
use http::{HeaderName, HeaderValue, StatusCode};
use http_body::Frame;

use super::state::Lease;
use super::{Call, FunctionPool};
use crate::request::ProcessResponse;
use crate::worker::Worker;

impl Runtime for FunctionPool {
    fn start(&self, request: Request, _watch: &mut dyn FnMut(LogWatch)) -> Running {
        Box::pin(ProcessRun {
            pool: self.clone(),
            request,
            phase: Phase::Unsent,
            response: None,
            body_read: false,
        })
    }
}

type Acquiring = Pin<Box<dyn Future<Output = Result<Lease<Arc<Worker>>, NotRun>> + Send>>;

enum Phase {
    Unsent,
    /// No warm worker was free: waiting for one to start or free up.
    Acquiring(Acquiring),
    Sent(Call),
    /// Answered, or refused.
    Over,
}

struct ProcessRun {
    pool: FunctionPool,
    request: Request,
    phase: Phase,
    response: Option<ProcessResponse>,
    body_read: bool,
}

impl ProcessRun {
    fn send(&mut self, lease: Lease<Arc<Worker>>) {
        let call = Call::new(self.pool.inner.clone(), lease, &self.request);
        self.phase = Phase::Sent(call);
    }
}

impl Invocation for ProcessRun {
    fn execution_id(&self) -> &str {
        &self.request.execution_id
    }

    fn poll_head(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Head, NotRun>> {
        let this = self.get_mut();
        loop {
            match &mut this.phase {
                Phase::Unsent => match this.pool.take_warm() {
                    Some(lease) => this.send(lease),
                    None => {
                        let pool = this.pool.clone();
                        this.phase =
                            Phase::Acquiring(Box::pin(async move { pool.acquire().await }));
                    }
                },
                Phase::Acquiring(acquiring) => match std::task::ready!(acquiring.as_mut().poll(cx))
                {
                    Ok(lease) => this.send(lease),
                    Err(not_run) => {
                        this.phase = Phase::Over;
                        return Poll::Ready(Err(not_run));
                    }
                },
                Phase::Sent(call) => {
                    let response = std::task::ready!(call.poll_answer(cx));
                    this.phase = Phase::Over;
                    let head = head(&response);
                    this.response = Some(response);
                    return Poll::Ready(Ok(head));
                }
                Phase::Over => panic!("a run's head is polled until it is ready, not after"),
            }
        }
    }

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        if std::mem::replace(&mut this.body_read, true) {
            return Poll::Ready(None);
        }
        let body = this.response.as_ref().map(|r| r.body.clone());
        Poll::Ready(body.filter(|b| !b.is_empty()).map(|b| Ok(Frame::data(b))))
    }

    fn body_size(&self) -> Option<u64> {
        let unread = self.response.as_ref().filter(|_| !self.body_read);
        unread.map(|r| r.body.len() as u64)
    }

    fn poll_end(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), BodyError>> {
        Poll::Ready(Ok(()))
    }

    fn abandon(self: Pin<&mut Self>, _reason: &str) -> Abandoned {
        match self.phase {
            // Nothing reached a worker: a place taken in the queue goes back with the run.
            Phase::Unsent | Phase::Acquiring(_) => Abandoned::NeverRan,
            Phase::Sent(_) => Abandoned::RunsOn,
            Phase::Over if self.response.is_some() => Abandoned::Ended,
            Phase::Over => Abandoned::NeverRan,
        }
    }

    fn fits_a_record(&self) -> bool {
        self.request.body.len() <= RECORDED_BODY_LIMIT
            && self
                .response
                .as_ref()
                .is_none_or(|r| r.body.len() <= RECORDED_BODY_LIMIT)
    }

    fn finish(self: Pin<&mut Self>) -> Finished {
        let this = self.get_mut();
        let request = this.request.to_record(false);
        let Some(response) = this.response.take() else {
            return Finished {
                execution_id: std::mem::take(&mut this.request.execution_id),
                request,
                head: None,
                ending: Ending::failed("the request did not reach a worker".into()),
            };
        };
        Finished {
            execution_id: std::mem::take(&mut this.request.execution_id),
            request,
            head: Some((response.status, response.headers.into_iter().collect())),
            ending: Ending {
                outcome: response.outcome,
                logs: response.logs,
                cold_start: response.cold_start.is_some(),
                startup: response.cold_start.map(Into::into),
            },
        }
    }
}

/// The function's answer as a response head, less the headers HTTP cannot carry; unusable if
/// it gave more headers than a response holds (tens of thousands), which no client could read.
fn head(answer: &ProcessResponse) -> Head {
    let too_many = || Head::Unusable {
        status: StatusCode::BAD_GATEWAY,
        reason: "the function answered with more headers than a response can carry".into(),
    };
    let (mut parts, ()) = http::Response::new(()).into_parts();
    parts.status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    // Room for one header more: the caller's (the execution's id).
    if parts.headers.try_reserve(answer.headers.len() + 1).is_err() {
        return too_many();
    }
    for (name, value) in &answer.headers {
        // A header the function got wrong is left out rather than failing its response.
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) && parts.headers.try_append(name, value).is_err()
        {
            return too_many();
        }
    }
    Head::Answered(parts)
}
