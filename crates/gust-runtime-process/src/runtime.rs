//! [`ProcessRuntime`]: one per server. Starts the sandbox spawner, finds the interpreters,
//! fills the stem cells, and makes a [`FunctionPool`] per deployment.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use gust_core::{RuntimeId, RuntimeInfo};
use gust_sandbox::{SandboxSupport, Spawner, SpawnerCommand, SpawnerConfig};

use crate::build::{BuildReport, BuildSpec};
use crate::cells::{CellKey, Cells};
use crate::config::ProcessConfig;
use crate::error::{ProcessError, ProcessResult};
use crate::pool::{FunctionPool, PoolSpec};
use crate::runtimes::Runtimes;

/// What every pool of the server shares.
pub(crate) struct Shared {
    pub config: ProcessConfig,
    pub spawner: Spawner,
    pub runtimes: Runtimes,
    pub cells: Cells,
    /// Worker numbers, unique in the server (pools find their workers by it).
    pub next_worker: AtomicU64,
}

/// The process runtimes of one server. Cheap to clone.
#[derive(Clone)]
pub struct ProcessRuntime {
    shared: Arc<Shared>,
}

impl ProcessRuntime {
    /// Starts the spawner (this executable re-run in spawner mode unless
    /// `config.spawner` says otherwise), finds the interpreters and starts filling the stem
    /// cells. Fails only when no sandbox can be made at all; then report the runtimes with
    /// [`ProcessRuntime::unavailable`].
    pub async fn start(config: ProcessConfig) -> ProcessResult<Self> {
        let command = match &config.spawner {
            Some(command) => command.clone(),
            None => SpawnerCommand::current_exe()
                .map_err(|e| ProcessError::io("finding this executable to run the spawner", e))?,
        };
        let state_dir = config.data_dir.join("sandbox");
        std::fs::create_dir_all(&state_dir)
            .map_err(|e| ProcessError::io(format!("creating {}", state_dir.display()), e))?;
        let spawner_config = SpawnerConfig {
            state_dir,
            ..SpawnerConfig::default()
        };
        let spawner = Spawner::start(&command, &spawner_config).await?;
        let detect_config = config.clone();
        let runtimes = tokio::task::spawn_blocking(move || Runtimes::detect(&detect_config))
            .await
            .map_err(|e| ProcessError::Build(format!("detecting runtimes: {e}")))?;
        for (name, found) in [("python3.11", &runtimes.python), ("node20", &runtimes.node)] {
            match found {
                Ok(i) => {
                    tracing::info!(runtime = name, path = %i.path.display(), version = %i.version, "runtime found")
                }
                Err(reason) => tracing::warn!(runtime = name, "runtime unavailable: {reason}"),
            }
        }
        let cells = Cells::start(spawner.clone(), runtimes.clone(), config.clone());
        Ok(ProcessRuntime {
            shared: Arc::new(Shared {
                config,
                spawner,
                runtimes,
                cells,
                next_worker: AtomicU64::new(1),
            }),
        })
    }

    /// The process runtimes with their availability, for `GET /api/v1/runtimes`.
    pub fn runtimes(&self) -> Vec<RuntimeInfo> {
        self.shared.runtimes.infos(None)
    }

    /// The same rows when [`ProcessRuntime::start`] failed, each giving `reason`.
    pub fn unavailable(reason: &str) -> Vec<RuntimeInfo> {
        let missing = Runtimes {
            python: Err(String::new()),
            node: Err(String::new()),
        };
        missing.infos(Some(reason))
    }

    /// What the sandbox can do on this host: warn once at start with
    /// [`SandboxSupport::warnings`], print it (`Display`) in `gust doctor`.
    pub fn sandbox_support(&self) -> &SandboxSupport {
        self.shared.spawner.support()
    }

    /// Installs the code's dependencies and checks that its handler imports. `log` gets
    /// every line of output as it comes.
    pub async fn build(
        &self,
        spec: &BuildSpec,
        log: &mut (dyn FnMut(&str) + Send),
    ) -> ProcessResult<BuildReport> {
        crate::build::build(&self.shared, spec, log).await
    }

    /// A pool for one deployment; its `min_scale` workers start now.
    pub fn pool(&self, spec: PoolSpec) -> FunctionPool {
        FunctionPool::new(self.shared.clone(), spec)
    }

    /// Stem cells ready now for `runtime` (network on).
    pub fn stem_cells_ready(&self, runtime: RuntimeId) -> usize {
        self.shared.cells.ready(CellKey {
            runtime,
            network: true,
        })
    }
}
