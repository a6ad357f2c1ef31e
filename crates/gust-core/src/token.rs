//! API tokens. The secret is shown once at creation; only its sha256 is stored.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a token may do. `admin` implies all the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Everything, including tokens and namespaces.
    Admin,
    /// Read functions, deployments, executions.
    Read,
    /// Create, change and delete functions and deployments.
    Write,
    /// Invoke private functions and create executions.
    Invoke,
}

/// The shape of a token's secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenFormat {
    /// `gust_` and 64 hex digits (256 random bits).
    #[default]
    Gust,
    /// A UUID (122 random bits), for clients that only take secrets of that shape, as
    /// Scaleway's SDKs do.
    Uuid,
}

/// What a client sends to create a token.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenSpec {
    pub description: Option<String>,
    /// Defaults to `["read", "write", "invoke"]`.
    pub scopes: Option<Vec<Scope>>,
    /// Limit the token to one namespace (name or id).
    pub namespace: Option<String>,
    /// Limit the token to one function (name or id) of `namespace`.
    pub function: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    /// The secret's shape (default `gust`).
    pub format: Option<TokenFormat>,
}

/// A token as stored and returned (never with its secret, except once at creation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Token {
    pub id: String,
    pub description: String,
    pub scopes: Vec<Scope>,
    /// The namespace id this token is limited to, if any.
    pub namespace_id: Option<String>,
    /// The function id this token is limited to, if any (always within `namespace_id`).
    #[serde(default)]
    pub function_id: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// When a request last authenticated with it (to the minute or so: uses are kept in memory
    /// and written in batches); null when never used.
    #[serde(default)]
    pub last_used_at: Option<DateTime<Utc>>,
    /// The secret; present only in the response that created the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl Token {
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&Scope::Admin) || self.scopes.contains(&scope)
    }

    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    /// Whether this token may touch resources of the namespace `namespace_id`.
    pub fn covers_namespace(&self, namespace_id: &str) -> bool {
        self.namespace_id
            .as_deref()
            .is_none_or(|own| own == namespace_id)
    }

    /// Whether this token may touch the function `function_id`.
    pub fn covers_function(&self, function_id: &str) -> bool {
        self.function_id
            .as_deref()
            .is_none_or(|own| own == function_id)
    }
}
