//! Saved test requests: a function's requests kept under a name (method, path, headers, body),
//! to send again while working on it, like Lambda's shareable test events. They belong to the
//! function and go with it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ValidationError, ValidationResult};

/// Most test requests one function keeps.
pub const MAX_TEST_REQUESTS: u32 = 50;
/// Largest body of a test request, in bytes.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Longest name.
pub const MAX_NAME_CHARS: usize = 64;
/// Longest path, query included.
pub const MAX_PATH_BYTES: usize = 2048;
/// Most headers, and the longest value of one.
pub const MAX_HEADERS: usize = 50;
pub const MAX_HEADER_VALUE_BYTES: usize = 8 * 1024;
/// The methods a test request may use.
pub const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// What a client sends to save a test request. Absent fields take their defaults: a `GET` of
/// `/` with no headers and an empty body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestRequestSpec {
    /// Unique per function: 1 to 64 letters, digits, `.`, `_` or `-`, starting with a letter
    /// or digit. Given by the path when saved with `PUT …/test-requests/{name}`.
    pub name: Option<String>,
    /// `GET` (default), `HEAD`, `POST`, `PUT`, `PATCH`, `DELETE` or `OPTIONS`.
    pub method: Option<String>,
    /// The path after the function's URL, with its query: starts with `/` (default `/`).
    pub path: Option<String>,
    /// At most 50 headers.
    pub headers: Option<BTreeMap<String, String>>,
    /// Text, at most 256 KiB.
    pub body: Option<String>,
}

/// A saved test request of a function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TestRequest {
    pub name: String,
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TestRequestSpec {
    /// Validate and build the request (`created_at` now: the store keeps the first one when it
    /// replaces a request of the same name).
    pub fn into_test_request(self) -> ValidationResult<TestRequest> {
        let name = self
            .name
            .ok_or_else(|| ValidationError::new("name", "is required"))?;
        test_request_name("name", &name)?;
        let method = self
            .method
            .unwrap_or_else(|| "GET".into())
            .to_ascii_uppercase();
        if !METHODS.contains(&method.as_str()) {
            return Err(ValidationError::new(
                "method",
                format!("must be one of {}", METHODS.join(", ")),
            ));
        }
        let path = self.path.unwrap_or_else(|| "/".into());
        check_path(&path)?;
        let headers = self.headers.unwrap_or_default();
        check_headers(&headers)?;
        let body = self.body.unwrap_or_default();
        if body.len() > MAX_BODY_BYTES {
            return Err(ValidationError::new(
                "body",
                format!(
                    "is {} bytes; at most {MAX_BODY_BYTES} (256 KiB) are kept",
                    body.len()
                ),
            ));
        }
        let now = crate::now();
        Ok(TestRequest {
            name,
            method,
            path,
            headers,
            body,
            created_at: now,
            updated_at: now,
        })
    }
}

/// Check a test request's name: it sits in URLs as a path segment.
pub fn test_request_name(field: &str, name: &str) -> ValidationResult<()> {
    let err = |m: String| Err(ValidationError::new(field, m));
    if name.is_empty() {
        return err("must not be empty".into());
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return err(format!("must be at most {MAX_NAME_CHARS} characters"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return err("may contain only letters, digits, '.', '_' and '-'".into());
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return err("must start with a letter or digit".into());
    }
    Ok(())
}

/// A path and query as a request line carries them: visible ASCII, no fragment.
fn check_path(path: &str) -> ValidationResult<()> {
    let err = |m: String| Err(ValidationError::new("path", m));
    if !path.starts_with('/') {
        return err("must start with '/'".into());
    }
    if path.len() > MAX_PATH_BYTES {
        return err(format!("must be at most {MAX_PATH_BYTES} bytes"));
    }
    if let Some(bad) = path.chars().find(|c| !c.is_ascii_graphic() || *c == '#') {
        return err(format!(
            "may not contain {bad:?}: only visible ASCII without '#' (percent-encode the rest)"
        ));
    }
    Ok(())
}

fn check_headers(headers: &BTreeMap<String, String>) -> ValidationResult<()> {
    if headers.len() > MAX_HEADERS {
        return Err(ValidationError::new(
            "headers",
            format!("holds {}; at most {MAX_HEADERS}", headers.len()),
        ));
    }
    for (name, value) in headers {
        let field = format!("headers.{name}");
        // RFC 9110's token characters.
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if name.is_empty() || !name.bytes().all(token) {
            return Err(ValidationError::new(
                field,
                "is not a header name (letters, digits and !#$%&'*+-.^_`|~)",
            ));
        }
        if value.len() > MAX_HEADER_VALUE_BYTES {
            return Err(ValidationError::new(
                field,
                format!("must be at most {MAX_HEADER_VALUE_BYTES} bytes"),
            ));
        }
        if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            return Err(ValidationError::new(
                field,
                "may not contain control characters (a line break would end the header)",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(value: serde_json::Value) -> TestRequestSpec {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn defaults_make_a_get_of_the_root() {
        let r = spec(serde_json::json!({"name": "smoke"}))
            .into_test_request()
            .unwrap();
        assert_eq!(
            (r.method.as_str(), r.path.as_str(), r.body.as_str()),
            ("GET", "/", "")
        );
        assert!(r.headers.is_empty());
        let r = spec(serde_json::json!({
            "name": "Order.create_1", "method": "post", "path": "/orders?dry=1",
            "headers": {"content-type": "application/json"}, "body": "{}"
        }))
        .into_test_request()
        .unwrap();
        assert_eq!(r.method, "POST");
    }

    #[test]
    fn each_bad_value_names_its_field() {
        for (value, field) in [
            (serde_json::json!({}), "name"),
            (serde_json::json!({"name": ""}), "name"),
            (serde_json::json!({"name": "-x"}), "name"),
            (serde_json::json!({"name": "a/b"}), "name"),
            (serde_json::json!({"name": "x".repeat(65)}), "name"),
            (serde_json::json!({"name": "x", "method": "BREW"}), "method"),
            (serde_json::json!({"name": "x", "path": "orders"}), "path"),
            (serde_json::json!({"name": "x", "path": "/a b"}), "path"),
            (serde_json::json!({"name": "x", "path": "/a#b"}), "path"),
            (
                serde_json::json!({"name": "x", "headers": {"bad name": "v"}}),
                "headers.bad name",
            ),
            (
                serde_json::json!({"name": "x", "headers": {"x-a": "v\r\nx-b: w"}}),
                "headers.x-a",
            ),
            (
                serde_json::json!({"name": "x", "body": "b".repeat(MAX_BODY_BYTES + 1)}),
                "body",
            ),
        ] {
            let err = spec(value.clone()).into_test_request().unwrap_err();
            assert_eq!(err.field, field, "{value}: {err}");
        }
        let many: BTreeMap<String, String> = (0..=MAX_HEADERS)
            .map(|i| (format!("x-{i}"), "v".into()))
            .collect();
        let err = spec(serde_json::json!({"name": "x", "headers": many}))
            .into_test_request()
            .unwrap_err();
        assert_eq!(err.field, "headers");
        // The largest body is kept.
        assert!(
            spec(serde_json::json!({"name": "x", "body": "b".repeat(MAX_BODY_BYTES)}))
                .into_test_request()
                .is_ok()
        );
    }
}
