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
    pub async fn list_instances(&self, caller: &Caller, ns: &str, f: &str) -> Result<Instances> {
        caller.require(Scope::Read)?;
        let (namespace, function) = self.function_for(caller, ns, f).await?;
        let items: Vec<Instance> = match self.live.get(&namespace.id, &function.id) {
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

    pub async fn detach_instances(&self, caller: &Caller, ns: &str, f: &str) -> Result<Detached> {
        caller.require(Scope::Write)?;
        let (namespace, function) = self.function_for(caller, ns, f).await?;
        let detached = match self.live.get(&namespace.id, &function.id) {
            Some(live) => match &live.runner {
                Runner::Process(pool) => pool.detach().await,
                Runner::Wasm { .. } => 0,
            },
            None => 0,
        };
        Ok(Detached { detached })
    }
}
