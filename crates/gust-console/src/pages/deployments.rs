//! Deployments: the function's deployments with activate (or roll back to any earlier ready
//! one), an upload (a folder archive or a `.wasm`: dropped on the page and sent by a script
//! that shows its progress, or sent by a plain file form), and each deployment's page with its
//! build log, followed live while it builds.

use askama::Template;
use axum::Router;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use gust_core::{Deployment, DeploymentStatus, Function, ListQuery};
use gust_engine::ops::{Upload, UploadOptions};
use serde::Deserialize;

use super::Can;
use crate::ConsoleState;
use crate::render::{self, Chrome, Html, PageResult, Ts, bytes, fn_url, ts};
use crate::session::Signed;

pub fn routes() -> Router<ConsoleState> {
    Router::new()
        .route(
            "/ns/{ns}/fn/{fn}/deployments",
            get(list)
                .post(upload)
                .layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/ns/{ns}/fn/{fn}/deployments/{id}", get(show))
        .route("/ns/{ns}/fn/{fn}/deployments/{id}/events", get(events))
        .route("/ns/{ns}/fn/{fn}/deployments/{id}/activate", post(activate))
}

/// One deployment in a table.
pub struct DeploymentRow {
    pub id: String,
    pub status: &'static str,
    pub format: &'static str,
    pub size: String,
    pub created: Ts,
    pub active: bool,
    /// Ready and not active: it can be made active (a rollback when it is older).
    pub activatable: bool,
    pub build_ms: String,
}

impl DeploymentRow {
    pub fn of(d: &Deployment, f: &Function) -> Self {
        let active = f.active_deployment.as_deref() == Some(d.id.as_str());
        Self {
            id: d.id.clone(),
            status: d.status.as_str(),
            format: d.format_name(),
            size: bytes(d.size),
            created: ts(&d.created_at),
            active,
            activatable: d.status == DeploymentStatus::Ready && !active,
            build_ms: d
                .build_duration_ms
                .map(|ms| format!("{ms} ms"))
                .unwrap_or_default(),
        }
    }
}

#[derive(Deserialize, Default)]
struct ListParams {
    cursor: Option<String>,
}

#[derive(Template)]
#[template(path = "deployments.html")]
struct ListPage {
    chrome: Chrome,
    can: Can,
    ns: String,
    fname: String,
    rows: Vec<DeploymentRow>,
    next: Option<String>,
    limit_mb: u64,
    error: Option<String>,
}

async fn list_page(
    state: &ConsoleState,
    signed: &Signed,
    ns: &str,
    f: &str,
    cursor: Option<String>,
) -> PageResult<ListPage> {
    let caller = &signed.caller;
    let function = state.engine.get_function(caller, ns, f).await?;
    let page = state
        .engine
        .list_deployments(
            caller,
            ns,
            f,
            &ListQuery {
                limit: Some(20),
                cursor,
                ..ListQuery::default()
            },
        )
        .await?;
    let base = format!("{}/deployments", fn_url(ns, &function.name));
    Ok(ListPage {
        chrome: Chrome::new(signed, format!("Deployments of {}", function.name)).function(
            ns,
            &function.name,
            "Deployments",
        ),
        can: Can::of(caller),
        rows: page
            .items
            .iter()
            .map(|d| DeploymentRow::of(d, &function))
            .collect(),
        next: super::Pager::new(&base, page.next_cursor.as_deref()).next,
        limit_mb: state.engine.upload_limit() / (1024 * 1024),
        ns: ns.to_string(),
        fname: function.name,
        error: None,
    })
}

async fn list(
    State(state): State<ConsoleState>,
    signed: Signed,
    Path((ns, f)): Path<(String, String)>,
    Query(params): Query<ListParams>,
) -> PageResult {
    Ok(Html(list_page(&state, &signed, &ns, &f, params.cursor).await?).into_response())
}

/// The upload: a script sends the file as the body (and wants JSON back: where to go next);
/// the plain form sends multipart with a `code` part.
async fn upload(
    State(state): State<ConsoleState>,
    signed: Signed,
    Path((ns, f)): Path<(String, String)>,
    request: Request,
) -> PageResult {
    let wants_json = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let activate = request
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "activate=true"));
    let mut upload = state.engine.start_upload(&signed.caller, &ns, &f).await?;
    let mut options = UploadOptions {
        content_type: content_type.clone(),
        entrypoint: None,
        activate,
    };
    let received = if content_type
        .as_deref()
        .is_some_and(|t| t.starts_with("multipart/form-data"))
    {
        receive_form(&state, request, &mut upload, &mut options).await
    } else {
        receive_body(request, &mut upload).await
    };
    let result = match received {
        Ok(()) => state.engine.create_deployment(upload, options).await,
        Err(e) => {
            upload.discard().await;
            Err(e)
        }
    };
    match result {
        Ok(d) => {
            let location = format!("{}/deployments/{}", fn_url(&ns, &f), d.id);
            if wants_json {
                let body = serde_json::json!({ "location": location, "id": d.id });
                Ok((StatusCode::CREATED, axum::Json(body)).into_response())
            } else {
                Ok(render::done(&location, "uploaded"))
            }
        }
        Err(e) if wants_json => {
            let body = serde_json::json!({ "error": e.message, "field": e.field });
            Ok((e.status, axum::Json(body)).into_response())
        }
        Err(e) if e.status.is_client_error() => {
            let mut page = list_page(&state, &signed, &ns, &f, None).await?;
            page.error = Some(e.message.clone());
            Ok(render::with_status(e.status, page))
        }
        Err(e) => Err(e.into()),
    }
}

