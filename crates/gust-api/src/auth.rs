//! The native API's credentials: `Authorization: Bearer <token>`, checked by the engine.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use gust_engine::Caller;
use gust_engine::auth::bearer;

use crate::ApiState;
use crate::error::ApiError;

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        Ok(state.authenticate(bearer(&parts.headers))?)
    }
}
