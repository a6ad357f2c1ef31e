//! Functions: a namespace's list (search by name, filter by runtime and status, with each
//! function's requests and errors of the last 24 hours), a form to create one, each
//! function's overview, and its settings: every field of its configuration, with the
//! engine's validation error shown beside the field it names, and its write-only secrets.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use gust_core::{
    Execution, Function, FunctionPatch, FunctionSpec, FunctionStatus, HandlerContract, HttpOption,
    ListQuery, Privacy, RuntimeId, RuntimeInfo,
};
use gust_engine::ops::FunctionFilter;
use serde::Deserialize;

use super::secrets::{self, SecretsForm};
use super::{Can, FormData, number, pairs_text, parse_pairs};
use crate::ConsoleState;
use crate::render::{self, Chrome, Fields, Html, PageResult, Ts, fn_url, micros, ns_url, ts};
use crate::session::Signed;

pub fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/ns/{ns}/functions", get(list).post(create))
        .route("/ns/{ns}/functions/new", get(new))
        .route("/ns/{ns}/fn/{fn}", get(overview))
        .route("/ns/{ns}/fn/{fn}/settings", get(settings).post(save))
        .route("/ns/{ns}/fn/{fn}/delete", post(delete))
        .route("/ns/{ns}/fn/{fn}/secrets", post(set_secret))
        .route("/ns/{ns}/fn/{fn}/secrets/remove", post(remove_secret))
}

/// Rows shown per page.
const PAGE: usize = 50;

#[derive(Deserialize, Default)]
struct ListParams {
    #[serde(default)]
    q: String,
    #[serde(default)]
    runtime: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    page: usize,
}

#[derive(Template)]
#[template(path = "functions.html")]
struct ListPage {
    chrome: Chrome,
    can: Can,
    ns: String,
    rows: Vec<Row>,
    q: String,
    runtime: String,
    status: String,
    runtimes: Vec<&'static str>,
    statuses: Vec<&'static str>,
    prev: Option<String>,
    next: Option<String>,
    total: usize,
    activity: bool,
}

struct Row {
    name: String,
    title: String,
    runtime: &'static str,
    status: &'static str,
    deployment: String,
    updated: Ts,
    requests: u64,
    errors: u64,
}

fn status_str(f: &Function) -> &'static str {
    f.status.as_str()
}

async fn list(
    State(state): State<ConsoleState>,
    signed: Signed,
    Path(ns): Path<String>,
    Query(params): Query<ListParams>,
) -> PageResult {
    let caller = &signed.caller;
    let q = params.q.trim().to_string();
    // Empty: any. Anything else must name a runtime or a state (the form offers only those).
    let runtime = match params.runtime.as_str() {
        "" => None,
        name => Some(
            name.parse::<RuntimeId>()
                .map_err(|e| gust_engine::Error::invalid("runtime", e))?,
        ),
    };
    let status = match params.status.as_str() {
        "" => None,
        name => Some(
            FunctionStatus::ALL
                .into_iter()
                .find(|s| s.as_str() == name)
                .ok_or_else(|| {
                    gust_engine::Error::invalid(
                        "status",
                        format!("unknown state `{name}`; one of created, building, ready, error"),
                    )
                })?,
        ),
    };
    let offset = params.page.saturating_mul(PAGE).min(u32::MAX as usize) as u32;
    let found = state
        .engine
        .list_functions(
            caller,
            &ns,
            &ListQuery {
                limit: Some(PAGE as u32),
                offset: Some(offset),
                search: (!q.is_empty()).then(|| q.clone()),
                ..ListQuery::default()
            },
            &FunctionFilter { runtime, status },
        )
        .await?;
    let activity = super::activity::last_day(&state, &signed, &ns).await;
    let total = found.total as usize;
    let start = offset as usize;
    let link = |page: usize| {
        format!(
            "{}/functions?q={}&runtime={}&status={}&page={page}",
            ns_url(&ns),
            render::query_escape(&q),
            render::query_escape(&params.runtime),
            render::query_escape(&params.status),
        )
    };
    let rows = found
        .items
        .iter()
        .map(|f| {
            let (requests, errors) = activity
                .as_ref()
                .and_then(|a| a.get(&f.id).copied())
                .unwrap_or((0, 0));
            Row {
                name: f.name.clone(),
                title: f.title.clone(),
                runtime: f.runtime.as_str(),
                status: status_str(f),
                deployment: f.active_deployment.clone().unwrap_or_else(|| "none".into()),
                updated: ts(&f.updated_at),
                requests,
                errors,
            }
        })
        .collect();
    let page = ListPage {
        chrome: Chrome::new(&signed, format!("Functions of {ns}")).namespace(&ns),
        can: Can::of(caller),
        rows,
        runtimes: gust_core::RuntimeId::ALL
            .iter()
            .map(|r| r.as_str())
            .collect(),
        statuses: FunctionStatus::ALL.iter().map(|s| s.as_str()).collect(),
        prev: (params.page > 0).then(|| link(params.page - 1)),
        next: (start + PAGE < total).then(|| link(params.page + 1)),
        total,
        activity: activity.is_some(),
        q,
        runtime: params.runtime,
        status: params.status,
        ns,
    };
    Ok(Html(page).into_response())
}

