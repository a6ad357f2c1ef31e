//! The build pipeline behind deployments: `waiting → building → ready | failed`. A queue feeds
//! one worker (compilation already uses every core); each build unpacks the package, finds the
//! component, validates and precompiles it, and writes what it did to the build log. The first
//! deployment that builds, or one uploaded with `activate=true`, becomes active.
//!
//! A build is claimed in the store as it is queued (`deployments.builder`): of the nodes sharing
//! a database, the one holding it builds it, and saves the outcome only if it still holds it.
//! A node whose heartbeat stops loses its builds to the next node that looks (`cluster.rs`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use gust_core::{Deployment, DeploymentStatus, Function, FunctionStatus, PackageFormat};
use tokio::sync::mpsc;

use crate::archive;
use crate::jobs::events::Change;
use std::sync::Arc;

use gust_runtime_process::ProcessRuntime;
use gust_runtime_wasm::WasmRuntime;
use gust_store::{BlobStore, Store};

use crate::jobs::events::EventBus;
use crate::live::LiveFunctions;
use crate::metrics::Metrics;

/// A deployment waiting for its build.
#[derive(Debug)]
pub struct BuildJob {
    pub deployment_id: String,
    pub function_id: String,
}

#[derive(Clone)]
pub struct Builder {
    /// Unbounded: jobs are two ids each, and an upload has already been stored when it is queued.
    tx: mpsc::UnboundedSender<BuildJob>,
}

impl Builder {
    pub fn channel() -> (Self, mpsc::UnboundedReceiver<BuildJob>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx }, rx)
    }

    pub fn enqueue(&self, deployment_id: String, function_id: String) {
        if self
            .tx
            .send(BuildJob {
                deployment_id,
                function_id,
            })
            .is_err()
        {
            tracing::error!("build queue closed");
        }
    }
}

/// The logs of builds in progress, by deployment id, as they are written: what followers of a
/// build read until its final log is in the store. A watch per build holds the text so far;
/// a follower reads what it has not seen yet.
#[derive(Default)]
pub struct BuildLogs {
    running:
        std::sync::Mutex<std::collections::HashMap<String, tokio::sync::watch::Sender<String>>>,
}

impl BuildLogs {
    fn start(&self, deployment_id: &str) -> tokio::sync::watch::Sender<String> {
        let (tx, _) = tokio::sync::watch::channel(String::new());
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(deployment_id.to_string(), tx.clone());
        tx
    }

    fn finish(&self, deployment_id: &str) {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(deployment_id);
    }

    /// The log so far of the build of `deployment_id`, while it runs.
    pub fn watch(&self, deployment_id: &str) -> Option<tokio::sync::watch::Receiver<String>> {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(deployment_id)
            .map(|tx| tx.subscribe())
    }
}

/// What builds read and write: the handles the build worker owns.
pub struct BuildContext {
    pub store: Arc<dyn Store>,
    pub blobs: BlobStore,
    pub wasm: WasmRuntime,
    /// The reason when this host cannot run process functions.
    pub process: Result<ProcessRuntime, String>,
    pub live: Arc<LiveFunctions>,
    pub events: EventBus,
    pub metrics: Arc<Metrics>,
    /// Where deployments are unpacked (`DATA_DIR`).
    pub data_dir: PathBuf,
    /// Largest total size an archive may unpack to.
    pub max_unpacked_bytes: u64,
    /// Logs of builds in progress, for followers.
    pub build_logs: Arc<BuildLogs>,
    /// Tells the other nodes sharing the store that a build changed its function.
    pub announcer: crate::cluster::Announcer,
    /// This node, which holds the builds it claims.
    pub node: Arc<str>,
    /// A node whose heartbeat is older than this is gone, and its builds anyone's.
    pub lease: std::time::Duration,
}

