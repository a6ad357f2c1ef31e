//! `/api/v1/admin/rotate-key` and `/api/v1/audit`: admin only; `/api/v1/nodes`: read.

use axum::Json;
use axum::extract::State;
use gust_core::{AuditEntry, AuditQuery, Node, Page};
use gust_engine::Caller;
use gust_engine::ops::Rotation;

use crate::ApiState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::ApiQuery;

/// Reseal every secret under a new master key while the server serves. The key file gets the
/// new key first, then loses the old one once nothing is sealed with it.
#[utoipa::path(post, path = "/api/v1/admin/rotate-key", tag = "admin",
    responses((status = 200, body = Rotation), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody, description = "Another rotation is running")))]
pub async fn rotate_key(
    State(state): State<ApiState>,
    caller: Caller,
) -> ApiResult<Json<Rotation>> {
    Ok(Json(state.rotate_master_key(&caller).await?))
}

/// Changes made through any API, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "admin", params(AuditQuery),
    responses((status = 200, body = Page<AuditEntry>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_audit(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Page<AuditEntry>>> {
    Ok(Json(state.list_audit(&caller, &query).await?))
}

/// The servers sharing this one's database that are alive now (a heartbeat within
/// `GUST_LEASE_SECS`), by id, with their version and load. On SQLite: this server alone.
#[utoipa::path(get, path = "/api/v1/nodes", tag = "admin",
    responses((status = 200, body = Vec<Node>), (status = 403, body = ErrorBody)))]
pub async fn list_nodes(
    State(state): State<ApiState>,
    caller: Caller,
) -> ApiResult<Json<Vec<Node>>> {
    Ok(Json(state.list_nodes(&caller).await?))
}