/// A function's configuration as the form shows it (what was typed, after a refusal).
struct FormValues {
    name: String,
    title: String,
    description: String,
    runtime: String,
    handler: String,
    contract: String,
    memory_mb: String,
    cpu_millis: String,
    timeout_s: String,
    min_scale: String,
    max_scale: String,
    concurrency: String,
    privacy: String,
    http_option: String,
    network: bool,
    max_attempts: String,
    retention_max_count: String,
    retention_max_age_s: String,
    tags: String,
    labels: String,
    env: String,
    args: String,
    schedule: String,
    events: String,
}

/// Every field of the form, for placing the engine's errors.
const FIELDS: &[&str] = &[
    "name",
    "title",
    "description",
    "runtime",
    "handler",
    "contract",
    "memory_mb",
    "cpu_millis",
    "timeout_s",
    "min_scale",
    "max_scale",
    "concurrency",
    "privacy",
    "http_option",
    "network",
    "max_attempts",
    "retention_max_count",
    "retention_max_age_s",
    "tags",
    "labels",
    "env",
    "args",
    "schedule",
    "events",
];

fn enum_str<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

fn enum_from<T: serde::de::DeserializeOwned>(text: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(text.to_string())).ok()
}

impl FormValues {
    fn defaults() -> Self {
        let d = |(_, default, _): (u32, u32, u32)| default.to_string();
        use gust_core::function::*;
        Self {
            name: String::new(),
            title: String::new(),
            description: String::new(),
            runtime: "wasm".into(),
            handler: String::new(),
            contract: "gust".into(),
            memory_mb: d(MEMORY_MB),
            cpu_millis: d(CPU_MILLIS),
            timeout_s: d(TIMEOUT_S),
            min_scale: d(MIN_SCALE),
            max_scale: d(MAX_SCALE),
            concurrency: d(CONCURRENCY),
            privacy: "private".into(),
            http_option: "enabled".into(),
            network: true,
            max_attempts: d(MAX_ATTEMPTS),
            retention_max_count: d(RETENTION_COUNT),
            retention_max_age_s: d(RETENTION_AGE_S),
            tags: String::new(),
            labels: String::new(),
            env: String::new(),
            args: "{}".into(),
            schedule: String::new(),
            events: String::new(),
        }
    }

    fn of(f: &Function) -> Self {
        Self {
            name: f.name.clone(),
            title: f.title.clone(),
            description: f.description.clone(),
            runtime: f.runtime.as_str().into(),
            handler: f.handler.clone().unwrap_or_default(),
            contract: f.contract.as_str().into(),
            memory_mb: f.memory_mb.to_string(),
            cpu_millis: f.cpu_millis.to_string(),
            timeout_s: f.timeout_s.to_string(),
            min_scale: f.min_scale.to_string(),
            max_scale: f.max_scale.to_string(),
            concurrency: f.concurrency.to_string(),
            privacy: enum_str(&f.privacy),
            http_option: enum_str(&f.http_option),
            network: f.network,
            max_attempts: f.max_attempts.to_string(),
            retention_max_count: f.retention.max_count.to_string(),
            retention_max_age_s: f.retention.max_age_s.to_string(),
            tags: f.tags.join(", "),
            labels: pairs_text(&f.labels),
            env: pairs_text(&f.env),
            args: serde_json::to_string_pretty(&f.args).unwrap_or_default(),
            schedule: f.schedule.clone().unwrap_or_default(),
            events: f.events.join("\n"),
        }
    }

