//! The invocation path: `ANY /fn/{namespace}/{function}/{*path}` and `POST .../executions`.
//!
//! Socket → hyper → this handler: look the function up in memory (`live`), check its privacy,
//! read the request body (bounded), hand the request to a fresh Wasm instance, and stream the
//! response back as the guest writes it. The execution record is assembled as the body passes
//! through (`RecordingBody`) and handed to the recorder once the guest is done: nothing on this
//! path waits for the store.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use gust_core::execution::{RECORDED_BODY_LIMIT, RecordedBody};
use gust_core::{
    Execution, ExecutionLogs, ExecutionRequest, ExecutionResponse, ExecutionStatus,
    ExecutionTrigger, FunctionStatus, HttpOption, Privacy, Scope,
};
use gust_runtime_wasm::{InvokeError, Outcome, OutcomeKind, ResponseBody, Running};
use http_body::Frame;
use http_body_util::{BodyExt, Full};
use tokio::sync::oneshot;

use crate::auth;
use crate::error::ApiError;
use crate::live::LiveFunction;
use crate::state::{AppState, Shared};

/// Header carrying the id of the execution that served a response.
pub const EXECUTION_ID_HEADER: &str = "x-gust-execution-id";

/// Request headers never copied into execution records: they carry credentials.
const REDACTED_HEADERS: [&str; 3] = ["authorization", "cookie", "proxy-authorization"];

