//! The functions ready to invoke, kept in memory so the invocation path does no query: each
//! entry holds the function's settings and what runs it, a [`Runtime`] — a loaded Wasm
//! component with its limits, or the pool of worker processes of a python, node or custom
//! function. Every change to a function, its namespace or its active deployment calls `sync`.
//!
//! Versions of functions live in the same map, under `{function}:{number}` beside the
//! function's own keys: loaded from the store on first use, then found as a function is, with
//! no query; dropped when the version or the function is deleted. Aliases are a map of their
//! own (namespace → name → function and version), loaded at start and kept in step by the
//! alias operations.
//!
//! Beside it, what host names run which function: a function's generated domain name
//! (`<function>.<namespace>.<functions domain>`) is read off the host itself, and custom domains
//! are a map kept in step by the domain operations ([`LiveFunctions::route_host`]); so are the
//! edge applications and the host names of edge domains ([`EdgeSet`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use gust_core::version::{QUALIFIER_SEPARATOR, Qualifier};
use gust_core::{
    Alias, Deployment, Domain, Function, FunctionStatus, FunctionVersion, HandlerContract,
    Namespace,
};
use gust_runtime::Runtime;
use gust_runtime_process::{FunctionPool, PoolSpec, ProcessRuntime};
use gust_runtime_wasm::{ComponentRef, InvokeLimits, LimitedComponent, WasmRuntime};
use gust_store::{BlobStore, Store};

use crate::edge::{EdgeRoute, EdgeSet};
use crate::error::Error;
use crate::metrics::Metrics;

/// What a function keeps running between requests, for listing and detaching its instances.
#[derive(Clone)]
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

/// The namespace, function and deployment an execution record belongs to, and the version
/// and alias that ran, if any.
#[derive(Clone)]
pub struct ExecutionIds {
    pub namespace_id: String,
    pub function_id: String,
    pub deployment_id: String,
    pub function_version: Option<u32>,
    pub alias: Option<String>,
}

impl LiveFunction {
    /// The version this entry runs; `None`: the function's current configuration.
    pub fn version(&self) -> Option<u32> {
        self.ids.function_version
    }
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
    /// The sha256 of each Wasm deployment's component, by deployment id: what finds its
    /// component (loaded or not, shared by equal code) without a query.
    code_digests: Mutex<HashMap<String, String>>,
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
    /// Aliases: namespace (name and id) → alias name → what it runs.
    aliases: RwLock<HashMap<String, HashMap<String, AliasTarget>>>,
    /// Held while a version loads, so concurrent first requests load it once.
    loading_versions: tokio::sync::Mutex<()>,
    /// Edge applications and the host names of edge domains.
    pub edge: EdgeSet,
}

/// What an alias runs, by the keys of the live set.
#[derive(Debug, Clone)]
struct AliasTarget {
    namespace_id: String,
    function_id: String,
    function_name: String,
    version: Option<u32>,
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
    /// A cname or the generated name of an edge domain.
    Edge(EdgeRoute),
}

