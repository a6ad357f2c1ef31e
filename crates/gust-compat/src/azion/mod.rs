//! Azion's API v3 (`Accept: application/json; version=3`), so that Azion's clients manage
//! edge functions, edge applications with their function instances and rules, and domains
//! on Gust. Requests reach the applications natively (`/edge/{id}/…` and by host name); this
//! door only manages them.
//!
//! Mapping:
//! - `Authorization: Token <t>` → a Gust token; the account → the token's namespace when it
//!   is limited to one, else `default`;
//! - edge function → a function with the `azion` contract on node20, its id the function's
//!   `serial`; `name` → title, `code` → a deployment of one file (`main.js`, or `main.mjs`
//!   for an ES module) built before the answer, `json_args` → the function's `args`,
//!   `reference_count` → the instances that run it;
//! - edge application, function instance, rule (request phase), domain → the native edge
//!   resources with their own integer ids (`edge_function_id` → the instance's function by
//!   serial, `is_active` → `active`);
//! - envelopes: `{"results", "schema_version": 3}` and the paged list; errors as Azion's
//!   (Django REST framework's): `{"field": ["message"]}` for a 400, `{"detail": …}` otherwise.

mod applications;
mod domains;
mod functions;
mod rules;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use gust_engine::{Caller, Engine, Error};
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::common::{Failure, client_ip};

/// The version of Azion's API this door speaks, as clients ask for it in `Accept`.
const SCHEMA_VERSION: u64 = 3;

/// The namespace of a token that may touch every namespace.
const DEFAULT_NAMESPACE: &str = "default";

pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route(
            "/edge_functions",
            get(functions::list).post(functions::create),
        )
        .route(
            "/edge_functions/{id}",
            get(functions::get)
                .put(functions::put)
                .patch(functions::patch)
                .delete(functions::delete),
        )
        .route(
            "/edge_applications",
            get(applications::list).post(applications::create),
        )
        .route(
            "/edge_applications/{id}",
            get(applications::get)
                .put(applications::put)
                .patch(applications::patch)
                .delete(applications::delete),
        )
        .route(
            "/edge_applications/{app}/functions_instances",
            get(applications::list_instances).post(applications::create_instance),
        )
        // The seed's own text writes the singular once; it costs nothing to answer it.
        .route(
            "/edge_application/{app}/functions_instances",
            get(applications::list_instances).post(applications::create_instance),
        )
        .route(
            "/edge_applications/{app}/functions_instances/{id}",
            get(applications::get_instance)
                .put(applications::put_instance)
                .patch(applications::patch_instance)
                .delete(applications::delete_instance),
        )
        .route(
            "/edge_applications/{app}/rules_engine/{phase}/rules",
            get(rules::list).post(rules::create),
        )
        .route(
            "/edge_applications/{app}/rules_engine/{phase}/rules/{id}",
            get(rules::get)
                .put(rules::put)
                .patch(rules::patch)
                .delete(rules::delete),
        )
        .route("/domains", get(domains::list).post(domains::create))
        .route(
            "/domains/{id}",
            get(domains::get)
                .put(domains::put)
                .patch(domains::patch)
                .delete(domains::delete),
        )
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(engine)
}

async fn route_not_found() -> AzError {
    AzError::not_found()
}

async fn method_not_allowed(method: http::Method) -> AzError {
    AzError::detail(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("Method \"{method}\" not allowed."),
    )
}

/// Every request's context: the engine, the caller its token stands for, and the namespace
/// standing for its account.
pub struct Az {
    pub engine: Arc<Engine>,
    pub caller: Caller,
    pub ns: String,
}

impl FromRequestParts<Arc<Engine>> for Az {
    type Rejection = AzError;

