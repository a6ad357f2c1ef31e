//! OpenStack Qinling's v1 API, so that `python-qinlingclient` and the `openstack function`
//! commands manage and run functions on Gust.
//!
//! Mapping:
//! - `X-Auth-Token` → a Gust token; the project → a namespace: the token's own when it is
//!   limited to one, else the one `X-Project-Id` names, else `default` (made on first use);
//! - function → function with the `qinling` handler contract (`entry` → handler, `memory_size`
//!   bytes → `memory_mb`, `cpu` → `cpu_millis`, `timeout` → `timeout_s`, `name` → title);
//!   its package → a deployment (`md5sum` → the deployment's md5), built before the answer;
//! - runtime → one of Gust's process runtimes, under a UUID made from its id;
//! - execution → execution (`input` → the request body, `sync: false` → async);
//! - version and alias → version and alias; worker → warm worker; job → cron trigger (its
//!   `count`, first run and pause); webhook → webhook.

mod executions;
mod functions;
mod jobs;
mod runtimes;
mod versions;
mod views;
mod webhooks;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use gust_engine::{Caller, Engine, Error};
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use crate::common::{Failure, client_ip};

/// The dialect at [`crate::QINLING_PREFIX`], its root document also at the prefix with a
/// trailing slash (which a nested router does not see).
pub fn mounted(engine: Arc<Engine>) -> Router {
    let prefix = crate::QINLING_PREFIX;
    let state = QinState {
        engine,
        default_seen: Arc::new(Mutex::new(None)),
    };
    Router::new()
        .route(
            &format!("{prefix}/"),
            get(root_document).with_state(state.clone()),
        )
        .nest(prefix, router(state))
}

/// What the routes share: the engine, and when the `default` project was last seen to exist.
#[derive(Clone)]
pub struct QinState {
    pub engine: Arc<Engine>,
    default_seen: Arc<Mutex<Option<Instant>>>,
}

/// How long the `default` namespace, once seen, is taken to exist without asking the store
/// again (a deleted one is made again within this).
const DEFAULT_RECHECK: Duration = Duration::from_secs(1);

fn router(state: QinState) -> Router {
    Router::new()
        .route("/", get(root_document))
        .route("/v1", get(v1_document))
        .route("/v1/", get(v1_document))
        .route(
            "/v1/functions",
            get(functions::list).post(functions::create),
        )
        .route(
            "/v1/functions/{id}",
            get(functions::get)
                .put(functions::update)
                .delete(functions::delete),
        )
        .route("/v1/functions/{id}/detach", post(functions::detach))
        .route("/v1/functions/{id}/scale_up", post(functions::scale_up))
        .route("/v1/functions/{id}/scale_down", post(functions::scale_down))
        .route("/v1/functions/{id}/workers", get(functions::workers))
        .route(
            "/v1/functions/{id}/versions",
            get(versions::list).post(versions::create),
        )
        .route(
            "/v1/functions/{id}/versions/{number}",
            get(versions::get).delete(versions::delete),
        )
        .route(
            "/v1/functions/{id}/versions/{number}/detach",
            post(versions::detach),
        )
        .route(
            "/v1/functions/{id}/versions/{number}/scale_up",
            post(versions::scale_up),
        )
        .route(
            "/v1/functions/{id}/versions/{number}/scale_down",
            post(versions::scale_down),
        )
        .route(
            "/v1/aliases",
            get(versions::list_aliases).post(versions::create_alias),
        )
        .route(
            "/v1/aliases/{name}",
            get(versions::get_alias)
                .put(versions::update_alias)
                .delete(versions::delete_alias),
        )
        .route(
            "/v1/executions",
            get(executions::list).post(executions::create),
        )
        .route(
            "/v1/executions/{id}",
            get(executions::get).delete(executions::delete),
        )
        .route("/v1/executions/{id}/log", get(executions::log))
        .route("/v1/runtimes", get(runtimes::list).post(runtimes::create))
        .route(
            "/v1/runtimes/{id}",
            get(runtimes::get)
                .put(runtimes::update)
                .delete(runtimes::delete),
        )
        .route("/v1/jobs", get(jobs::list).post(jobs::create))
        .route(
            "/v1/jobs/{id}",
            get(jobs::get).put(jobs::update).delete(jobs::delete),
        )
        .route("/v1/webhooks", get(webhooks::list).post(webhooks::create))
        .route(
            "/v1/webhooks/{id}",
            get(webhooks::get)
                .put(webhooks::update)
                .delete(webhooks::delete),
        )
        .route("/v1/webhooks/{id}/invoke", post(webhooks::invoke))
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state)
}

