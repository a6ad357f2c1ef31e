//! The closed-loop load generator: C keep-alive HTTP/1.1 connections, each
//! sending requests back-to-back for a fixed duration after a warm-up.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::header::HeaderName;
use http::{HeaderValue, Method, Uri};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep, timeout_at};
use tokio_rustls::TlsConnector;

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

/// What each request of a run is: `GET path` by default; async submits add a header, API
/// executions a JSON body.
#[derive(Clone)]
pub struct RequestShape {
    pub method: Method,
    pub path: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
    /// The `Host` header, when not the address connected to.
    pub host: Option<String>,
}

impl RequestShape {
    pub fn get(path: &str) -> Self {
        Self {
            method: Method::GET,
            path: path.to_string(),
            headers: Vec::new(),
            body: Bytes::new(),
            host: None,
        }
    }

    /// `POST path` with a JSON body.
    pub fn post_json(path: &str, headers: Vec<(HeaderName, HeaderValue)>, body: &str) -> Self {
        let mut headers = headers;
        headers.push((
            HeaderName::from_static("content-type"),
            HeaderValue::from_static("application/json"),
        ));
        Self {
            method: Method::POST,
            path: path.to_string(),
            headers,
            body: Bytes::copy_from_slice(body.as_bytes()),
            host: None,
        }
    }