    async fn from_request_parts(parts: &mut Parts, engine: &Arc<Engine>) -> Result<Self> {
        // Content negotiation comes first, as upstream: v3 is chosen by `Accept`.
        if !accepts_v3(&parts.headers) {
            return Err(AzError::detail(
                StatusCode::NOT_ACCEPTABLE,
                "Could not satisfy the request Accept header: send `Accept: application/json; version=3`.",
            ));
        }
        let secret = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, secret) = v.trim().split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("token")
                    .then(|| secret.trim())
                    .filter(|s| !s.is_empty())
            });
        let Some(secret) = secret else {
            return Err(AzError::detail(
                StatusCode::UNAUTHORIZED,
                "Authentication credentials were not provided: send `Authorization: Token <Gust token>`.",
            ));
        };
        let caller = engine
            .authenticate_from(Some(secret), client_ip(&parts.extensions))
            .map_err(|e| {
                if e.status == StatusCode::TOO_MANY_REQUESTS {
                    return AzError::from(e);
                }
                AzError::detail(
                    StatusCode::UNAUTHORIZED,
                    format!("Invalid token: {}", e.message),
                )
            })?;
        let ns = caller
            .token
            .namespace_id
            .clone()
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());
        Ok(Self {
            engine: engine.clone(),
            caller,
            ns,
        })
    }
}

/// Whether `Accept` asks for JSON in version 3: a media range `application/json` (or a
/// wildcard) with the parameter `version=3`, spaces around `;` and `=` allowed.
fn accepts_v3(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
            let json = matches!(media.as_str(), "application/json" | "application/*" | "*/*");
            json && parts.any(|p| {
                p.split_once('=').is_some_and(|(k, v)| {
                    k.trim().eq_ignore_ascii_case("version")
                        && v.trim().trim_matches('"') == SCHEMA_VERSION.to_string()
                })
            })
        })
}

/// An error as Azion answers it: a map of fields to messages for invalid input, else
/// `{"detail": …}`.
#[derive(Debug)]
pub struct AzError {
    status: StatusCode,
    body: Value,
}

impl AzError {
    pub fn detail(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            body: json!({"detail": message.into()}),
        }
    }

    /// 404 `{"detail": "Not found."}`: an unknown id, or one the caller may not see.
    pub fn not_found() -> Self {
        Self::detail(StatusCode::NOT_FOUND, "Not found.")
    }

    /// 400 naming one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let mut fields = BTreeMap::new();
        fields.insert(field.to_string(), vec![message.into()]);
        Self::fields(fields)
    }

    pub fn fields(fields: BTreeMap<String, Vec<String>>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            body: json!(fields),
        }
    }

    /// An engine error, with the fields it names renamed by `names` (native → Azion).
    pub fn of(error: Error, names: &[(&str, &str)]) -> Self {
        match Failure::of(&error) {
            Failure::Invalid => match error.field.as_deref() {
                Some(field) => {
                    let renamed = rename(field, names);
                    Self::field(&renamed, error.message)
                }
                None => Self::detail(StatusCode::BAD_REQUEST, error.message),
            },
            Failure::NotFound(_) => Self::not_found(),
            _ => Self::detail(error.status, error.message),
        }
    }
}

/// A native field name in Azion's terms: its first segment renamed (`criteria[0][1].operator`
/// keeps its path).
fn rename(field: &str, names: &[(&str, &str)]) -> String {
    let end = field.find(['.', '[']).unwrap_or(field.len());
    let (head, rest) = field.split_at(end);
    let head = names
        .iter()
        .find(|(native, _)| *native == head)
        .map_or(head, |(_, azion)| azion);
    format!("{head}{rest}")
}

impl From<Error> for AzError {
    fn from(error: Error) -> Self {
        Self::of(error, &[])
    }
}

impl IntoResponse for AzError {
    fn into_response(self) -> Response {
        reply(self.status, &self.body)
    }
}

pub type Result<T, E = AzError> = std::result::Result<T, E>;

/// A JSON answer.
pub fn reply(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// `{"results": object, "schema_version": 3}`.
pub fn one(status: StatusCode, results: Value) -> Response {
    reply(
        status,
        &json!({"results": results, "schema_version": SCHEMA_VERSION}),
    )
}

/// 204 with an empty body, as the seed answers a delete.
pub fn deleted() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// The query of every list: `page` (from 1), `page_size`, the field to order by and the
/// direction (`order_by` and `sort`; clients also send the field in `sort` and the direction
/// in `order`), and `filter` (text found in the name).
#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    pub page: Option<String>,
    pub page_size: Option<String>,
    pub order_by: Option<String>,
    pub sort: Option<String>,
    pub order: Option<String>,
    pub filter: Option<String>,
}

