//! The server's side: [`Spawner`] starts the spawner process and talks to it (starting a new
//! one if it dies); [`Sandbox`] is one running sandbox (kill, wait, attach code, limits,
//! memory). Async, for tokio.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::sync::{oneshot, watch};

use crate::cgroup::Cgroup;
use crate::error::{SandboxError, SandboxResult};
use crate::spec::{ExitInfo, SandboxSpec};
use crate::support::SandboxSupport;
use crate::sys;
use crate::wire::{MAX_MESSAGE, Reply, Request, SPAWNER_CONFIG_ENV, SPAWNER_ENV, SpawnerConfig};

/// How to start the spawner: a binary that calls [`crate::run_spawner_if_requested`] before it
/// has a second thread, first thing in `main`. By default the running executable itself.
#[derive(Debug, Clone)]
pub struct SpawnerCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
}

impl SpawnerCommand {
    pub fn current_exe() -> std::io::Result<Self> {
        Ok(SpawnerCommand {
            program: std::env::current_exe()?,
            args: Vec::new(),
        })
    }
}

/// A reply routed to the request that asked for it.
struct Delivery {
    reply: Reply,
    fds: Vec<OwnedFd>,
    exit: Option<watch::Receiver<Option<ExitInfo>>>,
}

struct Shared {
    sock: AsyncFd<OwnedFd>,
    /// Set when the spawner has closed its socket: it and all its sandboxes are gone.
    gone: AtomicBool,
    /// Requests waiting for their reply, by id.
    pending: Mutex<HashMap<u64, oneshot::Sender<Delivery>>>,
    /// Running sandboxes' exit slots, by pid; filled when `Exited` arrives.
    exits: Mutex<HashMap<i32, watch::Sender<Option<ExitInfo>>>>,
    next_id: AtomicU64,
    support: SandboxSupport,
}

/// Ends the spawner when the last [`Connection`] handle goes: stopping the reader drops the last
/// reference to the socket, and at its end of file the spawner ends every sandbox, removes
/// their cgroups and exits (tokio reaps it).
struct Owner {
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// The server's handle on its spawner, cheap to clone. Should the spawner process die
/// (killed by hand, a bug), its sandboxes die with it (they have it as parent-death signal)
/// and the next [`Spawner::spawn`] starts a new spawner, so workers come back without a
/// restart of the server.
#[derive(Clone)]
pub struct Spawner {
    inner: Arc<Restarting>,
}

struct Restarting {
    command: SpawnerCommand,
    config: SpawnerConfig,
    support: SandboxSupport,
    current: tokio::sync::Mutex<Connection>,
}

impl Spawner {
    /// Starts the spawner and waits for its report of what this host supports.
    pub async fn start(command: &SpawnerCommand, config: &SpawnerConfig) -> SandboxResult<Self> {
        let connection = Connection::start(command, config).await?;
        Ok(Spawner {
            inner: Arc::new(Restarting {
                command: command.clone(),
                config: config.clone(),
                support: connection.shared.support.clone(),
                current: tokio::sync::Mutex::new(connection),
            }),
        })
    }

    pub fn support(&self) -> &SandboxSupport {
        &self.inner.support
    }

    /// Starts a sandboxed process (see [`Connection::spawn`]), through a new spawner when the
    /// last one has died.
    pub async fn spawn(&self, spec: &SandboxSpec) -> SandboxResult<Sandbox> {
        let connection = self.connection().await?;
        match connection.spawn(spec).await {
            // It died between the check and the request: once more, on a new one.
            Err(_) if connection.is_gone() => self.connection().await?.spawn(spec).await,
            result => result,
        }
    }

