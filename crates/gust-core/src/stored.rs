//! The stored form of an execution: the same JSON the API returns, less what a reader restores
//! by itself. Every HTTP invocation writes one record, so its size and the time to encode it
//! are paid per request (in the store, twice: once to the WAL, once at checkpoint).
//!
//! - `id` and `function_id` are left out: they are columns of the row, and the store sets them
//!   from there on reading.
//! - Fields holding their default (empty strings and maps, `false`, `null`, zero, one attempt)
//!   are left out; `serde(default)` puts them back on reading. That is a third of a typical
//!   row. The API's output keeps every field.
//! - It is written by hand ([`write_execution`]), timestamps included ([`timestamp`], in
//!   exactly chrono's format): serde's general path, and chrono's `Display`-based one, cost
//!   several times more. Reading it back is serde's.

use crate::execution::{Execution, RecordedBody};
use crate::json::Object;

/// An execution in its stored form, appended to `out`. The tests hold it to reading back as
/// the execution it was written from, with every default left out.
pub fn write_execution(out: &mut Vec<u8>, e: &Execution) {
    let mut o = Object::open(out);
    // `id` and `function_id` are the row's columns.
    o.str("namespace_id", &e.namespace_id);
    if let Some(deployment) = &e.deployment_id {
        o.str("deployment_id", deployment);
    }
    if let Some(version) = e.function_version {
        o.u64("function_version", u64::from(version));
    }
    if let Some(alias) = &e.alias {
        o.str("alias", alias);
    }
    o.str("trigger", e.trigger.as_str());
    o.str("status", e.status.as_str());
    {
        let r = &e.request;
        let mut request = Object::open(o.key("request"));
        request.str("method", &r.method);
        request.str("path", &r.path);
        if !r.query.is_empty() {
            request.str("query", &r.query);
        }
        if !r.headers.is_empty() {
            request.strings("headers", &r.headers);
        }
        write_body(&mut request, &r.body);
        request.close();
    }
    if let Some(r) = &e.response {
        let mut response = Object::open(o.key("response"));
        response.u64("status_code", u64::from(r.status_code));
        if !r.headers.is_empty() {
            response.strings("headers", &r.headers);
        }
        write_body(&mut response, &r.body);
        response.close();
    }
    {
        let mut logs = Object::open(o.key("logs"));
        if !e.logs.stdout.is_empty() {
            logs.str("stdout", &e.logs.stdout);
        }
        if !e.logs.stderr.is_empty() {
            logs.str("stderr", &e.logs.stderr);
        }
        if e.logs.truncated {
            logs.bool("truncated", true);
        }
        logs.close();
    }
    if let Some(message) = &e.error_message {
        o.str("error_message", message);
    }
    if let Some(us) = e.duration_us {
        o.u64("duration_us", us);
    }
    if let Some(us) = e.head_us {
        o.u64("head_us", us);
    }
    if e.cold_start {
        o.bool("cold_start", true);
    }
    if let Some(startup) = &e.startup {
        let mut s = Object::open(o.key("startup"));
        s.u64("total_us", startup.total_us);
        for (name, value) in [
            ("instantiate_us", startup.instantiate_us),
            ("sandbox_us", startup.sandbox_us),
            ("interpreter_us", startup.interpreter_us),
            ("import_us", startup.import_us),
        ] {
            if let Some(value) = value {
                s.u64(name, value);
            }
        }
        s.close();
    }
    if e.attempts != 1 {
        o.u64("attempts", u64::from(e.attempts));
    }
    if e.is_async {
        o.bool("async", true);
    }
    if e.max_attempts != 1 {
        o.u64("max_attempts", u64::from(e.max_attempts));
    }
    if let Some(t) = &e.run_after {
        timestamp::push(o.key("run_after"), t);
    }
    if e.dead_letter {
        o.bool("dead_letter", true);
    }
    for (name, value) in [
        ("idempotency_key", &e.idempotency_key),
        ("source", &e.source),
        ("replay_of", &e.replay_of),
        ("replayed_by", &e.replayed_by),
    ] {
        if let Some(value) = value {
            o.str(name, value);
        }
    }
    if e.event_depth != 0 {
        o.u64("event_depth", u64::from(e.event_depth));
    }
    timestamp::push(o.key("created_at"), &e.created_at);
    if let Some(t) = &e.started_at {
        timestamp::push(o.key("started_at"), t);
    }
    if let Some(t) = &e.finished_at {
        timestamp::push(o.key("finished_at"), t);
    }
    o.close();
}

