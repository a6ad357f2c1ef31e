//! Messages between the server and its spawner: one JSON document per datagram on a
//! `SOCK_SEQPACKET` socket pair, descriptors attached with `SCM_RIGHTS`. Requests carry an id
//! that their reply repeats; `Exited` arrives unasked when a sandbox ends.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::cgroup::Cgroup;
use crate::spec::{ExitInfo, SandboxSpec};
use crate::support::SandboxSupport;

/// Environment variable that puts a binary in spawner mode; its value is the descriptor
/// number of the control socket.
pub const SPAWNER_ENV: &str = "GUST_SANDBOX_SPAWNER";
/// Environment variable carrying the [`SpawnerConfig`] as JSON.
pub const SPAWNER_CONFIG_ENV: &str = "GUST_SANDBOX_SPAWNER_CONFIG";
/// Set in every sandboxed process: `CLOCK_MONOTONIC` in ns right before its exec, so a worker
/// can report how long its interpreter took to start.
pub const EXEC_TIME_ENV: &str = "GUST_EXEC_MONOTONIC_NS";

/// Largest message either side sends (a spawn spec with a big environment).
pub const MAX_MESSAGE: usize = 256 * 1024;

/// How the server configures its spawner.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpawnerConfig {
    /// A folder of the spawner's own: each sandbox mounts its new root on `state_dir/root`
    /// (inside its private mount namespace, so the host never sees those mounts).
    pub state_dir: PathBuf,
    /// Sandboxes run as host uids `uid_base + n` (n < `uid_span`), one per sandbox, so two
    /// sandboxes never share a uid even where a namespace is missing.
    pub uid_base: u32,
    pub uid_span: u32,
}

impl Default for SpawnerConfig {
    fn default() -> Self {
        SpawnerConfig {
            state_dir: std::env::temp_dir().join("gust-sandbox"),
            // High enough to stay clear of system users and of the usual subuid ranges.
            uid_base: 2_000_000_000,
            uid_span: 1_000_000,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    Spawn {
        id: u64,
        spec: Box<SandboxSpec>,
    },
    /// Mount `host_path` read-only at `/code` inside the running sandbox `pid`.
    AttachCode {
        id: u64,
        pid: i32,
        host_path: PathBuf,
    },
    /// SIGKILL the sandbox `pid` (its init; the pid namespace takes everything else with it).
    Kill {
        pid: i32,
    },
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Reply {
    Hello {
        support: SandboxSupport,
    },
    /// Comes with three descriptors: the protocol socket, stdout and stderr.
    Spawned {
        id: u64,
        pid: i32,
        cgroup: Option<Cgroup>,
        /// Where the code folder is inside the sandbox.
        code_path: String,
        /// Time the spawner spent (cgroup, clone, id maps), µs.
        spawn_us: u64,
    },
    Done {
        id: u64,
    },
    Failed {
        id: u64,
        error: String,
    },
    Exited {
        pid: i32,
        exit: ExitInfo,
    },
}

/// `CLOCK_MONOTONIC` in nanoseconds: the clock [`EXEC_TIME_ENV`] uses.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid out pointer; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
