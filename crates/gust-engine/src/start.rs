//! Server configuration and the state every handler shares, and the start-up sequence that
//! builds it: open the store, create the `default` namespace and the admin token on first start,
//! load every active function, resume unfinished builds.

use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use gust_core::{Namespace, NamespaceSpec, Scope, Token};
use gust_runtime_process::{ProcessConfig, ProcessRuntime};
use gust_runtime_wasm::{WasmConfig, WasmRuntime};
use gust_store::{BlobStore, BlobUrl, PgStore, SqliteStore, Store, StoreError};

use crate::audit::AuditLog;
use crate::auth::{self, FailureLimits, TokenCache};
use crate::builder::{BuildContext, Builder};
use crate::invoke::Gateway;
use crate::jobs::events::{Change, EventBus};
use crate::jobs::queue::Queue;
use crate::jobs::triggers::TriggerSet;
use crate::jobs::{self, Jobs, JobsConfig};
use crate::live::{LiveFunctions, Loaders};
use crate::logs::LiveLogs;
use crate::metrics::Metrics;
use crate::minutes::Minutes;
use crate::recorder::Recorder;
use crate::signing::UrlSigner;
use crate::uploads::Uploads;

/// The base of generated domain names when none is configured: `*.localhost` resolves to
/// loopback, so the names work on one machine with no DNS set up.
pub const DEFAULT_FUNCTIONS_DOMAIN: &str = "functions.localhost";

/// Settings of one server. Defaults suit one machine; each has a flag or `GUST_*` variable.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub data_dir: PathBuf,
    /// Largest deployment upload (`--max-upload-mb`, `GUST_MAX_UPLOAD_MB`; default 100 MiB).
    pub max_upload_bytes: u64,
    /// Largest total size an archive may unpack to (`GUST_MAX_UNPACKED_MB`; default 1 GiB):
    /// guards against archive bombs.
    pub max_unpacked_bytes: u64,
    /// Largest request body an invocation accepts (`GUST_MAX_REQUEST_MB`; default 16 MiB).
    pub max_request_bytes: usize,
    /// Bytes of stdout and of stderr kept per execution (`GUST_LOG_LIMIT_KB`; default 64 KiB).
    pub log_limit: usize,
    /// Base URL shown in function `url`s; defaults to `http://<listen address>`.
    pub public_url: Option<String>,
    /// Connections in the database pool (`GUST_SQLITE_CONNECTIONS`; default 4).
    pub sqlite_connections: u32,
    /// The PostgreSQL database the state lives in (`--database-url`, `GUST_DATABASE_URL`);
    /// SQLite in the data dir when unset. Artifacts and unpacked code stay in the data dir
    /// either way; uploads too unless `blob_url` shares them.
    pub database_url: Option<String>,
    /// Where blobs are shared between nodes (`--blob-url`, `GUST_BLOB_URL`): the data dir's
    /// `blobs/` is then this node's cache of it. The data dir alone when unset.
    pub blob_url: Option<BlobUrl>,
    /// Connections in the PostgreSQL pool (`GUST_DATABASE_CONNECTIONS`; default 8).
    pub database_connections: u32,
    /// Base of every function's generated domain name, `<function>.<namespace>.<this>`
    /// (`--functions-domain`, `GUST_FUNCTIONS_DOMAIN`; default `functions.localhost`, which
    /// resolves to loopback). Lower case.
    pub functions_domain: String,
    /// How long a signed upload or download URL stays valid (`GUST_SIGNED_URL_SECS`; 1 h).
    pub signed_url_ttl: std::time::Duration,
    /// The file of master keys that seal secrets (`--master-key-file`,
    /// `GUST_MASTER_KEY_FILE`); `DATA_DIR/master.key`, made at first start, when unset.
    pub master_key_file: Option<PathBuf>,
    /// This server's id among those sharing the database (`--node-id`, `GUST_NODE_ID`); made
    /// at first start and kept in `DATA_DIR/node-id` when unset.
    pub node_id: Option<String>,
    /// How often tokens' last uses are written to the store (and at shutdown).
    pub token_use_flush: std::time::Duration,
    /// How often per-minute metrics are written to the store (and at shutdown)
    /// (`GUST_METRICS_FLUSH_SECS`; 1 min).
    pub metrics_flush: std::time::Duration,
    /// How many failed authentications an address may make before it is slowed.
    pub auth_failures: FailureLimits,
    pub wasm: WasmConfig,
    pub process: ProcessConfig,
    pub jobs: JobsConfig,
}

