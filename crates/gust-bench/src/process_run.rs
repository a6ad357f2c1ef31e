//! The process runtimes' part of the run: a Python and a Node hello function through Gust
//! against a raw server in the same language running the same handler (Python: asyncio, and
//! http.server for scale; Node: plain `http`), one process each side — one worker in Gust
//! (`min_scale = max_scale = 1`), which the pool may pipeline requests into (`concurrency`).
//! Each comparison alternates the raw server's window and Gust's, round after round, and
//! reports the median of the rounds' ratios: on a noisy machine one pair of windows can land
//! on either side of a quiet spell. Each window also reads the CPU the server's processes used
//! (Gust's with its workers), per request: a steadier measure of the cost than the rate. Then
//! cold starts: all workers detached, one request timed, repeated.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use tokio::process::Command;
use tokio::time::{Instant, sleep};

use crate::child::{self, ServerProcess};
use crate::cpu;
use crate::gust::{self, Api};
use crate::load::{self, RequestShape, Stats};

/// Requests the one Gust worker may hold at once: as many as the load has connections, which
/// the raw server, one process too, also holds at once.
pub(crate) const CONCURRENCY: u32 = 64;
/// Pause between cold-start rounds, so the pre-started interpreters are back.
const COLD_PAUSE: Duration = Duration::from_millis(300);

pub(crate) const PY_HANDLER: &str = "def handle(event, context):\n    return {'statusCode': 200, 'headers': {'content-type': 'text/plain'}, 'body': 'hello'}\n";
pub(crate) const NODE_HANDLER: &str = "exports.handle = () => ({ statusCode: 200, headers: { 'content-type': 'text/plain' }, body: 'hello' });\n";

