//! Property tests of the frame reader, which reads what a sandboxed worker (untrusted code)
//! writes: any bytes are frames or an error, never a panic, and never a body past the limit;
//! frames written by the protocol's rules read back as written, however the stream is cut;
//! the hand-written header reader agrees with serde_json wherever it answers.
//!
//! Each property runs 256 cases; `PROPTEST_CASES=10000 cargo nextest run -p
//! gust-runtime-process protocol::proptests` runs more.

use std::pin::Pin;
use std::task::{Context, Poll};

use proptest::collection::vec;
use proptest::prelude::*;
use tokio::io::{AsyncRead, ReadBuf};

use super::*;

/// `cases` unless `PROPTEST_CASES` asks for another number.
fn config(cases: u32) -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    config.failure_persistence = None;
    config
}

/// A stream handed over in pieces of the given sizes (as a socket may), then the rest.
struct Pieces {
    bytes: Vec<u8>,
    at: usize,
    sizes: Vec<usize>,
}

impl AsyncRead for Pieces {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let size = if self.sizes.is_empty() {
            usize::MAX
        } else {
            self.sizes.remove(0).max(1)
        };
        let end = self.bytes.len().min(self.at.saturating_add(size));
        let n = (end - self.at).min(buf.remaining());
        let at = self.at;
        buf.put_slice(&self.bytes[at..at + n]);
        self.at += n;
        Poll::Ready(Ok(()))
    }
}

/// Every frame in `bytes`, up to the end or the first error.
fn read_all(
    bytes: Vec<u8>,
    sizes: Vec<usize>,
) -> (Vec<(WorkerMessage, Bytes)>, Option<std::io::Error>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut reader = FrameReader::new(Pieces {
            bytes,
            at: 0,
            sizes,
        });
        let mut frames = Vec::new();
        loop {
            match reader.next().await {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => return (frames, None),
                Err(e) => return (frames, Some(e)),
            }
        }
    })
}

/// A frame a worker may send, as the protocol describes it.
#[derive(Debug, Clone)]
struct Frame {
    kind: String,
    id: Option<u64>,
    status: Option<u16>,
    headers: BTreeMap<String, Vec<String>>,
    error: Option<String>,
    stdout: Option<String>,
    truncated: bool,
    body: Vec<u8>,
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z0-9 -]{0,10}", any::<String>()]
}

fn frame() -> impl Strategy<Value = Frame> {
    (
        prop_oneof![
            prop::sample::select(vec!["hello", "loaded", "error", "result", "log"])
                .prop_map(str::to_string),
            text(),
        ],
        proptest::option::of(any::<u64>()),
        proptest::option::of(any::<u16>()),
        proptest::collection::btree_map("[a-z-]{1,8}", vec(text(), 1..3), 0..4),
        proptest::option::of(text()),
        proptest::option::of(text()),
        any::<bool>(),
        vec(any::<u8>(), 0..64),
    )
        .prop_map(
            |(kind, id, status, headers, error, stdout, truncated, body)| Frame {
                kind,
                id,
                status,
                headers,
                error,
                stdout,
                truncated,
                body,
            },
        )
}

impl Frame {
    fn encode(&self) -> Vec<u8> {
        let headers: serde_json::Map<String, serde_json::Value> = self
            .headers
            .iter()
            .map(|(name, values)| {
                let value = match values.as_slice() {
                    [one] => serde_json::Value::from(one.as_str()),
                    many => serde_json::Value::from(many.to_vec()),
                };
                (name.clone(), value)
            })
            .collect();
        let mut frame = serde_json::to_vec(&serde_json::json!({
            "type": self.kind,
            "id": self.id,
            "status": self.status,
            "headers": headers,
            "error": self.error,
            "stdout": self.stdout,
            "truncated": self.truncated,
            "len": self.body.len(),
        }))
        .unwrap();
        frame.push(b'\n');
        frame.extend_from_slice(&self.body);
        frame
    }

    fn check(&self, (message, body): &(WorkerMessage, Bytes)) -> Result<(), TestCaseError> {
        prop_assert_eq!(message.kind.to_string(), self.kind.as_str());
        prop_assert_eq!(message.id, self.id);
        prop_assert_eq!(message.status, self.status);
        // Pairs in the order sent (the JSON object keeps no order: compare them sorted), a
        // list repeated once per value.
        let mut expected: Vec<(String, String)> = self
            .headers
            .iter()
            .flat_map(|(n, vs)| vs.iter().map(move |v| (n.clone(), v.clone())))
            .collect();
        let mut got = message.headers.clone();
        expected.sort();
        got.sort();
        prop_assert_eq!(got, expected);
        prop_assert_eq!(&message.error, &self.error);
        prop_assert_eq!(&message.stdout, &self.stdout);
        prop_assert_eq!(message.truncated, self.truncated);
        prop_assert_eq!(&body[..], &self.body[..]);
        Ok(())
    }
}

