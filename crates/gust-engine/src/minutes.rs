//! Per-minute aggregates of each function's executions (`gust_core::metrics`), kept by Gust
//! itself for the charts of the last hour, day and week.
//!
//! Nothing here runs on the invocation path: each batch of records the recorder commits is
//! counted (by the same observer that feeds `/metrics`) into the minute each run ended in, in
//! memory. A task writes what has gathered every `GUST_METRICS_FLUSH_SECS` (a minute), so the
//! store takes at most one write per function and minute, and shutdown writes the rest. Reads
//! merge the store's minutes with those still in memory. Instances: process pools' workers
//! are sampled every few seconds, and the runs of one batch that overlapped are counted, which
//! is what a Wasm function's instances are (one per run).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use gust_core::metrics::{FunctionActivity, MinuteAggregate};
use gust_core::{Execution, ExecutionStatus};
use gust_store::{Store, StoreResult};

use crate::live::LiveFunctions;
use crate::metrics::ended_attempt;

/// How often process pools' workers are counted.
const SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// Minutes by start (Unix seconds).
type FunctionMinutes = BTreeMap<i64, MinuteAggregate>;

#[derive(Default)]
pub struct Minutes {
    /// Minutes not yet in the store, by function id.
    pending: Mutex<HashMap<String, FunctionMinutes>>,
    /// Held by a flush while what it took from `pending` is on its way to the store, and by
    /// reads: a read finds each minute in memory or in the store, never in neither.
    flushing: tokio::sync::Mutex<()>,
}

impl Minutes {
    /// Count a committed batch of records (each ended attempt once, as `/metrics` does).
    pub fn observe(&self, batch: &[Execution]) {
        let now = Utc::now();
        // Each function's runs in this batch by minute, as (start, end) in µs: overlaps are
        // instances.
        let mut runs: HashMap<(&str, i64), Vec<(i64, i64)>> = HashMap::new();
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        for e in batch.iter().filter(|e| ended_attempt(e)) {
            let ended = e.finished_at.unwrap_or(now);
            let start = ended.timestamp().div_euclid(60) * 60;
            let minute = minute_entry(&mut pending, &e.function_id, start);
            if minute.namespace_id.is_empty() {
                minute.namespace_id.clone_from(&e.namespace_id);
            }
            minute.requests += 1;
            // A record queued again after a run is an attempt that failed and will retry.
            if e.status != ExecutionStatus::Completed {
                minute.errors += 1;
            }
            if e.cold_start {
                minute.cold_starts += 1;
            }
            if let Some(us) = e.duration_us {
                minute.durations.record(us);
            }
            let started = e.started_at.unwrap_or(ended);
            runs.entry((e.function_id.as_str(), start))
                .or_default()
                .push((started.timestamp_micros(), ended.timestamp_micros()));
        }
        for ((function_id, start), runs) in runs {
            let minute = minute_entry(&mut pending, function_id, start);
            minute.instances = minute.instances.max(most_overlapping(runs));
        }
    }

    /// Process functions' live workers now: `(function id, count)`.
    pub fn sample_instances(&self, counts: &[(String, usize)]) {
        let start = Utc::now().timestamp().div_euclid(60) * 60;
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        for (function_id, count) in counts.iter().filter(|(_, count)| *count > 0) {
            let minute = minute_entry(&mut pending, function_id, start);
            let count = u32::try_from(*count).unwrap_or(u32::MAX);
            minute.instances = minute.instances.max(count);
        }
    }

