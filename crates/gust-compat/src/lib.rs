//! The seed platforms' APIs, spoken by Gust so that their official clients work against it.
//! Each dialect is a router that translates its wire format onto the engine's operations
//! ([`gust_engine::Engine`]) and back; none holds state of its own.
//!
//! Layout:
//! - `common/`: what every dialect needs: paging windows (offset, cursor, direction) over the
//!   engine's lists, how an engine error is classified, and the states of executions and
//!   deployments in the terms the seed platforms share.
//! - `appwrite/`: Appwrite 0.15's Functions API at `/compat/appwrite/v1`.

mod appwrite;
mod common;

use std::sync::Arc;

use axum::Router;
use gust_engine::Engine;

/// Where the Appwrite dialect is mounted; clients are given `http://HOST:PORT` + this.
pub const APPWRITE_PREFIX: &str = "/compat/appwrite/v1";

/// Every dialect's routes, each under its own prefix.
pub fn router(engine: Arc<Engine>) -> Router {
    Router::new().nest(APPWRITE_PREFIX, appwrite::router(engine))
}
