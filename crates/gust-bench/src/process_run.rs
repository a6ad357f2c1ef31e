//! The process runtimes' part of the run: a Python and a Node hello function through Gust
//! against a raw server in the same language running the same handler (Python: asyncio, and
//! http.server for scale; Node: plain `http`), one process each side — one worker in Gust
//! (`min_scale = max_scale = 1`), which the pool may pipeline requests into (`concurrency`).
//! Then cold starts: all workers detached, one request timed, repeated.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use tokio::process::Command;
use tokio::time::{Instant, sleep};

use crate::child::{self, ServerProcess};
use crate::gust::{self, Api};
use crate::load::{self, RequestShape, Stats};

/// Requests the one Gust worker may hold at once: as many as the load has connections, which
/// the raw server, one process too, also holds at once.
const CONCURRENCY: u32 = 64;
/// Pause between cold-start rounds, so the pre-started interpreters are back.
const COLD_PAUSE: Duration = Duration::from_millis(300);

const PY_HANDLER: &str = "def handle(event, context):\n    return {'statusCode': 200, 'headers': {'content-type': 'text/plain'}, 'body': 'hello'}\n";
const NODE_HANDLER: &str = "exports.handle = () => ({ statusCode: 200, headers: { 'content-type': 'text/plain' }, body: 'hello' });\n";

/// The same handler behind a minimal asyncio HTTP/1.1 server.
const RAW_ASYNCIO: &str = r#"
import asyncio
def handle(event, context):
    return {'statusCode': 200, 'headers': {'content-type': 'text/plain'}, 'body': 'hello'}
async def serve(reader, writer):
    try:
        while True:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            method, path, _ = head[0].split(" ", 2)
            headers = dict(line.split(": ", 1) for line in head[1:] if line)
            result = handle({"httpMethod": method, "path": path, "headers": headers, "body": ""}, None)
            body = result["body"].encode()
            lines = ["HTTP/1.1 %d OK" % result["statusCode"], "content-length: %d" % len(body)]
            lines += ["%s: %s" % kv for kv in result["headers"].items()]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()
