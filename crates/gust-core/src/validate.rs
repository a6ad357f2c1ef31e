//! Rules for client-supplied values: names, env keys, numeric bounds. Each rule returns a
//! [`ValidationError`] naming the field, never panics.

use std::collections::BTreeMap;

use crate::error::{ValidationError, ValidationResult};

/// Names of namespaces and functions are DNS labels (RFC 1123): they appear in URLs and, later,
/// in host names.
pub fn dns_label(field: &str, value: &str) -> ValidationResult<()> {
    let err = |m: &str| Err(ValidationError::new(field, m));
    if value.is_empty() {
        return err("must not be empty");
    }
    if value.len() > 63 {
        return err("must be at most 63 characters (a DNS label)");
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return err("may contain only lowercase letters, digits and '-' (a DNS label)");
    }
    if value.starts_with('-') || value.ends_with('-') {
        return err("must start and end with a letter or digit (a DNS label)");
    }
    if crate::id::looks_like_id(value) {
        return err("must not have the shape of an id");
    }
    Ok(())
}

/// Longest client-chosen id.
pub const CUSTOM_ID_MAX: usize = 36;

/// A client-chosen id: `a-zA-Z0-9._-`, at most 36 characters, not starting with `.`, `-` or
/// `_` (the rule Appwrite's clients are written against).
pub fn custom_id(field: &str, value: &str) -> ValidationResult<()> {
    let err = |m: &str| Err(ValidationError::new(field, m));
    if value.is_empty() {
        return err("must not be empty");
    }
    if value.len() > CUSTOM_ID_MAX {
        return err("must be at most 36 characters");
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return err("may contain only letters, digits, '.', '_' and '-'");
    }
    if value.starts_with(['.', '_', '-']) {
        return err("must not start with '.', '_' or '-'");
    }
    Ok(())
}

/// A DNS label made from a valid id: lowercased, other characters turned into `-`.
pub fn label_from_id(id: &str) -> String {
    let mut label: String = id
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9') => c,
            _ => '-',
        })
        .collect();
    while label.ends_with('-') {
        label.pop();
    }
    if crate::id::looks_like_id(&label) {
        // A uuid-shaped name would be read as an id in URLs.
        label = format!("fn-{}", &label[..label.len().min(59)]);
        label.truncate(63);
    }
    label
}

/// A number within inclusive bounds.
pub fn within<T: PartialOrd + std::fmt::Display + Copy>(
    field: &str,
    value: T,
    min: T,
    max: T,
) -> ValidationResult<()> {
    if value < min || value > max {
        return Err(ValidationError::new(
            field,
            format!("must be between {min} and {max}, got {value}"),
        ));
    }
    Ok(())
}

