//! `gust serve`: start the server and run until SIGINT or SIGTERM, then stop accepting, let
//! in-flight requests finish and exit 0.

use std::io::Write;

use anyhow::Context;
use gust_engine::Engine;

use crate::settings::{LogFormat, ServeFlags, Settings};

pub async fn run(flags: ServeFlags) -> anyhow::Result<()> {
    let settings = Settings::read(flags)?;
    init_tracing(settings.log_filter, settings.log_format);
    for name in &settings.unknown_variables {
        tracing::warn!("{name} is set but is no setting of gust serve; misspelt?");
    }
    let data_dir = settings.server.data_dir.clone();
    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("could not listen on {}", settings.listen))?;
    let address = listener.local_addr()?;
    let bootstrap = Engine::start(settings.server).await?;

    let mut stdout = std::io::stdout().lock();
    if let Some(token) = &bootstrap.new_admin_token {
        writeln!(
            stdout,
            "admin token (shown once; also saved to {}): {token}",
            data_dir.join("admin-token").display()
        )?;
    }
    writeln!(stdout, "listening on http://{address}")?;
    stdout.flush()?;
    drop(stdout);

    let dialects = gust_compat::router(bootstrap.state.clone());
    gust_api::serve(listener, bootstrap.state, dialects, shutdown_signal())
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

fn init_tracing(filter: tracing_subscriber::EnvFilter, format: LogFormat) {
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
