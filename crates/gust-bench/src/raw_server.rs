//! The baseline: a minimal raw hyper 1 HTTP/1.1 server, run as the hidden
//! `raw-server` subcommand of this same binary so it lives in its own process
//! (like Gust) and does not share a runtime with the load generator.

use std::convert::Infallible;
use std::io::Write;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

/// The exact bytes the Gust hello function answers `GET /` with, so both
/// targets move the same payload.
pub const BODY: &[u8] = b"hello from gust\nmethod: GET\npath: /\n";

/// Serves until SIGTERM, or until stdin closes (the parent bench died).
pub async fn run() -> anyhow::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    {
        // The parent reads this first line to learn the port.
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{addr}")?;
        out.flush()?;
    }

    // A plain thread, not tokio's stdin: tokio's blocking read would stall
    // runtime shutdown. Exiting on EOF avoids orphans if the parent is killed.
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });

    let mut term = signal(SignalKind::terminate())?;
    loop {
        tokio::select! {
            _ = term.recv() => return Ok(()),
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        eprintln!("raw-server: accept: {e}");
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                tokio::spawn(async move {
                    let _ = http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service_fn(hello))
                        .await;
                });
            }
        }
    }
}

async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::builder()
        .header(CONTENT_TYPE, "text/plain")
        .body(Full::new(Bytes::from_static(BODY)))
        .unwrap())
}
