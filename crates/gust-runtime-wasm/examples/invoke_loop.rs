//! Micro-benchmark of the runtime alone: one component, N sequential invocations, no HTTP and
//! no store. Splits the cost of a request between the runtime and everything around it.
//!
//! `cargo run --release -p gust-runtime-wasm --example invoke_loop -- path/to/component.wasm [N]`

use std::time::{Duration, Instant};

use bytes::Bytes;
use gust_runtime_wasm::{InvokeLimits, WasmConfig, WasmRuntime};
use http_body_util::Full;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: invoke_loop COMPONENT.wasm [N]");
    let n: u32 = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20_000);
    let dir = std::env::temp_dir().join(format!("gust-invoke-loop-{}", std::process::id()));
    let runtime = WasmRuntime::new(WasmConfig::from_env(dir.clone()))?;
    let wasm = std::fs::read(&path)?;
    runtime.precompile(&wasm, "bench")?;
    let function = runtime.load("bench")?.expect("artifact");
    let limits = InvokeLimits {
        timeout: Duration::from_secs(10),
        memory_mb: 128,
        env: vec![],
        log_limit: 65536,
    };
    let mut samples = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let started = Instant::now();
        let request = http::Request::builder()
            .uri("/")
            .header("host", "localhost")
            .body(Full::new(Bytes::new()))?;
        let (response, running) = function
            .invoke(request, &limits)
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let (body, _outcome) = running.collect(response.into_body()).await;
        body.map_err(|e| anyhow::anyhow!("{e}"))?;
        samples.push(started.elapsed());
    }
    samples.sort();
    let total: Duration = samples.iter().sum();
    println!(
        "{n} invocations: mean {:?}, p50 {:?}, p99 {:?}",
        total / n,
        samples[samples.len() / 2],
        samples[samples.len() * 99 / 100]
    );
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}
