//! `gust-bench`: measures Gust against a raw hyper baseline in one run and
//! prints a table (or `--json`). This file owns the CLI and the run order;
//! the load generator, the servers and the output live in sibling modules.

mod async_run;
mod child;
mod cpu;
mod density;
mod dialect_run;
mod disk;
mod gust;
mod load;
mod pg;
mod process_run;
mod raw_server;
mod records;
mod report;
mod tls;
mod versus;

use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::{Parser, Subcommand};
use tokio::process::Command;

use child::ServerProcess;
use gust_test_tools::ScratchDir;
use report::{Report, Run, Target};

/// Benchmarks Gust against a raw hyper server on 127.0.0.1.
///
/// Build first: `cargo build --release -p gust` and the hello component
/// (`cargo build --release --target wasm32-wasip2 --manifest-path
/// examples/hello-wasm/Cargo.toml`).
#[derive(Parser)]
#[command(name = "gust-bench")]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    /// The gust binary [default: `gust` next to this executable].
    #[arg(long)]
    gust: Option<PathBuf>,
    /// The hello component [default: examples/hello-wasm/target/wasm32-wasip2/release/hello_wasm.wasm].
    #[arg(long)]
    wasm: Option<PathBuf>,
    /// Measured window per run, e.g. `5`, `5s`, `500ms`.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    duration: Duration,
    /// Unrecorded warm-up before each window.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    warmup: Duration,
    /// Connection counts to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,64")]
    connections: Vec<usize>,
    /// Print the figures as one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Cold starts to time per process runtime (0 skips the process runtimes).
    #[arg(long, default_value_t = 20)]
    cold_rounds: usize,
    /// Raw/Gust window pairs per process-runtime comparison; the median ratio is reported.
    /// Five by default: on a shared machine one round's ratio can be twice another's.
    #[arg(long, default_value_t = 5)]
    warm_rounds: usize,
    /// Skip Gust; measure the raw server against itself (harness check).
    #[arg(long, hide = true)]
    only_raw: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// The baseline server (started by the bench itself).
    #[command(hide = true)]
    RawServer,
    /// Only the load: the bench's client against one URL, for profiling a server by hand.
    #[command(hide = true)]
    Load {
        /// `http://ADDR/path`; the address must be an IP and port.
        url: String,
    },
    /// What an idle function costs: RSS per function once N functions have been idle past
    /// the unload time, and the first request's latency after it; for one shared component
    /// and for distinct ones.
    Density {
        /// Functions deployed, each invoked once.
        #[arg(long, default_value_t = 1000)]
        functions: usize,
        /// The server's unload time for idle components.
        #[arg(long, default_value = "5s", value_parser = parse_duration)]
        unload_after: Duration,
        /// Functions whose first request after the unload is timed.
        #[arg(long, default_value_t = 50)]
        samples: usize,
        /// Deployments in flight at once while setting up.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
    /// Whether the disk stays bounded under load: a Wasm and a Python hello loaded in turn,
    /// the database's size after each window.
    Disk {
        /// How long the whole load runs.
        #[arg(long, default_value = "600s", value_parser = parse_duration)]
        run_for: Duration,
        /// Each load window, after which the size is read.
        #[arg(long, default_value = "30s", value_parser = parse_duration)]
        window: Duration,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
    },
    /// Many functions and many stored executions: how fast one function's executions list
    /// answers, and how long a restart takes to serve.
    Records {
        #[arg(long, default_value_t = 1000)]
        functions: usize,
        #[arg(long, default_value_t = 1_000_000)]
        executions: u64,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// List requests timed per status.
        #[arg(long, default_value_t = 50)]
        samples: usize,
    },
    /// A node over PostgreSQL against one over SQLite, on a PostgreSQL server of its own:
    /// the Wasm hello, windows alternating, then async executions accepted and drained on
    /// each, and on two PostgreSQL nodes.
    Postgres {
        #[arg(long, default_value_t = 7)]
        rounds: usize,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
    },
    /// This build against another build of Gust in one run: Wasm, Node and Python hellos on a
    /// server of each, each against its raw server, windows rotating round after round.
    Versus {
        /// The other build's `gust` binary.
        #[arg(long)]
        baseline: PathBuf,
        #[arg(long, default_value_t = 7)]
        rounds: usize,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gust-bench: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.cmd {
        Some(Cmd::RawServer) => rt.block_on(raw_server::run()),
        Some(Cmd::Load { ref url }) => rt.block_on(load_only(&cli, url)),
        Some(Cmd::Density {
            functions,
            unload_after,
            samples,
            concurrency,
        }) => rt.block_on(density(
            &cli,
            density::Options {
                functions,
                unload_after,
                samples,
                concurrency,
            },
        )),
        Some(Cmd::Records {
            functions,
            executions,
            concurrency,
            samples,
        }) => rt.block_on(records(
            &cli,
            records::Options {
                functions,
                executions,
                connections: concurrency,
                samples,
            },
        )),
        Some(Cmd::Disk {
            run_for,
            window,
            concurrency,
        }) => rt.block_on(disk(
            &cli,
            disk::Options {
                duration: run_for,
                window,
                connections: concurrency,
            },
        )),
        Some(Cmd::Versus {
            ref baseline,
            rounds,
            concurrency,
        }) => rt.block_on(versus(
            &cli,
            versus::Options {
                baseline: baseline.clone(),
                rounds,
                conns: concurrency,
                warmup: cli.warmup,
                duration: cli.duration,
            },
        )),
        Some(Cmd::Postgres {
            rounds,
            concurrency,
        }) => rt.block_on(postgres(
            &cli,
            pg::Options {
                rounds,
                conns: concurrency,
                warmup: cli.warmup,
                duration: cli.duration,
            },
        )),
        None => rt.block_on(bench(&cli)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gust-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1e-3)
    } else {
        (s.strip_suffix('s').unwrap_or(s), 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("bad duration {s:?} (try 5, 5s or 500ms)"))?;
    Duration::try_from_secs_f64(v * scale).map_err(|e| format!("bad duration {s:?}: {e}"))
}

/// A scratch dir for Gust's data dir and logs: removed on drop, and on Ctrl-C or SIGTERM
/// after the servers in it are stopped.
fn scratch() -> anyhow::Result<ScratchDir> {
    ScratchDir::new("gust-bench").context("creating a scratch dir")
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

async fn load_only(cli: &Cli, url: &str) -> anyhow::Result<()> {
    let rest = url
        .strip_prefix("http://")
        .context("the URL must start with http://")?;
    let (addr, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let addr = addr
        .parse()
        .with_context(|| format!("{addr:?} is not an IP address and port"))?;
    let shape = load::RequestShape::get(if path.is_empty() { "/" } else { path });
    for &conns in &cli.connections {
        let stats = load::load(addr, &shape, conns, cli.warmup, cli.duration).await?;
        println!(
            "{conns} conns: {:.0} req/s, p50 {} µs, p99 {} µs, {} errors",
            stats.req_per_s(),
            stats.p50_us().unwrap_or(0),
            stats.p99_us().unwrap_or(0),
            stats.errors
        );
    }
    Ok(())
}

async fn density(cli: &Cli, options: density::Options) -> anyhow::Result<()> {
    let (bin, wasm) = gust_inputs(cli)?;
    let tmp = scratch()?;
    let mut servers = Vec::new();
    let result = density::run(&bin, wasm, tmp.path(), &options, &mut servers).await;
    for server in servers {
        let _ = server.shutdown().await;
    }
    result
}

async fn disk(cli: &Cli, options: disk::Options) -> anyhow::Result<()> {
    let (bin, wasm) = gust_inputs(cli)?;
    let tmp = scratch()?;
    let mut servers = Vec::new();
    let result = disk::run(&bin, wasm, tmp.path(), &options, &mut servers).await;
    for server in servers {
        let _ = server.shutdown().await;
    }
    result
}

async fn records(cli: &Cli, options: records::Options) -> anyhow::Result<()> {
    let (bin, wasm) = gust_inputs(cli)?;
    let tmp = scratch()?;
    let mut servers = Vec::new();
    let result = records::run(&bin, wasm, tmp.path(), &options, &mut servers).await;
    for server in servers {
        let _ = server.shutdown().await;
    }
    result
}

async fn postgres(cli: &Cli, options: pg::Options) -> anyhow::Result<()> {
    let (bin, wasm) = gust_inputs(cli)?;
    let tmp = scratch()?;
    let mut servers = Vec::new();
    let result = pg::run(&bin, wasm, tmp.path(), &options, &mut servers).await;
    for server in servers {
        let _ = server.shutdown().await;
    }
    result
}

async fn versus(cli: &Cli, options: versus::Options) -> anyhow::Result<()> {
    let (bin, wasm) = gust_inputs(cli)?;
    if !options.baseline.is_file() {
        bail!(
            "--baseline: no gust binary at {}",
            options.baseline.display()
        );
    }
    let tmp = scratch()?;
    let mut servers = Vec::new();
    let result = versus::run(&bin, wasm, tmp.path(), &options, &mut servers).await;
    for server in servers {
        let _ = server.shutdown().await;
    }
    result
}

/// Resolves and reads inputs before anything is started, so a missing build
/// fails fast with a hint.
fn gust_inputs(cli: &Cli) -> anyhow::Result<(PathBuf, Bytes)> {
    let bin = match &cli.gust {
        Some(p) => p.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("executable has no parent dir")?
            .join("gust"),
    };
    if !bin.is_file() {
        bail!(
            "gust binary not found at {} (build it with `cargo build --release -p gust`, or pass --gust PATH)",
            bin.display()
        );
    }
    let wasm = cli.wasm.clone().unwrap_or_else(|| {
        workspace_root().join("examples/hello-wasm/target/wasm32-wasip2/release/hello_wasm.wasm")
    });
    let bytes = std::fs::read(&wasm).with_context(|| {
        format!(
            "hello component not found at {}; build it with `cargo build --release --target \
             wasm32-wasip2 --manifest-path examples/hello-wasm/Cargo.toml` (or pass --wasm PATH)",
            wasm.display()
        )
    })?;
    Ok((bin, bytes.into()))
}

async fn bench(cli: &Cli) -> anyhow::Result<()> {
    if cli.connections.is_empty() || cli.connections.contains(&0) {
        bail!("--connections needs positive counts");
    }
    let inputs = if cli.only_raw {
        None
    } else {
        Some(gust_inputs(cli)?)
    };
    let tmp = scratch()?;
    let mut servers = Vec::new();

    let result = measure(cli, inputs, tmp.path(), &mut servers).await;

    // Shut down in every case; errors here only warrant a warning.
    for server in servers {
        let name = server.name.clone();
        if let Err(e) = server.shutdown().await {
            eprintln!("warning: stopping {name}: {e:#}");
        }
    }
    let report = match result {
        Ok(report) => report,
        Err(e) => {
            print_log_tail(&tmp.path().join("gust.log"));
            return Err(e);
        }
    };
    drop(tmp);

    if cli.json {
        println!("{:#}", report::to_json(&report));
    } else {
        report::print_table(&report);
    }
    report::print_errors(&report);
    let errors = report.errors();
    if errors > 0 {
        bail!("{errors} request(s) failed");
    }
    Ok(())
}

/// Starts the servers (pushing them into `servers` so the caller can always
/// stop them), sets Gust up, then runs every target at every connection count.
async fn measure(
    cli: &Cli,
    gust_inputs: Option<(PathBuf, Bytes)>,
    tmp: &Path,
    servers: &mut Vec<ServerProcess>,
) -> anyhow::Result<Report> {
    let mut raw_cmd = Command::new(std::env::current_exe()?);
    // stdin is a pipe we never write: the child exits if we die.
    raw_cmd.arg("raw-server").stdin(Stdio::piped());
    let raw = child::spawn("raw server", raw_cmd).await?;
    let raw_addr = raw.addr;
    servers.push(raw);

    let mut targets = vec![Target {
        name: "raw hyper".into(),
        short: "raw".into(),
        url_path: "/".into(),
        addr: raw_addr,
    }];
    let mut deploy_to_first_response = None;
    let mut async_inputs = None;
    let mut api_token = None;
    let mut hello_domain = None;
    let mut hello_id = None;
    let mut hello_edge_app = None;
    let mut gust_tls_addr = None;
    let mut tls_client = None;

    match gust_inputs {
        None => targets.push(Target {
            name: "raw hyper (again)".into(),
            short: "raw2".into(),
            url_path: "/".into(),
            addr: raw_addr,
        }),
        Some((bin, wasm)) => {
            let data_dir = tmp.join("data");
            std::fs::create_dir(&data_dir)?;
            async_inputs = Some((bin.clone(), wasm.clone()));
            // HTTPS beside plain HTTP, with a certificate made for the run: everything but the
            // HTTPS row goes over the plain listener.
            let (tls_args, connector) = tls::for_run(tmp)?;
            let server =
                gust::spawn_with(&bin, &data_dir, &tmp.join("gust.log"), &[], &tls_args).await?;
            let addr = server.addr;
            gust_tls_addr = server.tls_addr;
            tls_client = Some(connector);
            servers.push(server);
            let server = servers.last_mut().context("gust server")?;

            eprintln!("gust listening on {addr}; deploying hello (wasm)");
            let api = gust::Api::new(addr, &data_dir).await?;
            api_token = Some(api.token().to_string());
            api.create_function("hello", "wasm").await?;
            let (took, body) = api
                .deploy_and_wait("hello", wasm, "application/wasm", server)
                .await?;
            if body != raw_server::BODY {
                eprintln!(
                    "warning: gust hello body differs from the baseline's: {:?}",
                    String::from_utf8_lossy(&body)
                );
            }
            deploy_to_first_response = Some(took);
            hello_domain = Some(api.function_field("hello", "domain_name").await?);
            hello_id = Some(api.function_field("hello", "id").await?);
            hello_edge_app = Some(api.edge_application_running("hello").await?);
            targets.push(Target {
                name: "gust (wasm)".into(),
                short: "gust".into(),
                url_path: gust::function_path("hello"),
                addr,
            });
        }
    }

    // Alternate targets per connection count so each pair sees the same
    // machine state (thermal, background load).
    let mut runs = Vec::new();
    for &conns in &cli.connections {
        for (i, t) in targets.iter().enumerate() {
            eprintln!("measuring {} with {conns} connection(s)…", t.name);
            let shape = load::RequestShape::get(&t.url_path);
            let stats = load::load(t.addr, &shape, conns, cli.warmup, cli.duration).await?;
            runs.push(Run {
                target: i,
                conns,
                stats,
            });
        }
    }

    // Executions through the API, native and translated, and invocations through the
    // function's domain name against its /fn/ path, each pair on the same server.
    let mut dialect_results = Vec::new();
    if let (Some(token), Some(domain), Some(hello_id), Some(&conns), Some(gust)) = (
        &api_token,
        &hello_domain,
        &hello_id,
        cli.connections.iter().max(),
        targets.get(1),
    ) {
        let windows = dialect_run::Windows {
            conns,
            warmup: cli.warmup,
            duration: cli.duration,
            rounds: cli.warm_rounds,
        };
        dialect_results.push(dialect_run::appwrite(gust.addr, token, "hello", &windows).await?);
        dialect_results.push(dialect_run::domain(gust.addr, domain, "hello", &windows).await?);
        dialect_results.push(dialect_run::qinling(gust.addr, token, hello_id, &windows).await?);
        if let Some(app) = hello_edge_app {
            dialect_results.push(dialect_run::edge(gust.addr, app, "hello", &windows).await?);
        }
        if let (Some(tls_addr), Some(tls)) = (gust_tls_addr, &tls_client) {
            dialect_results.push(
                dialect_run::https(gust.addr, tls_addr, tls.clone(), "hello", &windows).await?,
            );
        }
    }

    // Async last, on a server of its own, with the synchronous one stopped.
    let mut async_result = None;
    let process_inputs = async_inputs.clone();
    if let (Some((bin, wasm)), Some(&conns)) = (async_inputs, cli.connections.iter().max()) {
        if let Some(gust) = servers.pop() {
            gust.shutdown().await?;
        }
        eprintln!("measuring async submits with {conns} connection(s), then the drain…");
        async_result = Some(
            async_run::measure(&bin, wasm, tmp, servers, conns, cli.warmup, cli.duration).await?,
        );
    }

    let mut process_result = None;
    if let (Some((bin, _)), Some(&conns)) = (&process_inputs, cli.connections.iter().max())
        && cli.cold_rounds > 0
    {
        if let Some(gust) = servers.pop() {
            gust.shutdown().await?;
        }
        process_result = Some(
            process_run::measure(
                bin,
                tmp,
                servers,
                process_run::Windows {
                    conns,
                    warmup: cli.warmup,
                    duration: cli.duration,
                    rounds: cli.warm_rounds,
                },
                cli.cold_rounds,
            )
            .await?,
        );
    }

    Ok(Report {
        targets,
        runs,
        warmup: cli.warmup,
        duration: cli.duration,
        deploy_to_first_response,
        async_result,
        dialect_results,
        process_result,
    })
}

/// On failure the temp dir is removed, so surface the end of Gust's log.
fn print_log_tail(log: &Path) {
    let Ok(text) = std::fs::read_to_string(log) else {
        return;
    };
    let lines: Vec<&str> = text.lines().collect();
    if lines.is_empty() {
        return;
    }
    eprintln!("--- last lines of gust's stderr ---");
    for line in &lines[lines.len().saturating_sub(30)..] {
        eprintln!("{line}");
    }
    eprintln!("---");
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("x").is_err());
    }
}
