//! One live worker: a sandboxed process with its handler loaded, serving invocations over the
//! worker protocol, several at once when multiplexed by request id.
//!
//! A reader task routes `result` and `log` frames to their requests, and two more tasks read
//! the process's stdout and stderr (output written below the language's own streams — C
//! extensions, subprocesses), giving it to the request in flight when there is exactly one.
//! When the socket closes, the worker is dead: every request in flight fails with the reason
//! (exit status, signal, memory limit) and the pool hears of it. A watchdog task enforces the
//! function's timeout for every request in flight, so no request arms a timer of its own.

pub mod start;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use gust_core::HandlerContract;
use gust_sandbox::Sandbox;
use tokio::io::AsyncWriteExt;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf, pipe};
use tokio::sync::{mpsc, oneshot};

use crate::protocol::{FrameReader, InvokeTemplate, Kind, WorkerMessage};
use gust_runtime::{Logs, Outcome, Request};

use crate::request::ProcessResponse;
pub use start::Fresh;

/// What the function's limits are, for messages and for the invoke frame.
#[derive(Debug, Clone)]
pub struct WorkerLimits {
    pub function_name: String,
    /// The deployment the worker runs (the context's `functionVersion`).
    pub version: String,
    pub memory_mb: u64,
    pub timeout: Duration,
    pub log_limit: usize,
    /// How the handler is called; what each invoke frame carries depends on it.
    pub contract: HandlerContract,
    /// The function's own arguments (JSON text), for requests that carry none.
    pub args: Option<std::sync::Arc<str>>,
}

/// A request waiting for its result.
struct InFlight {
    reply: oneshot::Sender<Reply>,
    /// When the watchdog stops the worker for it.
    deadline: tokio::time::Instant,
    /// Output read from the process's stdout/stderr pipes while it was the only request.
    fd_logs: Logs,
}

/// Most room the writer's buffer keeps between writes: frames with large bodies may need more,
/// but only while they pass.
const WRITE_ROOM_KEPT: usize = 1024 * 1024;

/// Frames on their way to the process, through one writer task per worker. The writer takes
/// the first frame, lets the scheduler run everything else that is ready, then sends all
/// frames queued meanwhile in one write: under load the requests dispatched in one scheduler
/// turn share a system call and a wake-up of the worker. Senders never wait, so a caller
/// that goes away cannot leave half a frame on the socket. The task ends with the worker (the
/// sender dropped) or with the socket.
fn start_writer(mut socket: OwnedWriteHalf) -> mpsc::UnboundedSender<Vec<u8>> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    tokio::spawn(async move {
        // Frames that arrived together, in one buffer kept for the worker's life: growing a
        // fresh one on every write copied the frames again and faulted fresh pages in. It
        // grows on the first batch; a worker that is sent one frame at a time never has one.
        let mut batch = Vec::new();
        while let Some(first) = rx.recv().await {
            tokio::task::yield_now().await;
            let written = if let Ok(second) = rx.try_recv() {
                batch.clear();
                batch.extend_from_slice(&first);
                batch.extend_from_slice(&second);
                while let Ok(frame) = rx.try_recv() {
                    batch.extend_from_slice(&frame);
                }
                let written = socket.write_all(&batch).await;
                if batch.capacity() > WRITE_ROOM_KEPT {
                    batch = Vec::new();
                }
                written
            } else {
                socket.write_all(&first).await
            };
            // A failed write means the worker is dying: its reader fails the requests.
            if written.is_err() {
                return;
            }
        }
    });
    tx
}

/// A request on its way: what [`Worker::wait`] needs to get its answer.
pub struct Sent {
    rx: oneshot::Receiver<Reply>,
}

enum Reply {
    Result(Box<WorkerMessage>, Bytes),
    /// Why, with what its pipes said for the request meanwhile.
    Died(String, Logs),
    /// It ran past the function's timeout (the worker is being stopped).
    TimedOut(Logs),
}