impl ServerConfig {
    /// The defaults, with state under `data_dir`.
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            max_upload_bytes: 100 * 1024 * 1024,
            max_unpacked_bytes: 1024 * 1024 * 1024,
            max_request_bytes: 16 * 1024 * 1024,
            log_limit: 64 * 1024,
            public_url: None,
            sqlite_connections: SqliteStore::DEFAULT_CONNECTIONS,
            database_url: None,
            blob_url: None,
            database_connections: PgStore::DEFAULT_CONNECTIONS,
            functions_domain: DEFAULT_FUNCTIONS_DOMAIN.into(),
            signed_url_ttl: std::time::Duration::from_secs(60 * 60),
            master_key_file: None,
            node_id: None,
            token_use_flush: std::time::Duration::from_secs(60),
            metrics_flush: std::time::Duration::from_secs(60),
            auth_failures: FailureLimits::default(),
            wasm: WasmConfig::new(data_dir.join("artifacts")),
            process: ProcessConfig::new(&data_dir),
            jobs: JobsConfig::default(),
            data_dir,
        }
    }
}

/// The platform: its parts, each behind a narrow handle, wired together once in [`Engine::start`].
pub struct Engine {
    pub config: ServerConfig,
    pub store: Arc<dyn Store>,
    pub blobs: BlobStore,
    pub wasm: WasmRuntime,
    /// Python, node and custom functions' workers and sandboxes; the reason when this host
    /// cannot run them.
    pub process: Result<ProcessRuntime, String>,
    /// Token hashes in memory, so auth costs no query.
    pub tokens: Arc<TokenCache>,
    /// Functions ready to invoke, by route.
    pub live: Arc<LiveFunctions>,
    /// Queue of deployments to build.
    pub builder: Builder,
    /// Chunked uploads in progress: their staged bytes and a lock per upload.
    pub uploads: Arc<Uploads>,
    /// Signs and checks the tokens of signed upload and download URLs.
    pub signer: UrlSigner,
    /// Execution records on their way to the store, batched off the request path.
    pub recorder: Recorder,
    /// Async executions waiting to run, and the dispatcher that runs them.
    pub queue: Queue,
    /// Cron and event triggers, in memory.
    pub triggers: Arc<TriggerSet>,
    /// Platform and custom events on their way to event triggers.
    pub events: EventBus,
    pub jobs_config: JobsConfig,
    /// The same handles, as background work and async submits use them.
    pub jobs: Jobs,
    /// The same handles again, as the invocation path uses them.
    pub gateway: Gateway,
    /// Output of running executions and followers of finished ones.
    pub logs: Arc<LiveLogs>,
    /// Logs of builds in progress, for followers of a build.
    pub build_logs: Arc<crate::builder::BuildLogs>,
    pub metrics: Arc<Metrics>,
    /// Per-minute aggregates of each function's executions, for charts.
    pub minutes: Arc<Minutes>,
    /// Base of function URLs, set once the listener is bound.
    pub public_url: std::sync::OnceLock<String>,
    /// The listener's port, for the URLs of custom domains.
    pub listen_port: std::sync::OnceLock<u16>,
    /// Changes on their way to the audit log.
    pub audit: AuditLog,
    /// The file the master keys are in (rotations rewrite it).
    pub key_file: PathBuf,
    /// One key rotation at a time.
    pub(crate) rotation: tokio::sync::Mutex<()>,
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// Tells the other nodes sharing the store what changed.
    pub(crate) announcer: crate::cluster::Announcer,
}

pub type Shared = Arc<Engine>;

/// What the first start prints once.
pub struct Bootstrap {
    pub state: Shared,
    /// The admin token, when this start created it.
    pub new_admin_token: Option<String>,
}