    fn typed(form: &FormData) -> Self {
        let s = |name: &str| form.get(name).to_string();
        Self {
            name: s("name"),
            title: s("title"),
            description: s("description"),
            runtime: s("runtime"),
            handler: s("handler"),
            contract: s("contract"),
            memory_mb: s("memory_mb"),
            cpu_millis: s("cpu_millis"),
            timeout_s: s("timeout_s"),
            min_scale: s("min_scale"),
            max_scale: s("max_scale"),
            concurrency: s("concurrency"),
            privacy: s("privacy"),
            http_option: s("http_option"),
            network: form.checked("network"),
            max_attempts: s("max_attempts"),
            retention_max_count: s("retention_max_count"),
            retention_max_age_s: s("retention_max_age_s"),
            tags: s("tags"),
            labels: s("labels"),
            env: s("env"),
            args: s("args"),
            schedule: s("schedule"),
            events: s("events"),
        }
    }
}

/// The form as a spec with every field present (so an edit may clear one), or the errors the
/// form itself shows before the engine is asked.
fn spec_from(form: &FormData, creating: bool) -> Result<FunctionSpec, Fields> {
    let mut errors = Fields::default();
    let text = |name: &str| Some(form.get(name).trim().to_string());
    let pairs = |name: &str, errors: &mut Fields| match parse_pairs(form.get(name)) {
        Ok(map) => Some(map),
        Err(e) => {
            errors.add(name, e);
            None
        }
    };
    let env = pairs("env", &mut errors);
    let labels = pairs("labels", &mut errors);
    let choice = |name: &str, errors: &mut Fields| -> Option<String> {
        let v = form.get(name).trim();
        if v.is_empty() {
            errors.add(name, "Choose one.");
            None
        } else {
            Some(v.to_string())
        }
    };
    let contract = choice("contract", &mut errors).and_then(|c| {
        let parsed = enum_from::<HandlerContract>(&c);
        if parsed.is_none() {
            errors.add("contract", "Choose one of the listed contracts.");
        }
        parsed
    });
    let privacy = choice("privacy", &mut errors).and_then(|p| enum_from::<Privacy>(&p));
    let http_option = choice("http_option", &mut errors).and_then(|h| enum_from::<HttpOption>(&h));
    let args = match form.get("args").trim() {
        "" => Some(serde_json::json!({})),
        text => match serde_json::from_str(text) {
            Ok(value) => Some(value),
            Err(e) => {
                errors.add("args", format!("Enter JSON: {e}."));
                None
            }
        },
    };
    let spec = FunctionSpec {
        name: creating.then(|| form.get("name").trim().to_string()),
        title: text("title").filter(|t| !t.is_empty()),
        description: text("description"),
        runtime: creating.then(|| form.get("runtime").trim().to_string()),
        handler: text("handler").filter(|h| !h.is_empty()),
        contract,
        env,
        memory_mb: number(form, "memory_mb", &mut errors),
        cpu_millis: number(form, "cpu_millis", &mut errors),
        timeout_s: number(form, "timeout_s", &mut errors),
        min_scale: number(form, "min_scale", &mut errors),
        max_scale: number(form, "max_scale", &mut errors),
        concurrency: number(form, "concurrency", &mut errors),
        privacy,
        http_option,
        network: Some(form.checked("network")),
        tags: Some(
            form.get("tags")
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(String::from)
                .collect(),
        ),
        labels,
        args,
        max_attempts: number(form, "max_attempts", &mut errors),
        retention: Some(gust_core::function::RetentionSpec {
            max_count: number(form, "retention_max_count", &mut errors),
            max_age_s: number(form, "retention_max_age_s", &mut errors),
        }),
        schedule: text("schedule"),
        events: Some(
            form.get("events")
                .lines()
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(String::from)
                .collect(),
        ),
        ..FunctionSpec::default()
    };
    if errors.is_empty() {
        Ok(spec)
    } else {
        Err(errors)
    }
}

#[derive(Template)]
#[template(path = "function_new.html")]
struct NewPage {
    chrome: Chrome,
    ns: String,
    v: FormValues,
    errors: Fields,
    runtimes: Vec<RuntimeInfo>,
    creating: bool,
    can: Can,
}

