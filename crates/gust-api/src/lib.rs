//! Gust's native HTTP API: `/api/v1`, the `/fn/…` gateway (and requests by a function's host
//! name), `/metrics` and `/healthz`. It
//! only translates: handlers extract the caller and the input, call the engine
//! ([`gust_engine::Engine`]) and render the result as JSON or the error envelope.
//!
//! Layout:
//! - `routes/`: the `/api/v1` handlers, one module per resource; [`router`] registers each once,
//!   and the OpenAPI document is derived from that registration (`routes/openapi` adds what
//!   the handlers do not say: the title, the auth scheme, shared schemas).
//! - `gateway`: `/fn/{ns}/{fn}/{*path}`, and requests whose host is a function's domain name or
//!   custom domain, handed to the engine's invocation path; `/edge/{app}/{*path}` and edge
//!   domains' host names, to edge applications; `/hooks/{id}`, webhooks.
//! - `auth`, `error`, `extract`: the bearer-token extractor, the error envelope, input parsing.

mod auth;
mod error;
mod extract;
mod gateway;
pub mod listen;
pub mod routes;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use gust_engine::Engine;
use utoipa::OpenApi;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

pub use error::{ApiError, ErrorBody};
pub use gust_engine::EXECUTION_ID_HEADER;
pub use listen::{Limits, Listener, Tls};
pub use routes::openapi::ApiDoc;

/// What every handler gets: the engine.
#[derive(Clone)]
pub struct ApiState(pub Arc<Engine>);

impl std::ops::Deref for ApiState {
    type Target = Arc<Engine>;

    fn deref(&self) -> &Arc<Engine> {
        &self.0
    }
}

/// The `/api/v1` routes, each registered once: the router and the OpenAPI document are both
/// derived from this list, so neither can miss an operation the other has.
fn api_routes() -> OpenApiRouter<ApiState> {
    use routes::*;
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(runtimes::list_runtimes))
        .routes(routes!(
            namespaces::list_namespaces,
            namespaces::create_namespace
        ))
        .routes(routes!(
            namespaces::get_namespace,
            namespaces::update_namespace,
            namespaces::delete_namespace
        ))
        .routes(routes!(
            namespaces::set_namespace_secret,
            namespaces::delete_namespace_secret
        ))
        .routes(routes!(
            functions::list_functions,
            functions::create_function
        ))
        .routes(routes!(
            functions::get_function,
            functions::replace_function,
            functions::update_function,
            functions::delete_function
        ))
        .routes(routes!(
            functions::set_function_secret,
            functions::delete_function_secret
        ))
        .routes(
            routes!(
                deployments::list_deployments,
                deployments::create_deployment
            )
            // Uploads enforce their own, larger limit while streaming.
            .layer(DefaultBodyLimit::disable()),
        )
        .routes(routes!(
            deployments::get_deployment,
            deployments::delete_deployment
        ))
        .routes(
            routes!(
                deployments::get_deployment_code,
                deployments::upload_deployment_chunk
            )
            .layer(DefaultBodyLimit::disable()),
        )
        .routes(routes!(deployments::activate_deployment))
        .routes(routes!(deployments::rebuild_deployment))
        .routes(routes!(signed::create_upload_url))
        .routes(routes!(signed::create_download_url))
        .routes(routes!(signed::deploy_function))
        .routes(routes!(signed::put_signed_upload).layer(DefaultBodyLimit::disable()))
        .routes(routes!(signed::get_signed_download))
        .routes(routes!(
            executions::list_executions,
            executions::create_execution
        ))
        .routes(routes!(
            executions::get_execution,
            executions::delete_execution
        ))
        .routes(routes!(executions::find_execution))
        .routes(routes!(executions::replay_execution))
        .routes(routes!(executions::replay_dead_letters))
        .routes(routes!(logs::get_execution_logs))
        .routes(routes!(logs::get_function_logs))
        .routes(routes!(logs::get_build_log))
        .routes(routes!(triggers::list_triggers, triggers::create_trigger))
        .routes(routes!(
            triggers::get_trigger,
            triggers::update_trigger,
            triggers::delete_trigger
        ))
        .routes(routes!(schedules::next_fire_times))
        .routes(routes!(metrics::get_function_metrics))
        .routes(routes!(metrics::get_namespace_activity))
        .routes(routes!(
            test_requests::list_test_requests,
            test_requests::create_test_request
        ))
        .routes(routes!(
            test_requests::get_test_request,
            test_requests::put_test_request,
            test_requests::delete_test_request
        ))
        .routes(routes!(domains::list_domains, domains::create_domain))
        .routes(routes!(domains::get_domain, domains::delete_domain))
        .routes(routes!(webhooks::list_webhooks, webhooks::create_webhook))
        .routes(routes!(
            webhooks::get_webhook,
            webhooks::update_webhook,
            webhooks::delete_webhook
        ))
        .routes(routes!(
            instances::list_instances,
            instances::detach_instances
        ))
        .routes(routes!(instances::scale_instances))
        .routes(routes!(versions::list_versions, versions::create_version))
        .routes(routes!(versions::get_version, versions::delete_version))
        .routes(routes!(versions::get_version_code))
        .routes(routes!(versions::list_aliases, versions::create_alias))
        .routes(routes!(
            versions::get_alias,
            versions::update_alias,
            versions::delete_alias
        ))
        .routes(routes!(
            edge::list_namespace_edge_applications,
            edge::create_edge_application
        ))
        .routes(routes!(edge::list_edge_applications))
        .routes(routes!(
            edge::get_edge_application,
            edge::update_edge_application,
            edge::delete_edge_application
        ))
        .routes(routes!(
            edge::list_edge_instances,
            edge::create_edge_instance
        ))
        .routes(routes!(
            edge::get_edge_instance,
            edge::update_edge_instance,
            edge::delete_edge_instance
        ))
        .routes(routes!(edge::edge_instance_counts))
        .routes(routes!(edge::list_edge_rules, edge::create_edge_rule))
        .routes(routes!(
            edge::get_edge_rule,
            edge::update_edge_rule,
            edge::delete_edge_rule
        ))
        .routes(routes!(
            edge::list_namespace_edge_domains,
            edge::create_edge_domain
        ))
        .routes(routes!(edge::list_edge_domains))
        .routes(routes!(
            edge::get_edge_domain,
            edge::update_edge_domain,
            edge::delete_edge_domain
        ))
        .routes(routes!(events::publish_event))
        .routes(routes!(tokens::list_tokens, tokens::create_token))
        .routes(routes!(tokens::get_token, tokens::delete_token))
        .routes(routes!(admin::rotate_key))
        .routes(routes!(admin::list_audit))
        .routes(routes!(admin::list_nodes))
}

