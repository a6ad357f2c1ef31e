//! Prunes what is kept past its time, off the request path:
//! - finished executions past each function's retention (`retention.max_count` newest kept,
//!   none older than `retention.max_age_s`), as they come: a function is pruned each time it
//!   has recorded [`PRUNE_EVERY`] more (by the execution writer, between its batches), so a
//!   busy one never holds much more than its retention; and every `GUST_RETENTION_INTERVAL_SECS` for all of them (the age limit).
//!   Queued and running ones are never pruned.
//! - past the data dir's size ceiling (`GUST_MAX_DATA_MB`), the oldest finished executions of
//!   any function. The execution writer keeps the database within its share of the ceiling
//!   as it writes (in each batch's transaction); a check every second measures the data dir,
//!   sets that share, and prunes what other writes added. The pages deleted rows held are
//!   reused by new ones, so the database file stops growing.
//! - per-minute aggregates older than 8 days (`gust_core::metrics::RETENTION`), on the same
//!   timer.
//! - chunked uploads untouched for `GUST_UPLOAD_EXPIRY_SECS` (a client that gave up), with
//!   their staged bytes, and staged files no upload owns any more.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};
use gust_core::{DeploymentStatus, Execution};
use gust_store::Store;
use tokio::sync::mpsc;

use crate::jobs::Jobs;
use crate::jobs::events::{Change, EventBus};
use crate::metrics::Metrics;
use crate::recorder::Recorder;
use crate::uploads::Uploads;

/// Records a function writes between two prunes of it.
pub const PRUNE_EVERY: u64 = 500;
/// Room the database's log and one transaction of records need beside the rows.
const ROOM: u64 = 4 * 1024 * 1024;
/// Below the ceiling, pruning for size stops at this share of it: room for a second of load.
const LOW_WATER: f64 = 0.9;
/// How often the size of the data dir outside the database (code, artifacts) is measured again.
const FILES_EVERY: Duration = Duration::from_secs(60);

/// Counts the records each function writes, and names the function to prune once it has
/// written [`PRUNE_EVERY`] since its last prune. Fed by the recorder's observer.
#[derive(Clone)]
pub struct Pressure {
    written: Arc<Mutex<HashMap<String, u64>>>,
    due: mpsc::UnboundedSender<String>,
}

impl Pressure {
    pub fn channel() -> (Pressure, mpsc::UnboundedReceiver<String>) {
        let (due, rx) = mpsc::unbounded_channel();
        (
            Pressure {
                written: Arc::default(),
                due,
            },
            rx,
        )
    }

    /// A committed batch of records.
    pub fn recorded(&self, batch: &[Execution]) {
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        for execution in batch {
            let count = match written.get_mut(execution.function_id.as_str()) {
                Some(count) => count,
                None => written.entry(execution.function_id.clone()).or_insert(0),
            };
            *count += 1;
            if *count >= PRUNE_EVERY {
                *count = 0;
                let _ = self.due.send(execution.function_id.clone());
            }
        }
    }
}

/// What the size ceiling needs.
pub struct Disk {
    pub data_dir: PathBuf,
    /// `GUST_MAX_DATA_MB`, in bytes.
    pub ceiling: Option<u64>,
    /// What the database may use of it (the ceiling less the other files and room for the
    /// log), which the execution writer keeps to as it writes.
    pub database_budget: Arc<std::sync::atomic::AtomicU64>,
    pub metrics: Arc<Metrics>,
}

pub fn spawn(
    jobs: Jobs,
    uploads: Arc<Uploads>,
    mut due: mpsc::UnboundedReceiver<String>,
    disk: Disk,
) {
    let (store, recorder) = (jobs.store.clone(), jobs.recorder.clone());
    tokio::spawn(async move {
        while let Some(function_id) = due.recv().await {
            // Deleted since: its executions went with it.
            if let Ok(function) = store.get_function_by_id(&function_id).await {
                recorder.prune(function.id, function.retention);
            }
        }
    });
    let store = jobs.store.clone();
    tokio::spawn(async move { keep_under_ceiling(&*store, &disk).await });
    tokio::spawn(async move {
        let mut every = tokio::time::interval(jobs.config.retention_interval);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if let Err(e) = prune_all(&*jobs.store, &jobs.recorder).await {
                tracing::error!(error = %e, "pruning executions failed");
            }
            let expiry = jobs.config.upload_expiry;
            let pruned = prune_uploads(
                &*jobs.store,
                &uploads,
                &jobs.events,
                gust_core::now(),
                expiry,
            )
            .await;
            if let Err(e) = pruned {
                tracing::error!(error = %format!("{e:#}"), "pruning abandoned uploads failed");
            }
        }
    });
}

