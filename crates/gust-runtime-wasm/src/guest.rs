//! Per-request state inside a wasmtime `Store`: the WASI and wasi:http contexts, the memory
//! limiter, and the pipes that capture the guest's stdout and stderr.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Store data for one request.
pub(crate) struct GuestState {
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub table: ResourceTable,
    pub limiter: MemoryLimiter,
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
            hooks: Default::default(),
        }
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

/// Bounded capture of one output stream. Past the bound bytes are counted, not kept, and the
/// captured text says so: truncation is never silent.
#[derive(Clone)]
pub(crate) struct LogPipe {
    inner: Arc<Mutex<LogBuffer>>,
    /// Woken on every write, for followers of live logs (shared by stdout and stderr).
    changed: Arc<tokio::sync::Notify>,
}

/// Live view of a running guest's stdout and stderr, for streaming logs while it runs.
#[derive(Clone)]
pub struct LogWatch {
    stdout: LogPipe,
    stderr: LogPipe,
}

impl LogWatch {
    pub(crate) fn new(stdout: &LogPipe, stderr: &LogPipe) -> Self {
        Self {
            stdout: stdout.clone(),
            stderr: stderr.clone(),
        }
    }

    /// What was kept past `from` (byte offsets into stdout and stderr).
    pub fn read_from(&self, from: (usize, usize)) -> (Bytes, Bytes) {
        (self.stdout.kept_from(from.0), self.stderr.kept_from(from.1))
    }

    /// Resolves at the next write. Create it before reading, so no write is missed between.
    pub fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.stdout.changed.notified()
    }

    /// Wake every follower (the guest has ended).
    pub fn wake(&self) {
        self.stdout.changed.notify_waiters();
    }
}

struct LogBuffer {
    kept: Vec<u8>,
    limit: usize,
    dropped: u64,
}

/// What a guest printed.
#[derive(Debug, Clone, Default)]
pub struct CapturedLogs {
    pub stdout: String,
    pub stderr: String,
    pub truncated: bool,
}

impl LogPipe {
    pub fn new(limit: usize, changed: Arc<tokio::sync::Notify>) -> Self {
        Self {
            inner: Arc::new(Mutex::new(LogBuffer {
                kept: Vec::new(),
                limit,
                dropped: 0,
            })),
            changed,
        }
    }

    fn append(&self, bytes: &[u8]) {
        {
            let mut buf = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            let room = buf.limit.saturating_sub(buf.kept.len());
            let take = room.min(bytes.len());
            buf.kept.extend_from_slice(&bytes[..take]);
            buf.dropped += (bytes.len() - take) as u64;
        }
        self.changed.notify_waiters();
    }

    fn kept_from(&self, from: usize) -> Bytes {
        let buf = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        buf.kept
            .get(from..)
            .map(Bytes::copy_from_slice)
            .unwrap_or_default()
    }

    /// The captured text and whether anything was dropped.
    pub fn take(&self) -> (String, bool) {
        let buf = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut text = String::from_utf8_lossy(&buf.kept).into_owned();
        if buf.dropped > 0 {
            if !text.ends_with('\n') && !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&format!(
                "[gust: output truncated, {} more bytes dropped]\n",
                buf.dropped
            ));
        }
        (text, buf.dropped > 0)
    }
}

impl IsTerminal for LogPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for LogPipe {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.append(&bytes);
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
impl Pollable for LogPipe {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for LogPipe {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.append(buf);
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
    fn log_pipe_marks_truncation() {
        let pipe = LogPipe::new(8, Default::default());
        pipe.append(b"hello ");
        pipe.append(b"world\n");
        let (text, truncated) = pipe.take();
        assert!(truncated);
        assert_eq!(
            text,
            "hello wo\n[gust: output truncated, 4 more bytes dropped]\n"
        );
    }

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
