//! Request values the way Scaleway's clients send them. A JSON body whose `null`s and enum
//! sentinels (`unknown_privacy`, ...) count as absent (the Go SDK sends both for unset fields;
//! the Python SDK sends `{}` even on GET and DELETE); list parameters (`page`, `page_size`,
//! `order_by`) from the query string. Each bad value is a 400 naming the argument.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use serde_json::{Map, Value};

use super::{Result, ScwError};

/// A JSON body's arguments.
pub struct Body(Map<String, Value>);

impl Body {
    pub fn parse(body: &Bytes) -> Result<Self> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(Map::new()));
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            Ok(Value::Null) => Ok(Self(Map::new())),
            Ok(_) => Err(ScwError::invalid(
                "body",
                "format",
                "the request body must be a JSON object",
            )),
            Err(e) => Err(ScwError::invalid(
                "body",
                "format",
                format!("the request body is not valid JSON: {e}"),
            )),
        }
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.0
            .get(name)
            .filter(|v| !v.is_null())
            .filter(|v| !v.as_str().is_some_and(|s| s.starts_with("unknown_")))
    }

    pub fn required<T>(name: &str, value: Option<T>) -> Result<T> {
        value.ok_or_else(|| ScwError::invalid(name, "required", "is required"))
    }

    pub fn string(&self, name: &str) -> Result<Option<String>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ScwError::invalid(name, "format", "must be a string")),
        }
    }

    /// One of `allowed`.
    pub fn choice(&self, name: &str, allowed: &[&str]) -> Result<Option<String>> {
        match self.string(name)? {
            None => Ok(None),
            Some(s) if allowed.contains(&s.as_str()) => Ok(Some(s)),
            Some(s) => Err(ScwError::invalid(
                name,
                "constraint",
                format!("`{s}` is not one of: {}", allowed.join(", ")),
            )),
        }
    }

    pub fn boolean(&self, name: &str) -> Result<Option<bool>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(ScwError::invalid(name, "format", "must be a boolean")),
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
            _ => Err(ScwError::invalid(
                name,
                "constraint",
                format!("must be an integer from {min} to {max}"),
            )),
        }
    }

    /// A protobuf Duration string (`"300s"`, `"1.5s"`), as whole seconds (rounded up).
    pub fn duration_s(&self, name: &str) -> Result<Option<u32>> {
        let Some(text) = self.string(name)? else {
            return Ok(None);
        };
        let seconds = text
            .strip_suffix('s')
            .and_then(|n| n.parse::<f64>().ok())
            .filter(|n| n.is_finite() && *n >= 0.0 && *n <= f64::from(u32::MAX));
        match seconds {
            Some(n) => Ok(Some(n.ceil() as u32)),
            None => Err(ScwError::invalid(
                name,
                "format",
                format!("`{text}` is not a duration such as \"300s\""),
            )),
        }
    }

    /// A string → string map.
    pub fn map(&self, name: &str) -> Result<Option<BTreeMap<String, String>>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    _ => Err(ScwError::invalid(
                        &format!("{name}.{k}"),
                        "format",
                        "values must be strings",
                    )),
                })
                .collect::<Result<_>>()
                .map(Some),
            Some(_) => Err(ScwError::invalid(
                name,
                "format",
                "must be an object of strings",
            )),
        }
    }

    pub fn strings(&self, name: &str) -> Result<Option<Vec<String>>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str().map(str::to_string).ok_or_else(|| {
                        ScwError::invalid(name, "format", "must be a list of strings")
                    })
                })
                .collect::<Result<_>>()
                .map(Some),
            Some(_) => Err(ScwError::invalid(
                name,
                "format",
                "must be a list of strings",
            )),
        }
    }

    /// `[{"key", "value"}]`: a key with no value removes that secret.
    pub fn secrets(&self, name: &str) -> Result<Option<SecretChanges>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    let key = item.get("key").and_then(Value::as_str);
                    let value = item.get("value").filter(|v| !v.is_null());
                    match (key, value) {
                        (Some(key), None) => Ok((key.to_string(), None)),
                        (Some(key), Some(Value::String(value))) => {
                            Ok((key.to_string(), Some(value.clone())))
                        }
                        _ => Err(ScwError::invalid(
                            name,
                            "format",
                            "must be a list of {\"key\": string, \"value\": string}",
                        )),
                    }
                })
                .collect::<Result<_>>()
                .map(Some),
            Some(_) => Err(ScwError::invalid(
                name,
                "format",
                "must be a list of {\"key\", \"value\"}",
            )),
        }
    }

    /// A JSON object, kept as it is.
    pub fn object(&self, name: &str) -> Result<Option<Map<String, Value>>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m.clone())),
            Some(_) => Err(ScwError::invalid(name, "format", "must be a JSON object")),
        }
    }
}

