//! The dialects' part of the run: the same synchronous execution of the hello function asked
//! for through the native executions API and through a dialect (Appwrite's), on one server,
//! window after window in turn. A dialect only translates, so its rate should be close to the
//! native one; the median of the rounds' ratios is reported.

use std::net::SocketAddr;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use serde_json::{Value, json};

use crate::load::{self, RequestShape, Stats};

/// One dialect measured against the native API, round by round.
pub struct DialectResult {
    pub conns: usize,
    pub dialect: &'static str,
    pub native: Vec<Stats>,
    pub translated: Vec<Stats>,
}

impl DialectResult {
    /// The dialect's rate over the native one: the median of the per-round ratios (of an
    /// even count the lower one).
    pub fn ratio(&self) -> Option<f64> {
        let mut ratios: Vec<f64> = self
            .native
            .iter()
            .zip(&self.translated)
            .filter(|(n, _)| n.req_per_s() > 0.0)
            .map(|(n, t)| t.req_per_s() / n.req_per_s())
            .collect();
        ratios.sort_by(f64::total_cmp);
        ratios.get(ratios.len().saturating_sub(1) / 2).copied()
    }

    fn median_rate(rounds: &[Stats]) -> f64 {
        let mut rates: Vec<f64> = rounds.iter().map(Stats::req_per_s).collect();
        rates.sort_by(f64::total_cmp);
        rates
            .get(rates.len().saturating_sub(1) / 2)
            .copied()
            .unwrap_or(0.0)
    }

    pub fn errors(&self) -> u64 {
        self.native
            .iter()
            .chain(&self.translated)
            .map(|s| s.errors)
            .sum()
    }

    pub fn print(&self) {
        let rounds: Vec<String> = self
            .native
            .iter()
            .zip(&self.translated)
            .map(|(n, t)| format!("{:.0}/{:.0}", t.req_per_s(), n.req_per_s()))
            .collect();
        println!(
            "sync execution via {} vs the native API, {} conns: {:.0} vs {:.0} req/s (medians); \
             ratio {} (median of rounds {})",
            self.dialect,
            self.conns,
            Self::median_rate(&self.translated),
            Self::median_rate(&self.native),
            self.ratio()
                .map_or_else(|| "-".to_owned(), |r| format!("{r:.2}")),
            rounds.join(", ")
        );
    }

    pub fn to_json(&self) -> Value {
        json!({
            "dialect": self.dialect,
            "conns": self.conns,
            "native_req_per_s": self.native.iter().map(Stats::req_per_s).collect::<Vec<_>>(),
            "dialect_req_per_s": self.translated.iter().map(Stats::req_per_s).collect::<Vec<_>>(),
            "ratio": self.ratio(),
        })
    }
}

/// Alternate native and Appwrite executions of `function` for `rounds` window pairs.
pub async fn measure(
    addr: SocketAddr,
    token: &str,
    function: &str,
    conns: usize,
    warmup: Duration,
    duration: Duration,
    rounds: usize,
) -> anyhow::Result<DialectResult> {
    let header = |name: &'static str, value: &str| -> anyhow::Result<(HeaderName, HeaderValue)> {
        Ok((HeaderName::from_static(name), HeaderValue::from_str(value)?))
    };
    let native = RequestShape::post_json(
        &format!("/api/v1/namespaces/default/functions/{function}/executions"),
        vec![header("authorization", &format!("Bearer {token}"))?],
        "{}",
    );
    let appwrite = RequestShape::post_json(
        &format!("/compat/appwrite/v1/functions/{function}/executions"),
        vec![
            header("x-appwrite-project", "default")?,
            header("x-appwrite-key", token)?,
        ],
        r#"{"async":false}"#,
    );
    let mut result = DialectResult {
        conns,
        dialect: "appwrite",
        native: Vec::new(),
        translated: Vec::new(),
    };
    for round in 0..rounds {
        eprintln!(
            "measuring sync executions, native API then appwrite, {conns} connection(s), round {}/{rounds}…",
            round + 1
        );
        result
            .native
            .push(load::load(addr, &native, conns, warmup, duration).await?);
        result
            .translated
            .push(load::load(addr, &appwrite, conns, warmup, duration).await?);
    }
    Ok(result)
}