/// Values of every sort a header member may be given, right or wrong for it.
fn value_text() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "\"result\"",
        "\"log\"",
        "\"plain text\"",
        "\"\"",
        "\"tab\\there \\\"q\\\" \\\\ \\/\"",
        "\"\\u00e9\\ud83c\\udf89\"",
        "\"\\ud800\"",
        "\"bad \\x escape\"",
        "\"caf\u{e9} \u{2603}\"",
        "0",
        "7",
        "01",
        "-1",
        "1.5",
        "2e2",
        "65535",
        "65536",
        "4294967296",
        "18446744073709551615",
        "18446744073709551616",
        "true",
        "false",
        "null",
        "nul",
        "{}",
        "{\"content-type\":\"text/plain\"}",
        "{\"a\":\"1\",\"a\":\"2\"}",
        "{\"x\":[\"a\",\"b\"],\"n\":5}",
        "{\"e\":\"\\u00e9\"}",
        "[]",
        "[\"x\"]",
        "{\"a\":}",
    ])
    .prop_map(str::to_string)
}

/// A header line: members with any of the protocol's names (and others) and any values, in
/// any order, repeats included, with or without whitespace; sometimes cut or trailed.
fn header_line() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "type",
        "type",
        "id",
        "len",
        "status",
        "headers",
        "error",
        "stdout",
        "stderr",
        "truncated",
        "stream",
        "message",
        "import_us",
        "interpreter_us",
        "protocol",
        "exec_ns",
        "other",
        "ty\\u0070e",
    ]);
    let space = prop::sample::select(vec!["", "", " ", "\t", "\r\n "]);
    (
        vec((key, space.clone(), value_text(), space.clone()), 0..6),
        prop::sample::select(vec!["", "", "", "x", "}", ","]),
    )
        .prop_map(|(members, tail)| {
            let members: Vec<String> = members
                .into_iter()
                .map(|(k, s1, v, s2)| format!("{s1}\"{k}\"{s2}:{s1}{v}{s2}"))
                .collect();
            format!("{{{}}}{tail}", members.join(","))
        })
}

/// A header line of the common shape, every member of the type its field takes, each once.
fn plain_header_line() -> impl Strategy<Value = String> {
    let plain = "[a-zA-Z0-9 ._/-]{0,12}";
    let member = prop_oneof![
        plain.prop_map(|s| ("type", format!("\"{s}\""))),
        any::<u64>().prop_map(|n| ("id", n.to_string())),
        (0u64..1 << 20).prop_map(|n| ("len", n.to_string())),
        any::<u16>().prop_map(|n| ("status", n.to_string())),
        proptest::collection::btree_map("[a-z-]{1,8}", plain, 0..3).prop_map(|h| {
            let members: Vec<String> = h.iter().map(|(k, v)| format!("\"{k}\":\"{v}\"")).collect();
            ("headers", format!("{{{}}}", members.join(",")))
        }),
        any::<String>().prop_map(|s| ("stderr", serde_json::to_string(&s).unwrap())),
        any::<bool>().prop_map(|b| ("truncated", b.to_string())),
        Just(("message", "null".to_string())),
        any::<u32>().prop_map(|n| ("protocol", n.to_string())),
    ];
    (plain, vec(member, 0..8)).prop_map(|(kind, members)| {
        let mut seen = std::collections::BTreeSet::from(["type"]);
        let mut line = format!("{{\"type\":\"{kind}\"");
        for (name, value) in members {
            if seen.insert(name) {
                line.push_str(&format!(",\"{name}\":{value}"));
            }
        }
        line.push_str("}\n");
        line
    })
}

fn header_value() -> impl Strategy<Value = http::HeaderValue> {
    vec(prop_oneof![0x20u8..0x7f, 0x80u8..=0xff, Just(b'\t')], 0..12)
        .prop_filter_map("not a header value", |b| {
            http::HeaderValue::from_bytes(&b).ok()
        })
}

