//! Live logs: what a running execution prints, while it prints it, and each finished execution
//! of a function as it finishes. The streaming routes (`routes/logs.rs`) read from here.
//!
//! Only async and API executions register their output while they run (they have an id before
//! they start, and are the ones people follow); requests over `/fn` are followed through their
//! function once they finish, so the invocation path does no bookkeeping for followers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use gust_core::Execution;
use gust_runtime::LogWatch;
use tokio::sync::broadcast;

/// Finished executions buffered per follower before a slow one starts missing some.
const FOLLOWER_BUFFER: usize = 256;

#[derive(Default)]
pub struct LiveLogs {
    /// Running executions by id: their live output, and which attempt it belongs to.
    running: Mutex<HashMap<String, (u64, LogWatch)>>,
    /// Numbers attempts so a follower notices when a retry starts over.
    attempts: AtomicU64,
    /// Followers of a function's finished executions, by function id.
    followers: Mutex<HashMap<String, broadcast::Sender<Arc<Execution>>>>,
}

impl LiveLogs {
    pub fn watch(&self, execution_id: &str, watch: LogWatch) {
        let attempt = self.attempts.fetch_add(1, Ordering::Relaxed);
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(execution_id.to_string(), (attempt, watch));
    }

    /// The execution has ended (its record is on its way): wake whoever follows it.
    pub fn unwatch(&self, execution_id: &str) {
        let removed = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(execution_id);
        if let Some((_, watch)) = removed {
            watch.wake();
        }
    }

    /// The live output of a running execution, with its attempt number.
    pub fn get(&self, execution_id: &str) -> Option<(u64, LogWatch)> {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(execution_id)
            .cloned()
    }

    /// Follow the executions of a function as they finish.
    pub fn subscribe(&self, function_id: &str) -> broadcast::Receiver<Arc<Execution>> {
        let mut followers = self.followers.lock().unwrap_or_else(|p| p.into_inner());
        followers
            .entry(function_id.to_string())
            .or_insert_with(|| broadcast::channel(FOLLOWER_BUFFER).0)
            .subscribe()
    }

    /// Hand finished records to their functions' followers (called per committed batch).
    pub fn publish(&self, batch: &[Execution]) {
        let mut followers = self.followers.lock().unwrap_or_else(|p| p.into_inner());
        if followers.is_empty() {
            return;
        }
        followers.retain(|_, tx| tx.receiver_count() > 0);
        for e in batch {
            if !crate::metrics::ended_attempt(e) {
                continue;
            }
            if let Some(tx) = followers.get(&e.function_id) {
                let _ = tx.send(Arc::new(e.clone()));
            }
        }
    }
}