async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    print("listening on http://127.0.0.1:%d" % server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()
asyncio.run(main())
"#;

/// The same handler behind the standard library's http.server (one thread per connection).
const RAW_HTTP_SERVER: &str = r#"
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
def handle(event, context):
    return {'statusCode': 200, 'headers': {'content-type': 'text/plain'}, 'body': 'hello'}
class Hello(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def do_GET(self):
        result = handle({"httpMethod": self.command, "path": self.path, "headers": dict(self.headers), "body": ""}, None)
        body = result["body"].encode()
        self.send_response(result["statusCode"])
        for name, value in result["headers"].items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
print("listening on http://127.0.0.1:%d" % server.server_address[1], flush=True)
server.serve_forever()
"#;

/// The same handler behind Node's plain `http`.
const RAW_NODE: &str = r#"
const handle = () => ({ statusCode: 200, headers: { 'content-type': 'text/plain' }, body: 'hello' });
const server = require('http').createServer((req, res) => {
  const result = handle({ httpMethod: req.method, path: req.url, headers: req.headers, body: '' });
  res.writeHead(result.statusCode, { ...result.headers, 'content-length': Buffer.byteLength(result.body) });
  res.end(result.body);
});
server.listen(0, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${server.address().port}`));
"#;

pub struct ProcessResult {
    /// (label, stats), raw servers and Gust functions interleaved per language.
    pub warm: Vec<(String, Stats)>,
    /// (runtime, cold request latencies in µs, sorted).
    pub cold: Vec<(&'static str, Vec<u32>)>,
}

impl ProcessResult {
    fn rate(&self, label: &str) -> Option<f64> {
        self.warm
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, s)| s.req_per_s())
    }

    pub fn to_json(&self) -> serde_json::Value {
        let warm: Vec<serde_json::Value> = self
            .warm
            .iter()
            .map(|(label, s)| {
                serde_json::json!({
                    "target": label, "req_per_s": s.req_per_s(),
                    "p50_us": s.p50_us(), "p99_us": s.p99_us(), "errors": s.errors,
                })
            })
            .collect();
        let cold: Vec<serde_json::Value> = self
            .cold
            .iter()
            .map(|(runtime, l)| {
                serde_json::json!({
                    "runtime": runtime, "rounds": l.len(),
                    "p50_us": l.get(l.len() / 2), "p99_us": l.get((l.len() * 99 / 100).min(l.len().saturating_sub(1))),
                })
            })
            .collect();
        serde_json::json!({ "warm": warm, "cold": cold })
    }

    pub fn print(&self) {
        println!();
        println!(
            "{:<30} {:>10} {:>9} {:>9}",
            "process runtimes", "req/s", "p50 µs", "p99 µs"
        );
        for (label, stats) in &self.warm {
            println!(
                "{:<30} {:>10.0} {:>9} {:>9}",
                label,
                stats.req_per_s(),
                stats.p50_us().map_or("-".into(), |v| v.to_string()),
                stats.p99_us().map_or("-".into(), |v| v.to_string())
            );
        }
        for (gust, raw) in [
            ("gust python3.11", "raw python asyncio"),
            ("gust python3.11", "raw python http.server"),
            ("gust node20", "raw node http"),
        ] {
            if let (Some(g), Some(r)) = (self.rate(gust), self.rate(raw)) {
                println!("ratio {gust} / {raw}: {:.2}", g / r);
            }
        }
        for (runtime, latencies) in &self.cold {
            let at = |q: f64| {
                latencies
                    .get(((q * latencies.len() as f64).ceil() as usize).saturating_sub(1))
                    .copied()
            };
            println!(
                "cold start {runtime} ({} rounds, no warm worker): p50 {:.1} ms, p99 {:.1} ms",
                latencies.len(),
                at(0.5).unwrap_or(0) as f64 / 1000.0,
                at(0.99).unwrap_or(0) as f64 / 1000.0
            );
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub async fn measure(
    bin: &Path,
    tmp: &Path,
    servers: &mut Vec<ServerProcess>,
    conns: usize,
    warmup: Duration,
    duration: Duration,
    cold_rounds: usize,
) -> anyhow::Result<ProcessResult> {
    let python = real_python().await?;
    let data_dir = tmp.join("process-data");
    std::fs::create_dir(&data_dir)?;
    let server = gust::spawn(bin, &data_dir, &tmp.join("gust.log"), &[]).await?;
    let addr = server.addr;
    servers.push(server);
    let api = Api::new(addr, &data_dir).await?;
    for (name, runtime, file, code) in [
        ("py", "python3.11", "main.py", PY_HANDLER),
        ("js", "node20", "main.js", NODE_HANDLER),
    ] {
        api.create_function_with(&serde_json::json!({
            "name": name, "runtime": runtime, "privacy": "public",
            "min_scale": 1, "max_scale": 1, "concurrency": CONCURRENCY,
        }))
        .await?;
        let server = servers.last_mut().context("gust server")?;
        api.deploy_and_wait(name, package(file, code)?, "application/gzip", server)
            .await
            .with_context(|| format!("deploying the {runtime} hello"))?;
    }

    let mut warm = Vec::new();
    let raw: [(&str, &str, [&str; 4]); 3] = [
        (
            "raw python asyncio",
            &python,
            ["-I", "-S", "-c", RAW_ASYNCIO],
        ),
        (
            "raw python http.server",
            &python,
            ["-I", "-S", "-c", RAW_HTTP_SERVER],
        ),
        (
            "raw node http",
            "node",
            ["--no-warnings", "-e", RAW_NODE, "--"],
        ),
    ];
    for (label, interpreter, args) in raw {
        let mut cmd = Command::new(interpreter);
        cmd.args(args);
        let server = child::spawn(label, cmd).await?;
        let shape = RequestShape::get("/");
        eprintln!("measuring {label} with {conns} connection(s)…");
        warm.push((
            label.to_string(),
            load::load(server.addr, &shape, conns, warmup, duration).await?,
        ));
        server.shutdown().await?;
        if label == "raw python asyncio" {
            warm.push(gust_run("gust python3.11", addr, "py", conns, warmup, duration).await?);
        }
        if label == "raw node http" {
            warm.push(gust_run("gust node20", addr, "js", conns, warmup, duration).await?);
        }
    }

    let mut cold = Vec::new();
    for (runtime, name) in [("python3.11", "py"), ("node20", "js")] {
        eprintln!("measuring {cold_rounds} cold starts of {runtime}…");
        api.update_function(name, &serde_json::json!({"min_scale": 0}))
            .await?;
        let mut latencies = Vec::with_capacity(cold_rounds);
        for _ in 0..cold_rounds {
            api.detach(name).await?;
            sleep(COLD_PAUSE).await;
            let started = Instant::now();
            api.get_function_path(name).await?;
            latencies.push(started.elapsed().as_micros() as u32);
        }
        latencies.sort_unstable();
        cold.push((runtime, latencies));
    }
    Ok(ProcessResult { warm, cold })
}

async fn gust_run(
    label: &str,
    addr: std::net::SocketAddr,
    function: &str,
    conns: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<(String, Stats)> {
    eprintln!("measuring {label} with {conns} connection(s)…");
    let shape = RequestShape::get(&gust::function_path(function));
    Ok((
        label.to_string(),
        load::load(addr, &shape, conns, warmup, duration).await?,
    ))
}

/// The interpreter itself, not the pyenv shim in front of it (~100 ms a start).
async fn real_python() -> anyhow::Result<String> {
    let output = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .await
        .context("running python3 to find the interpreter")?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// A one-file function folder as `.tar.gz`.
fn package(file: &str, code: &str) -> anyhow::Result<Bytes> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let mut header = tar::Header::new_gnu();
    header.set_size(code.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, file, code.as_bytes())?;
    Ok(tar.into_inner()?.finish()?.into())
}
