//! Cold starts and warm throughput of the process runtimes, against raw servers in the same
//! language, with one client in one run.
//!
//! ```text
//! CARGO_TARGET_DIR=target/proc cargo run --release -p gust-runtime-process --example bench_pool
//! ```
//!
//! - Cold start: a new pool per request (no warm worker for the function), time from
//!   `invoke` to response; with stem cells (the default) and without (`GUST_STEM_CELLS=0`
//!   path, a fresh sandbox and interpreter). p50/p99 and the median breakdown.
//! - Warm: a minimal HTTP/1.1 front in this process hands each request to the pool (one
//!   worker, as many as the raw server has processes); the raw servers (Python asyncio,
//!   Python http.server, Node `http`) answer the same hello. The same keep-alive client
//!   drives each for `BENCH_SECS` (default 5) over `BENCH_CONNS` connections (default 16).
//!
//! This binary is also its own sandbox spawner (first line of `main`).

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use gust_core::RuntimeId;
use gust_runtime_process::{
    BuildSpec, FunctionPool, PoolSpec, ProcessConfig, ProcessRequest, ProcessRuntime,
    SpawnerCommand,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const PY_HELLO: &str = "def handle(event, context):\n    return {'statusCode': 200, 'headers': {'content-type': 'text/plain'}, 'body': 'hello'}\n";
const NODE_HELLO: &str = "exports.handle = () => ({ statusCode: 200, headers: { 'content-type': 'text/plain' }, body: 'hello' });\n";
/// The raw servers run the same handler as the Gust function: request line and headers into
/// an event, `handle(event, context)`, its status, headers and body into the response.
const RAW_ASYNCIO: &str = r#"
import asyncio, sys
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
    server = await asyncio.start_server(serve, "127.0.0.1", int(sys.argv[1]))
    print("ready", flush=True)
    await server.serve_forever()
asyncio.run(main())
"#;
/// The least a Python server can do: a constant reply (for scale, not the comparison).
const RAW_ASYNCIO_CONSTANT: &str = r#"
import asyncio, sys
RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\nhello"
async def serve(reader, writer):
    try:
        while True:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(RESPONSE)
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()
async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", int(sys.argv[1]))
    print("ready", flush=True)
    await server.serve_forever()
asyncio.run(main())
"#;
const RAW_HTTP_SERVER: &str = r#"
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
def handle(event, context):
    return {'statusCode': 200, 'headers': {'content-type': 'text/plain'}, 'body': 'hello'}
class Hello(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else headers and body in two writes meet delayed ACKs
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
server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Hello)
print("ready", flush=True)
server.serve_forever()
"#;
const RAW_NODE: &str = r#"
const handle = () => ({ statusCode: 200, headers: { 'content-type': 'text/plain' }, body: 'hello' });
require('http').createServer((req, res) => {
  const result = handle({ httpMethod: req.method, path: req.url, headers: req.headers, body: '' });
  res.writeHead(result.statusCode, { ...result.headers, 'content-length': Buffer.byteLength(result.body) });
  res.end(result.body);
}).listen(Number(process.argv[1]), '127.0.0.1', () => console.log('ready'));
"#;

fn main() -> anyhow::Result<()> {
    gust_runtime_process::run_spawner_if_requested();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn start(stem_cells: usize, data: &Path) -> anyhow::Result<ProcessRuntime> {
    let mut config = ProcessConfig::from_env(data);
    config.spawner = Some(SpawnerCommand::current_exe()?);
    config.stem_cells = stem_cells;
    Ok(ProcessRuntime::start(config).await?)
}

async fn run() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let runtime = start(2, data.path()).await?;
    let python = function(&runtime, RuntimeId::Python311, "main.py", PY_HELLO).await?;
    let node = function(&runtime, RuntimeId::Node20, "main.js", NODE_HELLO).await?;
    let rounds = env_num("BENCH_COLD_ROUNDS", 40) as usize;
    // BENCH_ONLY=<substring>: run only the warm cases whose label contains it.
    let only = std::env::var("BENCH_ONLY").ok();
    let wanted = |label: &str| only.as_deref().is_none_or(|o| label.contains(o));

    if rounds > 0 {
        println!("== cold start (no warm worker), {rounds} rounds each ==");
    }
    for (name, runtime_id, dir) in [
        ("python3.11", RuntimeId::Python311, &python),
        ("node20", RuntimeId::Node20, &node),
    ] {
        cold(&runtime, runtime_id, dir.path(), rounds, name, true).await?;
    }
    if rounds > 0 {
        let plain = start(0, data.path()).await?;
        for (name, runtime_id, dir) in [
            ("python3.11", RuntimeId::Python311, &python),
            ("node20", RuntimeId::Node20, &node),
        ] {
            cold(&plain, runtime_id, dir.path(), rounds / 2, name, false).await?;
        }
    }

    let round_trips = env_num("BENCH_ROUND_TRIPS", 5000) as usize;
    if round_trips > 0 {
        println!("\n== protocol round trips through a pool (no HTTP), one warm worker ==");
        for (name, runtime_id, dir) in [
            ("python3.11", RuntimeId::Python311, &python),
            ("node20", RuntimeId::Node20, &node),
        ] {
            round_trip(&runtime, runtime_id, dir.path(), round_trips, name).await?;
        }
    }

    let secs = env_num("BENCH_SECS", 5);
    let conns = env_num("BENCH_CONNS", 16) as usize;
    println!(
        "\n== warm requests/s, {conns} keep-alive connections, {secs} s each, 1 worker / 1 process =="
    );
    let python_exe = interpreter("python3.11")?;
    let node_exe = interpreter("node")?;
    let asyncio = raw_server(&python_exe, &["-c", RAW_ASYNCIO]).await?;
    let constant = raw_server(&python_exe, &["-c", RAW_ASYNCIO_CONSTANT]).await?;
    let http_server = raw_server(&python_exe, &["-c", RAW_HTTP_SERVER]).await?;
    let raw_node = raw_server(&node_exe, &["-e", RAW_NODE]).await?;
    let mut results = Vec::new();
    for (label, addr) in [
        ("raw python asyncio", asyncio.1),
        ("raw python asyncio, constant reply", constant.1),
        ("raw python http.server", http_server.1),
        ("raw node http", raw_node.1),
    ] {
        if !wanted(label) {
            continue;
        }
        results.push((label.to_string(), measure(addr, conns, secs).await));
    }
    for (label, runtime_id, dir, concurrency) in [
        (
            "gust python3.11 (concurrency 1)",
            RuntimeId::Python311,
            &python,
            1,
        ),
        (
            "gust python3.11 (concurrency 16)",
            RuntimeId::Python311,
            &python,
            16,
        ),
        ("gust node20 (concurrency 1)", RuntimeId::Node20, &node, 1),
        ("gust node20 (concurrency 16)", RuntimeId::Node20, &node, 16),
    ] {
        if !wanted(label) {
            continue;
        }
        let pool = runtime.pool(pool_spec(runtime_id, dir.path(), 1, concurrency));
        let addr = front(pool.clone()).await?;
        results.push((label.to_string(), measure(addr, conns, secs).await));
        pool.drain().await;
    }
    for (label, (rps, p50)) in &results {
        println!("{label:<36} {rps:>9.0} req/s   p50 {p50:>6} µs");
    }
    let get = |label: &str| {
        results
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, (rps, _))| *rps)
            .unwrap_or(0.0)
    };
    println!(
        "ratios: python c16 / asyncio {:.2}, python c16 / http.server {:.2}, python c1 / http.server {:.2}, node c16 / node {:.2}, node c1 / node {:.2}",
        get("gust python3.11 (concurrency 16)") / get("raw python asyncio"),
        get("gust python3.11 (concurrency 16)") / get("raw python http.server"),
        get("gust python3.11 (concurrency 1)") / get("raw python http.server"),
        get("gust node20 (concurrency 16)") / get("raw node http"),
        get("gust node20 (concurrency 1)") / get("raw node http"),
    );
    for mut server in [asyncio.0, constant.0, http_server.0, raw_node.0] {
        let _ = server.kill().await;
    }
    Ok(())
}

