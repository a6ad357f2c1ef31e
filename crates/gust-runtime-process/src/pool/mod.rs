//! [`FunctionPool`]: one deployment's workers, between `min_scale` and `max_scale`, each
//! taking up to `concurrency` requests; a bounded queue in front; idle workers stopped.
//!
//! The decisions live in `state` (pure, unit-tested); `launch` starts a worker; `maintain`
//! is the pool's background task (dead workers, min_scale, idle timeout, scale changes).

mod launch;
mod maintain;
mod run;
mod state;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use gust_core::{HandlerContract, RuntimeId};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::request::{ColdStart, ProcessResponse};
use crate::runtime::Shared;
use crate::worker::{Sent, Worker};
use gust_runtime::{NotRun, Request};
use state::{Acquire, Lease, Member, PoolState};

/// What a pool runs: one deployment of one function.
#[derive(Debug, Clone)]
pub struct PoolSpec {
    pub function_id: String,
    pub function_name: String,
    pub deployment_id: String,
    pub runtime: RuntimeId,
    /// The deployment's code folder (after [`build`](crate::ProcessRuntime::build)); shown
    /// read-only at `/code`. It and its files must be readable by others (0755/0644).
    pub code_dir: PathBuf,
    /// `module.function`, e.g. `main.handle`. Ignored by `custom` (its `bootstrap` decides)
    /// and by the `appwrite` contract.
    pub handler: String,
    /// How the handler is called (`appwrite`: python3.11 and node20 only).
    pub contract: HandlerContract,
    /// The file the `appwrite` contract loads, relative to the code folder (`src/index.js`);
    /// its runtime's default (`main.py`, `index.js`) when `None`.
    pub entrypoint: Option<String>,
    /// The function's environment (namespace env and secrets merged), set before the import.
    pub env: Vec<(String, String)>,
    pub memory_mb: u64,
    /// Thousandths of a CPU per second of wall time; 0 for no limit.
    pub cpu_millis: u32,
    pub timeout: Duration,
    pub min_scale: u32,
    pub max_scale: u32,
    pub concurrency: u32,
    /// `false`: an empty network namespace (no interface up, not even loopback).
    pub network: bool,
    /// The function's own arguments as JSON text, for contracts that give code arguments
    /// (`azion`): what a request that carries none of an edge instance gets (`{}` when `None`).
    pub args: Option<std::sync::Arc<str>>,
}

/// What a scale up or down did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scaled {
    /// Workers started (up) or stopped (down).
    pub changed: usize,
    /// Live workers afterwards.
    pub instances: usize,
}

/// A live worker, for `GET …/instances`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceInfo {
    /// Host pid of the worker's sandbox (its init).
    pub pid: i32,
    pub state: InstanceState,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub requests_served: u64,
    pub in_flight: u32,
    /// Memory charged to the worker's cgroup (process, page cache, its /tmp).
    pub memory_bytes: Option<u64>,
    /// Started from a pre-started stem cell.
    pub stem_cell: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceState {
    Idle,
    Busy,
}

impl InstanceState {
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceState::Idle => "idle",
            InstanceState::Busy => "busy",
        }
    }
}

impl Member for Arc<Worker> {
    fn id(&self) -> u64 {
        self.seq
    }
    fn usable(&self) -> bool {
        self.accepts_requests()
    }
}

pub(crate) struct PoolInner {
    spec: PoolSpec,
    runtime: Arc<Shared>,
    state: Mutex<PoolState<Arc<Worker>>>,
    /// Wakes the maintenance task: a worker started or failed, the scale changed, a drain.
    changed: Arc<Notify>,
    /// Wakes `drain` whenever a request finishes.
    released: Notify,
    /// Workers report their death here (by seq) to the maintenance task.
    exits: mpsc::UnboundedSender<u64>,
}

impl Drop for PoolInner {
    fn drop(&mut self) {
        for worker in self.state.get_mut().unwrap().take_all() {
            worker.kill("the function's pool was dropped");
        }
    }
}

impl PoolInner {
    /// A request is done with `worker`: free its slot for the next one.
    fn release(&self, worker: &Worker, elapsed: Duration) {
        let draining = {
            let mut state = self.state.lock().unwrap();
            state.release(worker.seq, elapsed, Instant::now());
            state.draining
        };
        // Only a drain waits for releases.
        if draining {
            self.released.notify_waiters();
        }
        if !worker.accepts_requests() {
            self.changed.notify_one();
        }
    }
}

/// A caller waiting in the queue; dropped before it got its answer, it returns any lease
/// sent to it.
struct Waiting {
    rx: Option<oneshot::Receiver<Result<Lease<Arc<Worker>>, NotRun>>>,
    inner: Arc<PoolInner>,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Some(mut rx) = self.rx.take() {
            rx.close();
            if let Ok(Ok(lease)) = rx.try_recv() {
                self.inner.release(&lease.worker, Duration::ZERO);
            }
        }
    }
}

