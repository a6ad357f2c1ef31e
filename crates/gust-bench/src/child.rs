//! Server child processes (the raw baseline, Gust): spawning, learning their
//! address from the `listening on http://ADDR` stdout line, and shutting them
//! down cleanly.

use std::net::SocketAddr;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::timeout;

/// How long a server may take to print its listening line.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a server may take to exit after SIGTERM before it is killed.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

pub struct ServerProcess {
    pub name: String,
    /// Where it serves plain HTTP.
    pub addr: SocketAddr,
    /// Where it serves HTTPS, when it does (then `addr` is its plain listener beside).
    pub tls_addr: Option<SocketAddr>,
    child: Child,
    /// Its pid, as the scratch dir's cleanup knows it.
    watched: Option<u32>,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(pid) = self.watched {
            gust_test_tools::scratch::unwatch_process(pid);
        }
    }
}

/// Spawns `cmd` and waits for its `listening on http://ADDR` line; lines
/// before it (e.g. Gust's admin token notice) are skipped.
pub async fn spawn(name: &str, mut cmd: Command) -> anyhow::Result<ServerProcess> {
    // kill_on_drop is the safety net for panics and early returns.
    cmd.stdout(Stdio::piped()).kill_on_drop(true);
    let mut child = cmd.spawn().with_context(|| format!("spawning {name}"))?;
    // Stopped before the bench's scratch dir goes, should the bench be interrupted.
    let watched = child.id();
    if let Some(pid) = watched {
        gust_test_tools::scratch::watch_process(pid);
    }
    let stdout = child.stdout.take().context("child stdout")?;
    let mut lines = BufReader::new(stdout).lines();

    // A server with TLS names its HTTPS address first, then its plain one.
    let addrs = timeout(STARTUP_TIMEOUT, async {
        let mut tls_addr = None;
        while let Some(line) = lines.next_line().await? {
            if let Some(rest) = line.strip_prefix("listening on https://") {
                tls_addr = Some(parse_addr(rest)?);
            } else if let Some(rest) = line.strip_prefix("listening on ") {
                return Ok((parse_addr(rest)?, tls_addr));
            }
        }
        bail!("stdout closed before a `listening on http://` line")
    })
    .await
    .with_context(|| format!("{name} did not report its address within {STARTUP_TIMEOUT:?}"))?;
    let (addr, tls_addr) = match addrs {
        Ok(addrs) => addrs,
        Err(e) => {
            // Stdout closing usually means it exited; reap it for the status.
            let status = match timeout(Duration::from_secs(2), child.wait()).await {
                Ok(Ok(status)) => status.to_string(),
                _ => "still running".to_owned(),
            };
            return Err(e.context(format!("{name} failed to start ({status})")));
        }
    };

    // Keep draining stdout: a closed pipe would make the server's later
    // writes fail (and Rust's println! panic on them).
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    Ok(ServerProcess {
        name: name.to_owned(),
        addr,
        tls_addr,
        child,
        watched,
    })
}

fn parse_addr(s: &str) -> anyhow::Result<SocketAddr> {
    let s = s.trim();
    let s = s.strip_prefix("http://").unwrap_or(s);
    let s = s.split(['/', ' ']).next().unwrap_or(s);
    s.parse()
        .with_context(|| format!("bad address in listening line: {s:?}"))
}

impl ServerProcess {
    /// The server's pid, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Fails if the process has already exited (used while polling it).
    pub fn ensure_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("{} exited unexpectedly ({status})", self.name);
        }
        Ok(())
    }

    /// SIGTERM for a graceful exit, SIGKILL if it takes too long. Uses the
    /// `kill` command because the workspace forbids unsafe (no libc::kill).
    pub async fn shutdown(mut self) -> anyhow::Result<ExitStatus> {
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status()
                .await;
        }
        match timeout(SHUTDOWN_TIMEOUT, self.child.wait()).await {
            Ok(status) => Ok(status?),
            Err(_) => {
                eprintln!(
                    "{} ignored SIGTERM for {SHUTDOWN_TIMEOUT:?}; killing",
                    self.name
                );
                self.child.kill().await?;
                Ok(self.child.wait().await?)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_addr;

    #[test]
    fn parses_listening_lines() {
        let want: std::net::SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert_eq!(parse_addr("http://127.0.0.1:8080").unwrap(), want);
        assert_eq!(parse_addr("http://127.0.0.1:8080/ ").unwrap(), want);
        assert_eq!(parse_addr("127.0.0.1:8080").unwrap(), want);
        assert!(parse_addr("http://localhost").is_err());
    }
}
