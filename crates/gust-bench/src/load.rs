//! The closed-loop load generator: C keep-alive HTTP/1.1 connections, each
//! sending requests back-to-back for a fixed duration after a warm-up.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HOST, HeaderName};
use http::{HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep, timeout_at};

/// How long past the end of the window an in-flight request may run before
/// it is abandoned, so a hung server cannot stall the bench.
const STRAGGLER_GRACE: Duration = Duration::from_secs(2);
/// At most this many distinct error kinds are kept; the rest are lumped.
const MAX_ERROR_KINDS: usize = 20;

/// Results of one load run. Only requests started inside the measured window
/// (after warm-up) count.
pub struct Stats {
    pub window: Duration,
    /// Successful (2xx) responses.
    pub requests: u64,
    /// Successful responses including the warm-up (what a server was asked to keep, for
    /// async submits).
    pub requests_with_warmup: u64,
    pub errors: u64,
    /// Error description → count (non-2xx statuses, transport errors).
    pub error_kinds: BTreeMap<String, u64>,
    /// CPU the server's processes used per successful request over warm-up and window, where
    /// the caller measured it.
    pub cpu_us_per_request: Option<f64>,
    /// Latencies of successful requests in µs, sorted ascending.
    latencies_us: Vec<u32>,
}

impl Stats {
    /// `requests` in one second, with no latencies and no errors, for tests.
    #[cfg(test)]
    pub fn of(requests: u64, cpu_us_per_request: Option<f64>) -> Self {
        Stats {
            window: Duration::from_secs(1),
            requests,
            requests_with_warmup: requests,
            errors: 0,
            error_kinds: BTreeMap::new(),
            cpu_us_per_request,
            latencies_us: Vec::new(),
        }
    }

    pub fn req_per_s(&self) -> f64 {
        self.requests as f64 / self.window.as_secs_f64()
    }

    /// Nearest-rank percentile, `q` in 0..=1; None if nothing succeeded.
    pub fn percentile_us(&self, q: f64) -> Option<u32> {
        let n = self.latencies_us.len();
        if n == 0 {
            return None;
        }
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        Some(self.latencies_us[rank - 1])
    }

    pub fn p50_us(&self) -> Option<u32> {
        self.percentile_us(0.50)
    }

    pub fn p99_us(&self) -> Option<u32> {
        self.percentile_us(0.99)
    }
}

#[derive(Default)]
struct Errors {
    count: u64,
    kinds: BTreeMap<String, u64>,
}

impl Errors {
    fn record(&mut self, kind: String) {
        self.add(kind, 1);
    }

    fn add(&mut self, kind: String, n: u64) {
        self.count += n;
        let key = if self.kinds.len() < MAX_ERROR_KINDS || self.kinds.contains_key(&kind) {
            kind
        } else {
            "(other errors)".to_owned()
        };
        *self.kinds.entry(key).or_default() += n;
    }

    fn merge(&mut self, other: Errors) {
        for (kind, n) in other.kinds {
            self.add(kind, n);
        }
    }
}

