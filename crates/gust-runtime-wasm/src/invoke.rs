//! One request through a fresh instance, run on the caller's task (a spawn would cost a task
//! and, often, a hop to another thread). The caller gets the response as soon as the guest sets
//! it, then keeps driving the guest ([`Running`]) while the body streams, and gets the
//! [`Outcome`] — status, logs, error — once the guest is done.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;

use tokio::sync::oneshot;
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpView};

use crate::engine::WasmFunction;
use crate::guest::{CapturedLogs, GuestState, LogPipe, LogWatch, MemoryLimiter};

/// The streaming body of a guest's response.
pub type ResponseBody = wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// What one invocation may use.
#[derive(Debug, Clone)]
pub struct InvokeLimits {
    pub timeout: Duration,
    pub memory_mb: u32,
    pub env: Vec<(String, String)>,
    /// Bytes of stdout and of stderr kept (each); the rest is counted and marked.
    pub log_limit: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeKind {
    Completed,
    Failed,
    Timeout,
}

/// How an invocation ended, known once the guest has returned.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub kind: OutcomeKind,
    /// Why it failed or timed out.
    pub message: Option<String>,
    pub logs: CapturedLogs,
    /// Time to get a fresh instance ready, before the handler ran.
    pub instantiate: Duration,
    /// The guest did not return normally (trapped, timed out or was stopped), so anything it
    /// was still writing is cut short.
    pub interrupted: bool,
}

/// An invocation that produced no response.
#[derive(Debug)]
pub enum InvokeError {
    /// The guest ran past its timeout before responding.
    Timeout(Outcome),
    /// The guest trapped, hit its memory limit or returned without a response.
    Failed(Outcome),
}

impl InvokeError {
    pub fn outcome(&self) -> &Outcome {
        match self {
            InvokeError::Timeout(o) | InvokeError::Failed(o) => o,
        }
    }
}

/// Longest error message kept from a trap (wasm backtraces can be long).
const MESSAGE_LIMIT: usize = 4096;

impl WasmFunction {
    /// Run `request` in a fresh instance, on the caller's task: no spawn, no thread hop. Returns
    /// once the guest has set its response (or ended without one). The returned [`Running`] is
    /// the guest itself: the caller keeps polling it while it streams the body, and it yields
    /// the [`Outcome`] once the guest returns.
    pub async fn invoke(
        &self,
        request: http::Request<Full<Bytes>>,
        limits: &InvokeLimits,
    ) -> Result<(http::Response<ResponseBody>, Running), InvokeError> {
        self.invoke_watched(request, limits, |_| {}).await
    }

    /// [`invoke`](Self::invoke), handing `watch` the guest's live output before it starts, for
    /// followers of its logs.
    pub async fn invoke_watched(
        &self,
        request: http::Request<Full<Bytes>>,
        limits: &InvokeLimits,
        watch: impl FnOnce(LogWatch),
    ) -> Result<(http::Response<ResponseBody>, Running), InvokeError> {
        let runtime = &self.runtime;
        let changed = Arc::new(tokio::sync::Notify::new());
        let stdout = LogPipe::new(limits.log_limit, changed.clone());
        let stderr = LogPipe::new(limits.log_limit, changed);
        watch(LogWatch::new(&stdout, &stderr));
        let wasi = WasiCtxBuilder::new()
            .envs(&limits.env)
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .build();
        let state = GuestState {
            wasi,
            http: WasiHttpCtx::new(),
            table: wasmtime::component::ResourceTable::new(),
            limiter: MemoryLimiter {
                limit: limits.memory_mb as usize * 1024 * 1024,
                used: 0,
                refused: None,
            },
            timed_out: false,
        };
        let mut store = Store::new(runtime.engine(), state);
        store.limiter(|s| &mut s.limiter);
        let deadline = Instant::now() + limits.timeout;
        store.set_epoch_deadline(1);
        // Each tick: past the deadline, stop the guest; otherwise yield so a guest that never
        // returns cannot keep a server thread from other requests.
        store.epoch_deadline_callback(move |mut ctx| {
            if Instant::now() >= deadline {
                ctx.data_mut().timed_out = true;
                return Ok(UpdateDeadline::Interrupt);
            }
            Ok(UpdateDeadline::Yield(1))
        });

        let (response_tx, mut response_rx) = oneshot::channel();
        let pre = self.pre.clone();
        let memory_mb = limits.memory_mb;
        let timeout = limits.timeout;
        let pipes = (stdout.clone(), stderr.clone());
        let guest = async move {
            let started = Instant::now();
            let mut instantiate = Duration::ZERO;
            let result = async {
                let proxy = pre.instantiate_async(&mut store).await?;
                instantiate = started.elapsed();
                let req = store
                    .data_mut()
                    .http()
                    .new_incoming_request(Scheme::Http, request)?;
                let out = store.data_mut().http().new_response_outparam(response_tx)?;
                proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut store, req, out)
                    .await
            }
            .await;
            let state = store.data();
            let (kind, message) = if state.timed_out {
                (
                    OutcomeKind::Timeout,
                    Some(format!("timed out after {} s", timeout.as_secs_f64())),
                )
            } else if let Some(asked) = state.limiter.refused {
                (
                    OutcomeKind::Failed,
                    Some(format!(
                        "memory limit of {memory_mb} MiB was hit (the guest asked for {} MiB)",
                        asked.div_ceil(1024 * 1024)
                    )),
                )
            } else if let Err(e) = &result {
                let mut text = format!("the function trapped: {e:#}");
                text.truncate(MESSAGE_LIMIT);
                (OutcomeKind::Failed, Some(text))
            } else {
                (OutcomeKind::Completed, None)
            };
            drop(store);
            Outcome {
                kind,
                message,
                logs: capture(&stdout, &stderr),
                instantiate,
                interrupted: result.is_err(),
            }
        };
        let mut running = Running {
            guest: Some(Box::pin(guest)),
            outcome: None,
            pipes,
        };

