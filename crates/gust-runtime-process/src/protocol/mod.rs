//! The worker protocol, host side (docs/worker-protocol.md is the reference).
//!
//! A frame is one line of JSON (the header) followed by `len` raw bytes (the body, absent
//! when `len` is 0 or missing). Bodies never pass through JSON, so binary requests and
//! responses cost no escaping, and a frame is read with one line read plus one exact read.

use std::borrow::Cow;
use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use gust_core::json::{push_str, push_u64};

use gust_runtime::Request;

mod result_header;

#[cfg(test)]
mod proptests;

/// Protocol version spoken by this host; a worker's hello names the one it speaks.
pub const PROTOCOL_VERSION: u32 = 1;
/// Longest header line accepted from a worker (a result with inline logs).
const MAX_HEADER: usize = 16 * 1024 * 1024;
/// Largest body accepted from a worker.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// Every field any worker message may carry; `type` says which apply.
#[derive(Debug, Default, Deserialize)]
pub struct WorkerMessage {
    #[serde(rename = "type")]
    pub kind: Kind,
    #[serde(default)]
    pub id: Option<u64>,
    #[serde(default)]
    pub len: usize,
    // hello
    #[serde(default)]
    pub protocol: Option<u32>,
    #[serde(default)]
    pub interpreter_us: Option<u64>,
    /// The `GUST_EXEC_MONOTONIC_NS` the worker was started with, echoed (a number or a
    /// string: JavaScript numbers cannot hold it exactly).
    #[serde(default)]
    pub exec_ns: Option<serde_json::Value>,
    // loaded
    #[serde(default)]
    pub import_us: Option<u64>,
    // error (load failed)
    #[serde(default)]
    pub message: Option<String>,
    // result
    #[serde(default)]
    pub status: Option<u16>,
    /// Response headers in order; a name given a JSON array is repeated once per value.
    #[serde(default, deserialize_with = "header_list")]
    pub headers: Vec<(String, String)>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub stdout: Option<String>,
    #[serde(default)]
    pub stderr: Option<String>,
    #[serde(default)]
    pub truncated: bool,
    // log
    #[serde(default)]
    pub stream: Option<String>,
}

/// A frame's `type`. The ones the host acts on are read without allocating.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub enum Kind {
    Hello,
    Loaded,
    Error,
    Result,
    Log,
    /// Any other type (ignored), kept for messages.
    Other(String),
    #[default]
    Missing,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Hello => "hello",
            Kind::Loaded => "loaded",
            Kind::Error => "error",
            Kind::Result => "result",
            Kind::Log => "log",
            Kind::Other(other) => other,
            Kind::Missing => "(no type)",
        })
    }
}

impl Kind {
    fn from_name(name: &str) -> Kind {
        match name {
            "hello" => Kind::Hello,
            "loaded" => Kind::Loaded,
            "error" => Kind::Error,
            "result" => Kind::Result,
            "log" => Kind::Log,
            other => Kind::Other(other.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KindVisitor;
        impl serde::de::Visitor<'_> for KindVisitor {
            type Value = Kind;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a frame type")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Kind, E> {
                Ok(Kind::from_name(v))
            }
        }
        deserializer.deserialize_str(KindVisitor)
    }
}

