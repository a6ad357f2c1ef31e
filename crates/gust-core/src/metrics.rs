//! Per-minute aggregates of a function's executions, and the charts read from them.
//!
//! Gust keeps, for each function and each minute it ran in, the requests, errors and cold
//! starts, a histogram of durations and the most instances seen ([`MinuteAggregate`]). A chart
//! ([`FunctionMetrics`]) cuts a window (an hour, a day, a week) into steps and merges the
//! minutes of each step: counts add up, histograms merge, instances take the highest. The
//! percentiles of a step come from its merged histogram, so a day's p99 is the p99 of the
//! day's requests, not an average of minutes' p99s.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How long minutes are kept: a week's chart, plus a day's margin.
pub const RETENTION: chrono::TimeDelta = chrono::TimeDelta::days(8);

/// The span of a chart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MetricsWindow {
    /// The last hour, a point per minute.
    #[default]
    Hour,
    /// The last day, a point per 15 minutes.
    Day,
    /// The last week, a point per 2 hours.
    Week,
}

impl MetricsWindow {
    /// Seconds each point covers.
    pub fn step_s(self) -> u32 {
        match self {
            Self::Hour => 60,
            Self::Day => 15 * 60,
            Self::Week => 2 * 60 * 60,
        }
    }

    /// Points in a chart: the window over its step.
    pub fn points(self) -> u32 {
        match self {
            Self::Hour => 60,
            Self::Day => 96,
            Self::Week => 84,
        }
    }

    /// Where the chart of this window, drawn at `now`, starts: its first step's start.
    pub fn start(self, now: DateTime<Utc>) -> DateTime<Utc> {
        let step = i64::from(self.step_s());
        let last = now.timestamp().div_euclid(step) * step;
        DateTime::from_timestamp(last - step * (i64::from(self.points()) - 1), 0)
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }
}

/// A function's chart over a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FunctionMetrics {
    pub window: MetricsWindow,
    /// Seconds each point covers.
    pub step_s: u32,
    /// Every step of the window, oldest first; the last one is still going on.
    pub points: Vec<MetricsPoint>,
}

/// One step of a chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MetricsPoint {
    /// The start of the step.
    pub at: DateTime<Utc>,
    /// Runs that ended in the step (each attempt of an async execution counts).
    pub requests: u64,
    /// Those that failed or timed out.
    pub errors: u64,
    /// Those that had to start an instance.
    pub cold_starts: u64,
    /// Duration percentiles in microseconds, within about 5 % (a log-scale histogram); none
    /// without requests.
    pub p50_us: Option<u64>,
    pub p95_us: Option<u64>,
    pub p99_us: Option<u64>,
    /// The most instances seen at once: process workers alive, or runs overlapping.
    pub instances: u32,
}

/// Requests and errors of one function over a span.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FunctionActivity {
    pub function_id: String,
    pub requests: u64,
    pub errors: u64,
}

/// Buckets per doubling of a duration: each is 2^(1/8) ≈ 9 % wide, so a percentile read from
/// the middle of its bucket is within about 4.5 % of the true value.
const PER_DOUBLING: f64 = 8.0;
/// The last bucket: 2^40 µs is about 12 days, past any timeout.
const LAST_BUCKET: u16 = 40 * 8 + 1;

/// Durations in microseconds, counted in fixed log-scale buckets: bucket 0 holds 0, bucket
/// `i` holds `[2^((i-1)/8), 2^(i/8))`. Fixed buckets merge by adding counts, which is what
/// lets a day's percentiles come from its minutes. Only buckets in use are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DurationHistogram {
    /// Count by bucket.
    #[serde(rename = "b", default)]
    buckets: BTreeMap<u16, u64>,
    /// The shortest and longest durations counted: percentiles never lie outside them, so a
    /// single request reads back exactly.
    #[serde(default)]
    min: u64,
    #[serde(default)]
    max: u64,
}

impl DurationHistogram {
    fn bucket(us: u64) -> u16 {
        if us == 0 {
            return 0;
        }
        let index = ((us as f64).log2() * PER_DOUBLING).floor() as u64 + 1;
        index.min(u64::from(LAST_BUCKET)) as u16
    }

    /// The middle of a bucket (geometric), in microseconds.
    fn middle(bucket: u16) -> u64 {
        if bucket == 0 {
            return 0;
        }
        (2f64)
            .powf((f64::from(bucket) - 0.5) / PER_DOUBLING)
            .round() as u64
    }

