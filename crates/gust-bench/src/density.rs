//! How much an idle function costs. N Wasm functions are deployed and each is invoked once;
//! once they have been idle past the server's unload time, the bench reports the RSS the
//! server gained per function, and how much slower a function's first request after the
//! unload is than its next one. Two cases, each on a server of its own: every function
//! deployed with the same component, and every function with distinct bytes (the component
//! with a custom section naming the function, so each has its own sha256 and artifact).

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, ensure};
use bytes::Bytes;
use http::StatusCode;
use tokio::time::{Instant, sleep};

use crate::child::ServerProcess;
use crate::gust::{self, Api};

pub struct Options {
    pub functions: usize,
    /// The server's `GUST_WASM_UNLOAD_AFTER_SECS`.
    pub unload_after: Duration,
    /// Functions whose first request after the unload is timed.
    pub samples: usize,
    /// Deployments in flight at once while setting up.
    pub concurrency: usize,
}

#[derive(Clone, Copy, Debug)]
enum Case {
    SameComponent,
    DistinctComponents,
}

impl Case {
    fn label(self) -> &'static str {
        match self {
            Case::SameComponent => "one component",
            Case::DistinctComponents => "distinct components",
        }
    }
}

/// Resident memory of a process, in KiB, from `/proc/<pid>/status`.
#[derive(Clone, Copy, Debug, Default)]
struct Rss {
    total: u64,
    anon: u64,
    file: u64,
}

fn rss(pid: u32) -> anyhow::Result<Rss> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    Ok(Rss {
        total: field("VmRSS:"),
        anon: field("RssAnon:"),
        file: field("RssFile:"),
    })
}

/// The lowest reading over `window`: freed memory goes back to the kernel a little late.
async fn settled_rss(pid: u32, window: Duration) -> anyhow::Result<Rss> {
    let end = Instant::now() + window;
    let mut lowest = rss(pid)?;
    while Instant::now() < end {
        sleep(Duration::from_millis(250)).await;
        let now = rss(pid)?;
        if now.total < lowest.total {
            lowest = now;
        }
    }
    Ok(lowest)
}