/// `GET /`: the API versions, as Qinling's root answers (no token needed).
async fn root_document(state: axum::extract::State<QinState>) -> Response {
    let root = root_url(&state.engine);
    reply(
        StatusCode::OK,
        json!({"versions": [{
            "id": "v1.0",
            "status": "CURRENT",
            "links": [{"href": format!("{root}/v1"), "target": "v1", "rel": "self"}],
        }]}),
    )
}

/// `GET /v1`: where the v1 API lives.
async fn v1_document(state: axum::extract::State<QinState>) -> Response {
    reply(
        StatusCode::OK,
        json!({"uri": format!("{}/v1", root_url(&state.engine))}),
    )
}

/// The dialect's root URL, as clients are given it.
pub fn root_url(engine: &Engine) -> String {
    format!("{}{}", engine.base_url(), crate::QINLING_PREFIX)
}

async fn route_not_found() -> QinError {
    QinError::new(StatusCode::NOT_FOUND, "The resource could not be found.")
}

async fn method_not_allowed() -> QinError {
    QinError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "The method is not allowed for the requested URL.",
    )
}

/// Every authenticated request's context: the engine, the caller its token stands for, and
/// the namespace standing for its project (its id or name, as the engine's operations take).
pub struct Qin {
    pub engine: Arc<Engine>,
    pub caller: Caller,
    pub ns: String,
}

impl Qin {
    /// The project's namespace itself.
    pub async fn namespace(&self) -> Result<gust_core::Namespace> {
        self.engine
            .namespace_for(&self.caller, &self.ns)
            .await
            .map_err(|e| QinError::about(e, "Project", &self.ns))
    }

    /// Whether `namespace` is the project's.
    pub fn is_project(&self, namespace: &gust_core::Namespace) -> bool {
        namespace.id == self.ns || namespace.name == self.ns
    }
}

impl FromRequestParts<QinState> for Qin {
    type Rejection = QinError;

