//! Saved test requests of a function, as the test panel lists, opens, saves and deletes them
//! (the engine keeps them, with the function).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use gust_core::TestRequestSpec;

use super::FormData;
use super::test_panel::{RequestForm, check, form_request, headers_text};
use crate::ConsoleState;
use crate::render::{self, Fields, PageResult, fn_url};
use crate::session::Signed;

pub fn routes() -> Router<ConsoleState> {
    Router::new().route("/ns/{ns}/fn/{fn}/test/saved/{name}/delete", post(delete))
}

pub struct SavedRow {
    pub name: String,
    pub method: String,
    pub path: String,
}

/// The function's saved requests; none when the token may not read them.
pub async fn list(state: &ConsoleState, signed: &Signed, ns: &str, f: &str) -> Vec<SavedRow> {
    state
        .engine
        .list_test_requests(&signed.caller, ns, f)
        .await
        .map(|all| {
            all.into_iter()
                .map(|r| SavedRow {
                    name: r.name,
                    method: r.method,
                    path: r.path,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A saved request as the form shows it.
pub async fn get(
    state: &ConsoleState,
    signed: &Signed,
    ns: &str,
    f: &str,
    name: &str,
) -> PageResult<RequestForm> {
    let saved = state
        .engine
        .get_test_request(&signed.caller, ns, f, name)
        .await?;
    Ok(RequestForm {
        method: saved.method,
        path: saved.path,
        headers: headers_text(&saved.headers),
        body: saved.body,
        run_async: false,
    })
}

/// Save the panel's request under the name given (replacing one of that name).
pub async fn save(
    state: &ConsoleState,
    signed: &Signed,
    ns: &str,
    f: &str,
    form: &FormData,
) -> PageResult<Response> {
    let r = form_request(form);
    let refused = async |errors: Fields, status: StatusCode| -> PageResult<Response> {
        let mut panel = super::test_panel::page(state, signed, ns, f, r.clone()).await?;
        panel.errors = errors;
        Ok(render::with_status(status, panel))
    };
    let headers = match check(&r) {
        Ok(headers) => headers,
        Err(errors) => return refused(errors, StatusCode::BAD_REQUEST).await,
    };
    let spec = TestRequestSpec {
        name: Some(form.get("name").trim().to_string()),
        method: Some(r.method.clone()),
        path: Some(r.path.clone()),
        headers: Some(headers),
        body: Some(r.body.clone()),
    };
    match state
        .engine
        .put_test_request(&signed.caller, ns, f, spec)
        .await
    {
        Ok(saved) => Ok(render::done(
            &format!(
                "{}/test?saved={}",
                fn_url(ns, f),
                render::query_escape(&saved.name)
            ),
            "saved",
        )),
        Err(e) if e.status.is_client_error() => {
            let errors = Fields::from_error(&e, &["name", "method", "path", "headers", "body"]);
            refused(errors, e.status).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn delete(
    State(state): State<ConsoleState>,
    signed: Signed,
    Path((ns, f, name)): Path<(String, String, String)>,
) -> PageResult {
    state
        .engine
        .delete_test_request(&signed.caller, &ns, &f, &name)
        .await?;
    Ok(render::done(&format!("{}/test", fn_url(&ns, &f)), "deleted").into_response())
}
