//! Tokens (admin only, as in the engine): the list, a form to create one whose secret is shown
//! once, on the page that answers the form (never in a URL or a cookie), with a copy button;
//! and revoking, which also ends the console sessions signed in with the token.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use gust_core::{ListQuery, Scope, Token, TokenSpec};
use serde::Deserialize;

use super::{FormData, Pager, number};
use crate::ConsoleState;
use crate::render::{self, Chrome, Fields, Html, PageResult, Ts, ts};
use crate::session::Signed;

pub fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/tokens", get(list).post(create))
        .route("/tokens/{id}/revoke", post(revoke))
}

#[derive(Deserialize, Default)]
struct ListParams {
    cursor: Option<String>,
}

struct Row {
    id: String,
    description: String,
    scopes: String,
    limit: String,
    created: Ts,
    expires: Option<Ts>,
    last_used: Option<Ts>,
    current: bool,
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct ListPage {
    chrome: Chrome,
    rows: Vec<Row>,
    next: Option<String>,
    namespaces: Vec<String>,
    errors: Fields,
    description: String,
    /// The secret of the token just created: on this response only.
    created_secret: Option<String>,
}

fn scope_name(s: &Scope) -> &'static str {
    match s {
        Scope::Admin => "admin",
        Scope::Read => "read",
        Scope::Write => "write",
        Scope::Invoke => "invoke",
    }
}

fn row(t: &Token, current: &str) -> Row {
    Row {
        id: t.id.clone(),
        description: t.description.clone(),
        scopes: t
            .scopes
            .iter()
            .map(scope_name)
            .collect::<Vec<_>>()
            .join(", "),
        limit: match (&t.namespace_id, &t.function_id) {
            (_, Some(f)) => format!("function {f}"),
            (Some(ns), None) => format!("namespace {ns}"),
            (None, None) => "everything".into(),
        },
        created: ts(&t.created_at),
        expires: t.expires_at.as_ref().map(ts),
        last_used: t.last_used_at.as_ref().map(ts),
        current: t.id == current,
    }
}

async fn page(
    state: &ConsoleState,
    signed: &Signed,
    cursor: Option<String>,
) -> PageResult<ListPage> {
    let caller = &signed.caller;
    let tokens = state
        .engine
        .list_tokens(
            caller,
            &ListQuery {
                limit: Some(50),
                cursor,
                ..ListQuery::default()
            },
        )
        .await?;
    let namespaces = state
        .engine
        .list_namespaces(
            caller,
            &ListQuery {
                limit: Some(gust_core::list::MAX_LIMIT),
                ..ListQuery::default()
            },
        )
        .await?;
    Ok(ListPage {
        chrome: Chrome::new(signed, "Tokens"),
        rows: tokens
            .items
            .iter()
            .map(|t| row(t, &caller.token.id))
            .collect(),
        next: Pager::new("/console/tokens", tokens.next_cursor.as_deref()).next,
        namespaces: namespaces.items.into_iter().map(|n| n.name).collect(),
        errors: Fields::default(),
        description: String::new(),
        created_secret: None,
    })
}

async fn list(
    State(state): State<ConsoleState>,
    signed: Signed,
    Query(params): Query<ListParams>,
) -> PageResult {
    Ok(Html(page(&state, &signed, params.cursor).await?).into_response())
}

async fn create(State(state): State<ConsoleState>, signed: Signed, form: FormData) -> PageResult {
    let mut errors = Fields::default();
    let scopes: Vec<Scope> = form
        .all("scopes")
        .into_iter()
        .filter_map(|s| serde_json::from_value(serde_json::Value::String(s.into())).ok())
        .collect();
    if scopes.is_empty() {
        errors.add("scopes", "Choose at least one scope.");
    }
    let days = number(&form, "expires_days", &mut errors);
    let spec = TokenSpec {
        description: Some(form.get("description").trim().to_string()),
        scopes: Some(scopes),
        namespace: form.opt("namespace"),
        function: form.opt("function"),
        expires_at: days.map(|d| gust_core::now() + chrono::Duration::days(i64::from(d))),
        format: None,
    };
    let mut listing = page(&state, &signed, None).await?;
    listing.description = form.get("description").to_string();
    if !errors.is_empty() {
        listing.errors = errors;
        return Ok(render::with_status(StatusCode::BAD_REQUEST, listing));
    }
    match state.engine.create_token(&signed.caller, spec).await {
        Ok(token) => {
            // Answered here, not redirected: the secret is in this response and nowhere else.
            listing.created_secret = token.token;
            listing.description.clear();
            listing.chrome.notice =
                Some("Token created. Copy its secret now: it is not shown again.".into());
            Ok(Html(listing).into_response())
        }
        Err(e) if e.status.is_client_error() => {
            listing.errors = Fields::from_error(
                &e,
                &[
                    "description",
                    "scopes",
                    "namespace",
                    "function",
                    "expires_days",
                ],
            );
            Ok(render::with_status(e.status, listing))
        }
        Err(e) => Err(e.into()),
    }
}

async fn revoke(
    State(state): State<ConsoleState>,
    signed: Signed,
    Path(id): Path<String>,
) -> PageResult {
    state.engine.delete_token(&signed.caller, &id).await?;
    Ok(render::done("/console/tokens", "revoked"))
}
