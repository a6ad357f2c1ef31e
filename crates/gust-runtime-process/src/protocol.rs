//! The worker protocol, host side (docs/worker-protocol.md is the reference).
//!
//! A frame is one line of JSON (the header) followed by `len` raw bytes (the body, absent
//! when `len` is 0 or missing). Bodies never pass through JSON, so binary requests and
//! responses cost no escaping, and a frame is read with one line read plus one exact read.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use crate::request::ProcessRequest;

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
    pub kind: String,
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
    #[serde(default)]
    pub headers: Option<BTreeMap<String, serde_json::Value>>,
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

impl WorkerMessage {
    /// Response headers, a JSON array value meaning several headers of that name.
    pub fn header_pairs(&self) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        for (name, value) in self.headers.iter().flatten() {
            match value {
                serde_json::Value::Array(values) => {
                    for v in values {
                        pairs.push((name.clone(), text(v)));
                    }
                }
                other => pairs.push((name.clone(), text(other))),
            }
        }
        pairs
    }
}

fn text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
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
        let message: WorkerMessage = serde_json::from_slice(&self.line)
            .map_err(|e| invalid(&format!("a header that is not the protocol's JSON: {e}")))?;
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

#[derive(Serialize)]
struct Invoke<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: u64,
    len: usize,
    event: Event<'a>,
    context: Context<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Event<'a> {
    http_method: &'a str,
    path: &'a str,
    query_string_parameters: BTreeMap<&'a str, &'a str>,
    headers: BTreeMap<String, std::borrow::Cow<'a, str>>,
    is_base64_encoded: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Context<'a> {
    function_name: &'a str,
    execution_id: &'a str,
    memory_limit_mb: u64,
    timeout_ms: u64,
    deadline_ms: u64,
}

/// Encodes an `invoke` frame: the event without its body in the header, the body raw after.
/// Header names are lower-cased and repeated ones joined with ", "; a repeated query key
/// keeps its last value.
pub fn encode_invoke(
    id: u64,
    request: &ProcessRequest,
    function_name: &str,
    memory_mb: u64,
    timeout_ms: u64,
) -> Vec<u8> {
    let mut headers: BTreeMap<String, std::borrow::Cow<'_, str>> = BTreeMap::new();
    for (name, value) in &request.headers {
        headers
            .entry(name.to_ascii_lowercase())
            .and_modify(|prev| *prev = format!("{prev}, {value}").into())
            .or_insert(value.as_str().into());
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let header = Invoke {
        kind: "invoke",
        id,
        len: request.body.len(),
        event: Event {
            http_method: &request.method,
            path: &request.path,
            query_string_parameters: request
                .query
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
            headers,
            is_base64_encoded: std::str::from_utf8(&request.body).is_err(),
        },
        context: Context {
            function_name,
            execution_id: &request.execution_id,
            memory_limit_mb: memory_mb,
            timeout_ms,
            deadline_ms: now_ms + timeout_ms,
        },
    };
    let mut frame = Vec::with_capacity(256 + request.body.len());
    serde_json::to_writer(&mut frame, &header).expect("JSON of plain values");
    frame.push(b'\n');
    frame.extend_from_slice(&request.body);
    frame
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
        let wire: &[u8] = b"{\"type\":\"result\",\"id\":7,\"len\":3,\"status\":201,\"headers\":{\"x\":[\"a\",\"b\"]}}\n\x00\x01\x02{\"type\":\"log\",\"id\":7}\n";
        let mut reader = FrameReader::new(wire);
        let (message, body) = reader.next().await.unwrap().unwrap();
        assert_eq!(
            (message.kind.as_str(), message.id, message.status),
            ("result", Some(7), Some(201))
        );
        assert_eq!(&body[..], &[0, 1, 2]);
        assert_eq!(
            message.header_pairs(),
            vec![("x".into(), "a".into()), ("x".into(), "b".into())]
        );
        let (log, body) = reader.next().await.unwrap().unwrap();
        assert_eq!((log.kind.as_str(), body.len()), ("log", 0));
        assert!(reader.next().await.unwrap().is_none());
    }

    #[test]
    fn binary_bodies_are_flagged_and_sent_raw() {
        let request = ProcessRequest {
            method: "POST".into(),
            body: Bytes::from_static(&[0xff, 0x00]),
            ..ProcessRequest::default()
        };
        let frame = encode_invoke(1, &request, "f", 128, 1000);
        let newline = frame.iter().position(|b| *b == b'\n').unwrap();
        let header: serde_json::Value = serde_json::from_slice(&frame[..newline]).unwrap();
        assert_eq!(header["event"]["isBase64Encoded"], true);
        assert_eq!(header["len"], 2);
        assert_eq!(&frame[newline + 1..], &[0xff, 0x00]);
    }
}
