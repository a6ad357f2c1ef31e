//! Fires cron triggers. One task sleeps until the earliest `next_run_at` (or until a trigger
//! changes) and submits an async execution for each trigger that is due.
//!
//! Once per tick: each firing carries the idempotency key `cron:{trigger}:{tick}`, so a tick
//! fired just before a crash, and fired again after the restart, runs once. Nodes sharing a
//! store each fire every trigger; the store moves a trigger past a tick only if it is still
//! at that tick (one node's move wins, the others take the trigger as it left it), and the
//! key keeps a tick they fire together to one run.
//!
//! Runs left: a counted trigger's `count` goes down in the same store write that moves it past
//! the tick (with `last_run_at`), so a restart neither loses nor repeats the decrement; at 0 it
//! is `done`. Paused, done and cancelled triggers do not fire.
//!
//! Downtime: ticks missed while the server was down are not replayed one by one. A trigger
//! whose `next_run_at` passed while the server was down fires once at start (one catch-up run,
//! for the earliest missed tick), then continues from the next tick after now.

use std::time::Duration;

use gust_core::{ExecutionTrigger, TriggerKind, TriggerStatus};

use crate::jobs::Jobs;
use crate::jobs::{Submission, submit};

/// Longest sleep between looks at the clock (a safety net: changes also wake the task).
const MAX_SLEEP: Duration = Duration::from_secs(60);

pub fn spawn(jobs: Jobs) {
    tokio::spawn(async move {
        loop {
            let now = gust_core::now();
            let triggers = jobs.triggers.of_kind(TriggerKind::Cron, None);
            let mut earliest: Option<chrono::DateTime<chrono::Utc>> = None;
            for trigger in triggers {
                let Some(due) = trigger.next_run_at else {
                    continue;
                };
                if trigger.status != TriggerStatus::Ready {
                    continue;
                }
                if due <= now {
                    fire(&jobs, &trigger.id, due).await;
                    // What it fired may have changed the set: look again at once.
                    earliest = Some(now);
                } else {
                    earliest = Some(earliest.map_or(due, |e| e.min(due)));
                }
            }
            let sleep = earliest
                .map(|at| (at - gust_core::now()).to_std().unwrap_or_default())
                .unwrap_or(MAX_SLEEP)
                .min(MAX_SLEEP);
            if sleep.is_zero() {
                continue;
            }
            let _ = tokio::time::timeout(sleep, jobs.triggers.changed.notified()).await;
        }
    });
}

/// Submit the run for `tick`, then move the trigger to its next tick after now (skipping any
/// others it missed), using one of its runs left.
async fn fire(jobs: &Jobs, id: &str, tick: chrono::DateTime<chrono::Utc>) {
    let editing = jobs.triggers.edits.lock().await;
    // A client may have paused, moved or deleted it since the scheduler looked.
    let Some(mut trigger) = jobs
        .triggers
        .get(id)
        .filter(|t| t.status == TriggerStatus::Ready && t.next_run_at == Some(tick))
    else {
        return;
    };
    let started = match jobs.live.get(&trigger.namespace_id, &trigger.function_id) {
        Some(live) => {
            let mut headers = std::collections::BTreeMap::new();
            headers.insert("x-gust-trigger-id".to_string(), trigger.id.clone());
            headers.insert(
                "x-gust-scheduled-time".to_string(),
                tick.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            );
            let body = trigger.body.clone().unwrap_or_default();
            let submission = Submission {
                trigger: ExecutionTrigger::Schedule,
                request: gust_core::ExecutionRequest {
                    method: "POST".into(),
                    path: "/".into(),
                    query: String::new(),
                    headers,
                    body: gust_core::execution::RecordedBody::whole(body.as_bytes()),
                },
                idempotency_key: Some(format!("cron:{}:{}", trigger.id, tick.timestamp_millis())),
                source: Some(format!("trigger {}", trigger.id)),
                replay_of: None,
                event_depth: 0,
                function_version: None,
                alias: None,
            };
            // An execution already stored under the key (submitted before a crash, the tick
            // not yet recorded) is this tick's run: its run is used now.
            if let Err(e) = submit(jobs, &live.function, submission).await {
                // Not advanced: the tick is tried again on the next pass.
                tracing::error!(trigger = %trigger.id, error = %e, "cron trigger could not submit");
                drop(editing);
                tokio::time::sleep(Duration::from_secs(1)).await;
                return;
            }
            true
        }
        None => {
            tracing::debug!(trigger = %trigger.id, "cron tick skipped: the function has no active deployment");
            false
        }
    };
    trigger.record_tick(tick, started, gust_core::now());
    match jobs.store.advance_trigger(&trigger, tick).await {
        Ok(true) => jobs.triggers.put(trigger),
        // Another node sharing the store fired this tick first (its run is the one stored
        // under the tick's key): take the trigger as it left it.
        Ok(false) => match jobs
            .store
            .get_trigger(&trigger.function_id, &trigger.id)
            .await
        {
            Ok(stored) => jobs.triggers.put(stored),
            Err(gust_store::StoreError::NotFound { .. }) => jobs.triggers.remove(&trigger.id),
            Err(e) => {
                tracing::error!(trigger = %trigger.id, error = %e, "reading the trigger's next run failed");
                jobs.triggers.put(trigger)
            }
        },
        // Deleted meanwhile: forget it.
        Err(gust_store::StoreError::NotFound { .. }) => jobs.triggers.remove(&trigger.id),
        Err(e) => {
            tracing::error!(trigger = %trigger.id, error = %e, "saving the trigger's next run failed");
            // Advance it in memory anyway, or the past tick stays due and fires in a loop; after
            // a restart the tick's idempotency key keeps it from running twice.
            jobs.triggers.put(trigger)
        }
    }
}
