//! Worker lifecycle: crashes are replaced, timeouts kill and replace, logs are per request,
//! stem cells serve cold starts.

use std::time::Duration;

use gust_core::RuntimeId;
use gust_runtime_process::Outcome;

use crate::{build, call, code, env, env_with, eventually, get, json, spec};

const PYTHON_LIFECYCLE: &str = r#"
import os, signal, sys, time

def handle(event, context):
    path = event["path"]
    if path == "/exit":
        print("about to exit", flush=True)
        os.write(2, b"last words on fd 2\n")
        os._exit(3)
    if path == "/segv":
        os.kill(os.getpid(), signal.SIGSEGV)
    if path == "/sleep":
        time.sleep(30)
    if path == "/fd":
        os.write(1, b"straight to fd 1\n")
        os.write(2, b"straight to fd 2\n")
        time.sleep(0.05)
    if path == "/loud":
        print("x" * 200000)
    return {"pid": os.getpid()}
"#;

#[tokio::test]
async fn a_crashed_worker_is_replaced_and_the_request_in_flight_gets_the_reason() {
    let env = env().await;
    let dir = code(&[("main.py", PYTHON_LIFECYCLE)]);
    build(&env, RuntimeId::Python311, dir.path()).await.unwrap();
    let pool = env.runtime.pool(spec(RuntimeId::Python311, dir.path()));
    let first = call(&pool, get("/")).await;

    let crashed = call(&pool, get("/exit")).await;
    assert_eq!(crashed.status, 500);
    assert!(
        matches!(&crashed.outcome, Outcome::Failed(m) if m.contains("exited with status 3")),
        "{:?}",
        crashed.outcome
    );
    // What reached the pipes before the crash is the request's, not lost with the worker.
    assert!(
        crashed.logs.stderr.contains("last words on fd 2"),
        "{:?}",
        crashed.logs
    );
    let segv = call(&pool, get("/segv")).await;
    assert!(
        matches!(&segv.outcome, Outcome::Failed(m) if m.contains("signal 11 (SIGSEGV)")),
        "{:?}",
        segv.outcome
    );

    let after = call(&pool, get("/")).await;
    assert_eq!(after.outcome, Outcome::Completed);
    assert_ne!(after.worker_pid, first.worker_pid, "a new worker took over");
    assert!(after.cold_start.is_some());
}

#[tokio::test]
async fn a_timeout_kills_the_worker_and_a_fresh_one_replaces_it() {
    let env = env().await;
    let dir = code(&[("main.py", PYTHON_LIFECYCLE)]);
    build(&env, RuntimeId::Python311, dir.path()).await.unwrap();
    let mut spec = spec(RuntimeId::Python311, dir.path());
    spec.timeout = Duration::from_millis(500);
    spec.min_scale = 1;
    let pool = env.runtime.pool(spec);
    let started = std::time::Instant::now();
    let slow = call(&pool, get("/sleep")).await;
    assert!(matches!(slow.outcome, Outcome::Timeout(_)));
    assert_eq!(slow.status, 504);
    assert!(started.elapsed() < Duration::from_secs(5));
    let old = slow.worker_pid;
    assert!(
        eventually(Duration::from_secs(10), || {
            let instances = pool.instances();
            instances.len() == 1 && instances[0].pid != old
        })
        .await,
        "min_scale is restored with a new worker"
    );
    let old_proc = format!("/proc/{old}");
    assert!(
        eventually(Duration::from_secs(5), || !std::path::Path::new(&old_proc)
            .exists())
        .await,
        "the timed-out worker's sandbox is gone"
    );
    assert_eq!(call(&pool, get("/")).await.outcome, Outcome::Completed);
}

#[tokio::test]
async fn results_that_arrived_with_a_hanging_request_are_delivered_before_its_timeout() {
    let env = env().await;
    let dir = code(&[("main.py", PYTHON_LIFECYCLE)]);
    build(&env, RuntimeId::Python311, dir.path()).await.unwrap();
    let mut spec = spec(RuntimeId::Python311, dir.path());
    spec.timeout = Duration::from_secs(3);
    spec.max_scale = 1;
    spec.concurrency = 8;
    let pool = env.runtime.pool(spec);
    call(&pool, get("/")).await;
    // Sent together, so the worker reads the quick ones and the hanging one at once: the
    // quick ones' results must not wait for the hang (and die with its worker).
    let started = std::time::Instant::now();
    let calls = ["/a", "/b", "/c", "/d", "/sleep"].map(|path| {
        let pool = pool.clone();
        async move { (call(&pool, get(path)).await, started.elapsed()) }
    });
    let responses = futures_join_all(calls).await;
    let (hung, _) = &responses[4];
    assert!(matches!(hung.outcome, Outcome::Timeout(_)));
    for (response, took) in &responses[..4] {
        assert_eq!(response.outcome, Outcome::Completed, "{:?}", response.logs);
        assert!(*took < Duration::from_secs(2), "held back: {took:?}");
    }
}

