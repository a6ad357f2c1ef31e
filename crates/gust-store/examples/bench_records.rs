//! CPU per execution record written through the store's execution writer, the way the recorder
//! writes them: batches of 512 HTTP-invocation records, one transaction each.
//!
//! `cargo run --release -p gust-store --example bench_records [-- ROWS]`

use std::collections::BTreeMap;
use std::time::Instant;

use gust_core::execution::{RecordedBody, Trigger};
use gust_core::{Execution, ExecutionRequest, ExecutionResponse, ExecutionStatus};
use gust_store::{SqliteStore, Store};

const BATCH: usize = 512;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn record(function_id: &str, namespace_id: &str, deployment_id: &str) -> Execution {
    let now = chrono::Utc::now();
    let request = ExecutionRequest {
        method: "GET".into(),
        path: "/".into(),
        headers: BTreeMap::from([("host".into(), "127.0.0.1:41234".into())]),
        ..ExecutionRequest::default()
    };
    let run = Execution::started(
        gust_core::id::new_id(),
        namespace_id,
        function_id,
        deployment_id,
        Trigger::Http,
        request,
        now,
    );
    Execution {
        response: Some(ExecutionResponse {
            status_code: 200,
            headers: BTreeMap::from([("content-type".into(), "text/plain".into())]),
            body: RecordedBody {
                body: "hello".into(),
                size: 5,
                ..RecordedBody::default()
            },
        }),
        ..run.ended(
            ExecutionStatus::Completed,
            std::time::Duration::from_micros(115),
            now,
        )
    }
}

/// User plus system CPU of this process so far, in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let rows: usize = std::env::args()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open(&dir.path().join("gust.db")).await?;
    let (function_id, namespace_id, deployment_id) = (
        gust_core::id::new_id(),
        gust_core::id::new_id(),
        gust_core::id::new_id(),
    );
    let batches: Vec<Vec<Execution>> = (0..rows.div_ceil(BATCH))
        .map(|_| {
            (0..BATCH)
                .map(|_| record(&function_id, &namespace_id, &deployment_id))
                .collect()
        })
        .collect();
    let cpu = cpu_seconds();
    let mut bytes = 0;
    for batch in &batches {
        for e in batch {
            let mut json = Vec::new();
            gust_core::stored::write_execution(&mut json, e);
            bytes += json.len();
        }
    }
    let n = (batches.len() * BATCH) as f64;
    println!(
        "encoding alone (part of the next figure): {:.2} µs CPU each, {:.0} bytes of JSON each",
        (cpu_seconds() - cpu) * 1e6 / n,
        bytes as f64 / n
    );
    let mut writer = store.execution_writer(None)?;
    let (cpu, wall) = (cpu_seconds(), Instant::now());
    for batch in &batches {
        writer.put(batch)?;
    }
    let (cpu, wall) = (cpu_seconds() - cpu, wall.elapsed().as_secs_f64());
    println!(
        "{n} records: {:.2} µs CPU and {:.2} µs wall each; {:.0} bytes of database each",
        cpu * 1e6 / n,
        wall * 1e6 / n,
        std::fs::metadata(dir.path().join("gust.db"))?.len() as f64 / n
    );
    Ok(())
}
