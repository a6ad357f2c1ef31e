//! [`Request`]: one request for a function, whichever door it came in by, and the form an
//! execution record keeps it in.

use std::collections::BTreeMap;

use bytes::Bytes;
use gust_core::execution::RecordedBody;
use gust_core::{ExecutionRequest, ExecutionTrigger};
use http::{HeaderMap, HeaderValue, Method};

/// Request headers never copied into execution records: they carry credentials.
pub const REDACTED_HEADERS: [&str; 3] = ["authorization", "cookie", "proxy-authorization"];

/// A request for a function, parsed and checked. A runtime that keeps it while the function
/// runs hands it back for the record, so nobody copies it first.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: Method,
    /// The path after the function's prefix, starting with `/`.
    pub path: String,
    /// The query string as received, without `?`.
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The execution it runs as; the function sees it (`context.execution_id`).
    pub execution_id: String,
    /// What started the run. Set with the execution id, by the path that runs it; handler
    /// contracts that tell the code how it was called (Appwrite's) pass it on.
    pub trigger: ExecutionTrigger,
    /// The arguments of the edge function instance the request runs, as JSON text (written
    /// once per instance, shared by its requests); handler contracts that give code its
    /// arguments (`azion`) pass it on, `{}` when absent.
    pub args: Option<std::sync::Arc<str>>,
}

impl Request {
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
            execution_id: String::new(),
            trigger: ExecutionTrigger::default(),
            args: None,
        })
    }

    /// The request as an execution record keeps it: credentials redacted, the body whole
    /// (`whole`, for async executions that must run it later) or bounded.
    pub fn to_record(&self, whole: bool) -> ExecutionRequest {
        ExecutionRequest {
            method: self.method.as_str().to_string(),
            path: self.path.clone(),
            query: self.query.clone(),
            headers: recorded_headers(&self.headers, &REDACTED_HEADERS),
            body: if whole {
                RecordedBody::whole(&self.body)
            } else {
                RecordedBody::capture(&self.body, self.body.len() as u64)
            },
        }
    }

    pub fn path_and_query(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        }
    }
}

/// Headers as a record keeps them: as text, those named in `redact` masked.
pub fn recorded_headers(headers: &HeaderMap, redact: &[&str]) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for (name, value) in headers {
        let shown = if redact.contains(&name.as_str()) {
            "[redacted]".to_string()
        } else {
            match value.to_str() {
                Ok(text) => text.to_owned(),
                Err(_) => String::from_utf8_lossy(value.as_bytes()).into_owned(),
            }
        };
        map.insert(name.as_str().to_owned(), shown);
    }
    map
}
