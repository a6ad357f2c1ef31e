//! The live workers of a process function (a Wasm function has none: each request gets a
//! fresh instance): listing them, starting or stopping some ahead of demand, and detaching
//! them all: they stop, and the next requests start fresh ones.

use gust_core::Scope;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Engine;
use crate::audit::Audit;
use crate::auth::Caller;
use crate::error::{Error, Result};
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

/// A change of a process function's warm workers.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScaleInput {
    /// Workers to start (positive; up to `max_scale` in all) or idle ones to stop (negative;
    /// never below `min_scale`).
    pub count: i32,
    /// The workers of this version of the function (absent or 0: of its current
    /// configuration). A version not yet loaded is loaded first.
    #[serde(default)]
    pub version: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScaledInstances {
    /// Workers started by this call.
    pub started: usize,
    /// Idle workers stopped by this call.
    pub stopped: usize,
    /// Live workers now.
    pub instances: usize,
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

    /// Start `delta` more warm workers of a process function now (capped at its `max_scale`;
    /// answered once they are ready), or stop `-delta` idle ones (never below `min_scale`;
    /// busy workers are left to their requests). Every node sharing the store does the same
    /// to its own workers; the answer counts this node's. 409 for a Wasm function, which keeps no
    /// workers, and for a function with no active deployment. `version`: the workers of that
    /// version instead, loading it if no request has yet.
    pub async fn scale_instances(
        &self,
        caller: &Caller,
        ns: &str,
        f: &str,
        delta: i32,
        version: Option<u32>,
    ) -> Result<ScaledInstances> {
        let audit = Audit::new(gust_core::AuditAction::Scale, "function")
            .of(f)
            .within(ns);
        self.audited(caller, &audit, async {
            caller.require(Scope::Write)?;
            let (namespace, function) = self.function_for(caller, ns, f).await?;
            audit.namespace_is(&function.namespace_id);
            if delta == 0 {
                return Err(Error::invalid(
                    "count",
                    "must not be 0: positive starts workers, negative stops idle ones",
                ));
            }
            if function.runtime == gust_core::RuntimeId::Wasm {
                return Err(Error::conflict(
                    "Wasm functions have no warm workers: each request runs in a fresh instance",
                ));
            }
            let live = match gust_core::version::version_number(version) {
                None => self.live.get(&namespace.id, &function.id).ok_or_else(|| {
                    Error::conflict(format!(
                        "function `{}` has no active deployment, so no workers to scale",
                        function.name
                    ))
                })?,
                Some(number) => {
                    self.get_version(caller, ns, f, number).await?;
                    self.live
                        .find_version(&namespace.id, &function.id, number)
                        .await?
                }
            };
            let Runner::Process(pool) = &live.runner else {
                return Err(Error::conflict(
                    "Wasm functions have no warm workers: each request runs in a fresh instance",
                ));
            };
            // Every other node makes the same change to its own workers.
            self.announcer.announce_workers(
                &function.id,
                &namespace.id,
                crate::cluster::WorkersChange {
                    delta,
                    version: gust_core::version::version_number(version),
                },
            );
            let count = delta.unsigned_abs();
            Ok(if delta > 0 {
                let scaled = pool.scale_up(count).await;
                ScaledInstances {
                    started: scaled.changed,
                    stopped: 0,
                    instances: scaled.instances,
                }
            } else {
                let scaled = pool.scale_down(count);
                ScaledInstances {
                    started: 0,
                    stopped: scaled.changed,
                    instances: scaled.instances,
                }
            })
        })
        .await
    }

    /// Stop the workers of a function's current configuration, or of one of its versions, on
    /// every node sharing the store (the answer counts this node's).
    pub async fn detach_instances(
        &self,
        caller: &Caller,
        ns: &str,
        f: &str,
        version: Option<u32>,
    ) -> Result<Detached> {
        let audit = Audit::new(gust_core::AuditAction::Detach, "function")
            .of(f)
            .within(ns);
        self.audited(caller, &audit, async {
            caller.require(Scope::Write)?;
            let (namespace, function) = self.function_for(caller, ns, f).await?;
            audit.namespace_is(&function.namespace_id);
            let detached = match self.live_entry(caller, ns, f, version).await? {
                Some(live) => match &live.runner {
                    Runner::Process(pool) => pool.detach().await,
                    Runner::Wasm { .. } => 0,
                },
                None => 0,
            };
            self.announcer.announce_workers(
                &function.id,
                &namespace.id,
                crate::cluster::WorkersChange {
                    delta: 0,
                    version: gust_core::version::version_number(version),
                },
            );
            Ok(Detached { detached })
        })
        .await
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

// The function they act on is named by the operation's own audit record.
impl crate::audit::Audited for ScaledInstances {}
impl crate::audit::Audited for Detached {}
