//! Namespaces: the list (and, for an admin, a form to create one), and each namespace's
//! settings: its description, its env, and its secrets, which are write-only here as
//! everywhere: a page says which names are set, never a value.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use gust_core::{ListQuery, Namespace, NamespacePatch, NamespaceSpec};
use serde::Deserialize;

use super::secrets::{self, SecretsForm};
use super::{Can, FormData, Pager, pairs_text, parse_pairs};
use crate::ConsoleState;
use crate::render::{self, Chrome, Fields, Html, PageResult, Ts, ns_url, ts};
use crate::session::Signed;

pub fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/namespaces", get(list).post(create))
        .route("/ns/{ns}", get(open))
        .route("/ns/{ns}/settings", get(settings).post(save_settings))
        .route("/ns/{ns}/secrets", post(set_secret))
        .route("/ns/{ns}/secrets/remove", post(remove_secret))
}

#[derive(Deserialize, Default)]
struct ListParams {
    cursor: Option<String>,
}

#[derive(Template)]
#[template(path = "namespaces.html")]
struct ListPage {
    chrome: Chrome,
    can: Can,
    namespaces: Vec<Row>,
    pager: Pager,
    errors: Fields,
    name: String,
    description: String,
}

struct Row {
    name: String,
    description: String,
    env: usize,
    secrets: usize,
    created: Ts,
}

async fn list_page(
    state: &ConsoleState,
    signed: &Signed,
    cursor: Option<String>,
    errors: Fields,
    form: Option<&FormData>,
) -> PageResult<ListPage> {
    let page = state
        .engine
        .list_namespaces(
            &signed.caller,
            &ListQuery {
                limit: Some(50),
                cursor,
                ..ListQuery::default()
            },
        )
        .await?;
    Ok(ListPage {
        chrome: Chrome::new(signed, "Namespaces"),
        can: Can::of(&signed.caller),
        pager: Pager::new("/console/namespaces", page.next_cursor.as_deref()),
        namespaces: page
            .items
            .into_iter()
            .map(|ns| Row {
                created: ts(&ns.created_at),
                env: ns.env.len(),
                secrets: ns.secrets.len(),
                name: ns.name,
                description: ns.description,
            })
            .collect(),
        errors,
        name: form.map(|f| f.get("name").to_string()).unwrap_or_default(),
        description: form
            .map(|f| f.get("description").to_string())
            .unwrap_or_default(),
    })
}

async fn list(
    State(state): State<ConsoleState>,
    signed: Signed,
    Query(params): Query<ListParams>,
) -> PageResult {
    Ok(
        Html(list_page(&state, &signed, params.cursor, Fields::default(), None).await?)
            .into_response(),
    )
}

async fn create(State(state): State<ConsoleState>, signed: Signed, form: FormData) -> PageResult {
    let spec = NamespaceSpec {
        name: Some(form.get("name").trim().to_string()),
        description: form.opt("description"),
        ..NamespaceSpec::default()
    };
    match state.engine.create_namespace(&signed.caller, spec).await {
        Ok(ns) => Ok(render::done(
            &format!("{}/settings", ns_url(&ns.name)),
            "created",
        )),
        Err(e) if e.status.is_client_error() => {
            let errors = Fields::from_error(&e, &["name", "description"]);
            let page = list_page(&state, &signed, None, errors, Some(&form)).await?;
            Ok(render::with_status(e.status, page))
        }
        Err(e) => Err(e.into()),
    }
}

async fn open(Path(ns): Path<String>) -> Response {
    Redirect::to(&format!("{}/functions", ns_url(&ns))).into_response()
}

#[derive(Template)]
#[template(path = "namespace.html")]
struct SettingsPage {
    chrome: Chrome,
    can: Can,
    ns: String,
    description: String,
    env: String,
    secrets: SecretsForm,
    errors: Fields,
}

fn settings_page(signed: &Signed, ns: &Namespace) -> SettingsPage {
    SettingsPage {
        chrome: Chrome::new(signed, format!("Namespace {}", ns.name)).namespace(&ns.name),
        can: Can::of(&signed.caller),
        ns: ns.name.clone(),
        description: ns.description.clone(),
        env: pairs_text(&ns.env),
        secrets: SecretsForm::new(&ns.secrets, format!("{}/secrets", ns_url(&ns.name))),
        errors: Fields::default(),
    }
}

async fn settings(
    State(state): State<ConsoleState>,
    signed: Signed,
    Path(ns): Path<String>,
) -> PageResult {
    let namespace = state.engine.get_namespace(&signed.caller, &ns).await?;
    Ok(Html(settings_page(&signed, &namespace)).into_response())
}

async fn save_settings(
    State(state): State<ConsoleState>,
    signed: Signed,
    Path(ns): Path<String>,
    form: FormData,
) -> PageResult {
    let refused = |errors: Fields, status: StatusCode, namespace: &Namespace| {
        let mut page = settings_page(&signed, namespace);
        page.errors = errors;
        page.description = form.get("description").to_string();
        page.env = form.get("env").to_string();
        render::with_status(status, page)
    };
    let namespace = state.engine.get_namespace(&signed.caller, &ns).await?;
    let env = match parse_pairs(form.get("env")) {
        Ok(env) => env,
        Err(e) => {
            return Ok(refused(
                Fields::one("env", e),
                StatusCode::BAD_REQUEST,
                &namespace,
            ));
        }
    };
    let patch = NamespacePatch {
        description: Some(form.get("description").to_string()),
        env: Some(env),
        ..NamespacePatch::default()
    };
    match state
        .engine
        .update_namespace(&signed.caller, &ns, patch)
        .await
    {
        Ok(_) => Ok(render::done(&format!("{}/settings", ns_url(&ns)), "saved")),
        Err(e) if e.status.is_client_error() => Ok(refused(
            Fields::from_error(&e, &["description", "env"]),
            e.status,
            &namespace,
        )),
        Err(e) => Err(e.into()),
    }
}

/// Set one secret (see `secrets`).
async fn set_secret(
    State(state): State<ConsoleState>,
    signed: Signed,
    Path(ns): Path<String>,
    form: FormData,
) -> PageResult {
    let errors = match secrets::to_set(&form) {
        Ok((name, value)) => match state
            .engine
            .set_namespace_secret(&signed.caller, &ns, &name, Some(value))
            .await
        {
            Ok(_) => {
                return Ok(render::done(
                    &format!("{}/settings", ns_url(&ns)),
                    "secret-set",
                ));
            }
            Err(e) if e.status.is_client_error() && e.status != StatusCode::NOT_FOUND => {
                secrets::refused(&e)
            }
            Err(e) => return Err(e.into()),
        },
        Err(errors) => errors,
    };
    let namespace = state.engine.get_namespace(&signed.caller, &ns).await?;
    let mut page = settings_page(&signed, &namespace);
    page.secrets.errors = errors;
    page.secrets.name = form.get("name").trim().to_string();
    Ok(render::with_status(StatusCode::BAD_REQUEST, page))
}

async fn remove_secret(
    State(state): State<ConsoleState>,
    signed: Signed,
    Path(ns): Path<String>,
    form: FormData,
) -> PageResult {
    state
        .engine
        .set_namespace_secret(&signed.caller, &ns, form.get("name"), None)
        .await?;
    Ok(render::done(
        &format!("{}/settings", ns_url(&ns)),
        "secret-removed",
    ))
}
