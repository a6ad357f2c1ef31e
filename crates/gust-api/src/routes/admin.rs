//! `/api/v1/admin/rotate-key` and `/api/v1/audit`: admin only.

use axum::Json;
use axum::extract::State;
use gust_core::{AuditEntry, AuditQuery, Page};
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
