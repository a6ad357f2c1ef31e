//! `POST /api/v1/namespaces/{ns}/events`: publish a custom event. It is delivered at once to the
//! event triggers of the namespace that match it; the answer lists the executions it started.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use gust_core::EventSpec;
use gust_engine::Caller;
use gust_engine::ops::Published;

use crate::ApiState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath};

#[utoipa::path(post, path = "/api/v1/namespaces/{ns}/events", tag = "events",
    params(("ns" = String, Path)), request_body = EventSpec,
    responses((status = 202, body = Published), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn publish_event(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(ns): ApiPath<String>,
    ApiJson(spec): ApiJson<EventSpec>,
) -> ApiResult<(StatusCode, Json<Published>)> {
    let published = state.publish_event(&caller, &ns, spec).await?;
    Ok((StatusCode::ACCEPTED, Json(published)))
}
