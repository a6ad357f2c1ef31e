//! The functions ready to invoke, kept in memory so the invocation path does no query: each
//! entry holds the function's settings and what runs it, a [`Runtime`] — a loaded Wasm
//! component with its limits, or the pool of worker processes of a python, node or custom
//! function. Every change to a function, its namespace or its active deployment calls `sync`.
//!
//! Beside it, what host names run which function: a function's generated domain name
//! (`<function>.<namespace>.<functions domain>`) is read off the host itself, and custom domains
//! are a map kept in step by the domain operations ([`LiveFunctions::route_host`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use gust_core::{Deployment, Domain, Function, FunctionStatus, HandlerContract, Namespace};
use gust_runtime::Runtime;
use gust_runtime_process::{FunctionPool, PoolSpec, ProcessRuntime};
use gust_runtime_wasm::{InvokeLimits, LimitedComponent, WasmFunction, WasmRuntime};
use gust_store::{BlobStore, Store};

use crate::error::Error;
use crate::metrics::Metrics;

/// What a function keeps running between requests, for listing and detaching its instances.
pub enum Runner {
    /// Nothing: each request gets a fresh instance.
    Wasm {},
    /// Long-lived sandboxed workers, scaled by the pool.
    Process(FunctionPool),
}

/// One invocable function.
pub struct LiveFunction {
    pub function: Function,
    /// Runs its requests.
    pub runtime: Arc<dyn Runtime>,
    pub runner: Runner,
    /// What each of its execution records names, shared rather than copied per request.
    pub ids: Arc<ExecutionIds>,
}

/// The namespace, function and deployment an execution record belongs to.
pub struct ExecutionIds {
    pub namespace_id: String,
    pub function_id: String,
    pub deployment_id: String,
}

/// What the live set loads functions from and with.
pub struct Loaders {
    pub store: Arc<dyn Store>,
    pub blobs: BlobStore,
    pub wasm: WasmRuntime,
    /// The reason when this host cannot run process functions.
    pub process: Result<ProcessRuntime, String>,
    pub metrics: Arc<Metrics>,
    /// Where deployments are unpacked (`DATA_DIR`).
    pub data_dir: PathBuf,
    /// Bytes of stdout and of stderr kept per execution.
    pub log_limit: usize,
}

pub struct LiveFunctions {
    loaders: Loaders,
    /// Namespace (name or id) → function (name or id) → entry: four paths per function, found
    /// with borrowed strings, so a request allocates nothing to look one up.
    routes: RwLock<Routes>,
    /// Loaded components by deployment id, so a settings change does not reload code.
    components: Mutex<HashMap<String, WasmFunction>>,
    /// Worker pools by function id: kept across settings changes that workers do not depend
    /// on (scale), replaced (and the old one drained) when they do.
    pools: Mutex<HashMap<String, FunctionPool>>,
    /// The functions domain, and `.` + it: a host ending with the latter names a function.
    functions_domain: String,
    domain_suffix: String,
    /// Custom domains: host name → the function it runs.
    hosts: RwLock<HashMap<String, HostTarget>>,
    /// Whether `hosts` holds any, so a server without custom domains never takes its lock.
    any_hosts: AtomicBool,
}

/// The function a custom domain runs, by the keys of the live set.
#[derive(Debug, Clone)]
struct HostTarget {
    namespace_id: String,
    function_id: String,
}

/// What the host of a request names, when it names a function (see [`LiveFunctions::route_host`]).
#[derive(Clone)]
pub enum HostRoute {
    /// A live function: invoke it.
    Live(Arc<LiveFunction>),
    /// A function (namespace and function, by name or id) that is not live, or may not exist:
    /// the store says why.
    Missing {
        host: String,
        namespace: String,
        function: String,
    },
    /// A name under the functions domain that is not shaped as a function's.
    Unknown { host: String },
}

impl LiveFunctions {
    /// `functions_domain`: the base of generated domain names, lower case.
    pub fn new(loaders: Loaders, functions_domain: &str) -> Self {
        Self {
            loaders,
            routes: RwLock::default(),
            components: Mutex::default(),
            pools: Mutex::default(),
            functions_domain: functions_domain.to_string(),
            domain_suffix: format!(".{functions_domain}"),
            hosts: RwLock::default(),
            any_hosts: AtomicBool::new(false),
        }
    }

    /// The base of generated domain names.
    pub fn functions_domain(&self) -> &str {
        &self.functions_domain
    }

