//! Request parameters the way Appwrite reads them: a JSON object whose `null` values count as
//! absent (the Python SDK sends every unset optional as `null`), and list parameters from the
//! query string. Each bad value is a 400 naming the parameter.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde_json::{Map, Value};

use super::{AppwriteError, Result};
use crate::common::Window;

/// A JSON body's parameters.
pub struct Params(Map<String, Value>);

impl Params {
    /// An empty body and a literal `null` (what the Node SDK sends) are no parameters.
    pub fn parse(body: &Bytes) -> Result<Self> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(Map::new()));
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            Ok(Value::Null) => Ok(Self(Map::new())),
            Ok(_) => Err(AppwriteError::invalid(
                "The request body must be a JSON object.",
            )),
            Err(e) => Err(AppwriteError::invalid(format!(
                "The request body is not valid JSON: {e}"
            ))),
        }
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    pub fn required<T>(name: &str, value: Option<T>) -> Result<T> {
        value.ok_or_else(|| AppwriteError::invalid(format!("Param \"{name}\" is not optional.")))
    }

    /// A string of at most `max` characters.
    pub fn string(&self, name: &str, max: usize) -> Result<Option<String>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s.clone())),
            Some(_) => Err(AppwriteError::invalid(format!(
                "Invalid {name}: Value must be a valid string and at most {max} chars"
            ))),
        }
    }

    pub fn boolean(&self, name: &str) -> Result<Option<bool>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            // Form-style clients send booleans as strings.
            Some(Value::String(s)) if s == "true" || s == "false" => Ok(Some(s == "true")),
            Some(_) => Err(AppwriteError::invalid(format!(
                "Invalid {name}: Value must be a valid boolean"
            ))),
        }
    }

    /// An integer within `min..=max`.
    pub fn integer(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>> {
        let value = match self.get(name) {
            None => return Ok(None),
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            Some(_) => None,
        };
        match value {
            Some(v) if (min..=max).contains(&v) => Ok(Some(v)),
            _ => Err(AppwriteError::invalid(format!(
                "Invalid {name}: Value must be a valid range between {min} and {max}"
            ))),
        }
    }

    /// An array of at most `max_len` strings, each at most `max_chars` characters.
    pub fn strings(
        &self,
        name: &str,
        max_len: usize,
        max_chars: usize,
    ) -> Result<Option<Vec<String>>> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        let bad = || {
            AppwriteError::invalid(format!(
                "Invalid {name}: Value must be an array of at most {max_len} strings, each at most {max_chars} chars"
            ))
        };
        let Value::Array(items) = value else {
            return Err(bad());
        };
        if items.len() > max_len {
            return Err(bad());
        }
        items
            .iter()
            .map(|item| match item {
                Value::String(s) if s.chars().count() <= max_chars => Ok(s.clone()),
                _ => Err(bad()),
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// An object of string values (`vars`). Numbers and booleans are taken as their text, as
    /// Appwrite stores whatever JSON it is given.
    pub fn string_map(&self, name: &str) -> Result<Option<BTreeMap<String, String>>> {
        let value = match self.get(name) {
            None => return Ok(None),
            Some(v) => v,
        };
        let map = match value {
            Value::Object(map) => map,
            // PHP encodes an empty map as `[]`; old clients echo it back.
            Value::Array(items) if items.is_empty() => return Ok(Some(BTreeMap::new())),
            _ => {
                return Err(AppwriteError::invalid(format!(
                    "Invalid {name}: Value must be a valid object"
                )));
            }
        };
        map.iter()
            .map(|(k, v)| {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(_) | Value::Bool(_) => v.to_string(),
                    _ => {
                        return Err(AppwriteError::invalid(format!(
                            "Invalid {name}: the value of `{k}` must be a string"
                        )));
                    }
                };
                Ok((k.clone(), text))
            })
            .collect::<Result<_>>()
            .map(Some)
    }
}

/// The list parameters of the query string: `limit`, `offset`, `cursor`, `cursorDirection`,
/// `orderType` (where the list has an order to choose) and `search`.
pub struct ListParams {
    pub window: Window,
    pub search: Option<String>,
}

impl ListParams {
    pub fn parse(query: &BTreeMap<String, String>, orderable: bool) -> Result<Self> {
        let number = |name: &str, max: u32, default: u32| -> Result<u32> {
            match query.get(name) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n <= max)
                    .ok_or_else(|| {
                        AppwriteError::invalid(format!(
                            "Invalid {name}: Value must be a valid range between 0 and {max}"
                        ))
                    }),
            }
        };
        let limit = number("limit", 100, 25)?;
        let offset = number("offset", 5000, 0)?;
        let before = match query.get("cursorDirection").map(String::as_str) {
            None | Some("after") => false,
            Some("before") => true,
            Some(_) => {
                return Err(AppwriteError::invalid(
                    "Invalid cursorDirection: Value must be one of (after, before)",
                ));
            }
        };
        let newest_first = match query.get("orderType").map(String::as_str) {
            None | Some("ASC") => false,
            Some("DESC") if orderable => true,
            Some(_) if orderable => {
                return Err(AppwriteError::invalid(
                    "Invalid orderType: Value must be one of (ASC, DESC)",
                ));
            }
            Some(_) => false,
        };
        let search = match query.get("search") {
            Some(s) if s.chars().count() > 256 => {
                return Err(AppwriteError::invalid(
                    "Invalid search: Value must be a valid string and at most 256 chars",
                ));
            }
            s => s.cloned().filter(|s| !s.is_empty()),
        };
        let cursor = query.get("cursor").cloned().filter(|c| !c.is_empty());
        if let Some(cursor) = &cursor
            && gust_core::validate::custom_id("cursor", cursor).is_err()
        {
            return Err(cursor_not_found(cursor));
        }
        Ok(Self {
            window: Window {
                limit,
                offset,
                cursor,
                before,
                newest_first,
            },
            search,
        })
    }
}