/// `ANY /fn/{ns}/{fn}/{*path}`.
pub async fn invoke_http(State(state): State<Shared>, request: Request) -> Response {
    match invoke_http_inner(&state, request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn invoke_http_inner(state: &Shared, request: Request) -> Result<Response, ApiError> {
    let (mut parts, body) = request.into_parts();
    let (namespace, function, rest) = split_fn_path(parts.uri.path()).ok_or_else(|| {
        ApiError::not_found("invoke a function at /fn/{namespace}/{function}/{path}")
    })?;
    let live = find(state, namespace, function).await?;

    if live.function.privacy == Privacy::Private {
        let caller = auth::authenticate(state, auth::bearer(&parts.headers))?;
        caller.require_in(Scope::Invoke, &live.function.namespace_id)?;
        // The token is Gust's credential, not the function's: it does not reach the guest.
        parts.headers.remove(axum::http::header::AUTHORIZATION);
    }
    if live.function.http_option == HttpOption::Redirected && !is_https(&parts.headers) {
        let host = parts
            .headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        let location = format!(
            "https://{host}{}",
            parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/")
        );
        return Ok((StatusCode::MOVED_PERMANENTLY, [("location", location)]).into_response());
    }

    if crate::jobs::wants_async(&parts.headers)? {
        let body = read_body(body, gust_core::execution::ASYNC_BODY_LIMIT).await?;
        let request = RunRequest {
            method: parts.method,
            path: rest.to_string(),
            query: parts.uri.query().unwrap_or("").to_string(),
            headers: parts.headers,
            body,
        };
        return crate::jobs::accept_http(state, &live, request).await;
    }
    let body = read_body(body, state.config.max_request_bytes).await?;
    let path_and_query = match parts.uri.query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_string(),
    };
    let draft = Draft::new(
        &live,
        gust_core::new_id(),
        ExecutionTrigger::Http,
        &parts.method,
        rest,
        parts.uri.query().unwrap_or(""),
        &parts.headers,
        &body,
    );
    let guest_request = guest_request(parts.method, &path_and_query, parts.headers, body)?;
    match live.component.invoke(guest_request, &live.limits).await {
        Ok((response, running)) => {
            let (mut head, body) = response.into_parts();
            let recorded_head = (head.status.as_u16(), header_map(&head.headers, &[]));
            head.headers.insert(
                EXECUTION_ID_HEADER,
                HeaderValue::from_str(&draft.id).expect("ids are ASCII"),
            );
            let body = RecordingBody::new(
                body,
                Finisher {
                    sink: Sink::Recorder(state.recorder.clone()),
                    draft,
                    head: recorded_head,
                    running,
                },
            );
            Ok(Response::from_parts(head, Body::new(body)))
        }
        Err(error) => {
            let execution = draft.finish_without_response(error.outcome());
            let id = execution.id.clone();
            let response = error_response(&error, &id);
            state.recorder.record(execution);
            Ok(response)
        }
    }
}

/// Run a function to completion from the API (`POST .../executions`) and return its record.
pub async fn execute(
    state: &Shared,
    live: Arc<LiveFunction>,
    request: RunRequest,
) -> Result<Execution, ApiError> {
    let id = gust_core::new_id();
    let execution = run_to_end(&live, id.clone(), ExecutionTrigger::Api, request, |watch| {
        state.logs.watch(&id, watch)
    })
    .await;
    state.recorder.record(execution.clone());
    state.logs.unwatch(&id);
    state.recorder.flush().await;
    Ok(execution)
}

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
    pub fn from_input(input: &ExecutionInput) -> Result<Self, ApiError> {
        let method = Method::from_bytes(input.method.as_bytes())
            .map_err(|_| ApiError::invalid("method", "is not an HTTP method"))?;
        let path = if input.path.starts_with('/') {
            input.path.clone()
        } else {
            format!("/{}", input.path)
        };
        let uri: axum::http::Uri = path
            .parse()
            .map_err(|_| ApiError::invalid("path", "is not a valid request path"))?;
        let mut headers = HeaderMap::new();
        for (name, value) in &input.headers {
            let name = axum::http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                ApiError::invalid(format!("headers.{name}"), "is not a valid header name")
            })?;
            let value = HeaderValue::from_str(value).map_err(|_| {
                ApiError::invalid(format!("headers.{name}"), "is not a valid header value")
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
                axum::http::HeaderName::from_bytes(name.as_bytes()),
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

    fn path_and_query(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        }
    }
}

/// Run `request` through `live` to the end and return its record, with id `id`. `on_start`
/// gets the guest's live output once it runs (for followers of its logs).
pub async fn run_to_end(
    live: &LiveFunction,
    id: String,
    trigger: ExecutionTrigger,
    request: RunRequest,
    on_start: impl FnOnce(gust_runtime_wasm::LogWatch),
) -> Execution {
    let draft = Draft::from_request(live, id, trigger, &request);
    let path_and_query = request.path_and_query();
    let guest_request = match guest_request(
        request.method,
        &path_and_query,
        request.headers,
        request.body,
    ) {
        Ok(r) => r,
        Err(e) => return draft.finish_refused(e.message),
    };
    match live
        .component
        .invoke_watched(guest_request, &live.limits, on_start)
        .await
    {
        Ok((response, running)) => {
            let (head, body) = response.into_parts();
            let head = (head.status.as_u16(), header_map(&head.headers, &[]));
            let (reply, record) = oneshot::channel();
            let finisher = Finisher {
                sink: Sink::Reply(reply),
                draft,
                head,
                running,
            };
            // Reading the body drives the guest; the record arrives once it has returned.
            let _ = RecordingBody::new(body, finisher).collect().await;
            record
                .await
                .expect("a RecordingBody delivers its record when it ends or is dropped")
        }
        Err(error) => draft.finish_without_response(error.outcome()),
    }
}

/// The request of an API execution.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecutionInput {
    #[serde(default = "default_method")]
    pub method: String,
    #[serde(default = "default_path")]
    pub path: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The request body, as text.
    pub body: Option<String>,
    /// Run in the background: the server answers 202 with the queued execution once it is
    /// stored, and runs it (with retries) from its queue.
    #[serde(default)]
    pub r#async: bool,
}

fn default_method() -> String {
    "POST".into()
}

fn default_path() -> String {
    "/".into()
}