impl LiveFunctions {
    /// `functions_domain`: the base of generated domain names, lower case.
    pub fn new(loaders: Loaders, functions_domain: &str) -> Self {
        Self {
            loaders,
            routes: RwLock::default(),
            code_digests: Mutex::default(),
            pools: Mutex::default(),
            functions_domain: functions_domain.to_string(),
            domain_suffix: format!(".{functions_domain}"),
            hosts: RwLock::default(),
            any_hosts: AtomicBool::new(false),
            aliases: RwLock::default(),
            loading_versions: tokio::sync::Mutex::new(()),
            edge: EdgeSet::default(),
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
            // One label: an edge domain's generated name (`edge-<id>`).
            if let Some(route) = gust_core::edge::edge_domain_id(labels)
                .and_then(|id| self.edge.route_generated(id, host))
            {
                return Some(HostRoute::Edge(route));
            }
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
        if self.any_hosts.load(Ordering::Acquire) {
            let target = self
                .hosts
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .get(host)
                .cloned();
            if let Some(target) = target {
                return Some(match self.get(&target.namespace_id, &target.function_id) {
                    Some(live) => HostRoute::Live(live),
                    None => HostRoute::Missing {
                        host: host.to_string(),
                        namespace: target.namespace_id,
                        function: target.function_id,
                    },
                });
            }
        }
        self.edge.route_cname(host).map(HostRoute::Edge)
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

    /// Make `domains` every custom domain routed (a resync with the store).
    pub fn set_all_domains(&self, domains: &[Domain]) {
        let mut hosts = self.hosts.write().unwrap_or_else(|p| p.into_inner());
        hosts.clear();
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

    /// An invocable version or alias, `qualified` being `{function}:{qualifier}` (a version
    /// number or an alias name), with the alias name when it was one. A loaded version is
    /// found in memory under exactly that key; anything else is resolved once here.
    pub async fn find_qualified(
        &self,
        namespace: &str,
        qualified: &str,
    ) -> Result<(Arc<LiveFunction>, Option<String>), Error> {
        if let Some(live) = self.get(namespace, qualified) {
            return Ok((live, None));
        }
        let (function, qualifier) = qualified
            .split_once(QUALIFIER_SEPARATOR)
            .unwrap_or((qualified, ""));
        match Qualifier::parse(qualifier).map_err(|why| Error::not_found_of("version", why))? {
            Qualifier::Version(number) => {
                let (namespace, current) = self.current(namespace, function).await?;
                Ok((self.load_version(&namespace, &current, number).await?, None))
            }
            Qualifier::Alias(name) => {
                let target = self.alias(namespace, name).ok_or_else(|| {
                    Error::not_found_of(
                        "alias",
                        format!("no alias `{name}` in namespace `{namespace}`"),
                    )
                })?;
                if function != target.function_name && function != target.function_id {
                    return Err(Error::not_found_of(
                        "alias",
                        format!(
                            "the alias `{name}` runs function `{}`, not `{function}`",
                            target.function_name
                        ),
                    ));
                }
                let live = match target.version {
                    None => self.find(&target.namespace_id, &target.function_id).await?,
                    Some(number) => {
                        let key = version_key(&target.function_id, number);
                        match self.get(&target.namespace_id, &key) {
                            Some(live) => live,
                            None => {
                                let (namespace, current) = self
                                    .current(&target.namespace_id, &target.function_id)
                                    .await?;
                                self.load_version(&namespace, &current, number).await?
                            }
                        }
                    }
                };
                Ok((live, Some(name.to_string())))
            }
        }
    }

    /// A version of a function, from memory, else loaded from the store (404 naming it when it
    /// does not exist). `function` is the function as it is now: its privacy applies.
    pub async fn find_version(
        &self,
        namespace_id: &str,
        function_id: &str,
        number: u32,
    ) -> Result<Arc<LiveFunction>, Error> {
        if let Some(live) = self.get(namespace_id, &version_key(function_id, number)) {
            return Ok(live);
        }
        let (namespace, current) = self.current(namespace_id, function_id).await?;
        self.load_version(&namespace, &current, number).await
    }

    /// The version's entry if it is loaded (no query).
    pub fn get_version(
        &self,
        namespace_id: &str,
        function_id: &str,
        number: u32,
    ) -> Option<Arc<LiveFunction>> {
        self.get(namespace_id, &version_key(function_id, number))
    }

    /// A function's namespace and its current configuration, from the store (only when a
    /// version is first loaded).
    async fn current(
        &self,
        namespace: &str,
        function: &str,
    ) -> Result<(Namespace, Function), Error> {
        let namespace = self.loaders.store.get_namespace(namespace).await?;
        let function = self
            .loaders
            .store
            .get_function(&namespace.id, function)
            .await?;
        Ok((namespace, function))
    }

    async fn load_version(
        &self,
        namespace: &Namespace,
        current: &Function,
        number: u32,
    ) -> Result<Arc<LiveFunction>, Error> {
        let _loading = self.loading_versions.lock().await;
        if let Some(live) = self.get_version(&namespace.id, &current.id, number) {
            return Ok(live);
        }
        let version = self
            .loaders
            .store
            .get_version(&current.id, number)
            .await
            .map_err(|e| match e {
                gust_store::StoreError::NotFound { .. } => Error::not_found_of(
                    "version",
                    format!("function `{}` has no version {number}", current.name),
                ),
                other => other.into(),
            })?;
        let live = self.build_version(namespace, current, &version).await?;
        let mut routes = self.routes.write().unwrap_or_else(|p| p.into_inner());
        insert_version(&mut routes, namespace, current, number, &live);
        Ok(live)
    }

    async fn build_version(
        &self,
        namespace: &Namespace,
        current: &Function,
        version: &FunctionVersion,
    ) -> Result<Arc<LiveFunction>, Error> {
        let mut config = version.config.clone();
        // Who may call a version is the function's business now, not when it was made.
        config.privacy = current.privacy;
        config.http_option = current.http_option;
        let (runtime, runner) = self
            .runner(namespace, &config, &version.deployment_id, false)
            .await?;
        Ok(Arc::new(LiveFunction {
            ids: Arc::new(ExecutionIds {
                namespace_id: config.namespace_id.clone(),
                function_id: config.id.clone(),
                deployment_id: version.deployment_id.clone(),
                function_version: Some(version.number),
                alias: None,
            }),
            function: config,
            runtime,
            runner,
        }))
    }

    /// Stop serving a version (deleted from the store first); its workers finish what they
    /// run, then stop.
    pub async fn remove_version(&self, function_id: &str, number: u32) {
        self.drop_versions(|live| {
            live.function.id == function_id && live.version() == Some(number)
        })
        .await;
    }

    /// Stop serving every loaded version of a function (deleted, or its versions changed
    /// elsewhere: they load again on their next use).
    pub async fn remove_versions(&self, function_id: &str) {
        self.drop_versions(|live| live.function.id == function_id && live.version().is_some())
            .await;
    }

    async fn drop_versions(&self, matches: impl Fn(&LiveFunction) -> bool) {
        // A load that read the store before the change finishes first, so what it inserts
        // is dropped here rather than left behind.
        let _loading = self.loading_versions.lock().await;
        let mut removed: Vec<Arc<LiveFunction>> = Vec::new();
        let mut routes = self.routes.write().unwrap_or_else(|p| p.into_inner());
        for functions in routes.values_mut() {
            functions.retain(|_, live| {
                if !matches(live) {
                    return true;
                }
                if !removed.iter().any(|r| Arc::ptr_eq(r, live)) {
                    removed.push(live.clone());
                }
                false
            });
        }
        routes.retain(|_, functions| !functions.is_empty());
        drop(routes);
        for live in removed {
            if let Runner::Process(pool) = &live.runner {
                let pool = pool.clone();
                tokio::spawn(async move { pool.drain().await });
            }
        }
    }

    /// Give the loaded versions of `function` its current privacy and redirect setting.
    fn refresh_versions(&self, function: &Function) {
        let mut routes = self.routes.write().unwrap_or_else(|p| p.into_inner());
        let mut refreshed: Vec<(Arc<LiveFunction>, Arc<LiveFunction>)> = Vec::new();
        for functions in routes.values_mut() {
            for live in functions.values_mut() {
                if live.function.id != function.id
                    || live.version().is_none()
                    || (live.function.privacy == function.privacy
                        && live.function.http_option == function.http_option)
                {
                    continue;
                }
                let fresh = match refreshed.iter().find(|(old, _)| Arc::ptr_eq(old, live)) {
                    Some((_, fresh)) => fresh.clone(),
                    None => {
                        let mut config = live.function.clone();
                        config.privacy = function.privacy;
                        config.http_option = function.http_option;
                        let fresh = Arc::new(LiveFunction {
                            function: config,
                            runtime: live.runtime.clone(),
                            runner: live.runner.clone(),
                            ids: live.ids.clone(),
                        });
                        refreshed.push((live.clone(), fresh.clone()));
                        fresh
                    }
                };
                *live = fresh;
            }
        }
    }

    /// Route an alias (`namespace` and `function` are the names of its namespace and function).
    pub fn put_alias(&self, alias: &Alias, namespace: &str, function: &str) {
        let mut aliases = self.aliases.write().unwrap_or_else(|p| p.into_inner());
        for ns_key in [namespace, alias.namespace_id.as_str()] {
            aliases.entry(ns_key.to_string()).or_default().insert(
                alias.name.clone(),
                AliasTarget {
                    namespace_id: alias.namespace_id.clone(),
                    function_id: alias.function_id.clone(),
                    function_name: function.to_string(),
                    version: alias.version,
                },
            );
        }
    }

    /// Stop routing an alias.
    pub fn remove_alias(&self, namespace_id: &str, name: &str) {
        let mut aliases = self.aliases.write().unwrap_or_else(|p| p.into_inner());
        for functions in aliases.values_mut() {
            functions.retain(|alias, target| alias != name || target.namespace_id != namespace_id);
        }
        aliases.retain(|_, names| !names.is_empty());
    }

    /// Route every stored alias (at start, or after a change made elsewhere), replacing those
    /// held. Aliases whose namespace or function cannot be read are skipped.
    pub async fn load_aliases(&self, aliases: &[Alias]) {
        let mut loaded: Vec<(&Alias, String, String)> = Vec::new();
        for alias in aliases {
            let Ok(namespace) = self.loaders.store.get_namespace(&alias.namespace_id).await else {
                continue;
            };
            let Ok(function) = self
                .loaders
                .store
                .get_function_by_id(&alias.function_id)
                .await
            else {
                continue;
            };
            loaded.push((alias, namespace.name, function.name));
        }
        self.aliases
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        for (alias, namespace, function) in loaded {
            self.put_alias(alias, &namespace, &function);
        }
    }

    fn alias(&self, namespace: &str, name: &str) -> Option<AliasTarget> {
        let aliases = self.aliases.read().unwrap_or_else(|p| p.into_inner());
        aliases.get(namespace)?.get(name).cloned()
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

    /// The ids of the functions loaded (their current configuration, not their versions).
    pub fn function_ids(&self) -> Vec<String> {
        let routes = self.routes.read().unwrap_or_else(|p| p.into_inner());
        let mut ids: Vec<String> = routes
            .values()
            .flat_map(|functions| functions.values())
            .filter(|live| live.version().is_none())
            .map(|live| live.function.id.clone())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Every live worker pool, by function id (for instance counts).
    pub fn pools(&self) -> Vec<(String, FunctionPool)> {
        let pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        pools
            .iter()
            .map(|(id, pool)| (id.clone(), pool.clone()))
            .collect()
    }

    /// Forget a deployment's component (the deployment was deleted).
    pub fn forget_deployment(&self, deployment_id: &str) {
        self.code_digests
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

    /// [`LiveFunctions::sync`] with the function's namespace already read.
    pub async fn sync_in(&self, namespace: &Namespace, function: &Function) -> Result<(), Error> {
        self.install(namespace, function).await
    }

    /// Re-sync every function of a namespace (its env or secrets changed).
    pub async fn sync_namespace(&self, namespace: &Namespace) -> Result<(), Error> {
        let mut ids: Vec<String> = {
            let routes = self.routes.read().unwrap_or_else(|p| p.into_inner());
            routes
                .get(&namespace.id)
                .map(|functions| {
                    functions
                        .values()
                        .filter(|l| l.version().is_none())
                        .map(|l| l.function.id.clone())
                        .collect()
                })
                .unwrap_or_default()
        };
        ids.sort_unstable();
        ids.dedup();
        // Versions merge the namespace's env too: they load again, with the new one.
        self.drop_versions(|live| {
            live.function.namespace_id == namespace.id && live.version().is_some()
        })
        .await;
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
                // Components load on their first request: a start with many functions reads
                // no artifact.
                if !function.runtime.is_process() {
                    self.remember_code(&deployment)?;
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
        self.refresh_versions(function);
        let Some(deployment_id) = function.active_deployment.clone() else {
            self.remove(&function.id);
            return Ok(());
        };
        let (runtime, runner) = self
            .runner(namespace, function, &deployment_id, true)
            .await?;
        self.loaders
            .metrics
            .name_function(&function.id, &namespace.name, &function.name);
        let live = Arc::new(LiveFunction {
            ids: Arc::new(ExecutionIds {
                namespace_id: function.namespace_id.clone(),
                function_id: function.id.clone(),
                deployment_id,
                function_version: None,
                alias: None,
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

    /// What runs `function` on `deployment_id`: its component with its limits, or a worker
    /// pool. `shared_pool`: the function's own pool, kept across scale changes (a version
    /// gets a pool of its own).
    async fn runner(
        &self,
        namespace: &Namespace,
        function: &Function,
        deployment_id: &str,
        shared_pool: bool,
    ) -> Result<(Arc<dyn Runtime>, Runner), Error> {
        let env = merged_env(namespace, function, deployment_id);
        if function.runtime.is_process() {
            // The file the contract loads is the deployment's (only `appwrite` names one).
            let entrypoint = match function.contract {
                HandlerContract::Appwrite => {
                    self.loaders
                        .store
                        .get_deployment(&function.id, deployment_id)
                        .await?
                        .entrypoint
                }
                HandlerContract::Gust | HandlerContract::Qinling | HandlerContract::Azion => None,
            };
            self.ensure_code_dir(&function.id, deployment_id).await?;
            let pool = self.pool(function, deployment_id, entrypoint, env, shared_pool)?;
            return Ok((Arc::new(pool.clone()), Runner::Process(pool)));
        }
        let component = LimitedComponent {
            function: self.component(&function.id, deployment_id).await?,
            limits: InvokeLimits {
                timeout: Duration::from_secs(u64::from(function.timeout_s)),
                memory_mb: function.memory_mb,
                env,
                log_limit: self.loaders.log_limit,
                network: function.network,
            },
            serving: self.loaders.metrics.wasm_instances.clone(),
        };
        Ok((Arc::new(component), Runner::Wasm {}))
    }

    /// The worker pool for a process function: the current one when only its scale changed
    /// (applied in place), else a new one, the old one draining its in-flight requests.
    fn pool(
        &self,
        function: &Function,
        deployment_id: &str,
        entrypoint: Option<String>,
        env: Vec<(String, String)>,
        shared: bool,
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
            args: (function.contract == HandlerContract::Azion)
                .then(|| serde_json::to_string(&function.args).ok())
                .flatten()
                .map(Into::into),
        };
        if !shared {
            return Ok(runtime.pool(spec));
        }
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

    /// The component of a deployment (loaded or not), found by its code's digest.
    async fn component(
        &self,
        function_id: &str,
        deployment_id: &str,
    ) -> Result<ComponentRef, Error> {
        let known = self
            .code_digests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(deployment_id)
            .cloned();
        let sha = match known {
            Some(sha) => sha,
            None => {
                let deployment = self
                    .loaders
                    .store
                    .get_deployment(function_id, deployment_id)
                    .await?;
                self.remember_code(&deployment)?
            }
        };
        // With a shared blob store, fetched (and checked) here when this node lacks it.
        let source = self.loaders.blobs.local(&sha).await?;
        Ok(self.loaders.wasm.component(&sha, source))
    }

    /// With a shared blob store, a process deployment built on another node is unpacked here
    /// on first use: its built code (dependencies installed) when the build shared it, else its
    /// upload; the blob checked by sha256 first. Unpacked beside its place and renamed in, so
    /// a folder at the place is always whole.
    async fn ensure_code_dir(&self, function_id: &str, deployment_id: &str) -> Result<(), Error> {
        if self.loaders.blobs.shared_url().is_none() {
            return Ok(());
        }
        let dir = code_dir(&self.loaders.data_dir, deployment_id);
        if tokio::fs::try_exists(&dir).await.unwrap_or(false) {
            return Ok(());
        }
        let deployment = self
            .loaders
            .store
            .get_deployment(function_id, deployment_id)
            .await?;
        let (sha, format) = match &deployment.built_sha256 {
            Some(built) => (built.as_str(), gust_core::PackageFormat::TarGz),
            None => (deployment.sha256.as_str(), deployment.format),
        };
        let archive = self.loaders.blobs.local(sha).await?;
        let partial = self
            .loaders
            .data_dir
            .join("deployments")
            .join(format!(".{deployment_id}.{}", gust_core::new_id()));
        let into = partial.clone();
        // A build on some node accepted this code; the size limit was applied there.
        let unpacked = tokio::task::spawn_blocking(move || {
            crate::archive::unpack(format, &archive, &into, 1 << 40)
        })
        .await
        .map_err(Error::internal)?;
        if let Err(e) = unpacked {
            let _ = tokio::fs::remove_dir_all(&partial).await;
            return Err(Error::internal(format!(
                "unpacking deployment {deployment_id}: {e}"
            )));
        }
        if let Err(e) = tokio::fs::rename(&partial, &dir).await {
            let _ = tokio::fs::remove_dir_all(&partial).await;
            // Another load unpacked it first.
            if !tokio::fs::try_exists(&dir).await.unwrap_or(false) {
                return Err(Error::internal(format!(
                    "placing deployment {deployment_id}: {e}"
                )));
            }
        }
        tracing::info!(
            deployment_id,
            sha256 = sha,
            "unpacked code from the shared blob store"
        );
        Ok(())
    }

    /// Note which component a Wasm deployment runs; its digest.
    fn remember_code(&self, deployment: &Deployment) -> Result<String, Error> {
        let sha = deployment.wasm_sha256.clone().ok_or_else(|| {
            Error::internal(format!("deployment {} has no component", deployment.id))
        })?;
        self.code_digests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(deployment.id.clone(), sha.clone());
        Ok(sha)
    }

    /// Load a deployment's component now (from its artifact, compiling if needed), so its
    /// first request finds it ready; held by the caller until a function holds it.
    pub async fn preload(&self, deployment: &Deployment) -> Result<ComponentRef, Error> {
        let sha = self.remember_code(deployment)?;
        let source = self.loaders.blobs.local(&sha).await?;
        let component = self.loaders.wasm.component(&sha, source);
        let loading = component.clone();
        tokio::task::spawn_blocking(move || loading.load())
            .await
            .map_err(Error::internal)?
            .map_err(|e| Error::internal(format!("loading deployment {}: {e}", deployment.id)))?;
        Ok(component)
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
        && a.args == b.args
}

type Routes = HashMap<String, HashMap<String, Arc<LiveFunction>>>;

/// Remove the entry of a function's current configuration (its versions stay).
fn remove_from(routes: &mut Routes, function_id: &str) {
    for functions in routes.values_mut() {
        functions.retain(|_, live| live.function.id != function_id || live.version().is_some());
    }
    routes.retain(|_, functions| !functions.is_empty());
}

/// The key a version is found under beside its function's (`hello:2`, `<id>:2`).
fn version_key(function: &str, number: u32) -> String {
    format!("{function}{QUALIFIER_SEPARATOR}{number}")
}

fn insert_version(
    routes: &mut Routes,
    namespace: &Namespace,
    function: &Function,
    number: u32,
    live: &Arc<LiveFunction>,
) {
    for ns_key in [&namespace.name, &namespace.id] {
        let functions = routes.entry(ns_key.clone()).or_default();
        for fn_key in [&function.name, &function.id] {
            functions.insert(version_key(fn_key, number), live.clone());
        }
    }
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