/// 400 `general_cursor_not_found`: the cursor names no item of this list.
pub fn cursor_not_found(cursor: &str) -> AppwriteError {
    AppwriteError::new(
        http::StatusCode::BAD_REQUEST,
        "general_cursor_not_found",
        format!("Document '{cursor}' for the 'cursor' value not found."),
    )
}

/// Property tests: any body or query string is parameters within their bounds or a 400.
#[cfg(test)]
mod props {
    use proptest::collection::btree_map;
    use proptest::prelude::*;

    use super::*;
    use crate::common::testing::{body, config, text};

    proptest! {
        #![proptest_config(config(256))]

        #[test]
        fn body_parameters_are_within_their_bounds_or_a_400(
            bytes in body(&["name", "enabled", "timeout", "events", "vars", "execute"]),
        ) {
            let Ok(params) = Params::parse(&Bytes::from(bytes)) else { return Ok(()) };
            let check = |e: AppwriteError| -> Result<(), TestCaseError> {
                prop_assert_eq!(e.status, http::StatusCode::BAD_REQUEST);
                Ok(())
            };
            match params.string("name", 128) {
                Ok(Some(name)) => prop_assert!(name.chars().count() <= 128),
                Ok(None) => {}
                Err(e) => check(e)?,
            }
            match params.integer("timeout", 1, 900) {
                Ok(Some(t)) => prop_assert!((1..=900).contains(&t)),
                Ok(None) => {}
                Err(e) => check(e)?,
            }
            match params.strings("events", 100, 256) {
                Ok(Some(events)) => prop_assert!(events.len() <= 100),
                Ok(None) => {}
                Err(e) => check(e)?,
            }
            if let Err(e) = params.boolean("enabled") {
                check(e)?;
            }
            if let Err(e) = params.string_map("vars") {
                check(e)?;
            }
        }

        #[test]
        fn list_queries_are_windows_within_their_bounds_or_a_400(
            query in btree_map(
                prop_oneof![
                    prop::sample::select(vec!["limit", "offset", "cursor", "cursorDirection", "orderType", "search"]).prop_map(str::to_string),
                    text(),
                ],
                prop_oneof!["[0-9]{1,5}", text()],
                0..6,
            ),
            orderable in any::<bool>(),
        ) {
            match ListParams::parse(&query, orderable) {
                Ok(list) => {
                    prop_assert!(list.window.limit <= 100 && list.window.offset <= 5000);
                    prop_assert!(list.search.is_none_or(|s| !s.is_empty() && s.chars().count() <= 256));
                    prop_assert!(list.window.newest_first <= orderable);
                }
                Err(e) => prop_assert_eq!(e.status, http::StatusCode::BAD_REQUEST),
            }
        }
    }
}
