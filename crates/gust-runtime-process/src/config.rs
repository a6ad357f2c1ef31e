//! [`ProcessConfig`]: the knobs of the process runtime, each with its default ([`ProcessConfig::new`]),
//! the reason for it and the `GUST_*` variable `gust serve` sets it from.

use std::path::PathBuf;
use std::time::Duration;

use gust_sandbox::SpawnerCommand;

#[derive(Debug, Clone)]
pub struct ProcessConfig {
    /// The server's data dir. The runtime uses `DATA_DIR/sandbox/` only (an empty folder that
    /// sandboxes mount their new root on, inside their own mount namespaces).
    pub data_dir: PathBuf,
    /// A worker idle this long is stopped (down to `min_scale`, so to zero when that is 0).
    /// `GUST_IDLE_TIMEOUT_SECS`, default 300: a warm worker costs 10-40 MiB; five minutes
    /// keeps bursty functions warm without holding memory for ones called once.
    pub idle_timeout: Duration,
    /// Requests that may wait per function when every worker is busy and none can be added.
    /// `GUST_QUEUE_LIMIT`, default 100.
    pub queue_limit: usize,
    /// The longest a request waits in that queue before it gets Overloaded (429).
    /// `GUST_QUEUE_WAIT_MS`, default 10 000.
    pub queue_wait: Duration,
    /// Bytes of stdout plus stderr kept per request; the rest is cut and marked.
    /// `GUST_LOG_LIMIT_KB`, default 64 (the same knob as the wasm runtime's).
    pub log_limit: usize,
    /// Pre-started, sandboxed interpreters per runtime (python3.11, node20) waiting for a
    /// function's code: what makes a cold start cost an import instead of an interpreter start.
    /// `GUST_STEM_CELLS`, default 2 (Python ~10 MiB, Node ~40 MiB each); 0 turns them off.
    pub stem_cells: usize,
    /// Limit for a worker to say hello and load its handler. `GUST_WORKER_START_TIMEOUT_SECS`,
    /// default 30: a cold interpreter with heavy imports on a loaded host.
    pub start_timeout: Duration,
    /// Limit for each dependency install at build time. `GUST_BUILD_TIMEOUT_SECS`, default 600.
    pub build_timeout: Duration,
    /// Size of each sandbox's private `/tmp`. `GUST_SANDBOX_TMP_MB`, default 64.
    pub tmp_mb: u64,
    /// Processes plus threads per sandbox. `GUST_SANDBOX_PIDS`, default 128 (Node alone runs
    /// about a dozen threads).
    pub pids: u32,
    /// RLIMIT_NOFILE per worker. `GUST_SANDBOX_NOFILE`, default 1024.
    pub open_files: u64,
    /// RLIMIT_FSIZE per worker. `GUST_SANDBOX_FSIZE_MB`, default 64.
    pub file_size_mb: u64,
    /// Interpreters, when not found by search. `GUST_PYTHON311`, `GUST_NODE20`.
    pub python: Option<PathBuf>,
    pub node: Option<PathBuf>,
    /// The binary re-run as the sandbox spawner (default: this executable).
    pub spawner: Option<SpawnerCommand>,
}

impl ProcessConfig {
    /// The defaults, with state under `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        ProcessConfig {
            data_dir: data_dir.into(),
            idle_timeout: Duration::from_secs(300),
            queue_limit: 100,
            queue_wait: Duration::from_millis(10_000),
            log_limit: 64 * 1024,
            stem_cells: 2,
            start_timeout: Duration::from_secs(30),
            build_timeout: Duration::from_secs(600),
            tmp_mb: 64,
            pids: 128,
            open_files: 1024,
            file_size_mb: 64,
            python: None,
            node: None,
            spawner: None,
        }
    }

    /// Sandbox limits for a worker with `memory_mb` and `cpu_millis`.
    pub(crate) fn limits(&self, memory_mb: u64, cpu_millis: u32) -> gust_sandbox::Limits {
        gust_sandbox::Limits {
            memory_mb,
            cpu_millis,
            pids: self.pids,
            tmp_mb: self.tmp_mb,
            open_files: self.open_files,
            file_size_mb: self.file_size_mb,
        }
    }
}
