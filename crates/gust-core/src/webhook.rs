//! Webhooks: a URL, `/hooks/{id}`, that anyone holding it may POST to, each request starting
//! an async execution of one function with the request's body. The id is the credential
//! (a UUID with 74 random bits), so senders that cannot hold a token (a Git host, a payment
//! provider) can still start a function.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ValidationResult;

/// What a client sends to create a webhook, or to change one (PATCH).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSpec {
    /// The function it runs (name or id) in the webhook's namespace: required to create one;
    /// on a change, moves the webhook to another function.
    pub function: Option<String>,
    /// Free text (at most 1024 characters).
    pub description: Option<String>,
}

/// A webhook of a function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Webhook {
    pub id: String,
    pub namespace_id: String,
    pub function_id: String,
    #[serde(default)]
    pub description: String,
    /// Where to POST to run the function (computed when returned).
    #[serde(default)]
    pub url: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl WebhookSpec {
    /// Validate and build a webhook of `function_id` (the function is resolved by the caller).
    pub fn into_webhook(self, namespace_id: &str, function_id: &str) -> ValidationResult<Webhook> {
        let now = crate::now();
        let mut webhook = Webhook {
            id: crate::new_id(),
            namespace_id: namespace_id.to_string(),
            function_id: function_id.to_string(),
            description: String::new(),
            url: String::new(),
            created_at: now,
            updated_at: now,
        };
        self.apply_to(&mut webhook)?;
        Ok(webhook)
    }

    /// Overlay the description onto `webhook`, untouched on error. Moving it to another
    /// function is the caller's part: it resolves `function` within the namespace.
    pub fn apply_to(&self, webhook: &mut Webhook) -> ValidationResult<()> {
        if let Some(description) = &self.description {
            crate::validate::text("description", description, crate::function::DESCRIPTION_MAX)?;
            webhook.description.clone_from(description);
        }
        webhook.updated_at = crate::now();
        Ok(())
    }
}
