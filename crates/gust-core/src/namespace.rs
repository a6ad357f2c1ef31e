//! Namespaces group functions and carry env and secrets every function in them inherits
//! (the function's own value wins on a clash).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, Serializer};
use utoipa::ToSchema;

use crate::error::{ValidationError, ValidationResult};
use crate::validate;

/// What a client sends to create a namespace.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NamespaceSpec {
    pub name: Option<String>,
    pub description: Option<String>,
    pub env: Option<BTreeMap<String, String>>,
    /// Write-only: values are never returned.
    pub secrets: Option<BTreeMap<String, String>>,
    pub tags: Option<Vec<String>>,
    /// Key/value metadata, replaced as a whole when sent.
    pub labels: Option<BTreeMap<String, String>>,
}

/// A partial update (PATCH). The name is fixed once created.
pub type NamespacePatch = NamespaceSpec;

/// A namespace as stored and returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Namespace {
    pub id: String,
    pub name: String,
    pub description: String,
    pub env: BTreeMap<String, String>,
    /// Write-only: names are returned, each value masked as `********`.
    #[serde(serialize_with = "mask_values")]
    pub secrets: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl NamespaceSpec {
    pub fn into_new_namespace(self) -> ValidationResult<Namespace> {
        let name = self
            .name
            .clone()
            .ok_or_else(|| ValidationError::new("name", "is required"))?;
        validate::dns_label("name", &name)?;
        let now = crate::now();
        let mut ns = Namespace {
            id: crate::new_id(),
            name,
            description: String::new(),
            env: BTreeMap::new(),
            secrets: BTreeMap::new(),
            tags: Vec::new(),
            labels: BTreeMap::new(),
            created_at: now,
            updated_at: now,
        };
        self.apply_to(&mut ns)?;
        Ok(ns)
    }

    /// Overlay present fields; `ns` is untouched on error.
    pub fn apply_to(self, ns: &mut Namespace) -> ValidationResult<()> {
        let mut next = ns.clone();
        if let Some(name) = self.name
            && name != ns.name
        {
            return Err(ValidationError::new("name", "cannot be changed"));
        }
        if let Some(description) = self.description {
            validate::text(
                "description",
                &description,
                crate::function::DESCRIPTION_MAX,
            )?;
            next.description = description;
        }
        if let Some(env) = self.env {
            validate::env_map("env", &env)?;
            next.env = env;
        }
        if let Some(secrets) = self.secrets {
            validate::env_map("secrets", &secrets)?;
            next.secrets = secrets;
        }
        if let Some(tags) = self.tags {
            validate::tags("tags", &tags)?;
            next.tags = tags;
        }
        if let Some(labels) = self.labels {
            validate::labels("labels", &labels)?;
            next.labels = labels;
        }
        next.updated_at = crate::now();
        *ns = next;
        Ok(())
    }
}

/// Serialize a secrets map with every value replaced, so no response or log can carry one.
pub fn mask_values<S: Serializer>(map: &BTreeMap<String, String>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(map.keys().map(|k| (k, "********")))
}
