//! Per-request state inside a wasmtime `Store`: the WASI and wasi:http contexts, the memory
//! limiter, and the guest's stdout and stderr as WASI streams.

use bytes::Bytes;
use gust_runtime::LogPipe;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::{
    RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView,
};

/// Store data for one request.
pub(crate) struct GuestState {
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub table: ResourceTable,
    pub limiter: MemoryLimiter,
    pub outgoing: OutgoingHttp,
    /// Set by the epoch callback when the deadline passed, so a trap can be told apart from a timeout.
    pub timed_out: bool,
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for GuestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outgoing,
        }
    }
}

/// Whether a guest's outgoing HTTP requests leave: the function's `network` setting. Without
/// it, every request is denied before any connection is made (`HTTP-request-denied`).
pub(crate) struct OutgoingHttp {
    pub allowed: bool,
}

/// What sending an outgoing request gives back: the response, and the connection's own work.
type Sent = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<WasiBody>,
                Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for OutgoingHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Sent {
        if self.allowed {
            let mut sender: [(); 0] = [];
            return sender.send_request(request, options, fut);
        }
        Box::new(async { Err(ErrorCode::HttpRequestDenied.into()) })
    }
}

/// Caps the linear memory of all of an instance's memories together at the function's `memory_mb`.
pub(crate) struct MemoryLimiter {
    pub limit: usize,
    pub used: usize,
    /// The guest asked for more than its limit at least once (with how much it asked for).
    pub refused: Option<usize>,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let next = self.used - current.min(self.used) + desired;
        if next > self.limit {
            self.refused = Some(next);
            return Ok(false);
        }
        self.used = next;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables hold function references; a million is far beyond any real program.
        Ok(desired <= 1_000_000)
    }
}

/// A guest's stdout or stderr: the run's bounded pipe, as WASI streams.
#[derive(Clone)]
pub(crate) struct GuestPipe(pub LogPipe);

impl IsTerminal for GuestPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for GuestPipe {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.0.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        // Always accept: past the bound we count and drop, so a chatty guest never blocks or traps.
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestPipe {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for GuestPipe {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.0.append(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_counts_all_memories() {
        let mut limiter = MemoryLimiter {
            limit: 100,
            used: 0,
            refused: None,
        };
        assert!(limiter.memory_growing(0, 60, None).unwrap());
        assert!(!limiter.memory_growing(0, 60, None).unwrap());
        assert_eq!(limiter.refused, Some(120));
        assert!(limiter.memory_growing(60, 90, None).unwrap());
    }
}
