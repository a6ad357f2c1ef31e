//! Test guest for Gust's host integration tests.
//!
//! One `wasi:http/proxy` component that dispatches on the request path:
//!
//! | path                | behaviour                                                       |
//! |---------------------|-----------------------------------------------------------------|
//! | `/env?name=KEY`     | 200 with the value of env var `KEY`, or 404 `unset`             |
//! | `/log?n=N`          | N lines to stdout and stderr (default 1), then 200 `logged`      |
//! | `/loop`             | burns CPU forever, never responds                                |
//! | `/alloc?mb=N`       | allocates and touches N MiB, 200 `allocated N` / 500 on failure  |
//! | `/status?code=N`    | responds with status N and body `status N`                       |
//! | `/stream?chunks=N&pause_ms=P` | 200 with N separately flushed chunks `chunk {i}\n` (default 1), P ms apart after the head |
//! | `/panic`            | panics with `guest panic`                                        |
//! | `/sleep?ms=N&lines=L` | prints L lines (default 0) spread over N ms, then 200 `slept N` |
//! | `/flaky?succeed_at=N` | panics on attempts before N (header `x-gust-attempt`) unless env var `FLAKY_OK` is set; then 200 `recovered` |
//! | `/fetch?authority=HOST:PORT` | an outgoing `GET http://HOST:PORT/`: 200 `fetched STATUS BODY`, or 502 `refused ERROR` |
//! | anything else       | 200 JSON echo of method, path, query, headers and body          |

use std::io::Write as _;

use wasip2::exports::http::incoming_handler::Guest;
use wasip2::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse, OutputStream,
    ResponseOutparam,
};
use wasip2::io::streams::StreamError;

/// Maximum number of bytes `blocking-write-and-flush` accepts per call.
const MAX_WRITE: usize = 4096;

struct TestGuest;

wasip2::http::proxy::export!(TestGuest);

impl Guest for TestGuest {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path_with_query = request.path_with_query().unwrap_or_else(|| "/".to_string());
        let (path, query) = match path_with_query.split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (path_with_query.clone(), String::new()),
        };

        match path.as_str() {
            "/env" => handle_env(&query, out),
            "/log" => handle_log(&query, out),
            "/loop" => handle_loop(),
            "/alloc" => handle_alloc(&query, out),
            "/status" => handle_status(&query, out),
            "/stream" => handle_stream(&query, out),
            "/stream-then-loop" => handle_stream_then_loop(out),
            "/panic" => panic!("guest panic"),
            "/sleep" => handle_sleep(&query, out),
            "/flaky" => handle_flaky(&request, &query, out),
            "/fetch" => handle_fetch(&query, out),
            _ => handle_echo(request, &path, &query, out),
        }
    }
}

// ---------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------

fn handle_echo(request: IncomingRequest, path: &str, query: &str, out: ResponseOutparam) {
    let method = method_str(&request.method());

    // Collect headers, merging repeated names (in order) with ", ".
    let headers = request.headers();
    let mut merged: Vec<(String, String)> = Vec::new();
    for (name, value) in headers.entries() {
        let value = String::from_utf8_lossy(&value).into_owned();
        match merged.iter_mut().find(|(n, _)| *n == name) {
            Some((_, existing)) => {
                existing.push_str(", ");
                existing.push_str(&value);
            }
            None => merged.push((name, value)),
        }
    }
    drop(headers); // child resource of the request

    let body = read_body(&request);
    drop(request);

    let mut json = String::with_capacity(128 + body.len());
    json.push_str("{\"method\":");
    push_json_str(&mut json, &method);
    json.push_str(",\"path\":");
    push_json_str(&mut json, path);
    json.push_str(",\"query\":");
    push_json_str(&mut json, query);
    json.push_str(",\"headers\":{");
    for (i, (name, value)) in merged.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        push_json_str(&mut json, name);
        json.push(':');
        push_json_str(&mut json, value);
    }
    json.push_str("},\"body\":");
    push_json_str(&mut json, &String::from_utf8_lossy(&body));
    json.push('}');

    respond(out, 200, "application/json", json.as_bytes());
}