/// The OpenAPI document of `/api/v1`, as `GET /api/v1/openapi.json` serves it.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let mut document = api_routes().into_openapi();
    routes::openapi::complete(&mut document);
    document
}

/// Every route of the server but `/fn/…`, `/hooks/…` and requests by a function's host name,
/// which [`serve`] hands to the invocation handlers itself.
pub fn router(state: ApiState) -> Router {
    let (api, mut document) = api_routes().split_for_parts();
    routes::openapi::complete(&mut document);
    let document = Arc::new(document);
    api.route(
        "/api/v1/openapi.json",
        get(move || routes::openapi::openapi_json(document.clone())),
    )
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
    axum::extract::State(state): axum::extract::State<ApiState>,
) -> impl axum::response::IntoResponse {
    let text = state.metrics_text().await;
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

/// Serve on bound listeners until `shutdown` resolves, then stop accepting and let in-flight
/// requests finish. The first listener is the server's own address (its URL is the default
/// base of the URLs it hands out); a second may serve plain HTTP beside HTTPS. `doors` holds
/// the other front doors (the dialects), each under its own prefix, served beside the native
/// routes. Tests bind `127.0.0.1:0` and pass the listener in.
pub async fn serve(
    listeners: Vec<Listener>,
    engine: Arc<Engine>,
    doors: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let Some(first) = listeners.first() else {
        return Err(std::io::Error::other("no listener to serve on"));
    };
    let address = first.tcp.local_addr()?;
    let scheme = if first.tls.is_some() { "https" } else { "http" };
    engine.set_default_base_url(&format!("{scheme}://{address}"));
    engine.set_listen_port(address.port());
    let state = ApiState(engine);
    // Invocations skip the router: a function's host name and `/fn/` are all the hot path
    // looks at, and matching them by hand spares each request the route lookup and the
    // extensions axum records. The host comes first: a function's domain passes every path,
    // `/fn/…` included, to the function.
    let app = router(state.clone()).merge(doors);
    let gateway = state.clone();
    let service = tower::service_fn(move |request: axum::extract::Request| {
        let app = app.clone();
        let gateway = gateway.clone();
        async move {
            if let Some(route) = gust_engine::invoke::route_by_host(&gateway.gateway, &request) {
                Ok(gateway::invoke_routed(&gateway, route, request).await)
            } else if request.uri().path().starts_with("/fn/") {
                Ok(gateway::invoke(&gateway, request).await)
            } else if request
                .uri()
                .path()
                .starts_with(gust_engine::invoke::EDGE_PREFIX)
            {
                Ok(gateway::invoke_edge(&gateway, request).await)
            } else if let Some(id) = request.uri().path().strip_prefix("/hooks/") {
                let id = id.trim_end_matches('/').to_string();
                Ok(gateway::invoke_webhook(&gateway, &id, request).await)
            } else {
                tower::ServiceExt::oneshot(app, request).await
            }
        }
    });
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let occupancy = listen::occupancy(&limits);
    let loops: Vec<_> = listeners
        .into_iter()
        .map(|listener| {
            tokio::spawn(listen::accept_loop(
                listener,
                service.clone(),
                limits.clone(),
                occupancy.clone(),
                stopped.clone(),
            ))
        })
        .collect();
    shutdown.await;
    let _ = stop.send(true);
    for accepting in loops {
        let _ = accepting.await;
    }
    state.stop(SHUTDOWN_GRACE).await;
    Ok(())
}
