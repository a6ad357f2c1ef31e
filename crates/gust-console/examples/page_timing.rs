//! How long the console takes to answer its pages for a function with many executions stored
//! (100,000 by default): the function's overview (its latest executions and deployments), its
//! executions table (unfiltered and filtered), its dead letters, and the namespace's
//! functions list. Requests go through the console's router in-process (no socket), signed in
//! as the admin, so the figure is the console's and the engine's work per page.
//!
//! `cargo run --release -p gust-console --example page_timing [-- EXECUTIONS]`

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use gust_core::execution::{RecordedBody, Trigger};
use gust_core::{Execution, ExecutionRequest, ExecutionResponse, ExecutionStatus, FunctionSpec};
use gust_engine::{Engine, ServerConfig};
use gust_sandbox::SpawnerCommand;
use tower::ServiceExt;

/// Requests timed per page, after a few to warm up.
const RUNS: usize = 50;

fn record(n: usize, namespace_id: &str, function_id: &str) -> Execution {
    // Spread over the last three days, newest last; one in fifty failed, and one in a thousand
    // was a dead letter.
    let at = chrono::Utc::now() - chrono::Duration::seconds(3 * 86_400)
        + chrono::Duration::milliseconds(n as i64 * 2_000);
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
        "deployment",
        Trigger::Http,
        request,
        at,
    );
    let failed = n.is_multiple_of(50);
    Execution {
        dead_letter: n.is_multiple_of(1_000),
        is_async: n.is_multiple_of(1_000),
        response: Some(ExecutionResponse {
            status_code: if failed { 500 } else { 200 },
            headers: BTreeMap::from([("content-type".into(), "text/plain".into())]),
            body: RecordedBody {
                body: "hello".into(),
                size: 5,
                ..RecordedBody::default()
            },
        }),
        ..run.ended(
            if failed {
                ExecutionStatus::Failed
            } else {
                ExecutionStatus::Completed
            },
            Duration::from_micros(115),
            at,
        )
    }
}

async fn send(
    router: &axum::Router,
    request: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, headers, body.to_vec())
}

fn cookie_of(headers: &axum::http::HeaderMap, name: &str) -> String {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_string()
}

#[tokio::main]
async fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let data = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(data.path().to_path_buf());
    // Only the store and the console are measured: no sandboxes.
    config.process.spawner = Some(SpawnerCommand {
        program: "/bin/false".into(),
        args: vec![],
    });
    config.process.stem_cells = 0;
    let bootstrap = Engine::start(config).await.unwrap();
    let secret = bootstrap.new_admin_token.unwrap();
    let engine = bootstrap.state;
    let admin = engine.authenticate(Some(&secret)).unwrap();
    let function = engine
        .create_function(
            &admin,
            "default",
            FunctionSpec {
                name: Some("busy".into()),
                runtime: Some("wasm".into()),
                retention: Some(gust_core::function::RetentionSpec {
                    max_count: Some(1_000_000),
                    max_age_s: Some(30 * 86_400),
                }),
                ..FunctionSpec::default()
            },
        )
        .await
        .unwrap();

    let started = Instant::now();
    let mut writer = engine.store.execution_writer(None).unwrap();
    let (ns, f) = (function.namespace_id.clone(), function.id.clone());
    let mut writer = tokio::task::spawn_blocking(move || {
        for chunk in (0..count).collect::<Vec<_>>().chunks(1000) {
            let batch: Vec<Execution> = chunk.iter().map(|n| record(*n, &ns, &f)).collect();
            writer.put(&batch).unwrap();
        }
        writer
    })
    .await
    .unwrap();
    let _ = &mut writer;
    println!(
        "stored {count} executions of one function in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let router = gust_console::router(engine.clone());
    let (_, headers, body) = send(
        &router,
        Request::get("/console/signin").body(Body::empty()).unwrap(),
    )
    .await;
    let html = String::from_utf8(body).unwrap();
    let csrf = html
        .split(r#"name="_csrf" value=""#)
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let form = format!("_csrf={csrf}&token={secret}");
    let (status, headers, _) = send(
        &router,
        Request::post("/console/signin")
            .header(header::COOKIE, cookie_of(&headers, "gust_console_signin"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let session = cookie_of(&headers, "gust_console");

    println!("page                                            median      p95    bytes");
    for path in [
        "/console/ns/default/fn/busy",
        "/console/ns/default/fn/busy/executions",
        "/console/ns/default/fn/busy/executions?status=failed&window=24h",
        "/console/ns/default/fn/busy/dead-letters",
        "/console/ns/default/functions",
        "/console/ns/default/fn/busy/metrics?window=day",
    ] {
        let mut times = Vec::with_capacity(RUNS);
        let mut bytes = 0;
        for run in 0..RUNS + 5 {
            let request = Request::get(path)
                .header(header::COOKIE, &session)
                .body(Body::empty())
                .unwrap();
            let at = Instant::now();
            let (status, _, body) = send(&router, request).await;
            let took = at.elapsed();
            if status != StatusCode::OK {
                println!("{path:<46} {status}");
                break;
            }
            bytes = body.len();
            if run >= 5 {
                times.push(took);
            }
        }
        if times.is_empty() {
            continue;
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{path:<46} {:>6.1} ms {:>6.1} ms {bytes:>8}",
            ms(times[times.len() / 2]),
            ms(times[times.len() * 95 / 100])
        );
    }
    engine.stop(Duration::from_secs(1)).await;
}
