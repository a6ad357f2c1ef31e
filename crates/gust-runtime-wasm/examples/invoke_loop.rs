//! Micro-benchmark of the runtime alone: one component, N invocations spread over T concurrent
//! tasks, no HTTP and no store. Splits the cost of a request between the runtime and everything
//! around it, and shows how the runtime scales across threads.
//!
//! `cargo run --release -p gust-runtime-wasm --example invoke_loop -- COMPONENT.wasm [N] [T]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use std::future::poll_fn;

use gust_runtime::{Head, Request, Runtime};
use gust_runtime_wasm::{InvokeLimits, LimitedComponent, WasmConfig, WasmRuntime};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: invoke_loop COMPONENT.wasm [N] [TASKS]");
    let n: u32 = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20_000);
    let tasks: u32 = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1)
        .max(1);
    let dir = std::env::temp_dir().join(format!("gust-invoke-loop-{}", std::process::id()));
    let runtime = WasmRuntime::new(WasmConfig::new(dir.clone()))?;
    let wasm = std::fs::read(&path)?;
    runtime.precompile(&wasm, "bench")?;
    let function = runtime.component("bench", path.clone().into());
    function.load()?;
    let component = Arc::new(LimitedComponent {
        function,
        limits: InvokeLimits {
            timeout: Duration::from_secs(10),
            memory_mb: 128,
            env: vec![],
            log_limit: 65536,
            network: true,
        },
        serving: Arc::default(),
    });

    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let component = component.clone();
        handles.push(tokio::spawn(
            async move { run(&*component, n / tasks).await },
        ));
    }
    let mut samples = Vec::with_capacity(n as usize);
    for handle in handles {
        samples.extend(handle.await??);
    }
    let wall = started.elapsed();
    samples.sort();
    println!(
        "{} invocations on {tasks} task(s): {:.0}/s, p50 {:?}, p99 {:?}",
        samples.len(),
        samples.len() as f64 / wall.as_secs_f64(),
        samples[samples.len() / 2],
        samples[samples.len() * 99 / 100]
    );
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

/// Each request as the server runs it: through the [`Runtime`] trait, the body read to its
/// end, the guest to its return, and the record's parts taken.
async fn run(component: &dyn Runtime, n: u32) -> anyhow::Result<Vec<Duration>> {
    let mut samples = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let started = Instant::now();
        let mut headers = http::HeaderMap::new();
        headers.insert("host", http::HeaderValue::from_static("localhost"));
        let request = Request {
            path: "/".into(),
            headers,
            ..Request::default()
        };
        let mut run = component.start(request, &mut |_| {});
        match poll_fn(|cx| run.as_mut().poll_head(cx)).await? {
            Head::Answered(_) => {}
            Head::Unusable { reason, .. } => anyhow::bail!("{reason}"),
        }
        while let Some(frame) = poll_fn(|cx| run.as_mut().poll_frame(cx)).await {
            frame.map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        poll_fn(|cx| run.as_mut().poll_end(cx))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let _record = run.as_mut().finish();
        samples.push(started.elapsed());
    }
    Ok(samples)
}
