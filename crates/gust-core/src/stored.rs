//! The stored form of an execution: the same JSON the API returns, less what a reader restores
//! by itself. Every HTTP invocation writes one record, so its size and the time to encode it
//! are paid per request (in the store, twice: once to the WAL, once at checkpoint).
//!
//! - `id` and `function_id` are left out: they are columns of the row, and the store sets them
//!   from there on reading.
//! - Fields holding their default (empty strings and maps, `false`, `null`, zero, one attempt)
//!   are left out while [`to_json`] runs; `serde(default)` puts them back on reading. That is a
//!   third of a typical row. The API's output keeps every field: the skip predicates below only
//!   skip inside [`to_json`].
//! - Timestamps are written by hand ([`timestamp`]), in exactly chrono's format, because
//!   chrono's `Display`-based path costs more than the rest of the record's numbers together.

use std::cell::Cell;
use std::collections::BTreeMap;

use serde::Serialize;

thread_local! {
    static STORING: Cell<bool> = const { Cell::new(false) };
}

/// `value` as JSON in its stored form (defaults left out).
pub fn to_json<T: Serialize>(value: &T) -> serde_json::Result<String> {
    // A typical record is 300-500 bytes: one allocation instead of a string grown six times.
    let mut json = Vec::with_capacity(512);
    write_json(&mut json, value)?;
    Ok(String::from_utf8(json).expect("serde_json writes UTF-8"))
}

/// [`to_json`] appended to `out` (a writer reuses one buffer for every record).
pub fn write_json<T: Serialize>(out: &mut Vec<u8>, value: &T) -> serde_json::Result<()> {
    /// Clears the flag even if serialization unwinds, so API output on this thread stays whole.
    struct Storing;
    impl Drop for Storing {
        fn drop(&mut self) {
            STORING.with(|s| s.set(false));
        }
    }
    STORING.with(|s| s.set(true));
    let _storing = Storing;
    serde_json::to_writer(out, value)
}

fn storing() -> bool {
    STORING.with(Cell::get)
}

/// Held by the row's own columns, which the store reads back into the record.
pub(crate) fn skip_column(_: &str) -> bool {
    storing()
}

pub(crate) fn skip_empty(s: &str) -> bool {
    s.is_empty() && storing()
}

pub(crate) fn skip_false(b: &bool) -> bool {
    !*b && storing()
}

pub(crate) fn skip_none<T>(o: &Option<T>) -> bool {
    o.is_none() && storing()
}

pub(crate) fn skip_zero(n: &u64) -> bool {
    *n == 0 && storing()
}

pub(crate) fn skip_one(n: &u32) -> bool {
    *n == 1 && storing()
}

pub(crate) fn skip_no_headers(h: &BTreeMap<String, String>) -> bool {
    h.is_empty() && storing()
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
        let stored = super::to_json(&execution).unwrap();
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
}