    async fn from_request_parts(parts: &mut Parts, state: &QinState) -> Result<Self> {
        let engine = &state.engine;
        let secret = parts
            .headers
            .get(gust_engine::auth::AUTH_TOKEN_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let Some(secret) = secret else {
            return Err(QinError::new(
                StatusCode::UNAUTHORIZED,
                "Authentication required: send a Gust token in X-Auth-Token",
            ));
        };
        let caller = engine
            .authenticate_from(Some(secret), client_ip(&parts.extensions))
            .map_err(|e| {
                if e.status == StatusCode::TOO_MANY_REQUESTS {
                    // Not the 503 of an overloaded Qinling: this address must wait.
                    return QinError::new(e.status, e.message);
                }
                QinError::new(
                    StatusCode::UNAUTHORIZED,
                    format!("Auth token is invalid: {}", e.message),
                )
            })?;
        let project = parts
            .headers
            .get("x-project-id")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let ns = project_namespace(state, &caller, project).await?;
        Ok(Self {
            engine: engine.clone(),
            caller,
            ns,
        })
    }
}

/// The namespace a request works in: the token's namespace (by id), the one `X-Project-Id`
/// names, or `default`, made when it does not exist yet (as Qinling without Keystone puts
/// everything in project `default`).
async fn project_namespace(
    state: &QinState,
    caller: &Caller,
    project: Option<&str>,
) -> Result<String> {
    if let Some(id) = &caller.token.namespace_id {
        return Ok(id.clone());
    }
    if let Some(project) = project {
        return Ok(project.to_string());
    }
    let recent = |seen: &Option<Instant>| seen.is_some_and(|t| t.elapsed() < DEFAULT_RECHECK);
    if recent(&state.default_seen.lock().unwrap_or_else(|e| e.into_inner())) {
        return Ok(DEFAULT_PROJECT.into());
    }
    let engine = &state.engine;
    match engine.namespace_for(caller, DEFAULT_PROJECT).await {
        Ok(_) => {}
        Err(e) if e.status == StatusCode::NOT_FOUND => {
            let spec = gust_core::NamespaceSpec {
                name: Some(DEFAULT_PROJECT.into()),
                ..Default::default()
            };
            match engine.create_namespace(caller, spec).await {
                // Made meanwhile by another request, or now.
                Ok(_) => {}
                Err(e) if e.status == StatusCode::CONFLICT => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(e) => return Err(QinError::about(e, "Project", DEFAULT_PROJECT)),
    }
    *state.default_seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    Ok(DEFAULT_PROJECT.into())
}

const DEFAULT_PROJECT: &str = "default";

/// An error as Qinling answers it. Its WSME routes add `faultcode` and `debuginfo`; its pecan
/// routes (functions, a version's get, an execution's log, a webhook's invoke) send only
/// `faultstring`, the one field the clients read.
#[derive(Debug)]
pub struct QinError {
    status: StatusCode,
    message: String,
    wsme: bool,
}

impl QinError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            wsme: true,
        }
    }

    /// 400, as Qinling's `InputException`.
    pub fn input(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 403, as Qinling's `NotAllowedException`.
    pub fn not_allowed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    /// 404 `<Resource> not found [id=<id>]`.
    pub fn not_found(resource: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            format!("{resource} not found [id={id}]"),
        )
    }

    /// In the pecan routes' shape: `faultstring` alone.
    pub fn plain(mut self) -> Self {
        self.wsme = false;
        self
    }

    /// An engine error about `resource` `id`, with Qinling's statuses.
    pub fn about(error: Error, resource: &str, id: &str) -> Self {
        match Failure::of(&error) {
            Failure::Invalid => Self::input(match error.field.as_deref() {
                Some(field) => format!(
                    "Invalid input for `{}`: {}",
                    field_name(field),
                    error.message
                ),
                None => error.message,
            }),
            Failure::Unauthenticated => Self::new(StatusCode::UNAUTHORIZED, error.message),
            Failure::Forbidden => Self::not_allowed(error.message),
            Failure::NotFound(kind) => match kind.map(capitalized) {
                Some(kind) if kind != resource => Self::new(
                    StatusCode::NOT_FOUND,
                    format!("{kind} not found: {}", error.message),
                ),
                _ => Self::not_found(resource, id),
            },
            Failure::Conflict => Self::new(StatusCode::CONFLICT, error.message),
            Failure::TooLarge | Failure::BadRange => Self::input(error.message),
            Failure::Busy | Failure::Unavailable => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, error.message)
            }
            Failure::Internal => Self::new(error.status, error.message),
        }
    }
}