        // Drive the guest until it sets its response or ends without one.
        let response = std::future::poll_fn(|cx| {
            let _ = running.poll_outcome(cx);
            match Pin::new(&mut response_rx).poll(cx) {
                Poll::Ready(Ok(Ok(response))) => Poll::Ready(Ok(response)),
                Poll::Ready(Ok(Err(code))) => Poll::Ready(Err(Some(code))),
                // The guest dropped the outparam: it has returned (or trapped).
                Poll::Ready(Err(_)) => Poll::Ready(Err(None)),
                Poll::Pending => Poll::Pending,
            }
        })
        .await;
        match response {
            Ok(response) => Ok((response, running)),
            Err(code) => {
                let mut outcome = running.finish().await;
                if outcome.kind == OutcomeKind::Completed {
                    outcome.kind = OutcomeKind::Failed;
                    outcome.message = Some(match code {
                        Some(code) => format!("the function answered with an error: {code:?}"),
                        None => "the function returned without setting a response".into(),
                    });
                }
                Err(match outcome.kind {
                    OutcomeKind::Timeout => InvokeError::Timeout(outcome),
                    _ => InvokeError::Failed(outcome),
                })
            }
        }
    }
}

type GuestFuture = Pin<Box<dyn Future<Output = Outcome> + Send>>;

/// A guest that has answered and may still be streaming its body. Poll it (alongside the body)
/// until it yields its [`Outcome`]; dropping it stops the guest.
pub struct Running {
    guest: Option<GuestFuture>,
    outcome: Option<Outcome>,
    /// The guest's stdout and stderr, readable even if it is stopped early.
    pipes: (LogPipe, LogPipe),
}

impl Running {
    /// Make progress; ready with the outcome once the guest has returned.
    pub fn poll_outcome(&mut self, cx: &mut Context<'_>) -> Poll<&Outcome> {
        if let Some(guest) = self.guest.as_mut() {
            match guest.as_mut().poll(cx) {
                Poll::Ready(outcome) => {
                    self.outcome = Some(outcome);
                    self.guest = None;
                }
                Poll::Pending => return Poll::Pending,
            }
        }
        match &self.outcome {
            Some(outcome) => Poll::Ready(outcome),
            None => Poll::Pending,
        }
    }

    /// Read `body` to its end while driving the guest, then wait for the guest to return.
    pub async fn collect(
        mut self,
        mut body: ResponseBody,
    ) -> (Result<Bytes, wasmtime_wasi_http::Error>, Outcome) {
        use http_body::Body as _;
        let mut bytes = bytes::BytesMut::new();
        let read = std::future::poll_fn(|cx| {
            loop {
                let _ = self.poll_outcome(cx);
                match Pin::new(&mut body).poll_frame(cx) {
                    Poll::Ready(Some(Ok(frame))) => {
                        if let Some(data) = frame.data_ref() {
                            bytes.extend_from_slice(data);
                        }
                    }
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                    Poll::Ready(None) => return Poll::Ready(Ok(())),
                    Poll::Pending => return Poll::Pending,
                }
            }
        })
        .await;
        let outcome = self.finish().await;
        (read.map(|()| bytes.freeze()), outcome)
    }

    /// Run the guest to its end.
    pub async fn finish(mut self) -> Outcome {
        std::future::poll_fn(|cx| self.poll_outcome(cx).map(|o| o.clone())).await
    }

    /// Stop the guest where it is (its caller went away) and say so.
    pub fn cancel(mut self, reason: &str) -> Outcome {
        if let Some(outcome) = self.outcome.take() {
            return outcome;
        }
        self.guest = None;
        Outcome {
            kind: OutcomeKind::Failed,
            message: Some(reason.to_string()),
            logs: capture(&self.pipes.0, &self.pipes.1),
            instantiate: Duration::ZERO,
            interrupted: true,
        }
    }
}

fn capture(stdout: &LogPipe, stderr: &LogPipe) -> CapturedLogs {
    let (stdout, out_cut) = stdout.take();
    let (stderr, err_cut) = stderr.take();
    CapturedLogs {
        stdout,
        stderr,
        truncated: out_cut || err_cut,
    }
}
