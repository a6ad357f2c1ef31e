//! Charts drawn on the server as inline SVG (no chart library, no script): the execution
//! waterfall, which shows where a request's time went, and the line charts of the metrics
//! page. Colours come from the stylesheet's classes, so both colour schemes apply.

use std::fmt::Write as _;

use gust_core::Execution;

use crate::render::micros;

/// One bar of the waterfall: a stretch of the execution's time.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub label: String,
    /// From the moment the execution was accepted, in microseconds.
    pub start_us: u64,
    pub len_us: u64,
    /// Colour class (`f1` … `f5`).
    pub class: &'static str,
    /// Indented under the bar before it (a part of the cold start).
    pub part: bool,
}

impl Segment {
    pub fn duration(&self) -> String {
        micros(self.len_us)
    }
}

/// Where an execution's time went, from what its record holds: the wait in the queue (from
/// acceptance to the start of the last attempt), the start of an instance (a cold start, with
/// its parts: sandbox, interpreter, loading the code; or, for Wasm, creating the instance),
/// then the handler until its response head, and the response body. Parts the record does not have are left out rather
/// than guessed.
pub fn waterfall(e: &Execution) -> Vec<Segment> {
    let mut out = Vec::new();
    let Some(started) = e.started_at else {
        return out;
    };
    let queue_us = (started - e.created_at)
        .num_microseconds()
        .unwrap_or(0)
        .max(0) as u64;
    if queue_us > 0 {
        out.push(Segment {
            label: if e.attempts > 1 {
                format!("Queue and earlier attempts ({} in all)", e.attempts)
            } else {
                "Queue wait".into()
            },
            start_us: 0,
            len_us: queue_us,
            class: "f3",
            part: false,
        });
    }
    let Some(duration) = e.duration_us else {
        return out;
    };
    let mut at = queue_us;
    let startup_us = e.startup.as_ref().map_or(0, |s| s.total_us).min(duration);
    if let Some(startup) = &e.startup
        && startup_us > 0
    {
        let label = if e.cold_start {
            "Cold start"
        } else {
            "Instance creation"
        };
        out.push(Segment {
            label: label.into(),
            start_us: at,
            len_us: startup_us,
            class: "f5",
            part: false,
        });
        let mut part_at = at;
        for (name, value) in [
            ("Sandbox", startup.sandbox_us),
            ("Interpreter", startup.interpreter_us),
            ("Code load", startup.import_us),
            ("Instantiate", startup.instantiate_us),
        ] {
            if let Some(us) = value.filter(|us| *us > 0) {
                let us = us.min(startup_us);
                out.push(Segment {
                    label: name.into(),
                    start_us: part_at,
                    len_us: us,
                    class: "f5",
                    part: true,
                });
                part_at += us;
            }
        }
        at += startup_us;
    }
    // The handler runs until it sets its response head; the rest is its body being sent.
    // A record without the head's time keeps both in one bar.
    let rest_us = duration - startup_us;
    match e
        .head_us
        .map(|head| head.clamp(startup_us, duration) - startup_us)
    {
        Some(handler_us) => {
            out.push(Segment {
                label: "Handler".into(),
                start_us: at,
                len_us: handler_us,
                class: "f1",
                part: false,
            });
            out.push(Segment {
                label: "Response body".into(),
                start_us: at + handler_us,
                len_us: rest_us - handler_us,
                class: "f2",
                part: false,
            });
        }
        None => out.push(Segment {
            label: "Handler and response".into(),
            start_us: at,
            len_us: rest_us,
            class: "f1",
            part: false,
        }),
    }
    out
}

