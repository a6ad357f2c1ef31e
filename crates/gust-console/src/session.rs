//! Signing in and staying signed in. A token is pasted once into the sign-in form; the engine
//! checks it (a wrong one counts in the API's per-address throttle) and opens a server-side
//! session. The browser gets only the session's random id, in a cookie that is HttpOnly,
//! SameSite=Strict, `Secure` when the request came over HTTPS, limited to `/console`, expiring
//! with the session, and signed with HMAC-SHA256 under a key derived from the server's own (a
//! cookie that was not made here is refused before the store is asked).
//!
//! Every request other than GET and HEAD must carry the session's CSRF token (an HMAC of the
//! session id under a second derived key): as the `_csrf` field of a form, or the
//! `X-CSRF-Token` header of a script's request; anything else is answered 403. The sign-in
//! form itself, which has no session yet, carries a token bound to a short-lived cookie of its
//! own, so no other site can sign a browser in with a token of its choosing.

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use gust_engine::{Caller, Engine};
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::Deserialize;
use sha2::Sha256;

use crate::ConsoleState;
use crate::render::{self, Chrome, Fields, Html};

/// The session cookie.
const COOKIE: &str = "gust_console";
/// The sign-in form's own cookie: a nonce its CSRF token is bound to.
const SIGNIN_COOKIE: &str = "gust_console_signin";
/// How long a session lasts (unless its token expires sooner): a working day.
const SESSION_HOURS: i64 = 8;
/// How long a sign-in form stays usable.
const SIGNIN_FORM_SECS: i64 = 3600;
/// Largest form body read to find its CSRF field (test requests carry bodies).
pub const MAX_FORM_BYTES: usize = 2 * 1024 * 1024;
/// The header scripts send the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The form field pages send it in.
pub const CSRF_FIELD: &str = "_csrf";

/// Keys derived from the server's key, one per use, so a MAC made for one never passes as the
/// other.
pub struct Keys {
    cookie: [u8; 32],
    csrf: [u8; 32],
}

impl Keys {
    pub fn derive(engine: &Engine) -> Self {
        Self {
            cookie: engine.derived_key("console session cookie"),
            csrf: engine.derived_key("console csrf token"),
        }
    }

    fn mac(key: &[u8; 32], value: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
        mac.update(value.as_bytes());
        mac
    }

    fn sign(key: &[u8; 32], value: &str) -> String {
        hex::encode(Self::mac(key, value).finalize().into_bytes())
    }

    /// Constant-time: the MAC crate compares.
    fn verify(key: &[u8; 32], value: &str, signature: &str) -> bool {
        hex::decode(signature).is_ok_and(|bytes| Self::mac(key, value).verify_slice(&bytes).is_ok())
    }

    /// The cookie's value for session `id`.
    fn cookie_value(&self, id: &str) -> String {
        format!("{id}.{}", Self::sign(&self.cookie, id))
    }

    /// The session id a cookie value holds, if this server signed it.
    fn session_id<'a>(&self, value: &'a str) -> Option<&'a str> {
        let (id, signature) = value.rsplit_once('.')?;
        Self::verify(&self.cookie, id, signature).then_some(id)
    }

    pub fn csrf_for(&self, session_id: &str) -> String {
        Self::sign(&self.csrf, &format!("session\n{session_id}"))
    }

    fn csrf_for_signin(&self, nonce: &str) -> String {
        Self::sign(&self.csrf, &format!("sign-in\n{nonce}"))
    }
}

/// The signed-in caller of a request, as [`require_session`] found it.
#[derive(Clone)]
pub struct Signed {
    pub caller: Caller,
    session_id: String,
    /// The token every form of the page carries.
    pub csrf: String,
    /// What the page should say an action did (`?done=` after a redirect).
    pub notice: Option<&'static str>,
}

impl FromRequestParts<ConsoleState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &ConsoleState) -> Result<Self, Response> {
        parts
            .extensions
            .get::<Signed>()
            .cloned()
            .ok_or_else(|| StatusCode::UNAUTHORIZED.into_response())
    }
}

/// Sign-in, open to anyone.
pub fn routes() -> Router<ConsoleState> {
    Router::new().route("/signin", get(signin_form).post(signin))
}

/// Sign-out, behind the session and its CSRF check like every other action.
pub fn signed_in_routes() -> Router<ConsoleState> {
    Router::new().route("/signout", post(signout))
}

/// The value of cookie `name` in a request's headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(key, value)| (key == name).then_some(value))
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, for `/console` only, Secure over HTTPS.
fn set_cookie(name: &str, value: &str, max_age_secs: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!(
        "{name}={value}; Path={}; Max-Age={max_age_secs}; HttpOnly; SameSite=Strict{secure}",
        crate::PREFIX
    );
    HeaderValue::from_str(&text).expect("cookie values are hex")
}

fn is_https(parts: &Parts) -> bool {
    gust_engine::invoke::is_https(
        &parts.headers,
        parts
            .extensions
            .get::<gust_engine::invoke::Transport>()
            .copied(),
    )
}

