//! The PostgreSQL store against the SQLite one, in one run on a PostgreSQL server of the
//! bench's own (`gust_test_tools::Postgres`, as the tests start it): the Wasm hello on a node
//! over each store, windows alternating round after round (the order rotating, as `versus`
//! does), judged by the median of the rounds' ratios; then async accepts per second on each,
//! the servers restarted with no async workers so accepting is all they do.
//!
//! The invocation path reads only memory, so the two nodes should serve alike: what differs
//! is the execution writer's connection (a batch is one `UNNEST` statement to PostgreSQL,
//! on the same machine here) and what its server costs the two cores.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;

use crate::child::ServerProcess;
use crate::cpu;
use crate::gust::{self, Api};
use crate::load::{self, RequestShape, Stats};
use crate::versus::median;

pub struct Options {
    pub rounds: usize,
    pub conns: usize,
    pub warmup: Duration,
    pub duration: Duration,
}

const LABELS: [&str; 2] = ["sqlite", "postgres"];

pub async fn run(
    bin: &Path,
    wasm: Bytes,
    tmp: &Path,
    options: &Options,
    servers: &mut Vec<ServerProcess>,
) -> anyhow::Result<()> {
    eprintln!("starting PostgreSQL");
    let postgres = tokio::task::spawn_blocking(gust_test_tools::Postgres::start)
        .await
        .context("starting PostgreSQL")?;
    let url = postgres.url();
    let stores: [Vec<(&str, &str)>; 2] = [vec![], vec![("GUST_DATABASE_URL", url.as_str())]];

    let mut nodes = Vec::new();
    for (i, env) in stores.iter().enumerate() {
        let data_dir = tmp.join(format!("data-{}", LABELS[i]));
        std::fs::create_dir(&data_dir)?;
        let log = tmp.join(format!("gust-{}.log", LABELS[i]));
        let server = gust::spawn(bin, &data_dir, &log, env).await?;
        let (addr, pid) = (server.addr, server.pid().context("gust's pid")?);
        servers.push(server);
        eprintln!("{} node listening on {addr}; deploying", LABELS[i]);
        let api = Api::new(addr, &data_dir).await?;
        api.create_function("hello", "wasm").await?;
        let server = servers.last_mut().context("gust")?;
        api.deploy_and_wait("hello", wasm.clone(), "application/wasm", server)
            .await?;
        nodes.push((addr, pid, data_dir, log));
    }

    let shape = RequestShape::get(&gust::function_path("hello"));
    let mut rates: [Vec<f64>; 2] = Default::default();
    let mut cpu_us: [Vec<f64>; 2] = Default::default();
    // Of the PostgreSQL node's: what its database server used.
    let mut db_us = Vec::new();
    for round in 0..options.rounds {
        for turn in 0..2 {
            let which = (round + turn) % 2;
            let (addr, pid, ..) = &nodes[which];
            eprintln!(
                "wasm hello: round {}/{}, {}…",
                round + 1,
                options.rounds,
                LABELS[which]
            );
            // The PostgreSQL node's CPU includes its database server's.
            let db = || (which == 1).then(|| cpu::tree_cpu_us(postgres.pid()));
            let tree = || cpu::tree_cpu_us(*pid) + db().unwrap_or(0);
            let (before, db_before) = (tree(), db());
            let stats: Stats = load::load(
                *addr,
                &shape,
                options.conns,
                options.warmup,
                options.duration,
            )
            .await?;
            if stats.errors > 0 {
                anyhow::bail!("{}: {} request(s) failed", LABELS[which], stats.errors);
            }
            let requests = stats.requests_with_warmup.max(1) as f64;
            let used = tree().saturating_sub(before) as f64;
            cpu_us[which].push(used / requests);
            if let (Some(after), Some(before)) = (db(), db_before) {
                db_us.push(after.saturating_sub(before) as f64 / requests);
            }
            rates[which].push(stats.req_per_s());
        }
    }
    for server in servers.drain(..) {
        server.shutdown().await?;
    }

    // Async accepts: each node again on its own data dir and store, running nothing.
    let mut accepted = [0.0; 2];
    for (i, env) in stores.iter().enumerate() {
        let (_, _, data_dir, log) = &nodes[i];
        let mut env = env.clone();
        env.push(("GUST_ASYNC_WORKERS", "0"));
        let server = gust::spawn(bin, data_dir, log, &env).await?;
        let addr = server.addr;
        servers.push(server);
        eprintln!("async accepts: {}…", LABELS[i]);
        let stats =
            crate::async_run::submit(addr, options.conns, options.warmup, options.duration).await?;
        if stats.errors > 0 {
            anyhow::bail!("async on {}: {} request(s) failed", LABELS[i], stats.errors);
        }
        accepted[i] = stats.req_per_s();
        let api = Api::new(addr, data_dir).await?;
        let backlog = api.async_backlog().await?;
        if backlog != stats.requests_with_warmup {
            eprintln!(
                "warning: {}: {} accepted, /metrics shows {backlog} queued",
                LABELS[i], stats.requests_with_warmup
            );
        }
        servers.pop().context("gust")?.shutdown().await?;
    }
    drop(postgres);

    println!(
        "{} connections, {} rounds of {:?} windows; medians",
        options.conns, options.rounds, options.duration
    );
    println!(
        "{:<22} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9}",
        "", "sqlite", "postgres", "pg/sqlite", "µs sqlite", "µs pg", "µs pg db"
    );
    let ratios: Vec<f64> = rates[1]
        .iter()
        .zip(&rates[0])
        .map(|(pg, sqlite)| pg / sqlite)
        .collect();
    println!(
        "{:<22} {:>10.0} {:>10.0} {:>9.3} {:>9.1} {:>9.1} {:>9.1}",
        "wasm hello req/s",
        median(rates[0].clone()),
        median(rates[1].clone()),
        median(ratios),
        median(cpu_us[0].clone()),
        median(cpu_us[1].clone()),
        median(db_us),
    );
    println!(
        "{:<22} {:>10.0} {:>10.0} {:>9.3}",
        "async accepted/s",
        accepted[0],
        accepted[1],
        accepted[1] / accepted[0]
    );
    println!(
        "(µs: CPU per request of the Gust server, and on PostgreSQL of its server too, that \
         part alone in `µs pg db`; medians of the windows)"
    );
    Ok(())
}