    /// The function a request's host names, or `None` when it names none (the request is for
    /// the server itself). `host` is lower case, without port or trailing dot. Every request
    /// asks, so a host that names nothing costs one suffix comparison, plus one map lookup
    /// when custom domains exist; a live function is found without a query.
    pub fn route_host(&self, host: &str) -> Option<HostRoute> {
        if let Some(labels) = host.strip_suffix(self.domain_suffix.as_str()) {
            let Some((function, namespace)) = labels
                .split_once('.')
                .filter(|(f, ns)| !f.is_empty() && !ns.is_empty() && !ns.contains('.'))
            else {
                return Some(HostRoute::Unknown {
                    host: host.to_string(),
                });
            };
            // The live set is also keyed by id; a domain name is made of names only.
            if let Some(live) = self.get(namespace, function)
                && live.function.name == function
                && live.function.namespace == namespace
            {
                return Some(HostRoute::Live(live));
            }
            return Some(HostRoute::Missing {
                host: host.to_string(),
                namespace: namespace.to_string(),
                function: function.to_string(),
            });
        }
        if !self.any_hosts.load(Ordering::Acquire) {
            return None;
        }
        let hosts = self.hosts.read().unwrap_or_else(|p| p.into_inner());
        let target = hosts.get(host)?;
        Some(match self.get(&target.namespace_id, &target.function_id) {
            Some(live) => HostRoute::Live(live),
            None => HostRoute::Missing {
                host: host.to_string(),
                namespace: target.namespace_id.clone(),
                function: target.function_id.clone(),
            },
        })
    }

    /// Route a custom domain's host name to its function.
    pub fn put_domain(&self, domain: &Domain) {
        let mut hosts = self.hosts.write().unwrap_or_else(|p| p.into_inner());
        hosts.insert(
            domain.hostname.clone(),
            HostTarget {
                namespace_id: domain.namespace_id.clone(),
                function_id: domain.function_id.clone(),
            },
        );
        self.any_hosts.store(true, Ordering::Release);
    }

    /// Stop routing a custom domain's host name.
    pub fn remove_domain(&self, hostname: &str) {
        let mut hosts = self.hosts.write().unwrap_or_else(|p| p.into_inner());
        hosts.remove(hostname);
        self.any_hosts.store(!hosts.is_empty(), Ordering::Release);
    }

    /// Make `domains` the custom domains of `function_id` (none: it was deleted).
    pub fn replace_domains(&self, function_id: &str, domains: &[Domain]) {
        let mut hosts = self.hosts.write().unwrap_or_else(|p| p.into_inner());
        hosts.retain(|_, target| target.function_id != function_id);
        for domain in domains {
            hosts.insert(
                domain.hostname.clone(),
                HostTarget {
                    namespace_id: domain.namespace_id.clone(),
                    function_id: domain.function_id.clone(),
                },
            );
        }
        self.any_hosts.store(!hosts.is_empty(), Ordering::Release);
    }

    /// Route every stored custom domain (at start).
    pub fn load_domains(&self, domains: &[Domain]) {
        for domain in domains {
            self.put_domain(domain);
        }
    }

    /// An invocable function: memory first; on a miss, the store says why it is not invocable.
    pub async fn find(&self, namespace: &str, function: &str) -> Result<Arc<LiveFunction>, Error> {
        if let Some(live) = self.get(namespace, function) {
            return Ok(live);
        }
        let ns = self.loaders.store.get_namespace(namespace).await?;
        let f = self.loaders.store.get_function(&ns.id, function).await?;
        if let Some(live) = self.get(&ns.id, &f.id) {
            return Ok(live);
        }
        let why = match f.status {
            FunctionStatus::Building => "its first deployment is still building",
            FunctionStatus::Error => "its deployment failed to build",
            _ => "it has no active deployment; deploy code first",
        };
        Err(Error {
            // What is missing is a deployment to run.
            resource: Some("deployment"),
            ..Error::unavailable(
                format!("function `{}` cannot be invoked yet: {why}", f.name),
                1,
            )
        })
    }

    pub fn get(&self, namespace: &str, function: &str) -> Option<Arc<LiveFunction>> {
        let routes = self.routes.read().unwrap_or_else(|p| p.into_inner());
        routes.get(namespace)?.get(function).cloned()
    }

