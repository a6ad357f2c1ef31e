//! The process runtimes alone (no HTTP, no server): cold starts and protocol round trips
//! through a pool. End-to-end figures through `gust serve`, against raw servers in the same
//! language, come from `gust-bench`.
//!
//! ```text
//! CARGO_TARGET_DIR=target/proc cargo run --release -p gust-runtime-process --example bench_pool
//! ```
//!
//! - Cold start: a new pool per request (no warm worker for the function), time from
//!   `invoke` to response; with stem cells (the default) and without (`GUST_STEM_CELLS=0`
//!   path, a fresh sandbox and interpreter). p50/p99 and the median breakdown.
//! - Round trips: sequential and concurrent invocations of one warm worker
//!   (`BENCH_ROUND_TRIPS`, default 5000).
//!
//! This binary is also its own sandbox spawner (first line of `main`).

use std::path::Path;
use std::time::{Duration, Instant};

use gust_core::RuntimeId;
use gust_runtime_process::{
    BuildSpec, PoolSpec, ProcessConfig, ProcessRuntime, Request, SpawnerCommand,
};

const PY_HELLO: &str = "def handle(event, context):\n    return {'statusCode': 200, 'headers': {'content-type': 'text/plain'}, 'body': 'hello'}\n";
const NODE_HELLO: &str = "exports.handle = () => ({ statusCode: 200, headers: { 'content-type': 'text/plain' }, body: 'hello' });\n";
fn main() -> anyhow::Result<()> {
    gust_runtime_process::run_spawner_if_requested();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn start(stem_cells: usize, data: &Path) -> anyhow::Result<ProcessRuntime> {
    let mut config = ProcessConfig::new(data);
    config.spawner = Some(SpawnerCommand::current_exe()?);
    config.stem_cells = stem_cells;
    Ok(ProcessRuntime::start(config).await?)
}

async fn run() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let runtime = start(2, data.path()).await?;
    let python = function(&runtime, RuntimeId::Python311, "main.py", PY_HELLO).await?;
    let node = function(&runtime, RuntimeId::Node20, "main.js", NODE_HELLO).await?;
    let rounds = env_num("BENCH_COLD_ROUNDS", 40) as usize;

    if rounds > 0 {
        println!("== cold start (no warm worker), {rounds} rounds each ==");
    }
    for (name, runtime_id, dir) in [
        ("python3.11", RuntimeId::Python311, &python),
        ("node20", RuntimeId::Node20, &node),
    ] {
        cold(&runtime, runtime_id, dir.path(), rounds, name, true).await?;
    }
    if rounds > 0 {
        let plain = start(0, data.path()).await?;
        for (name, runtime_id, dir) in [
            ("python3.11", RuntimeId::Python311, &python),
            ("node20", RuntimeId::Node20, &node),
        ] {
            cold(&plain, runtime_id, dir.path(), rounds / 2, name, false).await?;
        }
    }

    let round_trips = env_num("BENCH_ROUND_TRIPS", 5000) as usize;
    if round_trips > 0 {
        println!("\n== protocol round trips through a pool (no HTTP), one warm worker ==");
        for (name, runtime_id, dir) in [
            ("python3.11", RuntimeId::Python311, &python),
            ("node20", RuntimeId::Node20, &node),
        ] {
            round_trip(&runtime, runtime_id, dir.path(), round_trips, name).await?;
        }
    }

    Ok(())
}

async fn function(
    runtime: &ProcessRuntime,
    id: RuntimeId,
    file: &str,
    source: &str,
) -> anyhow::Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join(file), source)?;
    let spec = BuildSpec {
        runtime: id,
        code_dir: dir.path().to_path_buf(),
        handler: "main.handle".into(),
        contract: gust_core::HandlerContract::Gust,
        entrypoint: None,
        env: vec![],
    };
    runtime.build(&spec, &mut |_| {}).await?;
    Ok(dir)
}

fn pool_spec(runtime: RuntimeId, code: &Path, max_scale: u32, concurrency: u32) -> PoolSpec {
    PoolSpec {
        function_id: "bench".into(),
        function_name: "bench".into(),
        deployment_id: "bench".into(),
        runtime,
        code_dir: code.to_path_buf(),
        handler: "main.handle".into(),
        contract: gust_core::HandlerContract::Gust,
        entrypoint: None,
        env: vec![],
        memory_mb: 256,
        cpu_millis: 0,
        timeout: Duration::from_secs(30),
        min_scale: 0,
        max_scale,
        concurrency,
        network: true,
        args: None,
    }
}

async fn cold(
    runtime: &ProcessRuntime,
    id: RuntimeId,
    code: &Path,
    rounds: usize,
    name: &str,
    cells: bool,
) -> anyhow::Result<()> {
    let mut totals = Vec::new();
    let mut parts = Vec::new();
    if rounds == 0 {
        return Ok(());
    }
    for _ in 0..rounds {
        if cells {
            // Steady state: the previous round's cell has been replaced.
            let deadline = Instant::now() + Duration::from_secs(5);
            while runtime.stem_cells_ready(id) < 2 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        let pool = runtime.pool(pool_spec(id, code, 1, 1));
        let started = Instant::now();
        let response = pool.invoke(request()).await?;
        totals.push(started.elapsed().as_micros() as u64);
        let cold = response
            .cold_start
            .expect("a new pool's first request is cold");
        assert_eq!(cold.stem_cell, cells);
        parts.push((cold.sandbox_us, cold.interpreter_us, cold.import_us));
        drop(pool);
    }
    totals.sort_unstable();
    let median = |mut v: Vec<u64>| {
        v.sort_unstable();
        v[v.len() / 2]
    };
    println!(
        "{name:<11} {:<15} p50 {:>6} µs  p99 {:>6} µs   median: sandbox {} µs, interpreter {} µs, import {} µs",
        if cells { "stem cell" } else { "fresh sandbox" },
        totals[totals.len() / 2],
        totals[(totals.len() * 99 / 100).min(totals.len() - 1)],
        median(parts.iter().map(|p| p.0).collect()),
        median(parts.iter().map(|p| p.1).collect()),
        median(parts.iter().map(|p| p.2).collect()),
    );
    Ok(())
}

/// Sequential invocations (one in flight: the protocol's latency), then 16 in flight
/// (its throughput with pipelining), straight through `FunctionPool::invoke`.
async fn round_trip(
    runtime: &ProcessRuntime,
    id: RuntimeId,
    code: &Path,
    count: usize,
    name: &str,
) -> anyhow::Result<()> {
    let pool = runtime.pool(pool_spec(id, code, 1, 16));
    pool.invoke(request()).await?;
    let mut latencies = Vec::with_capacity(count);
    let started = Instant::now();
    for _ in 0..count {
        let sent = Instant::now();
        pool.invoke(request()).await?;
        latencies.push(sent.elapsed().as_micros() as u64);
    }
    let sequential = count as f64 / started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let started = Instant::now();
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                for _ in 0..count / 16 {
                    let _ = pool.invoke(request()).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await?;
    }
    let pipelined = (count / 16 * 16) as f64 / started.elapsed().as_secs_f64();
    println!(
        "{name:<11} sequential p50 {:>4} µs  p99 {:>5} µs  ({sequential:.0}/s);  16 in flight: {pipelined:.0}/s",
        latencies[count / 2],
        latencies[count * 99 / 100],
    );
    pool.drain().await;
    Ok(())
}

fn request() -> Request {
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::HOST, http::HeaderValue::from_static("bench"));
    Request {
        method: http::Method::GET,
        path: "/".into(),
        headers,
        execution_id: "bench".into(),
        ..Request::default()
    }
}
