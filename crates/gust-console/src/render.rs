//! What every page shares: the layout's chrome (title, who is signed in, breadcrumbs, the
//! function's tabs, the CSRF token its forms carry, a notice after an action), validation
//! errors to show beside their fields, timestamps, and the responses pages go out in.

use std::collections::BTreeMap;

use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use gust_core::Scope;

use crate::session::Signed;

/// A rendered template as an HTML response; a template that fails to render is a 500 (and a
/// log line), never a half page.
pub struct Html<T>(pub T);

impl<T: Template> IntoResponse for Html<T> {
    fn into_response(self) -> Response {
        match self.0.render() {
            Ok(body) => {
                ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
            }
            Err(e) => {
                tracing::error!(error = %e, "rendering a console page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the page failed to render",
                )
                    .into_response()
            }
        }
    }
}

/// A rendered template with a status other than 200.
pub fn with_status<T: Template>(status: StatusCode, page: T) -> Response {
    let mut response = Html(page).into_response();
    if response.status() == StatusCode::OK {
        *response.status_mut() = status;
    }
    response
}

pub struct User {
    /// The token's description, or its id.
    pub who: String,
    pub scopes: String,
    pub admin: bool,
}

pub struct Crumb {
    pub label: String,
    pub href: String,
}

pub struct Tab {
    pub label: &'static str,
    pub href: String,
    pub current: bool,
}

/// The layout around every page.
pub struct Chrome {
    pub title: String,
    pub csrf: String,
    pub user: Option<User>,
    pub notice: Option<String>,
    pub crumbs: Vec<Crumb>,
    pub tabs: Vec<Tab>,
    pub css: &'static str,
    pub js: &'static str,
}

impl Chrome {
    pub fn signed_out(title: &str) -> Self {
        Self {
            title: title.to_string(),
            csrf: String::new(),
            user: None,
            notice: None,
            crumbs: Vec::new(),
            tabs: Vec::new(),
            css: crate::assets::css_url(),
            js: crate::assets::js_url(),
        }
    }

    pub fn new(signed: &Signed, title: impl Into<String>) -> Self {
        let token = &signed.caller.token;
        let scopes: Vec<&str> = token
            .scopes
            .iter()
            .map(|s| match s {
                Scope::Admin => "admin",
                Scope::Read => "read",
                Scope::Write => "write",
                Scope::Invoke => "invoke",
            })
            .collect();
        Self {
            csrf: signed.csrf.clone(),
            user: Some(User {
                who: if token.description.is_empty() {
                    format!("token {}", token.id)
                } else {
                    token.description.clone()
                },
                scopes: scopes.join(", "),
                admin: token.allows(Scope::Admin),
            }),
            notice: signed.notice.map(str::to_string),
            ..Self::signed_out(&title.into())
        }
    }

    pub fn crumb(mut self, label: impl Into<String>, href: impl Into<String>) -> Self {
        self.crumbs.push(Crumb {
            label: label.into(),
            href: href.into(),
        });
        self
    }

    /// Breadcrumbs down to a function, and its tabs with `current` marked.
    pub fn function(self, ns: &str, f: &str, current: &str) -> Self {
        let base = fn_url(ns, f);
        let tabs = [
            ("Overview", ""),
            ("Deployments", "/deployments"),
            ("Test", "/test"),
            ("Executions", "/executions"),
            ("Live tail", "/tail"),
            ("Triggers", "/triggers"),
            ("Dead letters", "/dead-letters"),
            ("Metrics", "/metrics"),
            ("Settings", "/settings"),
        ]
        .into_iter()
        .map(|(label, path)| Tab {
            label,
            href: format!("{base}{path}"),
            current: label == current,
        })
        .collect();
        Self {
            tabs,
            ..self.namespace(ns).crumb(f, base)
        }
    }

    pub fn namespace(self, ns: &str) -> Self {
        self.crumb("Namespaces", format!("{}/namespaces", crate::PREFIX))
            .crumb(ns, format!("{}/functions", ns_url(ns)))
    }
}

pub fn ns_url(ns: &str) -> String {
    format!("{}/ns/{}", crate::PREFIX, path_escape(ns))
}

pub fn fn_url(ns: &str, f: &str) -> String {
    format!("{}/fn/{}", ns_url(ns), path_escape(f))
}

/// Names and ids are DNS labels or `[A-Za-z0-9._-]`, but a path segment is escaped anyway.
pub fn path_escape(segment: &str) -> String {
    query_escape(segment)
}

pub fn query_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Validation errors by form field, shown beside the field they name.
#[derive(Default, Debug)]
pub struct Fields {
    errors: BTreeMap<String, String>,
    /// An error that names no field of the form, shown above it.
    pub general: Option<String>,
}

impl Fields {
    pub fn one(field: &str, message: impl Into<String>) -> Self {
        let mut fields = Self::default();
        fields.add(field, message);
        fields
    }

    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.errors
            .entry(field.to_string())
            .or_insert_with(|| message.into());
    }

    /// Show what the engine says of `from` beside the form's field `to`.
    pub fn rename(&mut self, from: &str, to: &str) {
        if let Some(message) = self.errors.remove(from) {
            self.errors.insert(to.to_string(), message);
        }
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.errors.get(field).map(String::as_str)
    }

    pub fn has(&self, field: &str) -> bool {
        self.errors.contains_key(field)
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty() && self.general.is_none()
    }

    /// An engine error placed beside the form's field it names (`retention.max_count` is the
    /// field `retention_max_count`, `env.KEY` and `tags[2]` are `env` and `tags`), else above
    /// the form.
    pub fn from_error(error: &gust_engine::Error, form_fields: &[&str]) -> Self {
        let mut fields = Self::default();
        let message = error.message.clone();
        match error.field.as_deref() {
            Some(field) => {
                let flat = field.replace('.', "_");
                let head = field.split(['.', '[']).next().unwrap_or(field);
                if form_fields.contains(&flat.as_str()) {
                    fields.add(&flat, message);
                } else if form_fields.contains(&head) {
                    fields.add(head, format!("{field}: {message}"));
                } else {
                    fields.general = Some(format!("{field}: {message}"));
                }
            }
            None => fields.general = Some(message),
        }
        fields
    }
}