/// Find an invocable function: memory first; on a miss, the store says why it is not invocable.
pub async fn find(
    state: &AppState,
    namespace: &str,
    function: &str,
) -> Result<Arc<LiveFunction>, ApiError> {
    if let Some(live) = state.live.get(namespace, function) {
        return Ok(live);
    }
    let ns = state.store.get_namespace(namespace).await?;
    let f = state.store.get_function(&ns.id, function).await?;
    if let Some(live) = state.live.get(&ns.id, &f.id) {
        return Ok(live);
    }
    let why = match f.status {
        FunctionStatus::Building => "its first deployment is still building",
        FunctionStatus::Error => "its deployment failed to build",
        _ => "it has no active deployment; deploy code first",
    };
    Err(ApiError::unavailable(
        format!("function `{}` cannot be invoked yet: {why}", f.name),
        1,
    ))
}

/// `/fn/ns/fn/rest` → (ns, fn, "/rest"); the rest defaults to `/`.
fn split_fn_path(path: &str) -> Option<(&str, &str, &str)> {
    let tail = path.strip_prefix("/fn/")?;
    let (namespace, tail) = tail.split_once('/')?;
    let (function, rest) = match tail.find('/') {
        Some(i) => (&tail[..i], &tail[i..]),
        None => (tail, "/"),
    };
    (!namespace.is_empty() && !function.is_empty()).then_some((namespace, function, rest))
}

fn is_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
}

async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(ApiError::too_large(format!(
                "the request body exceeds {} bytes",
                limit
            )))
        }
        Err(e) => Err(ApiError::bad_request(format!(
            "could not read the request body: {e}"
        ))),
    }
}

fn guest_request(
    method: Method,
    path_and_query: &str,
    mut headers: HeaderMap,
    body: Bytes,
) -> Result<http::Request<Full<Bytes>>, ApiError> {
    // wasi:http needs an authority; API executions have no Host header of their own.
    if !headers.contains_key("host") {
        headers.insert("host", HeaderValue::from_static("localhost"));
    }
    let mut request = http::Request::builder()
        .method(method)
        .uri(path_and_query)
        .body(Full::new(body))
        .map_err(|e| ApiError::bad_request(format!("invalid request: {e}")))?;
    *request.headers_mut() = headers;
    Ok(request)
}

fn header_map(headers: &HeaderMap, redact: &[&str]) -> BTreeMap<String, String> {
    headers
        .iter()
        .map(|(name, value)| {
            let shown = if redact.contains(&name.as_str()) {
                "[redacted]".to_string()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            (name.as_str().to_string(), shown)
        })
        .collect()
}

fn error_response(error: &InvokeError, execution_id: &str) -> Response {
    let outcome = error.outcome();
    let message = outcome
        .message
        .clone()
        .unwrap_or_else(|| "the function failed".into());
    let api_error = match error {
        InvokeError::Timeout(_) => ApiError::new(StatusCode::GATEWAY_TIMEOUT, "timeout", message),
        InvokeError::Failed(_) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "function_failed",
            message,
        ),
    };
    let mut response = api_error.into_response();
    response.headers_mut().insert(
        EXECUTION_ID_HEADER,
        HeaderValue::from_str(execution_id).expect("ids are ASCII"),
    );
    response
}

/// An execution record being assembled.
struct Draft {
    id: String,
    namespace_id: String,
    function_id: String,
    deployment_id: String,
    trigger: ExecutionTrigger,
    request: ExecutionRequest,
    created_at: chrono::DateTime<chrono::Utc>,
    started: Instant,
}

