//! What the property tests of this crate share.
//!
//! Each property runs the number of cases its test names, small enough for every `cargo
//! nextest run`; `PROPTEST_CASES=10000 cargo nextest run -p gust-core` runs more of each.

use proptest::test_runner::Config;

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
