//! Per-minute aggregates of each function's executions (`gust_core::metrics`), kept by Gust
//! itself for the charts of the last hour, day and week.
//!
//! Nothing here runs on the invocation path: each batch of records the recorder commits is
//! counted (by the same observer that feeds `/metrics`) into the minute each run ended in, in
//! memory. A task writes what has gathered every `GUST_METRICS_FLUSH_SECS` (a minute), so the
//! store takes at most one write per function and minute, and shutdown writes the rest. Reads
//! merge the store's minutes with those still in memory. Instances: process pools' workers
//! are sampled every few seconds, and runs that overlapped are counted (each batch's against
//! the function's last 256 runs), which is what a Wasm function's instances are: one per run.

use std::collections::{BTreeMap, HashMap, VecDeque};
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
/// Runs of each function remembered after their batch, so runs that overlapped but were
/// recorded in different batches still count as instances together.
const RECENT_RUNS: usize = 256;
/// A function's remembered runs are forgotten once its newest ended this long ago: past the
/// longest timeout, no run still going on can overlap them.
const RECENT_FOR: chrono::TimeDelta = chrono::TimeDelta::minutes(16);

/// Minutes by start (Unix seconds).
type FunctionMinutes = BTreeMap<i64, MinuteAggregate>;
/// A run as (start, end) in µs.
type Run = (i64, i64);

#[derive(Default)]
pub struct Minutes {
    /// What the writer's thread counts into and a flush takes from.
    counted: Mutex<Counted>,
    /// Held by a flush while what it took is on its way to the store, and by reads: a read
    /// finds each minute in memory or in the store, never in neither.
    flushing: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Counted {
    /// Minutes not yet in the store, by function id.
    pending: HashMap<String, FunctionMinutes>,
    /// Each function's latest runs as (start, end) in µs, oldest first.
    recent: HashMap<String, VecDeque<Run>>,
}

impl Minutes {
    /// Count a committed batch of records (each ended attempt once, as `/metrics` does).
    pub fn observe(&self, batch: &[Execution]) {
        let now = Utc::now();
        // Each function's runs in this batch, (start, end) in µs, and the minute of its last.
        let mut runs: HashMap<&str, (Vec<Run>, i64)> = HashMap::new();
        let mut counted = self.counted.lock().unwrap_or_else(|p| p.into_inner());
        let Counted { pending, recent } = &mut *counted;
        for e in batch.iter().filter(|e| ended_attempt(e)) {
            let ended = e.finished_at.unwrap_or(now);
            let start = ended.timestamp().div_euclid(60) * 60;
            let minute = minute_entry(pending, &e.function_id, start);
            if minute.namespace_id.is_empty() {
                minute.namespace_id.clone_from(&e.namespace_id);
            }
            minute.requests += 1;
            // A run had an instance; overlaps (below) may show more.
            minute.instances = minute.instances.max(1);
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
            let (function_runs, last) = runs.entry(e.function_id.as_str()).or_default();
            function_runs.push((started.timestamp_micros(), ended.timestamp_micros()));
            *last = (*last).max(start);
        }
        for (function_id, (new, last)) in runs {
            if !recent.contains_key(function_id) {
                recent.insert(function_id.to_string(), VecDeque::new());
            }
            let remembered = recent.get_mut(function_id).expect("inserted above");
            let overlapping = most_overlapping(remembered.make_contiguous(), &new);
            let minute = minute_entry(pending, function_id, last);
            minute.instances = minute.instances.max(overlapping);
            remembered.extend(new);
            let excess = remembered.len().saturating_sub(RECENT_RUNS);
            remembered.drain(..excess);
        }
    }

    /// Process functions' live workers now: `(function id, count)`.
    pub fn sample_instances(&self, counts: &[(String, usize)]) {
        let start = Utc::now().timestamp().div_euclid(60) * 60;
        let mut counted = self.counted.lock().unwrap_or_else(|p| p.into_inner());
        for (function_id, count) in counts.iter().filter(|(_, count)| *count > 0) {
            let minute = minute_entry(&mut counted.pending, function_id, start);
            let count = u32::try_from(*count).unwrap_or(u32::MAX);
            minute.instances = minute.instances.max(count);
        }
    }

    /// Write every minute gathered to the store. On failure they stay in memory, for the next.
    pub async fn flush(&self, store: &dyn Store) -> StoreResult<()> {
        let _flushing = self.flushing.lock().await;
        let taken: Vec<MinuteAggregate> = {
            let mut counted = self.counted.lock().unwrap_or_else(|p| p.into_inner());
            let forget_before = (Utc::now() - RECENT_FOR).timestamp_micros();
            counted
                .recent
                .retain(|_, runs| runs.back().is_some_and(|(_, end)| *end >= forget_before));
            counted
                .pending
                .drain()
                .flat_map(|(_, minutes)| minutes.into_values())
                .collect()
        };
        if taken.is_empty() {
            return Ok(());
        }
        let written = store.add_function_minutes(&taken).await;
        if written.is_err() {
            let mut counted = self.counted.lock().unwrap_or_else(|p| p.into_inner());
            for minute in taken {
                let start = minute.minute.timestamp();
                minute_entry(&mut counted.pending, &minute.function_id, start).merge(&minute);
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
        let counted = self.counted.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(held) = counted.pending.get(function_id) {
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
        let counted = self.counted.lock().unwrap_or_else(|p| p.into_inner());
        for (function_id, minutes) in counted.pending.iter() {
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

/// The most runs going on at one instant from the start of the earliest of `new` on, among
/// `new` and the runs remembered from earlier batches (which a new run may have overlapped:
/// records arrive in the order runs end, not start). A run ending as another starts does not
/// overlap it.
fn most_overlapping(remembered: &[Run], new: &[Run]) -> u32 {
    let Some(from) = new.iter().map(|(start, _)| *start).min() else {
        return 0;
    };
    let mut edges: Vec<(i64, i32)> = remembered
        .iter()
        .chain(new)
        .filter(|(_, end)| *end > from)
        .flat_map(|&(start, end)| [(start, 1), (end.max(start), -1)])
        .collect();
    // At equal times ends (-1) come before starts (+1).
    edges.sort_unstable();
    let (mut going, mut most) = (0i32, 1i32);
    for (at, step) in edges {
        going += step;
        if at >= from {
            most = most.max(going);
        }
    }
    most as u32
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
        assert_eq!(most_overlapping(&[], &[]), 0);
        assert_eq!(most_overlapping(&[], &[(0, 10)]), 1);
        assert_eq!(most_overlapping(&[], &[(0, 10), (10, 20)]), 1);
        assert_eq!(
            most_overlapping(&[], &[(0, 10), (5, 20), (6, 7), (15, 30)]),
            3
        );
        // A run recorded later that started first covers the runs recorded before it.
        assert_eq!(most_overlapping(&[(5, 8), (6, 9)], &[(0, 10)]), 3);
        // Runs over before the new ones started do not count.
        assert_eq!(most_overlapping(&[(0, 3), (1, 4)], &[(5, 10)]), 1);
    }

    #[test]
    fn runs_recorded_in_different_batches_still_overlap() {
        let minutes = Minutes::default();
        let at = "2026-03-10T12:00:";
        for (start, end) in [("01", "02"), ("01.5", "03"), ("00", "05")] {
            let (start, end) = (format!("{at}{start}Z"), format!("{at}{end}Z"));
            minutes.observe(&[run("f", "completed", &start, &end, 1)]);
        }
        let counted = minutes.counted.lock().unwrap();
        let minute = counted.pending["f"].values().next().unwrap();
        assert_eq!((minute.requests, minute.instances), (3, 3));
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