    /// The live connection, after starting a new spawner if the current one is gone.
    async fn connection(&self) -> SandboxResult<Connection> {
        let mut current = self.inner.current.lock().await;
        if current.is_gone() {
            tracing::warn!("the sandbox spawner had exited; starting a new one");
            *current = Connection::start(&self.inner.command, &self.inner.config).await?;
        }
        Ok(current.clone())
    }
}

/// One spawner process and the socket to it. Cheap to clone.
#[derive(Clone)]
struct Connection {
    shared: Arc<Shared>,
    _owner: Arc<Owner>,
}

impl Connection {
    fn is_gone(&self) -> bool {
        self.shared.gone.load(Ordering::Acquire)
    }

    async fn start(command: &SpawnerCommand, config: &SpawnerConfig) -> SandboxResult<Self> {
        let start_error = |source| SandboxError::StartSpawner {
            program: command.program.display().to_string(),
            source,
        };
        let (ours, theirs) = sys::socketpair(libc::SOCK_SEQPACKET).map_err(start_error)?;
        sys::set_nonblocking(ours.as_raw_fd()).map_err(start_error)?;
        let theirs_raw = theirs.as_raw_fd();
        let mut cmd = std::process::Command::new(&command.program);
        cmd.args(&command.args)
            .env(SPAWNER_ENV, "3")
            .env(SPAWNER_CONFIG_ENV, serde_json::to_string(config).unwrap())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null());
        // SAFETY: the closure runs between fork and exec and only makes async-signal-safe
        // calls (dup2, fcntl, prctl) on descriptors this process owns.
        unsafe {
            cmd.pre_exec(move || {
                if theirs_raw == 3 {
                    sys::clear_cloexec(3)?;
                } else {
                    sys::dup2(theirs_raw, 3)?;
                }
                sys::set_parent_death_signal(libc::SIGTERM)
            });
        }
        let child = tokio::process::Command::from(cmd)
            .spawn()
            .map_err(start_error)?;
        drop(theirs);
        // SAFETY: `ours` is an open socket owned by the AsyncFd from here on; OwnedFd always
        // returns the same descriptor.
        let sock =
            unsafe { AsyncFd::register(ours) }.map_err(|e| SandboxError::Channel(e.into()))?;

        let hello = tokio::time::timeout(
            Duration::from_secs(10),
            recv(&sock, &mut vec![0u8; MAX_MESSAGE]),
        )
        .await
        .map_err(|_| SandboxError::SpawnerGone("no hello within 10 s".into()))??;
        let support = match hello {
            Some((Reply::Hello { support }, _)) => support,
            Some((other, _)) => {
                return Err(SandboxError::SpawnerGone(format!("unexpected {other:?}")));
            }
            None => {
                return Err(SandboxError::SpawnerGone(
                    "it exited at start (is its main calling run_spawner_if_requested?)".into(),
                ));
            }
        };
        let shared = Arc::new(Shared {
            sock,
            gone: AtomicBool::new(false),
            pending: Mutex::new(HashMap::new()),
            exits: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            support,
        });
        let reader = tokio::spawn(read_replies(shared.clone(), child));
        Ok(Connection {
            shared,
            _owner: Arc::new(Owner { reader }),
        })
    }

    /// Starts a sandboxed process. Returns once it is cloned and released; its own set-up
    /// (mounts, exec) continues in parallel, and a failure there shows as an early exit with
    /// a `gust sandbox: …` line on its stderr.
    async fn spawn(&self, spec: &SandboxSpec) -> SandboxResult<Sandbox> {
        let started_ns = crate::wire::monotonic_ns();
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let spec = Box::new(spec.clone());
        let delivery = self.request(id, &Request::Spawn { id, spec }).await?;
        match delivery.reply {
            Reply::Spawned {
                pid,
                cgroup,
                code_path,
                spawn_us,
                ..
            } => {
                let mut fds = delivery.fds.into_iter();
                let (Some(channel), Some(stdout), Some(stderr)) =
                    (fds.next(), fds.next(), fds.next())
                else {
                    return Err(SandboxError::Refused("spawned without descriptors".into()));
                };
                Ok(Sandbox {
                    pid,
                    spawner: self.clone(),
                    cgroup,
                    exit: delivery.exit.expect("exit slot registered with Spawned"),
                    io: Some(SandboxIo {
                        channel,
                        stdout,
                        stderr,
                    }),
                    spawn_us,
                    started_ns,
                    code_path,
                })
            }
            Reply::Failed { error, .. } => Err(SandboxError::Refused(error)),
            other => Err(SandboxError::Refused(format!("unexpected reply {other:?}"))),
        }
    }

