//! `Error`: the one error type of the platform's operations. It says what went wrong in the
//! terms a client understands (a status, a stable code, the field at fault); each front door
//! renders it in its own wire format (the native envelope, a dialect's error body). Client
//! mistakes say exactly what was wrong; server faults are logged in full and answered with a
//! short message.
//!
//! Library crates return their own enums (`StoreError`, `WasmError`, `ValidationError`), which
//! convert here; background tasks use anyhow.

use gust_core::ValidationError;
use gust_store::StoreError;
use http::StatusCode;

#[derive(Debug)]
pub struct Error {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Seconds a client should wait before retrying (429, 503).
    pub retry_after: Option<u32>,
    /// The execution the error ended, when one was recorded (a failed or timed-out run).
    pub execution_id: Option<String>,
    /// What was missing (`function`, `deployment`, ...): for a 404, the resource not found;
    /// so a dialect can name it in its own terms.
    pub resource: Option<&'static str>,
}

impl Error {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
            execution_id: None,
            resource: None,
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            ..Self::new(StatusCode::BAD_REQUEST, "invalid_value", message)
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// A 404 that names the kind of resource missing.
    pub fn not_found_of(resource: &'static str, message: impl Into<String>) -> Self {
        Self {
            resource: Some(resource),
            ..Self::not_found(message)
        }
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }

    pub fn too_many_requests(message: impl Into<String>, retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after.min(u64::from(u32::MAX)) as u32),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", message)
        }
    }

    pub fn unavailable(message: impl Into<String>, retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after.min(u64::from(u32::MAX)) as u32),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
        }
    }

    /// A server fault: the detail goes to the log, the client gets a short message.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(error = %error, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal server error; see the server log",
        )
    }
}

impl From<ValidationError> for Error {
    fn from(e: ValidationError) -> Self {
        Self::invalid(e.field, e.message)
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { kind, .. } => Self {
                resource: Some(kind),
                ..Self::not_found(e.to_string())
            },
            StoreError::Conflict(message) => Self::conflict(message),
            StoreError::Unavailable(message) => {
                tracing::error!(error = %message, "store unavailable");
                Self::unavailable("the store cannot take writes right now; retry shortly", 1)
            }
            other => Self::internal(format!("{:#}", anyhow::Error::from(other))),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.status)
    }
}

impl std::error::Error for Error {}
