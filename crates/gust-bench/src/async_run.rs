//! The async part of the run, in two phases on a Gust of its own (fresh data dir):
//!
//! 1. Submit: closed-loop clients POST the hello function with `X-Gust-Async: true` while the
//!    server runs nothing (`GUST_ASYNC_WORKERS=0`), so the figure is what accepting costs: each
//!    202 means the execution is stored in SQLite.
//! 2. Drain: the same data dir is served again with workers on; the clock runs from the
//!    restart until the queue is empty. Everything accepted, divided by that time, is the drain
//!    rate: reading the queue back from the store, running each execution, writing its records.
//!
//! Keeping the phases apart measures each without the other taking the same two cores.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};
use tokio::time::{Instant, sleep};

use crate::child::ServerProcess;
use crate::gust::{self, Api};
use crate::load::{self, RequestShape, Stats};

/// Longest the bench waits for the queue to drain.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(300);

pub struct AsyncResult {
    pub conns: usize,
    /// The submit run (its window, latencies and errors).
    pub submit: Stats,
    /// Executions accepted over the whole submit run, warm-up included.
    pub accepted: u64,
    /// From the restart (listening) until the queue was empty.
    pub drained_in: Duration,
}

impl AsyncResult {
    pub fn drain_per_s(&self) -> f64 {
        self.accepted as f64 / self.drained_in.as_secs_f64()
    }
}

#[allow(clippy::too_many_arguments)]
pub async fn measure(
    bin: &Path,
    wasm: Bytes,
    tmp: &Path,
    servers: &mut Vec<ServerProcess>,
    conns: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<AsyncResult> {
    let data_dir = tmp.join("async-data");
    std::fs::create_dir(&data_dir)?;
    let log = tmp.join("gust.log");

    // Phase 1: accept only.
    let server = gust::spawn(bin, &data_dir, &log, &[("GUST_ASYNC_WORKERS", "0")]).await?;
    let addr = server.addr;
    servers.push(server);
    let api = Api::new(addr, &data_dir).await?;
    api.create_function("hello", "wasm").await?;
    let server = servers.last_mut().context("async gust server")?;
    api.deploy_and_wait("hello", wasm, "application/wasm", server)
        .await?;
    let submit = submit(addr, conns, warmup, duration).await?;
    let accepted = submit.requests_with_warmup;
    let backlog = api.async_backlog().await?;
    if backlog != accepted {
        eprintln!("warning: {accepted} executions were accepted; /metrics shows {backlog} queued");
    }
    let server = servers.pop().context("async gust server")?;
    server.shutdown().await?;

    // Phase 2: serve the same data dir with workers; time until the queue is empty.
    let restarted = Instant::now();
    let server = gust::spawn(bin, &data_dir, &log, &[]).await?;
    let addr = server.addr;
    servers.push(server);
    let api = Api::new(addr, &data_dir).await?;
    wait_drained(&[api], restarted).await?;
    Ok(AsyncResult {
        conns,
        submit,
        accepted,
        drained_in: restarted.elapsed(),
    })
}

/// Wait until no server of `apis` holds a queued or running async execution, for at most
/// [`DRAIN_TIMEOUT`] from `since`.
pub(crate) async fn wait_drained(apis: &[Api], since: Instant) -> anyhow::Result<()> {
    let deadline = since + DRAIN_TIMEOUT;
    loop {
        let mut backlog = 0;
        for api in apis {
            backlog += api.async_backlog().await?;
        }
        if backlog == 0 {
            return Ok(());
        }
        if Instant::now() >= deadline {
            anyhow::bail!("{backlog} async executions still queued after {DRAIN_TIMEOUT:?}");
        }
        sleep(Duration::from_millis(2)).await;
    }
}

pub(crate) async fn submit(
    addr: SocketAddr,
    conns: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<Stats> {
    let shape = RequestShape {
        method: Method::POST,
        path: gust::function_path("hello"),
        headers: vec![(
            HeaderName::from_static("x-gust-async"),
            HeaderValue::from_static("true"),
        )],
        body: Bytes::new(),
        host: None,
    };
    load::load(addr, &shape, conns, warmup, duration).await
}
