//! Requests to edge applications: `ANY /edge/{application}/{*path}` on the server's own
//! listener, and any request whose host is a cname (or the generated name) of an edge domain.
//! The application's first matching rule answers: it runs one of its function instances (the
//! function sees the path under the application, and the instance's `args`), redirects, or
//! delivers (Gust has no origins: a 404 that says so). Everything is read from memory.

use std::sync::Arc;

use bytes::Bytes;
use gust_core::ExecutionTrigger;
use gust_core::edge::{EdgeRequest, RuleAction};
use http::StatusCode;

use super::{
    Gateway, Invocation, Response, ResponseBody, RunRequest, read_body, routing_host, run,
};
use crate::edge::{EdgeApp, EdgeRoute};
use crate::error::Error;

/// Where edge applications answer on the server's own listener.
pub const EDGE_PREFIX: &str = "/edge/";

/// `ANY /edge/{application}/{*path}`: the application answers as at its domain, with
/// `/{*path}` (and the query) as the request's path.
pub async fn invoke_edge_path<B>(
    gateway: &Gateway,
    request: http::Request<B>,
) -> Result<Invocation, Error>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let tail = request
        .uri()
        .path()
        .strip_prefix(EDGE_PREFIX)
        .unwrap_or_default();
    let (id, rest) = match tail.find('/') {
        Some(i) => (&tail[..i], &tail[i..]),
        None => (tail, "/"),
    };
    let app = id
        .parse::<u64>()
        .ok()
        .and_then(|id| gateway.live.edge.app(id))
        .ok_or_else(|| {
            Error::not_found_of(
                "edge application",
                format!(
                    "no edge application `{id}`: requests go to /edge/{{application id}}/{{path}}"
                ),
            )
        })?;
    let path = rest.to_string();
    answer(gateway, &app, request, path).await
}

/// A request whose host is an edge domain's ([`super::route_by_host`]): the request's path as it is.
pub async fn invoke_edge<B>(
    gateway: &Gateway,
    route: EdgeRoute,
    request: http::Request<B>,
) -> Result<Invocation, Error>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let app = match route {
        EdgeRoute::App(app) => app,
        EdgeRoute::Nowhere { host, why } => {
            return Err(Error::not_found_of(
                "edge application",
                format!("nothing answers at `{host}`: {why}"),
            ));
        }
    };
    let path = request.uri().path().to_string();
    answer(gateway, &app, request, path).await
}

async fn answer<B>(
    gateway: &Gateway,
    app: &Arc<EdgeApp>,
    request: http::Request<B>,
    path: String,
) -> Result<Invocation, Error>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if !app.active {
        return Err(Error::new(
            StatusCode::FORBIDDEN,
            "inactive",
            format!("edge application {} is inactive", app.id),
        ));
    }
    let (parts, body) = request.into_parts();
    let query = parts.uri.query().unwrap_or("");
    let raw_host = match parts.uri.host() {
        Some(host) => host.as_bytes(),
        None => parts
            .headers
            .get(http::header::HOST)
            .map(|h| h.as_bytes())
            .unwrap_or_default(),
    };
    let mut lowered = [0u8; gust_core::domain::MAX_HOSTNAME];
    let host = routing_host(raw_host, &mut lowered).unwrap_or("");
    let instance_id = {
        let seen = EdgeRequest::new(&path, query, host);
        let decision = app.decide(&seen).ok_or_else(|| {
            Error::not_found_of(
                "rule",
                format!(
                    "no rule of edge application {} matches {} {}",
                    app.id, parts.method, path
                ),
            )
        })?;
        match decision.action {
            RuleAction::RunFunction(instance) => *instance,
            RuleAction::Redirect(status, location) => {
                return Ok(Invocation::Response(redirect(*status, location)));
            }
            RuleAction::Deliver => {
                return Err(Error::new(
                    StatusCode::NOT_FOUND,
                    "no_origin",
                    format!(
                        "the rule `{}` delivers from the origin, and edge applications on \
                         Gust have none; run a function instance instead",
                        decision.rule.name
                    ),
                ));
            }
        }
    };
    if !app.edge_functions {
        return Err(Error::new(
            StatusCode::FORBIDDEN,
            "module_disabled",
            format!(
                "edge application {} has its edge_functions module off; turn it on to run \
                 function instances",
                app.id
            ),
        ));
    }
    let instance = app.instances.get(&instance_id).ok_or_else(|| {
        Error::not_found_of(
            "instance",
            format!("edge application {} has no instance {instance_id}", app.id),
        )
    })?;
    // The application is the public door its owner opened: the function's privacy is for
    // `/fn/`, and its credentials, if any, are the application's to pass on.
    let live = gateway
        .live
        .find(&app.namespace_id, &instance.function_id)
        .await?;
    let request = RunRequest {
        path,
        query: query.to_string(),
        method: parts.method,
        headers: parts.headers,
        body: read_body(body, gateway.max_request_bytes).await?,
        execution_id: String::new(),
        trigger: ExecutionTrigger::Edge,
        args: Some(instance.args.clone()),
    };
    run::respond(
        &gateway.recorder,
        &live,
        &live.ids,
        request,
        ExecutionTrigger::Edge,
    )
    .await
    .map(Invocation::Response)
}

fn redirect(status: u16, location: &str) -> Response {
    let mut response = Response::new(ResponseBody::empty());
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::FOUND);
    if let Ok(location) = http::HeaderValue::try_from(location) {
        response
            .headers_mut()
            .insert(http::header::LOCATION, location);
    }
    response
}
