//! Write-only secrets, as namespaces and functions both have them: a page lists which names
//! are set and offers to set or remove one, which the engine changes alone (two people setting
//! different secrets at once both keep theirs); no value ever reaches a page.

use std::collections::BTreeMap;

use super::FormData;
use crate::render::Fields;

/// The secrets part of a settings page.
pub struct SecretsForm {
    /// Names set, never values.
    pub names: Vec<String>,
    pub errors: Fields,
    /// The name typed, after a refusal.
    pub name: String,
    /// Where the forms post (`…/secrets`, `…/secrets/remove`).
    pub base: String,
}

impl SecretsForm {
    pub fn new(current: &BTreeMap<String, String>, base: String) -> Self {
        Self {
            names: current.keys().cloned().collect(),
            errors: Fields::default(),
            name: String::new(),
            base,
        }
    }
}

/// The name and value the form sets, or the errors beside its fields.
pub fn to_set(form: &FormData) -> Result<(String, String), Fields> {
    let name = form.get("name").trim();
    let mut errors = Fields::default();
    if name.is_empty() {
        errors.add("secret_name", "Name the secret.");
    }
    if form.get("value").is_empty() {
        errors.add("secret_value", "Enter the value.");
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok((name.to_string(), form.get("value").to_string()))
}

/// The engine's refusal of a set, beside the name (what it names is the key: `secrets.KEY`).
pub fn refused(error: &gust_engine::Error) -> Fields {
    Fields::one("secret_name", error.message.clone())
}
