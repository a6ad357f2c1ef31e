//! `gust serve`: start the server and run until SIGINT or SIGTERM, then stop accepting, let
//! in-flight requests finish and exit 0.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use gust_engine::{Engine, ServerConfig};

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the real one is printed).
    #[arg(long, default_value = "127.0.0.1:8080", env = "GUST_LISTEN")]
    listen: String,
    /// Where state lives: the SQLite database, code blobs, compiled artifacts.
    #[arg(long, default_value = "./gust-data", env = "GUST_DATA_DIR")]
    data_dir: PathBuf,
    /// Largest deployment upload, in MiB [env: GUST_MAX_UPLOAD_MB] (default 100).
    #[arg(long)]
    max_upload_mb: Option<u64>,
    /// Base URL shown in function URLs (default: http://<listen address>).
    #[arg(long, env = "GUST_PUBLIC_URL")]
    public_url: Option<String>,
    /// Server log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    init_tracing(args.log_format);
    let mut config = ServerConfig::new(args.data_dir.clone());
    if let Some(mb) = args.max_upload_mb {
        config.max_upload_bytes = mb * 1024 * 1024;
    }
    config.public_url = args.public_url.clone();
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("could not listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    let bootstrap = Engine::start(config).await?;

    let mut stdout = std::io::stdout().lock();
    if let Some(token) = &bootstrap.new_admin_token {
        writeln!(
            stdout,
            "admin token (shown once; also saved to {}): {token}",
            args.data_dir.join("admin-token").display()
        )?;
    }
    writeln!(stdout, "listening on http://{address}")?;
    stdout.flush()?;
    drop(stdout);

    gust_api::serve(listener, bootstrap.state, shutdown_signal())
        .await
        .context("serving")?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("could not install signal handlers; stop the server with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: finishing in-flight requests"),
        _ = int.recv() => tracing::info!("SIGINT: finishing in-flight requests"),
    }
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("GUST_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,wasmtime=warn,cranelift=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder
            .with_ansi(std::env::var_os("NO_COLOR").is_none())
            .init(),
        LogFormat::Json => builder.json().init(),
    }
}