impl Draft {
    fn new(
        live: &LiveFunction,
        id: String,
        trigger: ExecutionTrigger,
        method: &Method,
        path: &str,
        query: &str,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Self {
        Self {
            id,
            namespace_id: live.function.namespace_id.clone(),
            function_id: live.function.id.clone(),
            deployment_id: live.deployment_id.clone(),
            trigger,
            request: ExecutionRequest {
                method: method.as_str().to_string(),
                path: path.to_string(),
                query: query.to_string(),
                headers: header_map(headers, &REDACTED_HEADERS),
                body: RecordedBody::capture(body, body.len() as u64),
            },
            created_at: gust_core::now(),
            started: Instant::now(),
        }
    }

    fn from_request(
        live: &LiveFunction,
        id: String,
        trigger: ExecutionTrigger,
        request: &RunRequest,
    ) -> Self {
        Self::new(
            live,
            id,
            trigger,
            &request.method,
            &request.path,
            &request.query,
            &request.headers,
            &request.body,
        )
    }

    /// The request could not even be handed to the function.
    fn finish_refused(self, message: String) -> Execution {
        let outcome = Outcome {
            kind: OutcomeKind::Failed,
            message: Some(message),
            logs: Default::default(),
            instantiate: std::time::Duration::ZERO,
            interrupted: false,
        };
        self.finish_without_response(&outcome)
    }

    fn finish(
        self,
        outcome: &Outcome,
        head: (u16, BTreeMap<String, String>),
        body: RecordedBody,
        body_error: Option<String>,
    ) -> Execution {
        let mut execution = self.finish_without_response(outcome);
        execution.response = Some(ExecutionResponse {
            status_code: head.0,
            headers: head.1,
            body,
        });
        if execution.status == ExecutionStatus::Completed && body_error.is_some() {
            execution.status = ExecutionStatus::Failed;
            execution.error_message = body_error;
        }
        execution
    }

    fn finish_without_response(self, outcome: &Outcome) -> Execution {
        let status = match outcome.kind {
            OutcomeKind::Completed => ExecutionStatus::Completed,
            OutcomeKind::Failed => ExecutionStatus::Failed,
            OutcomeKind::Timeout => ExecutionStatus::Timeout,
        };
        let duration = self.started.elapsed();
        Execution {
            id: self.id,
            namespace_id: self.namespace_id,
            function_id: self.function_id,
            deployment_id: Some(self.deployment_id),
            trigger: self.trigger,
            status,
            request: self.request,
            response: None,
            logs: ExecutionLogs {
                stdout: outcome.logs.stdout.clone(),
                stderr: outcome.logs.stderr.clone(),
                truncated: outcome.logs.truncated,
            },
            error_message: outcome.message.clone(),
            duration_us: Some(duration.as_micros() as u64),
            // A pooled Wasm instance is ready in microseconds: never a cold start, but how
            // long the instance took is kept.
            cold_start: false,
            startup: (!outcome.instantiate.is_zero()).then(|| gust_core::Startup {
                total_us: outcome.instantiate.as_micros() as u64,
                instantiate_us: Some(outcome.instantiate.as_micros() as u64),
                ..Default::default()
            }),
            attempts: 1,
            is_async: false,
            max_attempts: 1,
            run_after: None,
            dead_letter: false,
            idempotency_key: None,
            source: None,
            replay_of: None,
            event_depth: 0,
            created_at: self.created_at,
            started_at: Some(self.created_at),
            finished_at: Some(gust_core::now()),
        }
    }
}

/// Where a finished record goes.
enum Sink {
    /// HTTP invocations: queued for the store.
    Recorder(crate::recorder::Recorder),
    /// API executions: back to the handler, which returns it.
    Reply(oneshot::Sender<Execution>),
}

/// What a streamed response needs to become a record once it ends.
struct Finisher {
    sink: Sink,
    draft: Draft,
    head: (u16, BTreeMap<String, String>),
    /// The guest, still running: it writes the body this wrapper reads.
    running: Running,
}

impl Finisher {
    /// Stop the guest where it is and deliver the record.
    fn abandon(self, reason: &str, body: RecordedBody, error: Option<String>) {
        let Finisher {
            sink,
            draft,
            head,
            running,
        } = self;
        deliver(sink, draft, head, &running.cancel(reason), body, error);
    }
}

/// Complete a record and send it where it belongs.
fn deliver(
    sink: Sink,
    draft: Draft,
    head: (u16, BTreeMap<String, String>),
    outcome: &Outcome,
    body: RecordedBody,
    error: Option<String>,
) {
    let execution = draft.finish(outcome, head, body, error);
    match sink {
        Sink::Recorder(recorder) => recorder.record(execution),
        Sink::Reply(reply) => {
            let _ = reply.send(execution);
        }
    }
}

/// Passes the guest's response body through, keeping a bounded copy for the record, and drives
/// the guest while it does (the guest runs on this task, not one of its own). The end of the
/// body is held back until the guest has returned, so the record is complete; if the client
/// goes away first, dropping this stops the guest and records why.
struct RecordingBody {
    inner: ResponseBody,
    captured: BytesMut,
    total: u64,
    error: Option<String>,
    inner_done: bool,
    /// The guest returned normally rather than being interrupted (known once `finisher` is gone).
    completed: bool,
    finisher: Option<Finisher>,
}

impl RecordingBody {
    fn new(inner: ResponseBody, finisher: Finisher) -> Self {
        Self {
            inner,
            captured: BytesMut::new(),
            total: 0,
            error: None,
            inner_done: false,
            completed: false,
            finisher: Some(finisher),
        }
    }