/// Free text with a length cap.
pub fn text(field: &str, value: &str, max_chars: usize) -> ValidationResult<()> {
    if value.chars().count() > max_chars {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    Ok(())
}

/// Most variables a function or namespace may carry (env and secrets each).
pub const MAX_ENV_VARS: usize = 128;
/// Longest env value, in bytes.
pub const MAX_ENV_VALUE_BYTES: usize = 32 * 1024;

/// Environment variables: POSIX-portable keys, bounded values.
pub fn env_map(field: &str, env: &BTreeMap<String, String>) -> ValidationResult<()> {
    if env.len() > MAX_ENV_VARS {
        return Err(ValidationError::new(
            field,
            format!("must have at most {MAX_ENV_VARS} entries"),
        ));
    }
    for (key, value) in env {
        let key_field = format!("{field}.{key}");
        let valid_key = !key.is_empty()
            && key.len() <= 128
            && !key.as_bytes()[0].is_ascii_digit()
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid_key {
            return Err(ValidationError::new(
                key_field,
                "keys must match [A-Za-z_][A-Za-z0-9_]* and be at most 128 characters",
            ));
        }
        if value.len() > MAX_ENV_VALUE_BYTES {
            return Err(ValidationError::new(
                key_field,
                format!("value must be at most {MAX_ENV_VALUE_BYTES} bytes"),
            ));
        }
        if value.contains('\0') {
            return Err(ValidationError::new(
                key_field,
                "value must not contain NUL",
            ));
        }
    }
    Ok(())
}

/// Tags: short labels for grouping and search.
pub fn tags(field: &str, tags: &[String]) -> ValidationResult<()> {
    if tags.len() > 32 {
        return Err(ValidationError::new(field, "must have at most 32 entries"));
    }
    for (i, tag) in tags.iter().enumerate() {
        if tag.is_empty() || tag.len() > 64 || tag.chars().any(char::is_control) {
            return Err(ValidationError::new(
                format!("{field}[{i}]"),
                "must be 1 to 64 printable characters",
            ));
        }
    }
    Ok(())
}

/// Most labels a resource may carry.
pub const MAX_LABELS: usize = 64;

/// Labels: machine-readable key/value metadata (what other platforms' APIs keep on a resource,
/// such as a region or a project id). Keys are lower-case words with `.`, `/`, `_` or `-`.
pub fn labels(field: &str, labels: &BTreeMap<String, String>) -> ValidationResult<()> {
    if labels.len() > MAX_LABELS {
        return Err(ValidationError::new(
            field,
            format!("must have at most {MAX_LABELS} entries"),
        ));
    }
    for (key, value) in labels {
        let valid_key = !key.is_empty()
            && key.len() <= 63
            && key.as_bytes()[0].is_ascii_alphanumeric()
            && key.bytes().all(|b| {
                b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || matches!(b, b'.' | b'/' | b'_' | b'-')
            });
        if !valid_key {
            return Err(ValidationError::new(
                format!("{field}.{key}"),
                "keys must be 1 to 63 characters of a-z, 0-9, `.`, `/`, `_` or `-`, starting with a letter or digit",
            ));
        }
        if value.chars().count() > 256 || value.chars().any(char::is_control) {
            return Err(ValidationError::new(
                format!("{field}.{key}"),
                "value must be at most 256 printable characters",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_accept_and_reject() {
        let ok = BTreeMap::from([("scaleway.region".to_string(), "fr-par".to_string())]);
        assert!(labels("labels", &ok).is_ok());
        for key in ["", "Region", "-a", "a b", &"k".repeat(64)] {
            let bad = BTreeMap::from([(key.to_string(), "v".to_string())]);
            let err = labels("labels", &bad).unwrap_err();
            assert!(err.field.starts_with("labels"), "{key:?}: {err:?}");
        }
        let long = BTreeMap::from([("k".to_string(), "v".repeat(257))]);
        assert_eq!(labels("labels", &long).unwrap_err().field, "labels.k");
    }

    #[test]
    fn dns_labels_accept_and_reject() {
        assert!(dns_label("name", "hello-1").is_ok());
        assert!(dns_label("name", "a").is_ok());
        for bad in [
            "",
            "Hello",
            "-a",
            "a-",
            "a_b",
            "a.b",
            &"x".repeat(64),
            "0190a0b2-7c1e-7d2a-9f00-1234567890ab",
        ] {
            let e = dns_label("name", bad).unwrap_err();
            assert_eq!(e.field, "name", "{bad}");
        }
    }

    #[test]
    fn custom_ids_and_the_labels_made_from_them() {
        for good in [
            "a",
            "Hello.World_1-x",
            &"x".repeat(36),
            "0190a0b2-7c1e-7d2a-9f00-1234567890ab",
        ] {
            assert!(custom_id("id", good).is_ok(), "{good}");
        }
        for bad in ["", "_a", ".a", "-a", "a b", "a/b", "é", &"x".repeat(37)] {
            assert_eq!(custom_id("id", bad).unwrap_err().field, "id", "{bad}");
        }
        assert_eq!(label_from_id("My.Func_1"), "my-func-1");
        assert_eq!(label_from_id("a__"), "a");
        let uuid = "0190a0b2-7c1e-7d2a-9f00-1234567890ab";
        assert!(dns_label("name", &label_from_id(uuid)).is_ok());
        assert!(dns_label("name", &label_from_id(&"Z".repeat(36))).is_ok());
    }

    #[test]
    fn env_keys_are_named_in_errors() {
        let mut env = BTreeMap::new();
        env.insert("GOOD_1".to_string(), "v".to_string());
        assert!(env_map("env", &env).is_ok());
        env.insert("1BAD".to_string(), "v".to_string());
        assert_eq!(env_map("env", &env).unwrap_err().field, "env.1BAD");
        let mut env = BTreeMap::new();
        env.insert("A B".to_string(), "v".to_string());
        assert_eq!(env_map("env", &env).unwrap_err().field, "env.A B");
    }

    #[test]
    fn bounds_name_the_value() {
        let e = within("memory_mb", 1u32, 16, 4096).unwrap_err();
        assert_eq!(e.message, "must be between 16 and 4096, got 1");
    }
}
