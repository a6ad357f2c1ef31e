//! Gust's HTTP surface and what sits right behind it.
//!
//! Layout:
//! - `state`: configuration, shared state, start-up (first-start bootstrap, loading functions).
//! - `routes/`: the `/api/v1` handlers, one module per resource; `routes/openapi` generates the
//!   OpenAPI document from them.
//! - `invoke`: the invocation path, `/fn/{ns}/{fn}/{*path}` and API executions.
//! - `live`: functions ready to invoke, in memory. `recorder`: execution records, batched.
//! - `jobs/`: async executions (queue, retries), cron and event triggers, retention.
//! - `logs`: live output of running executions; `metrics`: `GET /metrics`.
//! - `builder` + `archive`: uploads to runnable deployments.
//! - `auth`, `error`, `extract`: bearer tokens, the error envelope, input parsing.
//!
//! Errors: handlers return [`ApiError`]; start-up and background loops use anyhow.

mod archive;
mod auth;
mod builder;
mod error;
mod extract;
mod invoke;
mod jobs;
mod live;
mod logs;
mod metrics;
mod recorder;
pub mod routes;
mod state;

use std::future::Future;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::serve::ListenerExt;

pub use error::{ApiError, ErrorBody};
pub use invoke::EXECUTION_ID_HEADER;
pub use jobs::JobsConfig;
pub use routes::openapi::ApiDoc;
pub use state::{AppState, Bootstrap, ServerConfig, Shared};

/// Every route of the server but `/fn/…`, which [`serve`] hands to the invocation handler itself.
pub fn router(state: Shared) -> Router {
    use routes::*;
    let api = Router::new()
        .route("/runtimes", get(runtimes::list_runtimes))
        .route(
            "/namespaces",
            get(namespaces::list_namespaces).post(namespaces::create_namespace),
        )
        .route(
            "/namespaces/{ns}",
            get(namespaces::get_namespace)
                .patch(namespaces::update_namespace)
                .delete(namespaces::delete_namespace),
        )
        .route(
            "/namespaces/{ns}/functions",
            get(functions::list_functions).post(functions::create_function),
        )
        .route(
            "/namespaces/{ns}/functions/{fn}",
            get(functions::get_function)
                .put(functions::replace_function)
                .patch(functions::update_function)
                .delete(functions::delete_function),
        )
        .route(
            "/namespaces/{ns}/functions/{fn}/deployments",
            get(deployments::list_deployments)
                // Uploads enforce their own, larger limit while streaming.
                .post(deployments::create_deployment)
                .layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/namespaces/{ns}/functions/{fn}/deployments/{id}",
            get(deployments::get_deployment).delete(deployments::delete_deployment),
        )
        .route(
            "/namespaces/{ns}/functions/{fn}/deployments/{id}/code",
            get(deployments::get_deployment_code),
        )
        .route(
            "/namespaces/{ns}/functions/{fn}/deployments/{id}/activate",
            post(deployments::activate_deployment),
        )
        .route(
            "/namespaces/{ns}/functions/{fn}/deployments/{id}/rebuild",
            post(deployments::rebuild_deployment),
        )
        .route(
            "/namespaces/{ns}/functions/{fn}/executions",
            get(executions::list_executions).post(executions::create_execution),
        )
        .route(
            "/namespaces/{ns}/functions/{fn}/executions/{id}",
            get(executions::get_execution),
        )
        .route(
            "/namespaces/{ns}/functions/{fn}/executions/{id}/replay",
            post(executions::replay_execution),
        )
        .route(
            "/namespaces/{ns}/functions/{fn}/executions/{id}/logs",
            get(logs::get_execution_logs),
        )
        .route(
            "/namespaces/{ns}/functions/{fn}/logs",
            get(logs::get_function_logs),
        )
        .route(
            "/namespaces/{ns}/functions/{fn}/triggers",
            get(triggers::list_triggers).post(triggers::create_trigger),
        )
        .route(
            "/namespaces/{ns}/functions/{fn}/triggers/{id}",
            get(triggers::get_trigger).delete(triggers::delete_trigger),
        )
        .route(
            "/namespaces/{ns}/functions/{fn}/instances",
            get(instances::list_instances).delete(instances::detach_instances),
        )
        .route("/namespaces/{ns}/events", post(events::publish_event))
        .route(
            "/tokens",
            get(tokens::list_tokens).post(tokens::create_token),
        )
        .route(
            "/tokens/{id}",
            get(tokens::get_token).delete(tokens::delete_token),
        )
        .route("/openapi.json", get(openapi::openapi_json));
    Router::new()
        .nest("/api/v1", api)
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn healthz() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

/// Prometheus text format. Public like `/healthz`: counts and timings, no data.
async fn metrics_text(
    axum::extract::State(state): axum::extract::State<Shared>,
) -> impl axum::response::IntoResponse {
    let depths = state.queue.depths(&*state.store).await;
    let instances: Vec<(String, &'static str, usize)> = state
        .live
        .pools()
        .into_iter()
        .map(|(id, pool)| (id, pool.spec().runtime.as_str(), pool.instance_count()))
        .collect();
    let text = state
        .metrics
        .render(&depths, state.queue.running(), &instances);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no route for {}", uri.path()))
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}

/// How long shutdown waits for running async executions.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Serve on a bound listener until `shutdown` resolves, then stop accepting and let in-flight
/// requests finish. Tests bind `127.0.0.1:0` and pass the listener in.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Shared,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if state.public_url.get().is_none() {
        let _ = state
            .public_url
            .set(format!("http://{}", listener.local_addr()?));
    }
    let listener = listener.tap_io(|tcp| {
        // Small responses must not wait for Nagle's algorithm.
        let _ = tcp.set_nodelay(true);
    });
    // Invocations skip the router: `/fn/` is the one prefix the hot path has, and matching it
    // by hand spares each request the route lookup and the extensions axum records.
    let app = router(state.clone());
    let gateway = state.clone();
    let service = tower::service_fn(move |request: axum::extract::Request| {
        let app = app.clone();
        let gateway = gateway.clone();
        async move {
            if request.uri().path().starts_with("/fn/") {
                Ok(invoke::invoke_http(axum::extract::State(gateway), request).await)
            } else {
                tower::ServiceExt::oneshot(app, request).await
            }
        }
    });
    axum::serve(listener, tower::make::Shared::new(service))
        .with_graceful_shutdown(shutdown)
        .await?;
    // Async executions that are running get a moment to finish; the rest run after the next start.
    state.queue.drain(SHUTDOWN_GRACE).await;
    // Everything recorded before shutdown reaches the store.
    state.recorder.flush().await;
    Ok(())
}