/// `{"name": "value", "set-cookie": ["a", "b"]}` as pairs, straight from the frame: values
/// that are not strings are written as JSON.
fn header_list<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<(String, String)>, D::Error> {
    use serde::de::{MapAccess, SeqAccess, Visitor};

    /// One header's value or values.
    struct Values(Vec<String>);
    impl<'de> Deserialize<'de> for Values {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct ValuesVisitor;
            impl<'de> Visitor<'de> for ValuesVisitor {
                type Value = Values;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a header value or a list of them")
                }
                fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Values, E> {
                    Ok(Values(vec![v.to_string()]))
                }
                fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Values, E> {
                    Ok(Values(vec![v]))
                }
                fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Values, E> {
                    Ok(Values(vec![v.to_string()]))
                }
                fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Values, E> {
                    Ok(Values(vec![v.to_string()]))
                }
                fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Values, E> {
                    Ok(Values(vec![serde_json::Value::from(v).to_string()]))
                }
                fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Values, E> {
                    Ok(Values(vec![v.to_string()]))
                }
                fn visit_unit<E: serde::de::Error>(self) -> Result<Values, E> {
                    Ok(Values(vec!["null".to_string()]))
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Values, A::Error> {
                    let mut values = Vec::new();
                    while let Some(value) = seq.next_element::<serde_json::Value>()? {
                        values.push(match value {
                            serde_json::Value::String(s) => s,
                            other => other.to_string(),
                        });
                    }
                    Ok(Values(values))
                }
            }
            deserializer.deserialize_any(ValuesVisitor)
        }
    }

    struct ListVisitor;
    impl<'de> Visitor<'de> for ListVisitor {
        type Value = Vec<(String, String)>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object of headers")
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(4));
            while let Some((name, Values(values))) = map.next_entry::<String, Values>()? {
                match <[String; 1]>::try_from(values) {
                    Ok([value]) => pairs.push((name, value)),
                    Err(values) => pairs.extend(values.into_iter().map(|v| (name.clone(), v))),
                }
            }
            Ok(pairs)
        }
    }
    deserializer.deserialize_any(ListVisitor)
}

/// Reads frames from a worker's socket.
pub struct FrameReader<R> {
    inner: BufReader<R>,
    line: Vec<u8>,
}

impl<R: tokio::io::AsyncRead + Unpin> FrameReader<R> {
    pub fn new(read: R) -> Self {
        FrameReader {
            inner: BufReader::with_capacity(64 * 1024, read),
            line: Vec::with_capacity(1024),
        }
    }

    /// The next frame; `Ok(None)` when the worker closed its end.
    pub async fn next(&mut self) -> std::io::Result<Option<(WorkerMessage, Bytes)>> {
        self.line.clear();
        let n = (&mut self.inner)
            .take(MAX_HEADER as u64)
            .read_until(b'\n', &mut self.line)
            .await?;
        if n == 0 {
            return Ok(None);
        }
        if self.line.last() != Some(&b'\n') {
            return Err(invalid(
                "a header line without its newline (too long, or cut short)",
            ));
        }
        let message = match result_header::parse(&self.line) {
            Some(message) => message,
            None => serde_json::from_slice(&self.line)
                .map_err(|e| invalid(&format!("a header that is not the protocol's JSON: {e}")))?,
        };
        if message.len > MAX_BODY {
            return Err(invalid("a body larger than 64 MiB"));
        }
        let mut body = vec![0; message.len];
        self.inner.read_exact(&mut body).await?;
        Ok(Some((message, Bytes::from(body))))
    }
}

fn invalid(what: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("the worker sent {what}"),
    )
}

/// `load`: which handler to import, with the function's environment.
#[derive(Debug, Serialize)]
pub struct Load<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub handler: &'a str,
    /// How the handler is called: `gust` or `appwrite` (which loads `entrypoint`, a file).
    pub contract: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<&'a str>,
    pub code_dir: &'a str,
    pub env: BTreeMap<&'a str, &'a str>,
    pub function: FunctionInfo<'a>,
    pub log_limit: usize,
}

#[derive(Debug, Serialize)]
pub struct FunctionInfo<'a> {
    pub name: &'a str,
    pub memory_mb: u64,
    pub timeout_ms: u64,
}

/// The part of every `invoke` header that is the same for all of a worker's requests (the
/// context's function fields), written once.
#[derive(Debug, Clone)]
pub struct InvokeTemplate {
    /// `"functionName":…,"functionVersion":…,"memoryLimitMb":…,"memoryLimitInMb":…,
    /// "timeoutMs":…` (no braces; `memoryLimitInMb` is the name Scaleway's handlers read).
    context: Vec<u8>,
    timeout_ms: u64,
    /// The context names what started the request (`trigger`): only for workers whose
    /// contract tells the code, so the others parse nothing more.
    with_trigger: bool,
    /// The event carries the raw query string and the context the instance's `args`: only for
    /// workers whose contract needs them (`azion`).
    with_edge: bool,
    /// The args sent when a request carries none: the function's own, else `{}`.
    default_args: std::sync::Arc<str>,
}