/// The waterfall as an SVG: one row per segment, bars on a shared time axis.
pub fn waterfall_svg(segments: &[Segment]) -> String {
    let total = segments
        .iter()
        .map(|s| s.start_us + s.len_us)
        .max()
        .unwrap_or(0)
        .max(1);
    let (label_w, bar_w, row_h) = (190.0, 560.0, 26.0);
    let width = label_w + bar_w + 90.0;
    let height = row_h * segments.len() as f64 + 30.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="waterfall" viewBox="0 0 {width} {height}" role="img" aria-labelledby="wf-title"><title id="wf-title">Where the time went, {} in all</title>"#,
        micros(total)
    );
    for (i, s) in segments.iter().enumerate() {
        let y = row_h * i as f64 + 4.0;
        let x = label_w + bar_w * s.start_us as f64 / total as f64;
        let w = (bar_w * s.len_us as f64 / total as f64).max(1.5);
        let indent = if s.part { 16.0 } else { 0.0 };
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}">{}</text><rect class="{}" x="{x:.1}" y="{y}" width="{w:.1}" height="{}" rx="2"{}><title>{}: {}</title></rect><text x="{:.1}" y="{}">{}</text>"#,
            indent,
            y + 15.0,
            escape(&s.label),
            s.class,
            row_h - 8.0,
            if s.part { r#" opacity="0.6""# } else { "" },
            escape(&s.label),
            s.duration(),
            x + w + 6.0,
            y + 15.0,
            s.duration()
        );
    }
    let axis_y = row_h * segments.len() as f64 + 8.0;
    let _ = write!(
        svg,
        r#"<line class="axis" x1="{label_w}" x2="{}" y1="{axis_y}" y2="{axis_y}"/><text x="{label_w}" y="{}">0</text><text x="{}" y="{}" text-anchor="end">{}</text></svg>"#,
        label_w + bar_w,
        axis_y + 16.0,
        label_w + bar_w,
        axis_y + 16.0,
        micros(total)
    );
    svg
}

/// One series of a line chart.
pub struct Series {
    pub label: &'static str,
    pub class: &'static str,
    pub points: Vec<Option<f64>>,
}

/// A line chart of `series` over `labels` (the x axis, first and last shown), values from 0
/// up; `unit` formats the top of the axis. Missing points break the line.
pub fn line_chart(
    title: &str,
    x_labels: (&str, &str),
    series: &[Series],
    unit: fn(f64) -> String,
) -> String {
    let (w, h, left, bottom, top) = (640.0, 180.0, 56.0, 24.0, 8.0);
    let n = series.iter().map(|s| s.points.len()).max().unwrap_or(0);
    let max = series
        .iter()
        .flat_map(|s| s.points.iter().flatten())
        .fold(0.0f64, |a, b| a.max(*b));
    let max = nice_ceiling(max * 1.05);
    let plot_w = w - left - 8.0;
    let plot_h = h - bottom - top;
    let x = |i: usize| left + plot_w * i as f64 / (n.max(2) - 1) as f64;
    let y = |v: f64| top + plot_h * (1.0 - v / max);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="{}"><title>{}</title>"#,
        escape(title),
        escape(title)
    );
    for frac in [0.0, 0.5, 1.0] {
        let v = max * frac;
        let _ = write!(
            svg,
            r#"<line class="grid-line" x1="{left}" x2="{}" y1="{:.1}" y2="{:.1}"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            w - 8.0,
            y(v),
            y(v),
            left - 4.0,
            y(v) + 4.0,
            escape(&unit(v))
        );
    }
    for s in series {
        let mut d = String::new();
        let mut pen_up = true;
        for (i, p) in s.points.iter().enumerate() {
            match p {
                Some(v) => {
                    let _ = write!(
                        d,
                        "{}{:.1},{:.1} ",
                        if pen_up { "M" } else { "L" },
                        x(i),
                        y(*v)
                    );
                    pen_up = false;
                }
                None => pen_up = true,
            }
        }
        if !d.is_empty() {
            let _ = write!(
                svg,
                r#"<path class="line {}" d="{}"><title>{}</title></path>"#,
                s.class.replace('f', "l"),
                d.trim_end(),
                escape(s.label)
            );
        }
    }
    let _ = write!(
        svg,
        r#"<line class="axis" x1="{left}" x2="{}" y1="{:.1}" y2="{:.1}"/><text x="{left}" y="{}">{}</text><text x="{}" y="{}" text-anchor="end">{}</text></svg>"#,
        w - 8.0,
        top + plot_h,
        top + plot_h,
        h - 6.0,
        escape(x_labels.0),
        w - 8.0,
        h - 6.0,
        escape(x_labels.1)
    );
    svg
}

