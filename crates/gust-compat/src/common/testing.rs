//! What the property tests of the dialects share: the case count, and request bodies made of
//! the fields a parser reads, given values of every JSON kind (and bodies that are not JSON).
//!
//! Each property runs the cases its test names, few enough for every `cargo nextest run`;
//! `PROPTEST_CASES=10000 cargo nextest run -p gust-compat props` runs more.

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::Value;

/// `cases` unless `PROPTEST_CASES` asks for another number. A failure prints its smallest
/// input, which becomes a plain regression test next to the code.
pub fn config(cases: u32) -> Config {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    config.failure_persistence = None;
    config
}

/// Text: short words, digits, JSON-looking text and anything.
pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9_-]{0,8}",
        "-?[0-9]{1,25}",
        prop::sample::select(vec![
            "",
            " ",
            "true",
            "false",
            "True",
            "0",
            "1",
            "null",
            "{}",
            "[]",
            "{\"a\":1}",
            "1.5",
            "300s",
            "1e400s",
            "NaN",
            "-0",
            "\u{0}",
            "unknown_x",
            "name_desc",
            "DESC",
            "asc",
            "-id",
            "request",
            "response",
            "package",
            "image",
            "2024-02-30 10:00",
            "2026-01-01T00:00:00Z",
            "+262143-12-31T23:59:59Z",
        ])
        .prop_map(str::to_string),
        any::<String>(),
    ]
}

/// JSON values of every kind, nested a little.
pub fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop::sample::select(vec![0i64, 1, -1, 2, 256, 4096, u32::MAX as i64 + 1])
            .prop_map(Value::from),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..5).prop_map(Value::from),
            btree_map(text(), inner, 0..5).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An object whose members are mostly `fields` (what the parser under test reads).
pub fn object(fields: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        6 => prop::sample::select(fields).prop_map(str::to_string),
        1 => text(),
    ];
    btree_map(key, json(), 0..fields.len() + 2).prop_map(|m| Value::Object(m.into_iter().collect()))
}

/// A request body: such an object as JSON mostly, else other JSON, or any bytes.
pub fn body(fields: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => object(fields).prop_map(|v| v.to_string().into_bytes()),
        1 => json().prop_map(|v| v.to_string().into_bytes()),
        1 => vec(any::<u8>(), 0..64),
        1 => Just(b"  ".to_vec()),
    ]
}
