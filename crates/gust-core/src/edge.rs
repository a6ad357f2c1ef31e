//! Edge applications route a domain's paths to function instances (Azion's model).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Requests under `path_prefix` go to `function_instance`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EdgeRule {
    pub path_prefix: String,
    pub function_instance: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EdgeApplication {
    pub id: String,
    pub name: String,
    pub domains: Vec<String>,
    pub rules: Vec<EdgeRule>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A function bound into an edge application, with arguments passed to it as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FunctionInstance {
    pub id: String,
    pub edge_application: String,
    pub function: String,
    pub name: String,
    pub args: serde_json::Value,
    pub created_at: chrono::DateTime<chrono::Utc>,
}
