//! The live workers of a process function (a Wasm function has none: each request gets a
//! fresh instance), and detaching them all: they stop, and the next requests start fresh ones.

use gust_core::Scope;
use serde::Serialize;
use utoipa::ToSchema;

use crate::Engine;
use crate::auth::Caller;
use crate::error::Result;
use crate::live::Runner;

/// One live worker.
#[derive(Debug, Serialize, ToSchema)]
pub struct Instance {
    /// Host pid of the worker's sandbox.
    pub pid: i32,
    /// `idle` or `busy`.
    pub state: String,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub requests_served: u64,
    pub in_flight: u32,
    /// Memory the worker's cgroup uses, when the host measures it.
    pub memory_bytes: Option<u64>,
    /// Started ahead of time as a stem cell (no interpreter start on its first request).
    pub stem_cell: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Instances {
    pub items: Vec<Instance>,
    pub total: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Detached {
    /// Workers stopped.
    pub detached: usize,
}

impl Engine {
    /// The live workers of a function's current configuration, or of one of its versions.
    pub async fn list_instances(
        &self,
        caller: &Caller,
        ns: &str,
        f: &str,
        version: Option<u32>,
    ) -> Result<Instances> {
        caller.require(Scope::Read)?;
        let items: Vec<Instance> = match self.live_entry(caller, ns, f, version).await? {
            Some(live) => match &live.runner {
                Runner::Process(pool) => pool
                    .instances()
                    .into_iter()
                    .map(|i| Instance {
                        pid: i.pid,
                        state: i.state.as_str().to_string(),
                        started_at: i.started_at,
                        requests_served: i.requests_served,
                        in_flight: i.in_flight,
                        memory_bytes: i.memory_bytes,
                        stem_cell: i.stem_cell,
                    })
                    .collect(),
                Runner::Wasm { .. } => Vec::new(),
            },
            None => Vec::new(),
        };
        Ok(Instances {
            total: items.len(),
            items,
        })
    }

    /// Stop the workers of a function's current configuration, or of one of its versions.
    pub async fn detach_instances(
        &self,
        caller: &Caller,
        ns: &str,
        f: &str,
        version: Option<u32>,
    ) -> Result<Detached> {
        caller.require(Scope::Write)?;
        let detached = match self.live_entry(caller, ns, f, version).await? {
            Some(live) => match &live.runner {
                Runner::Process(pool) => pool.detach().await,
                Runner::Wasm { .. } => 0,
            },
            None => 0,
        };
        Ok(Detached { detached })
    }
}

impl Engine {
    /// The loaded entry of a function or of one of its versions (404 when the version does
    /// not exist; `None` when it is not loaded: nothing runs).
    async fn live_entry(
        &self,
        caller: &Caller,
        ns: &str,
        f: &str,
        version: Option<u32>,
    ) -> Result<Option<std::sync::Arc<crate::live::LiveFunction>>> {
        let (namespace, function) = self.function_for(caller, ns, f).await?;
        Ok(match gust_core::version::version_number(version) {
            None => self.live.get(&namespace.id, &function.id),
            Some(number) => {
                self.get_version(caller, ns, f, number).await?;
                self.live.get_version(&namespace.id, &function.id, number)
            }
        })
    }
}
