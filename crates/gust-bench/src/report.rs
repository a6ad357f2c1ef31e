//! Presenting results: the text table and the `--json` object. Every
//! non-baseline target is compared with the baseline (the first target) at
//! the same connection count.

use std::time::Duration;

use serde_json::{Value, json};

use crate::load::Stats;

/// Something to measure: a server and the path that answers the hello body.
pub struct Target {
    /// Row label, e.g. "gust (wasm)".
    pub name: String,
    /// Short name for ratio rows, e.g. "gust" in "ratio gust/raw".
    pub short: String,
    pub url_path: String,
    pub addr: std::net::SocketAddr,
}

pub struct Run {
    pub target: usize,
    pub conns: usize,
    pub stats: Stats,
}

pub struct Report {
    /// `targets[0]` is the baseline.
    pub targets: Vec<Target>,
    pub runs: Vec<Run>,
    pub warmup: Duration,
    pub duration: Duration,
    pub deploy_to_first_response: Option<Duration>,
    pub async_result: Option<crate::async_run::AsyncResult>,
    pub dialect_results: Vec<crate::dialect_run::DialectResult>,
    pub process_result: Option<crate::process_run::ProcessResult>,
}

impl Report {
    pub fn errors(&self) -> u64 {
        self.runs.iter().map(|r| r.stats.errors).sum::<u64>()
            + self.async_result.as_ref().map_or(0, |a| a.submit.errors)
            + self
                .dialect_results
                .iter()
                .map(crate::dialect_run::DialectResult::errors)
                .sum::<u64>()
            + self.process_result.as_ref().map_or(0, |p| {
                p.warm
                    .iter()
                    .flat_map(|(_, s)| s)
                    .map(|s| s.errors)
                    .sum::<u64>()
            })
    }

    /// The drain rate over Gust's synchronous rate at the same connection count.
    fn drain_ratio(&self) -> Option<f64> {
        let a = self.async_result.as_ref()?;
        let sync = self
            .runs
            .iter()
            .find(|r| r.target == 1 && r.conns == a.conns)?;
        let rate = sync.stats.req_per_s();
        (rate > 0.0).then(|| a.drain_per_s() / rate)
    }

    fn baseline_run(&self, conns: usize) -> Option<&Run> {
        self.runs.iter().find(|r| r.target == 0 && r.conns == conns)
    }
}

/// Gust minus baseline, in µs, when both have latencies.
fn diff(a: Option<u32>, b: Option<u32>) -> Option<i64> {
    Some(i64::from(a?) - i64::from(b?))
}