#[tokio::test]
async fn output_below_the_language_reaches_the_request_and_logs_are_bounded() {
    let env = env_with(|c| c.log_limit = 1024).await;
    let dir = code(&[("main.py", PYTHON_LIFECYCLE)]);
    build(&env, RuntimeId::Python311, dir.path()).await.unwrap();
    let pool = env.runtime.pool(spec(RuntimeId::Python311, dir.path()));
    let fd = call(&pool, get("/fd")).await;
    assert!(fd.logs.stdout.contains("straight to fd 1"), "{:?}", fd.logs);
    assert!(fd.logs.stderr.contains("straight to fd 2"), "{:?}", fd.logs);
    let loud = call(&pool, get("/loud")).await;
    assert!(loud.logs.truncated);
    assert!(loud.logs.stdout.len() <= 1024);
}

#[tokio::test]
async fn node_workers_take_concurrent_requests_with_separate_logs() {
    let env = env().await;
    let main = "exports.handle = async (event) => {\n  console.log('start', event.path);\n  await new Promise((r) => setTimeout(r, 300));\n  console.log('end', event.path);\n  return { path: event.path, pid: process.pid };\n};\n";
    let dir = code(&[("main.js", main)]);
    build(&env, RuntimeId::Node20, dir.path()).await.unwrap();
    let mut spec = spec(RuntimeId::Node20, dir.path());
    spec.max_scale = 1;
    spec.concurrency = 4;
    let pool = env.runtime.pool(spec);
    call(&pool, get("/warm")).await;
    let started = std::time::Instant::now();
    let calls = (0..4).map(|i| {
        let pool = pool.clone();
        async move { call(&pool, get(&format!("/r{i}"))).await }
    });
    let responses = futures_join_all(calls).await;
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "ran concurrently: {:?}",
        started.elapsed()
    );
    for (i, response) in responses.iter().enumerate() {
        assert_eq!(response.logs.stdout, format!("start /r{i}\nend /r{i}\n"));
        assert_eq!(json(response)["path"], format!("/r{i}"));
    }
    assert_eq!(pool.instances().len(), 1);
}

#[tokio::test]
async fn a_stem_cell_serves_the_cold_start() {
    let env = env_with(|c| c.stem_cells = 1).await;
    let dir = code(&[(
        "main.py",
        "def handle(event, context):\n    return 'from a cell'\n",
    )]);
    build(&env, RuntimeId::Python311, dir.path()).await.unwrap();
    assert!(
        eventually(Duration::from_secs(10), || env
            .runtime
            .stem_cells_ready(RuntimeId::Python311)
            == 1)
        .await
    );
    let pool = env.runtime.pool(spec(RuntimeId::Python311, dir.path()));
    let response = call(&pool, get("/")).await;
    assert_eq!(response.outcome, Outcome::Completed);
    assert_eq!(
        response.body, "from a cell",
        "a returned string is the body, as text"
    );
    let cold = response.cold_start.unwrap();
    assert!(cold.stem_cell, "{cold:?}");
    assert_eq!(cold.interpreter_us, 0);
    assert!(pool.instances()[0].stem_cell);
    // The cell is replaced in the background.
    assert!(
        eventually(Duration::from_secs(10), || env
            .runtime
            .stem_cells_ready(RuntimeId::Python311)
            == 1)
        .await
    );
}

/// Runs futures concurrently on this task (no extra dependency for join_all).
pub async fn futures_join_all<F: std::future::Future>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let handles: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = handles.iter().map(|_| None).collect();
    let mut handles: Vec<_> = handles.into_iter().map(Some).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, out) in handles.iter_mut().zip(outputs.iter_mut()) {
            if let Some(future) = slot {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => {
                        *out = Some(value);
                        *slot = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(Option::unwrap).collect()
}