    async fn request(&self, id: u64, request: &Request) -> SandboxResult<Delivery> {
        let (tx, rx) = oneshot::channel();
        self.shared.pending.lock().unwrap().insert(id, tx);
        if let Err(e) = self.shared.send(request).await {
            self.shared.pending.lock().unwrap().remove(&id);
            return Err(e);
        }
        rx.await
            .map_err(|_| SandboxError::SpawnerGone("it closed its socket".into()))
    }
}

impl Shared {
    async fn send(&self, request: &Request) -> SandboxResult<()> {
        let bytes = serde_json::to_vec(request).map_err(SandboxError::Protocol)?;
        loop {
            let mut guard = self.sock.writable().await.map_err(SandboxError::Channel)?;
            match guard.try_io(|fd| sys::send_with_fds(fd.as_raw_fd(), &bytes, &[])) {
                Ok(result) => return result.map_err(SandboxError::Channel),
                Err(_would_block) => continue,
            }
        }
    }

    /// Best-effort kill from synchronous code (drop, the reply reader): sends now, or from a
    /// task when the socket is momentarily full.
    fn kill_now(self: &Arc<Self>, pid: i32) {
        let request = Request::Kill { pid };
        let bytes = serde_json::to_vec(&request).unwrap();
        let sent = sys::send_with_fds(self.sock.get_ref().as_raw_fd(), &bytes, &[]);
        if sent.is_err()
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            let shared = self.clone();
            handle.spawn(async move { shared.send(&Request::Kill { pid }).await });
        }
    }
}

/// Receives one message; `None` at end of file.
async fn recv(
    sock: &AsyncFd<OwnedFd>,
    buf: &mut [u8],
) -> SandboxResult<Option<(Reply, Vec<OwnedFd>)>> {
    loop {
        let mut guard = sock.readable().await.map_err(SandboxError::Channel)?;
        match guard.try_io(|fd| sys::recv_with_fds(fd.as_raw_fd(), buf)) {
            Ok(Ok((0, _))) => return Ok(None),
            Ok(Ok((n, fds))) => {
                let reply = serde_json::from_slice(&buf[..n]).map_err(SandboxError::Protocol)?;
                return Ok(Some((reply, fds)));
            }
            Ok(Err(e)) => return Err(SandboxError::Channel(e)),
            Err(_would_block) => continue,
        }
    }
}

/// Routes replies to their requests and exits to their sandboxes, until the spawner goes;
/// then reaps it.
async fn read_replies(shared: Arc<Shared>, mut spawner: tokio::process::Child) {
    let mut buf = vec![0u8; MAX_MESSAGE];
    loop {
        let (reply, fds) = match recv(&shared.sock, &mut buf).await {
            Ok(Some(message)) => message,
            Ok(None) | Err(_) => break,
        };
        let id = match &reply {
            Reply::Exited { pid, exit } => {
                if let Some(slot) = shared.exits.lock().unwrap().remove(pid) {
                    let _ = slot.send(Some(*exit));
                }
                continue;
            }
            Reply::Spawned { id, .. } | Reply::Done { id } | Reply::Failed { id, .. } => *id,
            Reply::Hello { .. } => continue,
        };
        // Register the exit slot before anyone can see the pid, so no Exited is missed.
        let exit = match &reply {
            Reply::Spawned { pid, .. } => {
                let (tx, rx) = watch::channel(None);
                shared.exits.lock().unwrap().insert(*pid, tx);
                Some(rx)
            }
            _ => None,
        };
        let waiter = shared.pending.lock().unwrap().remove(&id);
        let undelivered = match waiter {
            Some(waiter) => waiter.send(Delivery { reply, fds, exit }).err(),
            None => Some(Delivery { reply, fds, exit }),
        };
        // A sandbox nobody waits for any more (its spawn was cancelled) would run unowned,
        // out of reach of every timeout and scale-down: end it.
        if let Some(Delivery {
            reply: Reply::Spawned { pid, .. },
            ..
        }) = undelivered
        {
            shared.kill_now(pid);
        }
    }
    tracing::error!("the sandbox spawner exited; every sandbox has ended with it");
    shared.gone.store(true, Ordering::Release);
    shared.pending.lock().unwrap().clear();
    for (_, slot) in shared.exits.lock().unwrap().drain() {
        let _ = slot.send(Some(ExitInfo {
            signal: Some(libc::SIGKILL),
            ..ExitInfo::default()
        }));
    }
    // It may still run (a message it sent could not be read): stop it, so its sandboxes,
    // already reported dead, end with it (parent-death signal).
    let _ = spawner.start_kill();
    let _ = spawner.wait().await;
}

