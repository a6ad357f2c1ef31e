//! The invocation path: `ANY /fn/{namespace}/{function}/{*path}`, any request whose host is a
//! function's domain name or custom domain, and `POST .../executions`.
//!
//! Socket → hyper → this handler: look the function up in memory (`live`), check its privacy,
//! read the request body (bounded), then hand the request to what runs the function, a
//! [`gust_runtime::Runtime`] (a Wasm component, a worker pool): `run` answers with the
//! response head as soon as the function sets it and streams the body as it comes, and the
//! record is assembled as the body passes through (`RecordingBody`).
//!
//! The record goes to the recorder once the run is over: nothing on this path waits for the
//! store. `request` is the request in every form it takes; `draft` the record being assembled.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use gust_core::{Execution, ExecutionTrigger, HttpOption, Privacy, Scope};
use http::{HeaderMap, StatusCode};
use http_body_util::BodyExt;

mod body;
mod draft;
mod edge;
mod request;
mod run;

pub use body::{BodyError, Response, ResponseBody};
pub use edge::{EDGE_PREFIX, invoke_edge, invoke_edge_path};
pub use request::{RunRequest, request_from_input};

use crate::auth;
use crate::auth::TokenCache;
use crate::error::Error;
pub use crate::live::HostRoute;
use crate::live::LiveFunctions;
pub use crate::live::{ExecutionIds, LiveFunction};
use crate::logs::LiveLogs;
use crate::recorder::Recorder;

/// Header carrying the id of the execution that served a response.
pub const EXECUTION_ID_HEADER: &str = "x-gust-execution-id";

/// The handles the invocation path uses.
#[derive(Clone)]
pub struct Gateway {
    pub live: Arc<LiveFunctions>,
    pub recorder: Recorder,
    pub tokens: Arc<TokenCache>,
    /// Largest request body an invocation accepts.
    pub max_request_bytes: usize,
}

/// What an invocation over HTTP came to.
// Returned once per request and matched at once: its size costs less than a box would.
#[allow(clippy::large_enum_variant)]
pub enum Invocation {
    /// The function's response (or its error, recorded, as `Err`).
    Response(Response),
    /// `X-Gust-Async: true`: checked and read, for the queue to take (`Engine::accept_async`),
    /// with the alias the request named, if any.
    Async(Arc<LiveFunction>, Option<String>, RunRequest),
}

/// Header that turns an invocation over HTTP into an async execution.
pub const ASYNC_HEADER: &str = "x-gust-async";

/// `X-Gust-Async`: `true` or `false` (absent: false); anything else is a 400 naming it.
pub fn wants_async(headers: &HeaderMap) -> Result<bool, Error> {
    let Some(value) = headers.get(ASYNC_HEADER) else {
        return Ok(false);
    };
    match value.to_str().map(str::trim) {
        Ok(v) if v.eq_ignore_ascii_case("true") || v == "1" => Ok(true),
        Ok(v) if v.eq_ignore_ascii_case("false") || v == "0" => Ok(false),
        _ => Err(Error::invalid("X-Gust-Async", "must be `true` or `false`")),
    }
}

/// `ANY /fn/{ns}/{fn}/{*path}` (or `{fn}:{version}`, `{fn}:{alias}`): find the function, check
/// who may call it, read the body (bounded), then run it, or queue it when the caller asked
/// for async.
pub async fn invoke_http<B>(
    gateway: &Gateway,
    request: http::Request<B>,
) -> Result<Invocation, Error>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = request.into_parts();
    let (namespace, function, rest) = split_fn_path(parts.uri.path()).ok_or_else(|| {
        Error::not_found("invoke a function at /fn/{namespace}/{function}/{path}")
    })?;
    // Function names are DNS labels: a `:` can only start a qualifier.
    let (live, alias) = if function.contains(gust_core::version::QUALIFIER_SEPARATOR) {
        gateway.live.find_qualified(namespace, function).await?
    } else {
        (gateway.live.find(namespace, function).await?, None)
    };
    let path = rest.to_string();
    invoke_live(gateway, live, alias, parts, body, path).await
}

/// What the record of a run of `live` names: its own ids, or those plus the alias it was
/// reached through.
pub fn record_ids(live: &LiveFunction, alias: Option<String>) -> Arc<ExecutionIds> {
    match alias {
        None => live.ids.clone(),
        Some(alias) => Arc::new(ExecutionIds {
            alias: Some(alias),
            ..ExecutionIds::clone(&live.ids)
        }),
    }
}