impl InvokeTemplate {
    pub fn new(
        function_name: &str,
        version: &str,
        memory_mb: u64,
        timeout_ms: u64,
        with_trigger: bool,
    ) -> Self {
        let mut context = Vec::with_capacity(128 + function_name.len() + version.len());
        context.extend_from_slice(b"\"functionName\":");
        push_str(&mut context, function_name);
        context.extend_from_slice(b",\"functionVersion\":");
        push_str(&mut context, version);
        context.extend_from_slice(b",\"memoryLimitMb\":");
        push_u64(&mut context, memory_mb);
        context.extend_from_slice(b",\"memoryLimitInMb\":");
        push_u64(&mut context, memory_mb);
        context.extend_from_slice(b",\"timeoutMs\":");
        push_u64(&mut context, timeout_ms);
        Self {
            context,
            timeout_ms,
            with_trigger,
            with_edge: false,
            default_args: "{}".into(),
        }
    }

    /// Also send each request's raw query string (`event.rawQueryString`) and its edge
    /// instance's arguments (`context.args`, `{}` when it has none).
    pub fn with_edge(self, with_edge: bool) -> Self {
        Self { with_edge, ..self }
    }

    /// The args of requests that carry none of an edge instance (JSON text): the function's
    /// own, when it has them.
    pub fn with_default_args(self, args: Option<std::sync::Arc<str>>) -> Self {
        match args {
            Some(default_args) => Self {
                default_args,
                ..self
            },
            None => self,
        }
    }

    /// An `invoke` frame: the event without its body in the header, the body raw after.
    /// Header names are lower-case (as `HeaderMap` keeps them) and a repeated header's values
    /// are joined with ", "; a repeated query key keeps its last value. Written by hand: this
    /// runs for every request, and serde's general path costs several times more.
    pub fn encode(&self, id: u64, request: &Request) -> Vec<u8> {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let body = &request.body;
        let mut out = Vec::with_capacity(384 + self.context.len() + body.len());
        out.extend_from_slice(b"{\"type\":\"invoke\",\"id\":");
        push_u64(&mut out, id);
        out.extend_from_slice(b",\"len\":");
        push_u64(&mut out, body.len() as u64);
        out.extend_from_slice(b",\"event\":{\"httpMethod\":");
        push_str(&mut out, request.method.as_str());
        out.extend_from_slice(b",\"path\":");
        push_str(&mut out, &request.path);
        out.extend_from_slice(b",\"queryStringParameters\":{");
        push_query(&mut out, &request.query);
        out.extend_from_slice(b"},\"headers\":{");
        push_headers(&mut out, &request.headers);
        out.extend_from_slice(b"},\"isBase64Encoded\":");
        let binary = std::str::from_utf8(body).is_err();
        out.extend_from_slice(if binary { b"true" } else { b"false" });
        if self.with_edge {
            out.extend_from_slice(b",\"rawQueryString\":");
            push_str(&mut out, &request.query);
        }
        // The rest of the API-Gateway-shaped event (Scaleway's): fields Gust has no source for
        // are null or empty, as there.
        out.extend_from_slice(
            b",\"multiValueHeaders\":null,\"multiValueQueryStringParameters\":null,\"pathParameters\":null,\"stageVariables\":{},\"requestContext\":{\"requestId\":",
        );
        push_str(&mut out, &request.execution_id);
        out.extend_from_slice(b",\"httpMethod\":");
        push_str(&mut out, request.method.as_str());
        out.extend_from_slice(b",\"resourcePath\":");
        push_str(&mut out, &request.path);
        out.extend_from_slice(
            b",\"accountId\":\"\",\"resourceId\":\"\",\"stage\":\"\",\"apiId\":\"\",\"authorizer\":null}",
        );
        out.extend_from_slice(b"},\"context\":{");
        out.extend_from_slice(&self.context);
        out.extend_from_slice(b",\"executionId\":");
        push_str(&mut out, &request.execution_id);
        out.extend_from_slice(b",\"deadlineMs\":");
        push_u64(&mut out, now_ms + self.timeout_ms);
        if self.with_trigger {
            out.extend_from_slice(b",\"trigger\":\"");
            out.extend_from_slice(request.trigger.as_str().as_bytes());
            out.push(b'"');
        }
        if self.with_edge {
            // Validated JSON, compact: it holds no raw newline to break the header line.
            out.extend_from_slice(b",\"args\":");
            out.extend_from_slice(
                request
                    .args
                    .as_deref()
                    .unwrap_or(&self.default_args)
                    .as_bytes(),
            );
        }
        out.extend_from_slice(b"}}\n");
        out.extend_from_slice(body);
        out
    }
}

