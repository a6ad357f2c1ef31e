//! [`RunRequest`]: one request for a function, whichever way it came in (over HTTP, from an
//! API execution, or stored with an async one). It is the runtimes' own request type, so it
//! is handed to them as it is; this file adds the API execution's form of it.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};

use super::ExecutionInput;
use crate::error::Error;

/// A request for a function, parsed and checked.
pub type RunRequest = gust_runtime::Request;

/// The request of an API execution, from its JSON, naming the field that is wrong.
pub fn request_from_input(input: &ExecutionInput) -> Result<RunRequest, Error> {
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
        let name = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Error::invalid(format!("headers.{name}"), "is not a valid header name"))?;
        let value = HeaderValue::from_str(value).map_err(|_| {
            Error::invalid(format!("headers.{name}"), "is not a valid header value")
        })?;
        headers.insert(name, value);
    }
    Ok(RunRequest {
        method,
        path: uri.path().to_string(),
        query: uri.query().unwrap_or("").to_string(),
        headers,
        body: Bytes::from(input.body.clone().unwrap_or_default()),
        execution_id: String::new(),
        // The run path sets it again from the execution's trigger (an async one may differ).
        trigger: gust_core::ExecutionTrigger::Api,
        args: None,
    })
}
