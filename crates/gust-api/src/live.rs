//! The functions ready to invoke, kept in memory so the invocation path does no query: each
//! entry holds the function's settings, its merged environment and its loaded component.
//! Every change to a function, its namespace or its active deployment calls `sync`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use gust_core::{Deployment, Function, Namespace};
use gust_runtime_wasm::{InvokeLimits, WasmFunction};

use crate::error::ApiError;
use crate::state::AppState;

/// One invocable function.
pub struct LiveFunction {
    pub function: Function,
    pub deployment_id: String,
    pub component: WasmFunction,
    pub limits: InvokeLimits,
}

#[derive(Default)]
pub struct LiveFunctions {
    /// Namespace (name or id) → function (name or id) → entry: four paths per function, found
    /// with borrowed strings, so a request allocates nothing to look one up.
    routes: RwLock<Routes>,
    /// Loaded components by deployment id, so a settings change does not reload code.
    components: Mutex<HashMap<String, WasmFunction>>,
}

impl LiveFunctions {
    pub fn get(&self, namespace: &str, function: &str) -> Option<Arc<LiveFunction>> {
        let routes = self.routes.read().unwrap_or_else(|p| p.into_inner());
        routes.get(namespace)?.get(function).cloned()
    }

    pub fn remove(&self, function_id: &str) {
        let mut routes = self.routes.write().unwrap_or_else(|p| p.into_inner());
        remove_from(&mut routes, function_id);
    }

    /// Forget a loaded component (its deployment was deleted).
    pub fn forget_deployment(&self, deployment_id: &str) {
        self.components
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(deployment_id);
    }

    /// Bring the entry of `function` in line with the store.
    pub async fn sync(&self, state: &AppState, function: &Function) -> Result<(), ApiError> {
        let namespace = state.store.get_namespace(&function.namespace_id).await?;
        self.install(state, &namespace, function).await
    }

    /// Re-sync every function of a namespace (its env or secrets changed).
    pub async fn sync_namespace(
        &self,
        state: &AppState,
        namespace: &Namespace,
    ) -> Result<(), ApiError> {
        let ids: Vec<String> = {
            let routes = self.routes.read().unwrap_or_else(|p| p.into_inner());
            routes
                .get(&namespace.id)
                .map(|functions| functions.values().map(|l| l.function.id.clone()).collect())
                .unwrap_or_default()
        };
        for id in ids {
            if let Ok(function) = state.store.get_function(&namespace.id, &id).await {
                self.install(state, namespace, &function).await?;
            }
        }
        Ok(())
    }

    /// Load every function that has an active deployment (at start).
    pub async fn load_all(&self, state: &AppState) -> Result<(), ApiError> {
        for (function, _) in state.store.active_functions().await? {
            let namespace = state.store.get_namespace(&function.namespace_id).await?;
            if let Err(e) = self.install(state, &namespace, &function).await {
                tracing::error!(function = %function.id, error = %e.message, "could not load function");
            }
        }
        Ok(())
    }

    async fn install(
        &self,
        state: &AppState,
        namespace: &Namespace,
        function: &Function,
    ) -> Result<(), ApiError> {
        let Some(deployment_id) = function.active_deployment.clone() else {
            self.remove(&function.id);
            return Ok(());
        };
        let component = self.component(state, &function.id, &deployment_id).await?;
        state
            .metrics
            .name_function(&function.id, &namespace.name, &function.name);
        let live = Arc::new(LiveFunction {
            function: function.clone(),
            deployment_id,
            component,
            limits: InvokeLimits {
                timeout: Duration::from_secs(u64::from(function.timeout_s)),
                memory_mb: function.memory_mb,
                env: merged_env(namespace, function),
                log_limit: state.config.log_limit,
            },
        });
        // Swap under one lock: a concurrent request sees the old entry or the new, never none.
        let mut routes = self.routes.write().unwrap_or_else(|p| p.into_inner());
        remove_from(&mut routes, &function.id);
        for ns_key in [&namespace.name, &namespace.id] {
            let functions = routes.entry(ns_key.clone()).or_default();
            for fn_key in [&function.name, &function.id] {
                functions.insert(fn_key.clone(), live.clone());
            }
        }
        Ok(())
    }

    /// The component of a deployment: from the cache, else loaded as the store describes it.
    async fn component(
        &self,
        state: &AppState,
        function_id: &str,
        deployment_id: &str,
    ) -> Result<WasmFunction, ApiError> {
        if let Some(found) = self
            .components
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(deployment_id)
        {
            return Ok(found.clone());
        }
        let deployment = state
            .store
            .get_deployment(function_id, deployment_id)
            .await?;
        self.preload(state, &deployment).await
    }

    /// Load a deployment's component into the cache (from its artifact, compiling if needed).
    pub async fn preload(
        &self,
        state: &AppState,
        deployment: &Deployment,
    ) -> Result<WasmFunction, ApiError> {
        let id = deployment.id.clone();
        let sha = deployment
            .wasm_sha256
            .clone()
            .ok_or_else(|| ApiError::internal(format!("deployment {id} has no component")))?;
        let source = state.blobs.path(&sha);
        let runtime = state.wasm.clone();
        let loaded = tokio::task::spawn_blocking(move || runtime.load_or_compile(&sha, &source))
            .await
            .map_err(ApiError::internal)?
            .map_err(|e| ApiError::internal(format!("loading deployment {id}: {e}")))?;
        self.components
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, loaded.clone());
        Ok(loaded)
    }
}

type Routes = HashMap<String, HashMap<String, Arc<LiveFunction>>>;

fn remove_from(routes: &mut Routes, function_id: &str) {
    for functions in routes.values_mut() {
        functions.retain(|_, live| live.function.id != function_id);
    }
    routes.retain(|_, functions| !functions.is_empty());
}

/// Namespace env, then namespace secrets, then the function's env and secrets: the most
/// specific value wins.
fn merged_env(namespace: &Namespace, function: &Function) -> Vec<(String, String)> {
    let mut env = namespace.env.clone();
    env.extend(namespace.secrets.clone());
    env.extend(function.env.clone());
    env.extend(function.secrets.clone());
    env.into_iter().collect()
}