/// The query string's pairs, decoded, as object members.
fn push_query(out: &mut Vec<u8>, query: &str) {
    if query.is_empty() {
        return;
    }
    let mut pairs: Vec<(Cow<'_, str>, Cow<'_, str>)> = Vec::new();
    // Where each key is in `pairs`, once there are enough that a scan would cost more (a
    // query of thousands of keys must not cost their square).
    let mut index: Option<std::collections::HashMap<Cow<'_, str>, usize>> = None;
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let at = match &index {
            Some(index) => index.get(&key).copied(),
            None => pairs.iter().position(|(k, _)| *k == key),
        };
        match at {
            Some(at) => pairs[at].1 = value,
            None => {
                if let Some(index) = &mut index {
                    index.insert(key.clone(), pairs.len());
                }
                pairs.push((key, value));
                if index.is_none() && pairs.len() > 16 {
                    index = Some(
                        pairs
                            .iter()
                            .enumerate()
                            .map(|(i, (k, _))| (k.clone(), i))
                            .collect(),
                    );
                }
            }
        }
    }
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_str(out, key);
        out.push(b':');
        push_str(out, value);
    }
}

/// The headers as object members; values that are not UTF-8 are decoded lossily.
fn push_headers(out: &mut Vec<u8>, headers: &http::HeaderMap) {
    fn text(v: &http::HeaderValue) -> Cow<'_, str> {
        String::from_utf8_lossy(v.as_bytes())
    }
    let mut first_member = true;
    for name in headers.keys() {
        let mut values = headers.get_all(name).iter();
        let Some(first) = values.next() else {
            continue;
        };
        if !first_member {
            out.push(b',');
        }
        first_member = false;
        push_str(out, name.as_str());
        out.push(b':');
        match values.next() {
            None => push_str(out, &text(first)),
            Some(second) => {
                let mut joined = text(first).into_owned();
                for more in std::iter::once(second).chain(values) {
                    joined.push_str(", ");
                    joined.push_str(&text(more));
                }
                push_str(out, &joined);
            }
        }
    }
}