pub fn client_ip(extensions: &http::Extensions) -> Option<std::net::IpAddr> {
    extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|axum::extract::ConnectInfo(addr)| addr.ip())
}

/// Resolve the session cookie to its caller, or send the browser to sign in (a page it
/// asked for) or answer 401 (anything else).
pub async fn require_session(
    State(state): State<ConsoleState>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let id = cookie(&parts.headers, COOKIE).and_then(|v| state.keys.session_id(v));
    let caller = match id {
        Some(id) => state
            .engine
            .session_caller(id, client_ip(&parts.extensions))
            .await
            .map(|caller| (id.to_string(), caller)),
        None => Err(gust_engine::Error::unauthorized("not signed in")),
    };
    match caller {
        Ok((session_id, caller)) => {
            let csrf = state.keys.csrf_for(&session_id);
            let notice = parts
                .uri
                .query()
                .and_then(|q| form_field(q.as_bytes(), "done"))
                .and_then(|code| render::notice(&code));
            parts.extensions.insert(Signed {
                caller,
                session_id,
                csrf,
                notice,
            });
            next.run(Request::from_parts(parts, body)).await
        }
        Err(e) if e.status == StatusCode::UNAUTHORIZED => {
            let ended = set_cookie(COOKIE, "", 0, is_https(&parts));
            let mut response = if parts.method == Method::GET || parts.method == Method::HEAD {
                // Nesting took the prefix off `parts.uri`: put it back.
                let here = format!(
                    "{}{}",
                    crate::PREFIX,
                    parts.uri.path_and_query().map_or("", |p| p.as_str())
                );
                let to = format!(
                    "{}/signin?next={}",
                    crate::PREFIX,
                    render::query_escape(&here)
                );
                Redirect::to(&to).into_response()
            } else {
                render::message_page(
                    StatusCode::UNAUTHORIZED,
                    "Signed out",
                    "Your session has ended. Sign in again to go on.",
                )
            };
            if cookie(&parts.headers, COOKIE).is_some() {
                response.headers_mut().append(header::SET_COOKIE, ended);
            }
            response
        }
        Err(e) => render::error_page(&e),
    }
}

/// Refuse (403) any request but GET and HEAD that does not carry the session's CSRF token.
pub async fn require_csrf(
    State(state): State<ConsoleState>,
    signed: Signed,
    request: Request,
    next: Next,
) -> Response {
    if request.method() == Method::GET || request.method() == Method::HEAD {
        return next.run(request).await;
    }
    let session = format!("session\n{}", signed.session_id);
    let matches = |given: &str| Keys::verify(&state.keys.csrf, &session, given);
    if let Some(given) = request
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
    {
        return if matches(given) {
            next.run(request).await
        } else {
            csrf_refused()
        };
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") {
        // A file form with no script: the token rides in the action's query.
        let given = request
            .uri()
            .query()
            .and_then(|q| form_field(q.as_bytes(), CSRF_FIELD));
        return match given {
            Some(given) if matches(&given) => next.run(request).await,
            _ => csrf_refused(),
        };
    }
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return csrf_refused();
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
        return render::message_page(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Too large",
            "The form is larger than the console takes.",
        );
    };
    match form_field(&bytes, CSRF_FIELD) {
        Some(given) if matches(&given) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        _ => csrf_refused(),
    }
}

/// The first value of `name` in a URL-encoded form.
fn form_field(form: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(form)
        .ok()?
        .into_iter()
        .find_map(|(key, value)| (key == name).then_some(value))
}

fn csrf_refused() -> Response {
    render::message_page(
        StatusCode::FORBIDDEN,
        "Refused",
        "This request did not carry the page's security token. Reload the page and try again.",
    )
}

#[derive(Deserialize, Default)]
pub struct SigninQuery {
    next: Option<String>,
}

/// Only a console page is a place to go back to after signing in.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(next)
            if next.starts_with(&format!("{}/", crate::PREFIX))
                && !next.contains("//")
                && !next.contains('\\')
                && !next.starts_with(&format!("{}/signout", crate::PREFIX)) =>
        {
            next.to_string()
        }
        _ => format!("{}/namespaces", crate::PREFIX),
    }
}

#[derive(askama::Template)]
#[template(path = "signin.html")]
struct SigninPage {
    chrome: Chrome,
    next: String,
    errors: Fields,
}

async fn signin_form(
    State(state): State<ConsoleState>,
    Query(query): Query<SigninQuery>,
    parts: Parts,
) -> Response {
    // Someone already signed in goes straight on.
    if let Some(id) = cookie(&parts.headers, COOKIE).and_then(|v| state.keys.session_id(v))
        && state.engine.session_caller(id, None).await.is_ok()
    {
        return Redirect::to(&safe_next(query.next.as_deref())).into_response();
    }
    signin_page(
        &state,
        &parts,
        safe_next(query.next.as_deref()),
        Fields::default(),
        StatusCode::OK,
    )
}