impl Engine {
    /// Open or create the data dir and bring the server's state up.
    pub async fn start(config: ServerConfig) -> anyhow::Result<Bootstrap> {
        let data_dir = &config.data_dir;
        // Owner only: the database holds every request and log, and the keys sit beside it.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)
            .with_context(|| format!("creating data dir {}", data_dir.display()))?;
        let node: Arc<str> = crate::cluster::node_id(data_dir, config.node_id.as_deref())
            .context("choosing this node's id")?
            .into();
        let (key_file, keyring) =
            crate::keys::load_or_create(data_dir, config.master_key_file.as_deref())?;
        let opened = match &config.database_url {
            Some(url) => PgStore::connect(url, config.database_connections, keyring).await,
            None => {
                SqliteStore::open_with_keyring(
                    &data_dir.join("gust.db"),
                    config.sqlite_connections,
                    keyring,
                )
                .await
            }
        };
        let store = match opened {
            Ok(store) => store,
            Err(e) => {
                if key_file.created {
                    let _ = std::fs::remove_file(&key_file.path);
                }
                return Err(match e {
                    StoreError::Keys(_) if key_file.created => anyhow::anyhow!(
                        "{} is missing, and this data dir's secrets are sealed with a master \
                         key: restore the file, or pass the one they were sealed with as \
                         --master-key-file (GUST_MASTER_KEY_FILE)",
                        key_file.path.display()
                    ),
                    StoreError::Keys(message) => anyhow::anyhow!(
                        "the master key file {} cannot open this data dir's secrets: {message}. \
                         Start with the file the secrets were sealed with (--master-key-file or \
                         GUST_MASTER_KEY_FILE, or DATA_DIR/master.key)",
                        key_file.path.display()
                    ),
                    other => anyhow::Error::from(other).context(match &config.database_url {
                        Some(url) => format!("opening the database {}", PgStore::redacted(url)),
                        None => format!("opening the database in {}", data_dir.display()),
                    }),
                });
            }
        };
        if store.keyring().ids().len() > 1 {
            tracing::info!("finishing an interrupted master key rotation");
            let rotation = crate::keys::finish_rotation(&store, &key_file.path)
                .await
                .context("finishing an interrupted master key rotation")?;
            tracing::info!(key = rotation.key_id, retired = ?rotation.retired, "master key rotation finished");
        }
        let store: Arc<dyn Store> = Arc::new(store);
        let blobs = match &config.blob_url {
            None => BlobStore::open(data_dir.join("blobs")).context("opening the blob store")?,
            Some(url) => BlobStore::open_shared(data_dir.join("blobs"), url)
                .await
                .with_context(|| format!("opening the blob store {url} (--blob-url)"))?,
        };
        let uploads = Arc::new(
            Uploads::open(data_dir.join("uploads")).context("creating the uploads folder")?,
        );
        let signer = UrlSigner::open(data_dir).context("opening the URL signing key")?;
        let wasm =
            WasmRuntime::new(config.wasm.clone()).context("starting the WebAssembly runtime")?;
        if !wasm.pooling() {
            tracing::warn!(
                "WebAssembly instances use on-demand allocation (pooling refused by this host)"
            );
        }

        let process = start_process_runtime(config.process.clone()).await;
        let new_admin_token = bootstrap(&*store, data_dir).await?;
        let tokens = Arc::new(TokenCache::load_with_limits(
            store.all_tokens().await?,
            config.auth_failures,
        ));
        let audit = AuditLog::start(store.clone());
        let metrics = Arc::new(Metrics::default());
        metrics.count_wasm_components(wasm.components_loaded());
        let minutes = Arc::new(Minutes::default());
        let logs = Arc::new(LiveLogs::default());
        let triggers = Arc::new(TriggerSet::default());
        let (events, event_rx) = EventBus::channel(triggers.clone());
        let (pressure, pressure_rx) = jobs::retention::Pressure::channel();
        // What the database may take of the data dir's ceiling, kept by the retention job.
        let database_budget = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let mut execution_writer = store
            .execution_writer(Some(&node))
            .context("opening the execution writer")?;
        if config.jobs.max_data_bytes.is_some() {
            execution_writer.limit_size(database_budget.clone());
        }
        let recorder = Recorder::start(
            execution_writer,
            metrics.clone(),
            record_observer(
                metrics.clone(),
                minutes.clone(),
                logs.clone(),
                events.clone(),
                pressure,
            ),
        )
        .context("starting the execution writer")?;
        let (queue, queue_rx) = Queue::channel();
        let (builder, build_queue) = Builder::channel();
        let jobs_config = config.jobs.clone();
        let live = Arc::new(LiveFunctions::new(
            Loaders {
                store: store.clone(),
                blobs: blobs.clone(),
                wasm: wasm.clone(),
                process: process.clone(),
                metrics: metrics.clone(),
                data_dir: config.data_dir.clone(),
                log_limit: config.log_limit,
            },
            &config.functions_domain,
        ));
        let jobs = Jobs {
            store: store.clone(),
            live: live.clone(),
            triggers: triggers.clone(),
            recorder: recorder.clone(),
            queue: queue.clone(),
            events: events.clone(),
            logs: logs.clone(),
            config: jobs_config.clone(),
            node: node.clone(),
        };
        let announcer = crate::cluster::Announcer::new(store.clone(), node.clone());
        let gateway = Gateway {
            live: live.clone(),
            recorder: recorder.clone(),
            tokens: tokens.clone(),
            max_request_bytes: config.max_request_bytes,
        };
        let state = Arc::new(Engine {
            config,
            store,
            blobs,
            wasm,
            process,
            tokens,
            live,
            builder,
            uploads,
            signer,
            recorder,
            queue,
            triggers,
            events,
            jobs_config,
            gateway,
            jobs,
            logs,
            build_logs: Arc::default(),
            metrics,
            minutes,
            public_url: std::sync::OnceLock::new(),
            listen_port: std::sync::OnceLock::new(),
            audit,
            key_file: key_file.path,
            rotation: tokio::sync::Mutex::new(()),
            started_at: gust_core::now(),
            announcer: announcer.clone(),
        });
        if let Some(url) = &state.config.public_url {
            let _ = state.public_url.set(url.trim_end_matches('/').to_string());
        }
        crate::builder::spawn_worker(
            BuildContext {
                store: state.store.clone(),
                blobs: state.blobs.clone(),
                wasm: state.wasm.clone(),
                process: state.process.clone(),
                live: state.live.clone(),
                events: state.events.clone(),
                metrics: state.metrics.clone(),
                data_dir: state.config.data_dir.clone(),
                max_unpacked_bytes: state.config.max_unpacked_bytes,
                build_logs: state.build_logs.clone(),
                announcer,
                node: state.jobs.node.clone(),
                lease: state.jobs_config.lease,
            },
            build_queue,
        );
        state
            .live
            .load_all()
            .await
            .context("loading active functions")?;
        state.live.load_domains(&state.store.all_domains().await?);
        state
            .load_edge()
            .await
            .context("loading edge applications")?;
        // Versions load on their first use; aliases are resolved from memory, so all of them.
        state
            .live
            .load_aliases(&state.store.all_aliases().await?)
            .await;
        // Claimed as they are queued: those another live node holds are left to it. Sharing
        // the store, one whose code this node cannot read is left to a node that can (alone,
        // it builds and fails, saying why).
        for deployment in state.store.unfinished_deployments().await? {
            if !state.store.shared() || state.can_build(&deployment) {
                tracing::info!(deployment = %deployment.id, "resuming an unfinished build");
                state
                    .builder
                    .enqueue(deployment.id.clone(), deployment.function_id.clone());
            }
        }
        // Background work starts once every function that can run is loaded; the heartbeat
        // first, so this node holds what it claims.
        crate::cluster::start(&state).await;
        state.triggers.load(state.store.all_triggers().await?);
        jobs::queue::start(state.jobs.clone(), queue_rx)
            .await
            .context("starting the async execution queue")?;
        jobs::events::spawn_router(state.jobs.clone(), event_rx);
        jobs::scheduler::spawn(state.jobs.clone());
        jobs::retention::spawn(
            state.jobs.clone(),
            state.uploads.clone(),
            pressure_rx,
            jobs::retention::Disk {
                data_dir: state.config.data_dir.clone(),
                ceiling: state.config.jobs.max_data_bytes,
                database_budget,
                metrics: state.metrics.clone(),
            },
        );
        spawn_token_use_writer(state.clone());
        state.minutes.spawn(
            state.store.clone(),
            state.live.clone(),
            state.config.metrics_flush,
        );
        Ok(Bootstrap {
            state,
            new_admin_token,
        })
    }

