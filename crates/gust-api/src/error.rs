//! `ApiError`: an engine [`Error`] as the native API renders it, the envelope
//! `{"error": {"code", "message", "field"}}` with the matching status (and `Retry-After`, and
//! the execution's id when the error ended one).

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use gust_core::ValidationError;
use gust_engine::{EXECUTION_ID_HEADER, Error};
use gust_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug)]
pub struct ApiError(pub Error);

/// The error envelope every non-2xx JSON response carries.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `invalid_value`, `not_found`.
    pub code: String,
    pub message: String,
    /// The request field that was wrong, when one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self(Error::invalid(field, message))
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self(Error::bad_request(message))
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self(Error::not_found(message))
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        Self(Error::too_large(message))
    }

    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self(Error::new(status, code, message))
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        Self(e.into())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let Error {
            status,
            code,
            message,
            field,
            retry_after,
            execution_id,
            resource: _,
        } = self.0;
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.to_string(),
                message,
                field,
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(seconds) = retry_after {
            headers.insert("retry-after", HeaderValue::from(seconds));
        }
        if let Some(id) = execution_id.and_then(|id| HeaderValue::try_from(id).ok()) {
            headers.insert(EXECUTION_ID_HEADER, id);
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