const PAGE_SIZE: usize = 10;
const MAX_PAGE_SIZE: usize = 100;

/// One page of `views` (each a JSON object with `id` and `name`) as Azion's list envelope,
/// ordered as `params` asks among `sortable` fields. `path` is the list's path under the
/// dialect, for the `links`.
pub fn page_of(
    engine: &Engine,
    path: &str,
    params: &ListParams,
    views: Vec<Value>,
    sortable: &[&str],
) -> Result<(Vec<Value>, Value)> {
    let Arranged {
        items,
        count,
        total_pages,
        page,
        size,
    } = arrange(params, views, sortable)?;
    let link = |to: usize| -> Value {
        let mut query: Vec<(&str, String)> =
            vec![("page", to.to_string()), ("page_size", size.to_string())];
        for (name, given) in [
            ("order_by", &params.order_by),
            ("sort", &params.sort),
            ("order", &params.order),
            ("filter", &params.filter),
        ] {
            if let Some(given) = given {
                query.push((name, given.clone()));
            }
        }
        let query = serde_urlencoded::to_string(&query).unwrap_or_default();
        Value::String(format!(
            "{}{}{path}?{query}",
            engine.base_url(),
            crate::AZION_PREFIX
        ))
    };
    let envelope = json!({
        "count": count,
        "total_pages": total_pages,
        "schema_version": SCHEMA_VERSION,
        "links": {
            "previous": if page > 1 { link(page - 1) } else { Value::Null },
            "next": if page < total_pages { link(page + 1) } else { Value::Null },
        },
    });
    Ok((items, envelope))
}

/// A page of views cut out as `params` ask: filtered, ordered, the page's items, with the
/// count of all that matched and the page's number and size.
struct Arranged {
    items: Vec<Value>,
    count: usize,
    total_pages: usize,
    page: usize,
    size: usize,
}

fn arrange(params: &ListParams, mut views: Vec<Value>, sortable: &[&str]) -> Result<Arranged> {
    let mut field = "id";
    let mut descending = false;
    for (name, given) in [
        ("order_by", &params.order_by),
        ("sort", &params.sort),
        ("order", &params.order),
    ] {
        let Some(given) = given.as_deref().map(str::trim).filter(|g| !g.is_empty()) else {
            continue;
        };
        match given.to_ascii_lowercase().as_str() {
            "asc" => descending = false,
            "desc" => descending = true,
            _ => {
                let (wanted, reverse) = match given.strip_prefix('-') {
                    Some(rest) => (rest, true),
                    None => (given, false),
                };
                field = sortable.iter().find(|f| **f == wanted).ok_or_else(|| {
                    AzError::field(
                        name,
                        format!(
                            "`{given}` is not a field to order by: one of {}",
                            sortable.join(", ")
                        ),
                    )
                })?;
                descending |= reverse;
            }
        }
    }
    if let Some(filter) = params.filter.as_deref().filter(|f| !f.is_empty()) {
        let filter = filter.to_lowercase();
        views.retain(|v| {
            v["name"]
                .as_str()
                .is_some_and(|n| n.to_lowercase().contains(&filter))
        });
    }
    views.sort_by(|a, b| {
        let order = compare(&a[field], &b[field]).then_with(|| compare(&a["id"], &b["id"]));
        if descending { order.reverse() } else { order }
    });
    let size = params
        .page_size
        .as_deref()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .filter(|s| *s > 0)
        .map_or(PAGE_SIZE, |s| s.min(MAX_PAGE_SIZE));
    let page = match params.page.as_deref().map(str::trim) {
        None | Some("") => 1,
        Some(given) => given
            .parse::<usize>()
            .ok()
            .filter(|p| *p >= 1)
            .ok_or_else(|| AzError::detail(StatusCode::NOT_FOUND, "Invalid page."))?,
    };
    let count = views.len();
    let total_pages = count.div_ceil(size);
    if page > total_pages.max(1) {
        return Err(AzError::detail(StatusCode::NOT_FOUND, "Invalid page."));
    }
    let items: Vec<Value> = views
        .into_iter()
        .skip((page - 1) * size)
        .take(size)
        .collect();
    Ok(Arranged {
        items,
        count,
        total_pages,
        page,
        size,
    })
}