    /// Write every minute gathered to the store. On failure they stay in memory, for the next.
    pub async fn flush(&self, store: &dyn Store) -> StoreResult<()> {
        let _flushing = self.flushing.lock().await;
        let taken: Vec<MinuteAggregate> = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            pending
                .drain()
                .flat_map(|(_, minutes)| minutes.into_values())
                .collect()
        };
        if taken.is_empty() {
            return Ok(());
        }
        let written = store.add_function_minutes(&taken).await;
        if written.is_err() {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            for minute in taken {
                let start = minute.minute.timestamp();
                minute_entry(&mut pending, &minute.function_id, start).merge(&minute);
            }
        }
        written
    }

    /// A function's minutes from `since` on: the store's, then those still in memory (a
    /// minute may be in both, each holding a part: charts add them up).
    pub async fn read(
        &self,
        store: &dyn Store,
        function_id: &str,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<MinuteAggregate>> {
        let _flushing = self.flushing.lock().await;
        let mut minutes = store.function_minutes(function_id, since).await?;
        let pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(held) = pending.get(function_id) {
            minutes.extend(held.range(since.timestamp()..).map(|(_, m)| m.clone()));
        }
        Ok(minutes)
    }

    /// Requests and errors of each function of a namespace from `since` on, by function id;
    /// functions without requests are left out.
    pub async fn activity(
        &self,
        store: &dyn Store,
        namespace_id: &str,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<FunctionActivity>> {
        let _flushing = self.flushing.lock().await;
        let stored = store.namespace_activity(namespace_id, since).await?;
        let mut totals: BTreeMap<String, (u64, u64)> = stored
            .into_iter()
            .map(|a| (a.function_id, (a.requests, a.errors)))
            .collect();
        let pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        for (function_id, minutes) in pending.iter() {
            for (_, minute) in minutes.range(since.timestamp()..) {
                if minute.namespace_id == namespace_id && minute.requests > 0 {
                    let total = totals.entry(function_id.clone()).or_default();
                    total.0 += minute.requests;
                    total.1 += minute.errors;
                }
            }
        }
        Ok(totals
            .into_iter()
            .map(|(function_id, (requests, errors))| FunctionActivity {
                function_id,
                requests,
                errors,
            })
            .collect())
    }

    /// Start the tasks that sample process pools' workers and write the minutes to the store
    /// every `flush_every`.
    pub fn spawn(
        self: &Arc<Self>,
        store: Arc<dyn Store>,
        live: Arc<LiveFunctions>,
        flush_every: Duration,
    ) {
        let minutes = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(SAMPLE_EVERY);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let counts: Vec<(String, usize)> = live
                    .pools()
                    .into_iter()
                    .map(|(id, pool)| (id, pool.instance_count()))
                    .collect();
                minutes.sample_instances(&counts);
            }
        });
        let minutes = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(flush_every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                if let Err(e) = minutes.flush(&*store).await {
                    tracing::warn!(error = %e, "writing per-minute metrics failed; retrying later");
                }
            }
        });
    }
}

fn minute_entry<'a>(
    pending: &'a mut HashMap<String, FunctionMinutes>,
    function_id: &str,
    start: i64,
) -> &'a mut MinuteAggregate {
    if !pending.contains_key(function_id) {
        pending.insert(function_id.to_string(), FunctionMinutes::new());
    }
    let minutes = pending.get_mut(function_id).expect("inserted above");
    minutes.entry(start).or_insert_with(|| MinuteAggregate {
        function_id: function_id.to_string(),
        minute: DateTime::from_timestamp(start, 0).unwrap_or_default(),
        ..Default::default()
    })
}

