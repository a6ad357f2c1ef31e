//! `gust fn metrics FN --window hour|day|week`: a function's chart as a table, a row per step
//! (requests, errors, cold starts, duration percentiles, instances).

use clap::{Args, ValueEnum};
use gust_core::metrics::{MetricsPoint, MetricsWindow};

use crate::context::GlobalArgs;
use crate::output;

#[derive(Args, Debug)]
pub struct MetricsArgs {
    /// The function.
    function: String,
    /// `hour` (a row per minute), `day` (per 15 minutes) or `week` (per 2 hours).
    #[arg(long, value_enum, default_value_t = Window::Hour)]
    window: Window,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Window {
    Hour,
    Day,
    Week,
}

impl From<Window> for MetricsWindow {
    fn from(w: Window) -> Self {
        match w {
            Window::Hour => MetricsWindow::Hour,
            Window::Day => MetricsWindow::Day,
            Window::Week => MetricsWindow::Week,
        }
    }
}

pub async fn run(args: MetricsArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let chart = global
        .client()
        .function_metrics(&global.namespace, &args.function, args.window.into())
        .await?;
    if global.json {
        return output::json(&chart);
    }
    let rows = chart.points.iter().map(row).collect();
    output::table(
        &[
            "AT (UTC)",
            "REQUESTS",
            "ERRORS",
            "COLD STARTS",
            "P50",
            "P95",
            "P99",
            "INSTANCES",
        ],
        rows,
    );
    Ok(())
}

fn row(p: &MetricsPoint) -> Vec<String> {
    vec![
        p.at.format("%Y-%m-%d %H:%M").to_string(),
        p.requests.to_string(),
        p.errors.to_string(),
        p.cold_starts.to_string(),
        duration(p.p50_us),
        duration(p.p95_us),
        duration(p.p99_us),
        p.instances.to_string(),
    ]
}

/// `850µs`, `12.3ms`, `4.56s`; `-` when there were no requests.
fn duration(us: Option<u64>) -> String {
    match us {
        None => "-".into(),
        Some(us) if us < 1_000 => format!("{us}µs"),
        Some(us) if us < 1_000_000 => format!("{:.1}ms", us as f64 / 1e3),
        Some(us) => format!("{:.2}s", us as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_the_unit_that_fits() {
        assert_eq!(duration(None), "-");
        assert_eq!(duration(Some(850)), "850µs");
        assert_eq!(duration(Some(12_345)), "12.3ms");
        assert_eq!(duration(Some(4_560_000)), "4.56s");
    }
}