pub struct Worker {
    pub seq: u64,
    sandbox: Sandbox,
    frames: mpsc::UnboundedSender<Vec<u8>>,
    /// By request id: ids grow and every request gets the same timeout, so the first entry
    /// is the next to time out.
    inflight: Mutex<BTreeMap<u64, InFlight>>,
    /// Wakes the watchdog: a request went out while none was in flight, or the worker died.
    watch: Arc<tokio::sync::Notify>,
    next_id: AtomicU64,
    limits: WorkerLimits,
    /// The invoke frame's fixed part, from `limits`.
    invoke: InvokeTemplate,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub stem_cell: bool,
    pub served: AtomicU64,
    /// Set by whoever kills the worker on purpose (timeout, idle, detach): the reason the
    /// requests still in flight are given.
    kill_reason: Mutex<Option<String>>,
    /// Set once the worker is gone.
    dead: Mutex<Option<String>>,
    /// Cleared the moment it is killed or its socket closes, before `dead` has a reason
    /// (which waits for the pipes and the exit): pools stop routing to it at once, and
    /// checking costs no lock on their hot path.
    accepting: AtomicBool,
    /// Held while output read from the pipes is attributed to a request, so a result frame
    /// cannot answer its request between a pipe read and the attribution of what it read.
    /// Holds the buffer [`drain_pipes`] reads into.
    output: Mutex<Vec<u8>>,
}

impl Worker {
    /// Starts serving on a loaded process. `exits` hears `seq` when the worker dies.
    pub fn run(
        fresh: Fresh,
        seq: u64,
        stem_cell: bool,
        limits: WorkerLimits,
        exits: mpsc::UnboundedSender<u64>,
    ) -> Arc<Worker> {
        let Fresh {
            sandbox,
            reader,
            writer,
            stdout,
            stderr,
            ..
        } = fresh;
        let worker = Arc::new(Worker {
            seq,
            sandbox,
            frames: start_writer(writer),
            inflight: Mutex::new(BTreeMap::new()),
            watch: Arc::new(tokio::sync::Notify::new()),
            next_id: AtomicU64::new(1),
            invoke: InvokeTemplate::new(
                &limits.function_name,
                &limits.version,
                limits.memory_mb,
                limits.timeout.as_millis() as u64,
                limits.contract == HandlerContract::Appwrite,
            )
            .with_edge(limits.contract == HandlerContract::Azion)
            .with_default_args(limits.args.clone()),
            limits,
            started_at: chrono::Utc::now(),
            stem_cell,
            served: AtomicU64::new(0),
            kill_reason: Mutex::new(None),
            dead: Mutex::new(None),
            accepting: AtomicBool::new(true),
            output: Mutex::new(Vec::new()),
        });
        let pipes = [Arc::new(stdout), Arc::new(stderr)];
        let out = tokio::spawn(read_output(
            Arc::downgrade(&worker),
            pipes[0].clone(),
            false,
        ));
        let err = tokio::spawn(read_output(Arc::downgrade(&worker), pipes[1].clone(), true));
        tokio::spawn(watch_deadlines(
            Arc::downgrade(&worker),
            worker.watch.clone(),
        ));
        tokio::spawn(read_frames(
            worker.clone(),
            reader,
            pipes,
            [out, err],
            exits,
        ));
        worker
    }

    pub fn pid(&self) -> i32 {
        self.sandbox.pid()
    }

    pub fn memory_bytes(&self) -> Option<u64> {
        self.sandbox.memory_bytes()
    }

    /// Neither dead nor being killed.
    pub fn accepts_requests(&self) -> bool {
        self.accepting.load(Ordering::Acquire)
    }

    /// Kills the process; requests in flight fail with `reason`.
    pub fn kill(&self, reason: &str) {
        self.accepting.store(false, Ordering::Release);
        self.kill_reason
            .lock()
            .unwrap()
            .get_or_insert_with(|| reason.to_string());
        self.sandbox.kill();
    }

    /// Sends one request to the process. Never waits (see [`start_writer`]).
    pub fn send(&self, request: &Request) -> Sent {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        {
            let mut inflight = self.inflight.lock().unwrap();
            if let Some(reason) = self.dead.lock().unwrap().clone() {
                let _ = tx.send(Reply::Died(reason, Logs::default()));
                return Sent { rx };
            }
            inflight.insert(
                id,
                InFlight {
                    reply: tx,
                    deadline: tokio::time::Instant::now() + self.limits.timeout,
                    fd_logs: Logs::default(),
                },
            );
            if inflight.len() == 1 {
                self.watch.notify_one();
            }
        }
        let frame = self.invoke.encode(id, request);
        // A worker whose writer has stopped is dying: the reader fails the request with the
        // reason, which `wait` then returns.
        let _ = self.frames.send(frame);
        Sent { rx }
    }

    /// The answer to a sent request: its result, or why it has none (the worker died, or the
    /// request ran past the timeout). Safe to stop and call again with the same `sent`.
    pub async fn wait(&self, sent: &mut Sent) -> ProcessResponse {
        std::future::poll_fn(|cx| self.poll_wait(sent, cx)).await
    }