/// `wasm` with a custom section appended that names `index`: other bytes, the same code.
fn distinct(wasm: &[u8], index: usize) -> Bytes {
    fn leb128(mut value: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let name = b"gust-bench-variant";
    let payload = index.to_string();
    let mut content = Vec::new();
    leb128(name.len(), &mut content);
    content.extend_from_slice(name);
    content.extend_from_slice(payload.as_bytes());
    let mut out = wasm.to_vec();
    out.push(0);
    leb128(content.len(), &mut out);
    out.extend_from_slice(&content);
    out.into()
}

pub(crate) fn name(index: usize) -> String {
    format!("d{index}")
}

/// Creates, deploys and calls function `index` until it answers 200.
pub(crate) async fn set_up(api: &Api, index: usize, code: Bytes) -> anyhow::Result<()> {
    let name = name(index);
    api.create_function(&name, "wasm").await?;
    api.deploy(&name, code, "application/wasm").await?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let status = api.call(&name).await?;
        if status == StatusCode::OK {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "{name} did not answer 200 in time (last HTTP {status})"
        );
        sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) fn median(values: &mut [u64]) -> u64 {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or(0)
}

async fn timed_call(api: &Api, name: &str) -> anyhow::Result<u64> {
    let started = Instant::now();
    let status = api.call(name).await?;
    ensure!(status == StatusCode::OK, "{name}: HTTP {status}");
    Ok(started.elapsed().as_micros() as u64)
}

async fn measure_case(
    bin: &Path,
    wasm: &Bytes,
    tmp: &Path,
    options: &Options,
    case: Case,
    servers: &mut Vec<ServerProcess>,
) -> anyhow::Result<()> {
    let dir = tmp.join(format!("density-{case:?}"));
    std::fs::create_dir(&dir)?;
    let data_dir = dir.join("data");
    let unload = options.unload_after.as_secs().max(1).to_string();
    let server = gust::spawn(
        bin,
        &data_dir,
        &dir.join("gust.log"),
        &[("GUST_WASM_UNLOAD_AFTER_SECS", unload.as_str())],
    )
    .await?;
    let pid = server.pid().context("the server has no pid")?;
    let addr = server.addr;
    servers.push(server);
    let api = Api::new(addr, &data_dir).await?;
    let start = settled_rss(pid, Duration::from_secs(2)).await?;

    eprintln!(
        "density ({}): deploying and calling {} functions…",
        case.label(),
        options.functions
    );
    let began = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..options.concurrency.max(1) {
        let api = api.clone();
        let wasm = wasm.clone();
        let (functions, stride) = (options.functions, options.concurrency.max(1));
        workers.spawn(async move {
            for index in (worker..functions).step_by(stride) {
                let code = match case {
                    Case::SameComponent => wasm.clone(),
                    Case::DistinctComponents => distinct(&wasm, index),
                };
                set_up(&api, index, code).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = workers.join_next().await {
        done??;
    }
    let set_up_took = began.elapsed();
    let loaded = settled_rss(pid, Duration::from_secs(2)).await?;

    // Idle past the unload time, plus the unloader's own period (a quarter of it) and slack.
    let wait = options.unload_after + options.unload_after / 4 + Duration::from_secs(2);
    eprintln!("density ({}): idle for {wait:?}…", case.label());
    sleep(wait).await;
    let idle = settled_rss(pid, Duration::from_secs(3)).await?;
    let components_loaded = api.metric("gust_wasm_components_loaded").await?;

    let step = (options.functions / options.samples.max(1)).max(1);
    let mut first = Vec::new();
    let mut next = Vec::new();
    for index in (0..options.functions).step_by(step) {
        let name = name(index);
        first.push(timed_call(&api, &name).await?);
        next.push(timed_call(&api, &name).await?);
    }
    let (first, next) = (median(&mut first), median(&mut next));

    let per = |after: Rss, field: fn(Rss) -> u64| {
        (field(after) as f64 - field(start) as f64) / options.functions as f64
    };
    println!(
        "{:<20} {:>6} fns  set up {:>6.1} s  RSS start {:>7} KiB  loaded {:>7} KiB ({:>6.1} KiB/fn)  idle {:>7} KiB ({:>6.1} KiB/fn: anon {:>6.1}, file {:>6.1})  components loaded when idle: {}  first request after unload {:>6} µs, next {:>6} µs (+{} µs)",
        case.label(),
        options.functions,
        set_up_took.as_secs_f64(),
        start.total,
        loaded.total,
        per(loaded, |r| r.total),
        idle.total,
        per(idle, |r| r.total),
        per(idle, |r| r.anon),
        per(idle, |r| r.file),
        components_loaded.map_or("n/a".to_string(), |n| n.to_string()),
        first,
        next,
        first.saturating_sub(next),
    );
    if let Some(server) = servers.pop() {
        server.shutdown().await?;
    }
    Ok(())
}

/// Both cases, one after the other, each on a fresh server and data dir under `tmp`.
pub async fn run(
    bin: &Path,
    wasm: Bytes,
    tmp: &Path,
    options: &Options,
    servers: &mut Vec<ServerProcess>,
) -> anyhow::Result<()> {
    ensure!(options.functions > 0, "--functions needs a positive count");
    for case in [Case::SameComponent, Case::DistinctComponents] {
        measure_case(bin, &wasm, tmp, options, case, servers).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_variant_is_the_component_plus_one_custom_section() {
        let wasm = b"\0asm\x0d\0\x01\0";
        let variant = distinct(wasm, 300);
        assert!(variant.starts_with(wasm));
        let section = &variant[wasm.len()..];
        // id 0, then the section's size, then the name's length and the name.
        assert_eq!(section[0], 0);
        assert_eq!(section[1] as usize, section.len() - 2);
        assert_eq!(section[2] as usize, b"gust-bench-variant".len());
        assert!(section.ends_with(b"gust-bench-variant300"));
        assert_ne!(distinct(wasm, 1), distinct(wasm, 2));
    }
}