async fn function(
    runtime: &ProcessRuntime,
    id: RuntimeId,
    file: &str,
    source: &str,
) -> anyhow::Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join(file), source)?;
    let spec = BuildSpec {
        runtime: id,
        code_dir: dir.path().to_path_buf(),
        handler: "main.handle".into(),
        env: vec![],
    };
    runtime.build(&spec, &mut |_| {}).await?;
    Ok(dir)
}

fn pool_spec(runtime: RuntimeId, code: &Path, max_scale: u32, concurrency: u32) -> PoolSpec {
    PoolSpec {
        function_id: "bench".into(),
        function_name: "bench".into(),
        deployment_id: "bench".into(),
        runtime,
        code_dir: code.to_path_buf(),
        handler: "main.handle".into(),
        env: vec![],
        memory_mb: 256,
        cpu_millis: 0,
        timeout: Duration::from_secs(30),
        min_scale: 0,
        max_scale,
        concurrency,
        network: true,
    }
}

async fn cold(
    runtime: &ProcessRuntime,
    id: RuntimeId,
    code: &Path,
    rounds: usize,
    name: &str,
    cells: bool,
) -> anyhow::Result<()> {
    let mut totals = Vec::new();
    let mut parts = Vec::new();
    if rounds == 0 {
        return Ok(());
    }
    for _ in 0..rounds {
        if cells {
            // Steady state: the previous round's cell has been replaced.
            let deadline = Instant::now() + Duration::from_secs(5);
            while runtime.stem_cells_ready(id) < 2 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        let pool = runtime.pool(pool_spec(id, code, 1, 1));
        let started = Instant::now();
        let response = pool.invoke(request()).await?;
        totals.push(started.elapsed().as_micros() as u64);
        let cold = response
            .cold_start
            .expect("a new pool's first request is cold");
        assert_eq!(cold.stem_cell, cells);
        parts.push((cold.sandbox_us, cold.interpreter_us, cold.import_us));
        drop(pool);
    }
    totals.sort_unstable();
    let median = |mut v: Vec<u64>| {
        v.sort_unstable();
        v[v.len() / 2]
    };
    println!(
        "{name:<11} {:<15} p50 {:>6} µs  p99 {:>6} µs   median: sandbox {} µs, interpreter {} µs, import {} µs",
        if cells { "stem cell" } else { "fresh sandbox" },
        totals[totals.len() / 2],
        totals[(totals.len() * 99 / 100).min(totals.len() - 1)],
        median(parts.iter().map(|p| p.0).collect()),
        median(parts.iter().map(|p| p.1).collect()),
        median(parts.iter().map(|p| p.2).collect()),
    );
    Ok(())
}

/// Sequential invocations (one in flight: the protocol's latency), then 16 in flight
/// (its throughput with pipelining), straight through `FunctionPool::invoke`.
async fn round_trip(
    runtime: &ProcessRuntime,
    id: RuntimeId,
    code: &Path,
    count: usize,
    name: &str,
) -> anyhow::Result<()> {
    let pool = runtime.pool(pool_spec(id, code, 1, 16));
    pool.invoke(request()).await?;
    let mut latencies = Vec::with_capacity(count);
    let started = Instant::now();
    for _ in 0..count {
        let sent = Instant::now();
        pool.invoke(request()).await?;
        latencies.push(sent.elapsed().as_micros() as u64);
    }
    let sequential = count as f64 / started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let started = Instant::now();
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                for _ in 0..count / 16 {
                    let _ = pool.invoke(request()).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await?;
    }
    let pipelined = (count / 16 * 16) as f64 / started.elapsed().as_secs_f64();
    println!(
        "{name:<11} sequential p50 {:>4} µs  p99 {:>5} µs  ({sequential:.0}/s);  16 in flight: {pipelined:.0}/s",
        latencies[count / 2],
        latencies[count * 99 / 100],
    );
    pool.drain().await;
    Ok(())
}

fn request() -> ProcessRequest {
    ProcessRequest {
        method: "GET".into(),
        path: "/".into(),
        headers: vec![("host".into(), "bench".into())],
        execution_id: "bench".into(),
        ..ProcessRequest::default()
    }
}

fn interpreter(name: &str) -> anyhow::Result<std::path::PathBuf> {
    let candidates = match name {
        "python3.11" => vec![
            "/root/.pyenv/versions/3.11.7/bin/python3.11",
            "/usr/bin/python3.11",
        ],
        _ => vec!["/usr/bin/node", "/usr/local/bin/node"],
    };
    candidates
        .into_iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists())
        .ok_or_else(|| anyhow::anyhow!("{name} not found"))
}

