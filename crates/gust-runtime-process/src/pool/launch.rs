//! Launching one worker for a pool: a stem cell when one is ready (attach the code, apply the
//! function's limits, load), else a fresh sandbox with the code mounted from the start.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use gust_core::HandlerContract;
use gust_sandbox::SandboxSpec;

use super::PoolInner;
use crate::cells::CellKey;
use crate::protocol::{FunctionInfo, Load};
use crate::request::ColdStart;
use crate::runtimes::worker_sandbox;
use crate::worker::{Fresh, Worker, WorkerLimits};

impl PoolInner {
    /// Launches a worker and hands it to the pool's waiters, or reports why it could not.
    pub(super) async fn start_worker(self: Arc<Self>) -> Result<(), String> {
        let result = self.launch().await;
        let now = Instant::now();
        let mut state = self.state.lock().unwrap();
        let outcome = match result {
            // Even while draining: requests may wait for this very worker. `drain` waits for
            // starts to end and then stops every worker, this one included.
            Ok((worker, cold)) => {
                state.worker_ready(worker, cold, now);
                Ok(())
            }
            Err(reason) => {
                tracing::warn!(function = %self.spec.function_name, "a worker failed to start: {reason}");
                state.start_failed(&reason, now);
                Err(reason)
            }
        };
        drop(state);
        self.changed.notify_one();
        outcome
    }

    async fn launch(&self) -> Result<(Arc<Worker>, ColdStart), String> {
        let spec = &self.spec;
        let timeout = self.runtime.config.start_timeout;
        let key = CellKey {
            runtime: spec.runtime,
            network: spec.network,
        };
        let env: BTreeMap<&str, &str> = spec
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let entrypoint = match spec.contract {
            HandlerContract::Gust | HandlerContract::Qinling | HandlerContract::Azion => None,
            HandlerContract::Appwrite => Some(HandlerContract::appwrite_entrypoint(
                spec.runtime,
                spec.entrypoint.as_deref(),
            )?),
        };
        let mut cold = ColdStart::default();

        let mut fresh = None;
        if let Some(cell) = self.runtime.cells.take(key) {
            let started = Instant::now();
            let attached = async {
                cell.sandbox
                    .attach_code(&spec.code_dir)
                    .await
                    .map_err(|e| e.to_string())?;
                cell.sandbox
                    .set_limits(spec.memory_mb, spec.cpu_millis)
                    .map_err(|e| e.to_string())
            };
            match attached.await {
                Ok(()) => {
                    cold.sandbox_us = started.elapsed().as_micros() as u64;
                    cold.stem_cell = true;
                    fresh = Some(cell);
                }
                Err(e) => {
                    tracing::warn!("a stem cell could not take the code, spawning instead: {e}")
                }
            }
        }
        let mut fresh = match fresh {
            Some(cell) => cell,
            None => {
                let process =
                    Fresh::spawn(&self.runtime.spawner, &self.sandbox_spec()?, timeout).await?;
                cold.sandbox_us = process.sandbox_us;
                cold.interpreter_us = process.interpreter_us;
                process
            }
        };
        let code_dir = fresh.sandbox.code_path.clone();
        let load = Load {
            kind: "load",
            handler: &spec.handler,
            contract: spec.contract.as_str(),
            entrypoint: entrypoint.as_deref(),
            code_dir: &code_dir,
            env,
            function: FunctionInfo {
                name: &spec.function_name,
                memory_mb: spec.memory_mb,
                timeout_ms: spec.timeout.as_millis() as u64,
            },
            log_limit: self.runtime.config.log_limit,
        };
        cold.import_us = fresh.load(&load, timeout).await?;
        let limits = WorkerLimits {
            function_name: spec.function_name.clone(),
            version: spec.deployment_id.clone(),
            memory_mb: spec.memory_mb,
            timeout: spec.timeout,
            log_limit: self.runtime.config.log_limit,
            contract: spec.contract,
            args: spec.args.clone(),
        };
        let seq = self.runtime.next_worker.fetch_add(1, Ordering::Relaxed);
        let worker = Worker::run(fresh, seq, cold.stem_cell, limits, self.exits.clone());
        Ok((worker, cold))
    }

    /// A sandbox for this function with its code mounted from the start.
    pub(super) fn sandbox_spec(&self) -> Result<SandboxSpec, String> {
        let spec = &self.spec;
        let interpreter = self.runtime.runtimes.interpreter(spec.runtime)?;
        // Fresh processes get the function's environment at exec too, so a custom runtime
        // (or the interpreter itself) sees it from its first instruction.
        Ok(worker_sandbox(
            spec.runtime,
            interpreter,
            &spec.env,
            Some(&spec.code_dir),
            spec.network,
            self.runtime.config.limits(spec.memory_mb, spec.cpu_millis),
        ))
    }
}
