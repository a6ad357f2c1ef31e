//! One request through a fresh instance, run on the caller's task (a spawn would cost a task
//! and, often, a hop to another thread): [`LimitedComponent`] is the Wasm [`Runtime`]. The
//! caller gets the response head as soon as the guest sets it, then drives the guest while it
//! reads the body, and the guest's [`Ending`] once it has returned.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use gust_core::ExecutionRequest;
use gust_runtime::{
    Abandoned, BodyError, Ending, Finished, Head, Invocation, LogPipe, LogWatch, Logs, NotRun,
    Outcome, Request, Running, Runtime, recorded_headers,
};
use http::{HeaderValue, StatusCode};
use http_body::{Body as _, Frame};
use http_body_util::Full;
use tokio::sync::oneshot;
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpView};

use crate::engine::{ComponentRef, WasmFunction, WasmRuntime};
use crate::guest::{GuestPipe, GuestState, MemoryLimiter, OutgoingHttp};

/// The streaming body of a guest's response.
type ResponseBody = wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// What one invocation may use.
#[derive(Debug, Clone)]
pub struct InvokeLimits {
    pub timeout: Duration,
    pub memory_mb: u32,
    pub env: Vec<(String, String)>,
    /// Bytes of stdout and of stderr kept (each); the rest is counted and marked.
    pub log_limit: usize,
    /// Whether the guest's outgoing HTTP requests may leave (the function's `network`).
    pub network: bool,
}

/// A component with the limits its requests run under: what runs a `wasm` function.
#[derive(Clone)]
pub struct LimitedComponent {
    pub function: ComponentRef,
    pub limits: InvokeLimits,
    /// Instances serving a request now, counted from instantiation until the guest has
    /// returned or was stopped.
    pub serving: Arc<AtomicI64>,
}

impl Runtime for LimitedComponent {
    fn start(&self, request: Request, watch: &mut dyn FnMut(LogWatch)) -> Running {
        let code = match self.function.slot.current() {
            Some(loaded) => Code::Loaded(loaded),
            None => Code::Unloaded(self.function.clone()),
        };
        Box::pin(run(
            &self.function.runtime,
            code,
            request,
            &self.limits,
            &self.serving,
            watch,
        ))
    }
}

/// The component a run instantiates: loaded, or to be loaded first (it was idle).
enum Code {
    Loaded(WasmFunction),
    Unloaded(ComponentRef),
}

impl Code {
    /// The component, ready; and how long loading it took, when it had to be loaded.
    async fn ready(self) -> Result<(WasmFunction, Option<Duration>), String> {
        match self {
            Code::Loaded(function) => Ok((function, None)),
            Code::Unloaded(component) => {
                let started = Instant::now();
                let loaded =
                    tokio::task::spawn_blocking(move || component.slot.load(&component.runtime))
                        .await
                        .map_err(|e| format!("loading the component failed: {e}"))?
                        .map_err(|e| format!("the component could not be loaded: {e}"))?;
                Ok((loaded, Some(started.elapsed())))
            }
        }
    }
}

/// How the guest ended.
struct GuestEnd {
    ending: Ending,
    /// It did not return normally (trapped, timed out or was stopped), so anything it was
    /// still writing is cut short.
    interrupted: bool,
}

/// Counts an instance serving a request for as long as it lives.
struct Serving(Arc<AtomicI64>);