    /// [`wait`](Self::wait), for callers that poll by hand.
    pub fn poll_wait(
        &self,
        sent: &mut Sent,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<ProcessResponse> {
        let reply = match std::pin::Pin::new(&mut sent.rx).poll(cx) {
            std::task::Poll::Ready(reply) => reply,
            std::task::Poll::Pending => return std::task::Poll::Pending,
        };
        std::task::Poll::Ready(match reply {
            Ok(Reply::Result(message, body)) => {
                self.served.fetch_add(1, Ordering::Relaxed);
                self.response(*message, body)
            }
            Ok(Reply::Died(reason, logs)) => {
                ProcessResponse::failure(Outcome::Failed(reason), logs, self.pid())
            }
            Ok(Reply::TimedOut(logs)) => ProcessResponse::failure(
                Outcome::Timeout(
                    "the function ran past its timeout; its worker was stopped".into(),
                ),
                logs,
                self.pid(),
            ),
            Err(_) => ProcessResponse::failure(
                Outcome::Failed("the worker went away".into()),
                Logs::default(),
                self.pid(),
            ),
        })
    }

    /// A `result` frame as a response; `error` set means the handler raised. A failure that
    /// comes with a body (a contract whose callers expect the trace as the answer) keeps the
    /// worker's status and body; without one, the caller gets Gust's JSON error.
    fn response(&self, mut message: WorkerMessage, body: Bytes) -> ProcessResponse {
        let limit = self.limits.log_limit;
        let mut logs = Logs::default();
        logs.append(false, message.stdout.as_deref().unwrap_or(""), limit);
        logs.append(true, message.stderr.as_deref().unwrap_or(""), limit);
        logs.truncated |= message.truncated;
        let headers = std::mem::take(&mut message.headers);
        match message.error {
            Some(error) if body.is_empty() => ProcessResponse::failure(
                Outcome::Failed(format!("the handler raised: {error}")),
                logs,
                self.pid(),
            ),
            Some(error) => ProcessResponse {
                status: message.status.unwrap_or(500),
                headers,
                body,
                outcome: Outcome::Failed(format!("the handler raised: {error}")),
                logs,
                cold_start: None,
                worker_pid: self.pid(),
            },
            None => ProcessResponse {
                status: message.status.unwrap_or(200),
                headers,
                body,
                outcome: Outcome::Completed,
                logs,
                cold_start: None,
                worker_pid: self.pid(),
            },
        }
    }

    /// Why the worker ended, in words for the execution's record; and whether the requests'
    /// logs should say it too (a kill by the seccomp filter, which the function's own output
    /// cannot explain).
    async fn death_reason(&self) -> (String, bool) {
        let exit = tokio::time::timeout(Duration::from_secs(2), self.sandbox.wait()).await;
        if let Some(reason) = self.kill_reason.lock().unwrap().clone() {
            return (reason, false);
        }
        let reason = match exit {
            Ok(exit) if exit.oom_killed => format!(
                "the memory limit of {} MiB was hit: the kernel's OOM killer stopped the worker",
                self.limits.memory_mb
            ),
            Ok(exit) if exit.killed_by_seccomp() => {
                return (format!("the worker was {exit}"), true);
            }
            Ok(exit) => format!("the worker crashed: it {exit}"),
            Err(_) => "the worker closed its connection".to_string(),
        };
        (reason, false)
    }
}

/// Stops the worker when a request runs past the function's timeout: that request times out,
/// the others in flight fail with the reason. Sleeps until the earliest deadline in flight (or,
/// with none in flight, until a request goes out); ends with the worker.
async fn watch_deadlines(worker: std::sync::Weak<Worker>, watch: Arc<tokio::sync::Notify>) {
    loop {
        let Some(live) = worker.upgrade() else {
            return;
        };
        if live.dead.lock().unwrap().is_some() {
            return;
        }
        let first = live
            .inflight
            .lock()
            .unwrap()
            .first_key_value()
            .map(|(id, entry)| (*id, entry.deadline));
        match first {
            None => {
                let woken = watch.notified();
                drop(live);
                woken.await;
            }
            Some((id, deadline)) if deadline <= tokio::time::Instant::now() => {
                let entry = live.inflight.lock().unwrap().remove(&id);
                if let Some(entry) = entry {
                    let _ = entry.reply.send(Reply::TimedOut(entry.fd_logs));
                }
                live.kill("the worker was stopped: another request on it timed out");
            }
            Some((_, deadline)) => {
                drop(live);
                tokio::time::sleep_until(deadline).await;
            }
        }
    }
}

/// Routes frames until the socket closes, then fails what is left and reports the death.
async fn read_frames(
    worker: Arc<Worker>,
    mut reader: FrameReader<OwnedReadHalf>,
    pipes: [Arc<pipe::Receiver>; 2],
    output: [tokio::task::JoinHandle<()>; 2],
    exits: mpsc::UnboundedSender<u64>,
) {
    loop {
        match reader.next().await {
            Ok(Some((message, body))) => match (&message.kind, message.id) {
                (Kind::Result, Some(id)) => {
                    // What the worker wrote to its pipes before this result is in them now:
                    // take it for this request before the request is answered.
                    drain_pipes(&worker, &pipes);
                    let entry = worker.inflight.lock().unwrap().remove(&id);
                    if let Some(entry) = entry {
                        let mut message = message;
                        merge_fd_logs(&mut message, entry.fd_logs);
                        let _ = entry.reply.send(Reply::Result(Box::new(message), body));
                    }
                }
                (Kind::Log, Some(id)) => {
                    let text = String::from_utf8_lossy(&body);
                    let stderr = message.stream.as_deref() == Some("stderr");
                    if let Some(entry) = worker.inflight.lock().unwrap().get_mut(&id) {
                        entry.fd_logs.append(stderr, &text, worker.limits.log_limit);
                    }
                }
                _ => {}
            },
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(pid = worker.pid(), "worker broke the protocol: {e}");
                worker.kill(&format!("the worker broke the protocol: {e}"));
                break;
            }
        }
    }
    worker.accepting.store(false, Ordering::Release);
    // Let the output pipes drain (they end when every process in the sandbox is gone) so a
    // crash's last words reach the request's logs.
    for task in output {
        let _ = tokio::time::timeout(Duration::from_millis(500), task).await;
    }
    let (reason, logged) = worker.death_reason().await;
    *worker.dead.lock().unwrap() = Some(reason.clone());
    let pending = std::mem::take(&mut *worker.inflight.lock().unwrap());
    for mut entry in pending.into_values() {
        if logged {
            let line = format!("gust: {reason}\n");
            entry.fd_logs.append(true, &line, worker.limits.log_limit);
        }
        let _ = entry.reply.send(Reply::Died(reason.clone(), entry.fd_logs));
    }
    worker.watch.notify_one();
    let _ = exits.send(worker.seq);
}

