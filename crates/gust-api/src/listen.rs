//! The accept loop: TCP connections, TLS on them when configured, each served by hyper's
//! HTTP/1 with Gust's limits. A hostile client gets its own connections refused or timed out;
//! everyone else is served meanwhile.
//!
//! Limits, each a setting of `gust serve`:
//! - connections open at once, over the whole server and from one address (a new one past
//!   either is closed at once);
//! - the time to send a request's head (slowloris), and a TLS handshake's;
//! - header count and header bytes (hyper answers 431 past them);
//! - request bodies: per route (the API's JSON routes take `DefaultBodyLimit`'s 2 MiB, uploads
//!   and invocations their own settings), and JSON nesting (serde_json stops at 128 levels).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::extract::ConnectInfo;
use gust_engine::invoke::Transport;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::rustls;

/// Bounds on what one connection, and one address, may hold of the server.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections open at once, over the whole server.
    pub max_connections: usize,
    /// Connections open at once from one IP address.
    pub max_connections_per_ip: usize,
    /// Time to send a request's whole head, and to finish a TLS handshake.
    pub header_read_timeout: Duration,
    /// Headers in one request.
    pub max_headers: usize,
    /// Bytes of one request's head (request line and headers).
    pub max_header_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            max_connections_per_ip: 1_000,
            header_read_timeout: Duration::from_secs(10),
            max_headers: 100,
            max_header_bytes: 64 * 1024,
        }
    }
}

/// The certificate and key files HTTPS is served with, and the configuration they make now.
/// [`Tls::reload`] reads the files again: new handshakes use the new certificate, open
/// connections keep theirs.
pub struct Tls {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<rustls::ServerConfig>>,
}

impl Tls {
    pub fn load(cert: PathBuf, key: PathBuf) -> Result<Arc<Self>, String> {
        let config = server_config(&cert, &key)?;
        Ok(Arc::new(Self {
            cert,
            key,
            current: RwLock::new(config),
        }))
    }

    /// Read the files again; on an error the configuration in use stays.
    pub fn reload(&self) -> Result<(), String> {
        let config = server_config(&self.cert, &self.key)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = config;
        Ok(())
    }

    fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

fn server_config(cert: &PathBuf, key: &PathBuf) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("reading the TLS certificate {}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("reading the TLS certificate {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "the TLS certificate file {} holds no certificate",
            cert.display()
        ));
    }
    let private = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("reading the TLS key {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| format!("the TLS certificate and key do not go together: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Connections open now, in all and per address.
pub(crate) struct Occupancy {
    limits: Limits,
    total: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

/// One admitted connection's place; given back when dropped.
struct Seat {
    occupancy: Arc<Occupancy>,
    ip: IpAddr,
}

impl Occupancy {
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Seat> {
        let mut per_ip = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        let mine = per_ip.entry(ip).or_insert(0);
        if *mine >= self.limits.max_connections_per_ip
            || self.total.load(Ordering::Relaxed) >= self.limits.max_connections
        {
            if *mine == 0 {
                per_ip.remove(&ip);
            }
            return None;
        }
        *mine += 1;
        self.total.fetch_add(1, Ordering::Relaxed);
        Some(Seat {
            occupancy: self.clone(),
            ip,
        })
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        let mut per_ip = self
            .occupancy
            .per_ip
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                per_ip.remove(&self.ip);
            }
        }
        self.occupancy.total.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What every connection is served with: the server's whole service, cloned per request.
pub(crate) trait Service:
    tower::Service<
        axum::extract::Request,
        Response = axum::response::Response,
        Error = Infallible,
        Future: Send,
    > + Clone
    + Send
    + 'static
{
}

impl<S> Service for S where
    S: tower::Service<
            axum::extract::Request,
            Response = axum::response::Response,
            Error = Infallible,
            Future: Send,
        > + Clone
        + Send
        + 'static
{
}

/// One listener of the server: what it speaks, and where HTTPS is when it is plain.
pub struct Listener {
    pub tcp: TcpListener,
    pub tls: Option<Arc<Tls>>,
    /// For a plain listener beside an HTTPS one: the HTTPS port, where `http_option:
    /// redirected` functions send their callers.
    pub https_port: Option<u16>,
}

/// Accept on `listener` until `stop` fires, serving each connection with `service` under
/// `limits`; then wait for the connections' requests in flight (each connection closes after
/// its current request).
pub(crate) async fn accept_loop<S>(
    listener: Listener,
    service: S,
    limits: Limits,
    occupancy: Arc<Occupancy>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) where
    S: Service,
{
    let graceful = GracefulShutdown::new();
    let transport = match (&listener.tls, listener.https_port) {
        (Some(_), _) => Transport::Tls,
        (None, https_port) => Transport::Plain { https_port },
    };
    loop {
        let accepted = tokio::select! {
            accepted = listener.tcp.accept() => accepted,
            _ = stop.wait_for(|stop| *stop) => break,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait a moment rather than spin.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(seat) = occupancy.admit(peer.ip()) else {
            tracing::debug!(%peer, "connection refused: too many open");
            continue;
        };
        // Small responses must not wait for Nagle's algorithm.
        let _ = tcp.set_nodelay(true);
        let service = service.clone();
        let limits = limits.clone();
        let tls = listener.tls.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _seat = seat;
            match tls {
                None => serve_connection(tcp, peer, transport, service, &limits, watcher).await,
                Some(tls) => {
                    let handshake = tls.acceptor().accept(tcp);
                    match tokio::time::timeout(limits.header_read_timeout, handshake).await {
                        Ok(Ok(stream)) => {
                            serve_connection(stream, peer, transport, service, &limits, watcher)
                                .await
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

async fn serve_connection<I, S>(
    stream: I,
    peer: SocketAddr,
    transport: Transport,
    service: S,
    limits: &Limits,
    watcher: hyper_util::server::graceful::Watcher,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service,
{
    let hyper_service =
        hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let mut request = request.map(axum::body::Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            request.extensions_mut().insert(transport);
            tower::ServiceExt::oneshot(service.clone(), request)
        });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_headers(limits.max_headers)
        .max_buf_size(limits.max_header_bytes.max(8192));
    let connection = http.serve_connection(TokioIo::new(stream), hyper_service);
    if let Err(e) = watcher.watch(connection).await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// The occupancy shared by every listener of one server.
pub(crate) fn occupancy(limits: &Limits) -> Arc<Occupancy> {
    Arc::new(Occupancy {
        limits: limits.clone(),
        total: AtomicUsize::new(0),
        per_ip: Mutex::new(HashMap::new()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seats_are_counted_per_address_and_given_back() {
        let occupancy = occupancy(&Limits {
            max_connections: 3,
            max_connections_per_ip: 2,
            ..Limits::default()
        });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = occupancy.admit(a).unwrap();
        let _second = occupancy.admit(a).unwrap();
        assert!(occupancy.admit(a).is_none(), "a third from one address");
        let _other = occupancy.admit(b).unwrap();
        assert!(occupancy.admit(b).is_none(), "past the server's limit");
        drop(first);
        assert!(
            occupancy.admit(a).is_some(),
            "a seat given back is free again"
        );
        assert!(occupancy.per_ip.lock().unwrap().len() <= 2);
    }
}
