//! Scaleway Serverless Functions' API (`functions/v1beta1`), so that the `scaleway` SDK (PyPI)
//! and `@scaleway/sdk-function` (npm) manage and run functions on Gust.
//!
//! Mapping:
//! - `X-Auth-Token` (the SDK's secret key, a UUID: a Gust token made with `format: uuid`) →
//!   token; `project_id`, `organization_id` and the path's region → the namespace's labels
//!   `scaleway.project_id`, `scaleway.organization_id`, `scaleway.region` (a list shows the
//!   resources of its region and project, and those that name none);
//! - namespace → namespace (`environment_variables` → env, `secret_environment_variables` →
//!   secrets, answered as salted hashes); function → function (`memory_limit` → memory_mb,
//!   `timeout` → timeout_s, `python311`/`node20` → python3.11/node20, the native handler
//!   contract, which is Scaleway's `handle(event, context)`);
//! - upload-url / PUT / deploy / download-url → the engine's signed upload and download URLs
//!   and its deploy; `domain_name` and `/domains` → the function's domain names;
//! - cron → cron trigger whose body is `args`; trigger (SQS/NATS) → queue trigger, kept in
//!   status `error` since Gust connects to no broker; token → invoke token limited to the
//!   function or namespace.

mod crons;
mod domains;
mod functions;
mod models;
mod namespaces;
mod params;
mod tokens;
mod triggers;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use gust_engine::{Caller, Engine, Error};
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use crate::common::{Failure, client_ip};

/// The API's paths under the dialect's mount point.
const BASE: &str = "/functions/v1beta1/regions/{region}";

pub fn router(engine: Arc<Engine>) -> Router {
    let at = |path: &str| format!("{BASE}{path}");
    Router::new()
        .route(
            &at("/namespaces"),
            get(namespaces::list).post(namespaces::create),
        )
        .route(
            &at("/namespaces/{id}"),
            get(namespaces::get)
                .patch(namespaces::update)
                .delete(namespaces::delete),
        )
        .route(
            &at("/functions"),
            get(functions::list).post(functions::create),
        )
        .route(
            &at("/functions/{id}"),
            get(functions::get)
                .patch(functions::update)
                .delete(functions::delete),
        )
        .route(&at("/functions/{id}/deploy"), post(functions::deploy))
        .route(
            &at("/functions/{id}/upload-url"),
            get(functions::upload_url),
        )
        .route(
            &at("/functions/{id}/download-url"),
            get(functions::download_url),
        )
        .route(&at("/runtimes"), get(functions::runtimes))
        .route(&at("/crons"), get(crons::list).post(crons::create))
        .route(
            &at("/crons/{id}"),
            get(crons::get).patch(crons::update).delete(crons::delete),
        )
        .route(&at("/domains"), get(domains::list).post(domains::create))
        .route(
            &at("/domains/{id}"),
            get(domains::get).delete(domains::delete),
        )
        .route(&at("/tokens"), get(tokens::list).post(tokens::create))
        .route(&at("/tokens/{id}"), get(tokens::get).delete(tokens::delete))
        .route(&at("/triggers"), get(triggers::list).post(triggers::create))
        .route(
            &at("/triggers/{id}"),
            get(triggers::get)
                .patch(triggers::update)
                .delete(triggers::delete),
        )
        // Where upload and download URLs point: signed, so they carry no token.
        .route(
            &format!("{SIGNED_UPLOAD}/{{token}}"),
            put(functions::put_upload),
        )
        .route(
            &format!("{SIGNED_DOWNLOAD}/{{token}}"),
            get(functions::get_download),
        )
        .fallback(route_not_found)
        .method_not_allowed_fallback(route_not_found)
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(engine)
}

/// The signed upload and download URLs' paths, under the dialect's mount point.
pub const SIGNED_UPLOAD: &str = "/signed/upload";
pub const SIGNED_DOWNLOAD: &str = "/signed/download";

async fn route_not_found() -> ScwError {
    ScwError::new(
        StatusCode::NOT_FOUND,
        json!({"type": "not_found", "message": "resource is not found", "resource": "route", "resource_id": ""}),
    )
}