impl BuildContext {
    /// Hold the build of `deployment_id` for this node: false when another live node holds
    /// it, or it is no longer unfinished.
    async fn claim(&self, deployment_id: &str) -> gust_store::StoreResult<bool> {
        let alive_since = crate::cluster::alive_since(self.lease, gust_core::now());
        self.store
            .claim_build(deployment_id, &self.node, alive_since)
            .await
    }
}

/// How often, and how many times, a claim the store failed to answer is tried again.
const CLAIM_RETRY: std::time::Duration = std::time::Duration::from_secs(2);
const CLAIM_TRIES: u32 = 30;

/// Start the build worker. One: a Wasm build's compilation already uses every core, and
/// builds of one function must finish in the order they were queued (the first that builds
/// becomes active). Each job is claimed as it arrives, not when its turn comes, so that a
/// build waiting behind others is not taken by another node meanwhile; a deployment already
/// waiting here is not queued twice.
pub fn spawn_worker(context: BuildContext, mut rx: mpsc::UnboundedReceiver<BuildJob>) {
    let context = Arc::new(context);
    let pending: Arc<std::sync::Mutex<std::collections::HashSet<String>>> = Arc::default();
    let (claimed_tx, mut claimed) = mpsc::unbounded_channel::<BuildJob>();
    let claimer = context.clone();
    let queued = pending.clone();
    tokio::spawn(async move {
        while let Some(job) = rx.recv().await {
            if !queued
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(job.deployment_id.clone())
            {
                continue;
            }
            let mut tries = 0;
            let held = loop {
                match claimer.claim(&job.deployment_id).await {
                    Ok(held) => break held,
                    Err(e) if tries < CLAIM_TRIES => {
                        tries += 1;
                        tracing::warn!(deployment = %job.deployment_id, error = %e, "claiming a build failed; trying again");
                        tokio::time::sleep(CLAIM_RETRY).await;
                    }
                    Err(e) => {
                        tracing::error!(deployment = %job.deployment_id, error = %e, "claiming a build failed; leaving it");
                        break false;
                    }
                }
            };
            if held {
                let _ = claimed_tx.send(job);
            } else {
                tracing::debug!(deployment = %job.deployment_id, "build held elsewhere or finished");
                queued
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&job.deployment_id);
            }
        }
    });
    tokio::spawn(async move {
        while let Some(job) = claimed.recv().await {
            if let Err(e) = build(&context, &job).await {
                tracing::error!(deployment = %job.deployment_id, error = %format!("{e:#}"), "build bookkeeping failed");
            }
            pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&job.deployment_id);
        }
    });
}

