//! The spawner: a small single-threaded process (the server's own binary re-run in spawner
//! mode) that creates every sandbox. The server is a multi-threaded tokio process, where
//! forking and then running arbitrary code is unsound; here there is one thread, so `clone`
//! followed by ordinary Rust in the child is safe.
//!
//! It answers [`Request`]s from its control socket, reaps sandboxes (SIGCHLD via signalfd),
//! reports each end with its OOM verdict, and removes their cgroups. When the server goes
//! away (control socket closed, or its parent-death SIGTERM), it kills every sandbox and
//! removes their cgroups before it exits.

mod attach;
mod launch;

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::cgroup::{Cgroup, CgroupRoot};
use crate::seccomp::Filters;
use crate::spec::ExitInfo;
use crate::support::{self, Capability, Feature, SandboxSupport};
use crate::sys;
use crate::wire::{MAX_MESSAGE, Reply, Request, SPAWNER_CONFIG_ENV, SPAWNER_ENV, SpawnerConfig};

/// A sandbox this spawner started and has not reaped yet.
struct Running {
    cgroup: Option<Cgroup>,
    /// Read end of the pipe on which the sandbox's init writes the worker's wait status.
    status: OwnedFd,
}

pub(crate) struct Spawner {
    ctrl: OwnedFd,
    config: SpawnerConfig,
    support: SandboxSupport,
    cgroups: Option<CgroupRoot>,
    filters: Option<Filters>,
    resolv_conf: Vec<u8>,
    last_cap: u32,
    /// Our own mount namespace, to come back to after attaching code inside a sandbox's.
    own_mount_ns: Option<OwnedFd>,
    /// Its working directory: entering a mount namespace resets it to that root, and the
    /// server's paths (a relative `--data-dir`) are relative to it.
    own_cwd: Option<OwnedFd>,
    next_seq: u64,
    running: HashMap<i32, Running>,
    /// cgroups whose removal failed while their processes were still exiting: retried.
    doomed: Vec<Cgroup>,
}

/// Runs the spawner when this process was started as one (see [`SPAWNER_ENV`]); returns
/// otherwise. It must run before the process has a second thread: the `gust` binary calls it
/// first thing in `main`; a libtest binary, whose tests all run on threads of their own, has
/// to call it from a constructor (see this crate's integration tests).
pub fn run_spawner_if_requested() {
    let Some(fd) = std::env::var(SPAWNER_ENV)
        .ok()
        .and_then(|v| v.parse::<RawFd>().ok())
    else {
        return;
    };
    let config = std::env::var(SPAWNER_CONFIG_ENV)
        .ok()
        .and_then(|c| serde_json::from_str(&c).ok())
        .unwrap_or_default();
    // Releasing a sandbox that already died must fail, not kill the spawner. Rust ignores
    // SIGPIPE only on its way into `main`, and a host may run the spawner before that.
    sys::ignore_sigpipe();
    // SAFETY: the server passed this descriptor for us alone (dup2'd before exec).
    let ctrl = unsafe { sys::owned_from_raw(fd) };
    let code = match Spawner::start(ctrl, config) {
        Ok(mut spawner) => spawner.serve(),
        Err(error) => {
            eprintln!("gust sandbox spawner: {error}");
            1
        }
    };
    std::process::exit(code);
}

impl Spawner {
    fn start(ctrl: OwnedFd, config: SpawnerConfig) -> Result<Spawner, String> {
        // SIGTERM, not SIGKILL: the spawner must outlive the server long enough to end its
        // sandboxes and remove their cgroups.
        let _ = sys::set_parent_death_signal(libc::SIGTERM);
        std::fs::create_dir_all(config.state_dir.join("root"))
            .map_err(|e| format!("creating {}: {e}", config.state_dir.display()))?;

        let mut features = support::probe_namespaces();
        let cgroups = CgroupRoot::detect(&mut features);
        let filters = Filters::compile().map_err(|e| e.to_string())?;
        let seccomp = support::probe_seccomp(&filters);
        let filters = seccomp.available.then_some(filters);
        features.push(seccomp);
        let own_mount_ns = sys::open(c"/proc/self/ns/mnt", libc::O_RDONLY).ok();
        let own_cwd = sys::open(c".", libc::O_PATH | libc::O_DIRECTORY).ok();
        let attach = launch::probe_attach(&features, own_mount_ns.is_some());
        features.push(attach);

        let last_cap = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(40);
        Ok(Spawner {
            ctrl,
            config,
            support: SandboxSupport { features },
            cgroups,
            filters,
            resolv_conf: std::fs::read("/etc/resolv.conf").unwrap_or_default(),
            last_cap,
            own_mount_ns,
            own_cwd,
            next_seq: 0,
            running: HashMap::new(),
            doomed: Vec::new(),
        })
    }

    fn has(&self, capability: Capability) -> bool {
        self.support.has(capability)
    }

