//! Many functions, many executions: N Wasm functions (one component), M executions recorded
//! through their HTTP endpoints, then how fast one function's executions list (first page,
//! filtered by status) answers, and how long a restart takes to serve again.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, ensure};
use bytes::Bytes;
use http::StatusCode;
use tokio::time::{Instant, sleep};

use crate::child::ServerProcess;
use crate::density::{median, name, set_up};
use crate::gust::{self, Api};

pub struct Options {
    pub functions: usize,
    pub executions: u64,
    pub connections: usize,
    /// List requests timed per status.
    pub samples: usize,
}

pub async fn run(
    bin: &Path,
    wasm: Bytes,
    tmp: &Path,
    options: &Options,
    servers: &mut Vec<ServerProcess>,
) -> anyhow::Result<()> {
    ensure!(options.functions > 0, "--functions needs a positive count");
    let data_dir = tmp.join("data");
    let log = tmp.join("gust.log");
    let server = gust::spawn(bin, &data_dir, &log, &[]).await?;
    let addr = server.addr;
    servers.push(server);
    let api = Api::new(addr, &data_dir).await?;

    eprintln!("records: deploying {} functions…", options.functions);
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let (api, wasm, functions) = (api.clone(), wasm.clone(), options.functions);
        workers.spawn(async move {
            for index in (worker..functions).step_by(8) {
                set_up(&api, index, wasm.clone()).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = workers.join_next().await {
        done??;
    }

    eprintln!(
        "records: recording {} executions over {} connections…",
        options.executions, options.connections
    );
    let began = Instant::now();
    let sent = Arc::new(AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..options.connections.max(1) {
        let (api, sent, total, functions) = (
            api.clone(),
            sent.clone(),
            options.executions,
            options.functions as u64,
        );
        workers.spawn(async move {
            loop {
                let n = sent.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    return anyhow::Ok(());
                }
                let status = api.call(&name((n % functions) as usize)).await?;
                ensure!(status == StatusCode::OK, "HTTP {status}");
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done??;
    }
    let fill = began.elapsed();
    // The recorder writes in batches: give it a moment to catch up.
    sleep(Duration::from_secs(3)).await;

    let mut timings = Vec::new();
    for status in ["completed", "failed"] {
        let mut took = Vec::new();
        let step = (options.functions / options.samples.max(1)).max(1);
        for index in (0..options.functions).step_by(step).take(options.samples) {
            let path = format!(
                "/api/v1/namespaces/default/functions/{}/executions?status={status}&limit=20",
                name(index)
            );
            let started = Instant::now();
            let (code, body) = api.get(&path).await?;
            took.push(started.elapsed().as_micros() as u64);
            ensure!(
                code == StatusCode::OK,
                "{path}: HTTP {code}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        let max = took.iter().copied().max().unwrap_or(0);
        timings.push((status, median(&mut took), max));
    }
    let db_bytes = ["gust.db", "gust.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(data_dir.join(f)).ok())
        .map(|m| m.len())
        .sum::<u64>();

    eprintln!("records: restarting…");
    if let Some(server) = servers.pop() {
        server.shutdown().await?;
    }
    let restarted = Instant::now();
    let server = gust::spawn(bin, &data_dir, &log, &[]).await?;
    let listening = restarted.elapsed();
    let addr = server.addr;
    servers.push(server);
    let api = Api::new(addr, &data_dir).await?;
    let status = api
        .call(&name(0))
        .await
        .context("the first call after restart")?;
    ensure!(
        status == StatusCode::OK,
        "first call after restart: HTTP {status}"
    );
    let serving = restarted.elapsed();

    println!(
        "{} functions, {} executions recorded in {:.1} s ({:.0}/s), database {:.0} MiB",
        options.functions,
        options.executions,
        fill.as_secs_f64(),
        options.executions as f64 / fill.as_secs_f64(),
        db_bytes as f64 / (1024.0 * 1024.0)
    );
    for (status, median, max) in timings {
        println!(
            "list one function's executions, status={status}, first page of 20: median {:.2} ms, max {:.2} ms",
            median as f64 / 1000.0,
            max as f64 / 1000.0
        );
    }
    println!(
        "restart: listening after {:.0} ms, first function answered after {:.0} ms",
        listening.as_secs_f64() * 1000.0,
        serving.as_secs_f64() * 1000.0
    );
    Ok(())
}