    /// Ready once the guest has returned and the record is sent.
    /// Ready once the guest has returned and the record is sent; `false` when the guest was
    /// interrupted (a timeout or a trap after its response began), so the body must not look whole.
    fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        let Some(finisher) = self.finisher.as_mut() else {
            return Poll::Ready(self.completed);
        };
        let outcome = match finisher.running.poll_outcome(cx) {
            Poll::Ready(outcome) => outcome.clone(),
            Poll::Pending => return Poll::Pending,
        };
        let Finisher {
            sink, draft, head, ..
        } = self.finisher.take().expect("checked above");
        let body = RecordedBody::capture(&self.captured, self.total);
        self.completed = !outcome.interrupted;
        deliver(sink, draft, head, &outcome, body, self.error.take());
        Poll::Ready(self.completed)
    }

    /// The end of the body: clean if the guest completed, an error (so the client sees a cut,
    /// not a short but well-formed response) if it did not.
    fn end(completed: bool) -> Option<Result<Frame<Bytes>, gust_runtime_wasm::BodyError>> {
        (!completed).then_some(Err(gust_runtime_wasm::BodyError::HttpResponseIncomplete))
    }
}

impl http_body::Body for RecordingBody {
    type Data = Bytes;
    type Error = gust_runtime_wasm::BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if this.inner_done {
            return this.poll_finish(cx).map(Self::end);
        }
        // Let the guest run: it produces what we are about to read.
        if let Some(finisher) = this.finisher.as_mut() {
            let _ = finisher.running.poll_outcome(cx);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.total += data.len() as u64;
                    let room = RECORDED_BODY_LIMIT.saturating_sub(this.captured.len());
                    if room > 0 {
                        this.captured
                            .extend_from_slice(&data[..room.min(data.len())]);
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                // The guest failed mid-body (a trap or a timeout): it has returned by now.
                this.error = Some(format!("the response body failed: {e}"));
                this.inner_done = true;
                let _ = this.poll_finish(cx);
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                this.inner_done = true;
                this.poll_finish(cx).map(Self::end)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.finisher.is_none() && (self.inner_done || self.inner.is_end_stream())
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for RecordingBody {
    fn drop(&mut self) {
        if let Some(finisher) = self.finisher.take() {
            let reason = "the client went away before the response was complete";
            if self.error.is_none() && !self.inner_done {
                self.error = Some(reason.into());
            }
            let body = RecordedBody::capture(&self.captured, self.total);
            finisher.abandon(reason, body, self.error.take());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fn_paths_split_into_parts() {
        assert_eq!(
            split_fn_path("/fn/default/hello"),
            Some(("default", "hello", "/"))
        );
        assert_eq!(
            split_fn_path("/fn/default/hello/"),
            Some(("default", "hello", "/"))
        );
        assert_eq!(
            split_fn_path("/fn/default/hello/a/b"),
            Some(("default", "hello", "/a/b"))
        );
        assert_eq!(split_fn_path("/fn/default"), None);
        assert_eq!(split_fn_path("/fn//x"), None);
    }
}
