//! Bringing a worker up: spawn the sandboxed process, wait for its `hello` ([`Fresh`]: what a
//! stem cell is while it waits), then `load` the function's handler and wait for `loaded`.

use std::time::Duration;

use gust_sandbox::{Sandbox, SandboxSpec, Spawner};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::net::unix::pipe;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

use crate::protocol::{FrameReader, Kind, PROTOCOL_VERSION, WorkerMessage, encode};

/// A sandboxed process that has said hello and waits for `load`.
pub struct Fresh {
    pub sandbox: Sandbox,
    pub reader: FrameReader<OwnedReadHalf>,
    pub writer: OwnedWriteHalf,
    pub stdout: pipe::Receiver,
    pub stderr: pipe::Receiver,
    /// Time the sandbox took until the process exec'd, µs.
    pub sandbox_us: u64,
    /// Interpreter start until hello, µs (as the worker measured it, when it did).
    pub interpreter_us: u64,
}

impl Fresh {
    /// Spawns `spec` and waits up to `timeout` for its hello.
    pub async fn spawn(
        spawner: &Spawner,
        spec: &SandboxSpec,
        timeout: Duration,
    ) -> Result<Fresh, String> {
        let started_ns = gust_sandbox::monotonic_ns();
        let mut sandbox = spawner
            .spawn(spec)
            .await
            .map_err(|e| format!("the sandbox refused to start: {e}"))?;
        let io = sandbox.take_io().ok_or("the sandbox has no descriptors")?;
        let channel = std::os::unix::net::UnixStream::from(io.channel);
        channel
            .set_nonblocking(true)
            .map_err(|e| format!("worker socket: {e}"))?;
        let channel = UnixStream::from_std(channel).map_err(|e| format!("worker socket: {e}"))?;
        let (read, writer) = channel.into_split();
        let stdout = pipe::Receiver::from_owned_fd(io.stdout).map_err(|e| e.to_string())?;
        let stderr = pipe::Receiver::from_owned_fd(io.stderr).map_err(|e| e.to_string())?;
        let mut fresh = Fresh {
            sandbox,
            reader: FrameReader::new(read),
            writer,
            stdout,
            stderr,
            sandbox_us: 0,
            interpreter_us: 0,
        };
        let hello = match tokio::time::timeout(timeout, fresh.reader.next()).await {
            Ok(Ok(Some((hello, _)))) if hello.kind == Kind::Hello => hello,
            Ok(Ok(Some((other, _)))) => {
                return Err(format!(
                    "the worker's first message was `{}`, not hello",
                    other.kind
                ));
            }
            Ok(Ok(None)) | Ok(Err(_)) => return Err(fresh.why_it_ended("at start").await),
            Err(_) => return Err(format!("the worker did not say hello within {timeout:?}")),
        };
        if hello.protocol.is_some_and(|p| p != PROTOCOL_VERSION) {
            return Err(format!(
                "the worker speaks protocol {:?}; this server speaks {PROTOCOL_VERSION}",
                hello.protocol
            ));
        }
        let elapsed_us = (gust_sandbox::monotonic_ns() - started_ns) / 1000;
        let exec_ns = match &hello.exec_ns {
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(serde_json::Value::String(s)) => s.parse().ok(),
            _ => None,
        };
        // With the exec time echoed, the split is the host's own clock: sandbox until exec,
        // interpreter from exec until the hello arrived. Else trust the worker's figure.
        fresh.interpreter_us = match exec_ns.filter(|ns| *ns >= started_ns) {
            Some(ns) => elapsed_us.saturating_sub((ns - started_ns) / 1000),
            None => hello.interpreter_us.unwrap_or(0).min(elapsed_us),
        };
        fresh.sandbox_us = elapsed_us - fresh.interpreter_us;
        Ok(fresh)
    }

    /// Sends `load` and waits for `loaded`; returns the import time in µs.
    pub async fn load(
        &mut self,
        load: &crate::protocol::Load<'_>,
        timeout: Duration,
    ) -> Result<u64, String> {
        if let Err(e) = self.writer.write_all(&encode(load)).await {
            return Err(format!(
                "sending load: {e}; {}",
                self.why_it_ended("while loading").await
            ));
        }
        match tokio::time::timeout(timeout, self.reader.next()).await {
            Ok(Ok(Some((loaded, _)))) if loaded.kind == Kind::Loaded => {
                Ok(loaded.import_us.unwrap_or(0))
            }
            Ok(Ok(Some((
                WorkerMessage {
                    kind: Kind::Error,
                    message,
                    ..
                },
                body,
            )))) => {
                let detail = message.unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
                Err(format!(
                    "the handler could not be loaded:\n{}",
                    detail.trim_end()
                ))
            }
            Ok(Ok(Some((other, _)))) => {
                Err(format!("the worker answered load with `{}`", other.kind))
            }
            Ok(Ok(None)) | Ok(Err(_)) => Err(self.why_it_ended("while loading the handler").await),
            Err(_) => Err(format!("the handler did not load within {timeout:?}")),
        }
    }

    /// The exit status and the last of stderr, for a worker that ended before serving.
    async fn why_it_ended(&mut self, when: &str) -> String {
        let mut stderr = Vec::new();
        let mut stdout = Vec::new();
        let mut err_pipe = (&mut self.stderr).take(64 * 1024);
        let mut out_pipe = (&mut self.stdout).take(64 * 1024);
        let drain = async {
            let _ = tokio::join!(
                err_pipe.read_to_end(&mut stderr),
                out_pipe.read_to_end(&mut stdout)
            );
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
        let exit = tokio::time::timeout(Duration::from_secs(2), self.sandbox.wait()).await;
        let exit = match exit {
            Ok(exit) => exit.to_string(),
            Err(_) => "closed its socket".to_string(),
        };
        let mut message = format!("the worker {exit} {when}");
        for output in [stdout, stderr] {
            let text = String::from_utf8_lossy(&output);
            let text = text.trim();
            if !text.is_empty() {
                message.push_str(":\n");
                message.push_str(text);
            }
        }
        message
    }
}