    /// Base URL for function links.
    pub fn base_url(&self) -> &str {
        self.public_url.get().map(String::as_str).unwrap_or("")
    }
}

/// Write tokens' last uses every `token_use_flush`: a store write per interval, not per
/// request. Shutdown writes the rest ([`Engine::stop`]).
fn spawn_token_use_writer(engine: Shared) {
    let every = engine.config.token_use_flush;
    let engine = Arc::downgrade(&engine);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let Some(engine) = engine.upgrade() else {
                return;
            };
            engine.write_token_uses().await;
        }
    });
}

/// Start the process runtimes, saying once what the sandbox lacks on this host. A host that
/// cannot make sandboxes at all still serves Wasm functions.
async fn start_process_runtime(config: ProcessConfig) -> Result<ProcessRuntime, String> {
    match ProcessRuntime::start(config).await {
        Ok(runtime) => {
            for warning in runtime.sandbox_support().warnings() {
                tracing::warn!("sandbox: {warning}");
            }
            Ok(runtime)
        }
        Err(e) => {
            let reason = e.to_string();
            tracing::warn!(
                "process runtimes (python3.11, node20, custom) are unavailable: {reason}; \
                 `gust doctor` shows what this host supports"
            );
            Err(reason)
        }
    }
}

/// What happens to each committed batch of records: metrics and per-minute aggregates count
/// it, followers of the functions see it, and finished synchronous executions become events
/// (async ones emit theirs when they end for good; see `jobs::queue`).
fn record_observer(
    metrics: Arc<Metrics>,
    minutes: Arc<Minutes>,
    logs: Arc<LiveLogs>,
    events: EventBus,
    pressure: jobs::retention::Pressure,
) -> crate::recorder::Observer {
    Box::new(move |batch| {
        metrics.observe_executions(batch);
        minutes.observe(batch);
        pressure.recorded(batch);
        logs.publish(batch);
        for execution in batch.iter().filter(|e| !e.is_async) {
            events.execution(execution, Change::Create);
        }
    })
}

