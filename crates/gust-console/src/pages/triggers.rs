//! Triggers: the function's cron and event triggers, with pause, resume and delete; a form for
//! a cron trigger that shows its next five fire times before it is saved (the page's script
//! asks as the schedule is typed; without it, a Preview button renders them), and one for an
//! event trigger.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use gust_core::{
    FunctionTrigger, ListQuery, TriggerKind, TriggerPatch, TriggerSpec, TriggerStatus,
};
use serde::Deserialize;

use super::{Can, FormData};
use crate::ConsoleState;
use crate::render::{self, Chrome, Fields, Html, PageResult, Ts, fn_url, ts};
use crate::session::Signed;

pub fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/ns/{ns}/fn/{fn}/triggers", get(list).post(create))
        .route("/ns/{ns}/fn/{fn}/triggers/preview", get(preview))
        .route("/ns/{ns}/fn/{fn}/triggers/{id}/status", post(set_status))
        .route("/ns/{ns}/fn/{fn}/triggers/{id}/delete", post(delete))
}

/// Fire times shown before a cron trigger is saved.
const PREVIEW: usize = 5;

struct Row {
    id: String,
    name: String,
    kind: &'static str,
    status: &'static str,
    what: String,
    next: Option<Ts>,
    last: Option<Ts>,
    from_function: bool,
    pausable: bool,
    resumable: bool,
    error: Option<String>,
}

fn row(t: &FunctionTrigger) -> Row {
    let what = match t.kind {
        TriggerKind::Cron => format!(
            "{}{}",
            t.schedule.clone().unwrap_or_default(),
            t.timezone
                .as_ref()
                .map(|tz| format!(" ({tz})"))
                .unwrap_or_default()
        ),
        _ => t.events.join(", "),
    };
    let managed = t.origin == gust_core::TriggerOrigin::Function;
    Row {
        id: t.id.clone(),
        name: t.name.clone(),
        kind: t.kind.as_str(),
        status: t.status.as_str(),
        what,
        next: t.next_run_at.as_ref().map(ts),
        last: t.last_run_at.as_ref().map(ts),
        from_function: managed,
        pausable: !managed && t.kind == TriggerKind::Cron && t.status == TriggerStatus::Ready,
        resumable: !managed && t.status == TriggerStatus::Paused,
        error: t.error_message.clone(),
    }
}

/// A cron form as typed.
#[derive(Default)]
struct CronForm {
    name: String,
    schedule: String,
    timezone: String,
    body: String,
}

#[derive(Template)]
#[template(path = "triggers.html")]
struct ListPage {
    chrome: Chrome,
    can: Can,
    ns: String,
    fname: String,
    rows: Vec<Row>,
    cron: CronForm,
    cron_errors: Fields,
    preview: Option<Vec<Ts>>,
    event_name: String,
    events: String,
    event_errors: Fields,
}

async fn page(state: &ConsoleState, signed: &Signed, ns: &str, f: &str) -> PageResult<ListPage> {
    let caller = &signed.caller;
    let function = state.engine.get_function(caller, ns, f).await?;
    let triggers = state
        .engine
        .list_triggers(
            caller,
            ns,
            f,
            &ListQuery {
                limit: Some(gust_core::list::MAX_LIMIT),
                ..ListQuery::default()
            },
        )
        .await?;
    Ok(ListPage {
        chrome: Chrome::new(signed, format!("Triggers of {}", function.name)).function(
            ns,
            &function.name,
            "Triggers",
        ),
        can: Can::of(caller),
        ns: ns.to_string(),
        fname: function.name,
        rows: triggers.items.iter().map(row).collect(),
        cron: CronForm::default(),
        cron_errors: Fields::default(),
        preview: None,
        event_name: String::new(),
        events: String::new(),
        event_errors: Fields::default(),
    })
}

async fn list(
    State(state): State<ConsoleState>,
    signed: Signed,
    Path((ns, f)): Path<(String, String)>,
) -> PageResult {
    Ok(Html(page(&state, &signed, &ns, &f).await?).into_response())
}

