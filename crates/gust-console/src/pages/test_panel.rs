//! The test panel: a request (method, path, headers, body) run through the engine as an API
//! execution, answered on the same page with the response (status, headers, the body
//! pretty-printed when it is JSON) and a link to the execution it made. A request may start
//! from an earlier execution's (a retry), and may be saved under a name for the function, to
//! run again later by anyone who can see the function.

use std::collections::BTreeMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use gust_engine::ops::{Executed, ExecutionInput};
use serde::Deserialize;

use super::{Can, FormData};
use crate::ConsoleState;
use crate::render::{self, Chrome, Fields, Html, PageResult, micros};
use crate::session::Signed;

pub fn routes() -> Router<ConsoleState> {
    Router::new().route("/ns/{ns}/fn/{fn}/test", get(show).post(run))
}

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

#[derive(Deserialize, Default)]
struct ShowParams {
    /// Start from this execution's request.
    from: Option<String>,
    /// Start from this saved request.
    saved: Option<String>,
}

/// The request as the form holds it.
#[derive(Clone)]
pub struct RequestForm {
    pub method: String,
    pub path: String,
    pub headers: String,
    pub body: String,
    pub run_async: bool,
}

impl Default for RequestForm {
    fn default() -> Self {
        Self {
            method: "POST".into(),
            path: "/".into(),
            headers: "content-type: application/json\n".into(),
            body: "{}".into(),
            run_async: false,
        }
    }
}

/// What the last run came to.
pub struct Outcome {
    pub status: Option<u16>,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub execution_id: Option<String>,
    pub duration: String,
    pub queued: bool,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "test_panel.html")]
pub(super) struct PanelPage {
    chrome: Chrome,
    can: Can,
    ns: String,
    fname: String,
    methods: [&'static str; 7],
    r: RequestForm,
    pub(super) errors: Fields,
    outcome: Option<Outcome>,
    saved: Vec<super::saved_requests::SavedRow>,
}

/// `Name: value` lines as a header map; `Err` names the line.
fn parse_headers(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut map = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("line {}: write it as Name: value", n + 1));
        };
        map.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    Ok(map)
}

pub fn headers_text(headers: &BTreeMap<String, String>) -> String {
    headers.iter().map(|(k, v)| format!("{k}: {v}\n")).collect()
}

pub(super) async fn page(
    state: &ConsoleState,
    signed: &Signed,
    ns: &str,
    f: &str,
    r: RequestForm,
) -> PageResult<PanelPage> {
    let function = state.engine.get_function(&signed.caller, ns, f).await?;
    Ok(PanelPage {
        chrome: Chrome::new(signed, format!("Test {}", function.name)).function(
            ns,
            &function.name,
            "Test",
        ),
        can: Can::of(&signed.caller),
        ns: ns.to_string(),
        methods: METHODS,
        saved: super::saved_requests::list(state, signed, ns, &function.name).await,
        fname: function.name,
        r,
        errors: Fields::default(),
        outcome: None,
    })
}

async fn show(
    State(state): State<ConsoleState>,
    signed: Signed,
    Path((ns, f)): Path<(String, String)>,
    Query(params): Query<ShowParams>,
) -> PageResult {
    let mut r = RequestForm::default();
    if let Some(id) = params.from {
        let e = state
            .engine
            .get_execution(&signed.caller, &ns, &f, &id)
            .await?;
        let request = e.request;
        let query = if request.query.is_empty() {
            String::new()
        } else {
            format!("?{}", request.query)
        };
        r = RequestForm {
            method: request.method,
            path: format!("{}{query}", request.path),
            headers: headers_text(&request.headers),
            body: if request.body.is_base64 {
                String::new()
            } else {
                request.body.body
            },
            run_async: e.is_async,
        };
    } else if let Some(name) = params.saved {
        r = super::saved_requests::get(&state, &signed, &ns, &f, &name).await?;
    }
    Ok(Html(page(&state, &signed, &ns, &f, r).await?).into_response())
}

pub fn form_request(form: &FormData) -> RequestForm {
    RequestForm {
        method: form.get("method").to_string(),
        path: form.get("path").to_string(),
        headers: form.get("headers").to_string(),
        body: form.get("body").to_string(),
        run_async: form.checked("async"),
    }
}

/// Check the form; the headers parsed, or the errors beside its fields.
pub fn check(r: &RequestForm) -> Result<BTreeMap<String, String>, Fields> {
    let mut errors = Fields::default();
    if !METHODS.contains(&r.method.as_str()) {
        errors.add("method", "Choose a method.");
    }
    if !r.path.starts_with('/') {
        errors.add("path", "Start the path with /.");
    }
    let headers = parse_headers(&r.headers).unwrap_or_else(|e| {
        errors.add("headers", e);
        BTreeMap::new()
    });
    if errors.is_empty() {
        Ok(headers)
    } else {
        Err(errors)
    }
}

async fn run(
    State(state): State<ConsoleState>,
    signed: Signed,
    Path((ns, f)): Path<(String, String)>,
    form: FormData,
) -> PageResult {
    if form.checked("save") {
        return super::saved_requests::save(&state, &signed, &ns, &f, &form).await;
    }
    let r = form_request(&form);
    let mut panel = page(&state, &signed, &ns, &f, r.clone()).await?;
    let headers = match check(&r) {
        Ok(headers) => headers,
        Err(errors) => {
            panel.errors = errors;
            return Ok(render::with_status(StatusCode::BAD_REQUEST, panel));
        }
    };
    let input = ExecutionInput {
        method: r.method.clone(),
        path: r.path.clone(),
        headers,
        body: Some(r.body.clone()),
        r#async: r.run_async,
        version: None,
        alias: None,
    };
    let ran = state
        .engine
        .create_execution(Some(&signed.caller), &ns, &f, &input, None)
        .await;
    panel.outcome = Some(match ran {
        Ok(Executed::Ran(e)) => {
            let response = e.response.as_ref();
            Outcome {
                status: response.map(|r| r.status_code),
                headers: response
                    .map(|r| r.headers.clone().into_iter().collect())
                    .unwrap_or_default(),
                body: response
                    .map(|r| super::executions::shown_body(&r.body, Some(&r.headers)))
                    .unwrap_or_default(),
                duration: e.duration_us.map(micros).unwrap_or_default(),
                error: e.error_message.clone(),
                execution_id: Some(e.id),
                queued: false,
            }
        }
        Ok(Executed::Accepted(accepted)) => Outcome {
            status: None,
            headers: Vec::new(),
            body: String::new(),
            duration: String::new(),
            error: None,
            execution_id: Some(accepted.execution.id),
            queued: true,
        },
        Err(e) if e.status.is_client_error() || e.execution_id.is_some() => Outcome {
            status: None,
            headers: Vec::new(),
            body: String::new(),
            duration: String::new(),
            error: Some(e.message.clone()),
            execution_id: e.execution_id.clone(),
            queued: false,
        },
        Err(e) => return Err(e.into()),
    });
    Ok(Html(panel).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_read_as_name_value_lines() {
        let h = parse_headers("Content-Type: text/plain\n\nX-A:  b \n").unwrap();
        assert_eq!(h["content-type"], "text/plain");
        assert_eq!(h["x-a"], "b");
        assert_eq!(parse_headers(&headers_text(&h)).unwrap(), h);
        assert!(parse_headers("nocolon").unwrap_err().contains("line 1"));
    }
}
