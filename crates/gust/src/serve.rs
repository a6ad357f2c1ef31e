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
    let tls = match &settings.tls {
        Some((cert, key)) => Some(
            gust_api::Tls::load(cert.clone(), key.clone()).map_err(|e| anyhow::anyhow!("{e}"))?,
        ),
        None => None,
    };
    let listener = bind(&settings.listen).await?;
    let address = listener.local_addr()?;
    let mut listeners = vec![gust_api::Listener {
        tcp: listener,
        tls: tls.clone(),
        https_port: None,
    }];
    let plain_address = match &settings.plain_listen {
        Some(plain) => {
            let tcp = bind(plain).await?;
            let plain_address = tcp.local_addr()?;
            listeners.push(gust_api::Listener {
                tcp,
                tls: None,
                https_port: Some(address.port()),
            });
            Some(plain_address)
        }
        None => None,
    };
    let bootstrap = Engine::start(settings.server).await?;
    // Signals are caught from before the address is printed: whoever reads it may send one at
    // once, and a signal with no handler yet would kill the process.
    let shutdown = shutdown_signal();
    if let Some(tls) = &tls {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(hangup) => {
                tokio::spawn(reload_on_sighup(tls.clone(), hangup));
            }
            Err(_) => tracing::warn!(
                "could not install a SIGHUP handler; the TLS certificate reloads only on restart"
            ),
        }
    }

    let mut stdout = std::io::stdout().lock();
    if let Some(token) = &bootstrap.new_admin_token {
        writeln!(
            stdout,
            "admin token (shown once; also saved to {}): {token}",
            data_dir.join("admin-token").display()
        )?;
    }
    let scheme = if tls.is_some() { "https" } else { "http" };
    writeln!(stdout, "listening on {scheme}://{address}")?;
    if let Some(plain) = plain_address {
        writeln!(stdout, "listening on http://{plain}")?;
    }
    stdout.flush()?;
    drop(stdout);

    // The other front doors, each under its own prefix: the dialects and the console.
    let doors = gust_compat::router(bootstrap.state.clone())
        .merge(gust_console::router(bootstrap.state.clone()));
    gust_api::serve(listeners, bootstrap.state, doors, settings.limits, shutdown)
        .await
        .context("serving")?;
    tracing::info!("stopped");
    Ok(())
}

async fn bind(address: &str) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("could not listen on {address}"))
}

/// SIGHUP: read the certificate and key again (renewed certificates need no restart). Open
/// connections keep the certificate they were made with.
async fn reload_on_sighup(
    tls: std::sync::Arc<gust_api::Tls>,
    mut hangup: tokio::signal::unix::Signal,
) {
    while hangup.recv().await.is_some() {
        match tls.reload() {
            Ok(()) => tracing::info!("SIGHUP: TLS certificate reloaded"),
            Err(e) => tracing::error!("SIGHUP: {e}; still serving the previous certificate"),
        }
    }
}

/// Resolves on SIGTERM or SIGINT; the handlers are installed when this is called.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let handlers = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        let (Ok(mut term), Ok(mut int)) = handlers else {
            tracing::error!("could not install signal handlers; stop the server with SIGKILL");
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: finishing in-flight requests"),
            _ = int.recv() => tracing::info!("SIGINT: finishing in-flight requests"),
        }
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