/// Every request's context: the engine, the caller its `X-Auth-Token` stands for, and the
/// path's region (checked against Scaleway's pattern).
pub struct Scw {
    pub engine: Arc<Engine>,
    pub caller: Caller,
    pub region: String,
}

/// Crons and SQS/NATS triggers are both Gust triggers, of kind `cron` and `queue`; `resource`
/// is the Scaleway name errors give them.
impl Scw {
    /// The trigger `id` of `kind`, with its namespace's id.
    pub async fn trigger(
        &self,
        id: &str,
        kind: gust_core::TriggerKind,
        resource: &str,
    ) -> Result<(String, gust_core::FunctionTrigger)> {
        let (ns, _, trigger) = self
            .engine
            .trigger_by_id(&self.caller, id)
            .await
            .map_err(|e| ScwError::about(e, resource, id))?;
        if trigger.kind != kind {
            return Err(ScwError::not_found(resource, id));
        }
        Ok((ns.id, trigger))
    }

    /// Apply `patch` to the trigger found by [`Scw::trigger`].
    pub async fn update_trigger(
        &self,
        (ns, trigger): &(String, gust_core::FunctionTrigger),
        patch: gust_core::TriggerPatch,
        resource: &str,
    ) -> Result<gust_core::FunctionTrigger> {
        self.engine
            .update_trigger(&self.caller, ns, &trigger.function_id, &trigger.id, patch)
            .await
            .map_err(|e| ScwError::about(e, resource, &trigger.id))
    }

    /// Delete the trigger `id` of `kind`; the answer is the trigger as it was.
    pub async fn delete_trigger(
        &self,
        id: &str,
        kind: gust_core::TriggerKind,
        resource: &str,
    ) -> Result<gust_core::FunctionTrigger> {
        let (ns, trigger) = self.trigger(id, kind, resource).await?;
        self.engine
            .delete_trigger(&self.caller, &ns, &trigger.function_id, id)
            .await
            .map_err(|e| ScwError::about(e, resource, id))?;
        Ok(trigger)
    }
}

/// `xx-xxx`, as `fr-par`, `nl-ams`, `pl-waw`.
pub fn valid_region(region: &str) -> bool {
    let b = region.as_bytes();
    b.len() == 6 && b[2] == b'-' && b[..2].iter().chain(&b[3..]).all(u8::is_ascii_lowercase)
}

impl FromRequestParts<Arc<Engine>> for Scw {
    type Rejection = ScwError;

    async fn from_request_parts(parts: &mut Parts, engine: &Arc<Engine>) -> Result<Self> {
        let region = parts
            .uri
            .path()
            .split("/regions/")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_default()
            .to_string();
        let secret = parts
            .headers
            .get(gust_engine::auth::AUTH_TOKEN_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let Some(secret) = secret else {
            return Err(ScwError::denied("not_found", "no X-Auth-Token header"));
        };
        let caller = engine
            .authenticate_from(Some(secret), client_ip(&parts.extensions))
            .map_err(|e| {
                if e.status == StatusCode::TOO_MANY_REQUESTS {
                    return ScwError::from(e);
                }
                let reason = if e.message.contains("expired") {
                    "expired"
                } else {
                    "invalid_argument"
                };
                ScwError::denied(reason, &e.message)
            })?;
        if !valid_region(&region) {
            return Err(ScwError::invalid(
                "region",
                "format",
                format!(
                    "`{region}` is not a region: it must match ^[a-z]{{2}}-[a-z]{{3}}$, e.g. fr-par"
                ),
            ));
        }
        Ok(Self {
            engine: engine.clone(),
            caller,
            region,
        })
    }
}

/// An error in Scaleway's shape: `type` and `message`, with the companion fields each type
/// has (the JS SDK builds its typed errors only when they are all there).
#[derive(Debug)]
pub struct ScwError {
    status: StatusCode,
    body: Value,
}

impl ScwError {
    fn new(status: StatusCode, body: Value) -> Self {
        Self { status, body }
    }

    /// 400 `invalid_arguments` naming the argument; `reason` is `required`, `format`,
    /// `constraint` or `unknown`.
    pub fn invalid(argument: &str, reason: &str, help: impl Into<String>) -> Self {
        let help = help.into();
        Self::new(
            StatusCode::BAD_REQUEST,
            json!({
                "type": "invalid_arguments",
                "message": format!("invalid argument(s): {argument}: {help}"),
                "details": [{"argument_name": argument, "reason": reason, "help_message": help}],
            }),
        )
    }