/// A point in time: shown in UTC, turned into the viewer's zone by the page's script, with
/// UTC kept in the `title`.
pub struct Ts(pub DateTime<Utc>);

impl std::fmt::Display for Ts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let utc = self.0.format("%Y-%m-%d %H:%M:%S UTC");
        write!(
            f,
            "<time datetime=\"{}\" title=\"{utc}\">{utc}</time>",
            self.0.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        )
    }
}

impl askama::filters::HtmlSafe for Ts {}

pub fn ts(at: &DateTime<Utc>) -> Ts {
    Ts(*at)
}

/// A duration in microseconds, as people read it.
pub fn micros(us: u64) -> String {
    if us < 1_000 {
        format!("{us} µs")
    } else if us < 1_000_000 {
        format!("{:.1} ms", us as f64 / 1_000.0)
    } else {
        format!("{:.2} s", us as f64 / 1_000_000.0)
    }
}

pub fn bytes(n: u64) -> String {
    if n < 1024 {
        format!("{n} B")
    } else if n < 1024 * 1024 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0))
    }
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    chrome: Chrome,
    message: String,
}

/// A page that only says something (an error, a refusal).
pub fn message_page(status: StatusCode, title: &str, message: &str) -> Response {
    with_status(
        status,
        MessagePage {
            chrome: Chrome::signed_out(title),
            message: message.to_string(),
        },
    )
}

/// An engine error as a page of its own.
pub fn error_page(error: &gust_engine::Error) -> Response {
    let title = match error.status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::UNAUTHORIZED => "Signed out",
        s if s.is_server_error() => "Server error",
        _ => "Refused",
    };
    let mut response = message_page(error.status, title, &error.message);
    if let Some(wait) = error.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, wait.into());
    }
    response
}

/// Engine errors returned by page handlers.
pub struct PageError(pub gust_engine::Error);

impl From<gust_engine::Error> for PageError {
    fn from(e: gust_engine::Error) -> Self {
        Self(e)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        error_page(&self.0)
    }
}

pub type PageResult<T = Response> = Result<T, PageError>;

pub async fn not_found() -> Response {
    message_page(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no console page at this address.",
    )
}

/// The engine's followed log as server-sent events, one per [`LogEvent`], until the engine
/// closes it or the page goes.
///
/// [`LogEvent`]: gust_engine::ops::LogEvent
pub fn sse(mut rx: tokio::sync::mpsc::Receiver<gust_engine::ops::LogEvent>) -> Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let stream = futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx).map(|e| {
            e.map(|e| {
                Ok::<_, std::convert::Infallible>(Event::default().event(e.name).data(e.data))
            })
        })
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// After an action: back to a page, which shows `done` as its notice.
pub fn done(to: &str, done: &str) -> Response {
    let sep = if to.contains('?') { '&' } else { '?' };
    axum::response::Redirect::to(&format!("{to}{sep}done={done}")).into_response()
}

/// What a `done` code in a page's query says: a fixed list, so a link cannot put words of
/// its own on a page.
pub fn notice(code: &str) -> Option<&'static str> {
    Some(match code {
        "created" => "Created.",
        "saved" => "Saved.",
        "deleted" => "Deleted.",
        "revoked" => "Token revoked.",
        "activated" => "Deployment activated: it serves requests from now on.",
        "uploaded" => "Uploaded: the build has started.",
        "replayed" => "Replay queued.",
        "replayed-all" => "Every dead letter on this page was queued again.",
        "secret-set" => "Secret set.",
        "secret-removed" => "Secret removed.",
        "paused" => "Trigger paused.",
        "resumed" => "Trigger resumed.",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_land_beside_the_field_they_name() {
        let fields = ["name", "env", "retention_max_count"];
        let e = gust_engine::Error::invalid("retention.max_count", "too big");
        assert_eq!(
            Fields::from_error(&e, &fields).get("retention_max_count"),
            Some("too big")
        );
        let e = gust_engine::Error::invalid("env.1BAD", "bad key");
        assert!(
            Fields::from_error(&e, &fields)
                .get("env")
                .unwrap()
                .contains("1BAD")
        );
        let e = gust_engine::Error::invalid("other", "no such field here");
        let placed = Fields::from_error(&e, &fields);
        assert!(placed.general.unwrap().contains("other"));
    }

    #[test]
    fn times_carry_utc_for_the_script_and_the_title() {
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let html = ts(&at).to_string();
        assert!(
            html.contains("datetime=\"2023-11-14T22:13:20.000Z\""),
            "{html}"
        );
        assert!(html.contains("title=\"2023-11-14 22:13:20 UTC\""), "{html}");
    }

    #[test]
    fn durations_read_in_their_unit() {
        assert_eq!(micros(250), "250 µs");
        assert_eq!(micros(1_500), "1.5 ms");
        assert_eq!(micros(2_500_000), "2.50 s");
    }
}
