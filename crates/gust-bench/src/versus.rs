//! Two builds of Gust side by side: the same hello functions (Wasm, Python, Node) on a server
//! of each build, each against the raw server of its kind, window after window in one run.
//! A change to the invocation path is judged by the median of the rounds' ratios: this build
//! over the raw server, the baseline build over it, and this build over the baseline. Each
//! round rotates the order of the three windows, so neither build always follows the raw
//! server (whose window leaves the machine's caches in its own state). Each Gust window also
//! reads the CPU its server and workers used per request: steadier than the rate on a machine
//! shared with others.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use tokio::process::Command;

use crate::child::{self, ServerProcess};
use crate::cpu;
use crate::gust::{self, Api};
use crate::load::{self, RequestShape, Stats};
use crate::process_run;

pub struct Options {
    /// The build to compare against.
    pub baseline: std::path::PathBuf,
    pub rounds: usize,
    pub conns: usize,
    pub warmup: Duration,
    pub duration: Duration,
}

/// One kind of function: its raw server and the function's path on each Gust.
struct Kind {
    label: &'static str,
    raw: ServerProcess,
    function: &'static str,
}

pub async fn run(
    bin: &Path,
    wasm: Bytes,
    tmp: &Path,
    options: &Options,
    servers: &mut Vec<ServerProcess>,
) -> anyhow::Result<()> {
    let mut builds = Vec::new();
    for (label, build) in [
        ("this build", bin),
        ("baseline", options.baseline.as_path()),
    ] {
        let data_dir = tmp.join(format!("data-{}", builds.len()));
        std::fs::create_dir(&data_dir)?;
        let log = tmp.join(format!("gust-{}.log", builds.len()));
        let server = gust::spawn(build, &data_dir, &log, &[]).await?;
        let (addr, pid) = (server.addr, server.pid().context("gust's pid")?);
        servers.push(server);
        eprintln!(
            "{label} ({}) listening on {addr}; deploying",
            build.display()
        );
        let api = Api::new(addr, &data_dir).await?;
        deploy(&api, wasm.clone(), servers.last_mut().context("gust")?).await?;
        builds.push((addr, pid));
    }

    let python = process_run::real_python().await?;
    let mut raw_hyper = Command::new(std::env::current_exe()?);
    raw_hyper
        .arg("raw-server")
        .stdin(std::process::Stdio::piped());
    let mut asyncio = Command::new(&python);
    asyncio.args(["-I", "-S", "-c", process_run::RAW_ASYNCIO]);
    let mut node = Command::new("node");
    node.args(["--no-warnings", "-e", process_run::RAW_NODE, "--"]);
    let kinds = [
        Kind {
            label: "wasm vs raw hyper",
            raw: child::spawn("raw hyper", raw_hyper).await?,
            function: "hello",
        },
        Kind {
            label: "node20 vs raw node http",
            raw: child::spawn("raw node", node).await?,
            function: "js",
        },
        Kind {
            label: "python3.11 vs raw asyncio",
            raw: child::spawn("raw asyncio", asyncio).await?,
            function: "py",
        },
    ];

    let mut rows = Vec::new();
    for kind in &kinds {
        let mut rates: [Vec<f64>; 3] = Default::default();
        // CPU µs per request of this build's server tree, then the baseline's.
        let mut cpu: [Vec<f64>; 2] = Default::default();
        let path = gust::function_path(kind.function);
        let targets = [
            (kind.raw.addr, None, RequestShape::get("/")),
            (builds[0].0, Some(builds[0].1), RequestShape::get(&path)),
            (builds[1].0, Some(builds[1].1), RequestShape::get(&path)),
        ];
        for round in 0..options.rounds {
            for turn in 0..3 {
                let which = (round + turn) % 3;
                let (addr, pid, shape) = &targets[which];
                eprintln!(
                    "{}: round {}/{}, {}…",
                    kind.label,
                    round + 1,
                    options.rounds,
                    ["raw", "this build", "baseline"][which]
                );
                let before = pid.map(cpu::tree_cpu_us);
                let (conns, warmup, duration) = (options.conns, options.warmup, options.duration);
                let stats: Stats = load::load(*addr, shape, conns, warmup, duration).await?;
                if stats.errors > 0 {
                    anyhow::bail!("{}: {} request(s) failed", kind.label, stats.errors);
                }
                if let (Some(pid), Some(before)) = (pid, before) {
                    let used = cpu::tree_cpu_us(*pid).saturating_sub(before) as f64;
                    cpu[which - 1].push(used / stats.requests_with_warmup.max(1) as f64);
                }
                rates[which].push(stats.req_per_s());
            }
        }
        rows.push((kind.label, rates, cpu));
    }
    for kind in kinds {
        kind.raw.shutdown().await?;
    }

    println!(
        "{} connections, {} rounds of {:?} windows; medians of the rounds' ratios",
        options.conns, options.rounds, options.duration
    );
    println!(
        "{:<28} {:>10} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "",
        "raw req/s",
        "this",
        "baseline",
        "this/raw",
        "base/raw",
        "this/base",
        "µs this",
        "µs base"
    );
    for (label, [raw, this, base], [cpu_this, cpu_base]) in rows {
        let per_round =
            |a: &[f64], b: &[f64]| -> Vec<f64> { a.iter().zip(b).map(|(a, b)| a / b).collect() };
        println!(
            "{label:<28} {:>10.0} {:>10.0} {:>10.0} {:>9.3} {:>9.3} {:>9.3} {:>9.1} {:>9.1}",
            median(raw.clone()),
            median(this.clone()),
            median(base.clone()),
            median(per_round(&this, &raw)),
            median(per_round(&base, &raw)),
            median(per_round(&this, &base)),
            median(cpu_this),
            median(cpu_base),
        );
    }
    println!("(µs: CPU per request of the server and its workers, median of the windows)");
    Ok(())
}

/// The three hello functions, public, one worker each for the process ones (as the main run).
async fn deploy(api: &Api, wasm: Bytes, server: &mut ServerProcess) -> anyhow::Result<()> {
    api.create_function("hello", "wasm").await?;
    api.deploy_and_wait("hello", wasm, "application/wasm", server)
        .await?;
    for (name, runtime, file, code) in [
        ("py", "python3.11", "main.py", process_run::PY_HANDLER),
        ("js", "node20", "main.js", process_run::NODE_HANDLER),
    ] {
        api.create_function_with(&serde_json::json!({
            "name": name, "runtime": runtime, "privacy": "public",
            "min_scale": 1, "max_scale": 1, "concurrency": process_run::CONCURRENCY,
        }))
        .await?;
        api.deploy_and_wait(
            name,
            process_run::package(file, code)?,
            "application/gzip",
            server,
        )
        .await
        .with_context(|| format!("deploying the {runtime} hello"))?;
    }
    Ok(())
}

/// The median; of an even count the lower one (a claim errs on the modest side).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values
        .get(values.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or(f64::NAN)
}
