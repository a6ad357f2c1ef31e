//! Domain names of functions. Every function answers at a generated name,
//! `<function>.<namespace>.<base domain>` (two labels, so names with dashes stay unambiguous);
//! a custom domain is one more host name, chosen by the client, that runs the same function.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ValidationError, ValidationResult};

/// Custom domains one function may have.
pub const MAX_DOMAINS_PER_FUNCTION: u32 = 50;
/// Longest host name (RFC 1035, without the trailing dot).
pub const MAX_HOSTNAME: usize = 253;

/// What a client sends to add a custom domain.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DomainSpec {
    /// A host name such as `api.example.com`; stored lower-cased.
    pub hostname: Option<String>,
}

/// Where a custom domain stands. Requests are routed as soon as it exists, so `ready` is the
/// only state this server gives; the field lets front doors that know others translate them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DomainStatus {
    #[default]
    Ready,
}

/// A custom domain of a function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Domain {
    pub id: String,
    /// Lower case, without a trailing dot.
    pub hostname: String,
    pub function_id: String,
    pub namespace_id: String,
    /// Where to invoke the function through it (computed when returned).
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub status: DomainStatus,
    pub error_message: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl DomainSpec {
    /// Validate and build a custom domain of `function_id`.
    pub fn into_domain(self, namespace_id: &str, function_id: &str) -> ValidationResult<Domain> {
        let given = self
            .hostname
            .ok_or_else(|| ValidationError::new("hostname", "is required, e.g. api.example.com"))?;
        let hostname = hostname("hostname", &given)?;
        if hostname == "localhost" {
            // The server's own name on every machine: its API would answer there no more.
            return Err(ValidationError::new(
                "hostname",
                "`localhost` is the server's own name",
            ));
        }
        Ok(Domain {
            id: crate::new_id(),
            hostname,
            function_id: function_id.to_string(),
            namespace_id: namespace_id.to_string(),
            url: String::new(),
            status: DomainStatus::Ready,
            error_message: None,
            created_at: crate::now(),
        })
    }
}

/// A host name, lower-cased: dot-separated labels of 1-63 letters, digits and `-`, none
/// starting or ending with `-`, at most 253 characters in all. A trailing dot (the root) is
/// dropped. Addresses are refused: a custom domain `127.0.0.1` would take the server's own
/// address away from its API, and a functions domain must be a name to have names under it.
pub fn hostname(field: &str, value: &str) -> ValidationResult<String> {
    let err = |m: String| Err(ValidationError::new(field, m));
    let name = value
        .strip_suffix('.')
        .unwrap_or(value)
        .to_ascii_lowercase();
    if name.is_empty() {
        return err("must not be empty".into());
    }
    if name.len() > MAX_HOSTNAME {
        return err(format!("must be at most {MAX_HOSTNAME} characters"));
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return err(format!(
                "`{value}`: each dot-separated label must be 1 to 63 characters"
            ));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return err(format!(
                "`{value}`: labels may contain only letters, digits and '-'"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return err(format!(
                "`{value}`: labels must start and end with a letter or digit"
            ));
        }
    }
    let top = name.rsplit('.').next().unwrap_or_default();
    if top.bytes().all(|b| b.is_ascii_digit()) {
        return err(format!("`{value}` is an address; give a host name"));
    }
    Ok(name)
}

/// The generated domain name of a function.
pub fn function_domain_name(function: &str, namespace: &str, base_domain: &str) -> String {
    format!("{function}.{namespace}.{base_domain}")
}

/// Whether `hostname` is `base_domain` or a name under it (both lower case).
pub fn is_under(hostname: &str, base_domain: &str) -> bool {
    hostname
        .strip_suffix(base_domain)
        .is_some_and(|rest| rest.is_empty() || rest.ends_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_are_checked_and_lower_cased() {
        assert_eq!(
            hostname("h", "Api.Example.COM.").unwrap(),
            "api.example.com"
        );
        assert_eq!(hostname("h", "a-1.b").unwrap(), "a-1.b");
        assert_eq!(hostname("h", "intranet").unwrap(), "intranet");
        let long_label = format!("{}.com", "x".repeat(64));
        let too_long = format!("{}com", "abcdefghi.".repeat(26));
        for bad in [
            "",
            ".",
            "a..b",
            "-a.com",
            "a-.com",
            "a_b.com",
            "a b.com",
            "é.com",
            "a.com:80",
            "*.example.com",
            "127.0.0.1",
            &long_label,
            &too_long,
        ] {
            let e = hostname("hostname", bad).unwrap_err();
            assert_eq!(e.field, "hostname", "{bad}");
        }
    }

    #[test]
    fn names_under_a_base_domain_are_recognised() {
        let base = "functions.localhost";
        assert!(is_under("functions.localhost", base));
        assert!(is_under("a.b.functions.localhost", base));
        assert!(!is_under("myfunctions.localhost", base));
        assert!(!is_under("functions.localhost.com", base));
        assert_eq!(
            function_domain_name("hello", "default", base),
            "hello.default.functions.localhost"
        );
    }

    #[test]
    fn a_spec_needs_a_hostname() {
        let e = DomainSpec::default().into_domain("n", "f").unwrap_err();
        assert_eq!(e.field, "hostname");
        let e = DomainSpec {
            hostname: Some("LocalHost.".into()),
        }
        .into_domain("n", "f")
        .unwrap_err();
        assert_eq!(e.field, "hostname");
        let d = DomainSpec {
            hostname: Some("API.example.com".into()),
        }
        .into_domain("n", "f")
        .unwrap();
        assert_eq!(d.hostname, "api.example.com");
        assert_eq!(d.status, DomainStatus::Ready);
    }
}

/// Property tests of host names: any text is a host name or an error naming the field; a name
/// that passes is lower case, well formed, passes again unchanged, and is under itself.
#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(crate::testing::config(512))]

        #[test]
        fn any_text_is_a_host_name_or_an_error(value in "[a-zA-Z0-9.-]{0,70}|\\PC{0,20}|[a-z]{63,64}(\\.[a-z]{63}){3}") {
            match hostname("cname", &value) {
                Err(error) => prop_assert_eq!(error.field, "cname"),
                Ok(name) => {
                    prop_assert!(name.len() <= MAX_HOSTNAME);
                    prop_assert_eq!(&name, &value.trim_end_matches('.').to_ascii_lowercase());
                    prop_assert!(name.split('.').all(|l| !l.is_empty() && l.len() <= 63
                        && !l.starts_with('-') && !l.ends_with('-')
                        && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')));
                    prop_assert_eq!(hostname("cname", &name).ok(), Some(name.clone()));
                    prop_assert!(is_under(&name, &name));
                }
            }
        }

        #[test]
        fn generated_names_are_host_names_under_their_domain(
            labels in proptest::collection::vec("[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", 1..4),
            top in "[a-z]{2,6}",
        ) {
            let name = format!("{}.{top}", labels.join("."));
            prop_assert_eq!(hostname("h", &name).ok(), Some(name.clone()));
            prop_assert_eq!(hostname("h", &format!("{}.", name.to_ascii_uppercase())).ok(), Some(name.clone()));
            let below = format!("fn.ns.{name}");
            let beside = format!("x{name}");
            prop_assert!(is_under(&below, &name));
            prop_assert!(!is_under(&beside, &name));
        }
    }
}