    /// The request as it goes on the wire to `addr`.
    fn encode(&self, addr: SocketAddr) -> anyhow::Result<Vec<u8>> {
        let uri: Uri = self.path.parse()?;
        let host = self.host.clone().unwrap_or_else(|| addr.to_string());
        let mut out = format!("{} {uri} HTTP/1.1\r\nhost: {host}\r\n", self.method).into_bytes();
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if self.method != Method::GET || !self.body.is_empty() {
            out.extend_from_slice(format!("content-length: {}\r\n", self.body.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        Ok(out)
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
    load_over(addr, None, shape, conns, warmup, duration).await
}

/// [`load`] over TLS when `tls` is given (the handshakes happen before the clock starts).
pub async fn load_over(
    addr: SocketAddr,
    tls: Option<TlsConnector>,
    shape: &RequestShape,
    conns: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<Stats> {
    let request = Bytes::from(shape.encode(addr)?);

    // Connect everything first so connection setup is not inside the clock;
    // a failed connect is retried (and counted) by its worker.
    let mut connections = Vec::with_capacity(conns);
    for _ in 0..conns {
        connections.push(Connection::open(addr, tls.as_ref()).await.ok());
    }

    let warm_end = Instant::now() + warmup;
    let end = warm_end + duration;
    let workers: Vec<_> = connections
        .into_iter()
        .map(|connection| {
            let w = Worker {
                addr,
                tls: tls.clone(),
                request: request.clone(),
                warm_end,
                end,
            };
            tokio::spawn(w.run(connection))
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
    tls: Option<TlsConnector>,
    /// The request, encoded once.
    request: Bytes,
    warm_end: Instant,
    end: Instant,
}

impl Worker {
    /// Latencies of the measured window, successes during the warm-up, errors.
    async fn run(self, mut connection: Option<Connection>) -> (Vec<u32>, u64, Errors) {
        let mut latencies = Vec::new();
        let mut warm_ok = 0;
        let mut errors = Errors::default();
        loop {
            let t0 = Instant::now();
            if t0 >= self.end {
                break;
            }
            let measured = t0 >= self.warm_end;
            let c = match &mut connection {
                Some(c) => c,
                None => match Connection::open(self.addr, self.tls.as_ref()).await {
                    Ok(c) => connection.insert(c),
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
            let outcome = timeout_at(self.end + STRAGGLER_GRACE, c.send(&self.request)).await;
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
                    connection = None;
                    if measured {
                        errors.record(format!("{e:#}"));
                    }
                }
                Ok(Ok(response)) => {
                    if response.close {
                        connection = None;
                    }
                    if !(200..300).contains(&response.status) {
                        if measured {
                            let body = String::from_utf8_lossy(&response.body_start);
                            errors.record(format!("HTTP {}: {}", response.status, body.trim()));
                        }
                    } else if measured {
                        latencies.push(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX));
                    } else {
                        warm_ok += 1;
                    }
                }
            }
        }
        (latencies, warm_ok, errors)
    }
}

/// What the load needs of a response.
struct Response {
    status: u16,
    /// The start of the body (what an error report shows).
    body_start: Vec<u8>,
    /// The server closes the connection after it.
    close: bool,
}

/// One keep-alive HTTP/1.1 connection, driven by its worker's task alone: the request is
/// written from bytes encoded once and the response parsed in place, so the client spends
/// as little of the machine's CPU as it can, the machine the servers it measures share.
struct Connection {
    stream: Box<dyn Stream>,
    buf: Vec<u8>,
}

/// A connection's bytes: plain TCP, or TLS over it.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<S: AsyncRead + AsyncWrite + Unpin + Send> Stream for S {}

impl Connection {
    async fn open(addr: SocketAddr, tls: Option<&TlsConnector>) -> anyhow::Result<Self> {
        let tcp = TcpStream::connect(addr).await?;
        // Without NODELAY, Nagle + delayed ACK adds ~40 ms stalls to small requests.
        tcp.set_nodelay(true)?;
        let stream: Box<dyn Stream> = match tls {
            None => Box::new(tcp),
            Some(connector) => {
                let name = rustls_pki_types::ServerName::IpAddress(addr.ip().into());
                Box::new(connector.connect(name, tcp).await?)
            }
        };
        Ok(Self {
            stream,
            buf: Vec::with_capacity(READ_BUFFER),
        })
    }

    /// One request, reading the whole response (part of the measured latency).
    async fn send(&mut self, request: &[u8]) -> anyhow::Result<Response> {
        self.stream.write_all(request).await?;
        // Whatever is left of a previous response is an error here, as it should be: each
        // response is consumed to its exact end.
        let (head_len, status, framing, close) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut head = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(len) = head.parse(&self.buf)? {
                let status = head.code.unwrap_or(0);
                let (framing, close) = framing(status, head.headers)?;
                break (len, status, framing, close);
            }
            self.fill().await?;
        };
        let end = match framing {
            Framing::Length(n) => {
                while self.buf.len() < head_len + n {
                    self.fill().await?;
                }
                head_len + n
            }
            Framing::Chunked => self.read_chunks(head_len).await?,
            Framing::UntilClose => loop {
                if self.stream.read_buf(&mut self.buf).await? == 0 {
                    break self.buf.len();
                }
            },
        };
        let response = Response {
            status,
            // Copied only for an error: a success's body is never shown.
            body_start: if (200..300).contains(&status) {
                Vec::new()
            } else {
                self.buf[head_len..end.min(head_len + 120)].to_vec()
            },
            close: close || matches!(framing, Framing::UntilClose),
        };
        self.buf.drain(..end);
        Ok(response)
    }

    /// Reads the chunks of a chunked body that starts at `at`, to its last chunk and trailers;
    /// returns where the body ends.
    async fn read_chunks(&mut self, mut at: usize) -> anyhow::Result<usize> {
        loop {
            match httparse::parse_chunk_size(&self.buf[at..])
                .map_err(|_| anyhow::anyhow!("invalid chunk size"))?
            {
                httparse::Status::Complete((len, 0)) => {
                    at += len;
                    // Trailers, if any, then the empty line.
                    loop {
                        if let Some(end) = find_crlf(&self.buf[at..]) {
                            if end == 0 {
                                return Ok(at + 2);
                            }
                            at += end + 2;
                        } else {
                            self.fill().await?;
                        }
                    }
                }
                httparse::Status::Complete((len, size)) => {
                    let size = usize::try_from(size)?;
                    at += len + size + 2;
                    while self.buf.len() < at {
                        self.fill().await?;
                    }
                }
                httparse::Status::Partial => self.fill().await?,
            }
        }
    }

    /// Reads more of the response; the server closing the connection is an error here.
    async fn fill(&mut self) -> anyhow::Result<()> {
        if self.buf.capacity() - self.buf.len() < READ_BUFFER / 4 {
            self.buf.reserve(READ_BUFFER);
        }
        if self.stream.read_buf(&mut self.buf).await? == 0 {
            anyhow::bail!("connection closed before the response ended");
        }
        Ok(())
    }
}

/// How a response's body ends.
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// The body's framing and whether the server closes the connection after this response.
fn framing(status: u16, headers: &[httparse::Header<'_>]) -> anyhow::Result<(Framing, bool)> {
    let mut framing = None;
    let mut close = false;
    for h in headers {
        if h.name.eq_ignore_ascii_case("content-length") && framing.is_none() {
            let n = std::str::from_utf8(h.value)?.trim().parse()?;
            framing = Some(Framing::Length(n));
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            framing = Some(Framing::Chunked);
        } else if h.name.eq_ignore_ascii_case("connection") {
            close = h.value.eq_ignore_ascii_case(b"close");
        }
    }
    if status == 204 || status == 304 || (100..200).contains(&status) {
        return Ok((Framing::Length(0), close));
    }
    Ok((framing.unwrap_or(Framing::UntilClose), close))
}

fn find_crlf(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|w| w == b"\r\n")
}

/// Room for a response head and a small body; larger bodies grow it.
const READ_BUFFER: usize = 8 * 1024;

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

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

    /// A server on 127.0.0.1 that answers every request with `response`, closing the
    /// connection after it when it says so. Returns its address and the requests it read.
    async fn canned(response: &'static [u8]) -> (SocketAddr, Arc<AtomicU64>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let served = Arc::new(AtomicU64::new(0));
        let count = served.clone();
        let closes = String::from_utf8_lossy(response).contains("connection: close");
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let count = count.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    loop {
                        while find_head_end(&buf).is_none() {
                            if stream.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                                return;
                            }
                        }
                        let end = find_head_end(&buf).unwrap();
                        buf.drain(..end);
                        count.fetch_add(1, Ordering::Relaxed);
                        // Written in two parts, so the client must read across them.
                        let (a, b) = response.split_at(response.len() / 2);
                        if stream.write_all(a).await.is_err() {
                            return;
                        }
                        tokio::task::yield_now().await;
                        if stream.write_all(b).await.is_err() || closes {
                            return;
                        }
                    }
                });
            }
        });
        (addr, served)
    }

    fn find_head_end(buf: &[u8]) -> Option<usize> {
        buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
    }

    async fn run(response: &'static [u8]) -> (Stats, u64) {
        let (addr, served) = canned(response).await;
        let stats = load(
            addr,
            &RequestShape::get("/x"),
            2,
            Duration::from_millis(50),
            Duration::from_millis(300),
        )
        .await
        .unwrap();
        (stats, served.load(Ordering::Relaxed))
    }

    #[tokio::test]
    async fn responses_framed_by_length_or_chunks_are_read_to_their_end() {
        for response in [
            &b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"[..],
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhe\r\n3;x=y\r\nllo\r\n0\r\ntrailer: t\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\n\r\n",
        ] {
            let (stats, served) = run(response).await;
            assert_eq!(stats.errors, 0, "{:?}", stats.error_kinds);
            // Several responses per connection (2 connections), however slow the machine.
            assert!(stats.requests >= 4, "{} requests", stats.requests);
            // Every response was read whole: a request written while a response is still
            // being read would be answered twice as often as it was counted.
            assert!(served >= stats.requests_with_warmup);
            assert!(served <= stats.requests_with_warmup + 2);
        }
    }

    #[tokio::test]
    async fn a_server_that_closes_after_each_response_is_reconnected_to() {
        let (stats, served) = run(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nbye").await;
        assert_eq!(stats.errors, 0, "{:?}", stats.error_kinds);
        assert!(stats.requests > 10, "{} requests", stats.requests);
        assert!(served >= stats.requests_with_warmup);
    }

    #[tokio::test]
    async fn error_statuses_count_as_errors_with_the_start_of_their_body() {
        let (stats, _) =
            run(b"HTTP/1.1 429 Too Many Requests\r\ncontent-length: 4\r\n\r\nbusy").await;
        assert_eq!(stats.requests, 0);
        assert!(stats.errors > 10);
        assert_eq!(
            stats.error_kinds.keys().collect::<Vec<_>>(),
            ["HTTP 429: busy"]
        );
    }
}
