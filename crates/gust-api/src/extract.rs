//! Extractors that turn bad input into a 400 naming the field, instead of axum's plain-text
//! rejections: JSON bodies and query strings are parsed with the path of the failing value,
//! path segments with the parameter's name.

use axum::extract::path::ErrorKind;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON object body. An empty body reads as `{}` so optional-only requests need no body.
/// Anything but an object is refused: serde would read an array as a struct's fields in order.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::too_large("the JSON body is too large")
            } else {
                ApiError::bad_request(format!("could not read the body: {e}"))
            }
        })?;
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        let bytes: &[u8] = match first {
            None => b"{}",
            Some(b'{') => &bytes,
            Some(_) => return Err(ApiError::invalid("body", "must be a JSON object")),
        };
        parse_json(bytes).map(ApiJson)
    }
}

/// Parse JSON, naming the failing field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::bad_request(format!("malformed JSON: {inner}"));
        }
        let message = inner.to_string();
        // serde names unknown fields in the message, not the path; lift it out.
        // For an unknown field the path already ends with its name.
        let field = if path == "." {
            "body".to_string()
        } else {
            path
        };
        ApiError::invalid(field, strip_position(&message))
    })
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// A query string.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|e| {
                let path = e.path().to_string();
                let message = e.into_inner().to_string();
                // serde names unknown and missing parameters in the message, not the path.
                if let Some(name) = ["unknown field `", "missing field `"]
                    .iter()
                    .find_map(|prefix| message.strip_prefix(prefix))
                    .and_then(|m| m.split('`').next())
                {
                    return ApiError::invalid(name.to_string(), message.clone());
                }
                ApiError::invalid(
                    if path == "." {
                        "query".to_string()
                    } else {
                        path
                    },
                    message,
                )
            })
    }
}

/// Path parameters. A segment that is not valid UTF-8 once percent-decoded is a 400 naming the
/// parameter (axum's own rejection is plain text).
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => Err(path_error(rejection)),
        }
    }
}

fn path_error(rejection: PathRejection) -> ApiError {
    let PathRejection::FailedToDeserializePathParams(failed) = rejection else {
        // No parameters captured: a route registered without its parameters.
        return ApiError(gust_engine::Error::internal(rejection));
    };
    if failed.status().is_server_error() {
        return ApiError(gust_engine::Error::internal(failed));
    }
    let kind = failed.into_kind();
    let message = kind.to_string();
    match kind {
        ErrorKind::InvalidUtf8InPathParam { key } => {
            ApiError::invalid(key, "is not valid UTF-8 once percent-decoded")
        }
        ErrorKind::ParseErrorAtKey { key, .. } | ErrorKind::DeserializeError { key, .. } => {
            ApiError::invalid(key, message)
        }
        _ => ApiError::bad_request(format!("bad path: {message}")),
    }
}
