//! One request through a fresh instance. The guest runs on its own task; the caller gets the
//! response as soon as the guest sets it (the body streams on), and the [`Outcome`] — status,
//! logs, error — once the guest is done.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use tokio::sync::oneshot;
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpView};

use crate::engine::WasmFunction;
use crate::guest::{CapturedLogs, GuestState, LogPipe, MemoryLimiter};

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
    /// Run `request` in a fresh instance. On success, returns the response (whose body may still
    /// be streaming) and a receiver for the outcome.
    pub async fn invoke(
        &self,
        request: http::Request<Full<Bytes>>,
        limits: &InvokeLimits,
    ) -> Result<(http::Response<ResponseBody>, oneshot::Receiver<Outcome>), InvokeError> {
        let runtime = &self.runtime;
        let stdout = LogPipe::new(limits.log_limit);
        let stderr = LogPipe::new(limits.log_limit);
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

        let (response_tx, response_rx) = oneshot::channel();
        let (outcome_tx, outcome_rx) = oneshot::channel();
        let pre = self.pre.clone();
        let memory_mb = limits.memory_mb;
        let timeout = limits.timeout;
        tokio::spawn(async move {
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
            let (stdout_text, out_cut) = stdout.take();
            let (stderr_text, err_cut) = stderr.take();
            let logs = CapturedLogs {
                stdout: stdout_text,
                stderr: stderr_text,
                truncated: out_cut || err_cut,
            };
            drop(store);
            let _ = outcome_tx.send(Outcome {
                kind,
                message,
                logs,
                instantiate,
            });
        });

        match response_rx.await {
            Ok(Ok(response)) => Ok((response, outcome_rx)),
            Ok(Err(code)) => {
                let mut outcome = wait_outcome(outcome_rx).await;
                if outcome.kind == OutcomeKind::Completed {
                    outcome.kind = OutcomeKind::Failed;
                    outcome.message =
                        Some(format!("the function answered with an error: {code:?}"));
                }
                Err(classify(outcome))
            }
            Err(_) => {
                let mut outcome = wait_outcome(outcome_rx).await;
                if outcome.kind == OutcomeKind::Completed {
                    outcome.kind = OutcomeKind::Failed;
                    outcome.message =
                        Some("the function returned without setting a response".into());
                }
                Err(classify(outcome))
            }
        }
    }
}

async fn wait_outcome(rx: oneshot::Receiver<Outcome>) -> Outcome {
    rx.await.unwrap_or_else(|_| Outcome {
        kind: OutcomeKind::Failed,
        message: Some("the function's task ended unexpectedly".into()),
        logs: CapturedLogs::default(),
        instantiate: Duration::ZERO,
    })
}

fn classify(outcome: Outcome) -> InvokeError {
    match outcome.kind {
        OutcomeKind::Timeout => InvokeError::Timeout(outcome),
        _ => InvokeError::Failed(outcome),
    }
}