    pub fn record(&mut self, us: u64) {
        if self.is_empty() {
            (self.min, self.max) = (us, us);
        } else {
            self.min = self.min.min(us);
            self.max = self.max.max(us);
        }
        *self.buckets.entry(Self::bucket(us)).or_insert(0) += 1;
    }

    pub fn merge(&mut self, other: &DurationHistogram) {
        if other.is_empty() {
            return;
        }
        if self.is_empty() {
            (self.min, self.max) = (other.min, other.max);
        } else {
            self.min = self.min.min(other.min);
            self.max = self.max.max(other.max);
        }
        for (bucket, count) in &other.buckets {
            *self.buckets.entry(*bucket).or_insert(0) += count;
        }
    }

    pub fn count(&self) -> u64 {
        self.buckets.values().sum()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// The duration below which a share `q` (0 to 1) of those counted fall; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let count = self.count();
        if count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * count as f64).ceil() as u64).max(1);
        // The ends are known exactly.
        if rank == count {
            return Some(self.max);
        }
        let mut seen = 0;
        for (bucket, n) in &self.buckets {
            seen += n;
            if seen >= rank {
                return Some(Self::middle(*bucket).clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }
}

/// What one function did in one minute.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MinuteAggregate {
    pub function_id: String,
    /// Empty when only instances were seen (the store knows the function's namespace).
    pub namespace_id: String,
    /// The minute's start.
    pub minute: DateTime<Utc>,
    pub requests: u64,
    pub errors: u64,
    pub cold_starts: u64,
    /// The most instances seen at once in the minute.
    pub instances: u32,
    pub durations: DurationHistogram,
}

impl MinuteAggregate {
    /// Add what `other` counted (the same function and minute) to this one.
    pub fn merge(&mut self, other: &MinuteAggregate) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.cold_starts += other.cold_starts;
        self.instances = self.instances.max(other.instances);
        self.durations.merge(&other.durations);
        if self.namespace_id.is_empty() {
            self.namespace_id.clone_from(&other.namespace_id);
        }
    }
}

/// The start of the minute `t` falls in.
pub fn minute_of(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp().div_euclid(60) * 60, 0).unwrap_or(t)
}

