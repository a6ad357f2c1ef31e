//! Gust's web console, at `/console` on the server's own listener: server-rendered pages over
//! the engine's operations ([`gust_engine::Engine`]), with a little JavaScript that only adds
//! to what the pages already do (drag-and-drop uploads with progress, live logs over
//! server-sent events, copy buttons, timestamps in the viewer's zone). It stores nothing of
//! its own but sign-in sessions, and every page calls the engine as the session's token, so
//! the token's scopes and namespace decide what a page shows and what an action may do.
//!
//! Layout:
//! - `session`: sign-in (a pasted token becomes a server-side session), the signed cookie,
//!   the CSRF token every POST carries, sign-out.
//! - `render`: what every page shares (the layout's chrome, notices, errors beside fields,
//!   timestamps), and the responses pages are sent in.
//! - `assets`: the stylesheet and script, embedded in the binary and served with long-lived
//!   cache headers under a content-hashed URL.
//! - `pages/`: one module per area (namespaces, functions, deployments, test panel,
//!   executions, live tail, triggers, dead letters, metrics, tokens): extract, call the
//!   engine, render a template of `templates/`.
//! - `charts`: inline SVG charts and the execution waterfall, drawn on the server.

mod assets;
mod charts;
mod pages;
mod render;
mod session;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use gust_engine::Engine;

/// Where the console is mounted.
pub const PREFIX: &str = "/console";

/// What every handler gets: the engine, and the keys the console signs with.
#[derive(Clone)]
pub struct ConsoleState {
    engine: Arc<Engine>,
    keys: Arc<session::Keys>,
}

/// The console's routes, under [`PREFIX`].
pub fn router(engine: Arc<Engine>) -> Router {
    let state = ConsoleState {
        keys: Arc::new(session::Keys::derive(&engine)),
        engine,
    };
    let signed_in = pages::routes()
        .merge(session::signed_in_routes())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            session::require_csrf,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            session::require_session,
        ));
    let console = Router::new()
        .merge(session::routes())
        .merge(assets::routes())
        .merge(signed_in)
        .fallback(render::not_found)
        .with_state(state)
        .layer(middleware::from_fn(security_headers));
    // `/console/` too: a nested router's root is `/console` alone.
    let slash = format!("{PREFIX}/");
    Router::new().nest(PREFIX, console).route(
        &slash,
        axum::routing::get(|| async {
            axum::response::Redirect::to(&format!("{PREFIX}/namespaces"))
        }),
    )
}

/// Headers every console response carries: nothing loads from anywhere but the server itself,
/// no page can be framed, and pages (which show a signed-in person's data) are not cached.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