fn handle_env(query: &str, out: ResponseOutparam) {
    let name = query_param(query, "name").unwrap_or_default();
    match std::env::var(&name) {
        Ok(value) => respond(out, 200, "text/plain", value.as_bytes()),
        Err(_) => respond(out, 404, "text/plain", b"unset"),
    }
}

fn handle_log(query: &str, out: ResponseOutparam) {
    let n: u64 = parse_param(query, "n").unwrap_or(1);
    for i in 0..n {
        println!("stdout line {i}");
        eprintln!("stderr line {i}");
    }
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    respond(out, 200, "text/plain", b"logged");
}

fn handle_flaky(request: &IncomingRequest, query: &str, out: ResponseOutparam) {
    let attempt: u32 = request
        .headers()
        .get(&"x-gust-attempt".to_string())
        .first()
        .and_then(|v| String::from_utf8_lossy(v).parse().ok())
        .unwrap_or(1);
    let succeed_at: u32 = parse_param(query, "succeed_at").unwrap_or(u32::MAX);
    println!("flaky: attempt {attempt}");
    if std::env::var("FLAKY_OK").is_err() && attempt < succeed_at {
        panic!("flaky: attempt {attempt} fails");
    }
    respond(out, 200, "text/plain", b"recovered");
}

fn handle_sleep(query: &str, out: ResponseOutparam) {
    let ms: u64 = parse_param(query, "ms").unwrap_or(0);
    let lines: u64 = parse_param(query, "lines").unwrap_or(0);
    let steps = lines.max(1);
    for i in 0..steps {
        std::thread::sleep(std::time::Duration::from_millis(ms / steps));
        if i < lines {
            println!("tick {i}");
            let _ = std::io::stdout().flush();
        }
    }
    respond(out, 200, "text/plain", format!("slept {ms}").as_bytes());
}

fn handle_fetch(query: &str, out: ResponseOutparam) {
    use wasip2::http::outgoing_handler;
    use wasip2::http::types::{OutgoingRequest, Scheme};
    let authority = query_param(query, "authority").unwrap_or_default();
    let request = OutgoingRequest::new(Fields::new());
    let _ = request.set_scheme(Some(&Scheme::Http));
    let _ = request.set_authority(Some(&authority));
    let _ = request.set_path_with_query(Some("/"));
    let answer = outgoing_handler::handle(request, None).and_then(|future| {
        future.subscribe().block();
        future
            .get()
            .expect("ready after blocking")
            .expect("taken once")
    });
    match answer {
        Ok(response) => {
            let status = response.status();
            let mut body = Vec::new();
            if let Ok(incoming) = response.consume() {
                if let Ok(stream) = incoming.stream() {
                    while let Ok(chunk) = stream.blocking_read(MAX_WRITE as u64) {
                        body.extend_from_slice(&chunk);
                    }
                }
            }
            let text = format!("fetched {status} {}", String::from_utf8_lossy(&body));
            respond(out, 200, "text/plain", text.as_bytes());
        }
        Err(error) => {
            let text = format!("refused {error:?}");
            respond(out, 502, "text/plain", text.as_bytes());
        }
    }
}

fn handle_loop() -> ! {
    let mut counter: u64 = 0;
    loop {
        counter = std::hint::black_box(counter.wrapping_add(1));
    }
}

fn handle_alloc(query: &str, out: ResponseOutparam) {
    let mb: usize = parse_param(query, "mb").unwrap_or(0);
    let Some(len) = mb.checked_mul(1024 * 1024) else {
        respond(out, 500, "text/plain", b"allocation failed");
        return;
    };
    let mut buf: Vec<u8> = Vec::new();
    if buf.try_reserve_exact(len).is_err() {
        respond(out, 500, "text/plain", b"allocation failed");
        return;
    }
    buf.resize(len, 0);
    for i in (0..len).step_by(4096) {
        buf[i] = 1;
    }
    std::hint::black_box(&buf);
    drop(buf);
    respond(out, 200, "text/plain", format!("allocated {mb}").as_bytes());
}

fn handle_status(query: &str, out: ResponseOutparam) {
    let code: Option<u16> = parse_param(query, "code");
    match code {
        Some(code) => respond(out, code, "text/plain", format!("status {code}").as_bytes()),
        None => respond(out, 400, "text/plain", b"invalid status code"),
    }
}