/// The chart of `window` drawn at `now` from a function's minutes (in any order; minutes
/// outside the window are left out). Every step has a point, empty or not.
pub fn chart<'a>(
    window: MetricsWindow,
    now: DateTime<Utc>,
    minutes: impl IntoIterator<Item = &'a MinuteAggregate>,
) -> FunctionMetrics {
    let step = i64::from(window.step_s());
    let count = window.points() as usize;
    let first = window.start(now).timestamp();
    let mut steps = vec![MinuteAggregate::default(); count];
    for minute in minutes {
        let offset = minute.minute.timestamp() - first;
        if offset < 0 {
            continue;
        }
        if let Some(step) = steps.get_mut((offset / step) as usize) {
            step.merge(minute);
        }
    }
    let points = steps
        .iter()
        .enumerate()
        .map(|(i, s)| MetricsPoint {
            at: DateTime::from_timestamp(first + step * i as i64, 0).unwrap_or(now),
            requests: s.requests,
            errors: s.errors,
            cold_starts: s.cold_starts,
            p50_us: s.durations.quantile(0.50),
            p95_us: s.durations.quantile(0.95),
            p99_us: s.durations.quantile(0.99),
            instances: s.instances,
        })
        .collect();
    FunctionMetrics {
        window,
        step_s: window.step_s(),
        points,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn minute(t: &str, requests: u64, durations: &[u64]) -> MinuteAggregate {
        let mut m = MinuteAggregate {
            function_id: "f".into(),
            namespace_id: "ns".into(),
            minute: at(t),
            requests,
            ..Default::default()
        };
        for d in durations {
            m.durations.record(*d);
        }
        m
    }

    #[test]
    fn percentiles_are_within_a_bucket_of_the_truth() {
        let mut h = DurationHistogram::default();
        for us in 1..=10_000u64 {
            h.record(us);
        }
        for (q, truth) in [(0.5, 5_000.0), (0.95, 9_500.0), (0.99, 9_900.0)] {
            let got = h.quantile(q).unwrap() as f64;
            assert!((got - truth).abs() / truth < 0.05, "q{q}: {got} vs {truth}");
        }
        assert_eq!(h.count(), 10_000);
    }

    #[test]
    fn one_duration_reads_back_exactly_and_none_reads_as_none() {
        let mut h = DurationHistogram::default();
        assert_eq!(h.quantile(0.5), None);
        h.record(1234);
        assert_eq!(
            [h.quantile(0.5), h.quantile(0.99)],
            [Some(1234), Some(1234)]
        );
        h.record(0);
        assert_eq!(h.quantile(0.0), Some(0));
        h.record(u64::MAX);
        assert_eq!(h.quantile(1.0), Some(u64::MAX));
    }

    #[test]
    fn merged_histograms_give_the_percentiles_of_everything_counted() {
        let (mut fast, mut slow, mut all) = Default::default();
        for us in 1..=900u64 {
            DurationHistogram::record(&mut fast, us);
            DurationHistogram::record(&mut all, us);
        }
        for us in 100_000..100_100u64 {
            DurationHistogram::record(&mut slow, us);
            DurationHistogram::record(&mut all, us);
        }
        let mut merged: DurationHistogram = fast;
        merged.merge(&slow);
        assert_eq!(merged, all);
        // 10 % are slow: the p95 is one of them, the p50 is not.
        assert!(merged.quantile(0.95).unwrap() >= 95_000);
        assert!(merged.quantile(0.5).unwrap() < 1_000);
        let json = serde_json::to_string(&merged).unwrap();
        assert_eq!(
            serde_json::from_str::<DurationHistogram>(&json).unwrap(),
            merged
        );
    }

    #[test]
    fn a_chart_has_every_step_and_merges_the_minutes_of_each() {
        let now = at("2026-03-10T12:34:56Z");
        let minutes = [
            minute("2026-03-10T12:34:00Z", 3, &[1000, 2000, 3000]),
            minute("2026-03-10T12:30:00Z", 1, &[500]),
            minute("2026-03-10T12:16:00Z", 2, &[10, 20]),
            // Before the day's window: left out.
            minute("2026-03-09T12:00:00Z", 7, &[1]),
        ];
        let hour = chart(MetricsWindow::Hour, now, &minutes);
        assert_eq!(hour.points.len(), 60);
        assert_eq!(hour.step_s, 60);
        assert_eq!(hour.points[0].at, at("2026-03-10T11:35:00Z"));
        let last = hour.points.last().unwrap();
        assert_eq!(last.at, at("2026-03-10T12:34:00Z"));
        assert_eq!(last.requests, 3);
        let p50 = last.p50_us.unwrap();
        assert!(p50.abs_diff(2000) < 100, "{p50}");
        assert_eq!(hour.points.iter().map(|p| p.requests).sum::<u64>(), 6);
        assert_eq!(hour.points[0].p50_us, None);

        let day = chart(MetricsWindow::Day, now, &minutes);
        assert_eq!(day.points.len(), 96);
        let last = day.points.last().unwrap();
        assert_eq!(last.at, at("2026-03-10T12:30:00Z"));
        assert_eq!((last.requests, last.p99_us), (4, Some(3000)));
        assert_eq!(day.points[94].at, at("2026-03-10T12:15:00Z"));
        assert_eq!(day.points[94].requests, 2);
        assert_eq!(day.points.iter().map(|p| p.requests).sum::<u64>(), 6);

        let week = chart(MetricsWindow::Week, now, &minutes);
        assert_eq!(week.points.len(), 84);
        assert_eq!(week.points.last().unwrap().at, at("2026-03-10T12:00:00Z"));
        assert_eq!(week.points.iter().map(|p| p.requests).sum::<u64>(), 13);
    }

    #[test]
    fn instances_take_the_highest_and_counts_add_up() {
        let mut a = minute("2026-03-10T12:00:00Z", 2, &[]);
        a.instances = 3;
        a.errors = 1;
        let mut b = minute("2026-03-10T12:00:00Z", 5, &[]);
        b.instances = 2;
        b.cold_starts = 1;
        a.merge(&b);
        assert_eq!(
            (a.requests, a.errors, a.cold_starts, a.instances),
            (7, 1, 1, 3)
        );
    }

    #[test]
    fn windows_are_named_in_lower_case() {
        assert_eq!(
            serde_json::to_string(&MetricsWindow::Week).unwrap(),
            "\"week\""
        );
        assert_eq!(
            serde_json::from_str::<MetricsWindow>("\"day\"").unwrap(),
            MetricsWindow::Day
        );
        assert_eq!(
            minute_of(at("2026-03-10T12:34:56.789Z")),
            at("2026-03-10T12:34:00Z")
        );
    }
}