/// A recorded body's fields, flattened into the request or response object.
fn write_body(o: &mut Object<'_>, body: &RecordedBody) {
    if !body.body.is_empty() {
        o.str("body", &body.body);
    }
    if body.is_base64 {
        o.bool("is_base64", true);
    }
    if body.truncated {
        o.bool("truncated", true);
    }
    if body.size != 0 {
        o.u64("size", body.size);
    }
}

pub(crate) fn one() -> u32 {
    1
}

/// RFC 3339 UTC timestamps, byte for byte what chrono's `Serialize` writes
/// (`2026-11-25T02:47:46.564Z`; the fraction in 3, 6 or 9 digits as needed, none when zero).
/// Deserializing stays chrono's.
pub mod timestamp {
    use chrono::{DateTime, Datelike, Timelike, Utc};
    use serde::{Serialize, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 30];
        match format(t, &mut buf) {
            // Only ASCII digits and separators were written.
            Some(len) => s.serialize_str(std::str::from_utf8(&buf[..len]).unwrap_or_default()),
            None => t.serialize(s),
        }
    }

    /// `t` as a JSON string, as [`serialize`] writes it.
    pub fn push(out: &mut Vec<u8>, t: &DateTime<Utc>) {
        let mut buf = [0u8; 30];
        match format(t, &mut buf) {
            Some(len) => {
                out.push(b'"');
                out.extend_from_slice(&buf[..len]);
                out.push(b'"');
            }
            None => serde_json::to_writer(out, t).expect("a timestamp is JSON"),
        }
    }

    pub mod option {
        use chrono::{DateTime, Utc};
        use serde::Serializer;

        pub fn serialize<S: Serializer>(
            t: &Option<DateTime<Utc>>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => super::serialize(t, s),
                None => s.serialize_none(),
            }
        }
    }

    /// `None` for years chrono writes with a sign (outside 0..=9999).
    fn format(t: &DateTime<Utc>, buf: &mut [u8; 30]) -> Option<usize> {
        // Once: each field read on the `DateTime` itself converts it again.
        let t = t.naive_utc();
        let year = t.year();
        if !(0..=9999).contains(&year) {
            return None;
        }
        let mut at = 0;
        let mut put = |value: u32, digits: u32, after: Option<u8>| {
            for i in (0..digits).rev() {
                buf[at] = b'0' + (value / 10u32.pow(i) % 10) as u8;
                at += 1;
            }
            if let Some(c) = after {
                buf[at] = c;
                at += 1;
            }
        };
        put(year as u32, 4, Some(b'-'));
        put(t.month(), 2, Some(b'-'));
        put(t.day(), 2, Some(b'T'));
        put(t.hour(), 2, Some(b':'));
        put(t.minute(), 2, Some(b':'));
        // A leap second keeps its extra second in the nanoseconds (>= 1e9): chrono's own
        // path writes those (the fraction check below sends them there).
        let nanos = t.nanosecond();
        put(t.second(), 2, None);
        if nanos != 0 {
            let (value, digits) = if nanos.is_multiple_of(1_000_000) {
                (nanos / 1_000_000, 3)
            } else if nanos.is_multiple_of(1_000) {
                (nanos / 1_000, 6)
            } else {
                (nanos, 9)
            };
            if value >= 10u32.pow(digits) {
                return None;
            }
            buf[at] = b'.';
            at += 1;
            let mut put = |value: u32, digits: u32| {
                for i in (0..digits).rev() {
                    buf[at] = b'0' + (value / 10u32.pow(i) % 10) as u8;
                    at += 1;
                }
            };
            put(value, digits);
        }
        buf[at] = b'Z';
        Some(at + 1)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeZone, Utc};

    fn ours(t: &DateTime<Utc>) -> String {
        let mut out = Vec::new();
        super::timestamp::serialize(t, &mut serde_json::Serializer::new(&mut out)).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn timestamps_match_chrono_byte_for_byte() {
        let base = Utc.with_ymd_and_hms(2026, 11, 25, 2, 47, 46).unwrap();
        let mut cases = vec![
            base,
            Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(12000, 1, 1, 0, 0, 0).unwrap(),
            crate::now(),
            Utc::now(),
        ];
        for nanos in [1, 7_000, 564_000_000, 999_999_999, 100_000, 123_456_789] {
            cases.push(base + chrono::Duration::nanoseconds(nanos));
        }
        for t in cases {
            assert_eq!(ours(&t), serde_json::to_string(&t).unwrap(), "{t:?}");
        }
    }

    #[test]
    fn stored_form_leaves_defaults_out_and_reads_back_whole() {
        // A row as written before the stored form existed: every field, in the API's form.
        let full = r#"{"id":"01a2109a-2284-75ea-9d77-6fd26a0e33b8",
            "namespace_id":"01a2109a-21ee-73c5-bb7e-ec7d1ff2b4d8",
            "function_id":"01a2109a-222f-77e6-ba64-1dbd3320e9d0",
            "deployment_id":"01a2109a-2238-760e-be99-6e8904ecf8d9","trigger":"http",
            "status":"completed","request":{"method":"GET","path":"/","query":"",
            "headers":{"accept":"*/*"},"body":"","is_base64":false,"truncated":false,"size":0},
            "response":{"status_code":200,"headers":{},"body":"","is_base64":false,
            "truncated":false,"size":0},"logs":{"stdout":"","stderr":"","truncated":false},
            "error_message":null,"duration_us":378,"cold_start":false,"startup":null,
            "attempts":1,"async":false,"max_attempts":1,"run_after":null,"dead_letter":false,
            "idempotency_key":null,"source":null,"replay_of":null,
            "created_at":"2026-11-25T02:47:46.564Z","started_at":"2026-11-25T02:47:46.564Z",
            "finished_at":"2026-11-25T02:47:46.565Z"}"#;
        let execution: crate::Execution = serde_json::from_str(full).unwrap();
        let stored = hand_written(&execution);
        let api = serde_json::to_string(&execution).unwrap();
        assert!(stored.len() < api.len(), "{stored}");
        for absent in [
            "\"error_message\"",
            "\"dead_letter\"",
            "\"query\"",
            "\"stdout\"",
        ] {
            assert!(!stored.contains(absent), "{absent} in {stored}");
            assert!(
                api.contains(absent),
                "{absent} missing from the API form {api}"
            );
        }
        let mut back: crate::Execution = serde_json::from_str(&stored).unwrap();
        assert!(
            back.id.is_empty() && back.function_id.is_empty(),
            "{stored}"
        );
        back.id = execution.id.clone();
        back.function_id = execution.function_id.clone();
        assert_eq!(back, execution);
    }

    fn hand_written(e: &crate::Execution) -> String {
        let mut out = Vec::new();
        super::write_execution(&mut out, e);
        String::from_utf8(out).unwrap()
    }

    /// Every field set away from its default, strings that need escaping, a year chrono
    /// writes with a sign.
    fn everything() -> crate::Execution {
        serde_json::from_value(serde_json::json!({
            "id": "01a2109a-2284-75ea-9d77-6fd26a0e33b8",
            "namespace_id": "ns \"quoted\"", "function_id": "f", "deployment_id": "d\n1",
            "function_version": 7, "alias": "prod \"blue\"",
            "trigger": "event", "status": "queued",
            "request": {"method": "POST", "path": "/a/é", "query": "x=1&y=\u{1}",
                "headers": {"b": "2", "a": "1 \\ 2"}, "body": "aGk=", "is_base64": true,
                "truncated": true, "size": 70000},
            "response": {"status_code": 503, "headers": {"set-cookie": "k=v", "x-\"odd\\\n": "v"},
                "body": "{\"error\":\"x\"}", "size": 13},
            "logs": {"stdout": "out\n", "stderr": "err ☃\n", "truncated": true},
            "error_message": "the handler raised: x", "duration_us": 0, "head_us": 0,
            "cold_start": true,
            "startup": {"total_us": 4000, "instantiate_us": 1, "sandbox_us": 2,
                "interpreter_us": 3, "import_us": 4},
            "attempts": 3, "async": true, "max_attempts": 5,
            "run_after": "2026-11-25T02:47:46.000000001Z", "dead_letter": true,
            "idempotency_key": "key-1", "source": "trigger-1 orders.created",
            "replay_of": "01a2109a-2284-75ea-9d77-6fd26a0e33b9",
            "replayed_by": "01a2109a-2284-75ea-9d77-6fd26a0e33ba", "event_depth": 2,
            "created_at": "+12000-01-01T00:00:00Z", "started_at": "2026-11-25T02:47:46.5Z",
            "finished_at": "2026-11-25T02:47:46.564123Z",
        }))
        .unwrap()
    }

    #[test]
    fn the_stored_form_reads_back_whole_and_leaves_every_default_out() {
        let mut minimal = everything();
        minimal.deployment_id = None;
        minimal.function_version = None;
        minimal.alias = None;
        minimal.request = crate::ExecutionRequest {
            method: "GET".into(),
            path: "/".into(),
            ..Default::default()
        };
        minimal.response = None;
        minimal.logs = Default::default();
        minimal.error_message = None;
        minimal.duration_us = None;
        minimal.head_us = None;
        minimal.cold_start = false;
        minimal.startup = Some(crate::Startup {
            total_us: 9,
            ..Default::default()
        });
        minimal.attempts = 1;
        minimal.is_async = false;
        minimal.max_attempts = 1;
        minimal.run_after = None;
        minimal.dead_letter = false;
        minimal.idempotency_key = None;
        minimal.source = None;
        minimal.replay_of = None;
        minimal.replayed_by = None;
        minimal.event_depth = 0;
        minimal.created_at = "2026-11-25T02:47:46.564Z".parse().unwrap();
        minimal.started_at = None;
        minimal.finished_at = None;
        let empty_response = crate::Execution {
            response: Some(Default::default()),
            startup: None,
            ..minimal.clone()
        };
        // Only what is not a default, in the API form's order, escaped as JSON.
        assert_eq!(
            hand_written(&minimal),
            r#"{"namespace_id":"ns \"quoted\"","trigger":"event","status":"queued","request":{"method":"GET","path":"/"},"logs":{},"startup":{"total_us":9},"created_at":"2026-11-25T02:47:46.564Z"}"#
        );
        assert_eq!(
            hand_written(&empty_response),
            r#"{"namespace_id":"ns \"quoted\"","trigger":"event","status":"queued","request":{"method":"GET","path":"/"},"response":{"status_code":0},"logs":{},"created_at":"2026-11-25T02:47:46.564Z"}"#
        );
        // Every field set, strings that need escaping (header names too): read back whole.
        for e in [everything(), minimal, empty_response] {
            let stored = hand_written(&e);
            let mut back: crate::Execution = serde_json::from_str(&stored).unwrap();
            back.id = e.id.clone();
            back.function_id = e.function_id.clone();
            assert_eq!(back, e, "{stored}");
        }
    }

    #[test]
    fn the_hand_written_stored_form_knows_every_field() {
        // A field added to these types must be added to `write_execution` too: this list is
        // what it writes, and the API form (every field, always) must match it.
        let expected = [
            (
                "",
                "id namespace_id function_id deployment_id function_version alias trigger status request response logs error_message duration_us head_us cold_start startup attempts async max_attempts run_after dead_letter idempotency_key source replay_of replayed_by event_depth created_at started_at finished_at",
            ),
            (
                "request",
                "method path query headers body is_base64 truncated size",
            ),
            (
                "response",
                "status_code headers body is_base64 truncated size",
            ),
            ("logs", "stdout stderr truncated"),
            (
                "startup",
                "total_us instantiate_us sandbox_us interpreter_us import_us",
            ),
        ];
        let api = serde_json::to_value(everything()).unwrap();
        for (member, names) in expected {
            let object = if member.is_empty() {
                &api
            } else {
                &api[member]
            };
            let keys: Vec<&str> = object
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            let mut want: Vec<&str> = names.split(' ').collect();
            let mut got = keys.clone();
            want.sort_unstable();
            got.sort_unstable();
            assert_eq!(got, want, "fields of `{member}`");
        }
    }
}