fn handle_stream(query: &str, out: ResponseOutparam) {
    let chunks: u64 = parse_param(query, "chunks").unwrap_or(1);
    let pause = std::time::Duration::from_millis(parse_param(query, "pause_ms").unwrap_or(0));
    let (body, stream) = start_response(out, 200, "text/plain");
    for i in 0..chunks {
        std::thread::sleep(pause);
        // Each chunk is its own blocking write-and-flush.
        if write_all(&stream, format!("chunk {i}\n").as_bytes()).is_err() {
            return; // client went away
        }
    }
    finish_body(body, stream);
}

/// Starts a response, writes one chunk, then never finishes: the host must not pass the cut-off
/// body off as complete.
fn handle_stream_then_loop(out: ResponseOutparam) -> ! {
    let (_body, stream) = start_response(out, 200, "text/plain");
    let _ = write_all(&stream, b"partial\n");
    handle_loop()
}

// ---------------------------------------------------------------------------
// HTTP helpers
// ---------------------------------------------------------------------------

/// Sends a complete response with the given status, content type and body.
fn respond(out: ResponseOutparam, status: u16, content_type: &str, body: &[u8]) {
    let (outgoing, stream) = start_response(out, status, content_type);
    if write_all(&stream, body).is_err() {
        return; // client went away
    }
    finish_body(outgoing, stream);
}

/// Builds the response, hands it to the host via `ResponseOutparam::set`, and
/// returns its body together with the body's output stream.
fn start_response(
    out: ResponseOutparam,
    status: u16,
    content_type: &str,
) -> (OutgoingBody, OutputStream) {
    let headers =
        Fields::from_list(&[("content-type".to_string(), content_type.as_bytes().to_vec())])
            .expect("valid headers");
    let response = OutgoingResponse::new(headers);
    if response.set_status_code(status).is_err() {
        // Not a valid HTTP status code: report that instead.
        response
            .set_status_code(500)
            .expect("500 is a valid status");
    }
    let body = response.body().expect("response body taken once");
    ResponseOutparam::set(out, Ok(response));
    let stream = body.write().expect("body stream taken once");
    (body, stream)
}

/// Drops the stream (it must go before its body) and finishes the body.
fn finish_body(body: OutgoingBody, stream: OutputStream) {
    drop(stream);
    let _ = OutgoingBody::finish(body, None);
}

/// Writes all of `data`, in pieces of at most 4096 bytes, each flushed.
fn write_all(stream: &OutputStream, data: &[u8]) -> Result<(), StreamError> {
    for chunk in data.chunks(MAX_WRITE) {
        stream.blocking_write_and_flush(chunk)?;
    }
    Ok(())
}

/// Reads the whole incoming request body (empty if there is none).
fn read_body(request: &IncomingRequest) -> Vec<u8> {
    let mut data = Vec::new();
    let Ok(body) = request.consume() else {
        return data;
    };
    if let Ok(stream) = body.stream() {
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(bytes) => data.extend_from_slice(&bytes),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(_)) => break,
            }
        }
        drop(stream); // child of the body
    }
    drop(IncomingBody::finish(body));
    data
}

fn method_str(method: &Method) -> String {
    match method {
        Method::Get => "GET".into(),
        Method::Head => "HEAD".into(),
        Method::Post => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Delete => "DELETE".into(),
        Method::Connect => "CONNECT".into(),
        Method::Options => "OPTIONS".into(),
        Method::Trace => "TRACE".into(),
        Method::Patch => "PATCH".into(),
        Method::Other(other) => other.clone(),
    }
}

// ---------------------------------------------------------------------------
// Query strings and JSON
// ---------------------------------------------------------------------------

/// Returns the (percent-decoded) value of the first `key=value` pair in `query`.
fn query_param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k) == key).then(|| percent_decode(v))
    })
}

fn parse_param<T: std::str::FromStr>(query: &str, key: &str) -> Option<T> {
    query_param(query, key)?.trim().parse().ok()
}

fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Appends `s` to `out` as a JSON string literal (with surrounding quotes).
fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
