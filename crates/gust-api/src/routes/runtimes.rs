//! `GET /api/v1/runtimes`: what this server can run.

use axum::Json;
use axum::extract::State;
use gust_core::{RuntimeId, RuntimeInfo};
use gust_runtime_process::ProcessRuntime;

use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::state::Shared;

#[utoipa::path(get, path = "/api/v1/runtimes", tag = "runtimes",
    responses((status = 200, body = Vec<RuntimeInfo>), (status = 401, body = ErrorBody)))]
pub async fn list_runtimes(
    State(state): State<Shared>,
    _caller: Caller,
) -> ApiResult<Json<Vec<RuntimeInfo>>> {
    Ok(Json(runtimes(&state)))
}

pub fn runtimes(state: &Shared) -> Vec<RuntimeInfo> {
    let mut all = vec![RuntimeInfo {
        id: RuntimeId::Wasm,
        name: "WebAssembly (wasi:http/proxy component)".into(),
        available: true,
        version: state.wasm.version().into(),
        reason: None,
    }];
    all.extend(match &state.process {
        Ok(runtime) => runtime.runtimes(),
        Err(reason) => ProcessRuntime::unavailable(reason),
    });
    all
}

/// 400 on `runtime` unless this server can run it.
pub fn require_available(state: &Shared, runtime: RuntimeId) -> ApiResult<()> {
    match runtimes(state).into_iter().find(|r| r.id == runtime) {
        Some(info) if info.available => Ok(()),
        Some(info) => Err(crate::error::ApiError::invalid(
            "runtime",
            format!(
                "runtime `{runtime}` is not available on this server: {}",
                info.reason.unwrap_or_default()
            ),
        )),
        None => Err(crate::error::ApiError::invalid(
            "runtime",
            format!("unknown runtime `{runtime}`"),
        )),
    }
}
