//! The servers (nodes) sharing one database: each writes its row every few seconds, and a
//! node whose row has not been written within the lease counts as gone.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One `gust serve` process, as it last reported itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Node {
    /// `--node-id`, or the one made at its first start and kept in its data dir.
    pub id: String,
    /// Gust's version on that node.
    pub version: String,
    /// Where it serves (its public URL, or its listen address).
    pub url: String,
    pub started_at: DateTime<Utc>,
    /// When it last wrote this row.
    pub heartbeat_at: DateTime<Utc>,
    /// Async executions running there now.
    pub running: u64,
    /// Async executions it holds, waiting to run.
    pub queued: u64,
    /// Function instances alive there now (Wasm instances and process workers).
    pub instances: u64,
}