    /// Stop serving a function; its workers finish what they run, then stop.
    pub fn remove(&self, function_id: &str) {
        let mut routes = self.routes.write().unwrap_or_else(|p| p.into_inner());
        remove_from(&mut routes, function_id);
        drop(routes);
        let pool = self
            .pools
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(function_id);
        if let Some(pool) = pool {
            tokio::spawn(async move { pool.drain().await });
        }
    }

    /// Every live worker pool, by function id (for instance counts).
    pub fn pools(&self) -> Vec<(String, FunctionPool)> {
        let pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        pools
            .iter()
            .map(|(id, pool)| (id.clone(), pool.clone()))
            .collect()
    }

    /// Forget a loaded component (its deployment was deleted).
    pub fn forget_deployment(&self, deployment_id: &str) {
        self.components
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(deployment_id);
    }

    /// Bring the entry of `function` in line with the store.
    pub async fn sync(&self, function: &Function) -> Result<(), Error> {
        let namespace = self
            .loaders
            .store
            .get_namespace(&function.namespace_id)
            .await?;
        self.install(&namespace, function).await
    }

    /// Re-sync every function of a namespace (its env or secrets changed).
    pub async fn sync_namespace(&self, namespace: &Namespace) -> Result<(), Error> {
        let ids: Vec<String> = {
            let routes = self.routes.read().unwrap_or_else(|p| p.into_inner());
            routes
                .get(&namespace.id)
                .map(|functions| functions.values().map(|l| l.function.id.clone()).collect())
                .unwrap_or_default()
        };
        for id in ids {
            if let Ok(function) = self.loaders.store.get_function(&namespace.id, &id).await {
                self.install(namespace, &function).await?;
            }
        }
        Ok(())
    }

    /// Load every function that has an active deployment (at start).
    pub async fn load_all(&self) -> Result<(), Error> {
        let store = &self.loaders.store;
        // The query brings each active deployment along, and namespaces are fetched once each:
        // no store round trip per function beyond that.
        let mut namespaces: HashMap<String, Namespace> = HashMap::new();
        for (function, deployment) in store.active_functions().await? {
            let loaded = async {
                if !namespaces.contains_key(&function.namespace_id) {
                    let namespace = store.get_namespace(&function.namespace_id).await?;
                    namespaces.insert(function.namespace_id.clone(), namespace);
                }
                if !function.runtime.is_process() {
                    self.preload(&deployment).await?;
                }
                self.install(&namespaces[&function.namespace_id], &function)
                    .await
            }
            .await;
            if let Err(e) = loaded {
                tracing::error!(function = %function.id, error = %e.message, "could not load function");
            }
        }
        Ok(())
    }