/// The descriptors of a sandboxed process: its protocol socket and its output pipes.
pub struct SandboxIo {
    pub channel: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// One running sandbox. Dropping it kills the process.
pub struct Sandbox {
    pid: i32,
    /// The spawner that started it, which alone can act on it.
    spawner: Connection,
    cgroup: Option<Cgroup>,
    exit: watch::Receiver<Option<ExitInfo>>,
    io: Option<SandboxIo>,
    /// Time the spawner spent starting it, µs.
    pub spawn_us: u64,
    /// `CLOCK_MONOTONIC` when the spawn was asked for (see [`crate::monotonic_ns`]).
    pub started_ns: u64,
    /// Where the code is inside the sandbox (`/code`, or the host path without a mount ns).
    pub code_path: String,
}

impl Sandbox {
    /// The host pid of the sandbox's init.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Takes the process's descriptors (once).
    pub fn take_io(&mut self) -> Option<SandboxIo> {
        self.io.take()
    }

    pub fn kill(&self) {
        if self.exit.borrow().is_none() {
            self.spawner.shared.kill_now(self.pid);
        }
    }

    /// How it ended, once it has.
    pub fn exit_info(&self) -> Option<ExitInfo> {
        *self.exit.borrow()
    }

    /// Waits for the end of the process.
    pub async fn wait(&self) -> ExitInfo {
        let mut exit = self.exit.clone();
        match exit.wait_for(Option::is_some).await {
            Ok(info) => info.unwrap_or_default(),
            Err(_) => ExitInfo {
                signal: Some(libc::SIGKILL),
                ..ExitInfo::default()
            },
        }
    }

    /// Shows `host_dir` read-only at `/code` inside the running sandbox.
    pub async fn attach_code(&self, host_dir: &Path) -> SandboxResult<()> {
        let id = self.spawner.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let request = Request::AttachCode {
            id,
            pid: self.pid,
            host_path: host_dir.to_path_buf(),
        };
        match self.spawner.request(id, &request).await?.reply {
            Reply::Done { .. } => Ok(()),
            Reply::Failed { error, .. } => Err(SandboxError::Refused(error)),
            other => Err(SandboxError::Refused(format!("unexpected reply {other:?}"))),
        }
    }

    /// Changes the memory and CPU limits of the running sandbox.
    pub fn set_limits(&self, memory_mb: u64, cpu_millis: u32) -> SandboxResult<()> {
        if let Some(cgroup) = &self.cgroup {
            cgroup
                .set_memory_mb(memory_mb)
                .map_err(|e| SandboxError::setup("setting the memory limit", e))?;
            cgroup
                .set_cpu_millis(cpu_millis)
                .map_err(|e| SandboxError::setup("setting the CPU limit", e))?;
        }
        Ok(())
    }

    /// Memory charged to the sandbox now, when a memory cgroup exists.
    pub fn memory_bytes(&self) -> Option<u64> {
        self.cgroup.as_ref()?.memory_bytes()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.kill();
    }
}