/// `function` → `Function`.
fn capitalized(kind: &str) -> String {
    let mut chars = kind.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// The Qinling name of a native field an engine error names.
fn field_name(native: &str) -> &str {
    match native {
        "memory_mb" => "memory_size",
        "timeout_s" => "timeout",
        "cpu_millis" => "cpu",
        "handler" => "entry",
        "title" => "name",
        "schedule" => "pattern",
        "body" => "function_input",
        "first_run_at" => "first_execution_time",
        "next_run_at" => "next_execution_time",
        "version" => "function_version",
        other => other,
    }
}

impl From<Error> for QinError {
    fn from(error: Error) -> Self {
        let resource = error.resource.map(capitalized).unwrap_or_default();
        Self::about(error, &resource, "")
    }
}

impl IntoResponse for QinError {
    fn into_response(self) -> Response {
        let body = if self.wsme {
            let code = if self.status.is_server_error() {
                "Server"
            } else {
                "Client"
            };
            json!({"faultcode": code, "faultstring": self.message, "debuginfo": null})
        } else {
            json!({"faultstring": self.message})
        };
        reply(self.status, body)
    }
}

pub type Result<T, E = QinError> = std::result::Result<T, E>;

/// A JSON answer with content type `application/json` (the client parses only bodies whose
/// type says JSON).
pub fn reply(status: StatusCode, body: Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// 202 with no body: accepted worker changes.
pub fn accepted() -> Response {
    StatusCode::ACCEPTED.into_response()
}

/// 204 with no body.
pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// A JSON body (WSME): absent fields and explicit `null`s are both "not given". A body that
/// is not a JSON object is a 400.
pub fn json_body(bytes: &[u8]) -> Result<serde_json::Map<String, Value>> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map.into_iter().filter(|(_, v)| !v.is_null()).collect()),
        Ok(_) => Err(QinError::input("The request body must be a JSON object.")),
        Err(e) => Err(QinError::input(format!(
            "The request body is not valid JSON: {e}"
        ))),
    }
}

/// Field readers for WSME bodies, each a 400 naming the field when the type is wrong.
pub mod field {
    use serde_json::{Map, Value};

    use super::{QinError, Result};

    pub fn text(body: &Map<String, Value>, name: &str) -> Result<Option<String>> {
        match body.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(QinError::input(format!(
                "Invalid input for field/attribute {name}: a string is expected"
            ))),
        }
    }

    /// A string field whose value may also come as JSON (an `input` sent as an object).
    pub fn text_or_json(body: &Map<String, Value>, name: &str) -> Option<String> {
        match body.get(name)? {
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }

    pub fn integer(body: &Map<String, Value>, name: &str) -> Result<Option<i64>> {
        match body.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64()),
            Some(Value::String(s)) if s.trim().parse::<i64>().is_ok() => Ok(s.trim().parse().ok()),
            Some(_) => Err(QinError::input(format!(
                "Invalid input for field/attribute {name}: an integer is expected"
            ))),
        }
    }

    pub fn boolean(body: &Map<String, Value>, name: &str) -> Result<Option<bool>> {
        match body.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if matches!(s.as_str(), "true" | "True" | "1") => Ok(Some(true)),
            Some(Value::String(s)) if matches!(s.as_str(), "false" | "False" | "0") => {
                Ok(Some(false))
            }
            Some(_) => Err(QinError::input(format!(
                "Invalid input for field/attribute {name}: a boolean is expected"
            ))),
        }
    }
}

/// Property tests of WSME bodies: any bytes are fields or a 400, and each field reader takes
/// its type or names the field.
#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;
    use crate::common::testing::{body, config};

    proptest! {
        #![proptest_config(config(256))]

        #[test]
        fn any_body_is_fields_or_a_400(bytes in body(&["name", "count", "sync", "input", "function_version"])) {
            let body = match json_body(&bytes) {
                Ok(body) => body,
                Err(e) => {
                    prop_assert_eq!(e.status, StatusCode::BAD_REQUEST);
                    return Ok(());
                }
            };
            prop_assert!(body.values().all(|v| !v.is_null()));
            for result in [
                field::text(&body, "name").map(drop),
                field::integer(&body, "count").map(drop),
                field::boolean(&body, "sync").map(drop),
            ] {
                if let Err(e) = result {
                    prop_assert_eq!(e.status, StatusCode::BAD_REQUEST);
                    prop_assert!(e.message.starts_with("Invalid input"), "{}", e.message);
                }
            }
            let _ = field::text_or_json(&body, "input");
        }
    }
}
