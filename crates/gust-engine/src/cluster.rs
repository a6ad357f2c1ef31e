//! Servers (nodes) sharing one database. Nothing here is a consensus of our own: the database's
//! row locks and LISTEN/NOTIFY do the coordinating.
//!
//! - Each node has an id (`--node-id`, or made at first start and kept in `DATA_DIR/node-id`)
//!   and writes its row in `nodes` every third of `GUST_LEASE_SECS`: its heartbeat, which
//!   also holds every async execution it accepted or claimed (`executions.owner`). A node
//!   whose heartbeat is older than the lease is gone, and the others claim what it held (see
//!   `jobs::queue`). Builds are held the same way (`deployments.builder`): with each beat a
//!   node queues the builds no live node holds, each claimed as it is queued (`builder.rs`).
//! - Every change an operation makes is announced: [`Announcer`] sends a notice (kind, ids,
//!   the sender) on the store's change channel once the change is committed; each node
//!   listens, skips its own, and reads the resource named back from the store into its
//!   in-memory sets. A full resync runs every [`RESYNC_EVERY`] and whenever the channel
//!   reconnects (notices sent meanwhile are lost).
//!
//! On SQLite (one server) nothing is announced and nothing listened to; the node's row is
//! still written, so the node list shows it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use gust_core::{AuditAction, Node, Scope};
use gust_store::{ChangeMessage, Store, StoreError};
use serde::{Deserialize, Serialize};

use crate::Engine;
use crate::auth::Caller;
use crate::error::Result;
use crate::ops::ChangeNotice;
use crate::start::Shared;

/// How often everything held in memory is read again from the store, behind the notices.
pub const RESYNC_EVERY: Duration = Duration::from_secs(30);

/// Whether `id` may name a node: 1 to 64 letters, digits, '.', '_' and '-'.
pub fn node_id_is_valid(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The configured id, else the one kept in the data dir, else a new one (the host name and
/// a random suffix, so two nodes on hosts of the same name differ) written there for the
/// next start.
pub(crate) fn node_id(data_dir: &Path, configured: Option<&str>) -> anyhow::Result<String> {
    if let Some(id) = configured {
        return Ok(id.to_string());
    }
    let file = data_dir.join("node-id");
    if let Ok(text) = std::fs::read_to_string(&file) {
        let id = text.trim();
        if node_id_is_valid(id) {
            return Ok(id.to_string());
        }
        anyhow::bail!(
            "{} does not hold a node id (1 to 64 letters, digits, '.', '_' and '-')",
            file.display()
        );
    }
    let host: String = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_default()
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .take(48)
        .collect();
    let host = if host.is_empty() { "gust".into() } else { host };
    let id = format!("{host}-{:06x}", rand::random::<u32>() & 0xff_ffff);
    std::fs::write(&file, format!("{id}\n"))
        .with_context(|| format!("writing {}", file.display()))?;
    Ok(id)
}

/// At `now`, the oldest heartbeat of a node still alive: one a `lease` old is gone, and what it
/// held (executions, builds) anyone's.
pub(crate) fn alive_since(lease: Duration, now: DateTime<Utc>) -> DateTime<Utc> {
    now - chrono::Duration::from_std(lease).unwrap_or_default()
}

/// A change notice as it travels between nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Notice {
    /// The node that made the change (it skips its own notices).
    node: String,
    kind: String,
    action: AuditAction,
    /// The resource, by id (or as the client named it, when the operation did not resolve it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
    /// Of a `workers` notice: the change every node makes to its own warm workers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    workers: Option<WorkersChange>,
}

/// A change of a process function's warm workers, which each node makes to its own.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct WorkersChange {
    /// Workers to start (positive), idle ones to stop (negative), or 0: detach them all.
    pub delta: i32,
    /// Of this version of the function; its current configuration's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
}

/// Sends change notices to the other nodes sharing the store (none on SQLite).
#[derive(Clone)]
pub struct Announcer {
    store: Arc<dyn Store>,
    node: Arc<str>,
}

impl Announcer {
    pub(crate) fn new(store: Arc<dyn Store>, node: Arc<str>) -> Self {
        Self { store, node }
    }

