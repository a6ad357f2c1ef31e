//! Prunes finished executions past each function's retention (`retention.max_count` newest
//! kept, none older than `retention.max_age_s`). Queued and running ones are never pruned.
//! Runs every `GUST_RETENTION_INTERVAL_SECS`, off the request path.

use std::sync::Arc;
use std::time::Duration;

use gust_store::Store;

use crate::recorder::Recorder;

pub fn spawn(store: Arc<dyn Store>, recorder: Recorder, interval: Duration) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(interval);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if let Err(e) = prune_all(&*store, &recorder).await {
                tracing::error!(error = %e, "pruning executions failed");
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
