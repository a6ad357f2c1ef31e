//! `POST /api/v1/namespaces/{ns}/events`: publish a custom event. It is delivered at once to the
//! event triggers of the namespace that match it; the answer lists the executions it started.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use gust_core::{Event, EventSpec, Scope};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiJson;
use crate::jobs::events::{Emitted, deliver, new_event};
use crate::routes::namespace_for;
use crate::state::Shared;

/// First segments of platform events: a custom event may not pose as one.
const RESERVED: [&str; 2] = ["functions", "namespaces"];

/// A published event and what it started.
#[derive(Debug, Serialize, ToSchema)]
pub struct Published {
    pub event: Event,
    /// Ids of the async executions it started, one per matching trigger.
    pub executions: Vec<String>,
}

#[utoipa::path(post, path = "/api/v1/namespaces/{ns}/events", tag = "events",
    params(("ns" = String, Path)), request_body = EventSpec,
    responses((status = 202, body = Published), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn publish_event(
    State(state): State<Shared>,
    caller: Caller,
    Path(ns): Path<String>,
    ApiJson(spec): ApiJson<EventSpec>,
) -> ApiResult<(StatusCode, Json<Published>)> {
    let namespace = namespace_for(&state, &caller, &ns).await?;
    caller.require_in(Scope::Invoke, &namespace.id)?;
    let name = spec
        .name
        .ok_or_else(|| ApiError::invalid("name", "is required, e.g. `orders.created`"))?;
    gust_core::trigger::event_name("name", &name)?;
    let first = name.split('.').next().unwrap_or_default();
    if RESERVED.contains(&first) {
        return Err(ApiError::invalid(
            "name",
            format!("`{first}.` events are the platform's own; pick another first segment"),
        ));
    }
    let size = serde_json::to_vec(&spec.payload)
        .map(|v| v.len())
        .unwrap_or(0);
    if size > gust_core::trigger::MAX_BODY {
        return Err(ApiError::invalid(
            "payload",
            format!(
                "is {size} bytes; an event carries at most {}",
                gust_core::trigger::MAX_BODY
            ),
        ));
    }
    let emitted = Emitted {
        event: new_event(&namespace.id, name, spec.payload),
        from_function: None,
        depth: 0,
    };
    let executions = deliver(&state, &emitted).await;
    Ok((
        StatusCode::ACCEPTED,
        Json(Published {
            event: emitted.event,
            executions,
        }),
    ))
}
