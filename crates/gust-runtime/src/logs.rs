//! Bounded capture of a run's output ([`LogPipe`]) and the live view of it ([`LogWatch`]),
//! for following logs while the function runs.

use std::sync::{Arc, Mutex};

use bytes::Bytes;

/// Bounded capture of one output stream. Past the bound bytes are counted, not kept, and the
/// captured text says so: truncation is never silent.
#[derive(Clone)]
pub struct LogPipe {
    inner: Arc<Mutex<LogBuffer>>,
    /// Woken on every write, for followers of live logs (shared by stdout and stderr).
    changed: Arc<tokio::sync::Notify>,
}

struct LogBuffer {
    kept: Vec<u8>,
    limit: usize,
    dropped: u64,
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

    pub fn append(&self, bytes: &[u8]) {
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

/// Live view of a running function's stdout and stderr, for streaming logs while it runs.
#[derive(Clone)]
pub struct LogWatch {
    stdout: LogPipe,
    stderr: LogPipe,
}

impl LogWatch {
    pub fn new(stdout: &LogPipe, stderr: &LogPipe) -> Self {
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

    /// Wake every follower (the function has ended).
    pub fn wake(&self) {
        self.stdout.changed.notify_waiters();
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
}
