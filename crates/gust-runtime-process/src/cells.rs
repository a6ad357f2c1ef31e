//! Stem cells: per runtime (and network setting), a few sandboxed interpreters started ahead
//! of need, bootstrap loaded, no code. A cold start takes one, has the spawner mount the
//! function's code read-only at `/code` inside it, sets its cgroup to the function's limits and
//! sends `load`: it pays for an import instead of a sandbox and an interpreter start. A cell
//! serves one function for its whole life (never returned or reused), and is replaced at
//! once in the background.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use gust_core::RuntimeId;
use gust_sandbox::{Capability, SandboxSpec, Spawner};

use crate::config::ProcessConfig;
use crate::runtimes::{Runtimes, worker_sandbox};
use crate::worker::Fresh;

/// Memory a cell may use before it is given a function (then the function's `memory_mb`).
const CELL_MEMORY_MB: u64 = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CellKey {
    pub runtime: RuntimeId,
    pub network: bool,
}

#[derive(Default)]
struct Queue {
    ready: VecDeque<Fresh>,
    /// Cells being started, counted so refills do not overshoot.
    filling: usize,
}

#[derive(Clone)]
pub struct Cells {
    inner: Arc<Inner>,
}

struct Inner {
    spawner: Spawner,
    runtimes: Runtimes,
    config: ProcessConfig,
    /// Cells per key, ready and starting.
    queues: Mutex<HashMap<CellKey, Queue>>,
    enabled: bool,
}

impl Cells {
    /// Starts filling the network-on cells of every available interpreter runtime;
    /// network-off cells start filling when a network-off function first takes one.
    pub fn start(spawner: Spawner, runtimes: Runtimes, config: ProcessConfig) -> Cells {
        let enabled = config.stem_cells > 0 && spawner.support().has(Capability::AttachCode);
        let cells = Cells {
            inner: Arc::new(Inner {
                spawner,
                runtimes,
                config,
                queues: Mutex::new(HashMap::new()),
                enabled,
            }),
        };
        for runtime in [RuntimeId::Python311, RuntimeId::Node20] {
            if matches!(cells.inner.runtimes.interpreter(runtime), Ok(Some(_))) {
                cells.refill(CellKey {
                    runtime,
                    network: true,
                });
            }
        }
        cells
    }

    /// A live cell for `key`, if one is ready; a replacement starts either way.
    pub fn take(&self, key: CellKey) -> Option<Fresh> {
        if !self.inner.enabled || key.runtime == RuntimeId::Custom {
            return None;
        }
        let taken = {
            let mut queues = self.inner.queues.lock().unwrap();
            let queue = queues.entry(key).or_default();
            let mut taken = None;
            while let Some(cell) = queue.ready.pop_front() {
                if cell.sandbox.exit_info().is_none() {
                    taken = Some(cell);
                    break;
                }
            }
            taken
        };
        self.refill(key);
        taken
    }

    /// Cells ready now, per key (for tests and `gust doctor`).
    pub fn ready(&self, key: CellKey) -> usize {
        let queues = self.inner.queues.lock().unwrap();
        queues.get(&key).map_or(0, |q| q.ready.len())
    }

    fn refill(&self, key: CellKey) {
        if !self.inner.enabled {
            return;
        }
        let missing = {
            let mut queues = self.inner.queues.lock().unwrap();
            let queue = queues.entry(key).or_default();
            let have = queue.ready.len() + queue.filling;
            let missing = self.inner.config.stem_cells.saturating_sub(have);
            queue.filling += missing;
            missing
        };
        for _ in 0..missing {
            let cells = self.clone();
            tokio::spawn(async move { cells.grow(key).await });
        }
    }

    async fn grow(&self, key: CellKey) {
        let result = match self.spec(key) {
            Ok(spec) => {
                Fresh::spawn(&self.inner.spawner, &spec, self.inner.config.start_timeout).await
            }
            Err(e) => Err(e),
        };
        let mut queues = self.inner.queues.lock().unwrap();
        let queue = queues.entry(key).or_default();
        queue.filling -= 1;
        match result {
            Ok(cell) => queue.ready.push_back(cell),
            // Not retried here: the next take tries again, so a broken runtime costs one
            // failed spawn per cold start, not a loop.
            Err(e) => tracing::warn!(runtime = %key.runtime, "a stem cell failed to start: {e}"),
        }
    }

    fn spec(&self, key: CellKey) -> Result<SandboxSpec, String> {
        let interpreter = self.inner.runtimes.interpreter(key.runtime)?;
        Ok(worker_sandbox(
            key.runtime,
            interpreter,
            &[],
            None,
            key.network,
            self.inner.config.limits(CELL_MEMORY_MB, 0),
        ))
    }
}
