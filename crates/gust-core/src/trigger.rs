//! Triggers: what starts a function besides a request: a cron schedule or matching events.
//! The model is fixed here so the API and store agree on it; the scheduler that fires them
//! is not part of this crate.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TriggerKind {
    Cron,
    Event,
}

/// A trigger of a function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TriggerSpec {
    pub id: String,
    pub function_id: String,
    pub kind: TriggerKind,
    /// Cron: a 5-field expression or `@every 30s`.
    pub schedule: Option<String>,
    /// Cron: IANA timezone, UTC by default.
    pub timezone: Option<String>,
    /// Cron: the request body each tick sends.
    pub body: Option<String>,
    /// Event: patterns such as `functions.*.deployments.*.update`.
    pub events: Vec<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}
