//! Gust's process sandbox: the one crate where `unsafe` lives.
//!
//! A sandboxed process gets its own user, pid, mount, ipc and uts namespaces (and an empty
//! network namespace when its network is off); a fresh read-only root holding the system's
//! and its runtime's files read-only, its code at `/code`, a private size-limited `/tmp`, a
//! minimal `/dev`, a synthesized `/etc` and its own `/proc` (`pivot_root`, not chroot); a
//! cgroup with memory, CPU and pids limits; rlimits on file size and open files; no
//! capabilities, no_new_privs and a seccomp allow-list. Where the kernel refuses a part, the rest
//! still applies and [`SandboxSupport`] says what is missing.
//!
//! Sandboxes are created by a single-threaded *spawner* process — the caller's own binary
//! re-run in spawner mode — because forking a multi-threaded tokio server and running Rust
//! in the child is unsound. The binary's `main` must start with:
//!
//! ```no_run
//! // First statement of `main`: returns at once unless this process is the spawner.
//! gust_sandbox::run_spawner_if_requested();
//! // ... the rest of main: threads, tokio ...
//! ```
//!
//! Then, in the server:
//!
//! ```no_run
//! # async fn example() -> Result<(), gust_sandbox::SandboxError> {
//! use gust_sandbox::{Limits, SandboxSpec, SeccompProfile, Spawner, SpawnerCommand, SpawnerConfig};
//! let spawner = Spawner::start(&SpawnerCommand::current_exe().unwrap(), &SpawnerConfig::default()).await?;
//! for warning in spawner.support().warnings() {
//!     eprintln!("warning: {warning}");
//! }
//! let mut sandbox = spawner
//!     .spawn(&SandboxSpec {
//!         argv: vec!["/bin/echo".into(), "hello".into()],
//!         env: vec![],
//!         cwd: "/tmp".into(),
//!         code: None,
//!         runtime_paths: vec![],
//!         network: false,
//!         limits: Limits::default(),
//!         profile: SeccompProfile::Worker,
//!     })
//!     .await?;
//! let io = sandbox.take_io().unwrap(); // protocol socket (fd 3 inside), stdout, stderr
//! let exit = sandbox.wait().await;
//! # Ok(()) }
//! ```
//!
//! Layout:
//! - `client`: the server's side — [`Spawner`] (start, spawn) and [`Sandbox`] (kill, wait,
//!   attach code, limits, memory).
//! - `spawner/`: the spawner process — request loop and reaping (`mod`), starting one sandbox
//!   (`launch`), attaching code to a running one (`attach`).
//! - `child`: the sandbox from inside — init (pid 1, reaper) and the worker's privilege drop
//!   and exec. `rootfs`: the new root and `pivot_root`.
//! - `cgroup`, `cgroup_detect`: per-sandbox cgroups on v1 or v2. `seccomp`: the allow-lists
//!   (data in `seccomp/worker.json` and `seccomp/build.json`). `support`: probing and
//!   reporting what the host allows.
//! - `spec`: what callers ask for and how a process ended. `wire`: server ↔ spawner messages.
//!   `sys`: the system calls, each wrapped once.
//!
//! What it leaves to others: what runs in the sandbox and what it says on its socket
//! (`gust-runtime-process`).
//!
//! Errors: [`SandboxError`] for everything that fails here; how a sandboxed process ended is
//! an [`ExitInfo`], not an error.

#![allow(unsafe_code)]

mod cgroup;
mod cgroup_detect;
mod child;
mod client;
mod error;
mod rootfs;
mod seccomp;
mod spawner;
mod spec;
mod support;
mod sys;
mod wire;

pub use cgroup::{Cgroup, CgroupVersion};
pub use client::{Sandbox, SandboxIo, Spawner, SpawnerCommand};
pub use error::{SandboxError, SandboxResult};
pub use spawner::run_spawner_if_requested;
pub use spec::{CODE_DIR, CodeDir, ExitInfo, Limits, SandboxSpec, SeccompProfile, system_paths};
pub use support::{Capability, Feature, SandboxSupport};
pub use wire::{EXEC_TIME_ENV, SPAWNER_ENV, SpawnerConfig, monotonic_ns};
