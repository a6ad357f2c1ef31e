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
        Ok(state.authenticate_from(bearer(&parts.headers), client_ip(&parts.extensions))?)
    }
}

/// The client's address, when the server recorded the connection's peer on the request.
pub fn client_ip(extensions: &axum::http::Extensions) -> Option<std::net::IpAddr> {
    extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|axum::extract::ConnectInfo(addr)| addr.ip())
}

/// Hand the client's address to the invocation path, which knows no framework's types.
pub fn pass_client_addr(request: &mut axum::extract::Request) {
    if let Some(ip) = client_ip(request.extensions()) {
        request
            .extensions_mut()
            .insert(gust_engine::auth::ClientAddr(ip));
    }
}
