//! The dialects' part of the run, each a pair of request shapes measured on one server window
//! after window in turn: the same synchronous execution of the hello function asked for
//! through the native executions API and through Appwrite's dialect, and the hello function
//! invoked through its domain name (Scaleway's way) and through an edge application's rule
//! (Azion's way) against its `/fn/` path. A dialect only
//! translates, so its rate should be close to the native one; the median of the rounds'
//! ratios is reported.

use std::net::SocketAddr;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use serde_json::{Value, json};

use crate::load::{self, RequestShape, Stats};

/// One dialect measured against the native API, round by round.
pub struct DialectResult {
    pub conns: usize,
    pub dialect: &'static str,
    /// What was compared, for the report's line.
    pub what: &'static str,
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
            "{}, {} conns: {:.0} vs {:.0} req/s (medians); ratio {} (median of rounds {})",
            self.what,
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

/// The windows of each round.
pub struct Windows {
    pub conns: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub rounds: usize,
}

fn header(name: &'static str, value: &str) -> anyhow::Result<(HeaderName, HeaderValue)> {
    Ok((HeaderName::from_static(name), HeaderValue::from_str(value)?))
}

/// Alternate native and Appwrite executions of `function`.
pub async fn appwrite(
    addr: SocketAddr,
    token: &str,
    function: &str,
    windows: &Windows,
) -> anyhow::Result<DialectResult> {
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
    let what = "sync execution via appwrite vs the native API";
    measure(addr, "appwrite", what, &native, &appwrite, windows).await
}

/// Alternate native and Qinling sync executions of the function `function_id`, with the same
/// input.
pub async fn qinling(
    addr: SocketAddr,
    token: &str,
    function_id: &str,
    windows: &Windows,
) -> anyhow::Result<DialectResult> {
    let native = RequestShape::post_json(
        &format!("/api/v1/namespaces/default/functions/{function_id}/executions"),
        vec![header("authorization", &format!("Bearer {token}"))?],
        r#"{"body":"{}"}"#,
    );
    let qinling = RequestShape::post_json(
        "/compat/qinling/v1/executions",
        vec![header("x-auth-token", token)?],
        &format!(r#"{{"function_id":"{function_id}","input":"{{}}","sync":true}}"#),
    );
    let what = "sync execution via qinling vs the native API";
    measure(addr, "qinling", what, &native, &qinling, windows).await
}

/// Alternate `GET /fn/default/{function}/` and `GET /` with `Host: {domain}`.
pub async fn domain(
    addr: SocketAddr,
    domain: &str,
    function: &str,
    windows: &Windows,
) -> anyhow::Result<DialectResult> {
    let native = RequestShape::get(&crate::gust::function_path(function));
    let by_host = RequestShape {
        host: Some(domain.to_owned()),
        ..RequestShape::get("/")
    };
    let what = "invocation via its domain name (scaleway) vs /fn/";
    measure(addr, "domain_name", what, &native, &by_host, windows).await
}

/// Alternate `GET /fn/default/{function}/` and `GET /edge/{app}/`, the application's rule
/// running an instance of the same function: what rule evaluation and the instance's args
/// cost on top of the function's own path.
pub async fn edge(
    addr: SocketAddr,
    app: u64,
    function: &str,
    windows: &Windows,
) -> anyhow::Result<DialectResult> {
    let native = RequestShape::get(&crate::gust::function_path(function));
    let edge = RequestShape::get(&format!("/edge/{app}/"));
    let what = "invocation via an edge application rule (azion) vs /fn/";
    measure(addr, "edge_application", what, &native, &edge, windows).await
}

/// Alternate `GET /fn/default/{function}/` over HTTPS (`tls_addr`) and plain HTTP (`addr`) on
/// one server: what TLS costs a request.
pub async fn https(
    addr: SocketAddr,
    tls_addr: SocketAddr,
    tls: tokio_rustls::TlsConnector,
    function: &str,
    windows: &Windows,
) -> anyhow::Result<DialectResult> {
    let shape = RequestShape::get(&crate::gust::function_path(function));
    let what = "invocation over HTTPS vs plain HTTP";
    let mut result = DialectResult {
        conns: windows.conns,
        dialect: "https",
        what,
        native: Vec::new(),
        translated: Vec::new(),
    };
    for round in 0..windows.rounds {
        eprintln!(
            "measuring {what}, {} connection(s), round {}/{}…",
            windows.conns,
            round + 1,
            windows.rounds
        );
        result.native.push(
            load::load(
                addr,
                &shape,
                windows.conns,
                windows.warmup,
                windows.duration,
            )
            .await?,
        );
        result.translated.push(
            load::load_over(
                tls_addr,
                Some(tls.clone()),
                &shape,
                windows.conns,
                windows.warmup,
                windows.duration,
            )
            .await?,
        );
    }
    Ok(result)
}

/// `rounds` pairs of windows: the native shape, then the translated one.
async fn measure(
    addr: SocketAddr,
    dialect: &'static str,
    what: &'static str,
    native: &RequestShape,
    translated: &RequestShape,
    windows: &Windows,
) -> anyhow::Result<DialectResult> {
    let Windows {
        conns,
        warmup,
        duration,
        rounds,
    } = *windows;
    let mut result = DialectResult {
        conns,
        dialect,
        what,
        native: Vec::new(),
        translated: Vec::new(),
    };
    for round in 0..rounds {
        eprintln!(
            "measuring {what}, {conns} connection(s), round {}/{rounds}…",
            round + 1
        );
        result
            .native
            .push(load::load(addr, native, conns, warmup, duration).await?);
        result
            .translated
            .push(load::load(addr, translated, conns, warmup, duration).await?);
    }
    Ok(result)
}