/// Starts a raw server on a free port and waits for its "ready".
async fn raw_server(
    program: &Path,
    args: &[&str],
) -> anyhow::Result<(tokio::process::Child, SocketAddr)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .arg(port.to_string())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    tokio::time::timeout(Duration::from_secs(10), lines.next_line()).await??;
    Ok((child, SocketAddr::from(([127, 0, 0, 1], port))))
}

/// A minimal HTTP/1.1 front: each request on a keep-alive connection goes to the pool.
async fn front(pool: FunctionPool) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let pool = pool.clone();
            tokio::spawn(async move {
                let _ = stream.set_nodelay(true);
                let (read, mut write) = stream.into_split();
                let mut read = BufReader::new(read);
                let mut head = String::new();
                loop {
                    head.clear();
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        head.push_str(&line);
                    }
                    let mut words = head.split_whitespace();
                    let method = words.next().unwrap_or("GET").to_string();
                    let path = words.next().unwrap_or("/").to_string();
                    let request = ProcessRequest {
                        method,
                        path,
                        execution_id: "bench".into(),
                        ..ProcessRequest::default()
                    };
                    let reply = match pool.invoke(request).await {
                        Ok(response) => {
                            let mut out = format!(
                                "HTTP/1.1 {} OK\r\ncontent-length: {}\r\n",
                                response.status,
                                response.body.len()
                            );
                            for (k, v) in &response.headers {
                                out.push_str(&format!("{k}: {v}\r\n"));
                            }
                            out.push_str("\r\n");
                            let mut bytes = out.into_bytes();
                            bytes.extend_from_slice(&response.body);
                            bytes
                        }
                        Err(e) => format!(
                            "HTTP/1.1 503 Unavailable\r\ncontent-length: {}\r\n\r\n{e}",
                            e.to_string().len()
                        )
                        .into_bytes(),
                    };
                    if write.write_all(&reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok(addr)
}

/// Keep-alive GETs from `conns` connections for `secs`: (requests/s, median latency µs).
async fn measure(addr: SocketAddr, conns: usize, secs: u64) -> (f64, u64) {
    // Warm-up: one request per connection path, not counted.
    let _ = client(addr, Instant::now() + Duration::from_millis(300)).await;
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let tasks: Vec<_> = (0..conns)
        .map(|_| tokio::spawn(client(addr, deadline)))
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap_or_default());
    }
    let rps = latencies.len() as f64 / started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    (
        rps,
        latencies.get(latencies.len() / 2).copied().unwrap_or(0),
    )
}

async fn client(addr: SocketAddr, deadline: Instant) -> Vec<u64> {
    let mut latencies = Vec::new();
    let Ok(stream) = TcpStream::connect(addr).await else {
        return latencies;
    };
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut line = String::new();
    while Instant::now() < deadline {
        let sent = Instant::now();
        if write
            .write_all(b"GET / HTTP/1.1\r\nhost: bench\r\n\r\n")
            .await
            .is_err()
        {
            break;
        }
        let mut length = 0usize;
        loop {
            line.clear();
            if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                return latencies;
            }
            if line == "\r\n" {
                break;
            }
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if read.read_exact(&mut body).await.is_err() {
            break;
        }
        latencies.push(sent.elapsed().as_micros() as u64);
    }
    latencies
}