fn ratio(run: &Run, base: &Run) -> Option<f64> {
    let b = base.stats.req_per_s();
    (b > 0.0).then(|| run.stats.req_per_s() / b)
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

pub fn print_table(report: &Report) {
    println!(
        "{:<18} {:>5} {:>10} {:>9} {:>9} {:>7}",
        "target", "conns", "req/s", "p50 µs", "p99 µs", "errors"
    );
    let base_short = &report.targets[0].short;
    for run in &report.runs {
        let t = &report.targets[run.target];
        let s = &run.stats;
        println!(
            "{:<18} {:>5} {:>10.0} {:>9} {:>9} {:>7}",
            t.name,
            run.conns,
            s.req_per_s(),
            opt(s.p50_us()),
            opt(s.p99_us()),
            s.errors
        );
        if run.target == 0 {
            continue;
        }
        if let Some(base) = report.baseline_run(run.conns) {
            let signed = |d: Option<i64>| d.map_or_else(|| "-".to_owned(), |d| format!("{d:+}"));
            println!(
                "{:<18} {:>5} {:>10} {:>9} {:>9}",
                format!("ratio {}/{base_short}", t.short),
                run.conns,
                ratio(run, base).map_or_else(|| "-".to_owned(), |r| format!("{r:.2}")),
                signed(diff(s.p50_us(), base.stats.p50_us())),
                signed(diff(s.p99_us(), base.stats.p99_us())),
            );
        }
    }
    println!(
        "(ratio rows: req/s ratio; p50/p99 columns are the latency difference in µs; \
         warm-up {:?}, window {:?})",
        report.warmup, report.duration
    );
    if let Some(d) = report.deploy_to_first_response {
        println!("deploy → first response: {:.1} ms", d.as_secs_f64() * 1e3);
    }
    if let Some(a) = &report.async_result {
        println!(
            "async submit, {} conns: {:.0} accepted/s (stored before the 202), p50 {} µs, p99 {} µs",
            a.conns,
            a.submit.req_per_s(),
            opt(a.submit.p50_us()),
            opt(a.submit.p99_us())
        );
        println!(
            "async drain: {} executions in {:.2} s = {:.0}/s end to end; {} × the synchronous rate",
            a.accepted,
            a.drained_in.as_secs_f64(),
            a.drain_per_s(),
            report
                .drain_ratio()
                .map_or_else(|| "-".to_owned(), |r| format!("{r:.2}"))
        );
    }
    for d in &report.dialect_results {
        d.print();
    }
    if let Some(p) = &report.process_result {
        p.print();
    }
}

/// Error details go to stderr in both output modes.
pub fn print_errors(report: &Report) {
    if let Some(a) = report.async_result.as_ref().filter(|a| a.submit.errors > 0) {
        eprintln!("errors: async submits: {} total", a.submit.errors);
        for (kind, n) in &a.submit.error_kinds {
            eprintln!("  {n} × {kind}");
        }
    }
    for d in &report.dialect_results {
        let rounds = d.native.iter().chain(&d.translated);
        for stats in rounds.filter(|s| s.errors > 0) {
            eprintln!(
                "errors: sync executions via the API: {} total",
                stats.errors
            );
            for (kind, n) in &stats.error_kinds {
                eprintln!("  {n} × {kind}");
            }
        }
    }
    for run in report.runs.iter().filter(|r| r.stats.errors > 0) {
        let name = &report.targets[run.target].name;
        eprintln!(
            "errors: {name}, {} conns: {} total",
            run.conns, run.stats.errors
        );
        for (kind, n) in &run.stats.error_kinds {
            eprintln!("  {n} × {kind}");
        }
    }
}

pub fn to_json(report: &Report) -> Value {
    let runs: Vec<Value> = report
        .runs
        .iter()
        .map(|r| {
            let s = &r.stats;
            json!({
                "target": report.targets[r.target].name,
                "conns": r.conns,
                "requests": s.requests,
                "errors": s.errors,
                "error_kinds": s.error_kinds,
                "req_per_s": s.req_per_s(),
                "p50_us": s.p50_us(),
                "p99_us": s.p99_us(),
            })
        })
        .collect();
    let ratios: Vec<Value> = report
        .runs
        .iter()
        .filter(|r| r.target != 0)
        .filter_map(|r| {
            let base = report.baseline_run(r.conns)?;
            Some(json!({
                "target": report.targets[r.target].name,
                "baseline": report.targets[0].name,
                "conns": r.conns,
                "req_per_s_ratio": ratio(r, base),
                "p50_diff_us": diff(r.stats.p50_us(), base.stats.p50_us()),
                "p99_diff_us": diff(r.stats.p99_us(), base.stats.p99_us()),
            }))
        })
        .collect();
    json!({
        "warmup_s": report.warmup.as_secs_f64(),
        "duration_s": report.duration.as_secs_f64(),
        "baseline": report.targets[0].name,
        "runs": runs,
        "ratios": ratios,
        "deploy_to_first_response_ms":
            report.deploy_to_first_response.map(|d| d.as_secs_f64() * 1e3),
        "async": report.async_result.as_ref().map(|a| json!({
            "conns": a.conns,
            "accepted_per_s": a.submit.req_per_s(),
            "submit_p50_us": a.submit.p50_us(),
            "submit_p99_us": a.submit.p99_us(),
            "accepted": a.accepted,
            "drained_in_s": a.drained_in.as_secs_f64(),
            "drain_per_s": a.drain_per_s(),
            "drain_over_sync_ratio": report.drain_ratio(),
        })),
        "dialects": report.dialect_results.iter().map(|d| d.to_json()).collect::<Vec<_>>(),
        "process": report.process_result.as_ref().map(|p| p.to_json()),
        "errors": report.errors(),
    })
}
