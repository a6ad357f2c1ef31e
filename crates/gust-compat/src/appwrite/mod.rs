//! Appwrite 0.15's Functions API: the 15 endpoints of its server SDKs, so that `appwrite`
//! (PyPI) and `node-appwrite` (npm) of that generation manage and run functions on Gust.
//!
//! Mapping:
//! - project (`X-Appwrite-Project`, or `?project=`) → namespace; API key
//!   (`X-Appwrite-Key`) → token, its scopes standing in for `functions.*` (read, write) and
//!   `execution.*` (read, invoke);
//! - function → function with the client's `functionId` as its id, `name` as its title and
//!   the `appwrite` handler contract; `vars` → env, `timeout` → timeout, `schedule` and
//!   `events` → the function's triggers, `execute: ["role:all"]` → public;
//! - deployment (and its build) → deployment; execution → execution.

mod deployments;
mod executions;
mod functions;
mod models;
mod params;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use gust_engine::{Caller, Engine, Error};
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use crate::common::{Failure, client_ip};

/// The server version errors report, as Appwrite's do.
const VERSION: &str = "0.15.3";

pub fn router(engine: Arc<Engine>) -> Router {
    use deployments::*;
    use executions::*;
    use functions::*;
    Router::new()
        .route("/functions", get(list_functions).post(create_function))
        .route("/functions/runtimes", get(list_runtimes))
        .route(
            "/functions/{function}",
            get(get_function)
                .put(update_function)
                .delete(delete_function),
        )
        .route(
            "/functions/{function}/deployments",
            get(list_deployments).post(create_deployment),
        )
        .route(
            "/functions/{function}/deployments/{deployment}",
            get(get_deployment)
                .patch(activate_deployment)
                .delete(delete_deployment),
        )
        .route(
            "/functions/{function}/deployments/{deployment}/builds/{build}",
            post(retry_build),
        )
        .route(
            "/functions/{function}/executions",
            get(list_executions).post(create_execution),
        )
        .route(
            "/functions/{function}/executions/{execution}",
            get(get_execution),
        )
        .fallback(route_not_found)
        .method_not_allowed_fallback(route_not_found)
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(engine)
}

async fn route_not_found() -> AppwriteError {
    AppwriteError::new(
        StatusCode::NOT_FOUND,
        "general_route_not_found",
        "The requested route was not found. Please refer to the API docs and try again.",
    )
}

/// Which generation of models the client reads (`X-Appwrite-Response-Format`): 0.13 and
/// 0.14 clients get the field names of their day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Format {
    V013,
    V014,
    V015,
}

impl Format {
    fn of(parts: &Parts) -> Self {
        let Some(version) = parts
            .headers
            .get("x-appwrite-response-format")
            .and_then(|v| v.to_str().ok())
        else {
            return Self::V015;
        };
        let mut numbers = version
            .trim()
            .split('.')
            .map(|n| n.parse::<u32>().unwrap_or(0));
        match (numbers.next(), numbers.next()) {
            (Some(0), Some(minor)) if minor <= 13 => Self::V013,
            (Some(0), Some(14)) => Self::V014,
            _ => Self::V015,
        }
    }
}

/// Every request's context: the engine, the project (a namespace's name or id, resolved by
/// the operation it is passed to, which answers 404 when there is none), the key's caller (if
/// a key was sent) and the response format.
pub struct Appwrite {
    pub engine: Arc<Engine>,
    project: String,
    caller: Option<Caller>,
    pub format: Format,
}

impl Appwrite {
    /// The caller, for the routes that take only API keys.
    pub fn key(&self) -> Result<&Caller, AppwriteError> {
        self.caller.as_ref().ok_or_else(|| {
            AppwriteError::new(
                StatusCode::UNAUTHORIZED,
                "general_unauthorized_scope",
                format!(
                    "app.{}@service (role: guests) missing scope; send an API key in X-Appwrite-Key",
                    self.project
                ),
            )
        })
    }

    /// The caller if a key was sent (executions also serve guests when `execute` allows).
    pub fn caller(&self) -> Option<&Caller> {
        self.caller.as_ref()
    }