/// Output from the pipes goes before what the worker captured itself.
fn merge_fd_logs(message: &mut WorkerMessage, fd_logs: Logs) {
    if !fd_logs.stdout.is_empty() {
        message.stdout = Some(fd_logs.stdout + message.stdout.as_deref().unwrap_or(""));
    }
    if !fd_logs.stderr.is_empty() {
        message.stderr = Some(fd_logs.stderr + message.stderr.as_deref().unwrap_or(""));
    }
    message.truncated |= fd_logs.truncated;
}

/// Reads a stdout/stderr pipe; attributes what it reads to the only request in flight.
async fn read_output(worker: std::sync::Weak<Worker>, pipe: Arc<pipe::Receiver>, stderr: bool) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if pipe.readable().await.is_err() {
            return;
        }
        let Some(worker) = worker.upgrade() else {
            return;
        };
        let _reading = worker.output.lock().unwrap();
        match pipe.try_read(&mut buf) {
            Ok(0) => return,
            Ok(n) => attribute_output(&worker, &buf[..n], stderr),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => return,
        }
    }
}

/// Read whatever the pipes hold right now, without waiting.
/// Cheap when nothing came: tokio answers from its cached readiness, without a system call
/// and without touching the buffer (one per worker, kept for its life).
fn drain_pipes(worker: &Worker, pipes: &[Arc<pipe::Receiver>; 2]) {
    let mut buf = worker.output.lock().unwrap();
    for (pipe, stderr) in pipes.iter().zip([false, true]) {
        loop {
            buf.clear();
            if buf.capacity() == 0 {
                buf.reserve(16 * 1024);
            }
            match pipe.try_read_buf(&mut *buf) {
                Ok(n) if n > 0 => attribute_output(worker, &buf, stderr),
                _ => break,
            }
        }
    }
}

/// Output from the pipes belongs to the request in flight, when there is exactly one.
fn attribute_output(worker: &Worker, bytes: &[u8], stderr: bool) {
    let text = String::from_utf8_lossy(bytes);
    let mut inflight = worker.inflight.lock().unwrap();
    if inflight.len() == 1 {
        let entry = inflight.values_mut().next().unwrap();
        entry.fd_logs.append(stderr, &text, worker.limits.log_limit);
    } else {
        tracing::debug!(
            pid = worker.pid(),
            stderr,
            "worker output outside a request: {text}"
        );
    }
}