/// The function a request's host names (its generated domain name or a custom domain), or
/// `None` when the request is for the server itself. Asked of every request before any
/// routing, so it allocates nothing: the host is lower-cased, when it must be, on the stack.
pub fn route_by_host<B>(gateway: &Gateway, request: &http::Request<B>) -> Option<HostRoute> {
    // An absolute request target (and HTTP/2's `:authority`) names the host in the URI.
    let raw = match request.uri().host() {
        Some(host) => host.as_bytes(),
        None => request.headers().get(http::header::HOST)?.as_bytes(),
    };
    let mut lowered = [0u8; gust_core::domain::MAX_HOSTNAME];
    let host = routing_host(raw, &mut lowered)?;
    gateway.live.route_host(host)
}

/// `Host: Hello.Default.functions.localhost.:8080` → `hello.default.functions.localhost`:
/// no port, no trailing dot, lower case (copied into `buffer` only when it has capitals).
pub(crate) fn routing_host<'a>(raw: &'a [u8], buffer: &'a mut [u8]) -> Option<&'a str> {
    let host = match raw.iter().position(|&b| b == b':') {
        Some(colon) => &raw[..colon],
        None => raw,
    };
    let host = host.strip_suffix(b".").unwrap_or(host);
    if host.is_empty() || host.len() > buffer.len() || !host.is_ascii() {
        return None;
    }
    let host: &[u8] = if host.iter().any(u8::is_ascii_uppercase) {
        let lowered = &mut buffer[..host.len()];
        lowered.copy_from_slice(host);
        lowered.make_ascii_lowercase();
        lowered
    } else {
        host
    };
    std::str::from_utf8(host).ok()
}

/// Invoke the function a request's host names ([`route_by_host`]), with the request's path
/// and query as they are: the same checks, async header and record as `/fn/…`.
pub async fn invoke_routed<B>(
    gateway: &Gateway,
    route: HostRoute,
    request: http::Request<B>,
) -> Result<Invocation, Error>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let live = match route {
        HostRoute::Live(live) => live,
        HostRoute::Missing {
            host,
            namespace,
            function,
        } => gateway
            .live
            .find(&namespace, &function)
            .await
            .map_err(|e| {
                if e.status == StatusCode::NOT_FOUND {
                    Error {
                        message: format!("no function answers at `{host}`: {}", e.message),
                        ..e
                    }
                } else {
                    e
                }
            })?,
        HostRoute::Edge(route) => return invoke_edge(gateway, route, request).await,
        HostRoute::Unknown { host } => {
            return Err(Error {
                resource: Some("function"),
                ..Error::not_found(format!(
                    "no function answers at `{host}`: a function's domain name is \
                     <function>.<namespace>.{}",
                    gateway.live.functions_domain()
                ))
            });
        }
    };
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_string();
    invoke_live(gateway, live, None, parts, body, path).await
}

/// Check who may call `live`, read the body (bounded), then run it, or queue it when the
/// caller asked for async. `path` is what the function sees of the request's path.
async fn invoke_live<B>(
    gateway: &Gateway,
    live: Arc<LiveFunction>,
    alias: Option<String>,
    mut parts: http::request::Parts,
    body: B,
    path: String,
) -> Result<Invocation, Error>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if live.function.privacy == Privacy::Private {
        let client = parts.extensions.get::<auth::ClientAddr>().map(|c| c.0);
        let caller = auth::authenticate(
            &gateway.tokens,
            auth::invocation_secret(&parts.headers),
            client,
        )?;
        caller.require_in(Scope::Invoke, &live.function.namespace_id)?;
        caller.require_function(&live.function.id)?;
        // The token is Gust's credential, not the function's: it does not reach the guest.
        parts.headers.remove(http::header::AUTHORIZATION);
        parts.headers.remove(auth::AUTH_TOKEN_HEADER);
    }
    if live.function.http_option == HttpOption::Redirected
        && !is_https(&parts.headers, parts.extensions.get::<Transport>().copied())
    {
        let location = https_location(&parts);
        let mut response = Response::new(ResponseBody::empty());
        *response.status_mut() = StatusCode::MOVED_PERMANENTLY;
        if let Ok(location) = http::HeaderValue::try_from(location) {
            response
                .headers_mut()
                .insert(http::header::LOCATION, location);
        }
        return Ok(Invocation::Response(response));
    }

    let is_async = wants_async(&parts.headers)?;
    let limit = if is_async {
        gust_core::execution::ASYNC_BODY_LIMIT
    } else {
        gateway.max_request_bytes
    };
    let request = RunRequest {
        path,
        query: parts.uri.query().unwrap_or("").to_string(),
        method: parts.method,
        headers: parts.headers,
        body: read_body(body, limit).await?,
        execution_id: String::new(),
        trigger: ExecutionTrigger::Http,
        args: None,
    };
    if is_async {
        return Ok(Invocation::Async(live, alias, request));
    }
    let ids = record_ids(&live, alias);
    run::respond(
        &gateway.recorder,
        &live,
        &ids,
        request,
        ExecutionTrigger::Http,
    )
    .await
    .map(Invocation::Response)
}

