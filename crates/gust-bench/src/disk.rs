//! Whether the disk stays bounded under load: a Wasm and a Python hello, loaded in turn at
//! 64 connections for the whole run, with the database's size (file and log) sampled every
//! window. Retention is the default (1,000 executions per function), so the size should rise
//! for the first minute, then stay flat.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use tokio::time::Instant;

use crate::child::ServerProcess;
use crate::gust::{self, Api};
use crate::load::{self, RequestShape};
use crate::process_run::{PY_HANDLER, package};

pub struct Options {
    pub duration: Duration,
    /// Each load window, after which the size is read.
    pub window: Duration,
    pub connections: usize,
}

fn database_bytes(data_dir: &Path) -> u64 {
    ["gust.db", "gust.db-wal"]
        .iter()
        .filter_map(|name| std::fs::metadata(data_dir.join(name)).ok())
        .map(|meta| meta.len())
        .sum()
}

pub async fn run(
    bin: &Path,
    wasm: bytes::Bytes,
    tmp: &Path,
    options: &Options,
    servers: &mut Vec<ServerProcess>,
) -> anyhow::Result<()> {
    let data_dir = tmp.join("data");
    let server = gust::spawn(bin, &data_dir, &tmp.join("gust.log"), &[]).await?;
    let addr = server.addr;
    servers.push(server);
    let api = Api::new(addr, &data_dir).await?;
    api.create_function("hello", "wasm").await?;
    let server = servers.last_mut().context("gust server")?;
    api.deploy_and_wait("hello", wasm, "application/wasm", server)
        .await?;
    api.create_function_with(&serde_json::json!({
        "name": "py", "runtime": "python3.11", "privacy": "public",
        "min_scale": 1, "max_scale": 2, "concurrency": 32,
    }))
    .await?;
    api.deploy_and_wait(
        "py",
        package("main.py", PY_HANDLER)?,
        "application/gzip",
        server,
    )
    .await?;

    println!("seconds  requests  database MiB");
    let began = Instant::now();
    let mut requests = 0u64;
    let mut turn = 0;
    while began.elapsed() < options.duration {
        let function = if turn % 2 == 0 { "hello" } else { "py" };
        turn += 1;
        let shape = RequestShape::get(&gust::function_path(function));
        let stats = load::load(
            addr,
            &shape,
            options.connections,
            Duration::ZERO,
            options.window,
        )
        .await?;
        requests += stats.requests;
        println!(
            "{:>7.0}  {:>8}  {:>11.1}",
            began.elapsed().as_secs_f64(),
            requests,
            database_bytes(&data_dir) as f64 / (1024.0 * 1024.0)
        );
    }
    Ok(())
}