/// The most of `runs` (start, end) going on at one instant. A run ending as another starts
/// does not overlap it.
fn most_overlapping(runs: Vec<(i64, i64)>) -> u32 {
    let mut edges: Vec<(i64, i32)> = runs
        .into_iter()
        .flat_map(|(start, end)| [(start, 1), (end.max(start), -1)])
        .collect();
    // At equal times ends (-1) come before starts (+1).
    edges.sort_unstable();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, step) in edges {
        now += step;
        most = most.max(now);
    }
    most.max(0) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(function: &str, status: &str, started: &str, ended: &str, us: u64) -> Execution {
        serde_json::from_value(serde_json::json!({
            "id": gust_core::new_id(), "namespace_id": "ns", "function_id": function,
            "trigger": "http", "status": status, "request": {"method": "GET", "path": "/"},
            "created_at": started, "started_at": started, "finished_at": ended,
            "duration_us": us, "cold_start": us > 1000,
        }))
        .unwrap()
    }

    async fn store() -> (Arc<dyn Store>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = gust_store::SqliteStore::open(&dir.path().join("gust.db"))
            .await
            .unwrap();
        (Arc::new(store), dir)
    }

    #[test]
    fn overlapping_runs_count_as_instances() {
        assert_eq!(most_overlapping(vec![]), 0);
        assert_eq!(most_overlapping(vec![(0, 10)]), 1);
        assert_eq!(most_overlapping(vec![(0, 10), (10, 20)]), 1);
        assert_eq!(
            most_overlapping(vec![(0, 10), (5, 20), (6, 7), (15, 30)]),
            3
        );
    }

    #[tokio::test]
    async fn a_batch_counts_into_the_minute_each_run_ended_in() {
        let minutes = Minutes::default();
        minutes.observe(&[
            run(
                "f",
                "completed",
                "2026-03-10T12:00:59.000Z",
                "2026-03-10T12:00:59.500Z",
                500_000,
            ),
            run(
                "f",
                "completed",
                "2026-03-10T12:00:59.100Z",
                "2026-03-10T12:01:00.100Z",
                1_000_000,
            ),
            run(
                "f",
                "failed",
                "2026-03-10T12:01:00.000Z",
                "2026-03-10T12:01:00.050Z",
                50_000,
            ),
            run(
                "f",
                "running",
                "2026-03-10T12:01:00.000Z",
                "2026-03-10T12:01:00.050Z",
                1,
            ),
        ]);
        let (store, _dir) = store().await;
        let read = minutes
            .read(&*store, "f", "2026-03-10T12:00:00Z".parse().unwrap())
            .await
            .unwrap();
        let by_minute: Vec<_> = read
            .iter()
            .map(|m| {
                (
                    m.minute.to_rfc3339(),
                    m.requests,
                    m.errors,
                    m.cold_starts,
                    m.instances,
                )
            })
            .collect();
        assert_eq!(
            by_minute,
            [
                ("2026-03-10T12:00:00+00:00".to_string(), 1, 0, 1, 1),
                ("2026-03-10T12:01:00+00:00".to_string(), 2, 1, 2, 2),
            ]
        );
        assert_eq!(read[0].namespace_id, "ns");
        assert_eq!(read[1].durations.quantile(1.0), Some(1_000_000));
    }

    #[tokio::test]
    async fn flushed_minutes_are_read_once_and_later_runs_add_to_them() {
        let (store, _dir) = store().await;
        let ns = gust_core::NamespaceSpec {
            name: Some("shop".into()),
            ..Default::default()
        }
        .into_new_namespace()
        .unwrap();
        store.create_namespace(&ns).await.unwrap();
        let function = gust_core::FunctionSpec {
            name: Some("checkout".into()),
            runtime: Some("wasm".into()),
            ..Default::default()
        }
        .into_new_function(&ns.id, &ns.name)
        .unwrap();
        store.create_function(&function).await.unwrap();
        let at = |e: &str| {
            let mut e = run(&function.id, "completed", "2026-03-10T12:00:01Z", e, 10);
            e.namespace_id.clone_from(&ns.id);
            e
        };
        let minutes = Minutes::default();
        minutes.observe(&[at("2026-03-10T12:00:02Z"), at("2026-03-10T12:00:03Z")]);
        minutes.flush(&*store).await.unwrap();
        let since = "2026-03-10T12:00:00Z".parse().unwrap();
        let total = |read: Vec<MinuteAggregate>| read.iter().map(|m| m.requests).sum::<u64>();
        assert_eq!(
            total(minutes.read(&*store, &function.id, since).await.unwrap()),
            2
        );
        assert_eq!(
            store
                .function_minutes(&function.id, since)
                .await
                .unwrap()
                .len(),
            1
        );
        // A later run of the same minute is held in memory until the next flush, and counted.
        minutes.observe(&[at("2026-03-10T12:00:04Z")]);
        assert_eq!(
            total(minutes.read(&*store, &function.id, since).await.unwrap()),
            3
        );
        let activity = minutes.activity(&*store, &ns.id, since).await.unwrap();
        assert_eq!(activity.len(), 1);
        assert_eq!((activity[0].requests, activity[0].errors), (3, 0));
        minutes.flush(&*store).await.unwrap();
        let stored = store.function_minutes(&function.id, since).await.unwrap();
        assert_eq!((stored.len(), stored[0].requests), (1, 3));
        assert_eq!(
            total(minutes.read(&*store, &function.id, since).await.unwrap()),
            3
        );
    }
}