/// The list envelope with its `results`.
pub fn listed(mut envelope: Value, results: Vec<Value>) -> Response {
    envelope["results"] = Value::Array(results);
    reply(StatusCode::OK, &envelope)
}

/// Numbers by value, text case-insensitively, booleans false first; values of different
/// kinds by kind, `null` last (as SQL orders them ascending). A total order, as sorting needs:
/// taking mixed kinds as equal made `1 = null = 3` but `1 < 3`, and the sort panicked on a
/// list with nulls in the field it ordered by (an unbound domain's `edge_application_id`).
fn compare(a: &Value, b: &Value) -> std::cmp::Ordering {
    let rank = |v: &Value| match v {
        Value::Bool(_) => 0,
        Value::Number(_) => 1,
        Value::String(_) => 2,
        Value::Array(_) => 3,
        Value::Object(_) => 4,
        Value::Null => 5,
    };
    match (a, b) {
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .unwrap_or(0.0)
            .total_cmp(&b.as_f64().unwrap_or(0.0)),
        (Value::String(a), Value::String(b)) => a.to_lowercase().cmp(&b.to_lowercase()),
        (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// A path id: digits only, else 404 as for an id that does not exist.
pub fn path_id(given: &str) -> Result<u64> {
    given
        .parse::<u64>()
        .ok()
        .filter(|id| *id > 0 && given.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(AzError::not_found)
}

/// A request body's fields, read with every mistake collected (Azion answers them all at
/// once, each under its field).
pub struct Body {
    map: Map<String, Value>,
    errors: BTreeMap<String, Vec<String>>,
}

pub const REQUIRED: &str = "This field is required.";

impl Body {
    /// A JSON object; an empty body has no fields.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let map = if bytes.iter().all(u8::is_ascii_whitespace) {
            Map::new()
        } else {
            match serde_json::from_slice::<Value>(bytes) {
                Ok(Value::Object(map)) => map,
                Ok(other) => {
                    let kind = match other {
                        Value::Array(_) => "list",
                        Value::String(_) => "str",
                        Value::Number(_) => "int",
                        Value::Bool(_) => "bool",
                        _ => "null",
                    };
                    return Err(AzError::field(
                        "non_field_errors",
                        format!("Invalid data. Expected a dictionary, but got {kind}."),
                    ));
                }
                Err(e) => {
                    return Err(AzError::detail(
                        StatusCode::BAD_REQUEST,
                        format!("JSON parse error - {e}"),
                    ));
                }
            }
        };
        Ok(Self {
            map,
            errors: BTreeMap::new(),
        })
    }

    pub fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    pub fn error(&mut self, name: &str, message: impl Into<String>) {
        self.errors
            .entry(name.to_string())
            .or_default()
            .push(message.into());
    }

    /// The raw value of a field, `null` counting as given.
    pub fn raw(&self, name: &str) -> Option<&Value> {
        self.map.get(name)
    }

    /// A text field: required (and not blank) when `required`.
    pub fn text(&mut self, name: &str, required: bool) -> Option<String> {
        match self.map.get(name) {
            None if required => self.error(name, REQUIRED),
            None => {}
            Some(Value::String(s)) if s.trim().is_empty() => {
                self.error(name, "This field may not be blank.");
            }
            Some(Value::String(s)) => return Some(s.clone()),
            Some(Value::Null) => self.error(name, "This field may not be null."),
            Some(_) => self.error(name, "Not a valid string."),
        }
        None
    }

    pub fn boolean(&mut self, name: &str, required: bool) -> Option<bool> {
        match self.map.get(name) {
            None if required => self.error(name, REQUIRED),
            None => {}
            Some(Value::Bool(b)) => return Some(*b),
            Some(Value::String(s)) if matches!(s.as_str(), "true" | "True" | "1") => {
                return Some(true);
            }
            Some(Value::String(s)) if matches!(s.as_str(), "false" | "False" | "0") => {
                return Some(false);
            }
            Some(Value::Null) => self.error(name, "This field may not be null."),
            Some(_) => self.error(name, "Must be a valid boolean."),
        }
        None
    }

    /// A positive integer (an id), as a number or digits.
    pub fn id(&mut self, name: &str, required: bool) -> Option<u64> {
        let parsed = match self.map.get(name) {
            None if required => {
                self.error(name, REQUIRED);
                return None;
            }
            None => return None,
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
            Some(Value::Null) => {
                self.error(name, "This field may not be null.");
                return None;
            }
            Some(_) => None,
        };
        match parsed.filter(|id| *id > 0) {
            Some(id) => Some(id),
            None => {
                self.error(name, "A valid integer is required.");
                None
            }
        }
    }

    /// A JSON field: any value, or JSON text (clients send arguments either way); text that
    /// is not JSON is an error.
    pub fn json(&mut self, name: &str, required: bool) -> Option<Value> {
        match self.map.get(name) {
            None if required => self.error(name, REQUIRED),
            None => {}
            Some(Value::Null) => self.error(name, "This field may not be null."),
            Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
                Ok(value) => return Some(value),
                Err(e) => self.error(name, format!("Value must be valid JSON: {e}.")),
            },
            Some(value) => return Some(value.clone()),
        }
        None
    }

    /// Every mistake found, as one 400.
    pub fn finish(self) -> Result<()> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(AzError::fields(self.errors))
        }
    }
}