async fn build(context: &BuildContext, job: &BuildJob) -> anyhow::Result<()> {
    let Ok(mut deployment) = context
        .store
        .get_deployment(&job.function_id, &job.deployment_id)
        .await
    else {
        return Ok(()); // deleted while queued
    };
    if deployment.status == DeploymentStatus::Uploading {
        // Only a complete upload is queued; never build part of one.
        return Ok(());
    }
    let function = context.store.get_function_by_id(&job.function_id).await?;
    deployment.status = DeploymentStatus::Building;
    deployment.build_log.clear();
    deployment.error_message = None;
    deployment.updated_at = gust_core::now();
    context.store.update_deployment(&deployment).await?;
    if function.active_deployment.is_none() {
        let mut f = function.clone();
        f.status = FunctionStatus::Building;
        context.store.update_function_state(&f).await?;
    }

    let started = Instant::now();
    let mut log = BuildLog {
        text: String::new(),
        live: Some(context.build_logs.start(&deployment.id)),
    };
    // However the build ends, its live log goes once this returns: by then the final log is
    // in the store (or the build's bookkeeping failed), where followers read it.
    let _live = LiveUntilDone(&context.build_logs, deployment.id.clone());
    let result = run(context, &function, &mut deployment, &mut log).await;
    let elapsed = started.elapsed();
    context
        .metrics
        .observe_build(function.runtime.as_str(), result.is_ok(), elapsed);
    deployment.build_duration_ms = Some(elapsed.as_millis() as u64);
    deployment.updated_at = gust_core::now();
    match &result {
        Ok(()) => {
            log.line(format!("build succeeded in {} ms", elapsed.as_millis()));
            deployment.status = DeploymentStatus::Ready;
        }
        Err(message) => {
            log.line(format!("build failed: {message}"));
            deployment.status = DeploymentStatus::Failed;
            deployment.error_message = Some(message.clone());
        }
    }
    deployment.build_log = log.text;

    // A node taken for gone while it built (its heartbeat late by a lease) may have lost the
    // build to another, which builds it again: only the holder's outcome is saved.
    if !context.claim(&deployment.id).await? {
        tracing::warn!(deployment = %deployment.id, "another node took this build over; its outcome here is dropped");
        return Ok(());
    }

    // Re-read: the function may have changed while it built.
    let Ok(mut function) = context.store.get_function_by_id(&job.function_id).await else {
        return Ok(());
    };
    function.updated_at = gust_core::now();
    match result {
        Ok(()) => {
            function.build_message = Some(format!(
                "deployment {} built in {} ms",
                deployment.id,
                elapsed.as_millis()
            ));
            let is_active = function.active_deployment.as_deref() == Some(deployment.id.as_str());
            if is_active {
                // A rebuild of the active deployment: serve the fresh artifact.
                context.live.forget_deployment(&deployment.id);
            }
            if is_active || function.active_deployment.is_none() || deployment.activate_when_ready {
                if let Err(e) = activate(
                    &*context.store,
                    &context.live,
                    &mut function,
                    &mut deployment,
                    true,
                )
                .await
                {
                    deployment.status = DeploymentStatus::Failed;
                    deployment.error_message = Some(format!(
                        "the built component could not be loaded: {}",
                        e.message
                    ));
                    context.store.update_deployment(&deployment).await?;
                }
            } else {
                context.store.update_deployment(&deployment).await?;
                context.store.update_function_state(&function).await?;
            }
        }
        Err(message) => {
            context.store.update_deployment(&deployment).await?;
            function.build_message = Some(format!("deployment {} failed to build", deployment.id));
            if function.active_deployment.is_none() {
                function.status = FunctionStatus::Error;
                function.error_message = Some(message);
            }
            context.store.update_function_state(&function).await?;
        }
    }
    emit(
        &context.events,
        &function.namespace_id,
        &deployment,
        Change::Update,
    );
    context.announcer.announce(
        "function",
        gust_core::AuditAction::Update,
        Some(function.id.clone()),
        Some(function.namespace_id.clone()),
    );
    Ok(())
}

/// `functions.{fn}.deployments.{id}.{change}`, with the deployment as it is now.
pub fn emit(events: &EventBus, namespace_id: &str, deployment: &Deployment, change: Change) {
    events.deployment(namespace_id, deployment, change);
}

/// Make `deployment_id` the function's active deployment and serve it from now on.
/// `save_deployment`: also write `deployment` (a build that just finished) in the same transaction.
pub async fn activate(
    store: &dyn Store,
    live: &LiveFunctions,
    function: &mut Function,
    deployment: &mut Deployment,
    save_deployment: bool,
) -> Result<(), crate::error::Error> {
    // Load the code first: if that fails nothing has changed and the previous deployment serves on.
    // Held until the function holds it too, so it stays loaded for the first request.
    let _component = if function.runtime.is_process() {
        None
    } else {
        Some(live.preload(deployment).await?)
    };
    function.active_deployment = Some(deployment.id.clone());
    function.status = FunctionStatus::Ready;
    function.error_message = None;
    function.ready_at.get_or_insert_with(gust_core::now);
    function.updated_at = gust_core::now();
    deployment.active = true;
    // Serve it before the store says it is active, so a client that sees it ready can call it.
    live.sync(function).await?;
    let saved = store
        .activate_deployment(
            function,
            &deployment.id,
            save_deployment.then_some(&*deployment),
        )
        .await;
    if let Err(e) = saved {
        // The store kept the old state; so must the live set.
        if let Ok(current) = store.get_function_by_id(&function.id).await {
            let _ = live.sync(&current).await;
        }
        return Err(e.into());
    }
    Ok(())
}

