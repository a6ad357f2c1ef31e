//! [`RunRequest`]: one request for a function, whichever way it came in (over HTTP, from an
//! API execution, or stored with an async one), and how an execution record keeps it.

use bytes::Bytes;
use gust_core::ExecutionRequest;
use gust_core::execution::RecordedBody;
use http::{HeaderMap, HeaderValue, Method};

use super::{ExecutionInput, REDACTED_HEADERS, header_map};
use crate::error::Error;

/// A request for a function, parsed and checked.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub method: Method,
    /// Starts with `/`.
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl RunRequest {
    /// From an API execution's JSON, naming the field that is wrong.
    pub fn from_input(input: &ExecutionInput) -> Result<Self, Error> {
        let method = Method::from_bytes(input.method.as_bytes())
            .map_err(|_| Error::invalid("method", "is not an HTTP method"))?;
        let path = if input.path.starts_with('/') {
            input.path.clone()
        } else {
            format!("/{}", input.path)
        };
        let uri: http::Uri = path
            .parse()
            .map_err(|_| Error::invalid("path", "is not a valid request path"))?;
        let mut headers = HeaderMap::new();
        for (name, value) in &input.headers {
            let name = http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                Error::invalid(format!("headers.{name}"), "is not a valid header name")
            })?;
            let value = HeaderValue::from_str(value).map_err(|_| {
                Error::invalid(format!("headers.{name}"), "is not a valid header value")
            })?;
            headers.insert(name, value);
        }
        Ok(Self {
            method,
            path: uri.path().to_string(),
            query: uri.query().unwrap_or("").to_string(),
            headers,
            body: Bytes::from(input.body.clone().unwrap_or_default()),
        })
    }

    /// From a stored execution (an async one about to run). Credentials were never stored, so
    /// their redacted placeholders are left out.
    pub fn from_record(request: &ExecutionRequest) -> Result<Self, String> {
        let method = Method::from_bytes(request.method.as_bytes())
            .map_err(|_| format!("stored method `{}` is not valid", request.method))?;
        let mut headers = HeaderMap::new();
        for (name, value) in &request.headers {
            if REDACTED_HEADERS.contains(&name.as_str()) {
                continue;
            }
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.append(name, value);
            }
        }
        Ok(Self {
            method,
            path: request.path.clone(),
            query: request.query.clone(),
            headers,
            body: Bytes::from(request.body.to_bytes()),
        })
    }

    /// The request as an execution record keeps it: credentials redacted, the body whole
    /// (`whole`, for async executions that must run it later) or bounded.
    pub fn to_record(&self, whole: bool) -> ExecutionRequest {
        ExecutionRequest {
            method: self.method.as_str().to_string(),
            path: self.path.clone(),
            query: self.query.clone(),
            headers: header_map(&self.headers, &REDACTED_HEADERS),
            body: if whole {
                RecordedBody::whole(&self.body)
            } else {
                RecordedBody::capture(&self.body, self.body.len() as u64)
            },
        }
    }

    pub(super) fn path_and_query(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        }
    }
}