/// Every second: the database, plus the rest of the data dir as last measured, against the
/// ceiling; past it, the oldest finished executions go until the total is back under
/// [`LOW_WATER`] of it. Also keeps `/metrics`' figures of the data dir's size.
async fn keep_under_ceiling(store: &dyn Store, disk: &Disk) {
    let mut files = 0u64;
    let mut files_measured: Option<Instant> = None;
    let mut warned: Option<Instant> = None;
    let mut pruned_before = 0;
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    disk.metrics
        .data_limit_bytes
        .store(disk.ceiling.unwrap_or(0), Ordering::Relaxed);
    loop {
        every.tick().await;
        if files_measured.is_none_or(|at| at.elapsed() >= FILES_EVERY) {
            let dir = disk.data_dir.clone();
            files = tokio::task::spawn_blocking(move || files_size(&dir))
                .await
                .unwrap_or(files);
            files_measured = Some(Instant::now());
        }
        let Ok(size) = store.database_size().await else {
            continue;
        };
        let total = size.file + size.wal + files;
        disk.metrics.data_bytes.store(total, Ordering::Relaxed);
        let Some(ceiling) = disk.ceiling else {
            continue;
        };
        // Beside the rows: the log (checkpointed and truncated every MiB, see the writer) and
        // the one MiB of records a transaction may add before it prunes.
        let budget = ceiling.saturating_sub(files + ROOM).max(1);
        disk.database_budget.store(budget, Ordering::Relaxed);
        // What deleting rows can bring down is what they use, not the file's free pages.
        let low_water = (ceiling as f64 * LOW_WATER) as u64;
        let mut used = size.used() + files;
        let mut pruned = 0;
        while used > low_water {
            match store.prune_oldest_executions(2_000).await {
                Ok(0) | Err(_) => break,
                Ok(n) => pruned += n,
            }
            match store.database_size().await {
                Ok(size) => used = size.used() + files,
                Err(_) => break,
            }
        }
        // The writer's pruning counts there too.
        let all_pruned = disk
            .metrics
            .executions_pruned_for_size
            .fetch_add(pruned, Ordering::Relaxed)
            + pruned;
        if all_pruned > pruned_before
            && warned.is_none_or(|at| at.elapsed() >= Duration::from_secs(60))
        {
            warned = Some(Instant::now());
            tracing::warn!(
                ceiling_mb = ceiling / (1024 * 1024),
                used_mb = used / (1024 * 1024),
                pruned = all_pruned - pruned_before,
                "the data dir reached its size ceiling (GUST_MAX_DATA_MB): deleted the oldest \
                 finished executions"
            );
            pruned_before = all_pruned;
        }
    }
}

/// Bytes of the data dir's files beside the database (code, artifacts, uploads).
fn files_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                pending.push(entry.path());
            } else if !entry.file_name().to_string_lossy().starts_with("gust.db") {
                total += meta.len();
            }
        }
    }
    total
}

async fn prune_all(store: &dyn Store, recorder: &Recorder) -> anyhow::Result<()> {
    // Records still on their way to the store count too.
    recorder.flush().await;
    let now = gust_core::now();
    let mut pruned = 0;
    for function in store.all_functions().await? {
        pruned += store
            .prune_executions(&function.id, &function.retention, now)
            .await?;
    }
    if pruned > 0 {
        tracing::info!(pruned, "pruned executions past their retention");
    }
    store
        .prune_function_minutes(now - gust_core::metrics::RETENTION)
        .await?;
    // Sign-ins prune them too, but a console nobody signs in to again would keep them.
    store.prune_console_sessions(now).await?;
    Ok(())
}

/// Delete the uploading deployments no chunk has reached for `expiry` before `now`, and their
/// staged bytes; then the staged files older than that which no upload owns (a first chunk cut
/// off before its deployment was stored, or a deletion interrupted by a crash). Returns how
/// many deployments were deleted.
pub async fn prune_uploads(
    store: &dyn Store,
    uploads: &Arc<Uploads>,
    events: &EventBus,
    now: DateTime<Utc>,
    expiry: Duration,
) -> anyhow::Result<usize> {
    let cutoff = now - chrono::Duration::from_std(expiry)?;
    let in_progress = store.uploading_deployments().await?;
    let mut pruned = 0;
    for deployment in &in_progress {
        if deployment.updated_at > cutoff {
            continue;
        }
        // A chunk arriving right now keeps its upload.
        let Some(_lock) = uploads.try_lock(&deployment.id) else {
            continue;
        };
        let Ok(current) = store
            .get_deployment(&deployment.function_id, &deployment.id)
            .await
        else {
            continue;
        };
        if current.status != DeploymentStatus::Uploading || current.updated_at > cutoff {
            continue;
        }
        store.delete_deployment(&current.id).await?;
        uploads.remove(&current.id).await;
        if let Ok(function) = store.get_function_by_id(&current.function_id).await {
            events.deployment(&function.namespace_id, &current, Change::Delete);
        }
        tracing::info!(deployment = %current.id, received = current.received, size = current.size,
            "deleted an upload abandoned since {}", current.updated_at);
        pruned += 1;
    }

    let owned: HashSet<&str> = in_progress.iter().map(|d| d.id.as_str()).collect();
    let stale_before = SystemTime::from(cutoff);
    let mut entries = tokio::fs::read_dir(uploads.dir()).await?;
    while let Some(entry) = entries.next_entry().await? {
        let name = entry.file_name();
        let Some(id) = name.to_str() else { continue };
        if owned.contains(id) {
            continue;
        }
        let modified = entry.metadata().await.and_then(|m| m.modified());
        if modified.is_ok_and(|m| m < stale_before)
            && let Some(_lock) = uploads.try_lock(id)
        {
            uploads.remove(id).await;
        }
    }
    Ok(pruned)
}