    /// Announce a committed change of a `kind` resource, in the background.
    pub(crate) fn announce(
        &self,
        kind: &str,
        action: AuditAction,
        id: Option<String>,
        namespace: Option<String>,
    ) {
        if !self.store.shared() {
            return;
        }
        self.send(Notice {
            node: self.node.to_string(),
            kind: kind.to_string(),
            action,
            id,
            namespace,
            workers: None,
        });
    }

    /// Announce a change of a function's warm workers, for every other node to make to its
    /// own (each starts or stops `delta`, within the function's scale, or detaches all).
    pub(crate) fn announce_workers(
        &self,
        function_id: &str,
        namespace_id: &str,
        change: WorkersChange,
    ) {
        if !self.store.shared() {
            return;
        }
        self.send(Notice {
            node: self.node.to_string(),
            kind: "workers".into(),
            action: if change.delta == 0 {
                AuditAction::Detach
            } else {
                AuditAction::Scale
            },
            id: Some(function_id.into()),
            namespace: Some(namespace_id.into()),
            workers: Some(change),
        });
    }

    fn send(&self, notice: Notice) {
        let store = self.store.clone();
        tokio::spawn(async move {
            let Ok(payload) = serde_json::to_string(&notice) else {
                return;
            };
            // Lost, the change still reaches the others with their next resync.
            if let Err(e) = store.publish_change(&payload).await {
                tracing::warn!(error = %e, kind = %notice.kind, "announcing a change failed");
            }
        });
    }
}

/// The background work of a node: its heartbeat, and on a shared store the listener of
/// change notices and the periodic resync.
pub(crate) async fn start(engine: &Shared) {
    if let Err(e) = engine.heartbeat().await {
        tracing::warn!(error = %e, "writing this node's heartbeat failed");
    }
    let every = engine.jobs_config.heartbeat_every();
    let weak = Arc::downgrade(engine);
    tokio::spawn(async move {
        // The first beat was written before the node listens: the next, soon, has its URL.
        let mut ticks =
            tokio::time::interval_at(tokio::time::Instant::now() + Duration::from_secs(1), every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let Some(engine) = weak.upgrade() else { return };
            if let Err(e) = engine.heartbeat().await {
                tracing::warn!(error = %e, "writing this node's heartbeat failed");
            }
            if engine.store.shared()
                && let Err(e) = engine.take_over_builds().await
            {
                tracing::warn!(error = %e.message, "looking for builds no node holds failed");
            }
        }
    });
    let Some(mut notices) = engine.store.listen_changes() else {
        return;
    };
    let weak = Arc::downgrade(engine);
    tokio::spawn(async move {
        let mut resync = tokio::time::interval(RESYNC_EVERY);
        resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        resync.tick().await;
        let mut connections = 0u64;
        loop {
            let message = tokio::select! {
                message = notices.recv() => message,
                _ = resync.tick() => {
                    let Some(engine) = weak.upgrade() else { return };
                    if let Err(e) = engine.resync().await {
                        tracing::warn!(error = %e.message, "resynchronizing with the store failed");
                    }
                    continue;
                }
            };
            let Some(message) = message else { return };
            let Some(engine) = weak.upgrade() else { return };
            match message {
                ChangeMessage::Connected => {
                    connections += 1;
                    // The first connection is made as the node starts, with everything fresh.
                    if connections > 1 {
                        tracing::info!("listening for changes again; resynchronizing");
                        if let Err(e) = engine.resync().await {
                            tracing::warn!(error = %e.message, "resynchronizing with the store failed");
                        }
                    }
                }
                ChangeMessage::Notice(payload) => {
                    let notice: Notice = match serde_json::from_str(&payload) {
                        Ok(notice) => notice,
                        Err(e) => {
                            tracing::warn!(error = %e, "an unreadable change notice");
                            continue;
                        }
                    };
                    if *notice.node == *engine.jobs.node {
                        continue;
                    }
                    if let Err(e) = engine.apply_notice(&notice).await {
                        tracing::warn!(error = %e.message, kind = %notice.kind, "applying a change notice failed; resynchronizing");
                        let _ = engine.resync().await;
                    }
                }
            }
        }
    });
}