/// On first start: the `default` namespace, and an admin token written to `DATA_DIR/admin-token`
/// (mode 0600). Returns the token when it was created now.
async fn bootstrap(
    store: &dyn Store,
    data_dir: &std::path::Path,
) -> anyhow::Result<Option<String>> {
    if store
        .get_namespace(gust_core::DEFAULT_NAMESPACE)
        .await
        .is_err()
    {
        let ns: Namespace = NamespaceSpec {
            name: Some(gust_core::DEFAULT_NAMESPACE.into()),
            description: Some("Created at first start".into()),
            ..Default::default()
        }
        .into_new_namespace()?;
        store
            .create_namespace(&ns)
            .await
            .context("creating the default namespace")?;
    }
    let token_file = data_dir.join("admin-token");
    if store.all_tokens().await?.is_empty() {
        let secret = auth::new_secret();
        let token = Token {
            id: gust_core::new_id(),
            description: "admin token created at first start".into(),
            scopes: vec![Scope::Admin],
            namespace_id: None,
            function_id: None,
            expires_at: None,
            created_at: gust_core::now(),
            last_used_at: None,
            token: None,
        };
        write_private(&token_file, &format!("{secret}\n"))?;
        store
            .create_token(&token, &auth::hash_secret(&secret))
            .await
            .context("storing the admin token")?;
        return Ok(Some(secret));
    }
    Ok(None)
}

/// Write a file only its owner can read, created with that mode (never briefly world-readable).
fn write_private(path: &std::path::Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(contents.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Like [`write_private`], but only when there is no such file yet (`AlreadyExists` otherwise),
/// and synced: a key two starts raced to make, or a crash half wrote, would change under URLs
/// already signed with it.
pub(crate) fn write_private_new(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}