/// The sign-in form, with a fresh nonce cookie and the token bound to it.
fn signin_page(
    state: &ConsoleState,
    parts: &Parts,
    next: String,
    errors: Fields,
    status: StatusCode,
) -> Response {
    let mut nonce = [0u8; 16];
    rand::rng().fill_bytes(&mut nonce);
    let nonce = hex::encode(nonce);
    let mut chrome = Chrome::signed_out("Sign in");
    chrome.csrf = state.keys.csrf_for_signin(&nonce);
    let mut response = Html(SigninPage {
        chrome,
        next,
        errors,
    })
    .into_response();
    *response.status_mut() = status;
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SIGNIN_COOKIE, &nonce, SIGNIN_FORM_SECS, is_https(parts)),
    );
    response
}

#[derive(Deserialize)]
struct SigninForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    next: Option<String>,
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

async fn signin(
    State(state): State<ConsoleState>,
    parts: Parts,
    body: axum::body::Bytes,
) -> Response {
    let Ok(form) = serde_urlencoded::from_bytes::<SigninForm>(&body) else {
        return csrf_refused();
    };
    let bound = cookie(&parts.headers, SIGNIN_COOKIE).is_some_and(|nonce| {
        Keys::verify(&state.keys.csrf, &format!("sign-in\n{nonce}"), &form.csrf)
    });
    if !bound {
        return csrf_refused();
    }
    let next = safe_next(form.next.as_deref());
    let token = form.token.trim();
    if token.is_empty() {
        let errors = Fields::one("token", "Paste a token to sign in.");
        return signin_page(&state, &parts, next, errors, StatusCode::BAD_REQUEST);
    }
    let ttl = chrono::Duration::hours(SESSION_HOURS);
    match state
        .engine
        .open_session(token, client_ip(&parts.extensions), ttl)
        .await
    {
        Ok(opened) => {
            let secure = is_https(&parts);
            let max_age = (opened.expires_at - gust_core::now()).num_seconds().max(1);
            let mut response = Redirect::to(&next).into_response();
            let headers = response.headers_mut();
            headers.append(
                header::SET_COOKIE,
                set_cookie(
                    COOKIE,
                    &state.keys.cookie_value(&opened.id),
                    max_age,
                    secure,
                ),
            );
            headers.append(header::SET_COOKIE, set_cookie(SIGNIN_COOKIE, "", 0, secure));
            response
        }
        Err(e) if e.status.is_client_error() => {
            let message = match e.status {
                StatusCode::TOO_MANY_REQUESTS => format!(
                    "Too many failed sign-ins from your address; try again in {} s.",
                    e.retry_after.unwrap_or(1)
                ),
                _ => format!("This token cannot sign in: {}.", e.message),
            };
            let mut response = signin_page(
                &state,
                &parts,
                next,
                Fields::one("token", message),
                e.status,
            );
            if let Some(wait) = e.retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(wait));
            }
            response
        }
        Err(e) => render::error_page(&e),
    }
}

/// End the session on the server, then forget the cookie.
async fn signout(State(state): State<ConsoleState>, signed: Signed, parts: Parts) -> Response {
    if let Err(e) = state
        .engine
        .close_session(&signed.caller, &signed.session_id)
        .await
    {
        return render::error_page(&e);
    }
    let mut response = Redirect::to(&format!("{}/signin", crate::PREFIX)).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(COOKIE, "", 0, is_https(&parts)),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        Keys {
            cookie: [1; 32],
            csrf: [2; 32],
        }
    }

    #[test]
    fn cookies_open_only_as_signed() {
        let keys = keys();
        let value = keys.cookie_value("abc123");
        assert_eq!(keys.session_id(&value), Some("abc123"));
        let forged = value.replacen("abc123", "abc124", 1);
        assert_eq!(keys.session_id(&forged), None);
        assert_eq!(keys.session_id("abc123"), None);
        assert_eq!(keys.session_id("abc123.zz"), None);
        let other = Keys {
            cookie: [3; 32],
            csrf: [2; 32],
        };
        assert_eq!(other.session_id(&value), None);
    }

    #[test]
    fn csrf_tokens_are_per_session_and_apart_from_sign_in() {
        let keys = keys();
        assert_eq!(keys.csrf_for("s1"), keys.csrf_for("s1"));
        assert_ne!(keys.csrf_for("s1"), keys.csrf_for("s2"));
        assert_ne!(keys.csrf_for("s1"), keys.csrf_for_signin("s1"));
    }

    #[test]
    fn only_console_pages_are_places_to_return_to() {
        assert_eq!(safe_next(Some("/console/tokens")), "/console/tokens");
        for bad in [
            "https://evil.example/",
            "//evil.example/console/",
            "/console//evil",
            "/api/v1/tokens",
            "/console/signout",
            "/console\\..",
        ] {
            assert_eq!(safe_next(Some(bad)), "/console/namespaces", "{bad}");
        }
    }

    #[test]
    fn form_fields_and_cookies_are_read_by_name() {
        assert_eq!(
            form_field(b"a=1&_csrf=x%2By&b=2", CSRF_FIELD).as_deref(),
            Some("x+y")
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("x=1; gust_console=v.s"),
        );
        assert_eq!(cookie(&headers, COOKIE), Some("v.s"));
        assert_eq!(cookie(&headers, SIGNIN_COOKIE), None);
    }
}
