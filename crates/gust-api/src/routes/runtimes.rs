//! `GET /api/v1/runtimes`: what this server can run.

use axum::Json;
use axum::extract::State;
use gust_core::RuntimeInfo;
use gust_engine::Caller;

use crate::ApiState;
use crate::error::{ApiResult, ErrorBody};

#[utoipa::path(get, path = "/api/v1/runtimes", tag = "runtimes",
    responses((status = 200, body = Vec<RuntimeInfo>), (status = 401, body = ErrorBody)))]
pub async fn list_runtimes(
    State(state): State<ApiState>,
    _caller: Caller,
) -> ApiResult<Json<Vec<RuntimeInfo>>> {
    Ok(Json(state.runtimes()))
}
