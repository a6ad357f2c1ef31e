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

pub async fn invoke(state: &ApiState, mut request: Request) -> Response {
    crate::auth::pass_client_addr(&mut request);
    respond(
        state,
        gust_engine::invoke::invoke_http(&state.gateway, request).await,
    )
    .await
}

/// `ANY /edge/{application}/{*path}`: an edge application answers.
pub async fn invoke_edge(state: &ApiState, mut request: Request) -> Response {
    crate::auth::pass_client_addr(&mut request);
    respond(
        state,
        gust_engine::invoke::invoke_edge_path(&state.gateway, request).await,
    )
    .await
}

/// A request whose host names a function ([`gust_engine::invoke::route_by_host`]).
pub async fn invoke_routed(state: &ApiState, route: HostRoute, mut request: Request) -> Response {
    crate::auth::pass_client_addr(&mut request);
    respond(
        state,
        gust_engine::invoke::invoke_routed(&state.gateway, route, request).await,
    )
    .await
}

/// `POST /hooks/{id}`: no token; the body becomes an async execution of the webhook's
/// function, answered `202 {"execution_id": ...}` once it is stored.
pub async fn invoke_webhook(state: &ApiState, id: &str, request: Request) -> Response {
    use axum::http::{HeaderValue, Method, StatusCode, header};
    if request.method() != Method::POST {
        let mut response = ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!(
                "{} is not allowed on a webhook; POST to it",
                request.method()
            ),
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    match state.invoke_webhook(id, request).await {
        Ok(accepted) => {
            let body = serde_json::json!({ "execution_id": accepted.execution.id });
            let mut response = (StatusCode::ACCEPTED, axum::Json(body)).into_response();
            let location = format!(
                "{}/api/v1/namespaces/{}/functions/{}/executions/{}",
                state.base_url(),
                accepted.namespace,
                accepted.function,
                accepted.execution.id
            );
            let headers = response.headers_mut();
            if let Ok(value) = HeaderValue::from_str(&location) {
                headers.insert(header::LOCATION, value);
            }
            if let Ok(value) = HeaderValue::from_str(&accepted.execution.id) {
                headers.insert(gust_engine::EXECUTION_ID_HEADER, value);
            }
            response
        }
        Err(error) => ApiError(error).into_response(),
    }
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