/// The same handler behind a minimal asyncio HTTP/1.1 server.
pub(crate) const RAW_ASYNCIO: &str = r#"
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
pub(crate) const RAW_NODE: &str = r#"
const handle = () => ({ statusCode: 200, headers: { 'content-type': 'text/plain' }, body: 'hello' });
const server = require('http').createServer((req, res) => {
  const result = handle({ httpMethod: req.method, path: req.url, headers: req.headers, body: '' });
  res.writeHead(result.statusCode, { ...result.headers, 'content-length': Buffer.byteLength(result.body) });
  res.end(result.body);
});
server.listen(0, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${server.address().port}`));
"#;

pub struct ProcessResult {
    /// (label, one stats per round), raw servers and Gust functions interleaved per language.
    pub warm: Vec<(String, Vec<Stats>)>,
    /// (runtime, cold request latencies in µs, sorted).
    pub cold: Vec<(&'static str, Vec<u32>)>,
}

/// The median of `values`; of an even count the lower one, so a claim errs on the modest
/// side. `None` when empty.
fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len().saturating_sub(1) / 2).copied()
}

fn rate(stats: &Stats) -> Option<f64> {
    Some(stats.req_per_s())
}

fn cpu_per_request(stats: &Stats) -> Option<f64> {
    stats.cpu_us_per_request
}

/// The round with the median request rate: its latencies go in the table.
fn median_round(rounds: &[Stats]) -> Option<&Stats> {
    let mut sorted: Vec<&Stats> = rounds.iter().collect();
    sorted.sort_by(|a, b| a.req_per_s().total_cmp(&b.req_per_s()));
    sorted.get(sorted.len().saturating_sub(1) / 2).copied()
}

impl ProcessResult {
    fn rounds(&self, label: &str) -> Option<&[Stats]> {
        self.warm
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, s)| s.as_slice())
    }

    /// Each round's `metric` of `gust` over `raw`'s, when both ran the same rounds side by
    /// side and the metric is known for each.
    fn round_ratios(
        &self,
        gust: &str,
        raw: &str,
        metric: fn(&Stats) -> Option<f64>,
    ) -> Option<Vec<f64>> {
        let (g, r) = (self.rounds(gust)?, self.rounds(raw)?);
        if g.len() != r.len() {
            return None;
        }
        g.iter()
            .zip(r)
            .map(|(g, r)| Some(metric(g)? / metric(r)?))
            .collect()
    }

    /// `gust`'s rate over `raw`'s: the median of the per-round ratios where both ran the
    /// same rounds side by side, else the ratio of the median rates.
    fn ratio(&self, gust: &str, raw: &str) -> Option<f64> {
        match self.round_ratios(gust, raw, rate) {
            Some(each) => median(each),
            None => Some(
                median_round(self.rounds(gust)?)?.req_per_s()
                    / median_round(self.rounds(raw)?)?.req_per_s(),
            ),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        let warm: Vec<serde_json::Value> = self
            .warm
            .iter()
            .filter_map(|(label, rounds)| {
                let s = median_round(rounds)?;
                let rates: Vec<f64> = rounds.iter().map(Stats::req_per_s).collect();
                let cpu: Vec<Option<f64>> = rounds.iter().map(cpu_per_request).collect();
                Some(serde_json::json!({
                    "target": label, "req_per_s": s.req_per_s(), "rounds_req_per_s": rates,
                    "rounds_cpu_us_per_request": cpu,
                    "p50_us": s.p50_us(), "p99_us": s.p99_us(),
                    "errors": rounds.iter().map(|s| s.errors).sum::<u64>(),
                }))
            })
            .collect();
        let ratios: Vec<serde_json::Value> = RATIOS
            .iter()
            .filter_map(|&(gust, raw)| {
                let ratio = self.ratio(gust, raw)?;
                let cpu = self
                    .round_ratios(gust, raw, cpu_per_request)
                    .and_then(median);
                Some(serde_json::json!({
                    "gust": gust, "raw": raw, "median_ratio": ratio, "median_cpu_ratio": cpu,
                }))
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
        serde_json::json!({ "warm": warm, "ratios": ratios, "cold": cold })
    }

    pub fn print(&self) {
        println!();
        println!(
            "{:<30} {:>10} {:>9} {:>9} {:>12}",
            "process runtimes", "req/s", "p50 µs", "p99 µs", "CPU µs/req"
        );
        for (label, rounds) in &self.warm {
            let Some(stats) = median_round(rounds) else {
                continue;
            };
            let cpu = median(rounds.iter().filter_map(cpu_per_request).collect());
            println!(
                "{:<30} {:>10.0} {:>9} {:>9} {:>12}",
                label,
                stats.req_per_s(),
                stats.p50_us().map_or("-".into(), |v| v.to_string()),
                stats.p99_us().map_or("-".into(), |v| v.to_string()),
                cpu.map_or("-".into(), |v| format!("{v:.1}"))
            );
        }
        let per_round = |each: Option<Vec<f64>>| match each {
            Some(each) if each.len() > 1 => {
                let each: Vec<String> = each.iter().map(|r| format!("{r:.2}")).collect();
                format!(" (median of rounds {})", each.join(", "))
            }
            _ => String::new(),
        };
        for &(gust, raw) in RATIOS {
            let Some(ratio) = self.ratio(gust, raw) else {
                continue;
            };
            let rounds = per_round(self.round_ratios(gust, raw, rate));
            println!("ratio {gust} / {raw}: {ratio:.2}{rounds}");
            let cpu = self.round_ratios(gust, raw, cpu_per_request);
            if let Some(ratio) = cpu.clone().and_then(median) {
                let rounds = per_round(cpu);
                println!("  CPU per request, {gust} / {raw}: {ratio:.2}{rounds}");
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

/// The comparisons reported: (Gust's target, the raw server's).
const RATIOS: &[(&str, &str)] = &[
    ("gust python3.11", "raw python asyncio"),
    ("gust python3.11", "raw python http.server"),
    ("gust node20", "raw node http"),
];

/// Windows and rounds of the warm comparisons.
#[derive(Debug, Clone, Copy)]
pub struct Windows {
    pub conns: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// Raw/Gust window pairs per comparison.
    pub rounds: usize,
}

pub async fn measure(
    bin: &Path,
    tmp: &Path,
    servers: &mut Vec<ServerProcess>,
    windows: Windows,
    cold_rounds: usize,
) -> anyhow::Result<ProcessResult> {
    let python = real_python().await?;
    let data_dir = tmp.join("process-data");
    std::fs::create_dir(&data_dir)?;
    let server = gust::spawn(bin, &data_dir, &tmp.join("gust.log"), &[]).await?;
    let (addr, gust_pid) = (server.addr, server.pid());
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
        // http.server is there for scale: one window. The others alternate with Gust's.
        let gust = match label {
            "raw python asyncio" => Some(("gust python3.11", "py")),
            "raw node http" => Some(("gust node20", "js")),
            _ => None,
        };
        let rounds = if gust.is_some() {
            windows.rounds.max(1)
        } else {
            1
        };
        let window = |label: &'static str, round, addr, pid: Option<u32>, shape: RequestShape| async move {
            eprintln!(
                "measuring {label} with {} connection(s), round {round}/{rounds}…",
                windows.conns
            );
            let (conns, warmup, duration) = (windows.conns, windows.warmup, windows.duration);
            let cpu_before = pid.map(cpu::tree_cpu_us);
            let mut stats = load::load(addr, &shape, conns, warmup, duration).await?;
            if let (Some(pid), Some(before)) = (pid, cpu_before) {
                let used = cpu::tree_cpu_us(pid).saturating_sub(before);
                stats.cpu_us_per_request = (stats.requests_with_warmup > 0)
                    .then(|| used as f64 / stats.requests_with_warmup as f64);
            }
            anyhow::Ok(stats)
        };
        let (mut raw_rounds, mut gust_rounds) = (Vec::new(), Vec::new());
        for round in 1..=rounds {
            let raw_window = window(label, round, server.addr, server.pid(), shape.clone());
            raw_rounds.push(raw_window.await?);
            if let Some((gust_label, function)) = gust {
                let shape = RequestShape::get(&gust::function_path(function));
                gust_rounds.push(window(gust_label, round, addr, gust_pid, shape).await?);
            }
        }
        server.shutdown().await?;
        warm.push((label.to_string(), raw_rounds));
        if let Some((gust_label, _)) = gust {
            warm.push((gust_label.to_string(), gust_rounds));
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

/// The interpreter itself, not the pyenv shim in front of it (~100 ms a start).
pub(crate) async fn real_python() -> anyhow::Result<String> {
    let output = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .await
        .context("running python3 to find the interpreter")?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// A one-file function folder as `.tar.gz`.
pub(crate) fn package(file: &str, code: &str) -> anyhow::Result<Bytes> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let mut header = tar::Header::new_gnu();
    header.set_size(code.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, file, code.as_bytes())?;
    Ok(tar.into_inner()?.finish()?.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(raw: Vec<Stats>, gust: Vec<Stats>) -> ProcessResult {
        ProcessResult {
            warm: vec![("raw".into(), raw), ("gust".into(), gust)],
            cold: Vec::new(),
        }
    }

    #[test]
    fn ratios_are_per_round_and_their_median_errs_low() {
        let result = result(
            vec![Stats::of(100, Some(10.0)), Stats::of(200, Some(10.0))],
            vec![Stats::of(90, Some(30.0)), Stats::of(100, Some(20.0))],
        );
        assert_eq!(
            result.round_ratios("gust", "raw", rate),
            Some(vec![0.9, 0.5])
        );
        assert_eq!(result.ratio("gust", "raw"), Some(0.5));
        let cpu = result.round_ratios("gust", "raw", cpu_per_request);
        assert_eq!(cpu.clone().and_then(median), Some(2.0));
        assert_eq!(cpu, Some(vec![3.0, 2.0]));
    }

    #[test]
    fn a_round_without_a_cpu_reading_gives_no_cpu_ratio() {
        let result = result(
            vec![Stats::of(100, Some(10.0)), Stats::of(100, None)],
            vec![Stats::of(100, Some(20.0)), Stats::of(100, Some(20.0))],
        );
        assert_eq!(result.round_ratios("gust", "raw", cpu_per_request), None);
        assert_eq!(result.ratio("gust", "raw"), Some(1.0));
    }
}