    pub fn ns(&self) -> &str {
        &self.project
    }
}

impl FromRequestParts<Arc<Engine>> for Appwrite {
    type Rejection = AppwriteError;

    async fn from_request_parts(
        parts: &mut Parts,
        engine: &Arc<Engine>,
    ) -> Result<Self, AppwriteError> {
        let project = parts
            .headers
            .get("x-appwrite-project")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .or_else(|| query_value(parts, "project"))
            .unwrap_or_else(|| "console".to_string());
        let caller = match parts
            .headers
            .get("x-appwrite-key")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|k| !k.is_empty())
        {
            None => None,
            Some(key) => Some(engine.authenticate_from(Some(key), client_ip(&parts.extensions)).map_err(|e| {
                if e.status == StatusCode::TOO_MANY_REQUESTS {
                    return AppwriteError::from(e);
                }
                let expired = e.message.contains("expired");
                AppwriteError::new(
                    StatusCode::UNAUTHORIZED,
                    if expired {
                        "project_key_expired"
                    } else {
                        "user_unauthorized"
                    },
                    if expired {
                        "The project key has expired."
                    } else {
                        "The current user is not authorized to perform the requested action: the API key is not valid."
                    },
                )
            })?),
        };
        Ok(Self {
            engine: engine.clone(),
            project,
            caller,
            format: Format::of(parts),
        })
    }
}

fn query_value(parts: &Parts, name: &str) -> Option<String> {
    let query = parts.uri.query()?;
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// An error in Appwrite's shape: `{"message", "code", "type", "version"}`.
#[derive(Debug)]
pub struct AppwriteError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl AppwriteError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
        }
    }

    /// 400 `general_argument_invalid`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "general_argument_invalid", message)
    }
}

impl From<Error> for AppwriteError {
    fn from(e: Error) -> Self {
        let (status, kind) = match Failure::of(&e) {
            Failure::Invalid => (StatusCode::BAD_REQUEST, "general_argument_invalid"),
            Failure::Unauthenticated => (StatusCode::UNAUTHORIZED, "user_unauthorized"),
            Failure::Forbidden => (StatusCode::UNAUTHORIZED, "general_unauthorized_scope"),
            Failure::NotFound(resource) => (
                StatusCode::NOT_FOUND,
                match resource {
                    Some("function") => "function_not_found",
                    Some("deployment") => "deployment_not_found",
                    Some("execution") => "execution_not_found",
                    Some("namespace") => "project_not_found",
                    _ => "general_not_found",
                },
            ),
            Failure::Conflict => (StatusCode::CONFLICT, "document_already_exists"),
            Failure::TooLarge => (StatusCode::BAD_REQUEST, "storage_invalid_file_size"),
            Failure::BadRange => (
                StatusCode::RANGE_NOT_SATISFIABLE,
                "storage_invalid_content_range",
            ),
            Failure::Busy => (StatusCode::TOO_MANY_REQUESTS, "general_rate_limit_exceeded"),
            Failure::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "general_server_error"),
            Failure::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "general_server_error"),
        };
        let message = match (&e.field, Failure::of(&e)) {
            (Some(field), Failure::Invalid) => format!("Invalid {field}: {}", e.message),
            _ => e.message,
        };
        Self::new(status, kind, message)
    }
}

impl IntoResponse for AppwriteError {
    fn into_response(self) -> Response {
        let body = json!({
            "message": self.message,
            "code": self.status.as_u16(),
            "type": self.kind,
            "version": VERSION,
        });
        reply(self.status, body)
    }
}

pub type Result<T, E = AppwriteError> = std::result::Result<T, E>;

const JSON_TYPE: &str = "application/json; charset=UTF-8";

/// A JSON response with Appwrite's content type.
pub fn reply(status: StatusCode, body: Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_TYPE));
    response
}

/// 204, still with a content type: the Python SDK reads the header of every response, and
/// parses an empty body as JSON if the type says JSON, so it says HTML, as Appwrite's does.
pub fn no_content() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=UTF-8"),
    );
    response
}