/// A request sent to a worker. Once sent, a request keeps its worker busy whether or not the
/// caller still waits (a client that hangs up cannot stop code in a worker): dropped early, the
/// call hands the wait to a task of its own, which still enforces the timeout (killing the
/// worker) and frees the slot. Otherwise the caller's own task does the waiting: no task per
/// request.
struct Call {
    inner: Arc<PoolInner>,
    worker: Arc<Worker>,
    cold: Option<ColdStart>,
    started: Instant,
    /// Set until the answer is in.
    sent: Option<Sent>,
}

impl Call {
    fn new(inner: Arc<PoolInner>, lease: Lease<Arc<Worker>>, request: &Request) -> Self {
        Call {
            inner,
            started: Instant::now(),
            sent: Some(lease.worker.send(request)),
            worker: lease.worker,
            cold: lease.cold,
        }
    }

    /// Ready with the answer, the slot freed.
    fn poll_answer(&mut self, cx: &mut std::task::Context<'_>) -> Poll<ProcessResponse> {
        let sent = self.sent.as_mut().expect("answered once");
        let mut response = std::task::ready!(self.worker.poll_wait(sent, cx));
        self.sent = None;
        self.inner.release(&self.worker, self.started.elapsed());
        response.cold_start = self.cold.take();
        Poll::Ready(response)
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        let Some(mut sent) = self.sent.take() else {
            return;
        };
        let (inner, worker, started) = (self.inner.clone(), self.worker.clone(), self.started);
        let rest = async move {
            worker.wait(&mut sent).await;
            inner.release(&worker, started.elapsed());
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn(rest)),
            // The runtime is going away, and every worker with it.
            Err(_) => self.inner.release(&self.worker, started.elapsed()),
        }
    }
}

/// One deployment's workers. Cheap to clone; dropping the last clone stops every worker.
#[derive(Clone)]
pub struct FunctionPool {
    inner: Arc<PoolInner>,
}

impl FunctionPool {
    pub(crate) fn new(runtime: Arc<Shared>, spec: PoolSpec) -> FunctionPool {
        let queue_limit = runtime.config.queue_limit;
        let state = PoolState::new(
            spec.min_scale,
            spec.max_scale,
            spec.concurrency,
            queue_limit,
        );
        let (exits, exits_rx) = mpsc::unbounded_channel();
        let inner = Arc::new(PoolInner {
            spec,
            runtime,
            state: Mutex::new(state),
            changed: Arc::new(Notify::new()),
            released: Notify::new(),
            exits,
        });
        tokio::spawn(maintain::run(
            Arc::downgrade(&inner),
            inner.changed.clone(),
            exits_rx,
        ));
        inner.changed.notify_one();
        FunctionPool { inner }
    }

    pub fn spec(&self) -> &PoolSpec {
        &self.inner.spec
    }

    /// Runs one request on a worker: a warm one with room, else a new one (cold), else after
    /// waiting in the queue. Refused with Overloaded past the queue's bound or wait limit.
    pub async fn invoke(&self, request: Request) -> Result<ProcessResponse, NotRun> {
        let lease = self.acquire().await?;
        let mut call = Call::new(self.inner.clone(), lease, &request);
        Ok(std::future::poll_fn(|cx| call.poll_answer(cx)).await)
    }

    /// A warm worker with room, if there is one: the common case, with no reply channel to
    /// make and nothing to wait for.
    fn take_warm(&self) -> Option<Lease<Arc<Worker>>> {
        let worker = self.inner.state.lock().unwrap().take_warm(Instant::now())?;
        Some(Lease { worker, cold: None })
    }

    async fn acquire(&self) -> Result<Lease<Arc<Worker>>, NotRun> {
        let inner = &self.inner;
        let (decision, rx) = {
            let mut state = inner.state.lock().unwrap();
            let now = Instant::now();
            // The common case first: a warm worker with room, no reply channel to make.
            if let Some(worker) = state.take_warm(now) {
                return Ok(Lease { worker, cold: None });
            }
            let (tx, rx) = oneshot::channel();
            (state.acquire(tx, now), rx)
        };
        match decision {
            Acquire::Warm(worker) => Ok(Lease { worker, cold: None }),
            Acquire::Overloaded(retry_after) => Err(NotRun::Overloaded { retry_after }),
            Acquire::Draining => Err(NotRun::Unavailable(
                "this deployment is being replaced".into(),
            )),
            Acquire::Wait { start } => {
                if start {
                    tokio::spawn(inner.clone().start_worker());
                }
                // Should this caller go away while it waits, a lease handed to it meanwhile
                // goes back to the pool instead of holding a slot forever.
                let mut waiting = Waiting {
                    rx: Some(rx),
                    inner: inner.clone(),
                };
                let rx = waiting.rx.as_mut().expect("set above");
                let wait = inner.runtime.config.queue_wait;
                let outcome = match tokio::time::timeout(wait, &mut *rx).await {
                    Ok(Ok(result)) => result,
                    Ok(Err(_)) => Err(NotRun::Unavailable("the pool was stopped".into())),
                    Err(_elapsed) => {
                        // A lease sent just as the wait ended must not be lost.
                        rx.close();
                        if let Ok(Ok(lease)) = rx.try_recv() {
                            waiting.rx = None;
                            return Ok(lease);
                        }
                        let retry_after = inner.state.lock().unwrap().retry_after();
                        Err(NotRun::Overloaded { retry_after })
                    }
                };
                waiting.rx = None;
                outcome
            }
        }
    }