/// What each request of a run is: `GET path` by default; async submits add a header.
#[derive(Clone)]
pub struct RequestShape {
    pub method: Method,
    pub path: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl RequestShape {
    pub fn get(path: &str) -> Self {
        Self {
            method: Method::GET,
            path: path.to_string(),
            headers: Vec::new(),
        }
    }
}

/// Runs `conns` connections sending `shape` to `http://addr` for
/// `warmup + duration` and reports what happened in the `duration` window.
pub async fn load(
    addr: SocketAddr,
    shape: &RequestShape,
    conns: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<Stats> {
    let uri: Uri = shape.path.parse()?;
    let host = HeaderValue::from_str(&addr.to_string())?;

    // Connect everything first so connection setup is not inside the clock;
    // a failed connect is retried (and counted) by its worker.
    let mut senders = Vec::with_capacity(conns);
    for _ in 0..conns {
        senders.push(connect(addr).await.ok());
    }

    let warm_end = Instant::now() + warmup;
    let end = warm_end + duration;
    let workers: Vec<_> = senders
        .into_iter()
        .map(|sender| {
            let w = Worker {
                addr,
                shape: shape.clone(),
                uri: uri.clone(),
                host: host.clone(),
                warm_end,
                end,
            };
            tokio::spawn(w.run(sender))
        })
        .collect();

    let mut latencies_us = Vec::new();
    let mut errors = Errors::default();
    let mut requests_with_warmup = 0;
    for w in workers {
        let (lat, warm, errs) = w.await?;
        latencies_us.extend(lat);
        requests_with_warmup += warm;
        errors.merge(errs);
    }
    latencies_us.sort_unstable();
    requests_with_warmup += latencies_us.len() as u64;
    Ok(Stats {
        window: duration,
        requests: latencies_us.len() as u64,
        requests_with_warmup,
        errors: errors.count,
        error_kinds: errors.kinds,
        cpu_us_per_request: None,
        latencies_us,
    })
}

struct Worker {
    addr: SocketAddr,
    shape: RequestShape,
    uri: Uri,
    host: HeaderValue,
    warm_end: Instant,
    end: Instant,
}

impl Worker {
    /// Latencies of the measured window, successes during the warm-up, errors.
    async fn run(self, mut sender: Option<SendRequest<Empty<Bytes>>>) -> (Vec<u32>, u64, Errors) {
        let mut latencies = Vec::new();
        let mut warm_ok = 0;
        let mut errors = Errors::default();
        loop {
            let t0 = Instant::now();
            if t0 >= self.end {
                break;
            }
            let measured = t0 >= self.warm_end;
            let s = match &mut sender {
                Some(s) => s,
                None => match connect(self.addr).await {
                    Ok(s) => sender.insert(s),
                    Err(e) => {
                        if measured {
                            errors.record(format!("connect: {e:#}"));
                        }
                        // Back off so a dead server does not turn into a spin.
                        sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                },
            };
            let mut req = Request::builder()
                .method(self.shape.method.clone())
                .uri(self.uri.clone())
                .header(HOST, self.host.clone());
            for (name, value) in &self.shape.headers {
                req = req.header(name, value);
            }
            let req = req.body(Empty::new()).unwrap();
            let outcome = timeout_at(self.end + STRAGGLER_GRACE, send(s, req)).await;
            let elapsed = t0.elapsed();
            match outcome {
                Err(_) => {
                    errors.record(format!(
                        "no response within {STRAGGLER_GRACE:?} after the end"
                    ));
                    break;
                }
                Ok(Err(e)) => {
                    // The connection is unusable; reconnect on the next turn.
                    sender = None;
                    if measured {
                        errors.record(format!("{e:#}"));
                    }
                }
                Ok(Ok((status, _))) if status.is_success() => {
                    if measured {
                        latencies.push(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX));
                    } else {
                        warm_ok += 1;
                    }
                }
                Ok(Ok((status, body))) => {
                    if measured {
                        let body = String::from_utf8_lossy(&body[..body.len().min(120)]);
                        errors.record(format!("HTTP {status}: {}", body.trim()));
                    }
                }
            }
        }
        (latencies, warm_ok, errors)
    }
}

async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Empty<Bytes>>> {
    let stream = TcpStream::connect(addr).await?;
    // Without NODELAY, Nagle + delayed ACK adds ~40 ms stalls to small requests.
    stream.set_nodelay(true)?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    // Drives the connection; ends when the sender is dropped.
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// One request, reading the whole body (part of the measured latency).
async fn send(
    sender: &mut SendRequest<Empty<Bytes>>,
    req: Request<Empty<Bytes>>,
) -> anyhow::Result<(StatusCode, Bytes)> {
    sender.ready().await?;
    let resp = sender.send_request(req).await?;
    let status = resp.status();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(lat: Vec<u32>) -> Stats {
        Stats {
            window: Duration::from_secs(2),
            latencies_us: lat.clone(),
            ..Stats::of(lat.len() as u64, None)
        }
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let s = stats((1..=100).collect());
        assert_eq!(s.p50_us(), Some(50));
        assert_eq!(s.p99_us(), Some(99));
        assert_eq!(s.percentile_us(1.0), Some(100));
        assert_eq!(s.req_per_s(), 50.0);
        assert_eq!(stats(vec![]).p50_us(), None);
        assert_eq!(stats(vec![7]).p99_us(), Some(7));
    }
}