/// Property tests: any execution reads back from its stored form (and from the API's) as it
/// was; any bytes or JSON the reader is handed are an execution or an error, never a panic.
#[cfg(test)]
mod props {
    use std::collections::BTreeMap;

    use chrono::{DateTime, Utc};
    use proptest::collection::{btree_map, vec};
    use proptest::option::of;
    use proptest::prelude::*;

    use crate::execution::{
        Execution, ExecutionLogs, ExecutionRequest, ExecutionResponse, ExecutionStatus,
        RecordedBody, Startup, Trigger,
    };

    /// Text that needs escaping as often as not: quotes, backslashes, controls, non-ASCII.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9/._-]{0,12}",
            "[\"\\\\\\x00-\\x1f\\x7f a\u{e9}\u{2028}\u{1f389}]{0,8}",
            any::<String>(),
        ]
    }

    /// Any time chrono holds, leap seconds included.
    fn instant() -> impl Strategy<Value = DateTime<Utc>> {
        let min = DateTime::<Utc>::MIN_UTC.timestamp();
        let max = DateTime::<Utc>::MAX_UTC.timestamp();
        prop_oneof![
            (min..=max, 0u32..1_000_000_000),
            (0i64..4_102_444_800, 0u32..1_000_000_000),
            (
                0i64..4_102_444_800,
                prop::sample::select(vec![0, 1_000_000, 500_000_000, 1_000, 7])
            ),
            (0i64..70_000_000, 1_000_000_000u32..2_000_000_000).prop_map(|(s, n)| (s * 60 + 59, n)),
        ]
        .prop_filter_map("outside chrono's range", |(s, n)| {
            DateTime::from_timestamp(s, n)
        })
    }

    fn body() -> impl Strategy<Value = RecordedBody> {
        (text(), any::<bool>(), any::<bool>(), any::<u64>()).prop_map(
            |(body, is_base64, truncated, size)| RecordedBody {
                body,
                is_base64,
                truncated,
                size,
            },
        )
    }

    fn headers() -> impl Strategy<Value = BTreeMap<String, String>> {
        btree_map(text(), text(), 0..4)
    }

    fn request() -> impl Strategy<Value = ExecutionRequest> {
        (text(), text(), text(), headers(), body()).prop_map(
            |(method, path, query, headers, body)| ExecutionRequest {
                method,
                path,
                query,
                headers,
                body,
            },
        )
    }

    fn response() -> impl Strategy<Value = ExecutionResponse> {
        (any::<u16>(), headers(), body()).prop_map(|(status_code, headers, body)| {
            ExecutionResponse {
                status_code,
                headers,
                body,
            }
        })
    }

    fn startup() -> impl Strategy<Value = Startup> {
        (
            any::<u64>(),
            [
                of(any::<u64>()),
                of(any::<u64>()),
                of(any::<u64>()),
                of(any::<u64>()),
            ],
        )
            .prop_map(
                |(total_us, [instantiate_us, sandbox_us, interpreter_us, import_us])| Startup {
                    total_us,
                    instantiate_us,
                    sandbox_us,
                    interpreter_us,
                    import_us,
                },
            )
    }

    /// Small numbers (mostly the defaults) or any.
    fn count() -> impl Strategy<Value = u32> {
        prop_oneof![0u32..3, any::<u32>()]
    }

    fn execution() -> impl Strategy<Value = Execution> {
        let ids = (
            text(),
            text(),
            text(),
            of(text()),
            of(any::<u32>()),
            of(text()),
        );
        let kinds = (
            prop::sample::select(vec![
                Trigger::Http,
                Trigger::Api,
                Trigger::Schedule,
                Trigger::Event,
                Trigger::Webhook,
                Trigger::Edge,
            ]),
            prop::sample::select(vec![
                ExecutionStatus::Queued,
                ExecutionStatus::Running,
                ExecutionStatus::Completed,
                ExecutionStatus::Failed,
                ExecutionStatus::Timeout,
            ]),
        );
        let run = (
            request(),
            of(response()),
            (text(), text(), any::<bool>()),
            of(text()),
            (of(any::<u64>()), of(any::<u64>())),
            any::<bool>(),
            of(startup()),
        );
        let queue = (
            count(),
            any::<bool>(),
            count(),
            of(instant()),
            any::<bool>(),
            [of(text()), of(text()), of(text()), of(text())],
            count(),
        );
        let times = (instant(), of(instant()), of(instant()));
        (ids, kinds, run, queue, times).prop_map(
            |(
                (id, namespace_id, function_id, deployment_id, function_version, alias),
                (trigger, status),
                (
                    request,
                    response,
                    (stdout, stderr, truncated),
                    error_message,
                    (duration_us, head_us),
                    cold_start,
                    startup,
                ),
                (
                    attempts,
                    is_async,
                    max_attempts,
                    run_after,
                    dead_letter,
                    [idempotency_key, source, replay_of, replayed_by],
                    event_depth,
                ),
                (created_at, started_at, finished_at),
            )| Execution {
                id,
                namespace_id,
                function_id,
                deployment_id,
                function_version,
                alias,
                trigger,
                status,
                request,
                response,
                logs: ExecutionLogs {
                    stdout,
                    stderr,
                    truncated,
                },
                error_message,
                duration_us,
                head_us,
                cold_start,
                startup,
                attempts,
                is_async,
                max_attempts,
                run_after,
                dead_letter,
                idempotency_key,
                source,
                replay_of,
                replayed_by,
                event_depth,
                created_at,
                started_at,
                finished_at,
            },
        )
    }

    /// JSON values of every kind, nested a little.
    fn json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<u64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            text().prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
                btree_map(text(), inner, 0..6)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn stored(e: &Execution) -> Vec<u8> {
        let mut out = Vec::new();
        super::write_execution(&mut out, e);
        out
    }

    proptest! {
        #![proptest_config(crate::testing::config(256))]

        #[test]
        fn any_execution_reads_back_from_its_stored_form(e in execution()) {
            let bytes = stored(&e);
            let mut back: Execution = serde_json::from_slice(&bytes)
                .map_err(|err| TestCaseError::fail(format!("{err}: {}", String::from_utf8_lossy(&bytes))))?;
            prop_assert!(back.id.is_empty() && back.function_id.is_empty());
            back.id = e.id.clone();
            back.function_id = e.function_id.clone();
            prop_assert_eq!(&back, &e);
            // The API's form (every field) says the same, and is never the smaller.
            let api = serde_json::to_vec(&e).unwrap();
            prop_assert_eq!(&serde_json::from_slice::<Execution>(&api).unwrap(), &e);
            prop_assert!(bytes.len() <= api.len());
        }

        #[test]
        fn timestamps_are_written_as_chrono_writes_them(t in instant()) {
            let mut ours = Vec::new();
            super::timestamp::push(&mut ours, &t);
            prop_assert_eq!(String::from_utf8(ours).unwrap(), serde_json::to_string(&t).unwrap());
        }

        #[test]
        fn any_bytes_are_an_execution_or_an_error(bytes in vec(any::<u8>(), 0..512)) {
            let _ = serde_json::from_slice::<Execution>(&bytes);
        }

        #[test]
        fn stored_forms_with_a_member_changed_are_an_execution_or_an_error(
            e in execution(),
            at in any::<prop::sample::Index>(),
            value in json(),
        ) {
            let mut row: serde_json::Value = serde_json::from_slice(&stored(&e)).unwrap();
            let object = row.as_object_mut().unwrap();
            let key = object.keys().nth(at.index(object.len())).unwrap().clone();
            object.insert(key, value);
            let _ = serde_json::from_value::<Execution>(row);
        }

        #[test]
        fn any_json_is_an_execution_or_an_error(value in json()) {
            let _ = serde_json::from_value::<Execution>(value.clone());
            let _ = serde_json::from_slice::<Execution>(value.to_string().as_bytes());
        }
    }
}
