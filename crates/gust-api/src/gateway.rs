//! `ANY /fn/{ns}/{fn}/{*path}`, and any request whose host is a function's domain name or
//! custom domain: the request goes to the engine's invocation path as it is; what comes back
//! is the function's response, the 202 of an async execution, or an error in the envelope.

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use gust_engine::Invocation;
use gust_engine::invoke::HostRoute;

use crate::ApiState;
use crate::error::ApiError;
use crate::routes::executions::accepted_response;

pub async fn invoke(state: &ApiState, request: Request) -> Response {
    respond(
        state,
        gust_engine::invoke::invoke_http(&state.gateway, request).await,
    )
    .await
}

/// A request whose host names a function ([`gust_engine::invoke::route_by_host`]).
pub async fn invoke_routed(state: &ApiState, route: HostRoute, request: Request) -> Response {
    respond(
        state,
        gust_engine::invoke::invoke_routed(&state.gateway, route, request).await,
    )
    .await
}

async fn respond(state: &ApiState, invocation: gust_engine::Result<Invocation>) -> Response {
    match invocation {
        Ok(Invocation::Response(response)) => response.map(axum::body::Body::new),
        Ok(Invocation::Async(live, alias, request)) => {
            match state.accept_async(&live, alias, request).await {
                Ok(accepted) => accepted_response(state, &accepted),
                Err(error) => ApiError(error).into_response(),
            }
        }
        Err(error) => ApiError(error).into_response(),
    }
}
