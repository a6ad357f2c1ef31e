//! The backend-neutral store suite against PostgreSQL: each case on a server of its own,
//! started from the cached template cluster (`gust_test_tools::Postgres`).

use gust_store::{PgStore, Store};
use gust_test_tools::Postgres;

async fn open_postgres() -> (Box<dyn Store>, Postgres) {
    let server = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let store = PgStore::connect_new_key(&server.url()).await.unwrap();
    (Box::new(store), server)
}

gust_store::conformance_tests!(open_postgres);

/// What holding executions by node costs a submit: batches of queued executions inserted
/// as the writer inserts accepted ones, with the owner written (as every node on PostgreSQL
/// now does) and without it (as before), in alternating rounds on one server. A measure, not
/// a check: `cargo nextest run -p gust-store --test conformance_pg --run-ignored only`.
#[tokio::test]
#[ignore]
async fn measure_inserts_with_and_without_an_owner() {
    use gust_core::{Execution, ExecutionRequest, ExecutionTrigger};
    let (store, _server) = open_postgres().await;
    let (function_id, namespace_id) = (gust_core::id::new_id(), gust_core::id::new_id());
    let queued = || {
        let started = Execution::started(
            gust_core::id::new_id(),
            &namespace_id,
            &function_id,
            "",
            ExecutionTrigger::Http,
            ExecutionRequest {
                method: "POST".into(),
                path: "/".into(),
                ..ExecutionRequest::default()
            },
            gust_core::now(),
        );
        Execution {
            status: gust_core::ExecutionStatus::Queued,
            started_at: None,
            ..started
        }
    };
    let mut rates = [Vec::new(), Vec::new()];
    for round in 0..6 {
        let owner = (round % 2 == 1).then_some("node-1");
        let mut writer = store.execution_writer(owner).unwrap();
        let batches: Vec<Vec<Execution>> = (0..200)
            .map(|_| (0..32).map(|_| queued()).collect())
            .collect();
        let rate = tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            for batch in &batches {
                writer.insert(batch).unwrap();
            }
            (200 * 32) as f64 / started.elapsed().as_secs_f64()
        })
        .await
        .unwrap();
        rates[round % 2].push(rate);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (without, with) = (median(&mut rates[0]), median(&mut rates[1]));
    eprintln!(
        "inserts/s without an owner {without:.0}, with {with:.0}: ratio {:.3}",
        with / without
    );
}
