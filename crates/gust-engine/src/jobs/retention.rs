//! Prunes what is kept past its time, every `GUST_RETENTION_INTERVAL_SECS`, off the request
//! path:
//! - finished executions past each function's retention (`retention.max_count` newest kept,
//!   none older than `retention.max_age_s`). Queued and running ones are never pruned.
//! - chunked uploads untouched for `GUST_UPLOAD_EXPIRY_SECS` (a client that gave up), with
//!   their staged bytes, and staged files no upload owns any more.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use gust_core::DeploymentStatus;
use gust_store::Store;

use crate::jobs::Jobs;
use crate::jobs::events::{Change, EventBus};
use crate::recorder::Recorder;
use crate::uploads::Uploads;

pub fn spawn(jobs: Jobs, uploads: Arc<Uploads>) {
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
