//! Scaling: min_scale warm at creation, max_scale never exceeded, Overloaded past the queue,
//! scale to zero, detach, runtime scale changes, draining.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gust_core::RuntimeId;
use gust_runtime_process::{NotRun, Outcome};

use crate::workers::futures_join_all;
use crate::{build, call, code, env, env_with, eventually, get, spec};

const SLOW: &str = "import os, time\n\ndef handle(event, context):\n    time.sleep(float(event['queryStringParameters'].get('s', '0')))\n    return {'pid': os.getpid()}\n";

#[tokio::test]
async fn min_scale_workers_are_warm_when_the_pool_is_created() {
    let env = env().await;
    let dir = code(&[("main.py", SLOW)]);
    build(&env, RuntimeId::Python311, dir.path()).await.unwrap();
    let mut spec = spec(RuntimeId::Python311, dir.path());
    spec.min_scale = 2;
    spec.max_scale = 3;
    let pool = env.runtime.pool(spec);
    assert!(eventually(Duration::from_secs(10), || pool.instances().len() == 2).await);
    let response = call(&pool, get("/")).await;
    assert!(response.cold_start.is_none(), "served warm");
    let info = &pool.instances()[0];
    assert!(
        info.pid > 0 && info.memory_bytes.unwrap_or(0) > 0,
        "{info:?}"
    );
}

#[tokio::test]
async fn a_burst_never_exceeds_max_scale() {
    let env = env().await;
    let dir = code(&[("main.py", SLOW)]);
    build(&env, RuntimeId::Python311, dir.path()).await.unwrap();
    let mut spec = spec(RuntimeId::Python311, dir.path());
    spec.max_scale = 2;
    let pool = env.runtime.pool(spec);
    let most = Arc::new(Mutex::new(0usize));
    let watcher = {
        let (pool, most) = (pool.clone(), most.clone());
        tokio::spawn(async move {
            loop {
                let live = pool.instances().len();
                {
                    let mut most = most.lock().unwrap();
                    *most = (*most).max(live);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let responses = futures_join_all((0..10).map(|_| call(&pool, get("/?s=0.1")))).await;
    watcher.abort();
    let pids: HashSet<i32> = responses.iter().map(|r| r.worker_pid).collect();
    assert!(responses.iter().all(|r| r.outcome == Outcome::Completed));
    assert_eq!(pids.len(), 2, "two workers shared the burst");
    assert!(*most.lock().unwrap() <= 2);
}

#[tokio::test]
async fn past_the_queue_requests_are_refused_with_a_retry_after_never_left_hanging() {
    let env = env_with(|c| c.queue_limit = 2).await;
    let dir = code(&[("main.py", SLOW)]);
    build(&env, RuntimeId::Python311, dir.path()).await.unwrap();
    let mut spec = spec(RuntimeId::Python311, dir.path());
    spec.max_scale = 1;
    let pool = env.runtime.pool(spec);
    call(&pool, get("/")).await;
    let started = Instant::now();
    let results = futures_join_all((0..6).map(|_| {
        let pool = pool.clone();
        async move {
            tokio::time::timeout(Duration::from_secs(30), pool.invoke(get("/?s=0.3")))
                .await
                .expect("no hang")
        }
    }))
    .await;
    let overloaded: Vec<_> = results
        .iter()
        .filter_map(|r| match r {
            Err(NotRun::Overloaded { retry_after }) => Some(*retry_after),
            _ => None,
        })
        .collect();
    // One runs, two wait, three are refused at once.
    assert_eq!(overloaded.len(), 3, "{results:?}");
    assert!(overloaded.iter().all(|r| *r >= Duration::from_secs(1)));
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 3);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn waiting_past_the_queue_wait_limit_is_refused_too() {
    let env = env_with(|c| c.queue_wait = Duration::from_millis(300)).await;
    let dir = code(&[("main.py", SLOW)]);
    build(&env, RuntimeId::Python311, dir.path()).await.unwrap();
    let mut spec = spec(RuntimeId::Python311, dir.path());
    spec.max_scale = 1;
    let pool = env.runtime.pool(spec);
    call(&pool, get("/")).await;
    let slow = tokio::spawn({
        let pool = pool.clone();
        async move { pool.invoke(get("/?s=2")).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let refused = pool.invoke(get("/")).await;
    assert!(
        matches!(refused, Err(NotRun::Overloaded { .. })),
        "{refused:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(slow.await.unwrap().is_ok());
}

#[tokio::test]
async fn idle_workers_stop_after_the_idle_timeout_down_to_zero() {
    let env = env_with(|c| c.idle_timeout = Duration::from_millis(300)).await;
    let dir = code(&[("main.py", SLOW)]);
    build(&env, RuntimeId::Python311, dir.path()).await.unwrap();
    let pool = env.runtime.pool(spec(RuntimeId::Python311, dir.path()));
    let pid = call(&pool, get("/")).await.worker_pid;
    assert_eq!(pool.instances().len(), 1);
    assert!(eventually(Duration::from_secs(5), || pool.instances().is_empty()).await);
    let proc_path = format!("/proc/{pid}");
    assert!(
        eventually(Duration::from_secs(5), || !std::path::Path::new(&proc_path)
            .exists())
        .await
    );
    // And the next request starts one again.
    assert!(call(&pool, get("/")).await.cold_start.is_some());
}

#[tokio::test]
async fn detach_kills_every_worker_and_the_next_request_starts_fresh() {
    let env = env().await;
    let dir = code(&[("main.py", SLOW)]);
    build(&env, RuntimeId::Python311, dir.path()).await.unwrap();
    let mut spec = spec(RuntimeId::Python311, dir.path());
    spec.min_scale = 1;
    let pool = env.runtime.pool(spec);
    let before = call(&pool, get("/")).await.worker_pid;
    assert_eq!(pool.detach().await, 1);
    let after = call(&pool, get("/")).await;
    assert_eq!(after.outcome, Outcome::Completed);
    assert_ne!(after.worker_pid, before);
}

#[tokio::test]
async fn changing_the_scale_takes_effect_without_a_restart() {
    let env = env().await;
    let dir = code(&[("main.py", SLOW)]);
    build(&env, RuntimeId::Python311, dir.path()).await.unwrap();
    let pool = env.runtime.pool(spec(RuntimeId::Python311, dir.path()));
    assert!(pool.instances().is_empty());
    pool.set_scale(3, 4, 1);
    assert!(eventually(Duration::from_secs(10), || pool.instances().len() == 3).await);
    pool.set_scale(0, 1, 1);
    assert!(eventually(Duration::from_secs(10), || pool.instances().len() == 1).await);
}

#[tokio::test]
async fn draining_lets_requests_in_flight_finish_then_stops_every_worker() {
    let env = env().await;
    let dir = code(&[("main.py", SLOW)]);
    build(&env, RuntimeId::Python311, dir.path()).await.unwrap();
    let pool = env.runtime.pool(spec(RuntimeId::Python311, dir.path()));
    call(&pool, get("/")).await;
    let in_flight = tokio::spawn({
        let pool = pool.clone();
        async move { pool.invoke(get("/?s=0.5")).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    tokio::time::timeout(Duration::from_secs(10), pool.drain())
        .await
        .unwrap();
    let finished = in_flight.await.unwrap().unwrap();
    assert_eq!(
        finished.outcome,
        Outcome::Completed,
        "the request in flight finished"
    );
    assert!(pool.instances().is_empty());
    assert!(matches!(
        pool.invoke(get("/")).await,
        Err(NotRun::Unavailable(_))
    ));
}