    async fn install(&self, namespace: &Namespace, function: &Function) -> Result<(), Error> {
        let Some(deployment_id) = function.active_deployment.clone() else {
            self.remove(&function.id);
            return Ok(());
        };
        let env = merged_env(namespace, function, &deployment_id);
        let (runtime, runner): (Arc<dyn Runtime>, _) = if function.runtime.is_process() {
            // The file the contract loads is the deployment's (only `appwrite` names one).
            let entrypoint = match function.contract {
                HandlerContract::Appwrite => {
                    self.loaders
                        .store
                        .get_deployment(&function.id, &deployment_id)
                        .await?
                        .entrypoint
                }
                HandlerContract::Gust | HandlerContract::Qinling => None,
            };
            let pool = self.pool(function, &deployment_id, entrypoint, env)?;
            (Arc::new(pool.clone()), Runner::Process(pool))
        } else {
            let component = LimitedComponent {
                function: self.component(&function.id, &deployment_id).await?,
                limits: InvokeLimits {
                    timeout: Duration::from_secs(u64::from(function.timeout_s)),
                    memory_mb: function.memory_mb,
                    env,
                    log_limit: self.loaders.log_limit,
                },
                serving: self.loaders.metrics.wasm_instances.clone(),
            };
            (Arc::new(component), Runner::Wasm {})
        };
        self.loaders
            .metrics
            .name_function(&function.id, &namespace.name, &function.name);
        let live = Arc::new(LiveFunction {
            ids: Arc::new(ExecutionIds {
                namespace_id: function.namespace_id.clone(),
                function_id: function.id.clone(),
                deployment_id,
            }),
            function: function.clone(),
            runtime,
            runner,
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

    /// The worker pool for a process function: the current one when only its scale changed
    /// (applied in place), else a new one, the old one draining its in-flight requests.
    fn pool(
        &self,
        function: &Function,
        deployment_id: &str,
        entrypoint: Option<String>,
        env: Vec<(String, String)>,
    ) -> Result<FunctionPool, Error> {
        let runtime = self.loaders.process.as_ref().map_err(|reason| {
            Error::unavailable(
                format!("process runtimes are not available on this server: {reason}"),
                30,
            )
        })?;
        let spec = PoolSpec {
            function_id: function.id.clone(),
            function_name: function.name.clone(),
            deployment_id: deployment_id.to_string(),
            runtime: function.runtime,
            code_dir: code_dir(&self.loaders.data_dir, deployment_id),
            handler: function
                .handler
                .clone()
                .unwrap_or_else(|| "main.handle".into()),
            contract: function.contract,
            entrypoint,
            env,
            memory_mb: u64::from(function.memory_mb),
            cpu_millis: function.cpu_millis,
            timeout: Duration::from_secs(u64::from(function.timeout_s)),
            min_scale: function.min_scale,
            max_scale: function.max_scale,
            concurrency: function.concurrency,
            network: function.network,
        };
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(current) = pools.get(&function.id)
            && same_workers(current.spec(), &spec)
        {
            current.set_scale(spec.min_scale, spec.max_scale, spec.concurrency);
            return Ok(current.clone());
        }
        let pool = runtime.pool(spec);
        if let Some(old) = pools.insert(function.id.clone(), pool.clone()) {
            tokio::spawn(async move { old.drain().await });
        }
        Ok(pool)
    }

    /// The component of a deployment: from the cache, else loaded as the store describes it.
    async fn component(
        &self,
        function_id: &str,
        deployment_id: &str,
    ) -> Result<WasmFunction, Error> {
        if let Some(found) = self
            .components
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(deployment_id)
        {
            return Ok(found.clone());
        }
        let deployment = self
            .loaders
            .store
            .get_deployment(function_id, deployment_id)
            .await?;
        self.preload(&deployment).await
    }

    /// Load a deployment's component into the cache (from its artifact, compiling if needed).
    pub async fn preload(&self, deployment: &Deployment) -> Result<WasmFunction, Error> {
        let id = deployment.id.clone();
        let sha = deployment
            .wasm_sha256
            .clone()
            .ok_or_else(|| Error::internal(format!("deployment {id} has no component")))?;
        let source = self.loaders.blobs.path(&sha);
        let runtime = self.loaders.wasm.clone();
        let loaded = tokio::task::spawn_blocking(move || runtime.load_or_compile(&sha, &source))
            .await
            .map_err(Error::internal)?
            .map_err(|e| Error::internal(format!("loading deployment {id}: {e}")))?;
        self.components
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, loaded.clone());
        Ok(loaded)
    }
}

/// Where an archive deployment is unpacked (and, for process runtimes, where its workers
/// find their code).
pub fn code_dir(data_dir: &std::path::Path, deployment_id: &str) -> PathBuf {
    data_dir.join("deployments").join(deployment_id)
}

/// Whether two pool specs need the same workers: everything but the scale, which a pool
/// changes in place.
fn same_workers(a: &PoolSpec, b: &PoolSpec) -> bool {
    a.deployment_id == b.deployment_id
        && a.function_name == b.function_name
        && a.handler == b.handler
        && a.contract == b.contract
        && a.entrypoint == b.entrypoint
        && a.env == b.env
        && a.memory_mb == b.memory_mb
        && a.cpu_millis == b.cpu_millis
        && a.timeout == b.timeout
        && a.network == b.network
}

type Routes = HashMap<String, HashMap<String, Arc<LiveFunction>>>;

fn remove_from(routes: &mut Routes, function_id: &str) {
    for functions in routes.values_mut() {
        functions.retain(|_, live| live.function.id != function_id);
    }
    routes.retain(|_, functions| !functions.is_empty());
}

/// Namespace env, then namespace secrets, then the function's env and secrets: the most
/// specific value wins. Then what the handler contract adds, over all of them.
fn merged_env(
    namespace: &Namespace,
    function: &Function,
    deployment_id: &str,
) -> Vec<(String, String)> {
    let mut env = namespace.env.clone();
    env.extend(namespace.secrets.clone());
    env.extend(function.env.clone());
    env.extend(function.secrets.clone());
    crate::contract::add_env(&mut env, function, &namespace.name, deployment_id);
    env.into_iter().collect()
}
