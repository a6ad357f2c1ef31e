//! `ANY /fn/{ns}/{fn}/{*path}`: the request goes to the engine's invocation path as it is;
//! what comes back is the function's response, the 202 of an async execution, or an error
//! in the envelope.

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use gust_engine::Invocation;

use crate::ApiState;
use crate::error::ApiError;
use crate::routes::executions::accepted_response;

pub async fn invoke(state: &ApiState, request: Request) -> Response {
    match gust_engine::invoke::invoke_http(&state.gateway, request).await {
        Ok(Invocation::Response(response)) => response.map(axum::body::Body::new),
        Ok(Invocation::Async(live, request)) => match state.accept_async(&live, request).await {
            Ok(accepted) => accepted_response(state, &accepted),
            Err(error) => ApiError(error).into_response(),
        },
        Err(error) => ApiError(error).into_response(),
    }
}
