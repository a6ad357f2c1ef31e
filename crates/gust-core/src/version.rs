//! Versions and aliases of functions (what Lambda and Qinling call them). A version is an
//! immutable snapshot of a function: the deployment that was active and the configuration it
//! ran with, numbered from 1 per function. An alias is a name in a namespace that points at a
//! function and one of its versions (or at its current configuration), and can be moved.
//!
//! Both are invoked as `/fn/{namespace}/{function}:{qualifier}/…`, the qualifier being a
//! version number or an alias name; so an alias name starts with a letter, never a digit.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ValidationError, ValidationResult};
use crate::function::{DESCRIPTION_MAX, Function};
use crate::validate;

/// Most versions one function may have at a time (Qinling's rule); a new one past it is
/// refused until one is deleted.
pub const MAX_VERSIONS: u32 = 10;

/// What separates a function's name from a qualifier in `/fn/{ns}/{fn}:{qualifier}/…`.
/// Function names are DNS labels and cannot contain it.
pub const QUALIFIER_SEPARATOR: char = ':';

/// What a client sends to make a version of a function's current code and configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionSpec {
    /// Free text (at most 1024 characters).
    pub description: Option<String>,
}

/// A version of a function: what it ran when the version was made, kept as it was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FunctionVersion {
    pub function_id: String,
    pub namespace_id: String,
    /// 1 for the first version of the function, then one more than the highest made so far
    /// (numbers of deleted versions are not given again).
    pub number: u32,
    pub description: String,
    /// The deployment that was active when the version was made; it cannot be deleted while
    /// the version exists.
    pub deployment_id: String,
    /// sha256 of that deployment's package, hex: two versions with the same are the same code.
    pub sha256: String,
    /// The function as it was configured when the version was made: runtime, handler,
    /// contract, env, secrets (masked here as everywhere), limits, scales, network. Runs of the
    /// version use these, not the function's current ones; privacy is always the function's
    /// current one.
    pub config: Function,
    pub created_at: DateTime<Utc>,
}

impl VersionSpec {
    /// Validate and build version `number` of `function`, running `deployment_id` whose
    /// package has `sha256`.
    pub fn into_version(
        self,
        function: &Function,
        number: u32,
        deployment_id: &str,
        sha256: &str,
    ) -> ValidationResult<FunctionVersion> {
        let description = self.description.unwrap_or_default();
        validate::text("description", &description, DESCRIPTION_MAX)?;
        Ok(FunctionVersion {
            function_id: function.id.clone(),
            namespace_id: function.namespace_id.clone(),
            number,
            description,
            deployment_id: deployment_id.to_string(),
            sha256: sha256.to_string(),
            config: function.clone(),
            created_at: crate::now(),
        })
    }
}

/// What a client sends to create an alias, or to change one (PATCH: only the fields present
/// change; `name` cannot).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AliasSpec {
    /// Unique in the namespace: a DNS label that starts with a letter (lowercase letters,
    /// digits and `-`, at most 63 characters), so it is never read as a version number.
    pub name: Option<String>,
    /// The function (name or id) in the same namespace.
    pub function: Option<String>,
    /// The version it runs; 0 or absent: the function's current configuration.
    pub version: Option<u32>,
    pub description: Option<String>,
}

/// A partial update of an alias.
pub type AliasPatch = AliasSpec;

/// A named pointer at a function and one of its versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Alias {
    pub id: String,
    pub namespace_id: String,
    pub name: String,
    pub function_id: String,
    /// The function's name (names of functions do not change).
    #[serde(default)]
    pub function: String,
    /// The version it runs; `null`: the function's current configuration.
    pub version: Option<u32>,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Check an alias name (see [`AliasSpec::name`]).
pub fn alias_name(field: &str, name: &str) -> ValidationResult<()> {
    validate::dns_label(field, name)?;
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(ValidationError::new(
            field,
            "must start with a letter (a name made of digits would read as a version number)",
        ));
    }
    Ok(())
}

/// A version number as sent: 0 means none (the function's current configuration).
pub fn version_number(version: Option<u32>) -> Option<u32> {
    version.filter(|n| *n != 0)
}

impl AliasSpec {
    /// Validate a create request and build the alias of `function` (the caller resolved the
    /// spec's `function` to it and checked the version exists).
    pub fn into_alias(self, function: &Function) -> ValidationResult<Alias> {
        let name = self
            .name
            .ok_or_else(|| ValidationError::new("name", "is required"))?;
        alias_name("name", &name)?;
        let description = self.description.unwrap_or_default();
        validate::text("description", &description, DESCRIPTION_MAX)?;
        let now = crate::now();
        Ok(Alias {
            id: crate::new_id(),
            namespace_id: function.namespace_id.clone(),
            name,
            function_id: function.id.clone(),
            function: function.name.clone(),
            version: version_number(self.version),
            description,
            created_at: now,
            updated_at: now,
        })
    }

