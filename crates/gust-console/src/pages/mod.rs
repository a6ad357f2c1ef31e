//! The signed-in pages, one module per area. Each handler extracts what it needs, calls the
//! engine as the session's caller and renders a template; what the caller may do decides
//! which controls a page shows ([`Can`]), and the engine refuses whatever a forged request
//! tries beyond that.

mod activity;
mod dead_letters;
mod deployments;
mod executions;
mod functions;
mod metrics;
mod namespaces;
mod saved_requests;
mod schedules;
mod secrets;
mod tail;
mod test_panel;
mod tokens;
mod triggers;

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use gust_core::Scope;
use gust_engine::Caller;

use crate::ConsoleState;
use crate::render;

pub fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/", get(home))
        .merge(namespaces::routes())
        .merge(functions::routes())
        .merge(deployments::routes())
        .merge(executions::routes())
        .merge(test_panel::routes())
        .merge(tail::routes())
        .merge(triggers::routes())
        .merge(dead_letters::routes())
        .merge(metrics::routes())
        .merge(saved_requests::routes())
        .merge(tokens::routes())
}

async fn home() -> Response {
    Redirect::to(&format!("{}/namespaces", crate::PREFIX)).into_response()
}

/// What the signed-in token may do, for deciding which controls a page shows.
#[derive(Clone, Copy)]
pub struct Can {
    pub admin: bool,
    pub write: bool,
    pub invoke: bool,
}

impl Can {
    pub fn of(caller: &Caller) -> Self {
        let token = &caller.token;
        Self {
            admin: token.allows(Scope::Admin),
            write: token.allows(Scope::Write),
            invoke: token.allows(Scope::Invoke),
        }
    }
}

/// A URL-encoded form body, fields by name (repeated names kept, as checkboxes send them).
pub struct FormData(Vec<(String, String)>);

impl FormData {
    /// The first value of `name`, or `""`.
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find_map(|(k, v)| (k == name).then_some(v.as_str()))
            .unwrap_or("")
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter_map(|(k, v)| (k == name).then_some(v.as_str()))
            .collect()
    }

    /// The value of `name`, trimmed, or `None` when empty.
    pub fn opt(&self, name: &str) -> Option<String> {
        let v = self.get(name).trim();
        (!v.is_empty()).then(|| v.to_string())
    }

    pub fn checked(&self, name: &str) -> bool {
        !self.get(name).is_empty()
    }
}

impl<S: Send + Sync> FromRequest<S> for FormData {
    type Rejection = Response;

    async fn from_request(request: Request, _: &S) -> Result<Self, Response> {
        let bytes = axum::body::to_bytes(request.into_body(), crate::session::MAX_FORM_BYTES)
            .await
            .map_err(|_| {
                render::message_page(
                    http::StatusCode::PAYLOAD_TOO_LARGE,
                    "Too large",
                    "The form is larger than the console takes.",
                )
            })?;
        serde_urlencoded::from_bytes(&bytes)
            .map(FormData)
            .map_err(|_| {
                render::message_page(
                    http::StatusCode::BAD_REQUEST,
                    "Bad form",
                    "The form could not be read.",
                )
            })
    }
}

/// `KEY=value` lines (blank lines and `#` comments skipped) as a map; `Err` names the line.
pub fn parse_pairs(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut map = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("line {}: write it as KEY=value", n + 1));
        };
        map.insert(key.trim().to_string(), value.to_string());
    }
    Ok(map)
}

/// A map as the `KEY=value` lines [`parse_pairs`] reads.
pub fn pairs_text(map: &BTreeMap<String, String>) -> String {
    map.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
}

/// A whole number from a form field, or the error to show beside it. Empty is `None`.
pub fn number(form: &FormData, name: &str, errors: &mut render::Fields) -> Option<u32> {
    let text = form.get(name).trim();
    if text.is_empty() {
        return None;
    }
    match text.parse() {
        Ok(n) => Some(n),
        Err(_) => {
            errors.add(name, "Enter a whole number.");
            None
        }
    }
}

/// A page of a list, and the link to the next one.
pub struct Pager {
    pub next: Option<String>,
}

impl Pager {
    /// `base` with the cursor added to its query.
    pub fn new(base: &str, next_cursor: Option<&str>) -> Self {
        Self {
            next: next_cursor.map(|c| {
                let sep = if base.contains('?') { '&' } else { '?' };
                format!("{base}{sep}cursor={}", render::query_escape(c))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_read_back_as_written() {
        let map = parse_pairs("A=1\n\n# note\nB = x=y\r\n").unwrap();
        assert_eq!(map["A"], "1");
        assert_eq!(map["B"], " x=y");
        assert_eq!(parse_pairs(&pairs_text(&map)).unwrap(), map);
        assert!(parse_pairs("A=1\nnope").unwrap_err().contains("line 2"));
    }
}