/// The smallest 1, 2 or 5 times a power of ten at or above `v` (1 for nothing), so the axis
/// reads in round numbers.
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let power = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * power)
}

/// Text for SVG: escaped as HTML would be.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use gust_core::{ExecutionRequest, ExecutionStatus, ExecutionTrigger, Startup};

    fn execution(queue_ms: i64, duration_us: u64, startup: Option<Startup>) -> Execution {
        let created = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let started = created + chrono::Duration::milliseconds(queue_ms);
        let mut e = Execution::started(
            "e1".into(),
            "ns",
            "f",
            "d",
            ExecutionTrigger::Api,
            ExecutionRequest::default(),
            started,
        )
        .ended(
            ExecutionStatus::Completed,
            std::time::Duration::from_micros(duration_us),
            started,
        );
        e.created_at = created;
        e.cold_start = startup.is_some();
        e.startup = startup;
        e
    }

    #[test]
    fn a_cold_process_run_shows_queue_start_parts_and_handler() {
        let e = execution(
            5,
            20_000,
            Some(Startup {
                total_us: 8_000,
                sandbox_us: Some(3_000),
                interpreter_us: Some(1_000),
                import_us: Some(4_000),
                instantiate_us: None,
            }),
        );
        let mut e = e;
        // The head was set 15 ms into the run: 8 ms of cold start, 7 of handler.
        e.head_us = Some(15_000);
        let w = waterfall(&e);
        let labels: Vec<_> = w.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "Queue wait",
                "Cold start",
                "Sandbox",
                "Interpreter",
                "Code load",
                "Handler",
                "Response body"
            ]
        );
        assert_eq!((w[0].start_us, w[0].len_us), (0, 5_000));
        assert_eq!((w[1].start_us, w[1].len_us), (5_000, 8_000));
        assert_eq!(w[4].start_us, 5_000 + 3_000 + 1_000);
        assert_eq!((w[5].start_us, w[5].len_us), (13_000, 7_000));
        assert_eq!((w[6].start_us, w[6].len_us), (20_000, 5_000));
        let svg = waterfall_svg(&w);
        assert!(
            svg.contains("Code load") && svg.contains("25.0 ms"),
            "{svg}"
        );
    }

    #[test]
    fn a_warm_run_that_never_queued_is_one_bar() {
        let w = waterfall(&execution(0, 700, None));
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].len_us, 700);
    }

    #[test]
    fn a_head_time_outside_the_run_is_kept_within_it() {
        let mut e = execution(0, 700, None);
        e.head_us = Some(900);
        let w = waterfall(&e);
        assert_eq!((w[0].len_us, w[1].len_us), (700, 0));
    }

    #[test]
    fn a_queued_execution_has_no_bars() {
        let mut e = execution(0, 1, None);
        e.started_at = None;
        assert!(waterfall(&e).is_empty());
    }

    #[test]
    fn axes_end_at_round_numbers() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(1.05), 2.0);
        assert_eq!(nice_ceiling(24_780.0), 50_000.0);
        assert_eq!(nice_ceiling(7.0), 10.0);
    }

    #[test]
    fn lines_break_where_points_are_missing() {
        let svg = line_chart(
            "p95",
            ("a", "b"),
            &[Series {
                label: "p95",
                class: "f1",
                points: vec![Some(1.0), None, Some(3.0)],
            }],
            |v| format!("{v:.0}"),
        );
        assert_eq!(svg.matches('M').count(), 2, "{svg}");
    }
}