    /// 401 `denied_authentication`.
    pub fn denied(reason: &str, why: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            json!({
                "type": "denied_authentication",
                "message": "authentication is denied",
                "method": "api_key",
                "reason": reason,
                "help_message": why,
            }),
        )
    }

    /// 404 `not_found`.
    pub fn not_found(resource: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            json!({
                "type": "not_found",
                "message": "resource is not found",
                "resource": resource,
                "resource_id": id,
            }),
        )
    }

    /// 403 `permissions_denied`.
    pub fn permissions_denied(resource: &str, action: &str, why: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            json!({
                "type": "permissions_denied",
                "message": format!("insufficient permissions: {why}"),
                "details": [{"resource": resource, "action": action}],
            }),
        )
    }

    /// An engine error about `resource` `id`, in Scaleway's shape.
    pub fn about(error: Error, resource: &str, id: &str) -> Self {
        match Failure::of(&error) {
            Failure::Invalid => Self::invalid(
                &field_name(error.field.as_deref().unwrap_or(resource)),
                "constraint",
                error.message,
            ),
            Failure::Unauthenticated => Self::denied("invalid_argument", &error.message),
            Failure::Forbidden => Self::permissions_denied(resource, "write", &error.message),
            Failure::NotFound(kind) => {
                let kind = kind.unwrap_or(resource);
                // The id is the one asked for only when the missing thing is what was asked.
                Self::not_found(kind, if kind == resource { id } else { "" })
            }
            Failure::Conflict => Self::new(
                StatusCode::CONFLICT,
                json!({
                    "type": "already_exists",
                    "message": error.message,
                    "resource": resource,
                    "resource_id": id,
                    "help_message": error.message,
                }),
            ),
            Failure::TooLarge => Self::invalid("content_length", "constraint", error.message),
            Failure::BadRange => Self::invalid("content_length", "constraint", error.message),
            Failure::Busy => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                json!({"type": "too_many_requests", "message": error.message}),
            ),
            Failure::Unavailable | Failure::Internal => Self::new(
                error.status,
                json!({"type": "internal", "message": error.message}),
            ),
        }
    }
}

/// The Scaleway name of a native field an engine error names.
fn field_name(native: &str) -> String {
    let (head, rest) = native.split_once('.').map_or((native, ""), |(h, r)| (h, r));
    let head = match head {
        "memory_mb" => "memory_limit",
        "timeout_s" => "timeout",
        "env" => "environment_variables",
        "secrets" => "secret_environment_variables",
        "schedule" => "schedule",
        "body" => "args",
        other => other,
    };
    if rest.is_empty() {
        head.to_string()
    } else {
        format!("{head}.{rest}")
    }
}

impl From<Error> for ScwError {
    fn from(error: Error) -> Self {
        let resource = error.resource.unwrap_or("resource");
        Self::about(error, resource, "")
    }
}

impl IntoResponse for ScwError {
    fn into_response(self) -> Response {
        reply_with(self.status, &self.body)
    }
}

pub type Result<T, E = ScwError> = std::result::Result<T, E>;

/// 200 with a JSON body whose content type is exactly `application/json`: the JS SDK reads
/// anything else (even with `; charset=utf-8`) as text.
pub fn reply(body: Value) -> Response {
    reply_with(StatusCode::OK, &body)
}

fn reply_with(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_follow_the_pattern() {
        for ok in ["fr-par", "nl-ams", "pl-waw"] {
            assert!(valid_region(ok), "{ok}");
        }
        for bad in ["", "fr", "FR-PAR", "fr_par", "fr-pari", "f1-par"] {
            assert!(!valid_region(bad), "{bad}");
        }
    }

    #[test]
    fn native_fields_get_their_scaleway_names() {
        assert_eq!(field_name("memory_mb"), "memory_limit");
        assert_eq!(field_name("env.BAD-KEY"), "environment_variables.BAD-KEY");
        assert_eq!(field_name("name"), "name");
    }
}