impl Engine {
    /// This node's id among those sharing the store.
    pub fn node_id(&self) -> &str {
        &self.jobs.node
    }

    /// This node as it reports itself now.
    pub async fn this_node(&self) -> Node {
        let queued = self.queue.held() as u64;
        let workers: usize = self
            .live
            .pools()
            .iter()
            .map(|(_, pool)| pool.instance_count())
            .sum();
        let wasm = self
            .metrics
            .wasm_instances
            .load(std::sync::atomic::Ordering::Relaxed)
            .max(0) as u64;
        Node {
            id: self.jobs.node.to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            url: self.base_url().to_string(),
            started_at: self.started_at,
            heartbeat_at: gust_core::now(),
            running: self.queue.running() as u64,
            queued,
            instances: workers as u64 + wasm,
        }
    }

    /// Write this node's row: it is alive, and holds what it holds for another lease.
    pub async fn heartbeat(&self) -> Result<()> {
        let node = self.this_node().await;
        self.store.put_node(&node).await?;
        Ok(())
    }

    /// The nodes alive now (a heartbeat within the lease), by id.
    pub async fn list_nodes(&self, caller: &Caller) -> Result<Vec<Node>> {
        caller.require(Scope::Read)?;
        Ok(self.store.list_nodes(self.alive_since()).await?)
    }

    /// Whether this node can read the code of `deployment` to build it: from the blob store
    /// the nodes share, or from its own copy (it took the upload).
    pub(crate) fn can_build(&self, deployment: &gust_core::Deployment) -> bool {
        self.blobs.shared_url().is_some() || self.blobs.path(&deployment.sha256).exists()
    }

    /// Queue the builds no live node holds (never claimed, or a gone node's) whose code this
    /// node can read. Each is claimed as it is queued: of the nodes looking at once, one
    /// builds it, the others drop it.
    pub(crate) async fn take_over_builds(&self) -> Result<()> {
        let builds = self
            .store
            .claimable_builds(&self.jobs.node, self.alive_since())
            .await?;
        for deployment in builds {
            if self.can_build(&deployment) {
                tracing::info!(deployment = %deployment.id, "taking over a build no node holds");
                self.builder
                    .enqueue(deployment.id.clone(), deployment.function_id.clone());
            }
        }
        Ok(())
    }

