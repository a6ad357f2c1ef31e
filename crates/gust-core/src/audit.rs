//! The audit log: one entry per change made through any API (who, what, when, from where, how
//! it ended). Entries hold ids and outcomes, never the values a change carried, so no secret
//! reaches the log.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ValidationError, ValidationResult};

/// What a change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    Create,
    Update,
    Delete,
    /// New code: an upload, a chunked upload's first chunk, or a deploy of an uploaded package.
    Deploy,
    Activate,
    Rebuild,
    /// Warm workers started or stopped by a client.
    Scale,
    /// Idle workers stopped and detached from their code by a client.
    Detach,
    /// Every sealed secret resealed under a new master key.
    RotateKey,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::Deploy => "deploy",
            Self::Activate => "activate",
            Self::Rebuild => "rebuild",
            Self::Scale => "scale",
            Self::Detach => "detach",
            Self::RotateKey => "rotate_key",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(text.to_string())).ok()
    }
}

/// How a change ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuditOutcome {
    Ok,
    Error,
}

/// One change, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    /// Position in the log (increasing; 0 before it is stored).
    pub id: u64,
    pub at: DateTime<Utc>,
    /// The token the change was made with; null for a signed URL's upload.
    pub token_id: Option<String>,
    pub action: AuditAction,
    /// `namespace`, `function`, `deployment`, `token`, `master_key`, …
    pub resource_kind: String,
    /// The resource's id when known (else the key the client named it by).
    pub resource_id: Option<String>,
    pub namespace_id: Option<String>,
    /// The client's IP address, when the server knew it.
    pub client_addr: Option<String>,
    pub outcome: AuditOutcome,
    /// The HTTP status the change was answered with.
    pub status: u16,
    /// The error's stable code (`not_found`, `invalid_value`, …) when it failed.
    pub error: Option<String>,
}

/// `GET /api/v1/audit`'s parameters: newest first, in pages.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Entries per page, 1 to 1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
    /// Only changes to resources of this kind (`function`, `token`, …).
    pub resource_kind: Option<String>,
    /// Only changes to this resource (an id).
    pub resource_id: Option<String>,
    /// Only changes made with this token.
    pub token_id: Option<String>,
}

impl AuditQuery {
    pub fn limit(&self) -> ValidationResult<u32> {
        let limit = self.limit.unwrap_or(crate::list::DEFAULT_LIMIT);
        crate::validate::within("limit", limit, 1, crate::list::MAX_LIMIT)?;
        Ok(limit)
    }

    /// The entry id the page starts below.
    pub fn cursor(&self) -> ValidationResult<Option<u64>> {
        self.cursor
            .as_deref()
            .map(|c| {
                c.parse::<u64>().map_err(|_| {
                    ValidationError::new("cursor", "is not a cursor returned by this API")
                })
            })
            .transpose()
    }

    pub fn validate(&self) -> ValidationResult<()> {
        self.limit()?;
        self.cursor()?;
        for (field, value) in [
            ("resource_kind", &self.resource_kind),
            ("resource_id", &self.resource_id),
            ("token_id", &self.token_id),
        ] {
            if value
                .as_deref()
                .is_some_and(|v| v.is_empty() || v.len() > 256)
            {
                return Err(ValidationError::new(field, "must be 1 to 256 characters"));
            }
        }
        Ok(())
    }
}