impl Serving {
    fn start(gauge: &Arc<AtomicI64>) -> Self {
        gauge.fetch_add(1, Ordering::Relaxed);
        Serving(gauge.clone())
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Longest error message kept from a trap (wasm backtraces can be long).
const MESSAGE_LIMIT: usize = 4096;

/// A run of `request` in a fresh instance, on the caller's task: no spawn, no thread hop.
/// `watch` gets the guest's live output before it starts.
fn run(
    runtime: &WasmRuntime,
    code: Code,
    request: Request,
    limits: &InvokeLimits,
    serving: &Arc<AtomicI64>,
    watch: &mut dyn FnMut(LogWatch),
) -> WasmRun<impl Future<Output = GuestEnd> + Send + use<>> {
    let recorded = request.to_record(false);
    let execution_id = request.execution_id.clone();
    let guest_request = guest_request(request);
    let changed = Arc::new(tokio::sync::Notify::new());
    let stdout = LogPipe::new(limits.log_limit, changed.clone());
    let stderr = LogPipe::new(limits.log_limit, changed);
    watch(LogWatch::new(&stdout, &stderr));
    let wasi = WasiCtxBuilder::new()
        .envs(&limits.env)
        .stdout(GuestPipe(stdout.clone()))
        .stderr(GuestPipe(stderr.clone()))
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
        outgoing: OutgoingHttp {
            allowed: limits.network,
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
    let memory_mb = limits.memory_mb;
    let timeout = limits.timeout;
    let pipes = (stdout.clone(), stderr.clone());
    let serving = serving.clone();
    let guest = async move {
        let _serving = Serving::start(&serving);
        let request = match guest_request {
            Ok(request) => request,
            Err(reason) => {
                return GuestEnd {
                    ending: Ending::failed(reason),
                    interrupted: false,
                };
            }
        };
        let (function, load) = match code.ready().await {
            Ok(ready) => ready,
            Err(reason) => {
                return GuestEnd {
                    ending: Ending::failed(reason),
                    interrupted: false,
                };
            }
        };
        let started = Instant::now();
        let mut instantiate = Duration::ZERO;
        let result = async {
            let proxy = function.pre.instantiate_async(&mut store).await?;
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
        let outcome = if state.timed_out {
            Outcome::Timeout(format!("timed out after {} s", timeout.as_secs_f64()))
        } else if let Some(asked) = state.limiter.refused {
            Outcome::Failed(format!(
                "memory limit of {memory_mb} MiB was hit (the guest asked for {} MiB)",
                asked.div_ceil(1024 * 1024)
            ))
        } else if let Err(e) = &result {
            let mut text = format!("the function trapped: {e:#}");
            text.truncate(MESSAGE_LIMIT);
            Outcome::Failed(text)
        } else {
            Outcome::Completed
        };
        drop(store);
        GuestEnd {
            ending: Ending {
                outcome,
                logs: capture(&stdout, &stderr),
                // A pooled Wasm instance is ready in microseconds: a cold start only when
                // the component itself had to be loaded (it was idle); how long the
                // instance took is kept either way.
                cold_start: load.is_some(),
                startup: (!instantiate.is_zero() || load.is_some()).then(|| {
                    let load_us = load.map(|d| d.as_micros() as u64);
                    gust_core::Startup {
                        total_us: instantiate.as_micros() as u64 + load_us.unwrap_or(0),
                        instantiate_us: Some(instantiate.as_micros() as u64),
                        import_us: load_us,
                        ..Default::default()
                    }
                }),
            },
            interrupted: result.is_err(),
        }
    };
    WasmRun {
        guest: Some(guest),
        end: None,
        response_rx,
        answered: false,
        no_response: None,
        body: None,
        head: None,
        request: Some(recorded),
        execution_id,
        pipes,
    }
}

/// The request as the guest gets it. wasi:http needs an authority; API executions have no
/// Host header of their own.
fn guest_request(request: Request) -> Result<http::Request<Full<Bytes>>, String> {
    let path_and_query = request.path_and_query();
    let mut headers = request.headers;
    if !headers.contains_key("host") {
        headers.insert("host", HeaderValue::from_static("localhost"));
    }
    let mut guest_request = http::Request::builder()
        .method(request.method)
        .uri(path_and_query)
        .body(Full::new(request.body))
        .map_err(|e| format!("invalid request: {e}"))?;
    *guest_request.headers_mut() = headers;
    Ok(guest_request)
}

pin_project_lite::pin_project! {
    /// A guest serving one request. It lives in the run's one box, the guest future in place.
    /// Dropping it stops the guest.
    struct WasmRun<G> {
        #[pin]
        guest: Option<G>,
        end: Option<GuestEnd>,
        response_rx: oneshot::Receiver<Result<hyper::Response<ResponseBody>, ErrorCode>>,
        answered: bool,
        // The guest ended without a response: with the error code it gave, if any.
        no_response: Option<Option<ErrorCode>>,
        body: Option<ResponseBody>,
        // Status and headers as the record keeps them.
        head: Option<(u16, BTreeMap<String, String>)>,
        request: Option<ExecutionRequest>,
        execution_id: String,
        // The guest's stdout and stderr, readable even if it is stopped early.
        pipes: (LogPipe, LogPipe),
    }
}

/// Polls the guest if it is still running; true once it has ended.
fn drive<G: Future<Output = GuestEnd>>(
    mut guest: Pin<&mut Option<G>>,
    end: &mut Option<GuestEnd>,
    cx: &mut Context<'_>,
) -> bool {
    if let Some(running) = guest.as_mut().as_pin_mut()
        && let Poll::Ready(ended) = running.poll(cx)
    {
        *end = Some(ended);
        guest.set(None);
    }
    end.is_some()
}

impl<G: Future<Output = GuestEnd> + Send> Invocation for WasmRun<G> {
    fn execution_id(&self) -> &str {
        &self.execution_id
    }

    fn poll_head(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Head, NotRun>> {
        let this = self.project();
        let ended = drive(this.guest, this.end, cx);
        if this.no_response.is_none() {
            match Pin::new(&mut *this.response_rx).poll(cx) {
                Poll::Ready(Ok(Ok(response))) => {
                    let (parts, body) = response.into_parts();
                    *this.head =
                        Some((parts.status.as_u16(), recorded_headers(&parts.headers, &[])));
                    *this.body = Some(body);
                    *this.answered = true;
                    return Poll::Ready(Ok(Head::Answered(parts)));
                }
                Poll::Ready(Ok(Err(code))) => *this.no_response = Some(Some(code)),
                // The guest dropped the outparam: it has returned (or trapped).
                Poll::Ready(Err(_)) => *this.no_response = Some(None),
                Poll::Pending => return Poll::Pending,
            }
        }
        // No response: the record waits for the guest's end.
        if !ended {
            return Poll::Pending;
        }
        let end = this.end.as_mut().expect("ended");
        if end.ending.outcome == Outcome::Completed {
            end.ending.outcome = Outcome::Failed(match this.no_response.take().flatten() {
                Some(code) => format!("the function answered with an error: {code:?}"),
                None => "the function returned without setting a response".into(),
            });
        }
        let status = match end.ending.outcome {
            Outcome::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let reason = end
            .ending
            .outcome
            .message()
            .unwrap_or("the function failed")
            .to_string();
        Poll::Ready(Ok(Head::Unusable { status, reason }))
    }

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.project();
        // Let the guest run: it produces what is about to be read.
        drive(this.guest, this.end, cx);
        let Some(body) = this.body.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(body).poll_frame(cx) {
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(Ok(frame))),
            Poll::Ready(None) => {
                *this.body = None;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn body_size(&self) -> Option<u64> {
        self.body.as_ref().and_then(|body| body.size_hint().exact())
    }

    fn poll_end(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), BodyError>> {
        let this = self.project();
        if !drive(this.guest, this.end, cx) {
            return Poll::Pending;
        }
        let interrupted = this.end.as_ref().is_some_and(|end| end.interrupted);
        Poll::Ready(match interrupted && *this.answered {
            true => Err(wasmtime_wasi_http::Error::HttpResponseIncomplete.into()),
            false => Ok(()),
        })
    }

    fn abandon(self: Pin<&mut Self>, reason: &str) -> Abandoned {
        let mut this = self.project();
        if this.end.is_none() {
            this.guest.set(None);
            *this.end = Some(GuestEnd {
                ending: Ending {
                    outcome: Outcome::Failed(reason.to_string()),
                    logs: capture(&this.pipes.0, &this.pipes.1),
                    cold_start: false,
                    startup: None,
                },
                interrupted: true,
            });
        }
        Abandoned::Stopped
    }

    fn fits_a_record(&self) -> bool {
        // The request is kept as a record already; the body as the caller captured it.
        true
    }

    fn finish(self: Pin<&mut Self>) -> Finished {
        let this = self.project();
        Finished {
            execution_id: std::mem::take(this.execution_id),
            request: this.request.take().unwrap_or_default(),
            head: this.head.take(),
            ending: this.end.take().map_or_else(
                || Ending::failed("the function was not run to its end".into()),
                |end| end.ending,
            ),
        }
    }
}

fn capture(stdout: &LogPipe, stderr: &LogPipe) -> Logs {
    let (stdout, out_cut) = stdout.take();
    let (stderr, err_cut) = stderr.take();
    Logs {
        stdout,
        stderr,
        truncated: out_cut || err_cut,
    }
}