/// Run a function to completion from the API (`POST .../executions`) and return its record.
pub async fn execute(
    recorder: &Recorder,
    logs: &Arc<LiveLogs>,
    live: Arc<LiveFunction>,
    ids: Arc<ExecutionIds>,
    request: RunRequest,
) -> Result<Execution, Error> {
    // In a task of its own: a caller that hangs up neither stops the run nor loses its record.
    let (recorder, logs) = (recorder.clone(), logs.clone());
    let run = tokio::spawn(async move {
        let id = gust_core::new_id();
        let execution = run::run_to_end(
            &live,
            &ids,
            id.clone(),
            ExecutionTrigger::Api,
            request,
            |watch| logs.watch(&id, watch),
        )
        .await;
        let execution = match execution {
            Ok(execution) => execution,
            Err(not_run) => {
                logs.unwatch(&id);
                return Err(not_run);
            }
        };
        recorder.record(execution.clone());
        logs.unwatch(&id);
        recorder.flush().await;
        Ok(execution)
    });
    run.await.map_err(Error::internal)?
}

/// Run `request` through `live` to the end and return its record, with id `id`. `on_start`
/// gets the run's live output as it starts (for followers of its logs).
/// `Err` when it could not run at all (every worker busy, none can start).
pub async fn run_to_end(
    live: &LiveFunction,
    id: String,
    trigger: ExecutionTrigger,
    request: RunRequest,
    on_start: impl FnOnce(gust_runtime::LogWatch),
) -> Result<Execution, Error> {
    run::run_to_end(live, &live.ids, id, trigger, request, on_start).await
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
    /// Run this version of the function (its code and configuration as they were made)
    /// instead of the current ones.
    pub version: Option<u32>,
    /// Run what this alias of the namespace points at (it must point at this function).
    /// Not with `version`.
    pub alias: Option<String>,
}

fn default_method() -> String {
    "POST".into()
}

fn default_path() -> String {
    "/".into()
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

/// How a request reached the server, as the listener that accepted it tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tls,
    /// Plain HTTP; `https_port` is where the server also serves HTTPS, if it does.
    Plain {
        https_port: Option<u16>,
    },
}

/// Whether the client reached the server over HTTPS: on its TLS listener, or through a proxy
/// that says so (`X-Forwarded-Proto: https`).
pub fn is_https(headers: &HeaderMap, transport: Option<Transport>) -> bool {
    transport == Some(Transport::Tls)
        || headers
            .get("x-forwarded-proto")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
}

/// Where `http_option: redirected` sends a plain-HTTP caller: the same host and path over
/// HTTPS, on the server's HTTPS port when it serves one itself (the default port left out).
fn https_location(parts: &http::request::Parts) -> String {
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let host = match parts.extensions.get::<Transport>() {
        Some(Transport::Plain {
            https_port: Some(port),
        }) => {
            let name = match host.rfind(':') {
                // `[::1]:8080` → `[::1]`, `example.com:80` → `example.com`, `[::1]` stays.
                Some(colon) if !host[colon..].contains(']') => &host[..colon],
                _ => host,
            };
            if *port == 443 {
                name.to_string()
            } else {
                format!("{name}:{port}")
            }
        }
        _ => host.to_string(),
    };
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    format!("https://{host}{path}")
}

/// After refusing a request whose body is still arriving, read (and drop) this much more of
/// it, for at most `DRAIN_TIME`, so the client reads the answer on a connection still in step
/// instead of a reset.
const DRAIN_BYTES: u64 = 64 * 1024 * 1024;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(5);

/// Read and drop what is left of a refused body, bounded in size and time (any front door).
pub async fn drain<B>(body: B)
where
    B: http_body::Body<Data = Bytes> + Unpin,
{
    use http_body_util::BodyExt;
    let mut body = body;
    let mut drained = 0u64;
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        while let Some(Ok(frame)) = body.frame().await {
            drained += frame.data_ref().map_or(0, |d| d.len() as u64);
            if drained > DRAIN_BYTES {
                break;
            }
        }
    })
    .await;
}

pub(crate) async fn read_body<B>(body: B, limit: usize) -> Result<Bytes, Error>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(Error::too_large(format!(
                "the request body exceeds {} bytes",
                limit
            )))
        }
        Err(e) => Err(Error::bad_request(format!(
            "could not read the request body: {e}"
        ))),
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

    #[test]
    fn hosts_lose_port_trailing_dot_and_capitals() {
        let mut buffer = [0u8; 253];
        let cases: [(&[u8], Option<&str>); 7] = [
            (
                b"hello.default.functions.localhost",
                Some("hello.default.functions.localhost"),
            ),
            (
                b"Hello.DEFAULT.functions.localhost.:8080",
                Some("hello.default.functions.localhost"),
            ),
            (b"127.0.0.1:8080", Some("127.0.0.1")),
            (b"api.example.com.", Some("api.example.com")),
            (b"", None),
            (b":80", None),
            ("h\u{e9}.example.com".as_bytes(), None),
        ];
        for (raw, want) in cases {
            assert_eq!(routing_host(raw, &mut buffer), want, "{raw:?}");
        }
        assert_eq!(routing_host(&[b'a'; 254], &mut buffer), None);
    }
}