/// A time as Azion writes it: ISO 8601 with microseconds and `Z`.
pub fn timestamp(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_three_is_read_from_the_accept_parameters() {
        let accepts = |value: &str| {
            let mut headers = http::HeaderMap::new();
            headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
            accepts_v3(&headers)
        };
        assert!(accepts("application/json; version=3"));
        assert!(accepts("application/json;version=3"));
        assert!(accepts("text/html, application/json ; Version = \"3\""));
        assert!(!accepts("application/json"));
        assert!(!accepts("application/json; version=4"));
        assert!(!accepts("text/html; version=3"));
        assert!(!accepts_v3(&http::HeaderMap::new()));
    }

    #[test]
    fn native_fields_are_renamed_by_their_first_segment() {
        let names = [("function", "edge_function_id"), ("active", "is_active")];
        assert_eq!(rename("function", &names), "edge_function_id");
        assert_eq!(
            rename("criteria[0][1].operator", &names),
            "criteria[0][1].operator"
        );
        assert_eq!(rename("active", &names), "is_active");
    }

    #[test]
    fn lists_with_nulls_in_the_ordering_field_are_ordered() {
        // Domains, some bound to an application and some not: the sort used to panic ("does
        // not correctly implement a total order") on such a list.
        let views: Vec<Value> = (0..40u64)
            .map(|id| {
                let app = match id % 3 {
                    0 => Value::Null,
                    _ => Value::from((id * 7919) % 13),
                };
                json!({"id": id + 1, "name": format!("d{id}"), "edge_application_id": app})
            })
            .collect();
        let params = ListParams {
            order_by: Some("edge_application_id".into()),
            page_size: Some("100".into()),
            ..ListParams::default()
        };
        let page = arrange(&params, views, &["id", "edge_application_id"]).unwrap();
        let apps: Vec<&Value> = page
            .items
            .iter()
            .map(|v| &v["edge_application_id"])
            .collect();
        let first_null = apps.iter().position(|a| a.is_null()).unwrap();
        assert!(apps[first_null..].iter().all(|a| a.is_null()), "{apps:?}");
        let numbers: Vec<u64> = apps[..first_null]
            .iter()
            .map(|a| a.as_u64().unwrap())
            .collect();
        assert!(numbers.is_sorted(), "{numbers:?}");
    }

    #[test]
    fn bodies_collect_every_mistake() {
        let mut body = Body::parse(br#"{"name": " ", "args": "{nope", "id": "x"}"#).unwrap();
        assert_eq!(body.text("name", true), None);
        assert_eq!(body.json("args", true), None);
        assert_eq!(body.id("id", true), None);
        assert_eq!(body.boolean("active", true), None);
        let error = body.finish().unwrap_err();
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
        for field in ["name", "args", "id", "active"] {
            assert!(error.body[field].is_array(), "{field}: {}", error.body);
        }
        let body = Body::parse(br#"{"args": "{\"a\": 1}"}"#).map(|mut b| b.json("args", true));
        assert_eq!(body.unwrap(), Some(json!({"a": 1})));
    }
}

/// Property tests of what every Azion request goes through: bodies (any bytes, any values in
/// the fields read), path ids, and list pages (any query over views whose fields hold any
/// kind of value).
#[cfg(test)]
mod props {
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::*;
    use crate::common::testing::{body, config, json, text};

    fn view() -> impl Strategy<Value = Value> {
        (
            any::<u64>(),
            json(),
            prop_oneof![json(), text().prop_map(Value::from)],
            json(),
        )
            .prop_map(|(id, other, name, active)| {
                json!({"id": id, "name": name, "edge_application_id": other, "active": active})
            })
    }

    fn list_params() -> impl Strategy<Value = ListParams> {
        let given = || {
            proptest::option::of(prop_oneof![
                prop::sample::select(vec![
                    "id",
                    "-id",
                    "name",
                    "-name",
                    "edge_application_id",
                    "active",
                    "asc",
                    "DESC",
                    " desc "
                ])
                .prop_map(str::to_string),
                text(),
            ])
        };
        let number = || proptest::option::of(prop_oneof!["[0-9]{1,3}", "[0-9]{20,25}", text()]);
        (
            number(),
            number(),
            given(),
            given(),
            given(),
            proptest::option::of(text()),
        )
            .prop_map(
                |(page, page_size, order_by, sort, order, filter)| ListParams {
                    page,
                    page_size,
                    order_by,
                    sort,
                    order,
                    filter,
                },
            )
    }

    proptest! {
        #![proptest_config(config(256))]

        #[test]
        fn bodies_are_fields_or_errors_under_their_names(
            bytes in body(&["name", "active", "id", "args", "json_args"]),
        ) {
            let Ok(mut body) = Body::parse(&bytes) else { return Ok(()) };
            let _ = body.text("name", true);
            let _ = body.boolean("active", false);
            if let Some(id) = body.id("id", false) {
                prop_assert!(id > 0);
            }
            let _ = body.json("args", true);
            let _ = body.json("json_args", false);
            if let Err(error) = body.finish() {
                prop_assert_eq!(error.status, StatusCode::BAD_REQUEST);
            }
        }

        #[test]
        fn path_ids_are_positive_numbers_or_not_found(given in prop_oneof!["[0-9]{1,22}", text()]) {
            match path_id(&given) {
                Ok(id) => {
                    prop_assert!(id > 0);
                    prop_assert_eq!(given.parse::<u64>().ok(), Some(id));
                }
                Err(error) => prop_assert_eq!(error.status, StatusCode::NOT_FOUND),
            }
        }

        #[test]
        fn any_list_query_is_a_page_in_order_or_an_error(
            params in list_params(),
            views in vec(view(), 0..40),
        ) {
            let total = views.len();
            let sortable = ["id", "name", "edge_application_id", "active"];
            match arrange(&params, views, &sortable) {
                Err(error) => prop_assert!(error.status.is_client_error()),
                Ok(page) => {
                    prop_assert!(page.items.len() <= page.size && page.size <= MAX_PAGE_SIZE);
                    prop_assert!(page.count <= total);
                    prop_assert_eq!(page.total_pages, page.count.div_ceil(page.size));
                    prop_assert!(page.page >= 1);
                }
            }
        }

        #[test]
        fn values_compare_as_a_total_order(a in json(), b in json(), c in json()) {
            use std::cmp::Ordering::*;
            prop_assert_eq!(compare(&a, &a), Equal);
            prop_assert_eq!(compare(&a, &b), compare(&b, &a).reverse());
            if compare(&a, &b) != Greater && compare(&b, &c) != Greater {
                prop_assert_ne!(compare(&a, &c), Greater, "{} {} {}", a, b, c);
            }
        }
    }
}