/// Secrets sent as `[{key, value}]`: a value to set, or none to drop the key.
pub type SecretChanges = Vec<(String, Option<String>)>;

/// Apply `[{key, value}]` to `secrets`: set each value, drop each key sent without one.
pub fn merge_secrets(secrets: &mut BTreeMap<String, String>, changes: SecretChanges) {
    for (key, value) in changes {
        match value {
            Some(value) => secrets.insert(key, value),
            None => secrets.remove(&key),
        };
    }
}

/// The query string's parameters.
pub struct Query(HashMap<String, String>);

/// Items one page may hold.
const MAX_PAGE_SIZE: u32 = 1000;
/// Scaleway's default page size.
const DEFAULT_PAGE_SIZE: u32 = 20;

impl Query {
    pub fn new(query: HashMap<String, String>) -> Self {
        Self(query)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    fn number(&self, name: &str, min: u32, max: u32) -> Result<Option<u32>> {
        match self.get(name) {
            None => Ok(None),
            Some(text) => match text.parse::<u32>() {
                Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
                _ => Err(ScwError::invalid(
                    name,
                    "constraint",
                    format!("must be an integer from {min} to {max}"),
                )),
            },
        }
    }

    /// `page` (1-based) and `page_size`, and `order_by` out of `orders` (the first is the
    /// default).
    pub fn paging(&self, orders: &[&'static str]) -> Result<Paging> {
        let page = self.number("page", 1, u32::MAX)?.unwrap_or(1);
        let size = self
            .number("page_size", 1, MAX_PAGE_SIZE)?
            .unwrap_or(DEFAULT_PAGE_SIZE);
        let order = match self.get("order_by") {
            None => orders[0],
            Some(given) => orders
                .iter()
                .copied()
                .find(|o| *o == given)
                .ok_or_else(|| {
                    ScwError::invalid(
                        "order_by",
                        "constraint",
                        format!("`{given}` is not one of: {}", orders.join(", ")),
                    )
                })?,
        };
        Ok(Paging { page, size, order })
    }
}

/// One page as the client asked for it.
#[derive(Debug)]
pub struct Paging {
    pub page: u32,
    pub size: u32,
    pub order: &'static str,
}

impl Paging {
    /// Sort `items` by the order asked for, and cut the page out: the items and the total.
    /// Past the last page the list is empty (the SDKs' "list all" helpers stop on that).
    pub fn cut<T>(
        &self,
        mut items: Vec<T>,
        created: impl Fn(&T) -> String,
        name: impl Fn(&T) -> String,
    ) -> (Vec<T>, u64) {
        let total = items.len() as u64;
        let (by_name, descending) = match self.order {
            "name_asc" | "hostname_asc" => (true, false),
            "name_desc" | "hostname_desc" => (true, true),
            "created_at_desc" => (false, true),
            _ => (false, false),
        };
        if by_name {
            items.sort_by_key(|item| name(item));
        } else {
            items.sort_by_key(|item| created(item));
        }
        if descending {
            items.reverse();
        }
        let skip = (u64::from(self.page) - 1) * u64::from(self.size);
        let items = items
            .into_iter()
            .skip(skip.min(total) as usize)
            .take(self.size as usize)
            .collect();
        (items, total)
    }
}

pub const ORDERS_BY_NAME: [&str; 4] =
    ["created_at_asc", "created_at_desc", "name_asc", "name_desc"];
pub const ORDERS_BY_TIME: [&str; 2] = ["created_at_asc", "created_at_desc"];

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> Query {
        Query::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn pages_are_cut_in_order_and_empty_past_the_end() {
        let items: Vec<(u32, &str)> = vec![(1, "c"), (2, "a"), (3, "b")];
        let paging = query(&[("page_size", "2"), ("order_by", "name_asc")])
            .paging(&ORDERS_BY_NAME)
            .unwrap();
        let (page, total) = paging.cut(items.clone(), |i| format!("{:03}", i.0), |i| i.1.into());
        assert_eq!(total, 3);
        assert_eq!(page, vec![(2, "a"), (3, "b")]);
        let past = query(&[("page", "3"), ("page_size", "2")])
            .paging(&ORDERS_BY_NAME)
            .unwrap();
        assert!(
            past.cut(items, |i| i.0.to_string(), |i| i.1.into())
                .0
                .is_empty()
        );
    }

    #[test]
    fn bad_paging_names_the_argument() {
        for (pairs, argument) in [
            (vec![("page", "0")], "page"),
            (vec![("page_size", "x")], "page_size"),
            (vec![("order_by", "size_asc")], "order_by"),
        ] {
            let error = query(&pairs).paging(&ORDERS_BY_NAME).unwrap_err();
            assert_eq!(error.body["details"][0]["argument_name"], argument);
        }
    }

    #[test]
    fn nulls_and_enum_sentinels_are_absent() {
        let body = Body::parse(&Bytes::from_static(
            br#"{"privacy": "unknown_privacy", "tags": null, "timeout": "1.5s"}"#,
        ))
        .unwrap();
        assert_eq!(body.string("privacy").unwrap(), None);
        assert_eq!(body.strings("tags").unwrap(), None);
        assert_eq!(body.duration_s("timeout").unwrap(), Some(2));
        let bad = Body::parse(&Bytes::from_static(br#"{"timeout": "ten"}"#)).unwrap();
        assert!(bad.duration_s("timeout").is_err());
    }
}

/// Property tests: any body or query string is arguments within their bounds or a 400 naming
/// the argument; a page is the slice of the ordered list it names.
#[cfg(test)]
mod props {
    use proptest::collection::{hash_map, vec};
    use proptest::prelude::*;

    use super::*;
    use crate::common::testing::{body, config, text};

    proptest! {
        #![proptest_config(config(256))]

        #[test]
        fn body_arguments_are_within_their_bounds_or_a_400(
            bytes in body(&["name", "privacy", "min_scale", "timeout", "tags", "secret_environment_variables", "environment_variables", "args"]),
        ) {
            let Ok(body) = Body::parse(&Bytes::from(bytes)) else { return Ok(()) };
            let check = |e: ScwError| -> Result<(), TestCaseError> {
                prop_assert_eq!(e.status, http::StatusCode::BAD_REQUEST);
                prop_assert!(e.body["details"][0]["argument_name"].is_string(), "{}", e.body);
                Ok(())
            };
            match body.integer("min_scale", 0, 50) {
                Ok(Some(n)) => prop_assert!((0..=50).contains(&n)),
                Ok(None) => {}
                Err(e) => check(e)?,
            }
            match body.duration_s("timeout") {
                Ok(Some(s)) => {
                    let text = body.string("timeout").unwrap().unwrap();
                    let given: f64 = text.strip_suffix('s').unwrap().parse().unwrap();
                    prop_assert_eq!(f64::from(s), given.ceil());
                }
                Ok(None) => {}
                Err(e) => check(e)?,
            }
            for result in [
                body.choice("privacy", &["public", "private"]).map(drop),
                body.strings("tags").map(drop),
                body.map("environment_variables").map(drop),
                body.secrets("secret_environment_variables").map(drop),
                body.object("args").map(drop),
            ] {
                if let Err(e) = result {
                    check(e)?;
                }
            }
        }

        #[test]
        fn pages_are_slices_of_the_ordered_list(
            query in hash_map(
                prop::sample::select(vec!["page", "page_size", "order_by"]).prop_map(str::to_string),
                prop_oneof!["[0-9]{1,4}", "[0-9]{10,12}", prop::sample::select(ORDERS_BY_NAME.to_vec()).prop_map(str::to_string), text()],
                0..4,
            ),
            names in vec("[a-c]{0,2}", 0..40),
        ) {
            let paging = match Query::new(query).paging(&ORDERS_BY_NAME) {
                Ok(paging) => paging,
                Err(e) => {
                    prop_assert_eq!(e.status, http::StatusCode::BAD_REQUEST);
                    return Ok(());
                }
            };
            prop_assert!(paging.page >= 1 && (1..=1000).contains(&paging.size));
            let items: Vec<(usize, String)> = names.into_iter().enumerate().collect();
            let (page, total) = paging.cut(items.clone(), |i| format!("{:04}", i.0), |i| i.1.clone());
            prop_assert_eq!(total, items.len() as u64);
            let mut ordered = items;
            match paging.order {
                "name_asc" => ordered.sort_by(|a, b| a.1.cmp(&b.1)),
                "name_desc" => {
                    ordered.sort_by(|a, b| a.1.cmp(&b.1));
                    ordered.reverse();
                }
                "created_at_desc" => ordered.reverse(),
                _ => {}
            }
            let skip = (paging.page as usize - 1).saturating_mul(paging.size as usize);
            let expected: Vec<_> = ordered.into_iter().skip(skip).take(paging.size as usize).collect();
            prop_assert_eq!(page, expected);
        }

        #[test]
        fn regions_are_checked_without_a_panic(region in prop_oneof!["[a-z]{2}-[a-z]{3}-[0-9]", text()]) {
            let _ = super::super::valid_region(&region);
        }
    }
}
