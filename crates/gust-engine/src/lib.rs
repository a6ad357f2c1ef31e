//! The Gust platform, with no HTTP framework in it: every front door (the native API, the
//! dialects, the console) is a translation of its wire format onto the operations here, so a
//! function created through one deploys, runs, scales and records identically through all.
//!
//! Layout:
//! - `ops/`: the platform's operations as plain async methods of [`Engine`], one module per
//!   resource: namespaces, functions, deployments, signed URLs and deploys, executions, logs,
//!   instances, triggers, domains, events, tokens. Each checks the caller's token, validates,
//!   writes the store and keeps the in-memory sets and events in step, so no front door
//!   repeats a sequence.
//! - `invoke/`: the invocation path (`/fn/…`, requests by host name, and API executions);
//!   `live`: functions ready to invoke and the host names that run them, in memory;
//!   `recorder`: execution records, batched off the request path.
//! - `jobs/`: async executions (queue, retries), cron and event triggers, retention.
//! - `builder` + `archive`: uploads to runnable deployments; `uploads`: chunked uploads in
//!   progress (staged bytes, a lock per upload); `contract`: what a handler contract adds to a
//!   function's environment.
//! - `signing`: the tokens of signed upload and download URLs (HMAC-SHA256 under the key in
//!   `DATA_DIR/url-key`), and which upload tokens were used.
//! - `auth`: tokens in memory (with their last uses), scope checks, and `throttle`: failed
//!   authentications per client address; `logs`: live output; `metrics`: counters;
//!   `minutes`: per-minute aggregates of each function's executions, for charts.
//! - `keys`: the master key file and key rotation (the sealing itself is the store's);
//!   `audit`: the audit log's writer and the wrapper every changing operation runs in.
//! - `start`: configuration and start-up, the one place the parts are wired together. Each
//!   part gets only the handles it uses, so the modules form layers: `live` and `recorder`,
//!   then `invoke`, then `jobs` and `builder`, then `ops`; no part imports [`Engine`].
//!
//! Errors: operations return [`Error`], which says what went wrong in a client's terms; each
//! front door renders it in its own format.

pub mod archive;
pub mod audit;
pub mod auth;
mod builder;
pub mod cluster;
mod contract;
pub mod edge;
pub mod error;
pub mod invoke;
pub mod jobs;
pub mod keys;
pub mod live;
pub mod logs;
pub mod metrics;
pub mod minutes;
pub mod ops;
mod recorder;
pub mod signing;
mod start;
mod throttle;
pub mod uploads;

pub use auth::Caller;
pub use cluster::node_id_is_valid;
pub use error::{Error, Result};
pub use invoke::{EXECUTION_ID_HEADER, Invocation, Response, ResponseBody};
pub use jobs::Accepted;
pub use start::{Bootstrap, DEFAULT_FUNCTIONS_DOMAIN, Engine, ServerConfig, Shared};