    /// Overlay the present fields onto `alias` (`function`: what the patch's `function`
    /// resolved to, when it has one). Leaves `alias` untouched when it returns an error.
    pub fn apply_to(self, alias: &mut Alias, function: Option<&Function>) -> ValidationResult<()> {
        let mut next = alias.clone();
        if let Some(name) = self.name
            && name != alias.name
        {
            return Err(ValidationError::new(
                "name",
                "cannot be changed; create a new alias instead",
            ));
        }
        if let Some(description) = self.description {
            validate::text("description", &description, DESCRIPTION_MAX)?;
            next.description = description;
        }
        if let Some(function) = function {
            next.function_id = function.id.clone();
            next.function = function.name.clone();
        }
        if self.version.is_some() {
            next.version = version_number(self.version);
        }
        next.updated_at = crate::now();
        *alias = next;
        Ok(())
    }
}

/// What `{fn}:{qualifier}` names besides the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qualifier<'a> {
    Version(u32),
    Alias(&'a str),
}

impl<'a> Qualifier<'a> {
    /// A qualifier as written in a path: digits are a version number, anything else an alias
    /// name. `Err` says what is wrong with it.
    pub fn parse(text: &'a str) -> Result<Self, String> {
        if text.is_empty() {
            return Err(
                "the qualifier after `:` is empty; give a version number or an alias name".into(),
            );
        }
        if text.bytes().all(|b| b.is_ascii_digit()) {
            return match text.parse::<u32>() {
                Ok(n) if n > 0 => Ok(Self::Version(n)),
                _ => Err(format!(
                    "`{text}` is not a version number (versions are numbered from 1)"
                )),
            };
        }
        Ok(Self::Alias(text))
    }
}

/// `name:qualifier` → (`name`, `Some(qualifier)`); a name without `:` → (`name`, `None`).
pub fn split_qualifier(function: &str) -> (&str, Option<&str>) {
    match function.split_once(QUALIFIER_SEPARATOR) {
        Some((name, qualifier)) => (name, Some(qualifier)),
        None => (function, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_names_are_labels_that_start_with_a_letter() {
        for good in ["prod", "v2-canary", "a"] {
            alias_name("name", good).unwrap();
        }
        for bad in [
            "",
            "2",
            "2prod",
            "Prod",
            "-x",
            "x_y",
            "a:b",
            &"a".repeat(64),
        ] {
            assert_eq!(alias_name("name", bad).unwrap_err().field, "name", "{bad}");
        }
        let e = AliasSpec::default().into_alias(&function("f")).unwrap_err();
        assert_eq!(e.field, "name");
    }

    fn function(name: &str) -> Function {
        crate::FunctionSpec {
            name: Some(name.into()),
            runtime: Some("wasm".into()),
            ..Default::default()
        }
        .into_new_function("ns1", "default")
        .unwrap()
    }

    #[test]
    fn version_zero_means_the_current_configuration() {
        let alias = AliasSpec {
            name: Some("prod".into()),
            version: Some(0),
            ..Default::default()
        }
        .into_alias(&function("f"))
        .unwrap();
        assert_eq!((alias.version, alias.function.as_str()), (None, "f"));
        let mut moved = alias.clone();
        let g = function("g");
        AliasSpec {
            version: Some(3),
            ..Default::default()
        }
        .apply_to(&mut moved, Some(&g))
        .unwrap();
        assert_eq!(
            (moved.version, moved.function_id.as_str()),
            (Some(3), g.id.as_str())
        );
        assert_eq!(moved.function, "g");
        let before = moved.clone();
        let e = AliasSpec {
            name: Some("other".into()),
            version: Some(1),
            ..Default::default()
        }
        .apply_to(&mut moved, None)
        .unwrap_err();
        assert_eq!(e.field, "name");
        assert_eq!(moved, before);
    }

    #[test]
    fn qualifiers_are_version_numbers_or_alias_names() {
        assert_eq!(Qualifier::parse("2"), Ok(Qualifier::Version(2)));
        assert_eq!(Qualifier::parse("prod"), Ok(Qualifier::Alias("prod")));
        assert!(Qualifier::parse("0").is_err());
        assert!(Qualifier::parse("").is_err());
        assert!(Qualifier::parse("99999999999").is_err());
        assert_eq!(split_qualifier("hello:2"), ("hello", Some("2")));
        assert_eq!(split_qualifier("hello"), ("hello", None));
    }
}