    fn serve(&mut self) -> i32 {
        let hello = Reply::Hello {
            support: self.support.clone(),
        };
        if self.send(&hello, &[]).is_err() {
            return 1;
        }
        let signals = match sys::block_signals_into_fd() {
            Ok(fd) => fd,
            Err(e) => {
                eprintln!("gust sandbox spawner: signalfd: {e}");
                return 1;
            }
        };
        let mut buf = vec![0u8; MAX_MESSAGE];
        loop {
            let timeout = if self.doomed.is_empty() { -1 } else { 50 };
            let ready =
                match sys::poll_readable(&[self.ctrl.as_raw_fd(), signals.as_raw_fd()], timeout) {
                    Ok(ready) => ready,
                    Err(_) => break,
                };
            if ready[1] {
                let terminate = drain_signalfd(&signals);
                self.reap();
                if terminate {
                    break;
                }
            }
            if ready[0] {
                match sys::recv_with_fds(self.ctrl.as_raw_fd(), &mut buf) {
                    Ok((0, _)) | Err(_) => break,
                    Ok((n, _)) => match serde_json::from_slice::<Request>(&buf[..n]) {
                        Ok(request) => self.handle(request),
                        Err(e) => eprintln!("gust sandbox spawner: bad request: {e}"),
                    },
                }
            }
            self.doomed.retain(|cgroup| cgroup.remove().is_err());
        }
        self.shutdown();
        0
    }

    fn handle(&mut self, request: Request) {
        match request {
            Request::Spawn { id, spec } => match self.launch(id, &spec) {
                Ok((reply, fds)) => {
                    let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
                    let _ = self.send(&reply, &raw);
                }
                Err(error) => {
                    let _ = self.send(&Reply::Failed { id, error }, &[]);
                }
            },
            Request::AttachCode { id, pid, host_path } => {
                let reply = match self.attach_code(pid, &host_path) {
                    Ok(()) => Reply::Done { id },
                    Err(error) => Reply::Failed { id, error },
                };
                let _ = self.send(&reply, &[]);
            }
            Request::Kill { pid } => {
                if self.running.contains_key(&pid) {
                    let _ = sys::kill(pid, libc::SIGKILL);
                }
            }
        }
    }

    fn send(&self, reply: &Reply, fds: &[RawFd]) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(reply).map_err(std::io::Error::other)?;
        sys::send_with_fds(self.ctrl.as_raw_fd(), &bytes, fds)
    }

    /// Reaps every ended sandbox and tells the server how each ended.
    fn reap(&mut self) {
        while let Ok(Some((pid, status))) = sys::wait_nohang(-1) {
            let Some(running) = self.running.remove(&pid) else {
                continue;
            };
            let mut worker_status = [0u8; 4];
            let _ = sys::set_nonblocking(running.status.as_raw_fd());
            let mut exit = match sys::read(running.status.as_raw_fd(), &mut worker_status) {
                Ok(4) => ExitInfo::from_wait_status(i32::from_le_bytes(worker_status)),
                // init died before the worker (killed by us, or set-up failed).
                _ => ExitInfo::from_wait_status(status),
            };
            if let Some(cgroup) = running.cgroup {
                exit.oom_killed = cgroup.oom_kills() > 0;
                if cgroup.remove().is_err() {
                    self.doomed.push(cgroup);
                }
            }
            let _ = self.send(&Reply::Exited { pid, exit }, &[]);
        }
    }

    /// The server is gone: end every sandbox and leave no cgroup behind.
    fn shutdown(&mut self) {
        for pid in self.running.keys() {
            let _ = sys::kill(*pid, libc::SIGKILL);
        }
        for (pid, running) in std::mem::take(&mut self.running) {
            for _ in 0..200 {
                if sys::wait_nohang(pid).map(|r| r.is_some()).unwrap_or(true) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            if let Some(cgroup) = running.cgroup {
                self.doomed.push(cgroup);
            }
        }
        for cgroup in std::mem::take(&mut self.doomed) {
            let _ = cgroup.remove();
        }
        if let Some(root) = &self.cgroups {
            root.remove();
        }
    }
}

/// Reads every pending signal; true when one was SIGTERM (the server died: its
/// parent-death signal) and the spawner should clean up and leave.
fn drain_signalfd(fd: &OwnedFd) -> bool {
    let mut info = [0u8; 128]; // struct signalfd_siginfo; ssi_signo is its first u32
    let mut terminate = false;
    while sys::read(fd.as_raw_fd(), &mut info).is_ok_and(|n| n > 0) {
        terminate |=
            u32::from_le_bytes([info[0], info[1], info[2], info[3]]) == libc::SIGTERM as u32;
    }
    terminate
}

/// For features a spawner reports without probing anything.
pub(crate) fn feature(
    capability: Capability,
    available: bool,
    detail: impl Into<String>,
) -> Feature {
    Feature {
        capability,
        available,
        detail: detail.into(),
    }
}