/// A request with any path, query, headers and body, as the invocation path hands it over.
fn request() -> impl Strategy<Value = Request> {
    (
        prop::sample::select(vec!["GET", "POST", "PATCH", "X-CUSTOM"]),
        any::<String>(),
        prop_oneof!["([a-z%=&+]|%[0-9a-fA-F]{2}){0,24}", any::<String>()],
        vec(
            (
                prop::sample::select(vec!["accept", "x-a", "x-b", "cookie"]),
                header_value(),
            ),
            0..5,
        ),
        vec(any::<u8>(), 0..48),
        any::<String>(),
    )
        .prop_map(|(method, path, query, headers, body, execution_id)| {
            let mut map = http::HeaderMap::new();
            for (name, value) in headers {
                map.append(name, value);
            }
            Request {
                method: http::Method::from_bytes(method.as_bytes()).unwrap(),
                path,
                query,
                headers: map,
                body: Bytes::from(body),
                execution_id,
                ..Request::default()
            }
        })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn plain_header_lines_are_read_by_hand_as_serde_reads_them(line in plain_header_line()) {
        let hand = result_header::parse(line.as_bytes());
        prop_assert!(hand.is_some(), "{}", line);
        let serde = serde_json::from_str::<WorkerMessage>(&line).unwrap();
        prop_assert_eq!(format!("{:?}", hand.unwrap()), format!("{serde:?}"));
    }

    #[test]
    fn invoke_frames_are_one_json_line_then_the_body(
        request in request(),
        name in any::<String>(),
        with_edge in any::<bool>(),
    ) {
        let frame = InvokeTemplate::new(&name, "d1", 64, 1000, true)
            .with_edge(with_edge)
            .encode(7, &request);
        let newline = frame.iter().position(|b| *b == b'\n').unwrap();
        let header: serde_json::Value = serde_json::from_slice(&frame[..newline])
            .map_err(|e| TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(&frame))))?;
        prop_assert_eq!(&frame[newline + 1..], &request.body[..]);
        prop_assert_eq!(header["len"].as_u64(), Some(request.body.len() as u64));
        let event = &header["event"];
        prop_assert_eq!(event["path"].as_str(), Some(request.path.as_str()));
        prop_assert_eq!(event["httpMethod"].as_str(), Some(request.method.as_str()));
        prop_assert_eq!(header["context"]["functionName"].as_str(), Some(name.as_str()));
        prop_assert_eq!(header["context"]["executionId"].as_str(), Some(request.execution_id.as_str()));
        // Each query key with its last value.
        let mut query = serde_json::Map::new();
        for (k, v) in form_urlencoded::parse(request.query.as_bytes()) {
            query.insert(k.into_owned(), v.into_owned().into());
        }
        prop_assert_eq!(&event["queryStringParameters"], &serde_json::Value::Object(query));
        // Each header once, repeated values joined.
        for name in request.headers.keys() {
            let joined: Vec<String> = request
                .headers
                .get_all(name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect();
            let joined = joined.join(", ");
            prop_assert_eq!(event["headers"][name.as_str()].as_str(), Some(joined.as_str()));
        }
        if with_edge {
            prop_assert_eq!(event["rawQueryString"].as_str(), Some(request.query.as_str()));
        }
    }

    #[test]
    fn any_bytes_are_frames_or_an_error(
        bytes in prop_oneof![
            vec(any::<u8>(), 0..512),
            vec(prop::sample::select(b"{}\":,0123456789 \nlentypesult\\".to_vec()), 0..256),
        ],
        sizes in vec(0usize..64, 0..16),
    ) {
        let (frames, _) = read_all(bytes, sizes);
        for (message, body) in frames {
            prop_assert_eq!(message.len, body.len());
        }
    }

    #[test]
    fn frames_read_back_as_written_however_the_stream_is_cut(
        frames in vec(frame(), 1..5),
        sizes in vec(0usize..96, 0..32),
    ) {
        let bytes: Vec<u8> = frames.iter().flat_map(Frame::encode).collect();
        let (read, error) = read_all(bytes, sizes);
        prop_assert!(error.is_none(), "{:?}", error);
        prop_assert_eq!(read.len(), frames.len());
        for (frame, got) in frames.iter().zip(&read) {
            frame.check(got)?;
        }
    }

    #[test]
    fn damaged_frames_are_frames_or_an_error(
        frames in vec(frame(), 1..4),
        changes in vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes: Vec<u8> = frames.iter().flat_map(Frame::encode).collect();
        for (at, byte) in changes {
            let at = at.index(bytes.len());
            bytes[at] = byte;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        let (read, _) = read_all(bytes, Vec::new());
        for (message, body) in read {
            prop_assert_eq!(message.len, body.len());
        }
    }

    #[test]
    fn bodies_past_the_limit_are_refused_before_they_are_read(
        len in (MAX_BODY as u64 + 1)..=u64::MAX,
        by_hand in any::<bool>(),
    ) {
        // The hand reader takes `len` first; serde takes the line when another member is not
        // plain (here a header given a list).
        let line = if by_hand {
            format!("{{\"type\":\"result\",\"len\":{len}}}\n")
        } else {
            format!("{{\"type\":\"result\",\"headers\":{{\"x\":[\"a\"]}},\"len\":{len}}}\n")
        };
        let (frames, error) = read_all(line.into_bytes(), Vec::new());
        prop_assert!(frames.is_empty());
        let error = error.unwrap();
        prop_assert_eq!(error.kind(), std::io::ErrorKind::InvalidData, "{}", error);
    }

    #[test]
    fn header_lines_read_by_hand_read_as_serde_reads_them(line in header_line()) {
        let serde = serde_json::from_str::<WorkerMessage>(&line).ok().map(|m| format!("{m:?}"));
        if let Some(hand) = result_header::parse(line.as_bytes()) {
            prop_assert_eq!(Some(format!("{hand:?}")), serde, "{}", line);
        }
    }
}