async fn receive_body(request: Request, upload: &mut Upload) -> gust_engine::Result<()> {
    use http_body_util::BodyExt;
    let mut body = request.into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| gust_engine::Error::bad_request(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            upload.push(&data).await?;
        }
    }
    Ok(())
}

async fn receive_form(
    state: &ConsoleState,
    request: Request,
    upload: &mut Upload,
    options: &mut UploadOptions,
) -> gust_engine::Result<()> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        gust_engine::Error::bad_request(format!("the form could not be read: {e}"))
    };
    let mut form = Multipart::from_request(request, state)
        .await
        .map_err(|e| gust_engine::Error::bad_request(e.to_string()))?;
    while let Some(mut field) = form.next_field().await.map_err(bad)? {
        match field.name().unwrap_or("") {
            "code" => {
                options.content_type = field
                    .content_type()
                    .map(str::to_string)
                    .filter(|t| t != "application/octet-stream");
                while let Some(chunk) = field.chunk().await.map_err(bad)? {
                    upload.push(&chunk).await?;
                }
            }
            "activate" => options.activate = field.text().await.map_err(bad)? == "true",
            _ => {}
        }
    }
    Ok(())
}

#[derive(Template)]
#[template(path = "deployment.html")]
struct ShowPage {
    chrome: Chrome,
    can: Can,
    ns: String,
    fname: String,
    d: DeploymentRow,
    log: String,
    error: Option<String>,
    building: bool,
}

async fn show(
    State(state): State<ConsoleState>,
    signed: Signed,
    Path((ns, f, id)): Path<(String, String, String)>,
) -> PageResult {
    let caller = &signed.caller;
    let function = state.engine.get_function(caller, &ns, &f).await?;
    let d = state.engine.get_deployment(caller, &ns, &f, &id).await?;
    Ok(Html(ShowPage {
        chrome: Chrome::new(&signed, format!("Deployment {}", d.id)).function(
            &ns,
            &function.name,
            "Deployments",
        ),
        can: Can::of(caller),
        building: !d.status.is_final(),
        log: d.build_log.clone(),
        error: d.error_message.clone(),
        d: DeploymentRow::of(&d, &function),
        ns,
        fname: function.name,
    })
    .into_response())
}

/// The build as it goes, as server-sent events (the engine's follow of the build): `status`
/// at each change of state, `log` with what the build wrote since, `end` with the final state.
async fn events(
    State(state): State<ConsoleState>,
    signed: Signed,
    Path((ns, f, id)): Path<(String, String, String)>,
) -> PageResult {
    let rx = state
        .engine
        .follow_build_log(&signed.caller, &ns, &f, &id)
        .await?;
    Ok(render::sse(rx))
}

async fn activate(
    State(state): State<ConsoleState>,
    signed: Signed,
    Path((ns, f, id)): Path<(String, String, String)>,
) -> PageResult {
    state
        .engine
        .activate_deployment(&signed.caller, &ns, &f, &id)
        .await?;
    Ok(render::done(
        &format!("{}/deployments", fn_url(&ns, &f)),
        "activated",
    ))
}