async fn new(
    State(state): State<ConsoleState>,
    signed: Signed,
    Path(ns): Path<String>,
) -> PageResult {
    // Resolve the namespace first: a token of another namespace gets its 403 here.
    state.engine.get_namespace(&signed.caller, &ns).await?;
    Ok(Html(NewPage {
        chrome: Chrome::new(&signed, "New function").namespace(&ns),
        v: FormValues::defaults(),
        errors: Fields::default(),
        runtimes: state.engine.runtimes(),
        creating: true,
        can: Can::of(&signed.caller),
        ns,
    })
    .into_response())
}

async fn create(
    State(state): State<ConsoleState>,
    signed: Signed,
    Path(ns): Path<String>,
    form: FormData,
) -> PageResult {
    let refused = |errors: Fields, status: StatusCode| {
        render::with_status(
            status,
            NewPage {
                chrome: Chrome::new(&signed, "New function").namespace(&ns),
                ns: ns.clone(),
                v: FormValues::typed(&form),
                errors,
                runtimes: state.engine.runtimes(),
                creating: true,
                can: Can::of(&signed.caller),
            },
        )
    };
    let spec = match spec_from(&form, true) {
        Ok(spec) => spec,
        Err(errors) => return Ok(refused(errors, StatusCode::BAD_REQUEST)),
    };
    match state
        .engine
        .create_function(&signed.caller, &ns, spec)
        .await
    {
        Ok(f) => Ok(render::done(
            &format!("{}/deployments", fn_url(&ns, &f.name)),
            "created",
        )),
        Err(e) if e.status.is_client_error() => {
            Ok(refused(Fields::from_error(&e, FIELDS), e.status))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "function.html")]
struct OverviewPage {
    chrome: Chrome,
    can: Can,
    ns: String,
    fname: String,
    status: &'static str,
    privacy: String,
    f: Function,
    created: Ts,
    updated: Ts,
    executions: Vec<ExecutionRow>,
    deployments: Vec<super::deployments::DeploymentRow>,
}

/// One execution in a table.
pub struct ExecutionRow {
    pub id: String,
    pub status: &'static str,
    pub trigger: &'static str,
    pub created: Ts,
    pub duration: String,
    pub code: String,
    pub cold: bool,
    pub attempts: u32,
    pub dead_letter: bool,
    pub error: Option<String>,
}

impl ExecutionRow {
    pub fn of(e: &Execution) -> Self {
        Self {
            id: e.id.clone(),
            status: e.status.as_str(),
            trigger: e.trigger.as_str(),
            created: ts(&e.created_at),
            duration: e.duration_us.map(micros).unwrap_or_default(),
            code: e
                .response
                .as_ref()
                .map(|r| r.status_code.to_string())
                .unwrap_or_default(),
            cold: e.cold_start,
            attempts: e.attempts,
            dead_letter: e.dead_letter,
            error: e.error_message.clone(),
        }
    }
}

async fn overview(
    State(state): State<ConsoleState>,
    signed: Signed,
    Path((ns, f)): Path<(String, String)>,
) -> PageResult {
    let caller = &signed.caller;
    let function = state.engine.get_function(caller, &ns, &f).await?;
    let recent = ListQuery {
        limit: Some(10),
        ..ListQuery::default()
    };
    let executions = state
        .engine
        .list_executions(caller, &ns, &f, &recent, &Default::default())
        .await?;
    let deployments = state
        .engine
        .list_deployments(
            caller,
            &ns,
            &f,
            &ListQuery {
                limit: Some(5),
                ..ListQuery::default()
            },
        )
        .await?;
    Ok(Html(OverviewPage {
        chrome: Chrome::new(&signed, format!("Function {}", function.name)).function(
            &ns,
            &function.name,
            "Overview",
        ),
        can: Can::of(caller),
        created: ts(&function.created_at),
        updated: ts(&function.updated_at),
        executions: executions.items.iter().map(ExecutionRow::of).collect(),
        deployments: deployments
            .items
            .iter()
            .map(|d| super::deployments::DeploymentRow::of(d, &function))
            .collect(),
        fname: function.name.clone(),
        status: status_str(&function),
        privacy: enum_str(&function.privacy),
        f: function,
        ns,
    })
    .into_response())
}

#[derive(Template)]
#[template(path = "function_settings.html")]
struct SettingsPage {
    chrome: Chrome,
    ns: String,
    fname: String,
    v: FormValues,
    errors: Fields,
    runtimes: Vec<RuntimeInfo>,
    creating: bool,
    can: Can,
    secrets: SecretsForm,
}

fn settings_page(
    state: &ConsoleState,
    signed: &Signed,
    ns: &str,
    function: &Function,
    v: FormValues,
) -> SettingsPage {
    SettingsPage {
        chrome: Chrome::new(signed, format!("Settings of {}", function.name)).function(
            ns,
            &function.name,
            "Settings",
        ),
        ns: ns.to_string(),
        fname: function.name.clone(),
        v,
        errors: Fields::default(),
        runtimes: state.engine.runtimes(),
        creating: false,
        can: Can::of(&signed.caller),
        secrets: SecretsForm::new(
            &function.secrets,
            format!("{}/secrets", fn_url(ns, &function.name)),
        ),
    }
}

async fn settings(
    State(state): State<ConsoleState>,
    signed: Signed,
    Path((ns, f)): Path<(String, String)>,
) -> PageResult {
    let function = state.engine.get_function(&signed.caller, &ns, &f).await?;
    let page = settings_page(&state, &signed, &ns, &function, FormValues::of(&function));
    Ok(Html(page).into_response())
}

async fn save(
    State(state): State<ConsoleState>,
    signed: Signed,
    Path((ns, f)): Path<(String, String)>,
    form: FormData,
) -> PageResult {
    let function = state.engine.get_function(&signed.caller, &ns, &f).await?;
    let refused = |errors: Fields, status: StatusCode| {
        let mut page = settings_page(&state, &signed, &ns, &function, FormValues::typed(&form));
        page.v.name = function.name.clone();
        page.v.runtime = function.runtime.as_str().into();
        page.errors = errors;
        render::with_status(status, page)
    };
    let patch: FunctionPatch = match spec_from(&form, false) {
        Ok(spec) => spec,
        Err(errors) => return Ok(refused(errors, StatusCode::BAD_REQUEST)),
    };
    match state
        .engine
        .update_function(&signed.caller, &ns, &f, patch)
        .await
    {
        Ok(_) => Ok(render::done(
            &format!("{}/settings", fn_url(&ns, &f)),
            "saved",
        )),
        Err(e) if e.status.is_client_error() => {
            Ok(refused(Fields::from_error(&e, FIELDS), e.status))
        }
        Err(e) => Err(e.into()),
    }
}

async fn delete(
    State(state): State<ConsoleState>,
    signed: Signed,
    Path((ns, f)): Path<(String, String)>,
) -> PageResult {
    state
        .engine
        .delete_function(&signed.caller, &ns, &f)
        .await?;
    Ok(render::done(
        &format!("{}/functions", ns_url(&ns)),
        "deleted",
    ))
}

/// Set one secret of the function (see `secrets`).
async fn set_secret(
    State(state): State<ConsoleState>,
    signed: Signed,
    Path((ns, f)): Path<(String, String)>,
    form: FormData,
) -> PageResult {
    let errors = match secrets::to_set(&form) {
        Ok((name, value)) => match state
            .engine
            .set_function_secret(&signed.caller, &ns, &f, &name, Some(value))
            .await
        {
            Ok(_) => {
                return Ok(render::done(
                    &format!("{}/settings", fn_url(&ns, &f)),
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
    let function = state.engine.get_function(&signed.caller, &ns, &f).await?;
    let mut page = settings_page(&state, &signed, &ns, &function, FormValues::of(&function));
    page.secrets.errors = errors;
    page.secrets.name = form.get("name").trim().to_string();
    Ok(render::with_status(StatusCode::BAD_REQUEST, page))
}

async fn remove_secret(
    State(state): State<ConsoleState>,
    signed: Signed,
    Path((ns, f)): Path<(String, String)>,
    form: FormData,
) -> PageResult {
    state
        .engine
        .set_function_secret(&signed.caller, &ns, &f, form.get("name"), None)
        .await?;
    Ok(render::done(
        &format!("{}/settings", fn_url(&ns, &f)),
        "secret-removed",
    ))
}
