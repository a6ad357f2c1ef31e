//! The seed platforms' APIs, spoken by Gust so that their official clients work against it.
//! Each dialect is a router that translates its wire format onto the engine's operations
//! ([`gust_engine::Engine`]) and back; none holds state of its own.
//!
//! Layout:
//! - `common/`: what every dialect needs: paging windows (offset, cursor, direction) over the
//!   engine's lists, how an engine error is classified, and the states of executions and
//!   deployments in the terms the seed platforms share.
//! - `appwrite/`: Appwrite 0.15's Functions API at `/compat/appwrite/v1`.
//! - `scaleway/`: Scaleway's Serverless Functions API (`functions/v1beta1`) at
//!   `/compat/scaleway`.
//! - `qinling/`: OpenStack Qinling's v1 API at `/compat/qinling`.
//! - `azion/`: Azion's API v3 (edge functions, edge applications, function instances,
//!   rules, domains) at `/compat/azion`.

mod appwrite;
mod azion;
mod common;
mod qinling;
mod scaleway;

use std::sync::Arc;

use axum::Router;
use gust_engine::Engine;

/// Where the Appwrite dialect is mounted; clients are given `http://HOST:PORT` + this.
pub const APPWRITE_PREFIX: &str = "/compat/appwrite/v1";

/// Where the Scaleway dialect is mounted: the SDKs' `api_url` is `http://HOST:PORT` + this.
pub const SCALEWAY_PREFIX: &str = "/compat/scaleway";

/// Where the Qinling dialect is mounted: the clients' endpoint is `http://HOST:PORT` + this
/// (their paths start with `/v1/`).
pub const QINLING_PREFIX: &str = "/compat/qinling";

/// Where the Azion dialect is mounted: `https://api.azionapi.net` becomes
/// `http://HOST:PORT` + this.
pub const AZION_PREFIX: &str = "/compat/azion";

/// Every dialect's routes, each under its own prefix.
pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .nest(APPWRITE_PREFIX, appwrite::router(engine.clone()))
        .nest(SCALEWAY_PREFIX, scaleway::router(engine.clone()))
        .nest(AZION_PREFIX, azion::router(engine.clone()))
        .merge(qinling::mounted(engine.clone()))
        .layer(axum::middleware::from_fn_with_state(
            engine,
            common::retry_after_when_throttled,
        ))
}