struct LiveUntilDone<'a>(&'a BuildLogs, String);

impl Drop for LiveUntilDone<'_> {
    fn drop(&mut self) {
        self.0.finish(&self.1);
    }
}

/// What a build writes: kept whole for the store, and passed on as it comes to whoever
/// follows the build.
struct BuildLog {
    text: String,
    live: Option<tokio::sync::watch::Sender<String>>,
}

impl BuildLog {
    fn push(&mut self, text: &str) {
        self.text.push_str(text);
        if let Some(live) = &self.live {
            live.send_modify(|so_far| so_far.push_str(text));
        }
    }

    fn line(&mut self, line: impl AsRef<str>) {
        self.push(line.as_ref());
        self.push("\n");
    }
}

async fn run(
    context: &BuildContext,
    function: &Function,
    deployment: &mut Deployment,
    log: &mut BuildLog,
) -> Result<(), String> {
    log.line(format!(
        "building deployment {} of {} ({} bytes, sha256 {}) on node {}",
        deployment.id,
        deployment.format_name(),
        deployment.size,
        deployment.sha256,
        context.node
    ));
    if function.runtime.is_process() {
        return build_process(context, function, deployment, log).await;
    }
    let wasm_sha = match deployment.format {
        PackageFormat::Wasm => deployment.sha256.clone(),
        PackageFormat::TarGz | PackageFormat::Zip => {
            let dir = crate::live::code_dir(&context.data_dir, &deployment.id);
            let unpacked = unpack(context, deployment, &dir, log).await?;
            let entry = find_entrypoint(&dir, deployment.entrypoint.as_deref(), &unpacked.files)?;
            log.line(format!("component: {}", entry.display()));
            deployment.entrypoint = Some(entry.display().to_string());
            let bytes = tokio::fs::read(dir.join(&entry))
                .await
                .map_err(|e| format!("reading {}: {e}", entry.display()))?;
            context
                .blobs
                .put(&bytes)
                .await
                .map_err(|e| format!("storing the component: {e}"))?
        }
    };
    let runtime = context.wasm.clone();
    let path = context
        .blobs
        .local(&wasm_sha)
        .await
        .map_err(|e| format!("reading the component: {e}"))?;
    let sha = wasm_sha.clone();
    let compiled = tokio::task::spawn_blocking(move || {
        // Code deployed before (to this function or another) was compiled then: its artifact
        // serves, and nothing is compiled again (the load at activation checks it still fits
        // this engine, and compiles it if not).
        if runtime.has_artifact(&sha) {
            return Ok("reusing the compiled artifact of the same code".to_string());
        }
        let bytes = std::fs::read(&path).map_err(|e| format!("reading the component: {e}"))?;
        runtime.precompile(&bytes, &sha).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| format!("compilation crashed: {e}"))??;
    log.line(compiled);
    deployment.wasm_sha256 = Some(wasm_sha);
    Ok(())
}

/// Unpack an archive deployment into `dir` (emptied first), safely (see `archive`).
async fn unpack(
    context: &BuildContext,
    deployment: &Deployment,
    dir: &Path,
    log: &mut BuildLog,
) -> Result<archive::Unpacked, String> {
    let _ = tokio::fs::remove_dir_all(dir).await;
    let archive_path = context
        .blobs
        .local(&deployment.sha256)
        .await
        .map_err(|e| format!("reading the upload: {e}"))?;
    let format = deployment.format;
    let max = context.max_unpacked_bytes;
    let unpack_dir = dir.to_path_buf();
    let unpacked = tokio::task::spawn_blocking(move || {
        archive::unpack(format, &archive_path, &unpack_dir, max)
    })
    .await
    .map_err(|e| format!("unpacking crashed: {e}"))?
    .map_err(|e| e.to_string())?;
    log.line(format!(
        "unpacked {} files, {} bytes",
        unpacked.files.len(),
        unpacked.bytes
    ));
    Ok(unpacked)
}

/// A python, node or custom deployment: unpack the folder, install its dependencies and
/// check that the handler loads, all in a sandbox (see `gust-runtime-process`).
async fn build_process(
    context: &BuildContext,
    function: &Function,
    deployment: &mut Deployment,
    log: &mut BuildLog,
) -> Result<(), String> {
    let runtime = context.process.as_ref().map_err(|reason| {
        format!(
            "the {} runtime is not available: {reason}",
            function.runtime
        )
    })?;
    if deployment.format == PackageFormat::Wasm {
        return Err(format!(
            "a {} function's code is a folder (uploaded as .tar.gz or .zip) holding its handler \
             module, not a .wasm file",
            function.runtime
        ));
    }
    let dir = crate::live::code_dir(&context.data_dir, &deployment.id);
    unpack(context, deployment, &dir, log).await?;
    let handler = function
        .handler
        .clone()
        .unwrap_or_else(|| "main.handle".into());
    let mut env = function.env.clone();
    crate::contract::add_env(&mut env, function, &function.namespace, &deployment.id);
    let spec = gust_runtime_process::BuildSpec {
        runtime: function.runtime,
        code_dir: dir,
        handler: handler.clone(),
        contract: function.contract,
        entrypoint: deployment.entrypoint.clone(),
        env: env.into_iter().collect(),
    };
    let report = runtime
        .build(&spec, &mut |line: &str| log.push(line))
        .await
        .map_err(|e| e.to_string())?;
    // The file an `appwrite` build loaded (the default filled in), else the handler.
    deployment.entrypoint = Some(report.entrypoint.unwrap_or(handler));
    log.line(format!("handler loads ({} µs to import)", report.import_us));
    // Other nodes run what this build made, not the upload: with a shared blob store the
    // built folder goes there too (a single node has it in place and packs nothing).
    if context.blobs.shared_url().is_some() && !report.steps.is_empty() {
        let built = share_built_code(context, &deployment.id).await?;
        log.line(format!("built code shared as blob {built}"));
        deployment.built_sha256 = Some(built);
    }
    Ok(())
}

/// Pack a built code folder into a blob; its sha256.
async fn share_built_code(context: &BuildContext, deployment_id: &str) -> Result<String, String> {
    let dir = crate::live::code_dir(&context.data_dir, deployment_id);
    let packed = context
        .data_dir
        .join("deployments")
        .join(format!("{deployment_id}.built.tar.gz"));
    let out = packed.clone();
    tokio::task::spawn_blocking(move || archive::pack(&dir, &out))
        .await
        .map_err(|e| format!("packing crashed: {e}"))?
        .map_err(|e| format!("packing the built code: {e}"))?;
    let stored = context.blobs.put_file(&packed).await;
    let _ = tokio::fs::remove_file(&packed).await;
    Ok(stored
        .map_err(|e| format!("storing the built code: {e}"))?
        .sha256)
}

/// The `.wasm` to run: the one named by `entrypoint`, or the only one in the package.
fn find_entrypoint(
    dir: &Path,
    entrypoint: Option<&str>,
    files: &[PathBuf],
) -> Result<PathBuf, String> {
    if let Some(name) = entrypoint {
        let wanted = PathBuf::from(name.trim_start_matches("./"));
        if files.contains(&wanted) && dir.join(&wanted).is_file() {
            return Ok(wanted);
        }
        return Err(format!(
            "the entrypoint `{name}` is not a file in the package"
        ));
    }
    let wasm: Vec<&PathBuf> = files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "wasm"))
        .collect();
    match wasm.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(
            "the package holds no .wasm file; a wasm function needs a wasi:http component".into(),
        ),
        many => Err(format!(
            "the package holds {} .wasm files; name the one to run with `entrypoint`",
            many.len()
        )),
    }
}