async fn create(
    State(state): State<ConsoleState>,
    signed: Signed,
    Path((ns, f)): Path<(String, String)>,
    form: FormData,
) -> PageResult {
    let mut listing = page(&state, &signed, &ns, &f).await?;
    let cron = form.get("kind") != "event";
    let spec = if cron {
        listing.cron = CronForm {
            name: form.get("name").to_string(),
            schedule: form.get("schedule").to_string(),
            timezone: form.get("timezone").to_string(),
            body: form.get("body").to_string(),
        };
        let times = super::schedules::next_times(
            &state,
            &signed,
            form.get("schedule").trim(),
            form.opt("timezone").as_deref(),
            PREVIEW,
        )
        .await;
        match times {
            Ok(times) => listing.preview = Some(times.iter().map(ts).collect()),
            Err(e) => {
                listing.cron_errors = Fields::from_error(&e, &["schedule", "timezone"]);
                return Ok(render::with_status(e.status, listing));
            }
        }
        if form.checked("preview") {
            return Ok(Html(listing).into_response());
        }
        TriggerSpec {
            kind: Some(TriggerKind::Cron),
            name: form.opt("name"),
            schedule: form.opt("schedule"),
            timezone: form.opt("timezone"),
            body: form.opt("body"),
            ..TriggerSpec::default()
        }
    } else {
        listing.event_name = form.get("event_name").to_string();
        listing.events = form.get("events").to_string();
        TriggerSpec {
            kind: Some(TriggerKind::Event),
            name: form.opt("event_name"),
            events: Some(
                form.get("events")
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(String::from)
                    .collect(),
            ),
            ..TriggerSpec::default()
        }
    };
    match state
        .engine
        .create_trigger(&signed.caller, &ns, &f, spec)
        .await
    {
        Ok(_) => Ok(render::done(
            &format!("{}/triggers", fn_url(&ns, &f)),
            "created",
        )),
        Err(e) if e.status.is_client_error() => {
            let mut fields =
                Fields::from_error(&e, &["name", "schedule", "timezone", "body", "events"]);
            if cron {
                listing.cron_errors = fields;
            } else {
                fields.rename("name", "event_name");
                listing.event_errors = fields;
            }
            Ok(render::with_status(e.status, listing))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct PreviewParams {
    #[serde(default)]
    schedule: String,
    #[serde(default)]
    timezone: String,
}

/// The next fire times of a schedule as JSON, for the page's script: `{times}` or `{error}`.
async fn preview(
    State(state): State<ConsoleState>,
    signed: Signed,
    Query(params): Query<PreviewParams>,
) -> impl IntoResponse {
    let timezone = Some(params.timezone.trim()).filter(|t| !t.is_empty());
    match super::schedules::next_times(&state, &signed, params.schedule.trim(), timezone, PREVIEW)
        .await
    {
        Ok(times) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({ "times": times })),
        ),
        Err(e) => (
            e.status,
            axum::Json(serde_json::json!({ "error": e.message, "field": e.field })),
        ),
    }
}

async fn set_status(
    State(state): State<ConsoleState>,
    signed: Signed,
    Path((ns, f, id)): Path<(String, String, String)>,
    form: FormData,
) -> PageResult {
    let (status, done) = match form.get("status") {
        "paused" => (TriggerStatus::Paused, "paused"),
        _ => (TriggerStatus::Ready, "resumed"),
    };
    let patch = TriggerPatch {
        status: Some(status),
        ..TriggerPatch::default()
    };
    state
        .engine
        .update_trigger(&signed.caller, &ns, &f, &id, patch)
        .await?;
    Ok(render::done(&format!("{}/triggers", fn_url(&ns, &f)), done))
}

async fn delete(
    State(state): State<ConsoleState>,
    signed: Signed,
    Path((ns, f, id)): Path<(String, String, String)>,
) -> PageResult {
    state
        .engine
        .delete_trigger(&signed.caller, &ns, &f, &id)
        .await?;
    Ok(render::done(
        &format!("{}/triggers", fn_url(&ns, &f)),
        "deleted",
    ))
}