/// Property tests of what the gateway reads off any request before routing it: the host
/// (whatever bytes the client sent), the `/fn/…` path, the async header, and the HTTPS
/// location of a redirect.
#[cfg(test)]
mod props {
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::*;

    /// `cases` unless `PROPTEST_CASES` asks for another number (see `archive::proptests`).
    fn config(cases: u32) -> ProptestConfig {
        let mut config = ProptestConfig::default();
        if std::env::var_os("PROPTEST_CASES").is_none() {
            config.cases = cases;
        }
        config.failure_persistence = None;
        config
    }

    fn host_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            "[a-zA-Z0-9.-]{0,20}(\\.)?(:[0-9]{0,6})?".prop_map(String::into_bytes),
            "\\[[0-9a-f:]{0,12}\\](:[0-9]{1,5})?".prop_map(String::into_bytes),
            vec(any::<u8>(), 0..300),
        ]
    }

    proptest! {
        #![proptest_config(config(512))]

        #[test]
        fn any_host_is_a_routing_name_or_none(raw in host_bytes()) {
            let mut buffer = [0u8; gust_core::domain::MAX_HOSTNAME];
            if let Some(host) = routing_host(&raw, &mut buffer) {
                prop_assert!(!host.is_empty() && host.len() <= gust_core::domain::MAX_HOSTNAME);
                prop_assert!(!host.contains(':'));
                prop_assert!(!host.bytes().any(|b| b.is_ascii_uppercase()));
                // What came before the port, less the root's dot.
                let before_port = raw.split(|b| *b == b':').next().unwrap();
                let name = before_port.strip_suffix(b".").unwrap_or(before_port);
                prop_assert!(name.eq_ignore_ascii_case(host.as_bytes()));
            }
        }

        #[test]
        fn fn_paths_split_into_their_parts(
            path in prop_oneof!["(/fn)?(/[a-z:0-9]{0,4}){0,4}/?", any::<String>()],
        ) {
            if let Some((namespace, function, rest)) = split_fn_path(&path) {
                prop_assert!(!namespace.is_empty() && !function.is_empty());
                prop_assert!(!namespace.contains('/') && !function.contains('/'));
                prop_assert!(rest.starts_with('/'));
                let joined = format!("/fn/{namespace}/{function}{rest}");
                let slashed = format!("{path}/");
                prop_assert!(joined == path || (rest == "/" && joined == slashed));
            }
        }

        #[test]
        fn the_async_header_is_true_false_or_a_400(
            value in prop_oneof![
                "[ \t]{0,2}(true|TRUE|True|1|0|false|FALSE|yes|)[ \t]{0,2}".prop_map(String::into_bytes),
                vec(prop_oneof![0x20u8..0x7f, 0x80u8..=0xff], 0..12),
            ],
        ) {
            let Ok(value) = http::HeaderValue::from_bytes(&value) else { return Ok(()) };
            let mut headers = HeaderMap::new();
            headers.insert(ASYNC_HEADER, value.clone());
            match wants_async(&headers) {
                Ok(on) => {
                    let text = value.to_str().unwrap().trim().to_ascii_lowercase();
                    prop_assert_eq!(on, text == "true" || text == "1");
                }
                Err(e) => prop_assert_eq!(e.status, http::StatusCode::BAD_REQUEST),
            }
        }

        #[test]
        fn redirects_keep_the_host_name_and_the_path(
            host in prop_oneof!["[a-z0-9.-]{1,12}(:[0-9]{1,5})?", "\\[[0-9a-f:]{1,8}\\](:[0-9]{1,5})?", "[ -~]{0,12}"],
            path in "(/[a-zA-Z0-9%._~-]{0,6}){1,3}(\\?[a-z=&]{0,8})?",
            port in proptest::option::of(any::<u16>()),
        ) {
            let Ok(host_value) = http::HeaderValue::from_str(&host) else { return Ok(()) };
            let Ok(uri) = path.parse::<http::Uri>() else { return Ok(()) };
            let mut request = http::Request::builder().uri(uri).body(()).unwrap();
            request.headers_mut().insert(http::header::HOST, host_value);
            request.extensions_mut().insert(Transport::Plain { https_port: port });
            let (parts, ()) = request.into_parts();
            let location = https_location(&parts);
            prop_assert!(location.starts_with("https://"), "{}", location);
            prop_assert!(location.ends_with(&path), "{} for {}", location, path);
        }
    }
}