/// Encodes a frame with a JSON header and no body.
pub fn encode<T: Serialize>(header: &T) -> Vec<u8> {
    let mut frame = serde_json::to_vec(header).expect("JSON of plain values");
    frame.push(b'\n');
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_are_a_json_line_then_the_raw_body() {
        let wire: &[u8] = b"{\"type\":\"result\",\"id\":7,\"len\":3,\"status\":201,\"headers\":{\"x\":[\"a\",\"b\"],\"n\":5,\"c\":\"t\"}}\n\x00\x01\x02{\"type\":\"log\",\"id\":7}\n{\"type\":\"made-up\"}\n";
        let mut reader = FrameReader::new(wire);
        let (message, body) = reader.next().await.unwrap().unwrap();
        assert_eq!(
            (message.kind, message.id, message.status),
            (Kind::Result, Some(7), Some(201))
        );
        assert_eq!(&body[..], &[0, 1, 2]);
        assert_eq!(
            message.headers,
            vec![
                ("x".into(), "a".into()),
                ("x".into(), "b".into()),
                ("n".into(), "5".into()),
                ("c".into(), "t".into())
            ]
        );
        let (log, body) = reader.next().await.unwrap().unwrap();
        assert_eq!((log.kind, body.len()), (Kind::Log, 0));
        let (other, _) = reader.next().await.unwrap().unwrap();
        assert_eq!(other.kind.to_string(), "made-up");
        assert!(reader.next().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn headers_that_are_neither_an_object_nor_null_break_the_frame() {
        let wire: &[u8] = b"{\"type\":\"result\",\"id\":1,\"headers\":[\"x\"]}\n";
        assert!(FrameReader::new(wire).next().await.is_err());
    }

    #[test]
    fn binary_bodies_are_flagged_and_sent_raw() {
        let request = Request {
            method: http::Method::POST,
            body: Bytes::from_static(&[0xff, 0x00]),
            ..Request::default()
        };
        let frame = InvokeTemplate::new("f", "d1", 128, 1000, false).encode(1, &request);
        let newline = frame.iter().position(|b| *b == b'\n').unwrap();
        let header: serde_json::Value = serde_json::from_slice(&frame[..newline]).unwrap();
        assert_eq!(header["event"]["isBase64Encoded"], true);
        assert_eq!(header["event"]["httpMethod"], "POST");
        // The API-Gateway event shape Scaleway's handlers read, and their context names.
        assert_eq!(header["event"]["requestContext"]["httpMethod"], "POST");
        assert_eq!(header["event"]["stageVariables"], serde_json::json!({}));
        assert!(header["event"]["multiValueHeaders"].is_null());
        assert_eq!(header["context"]["memoryLimitInMb"], 128);
        assert_eq!(header["context"]["functionVersion"], "d1");
        assert_eq!(header["len"], 2);
        assert_eq!(&frame[newline + 1..], &[0xff, 0x00]);
    }

    #[test]
    fn repeated_headers_are_joined_and_repeated_query_keys_keep_the_last_value() {
        let mut headers = http::HeaderMap::new();
        headers.append("accept", "text/plain".parse().unwrap());
        headers.append("x-multi", "a".parse().unwrap());
        headers.append("x-multi", "b".parse().unwrap());
        headers.append("x-quote", "say \"hi\"".parse().unwrap());
        let request = Request {
            method: http::Method::GET,
            path: "/p".into(),
            query: "a=1&b=x%20y&a=2&flag".into(),
            headers,
            execution_id: "e1".into(),
            ..Request::default()
        };
        let frame = InvokeTemplate::new("f", "d1", 64, 500, false).encode(9, &request);
        let header: serde_json::Value = serde_json::from_slice(&frame[..frame.len() - 1]).unwrap();
        let event = &header["event"];
        assert_eq!(
            event["headers"],
            serde_json::json!({"accept": "text/plain", "x-multi": "a, b", "x-quote": "say \"hi\""})
        );
        assert_eq!(
            event["queryStringParameters"],
            serde_json::json!({"a": "2", "b": "x y", "flag": ""})
        );
        assert_eq!(header["context"]["executionId"], "e1");
        assert_eq!(header["context"]["memoryLimitMb"], 64);
        assert_eq!(header["id"], 9);
    }

    #[test]
    fn the_trigger_is_named_only_for_workers_that_asked_for_it() {
        let request = Request {
            trigger: gust_core::ExecutionTrigger::Schedule,
            ..Request::default()
        };
        let context = |with_trigger| {
            let frame = InvokeTemplate::new("f", "d1", 64, 500, with_trigger).encode(1, &request);
            let header: serde_json::Value =
                serde_json::from_slice(&frame[..frame.len() - 1]).unwrap();
            header["context"].clone()
        };
        assert_eq!(context(true)["trigger"], "schedule");
        assert!(context(false).get("trigger").is_none());
    }

    #[test]
    fn edge_frames_carry_the_raw_query_and_the_instance_args() {
        let request = Request {
            query: "a=1&b=%20".into(),
            args: Some(r#"{"greeting":"hej\nthere","n":[1,2]}"#.into()),
            ..Request::default()
        };
        let header = |template: InvokeTemplate, request: &Request| {
            let frame = template.encode(1, request);
            let line = frame.split(|b| *b == b'\n').next().unwrap().to_vec();
            serde_json::from_slice::<serde_json::Value>(&line).unwrap()
        };
        let edge = || InvokeTemplate::new("f", "d1", 64, 500, false).with_edge(true);
        let sent = header(edge(), &request);
        assert_eq!(sent["event"]["rawQueryString"], "a=1&b=%20");
        assert_eq!(
            sent["context"]["args"],
            serde_json::json!({"greeting": "hej\nthere", "n": [1, 2]})
        );
        let without = header(edge(), &Request::default());
        assert_eq!(without["context"]["args"], serde_json::json!({}));
        let defaults = edge().with_default_args(Some(r#"{"own":true}"#.into()));
        assert_eq!(
            header(defaults.clone(), &Request::default())["context"]["args"],
            serde_json::json!({"own": true})
        );
        assert_eq!(header(defaults, &request)["context"]["args"]["n"][0], 1);
        let plain = header(InvokeTemplate::new("f", "d1", 64, 500, false), &request);
        assert!(plain["context"].get("args").is_none());
        assert!(plain["event"].get("rawQueryString").is_none());
    }

    #[test]
    fn long_queries_keep_the_last_value_of_each_key() {
        let mut query: Vec<String> = (0..5000).map(|i| format!("k{i}={i}")).collect();
        query.push("k7=last".into());
        query.push("k4999=end".into());
        let request = Request {
            query: query.join("&"),
            ..Request::default()
        };
        let frame = InvokeTemplate::new("f", "d1", 64, 500, false).encode(1, &request);
        let header: serde_json::Value = serde_json::from_slice(&frame[..frame.len() - 1]).unwrap();
        let parameters = header["event"]["queryStringParameters"]
            .as_object()
            .unwrap();
        assert_eq!(parameters.len(), 5000);
        assert_eq!(parameters["k7"], "last");
        assert_eq!(parameters["k4999"], "end");
        assert_eq!(parameters["k20"], "20");
    }

    #[test]
    fn strings_that_need_escaping_are_escaped_as_json() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "x-bytes",
            http::HeaderValue::from_bytes(b"caf\xe9").unwrap(),
        );
        let request = Request {
            method: http::Method::from_bytes(b"PATCH").unwrap(),
            path: "/a\"b\\c/\u{e9}t\u{e9}".into(),
            query: "q=%0A%22x%22&k%5C=%01".into(),
            headers,
            execution_id: "id".into(),
            ..Request::default()
        };
        let frame = InvokeTemplate::new("fn \"quoted\"\n", "d1", 1, 2, false).encode(3, &request);
        let header: serde_json::Value = serde_json::from_slice(&frame[..frame.len() - 1]).unwrap();
        assert_eq!(header["event"]["path"], "/a\"b\\c/\u{e9}t\u{e9}");
        assert_eq!(
            header["event"]["queryStringParameters"],
            serde_json::json!({"q": "\n\"x\"", "k\\": "\u{1}"})
        );
        assert_eq!(header["event"]["headers"]["x-bytes"], "caf\u{fffd}");
        assert_eq!(header["context"]["functionName"], "fn \"quoted\"\n");
        assert_eq!(header["context"]["timeoutMs"], 2);
        let deadline = header["context"]["deadlineMs"].as_u64().unwrap();
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        assert!(
            deadline <= now_ms + 2 && deadline + 60_000 > now_ms,
            "{deadline} vs {now_ms}"
        );
    }
}