    /// Changes the scale; takes effect at once (workers start, or idle ones above `max`
    /// stop; busy ones finish first).
    pub fn set_scale(&self, min_scale: u32, max_scale: u32, concurrency: u32) {
        let mut state = self.inner.state.lock().unwrap();
        state.min = min_scale;
        state.max = max_scale.max(1);
        state.concurrency = concurrency.max(1);
        drop(state);
        self.inner.changed.notify_one();
    }

    /// Starts up to `count` more workers now, never past `max_scale`, and waits for them to
    /// be ready (each takes a queued request at once, if there are any). Like any worker above
    /// `min_scale`, they stop after the idle timeout.
    pub async fn scale_up(&self, count: u32) -> Scaled {
        let starts = self.inner.state.lock().unwrap().plan_scale_up(count);
        let launches: Vec<_> = (0..starts)
            .map(|_| tokio::spawn(self.inner.clone().start_worker()))
            .collect();
        let mut changed = 0;
        for launch in launches {
            if matches!(launch.await, Ok(Ok(()))) {
                changed += 1;
            }
        }
        Scaled {
            changed,
            instances: self.instance_count(),
        }
    }

    /// Stops up to `count` idle workers now, never below `min_scale`; busy workers are left to
    /// finish their requests.
    pub fn scale_down(&self, count: u32) -> Scaled {
        let stopped = self.inner.state.lock().unwrap().take_idle(count);
        for worker in &stopped {
            worker.kill("the function was scaled down");
        }
        self.inner.changed.notify_one();
        Scaled {
            changed: stopped.len(),
            instances: self.instance_count(),
        }
    }

    /// The live workers. Their memory is read after the pool's lock is released: requests
    /// take that lock, and reading a cgroup file is I/O.
    pub fn instances(&self) -> Vec<InstanceInfo> {
        let live: Vec<(Arc<Worker>, u32)> = {
            let state = self.inner.state.lock().unwrap();
            state
                .slots
                .iter()
                .filter(|slot| slot.worker.accepts_requests())
                .map(|slot| (slot.worker.clone(), slot.inflight))
                .collect()
        };
        live.into_iter()
            .map(|(worker, inflight)| InstanceInfo {
                pid: worker.pid(),
                state: if inflight > 0 {
                    InstanceState::Busy
                } else {
                    InstanceState::Idle
                },
                started_at: worker.started_at,
                requests_served: worker.served.load(std::sync::atomic::Ordering::Relaxed),
                in_flight: inflight,
                memory_bytes: worker.memory_bytes(),
                stem_cell: worker.stem_cell,
            })
            .collect()
    }

    /// How many workers are live (for metrics: no I/O).
    pub fn instance_count(&self) -> usize {
        let state = self.inner.state.lock().unwrap();
        state
            .slots
            .iter()
            .filter(|slot| slot.worker.accepts_requests())
            .count()
    }

    /// Kills every worker (Qinling's detach); requests in flight on them fail, new requests
    /// start fresh workers. Returns how many were killed.
    pub async fn detach(&self) -> usize {
        let workers = self.inner.state.lock().unwrap().take_all();
        for worker in &workers {
            worker.kill("the function's instances were detached");
        }
        self.inner.changed.notify_one();
        workers.len()
    }

    /// Stops taking requests, lets those in flight or queued finish, then stops every
    /// worker: what a new deployment does to the old one's pool.
    pub async fn drain(&self) {
        let inner = &self.inner;
        inner.state.lock().unwrap().draining = true;
        loop {
            let released = inner.released.notified();
            if inner.state.lock().unwrap().is_quiet() {
                break;
            }
            // Bounded wait: a request in flight ends by its timeout at the latest.
            let _ = tokio::time::timeout(Duration::from_millis(200), released).await;
        }
        for worker in inner.state.lock().unwrap().take_all() {
            worker.kill("the deployment was replaced");
        }
        inner.changed.notify_one();
    }
}