    /// Make a change of warm workers another node announced to this node's own.
    async fn apply_workers_change(&self, function_id: &str, change: WorkersChange) -> Result<()> {
        let function = match self.store.get_function_by_id(function_id).await {
            Ok(function) => function,
            Err(StoreError::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let (ns, id) = (&function.namespace_id, &function.id);
        let live = match (change.version, change.delta) {
            (None, _) => self.live.get(ns, id),
            // Detaching a version not loaded here stops nothing.
            (Some(number), 0) => self.live.get_version(ns, id, number),
            (Some(number), _) => Some(self.live.find_version(ns, id, number).await?),
        };
        let Some(live) = live else { return Ok(()) };
        let crate::live::Runner::Process(pool) = &live.runner else {
            return Ok(());
        };
        match change.delta {
            0 => {
                pool.detach().await;
            }
            delta if delta > 0 => {
                pool.scale_up(delta.unsigned_abs()).await;
            }
            delta => {
                pool.scale_down(delta.unsigned_abs());
            }
        }
        Ok(())
    }

    /// Heartbeats older than this are of nodes that are gone.
    pub(crate) fn alive_since(&self) -> DateTime<Utc> {
        alive_since(self.jobs_config.lease, gust_core::now())
    }

    /// Bring what this node holds in memory in line with a change another node made.
    async fn apply_notice(&self, notice: &Notice) -> Result<()> {
        let id = notice.id.as_deref();
        match (notice.kind.as_str(), id) {
            ("namespace", Some(id)) => {
                self.apply_change(&ChangeNotice::Namespace { id: id.into() })
                    .await
            }
            ("workers", Some(id)) => match notice.workers {
                Some(change) => self.apply_workers_change(id, change).await,
                None => Ok(()),
            },
            // Workers are changed by the `workers` notice the operation sends; nothing
            // stored changed.
            ("function", _)
                if matches!(notice.action, AuditAction::Scale | AuditAction::Detach) =>
            {
                Ok(())
            }
            ("function", Some(key)) => {
                // Some operations name the function and namespace as the client did.
                let found = match notice.namespace.as_deref() {
                    Some(ns) => match self.store.get_namespace(ns).await {
                        Ok(ns) => self.store.get_function(&ns.id, key).await.ok(),
                        Err(_) => None,
                    },
                    None => None,
                };
                let id = found.as_ref().map_or(key, |f| f.id.as_str());
                self.reload_function(id).await
            }
            ("token", _) => self.apply_change(&ChangeNotice::Tokens).await,
            ("alias", _) => self.apply_change(&ChangeNotice::Aliases).await,
            ("edge_domain", _) => self.apply_change(&ChangeNotice::EdgeDomains).await,
            ("edge_application" | "edge_instance" | "edge_rule", _) => self.load_edge().await,
            // What lives only in the store, read from there each time.
            ("execution" | "session" | "test_request" | "webhook" | "master_key", _) => Ok(()),
            // Deployments, triggers, domains, versions: everything of the namespace's
            // functions is read again.
            (_, _) => match notice.namespace.as_deref() {
                Some(ns) => self.resync_namespace(ns).await,
                None => self.resync().await,
            },
        }
    }

    /// Read every function of a namespace (an id or name) again, with its triggers, domains
    /// and versions.
    async fn resync_namespace(&self, key: &str) -> Result<()> {
        let namespace = match self.store.get_namespace(key).await {
            Ok(namespace) => namespace,
            Err(StoreError::NotFound { .. }) => return self.resync().await,
            Err(e) => return Err(e.into()),
        };
        let mut cursor = None;
        loop {
            let page = self
                .store
                .list_functions(
                    &namespace.id,
                    &gust_core::ListQuery {
                        limit: Some(gust_core::list::MAX_LIMIT),
                        cursor: cursor.take(),
                        ..gust_core::ListQuery::default()
                    },
                    &gust_store::FunctionFilter::default(),
                )
                .await?;
            for function in &page.items {
                self.reload_function(&function.id).await?;
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(()),
            }
        }
    }

    /// Read a function again, with its triggers, domains and versions.
    async fn reload_function(&self, id: &str) -> Result<()> {
        self.apply_change(&ChangeNotice::Function { id: id.into() })
            .await?;
        self.apply_change(&ChangeNotice::Domains {
            function_id: id.into(),
        })
        .await?;
        self.apply_change(&ChangeNotice::Versions {
            function_id: id.into(),
        })
        .await
    }

    /// Read everything held in memory again from the store: functions (with their namespaces'
    /// env), triggers, custom domains, tokens, aliases, edge applications and domains.
    /// Loaded versions are kept: a version does not change once made.
    pub async fn resync(&self) -> Result<()> {
        self.tokens.reload(self.store.all_tokens().await?);
        let functions = self.store.all_functions().await?;
        let stored: std::collections::HashSet<&str> =
            functions.iter().map(|f| f.id.as_str()).collect();
        for id in self.live.function_ids() {
            if !stored.contains(id.as_str()) {
                self.apply_change(&ChangeNotice::Function { id }).await?;
            }
        }
        // Each namespace read once, not once per function.
        let mut namespaces = std::collections::HashMap::new();
        for function in &functions {
            let namespace = match namespaces.entry(function.namespace_id.clone()) {
                std::collections::hash_map::Entry::Occupied(known) => known.into_mut(),
                std::collections::hash_map::Entry::Vacant(slot) => {
                    match self.store.get_namespace(&function.namespace_id).await {
                        Ok(namespace) => slot.insert(namespace),
                        // Deleted since the functions were read: so are they.
                        Err(StoreError::NotFound { .. }) => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
            };
            self.live.sync_in(namespace, function).await?;
        }
        self.live.set_all_domains(&self.store.all_domains().await?);
        self.triggers.reset(self.store.all_triggers().await?);
        self.apply_change(&ChangeNotice::Aliases).await?;
        self.load_edge().await?;
        Ok(())
    }
}
