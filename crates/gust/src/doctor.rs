//! `gust doctor`: what this host supports, checked here and now: the sandbox parts (namespaces,
//! cgroup controllers, seccomp), the other protections `serve` would run with (no_new_privs,
//! TLS, who can read the master key and the data dir), the interpreters of the process
//! runtimes, whether the WebAssembly pooling allocator gets its address space, and which store
//! holds the state (SQLite in the data dir, or PostgreSQL, which it connects to). Runs
//! locally, with `serve`'s flags and variables; needs no server.

mod protections;

use anyhow::Context;
use clap::Args;
use gust_runtime_process::ProcessRuntime;

use crate::settings::{ServeFlags, Settings};

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// The configuration to check: the same flags as `gust serve`.
    #[command(flatten)]
    serve: ServeFlags,
}

pub async fn run(args: DoctorArgs, global: &crate::context::GlobalArgs) -> anyhow::Result<()> {
    let settings = Settings::read(args.serve)?;
    let protections = protections::check(&settings);
    let store = store(&settings).await;
    // The host as `gust serve` would use it (its pool size, its interpreters), in a scratch dir.
    let server = settings.server;
    let scratch = tempfile::tempdir().context("creating a scratch dir")?;
    let wasm = gust_runtime_wasm::WasmRuntime::new(gust_runtime_wasm::WasmConfig {
        artifacts_dir: scratch.path().join("artifacts"),
        ..server.wasm
    })
    .context("starting the WebAssembly runtime")?;
    let process = ProcessRuntime::start(gust_runtime_process::ProcessConfig {
        data_dir: scratch.path().into(),
        // A check, not a server: no interpreters kept warm.
        stem_cells: 0,
        ..server.process
    })
    .await;
    let runtimes = match &process {
        Ok(runtime) => runtime.runtimes(),
        Err(e) => ProcessRuntime::unavailable(&e.to_string()),
    };
    if global.json {
        let sandbox = process.as_ref().ok().map(|p| {
            p.sandbox_support()
                .features
                .iter()
                .map(|f| {
                    serde_json::json!({
                        "part": f.capability.label(),
                        "available": f.available,
                        "detail": f.detail,
                    })
                })
                .collect::<Vec<_>>()
        });
        return crate::output::json(&serde_json::json!({
            "sandbox": sandbox,
            "sandbox_error": process.as_ref().err().map(|e| e.to_string()),
            "protections": protections,
            "runtimes": runtimes,
            "wasm_pooling": wasm.pooling(),
            "store": store,
        }));
    }
    println!("sandbox");
    match &process {
        Ok(runtime) => print!("{}", runtime.sandbox_support()),
        Err(e) => println!("  unavailable: {e}"),
    }
    println!("\nstore");
    println!(
        "{:<34} {:<8} {}",
        store.kind,
        if store.reachable { "ok" } else { "off" },
        store.detail
    );
    println!("\nprotections");
    protections::print(&protections);
    println!("\nruntimes");
    let allocation = if wasm.pooling() {
        "pooling allocator"
    } else {
        "on-demand allocation: the pooling reservation was refused"
    };
    println!(
        "{:<34} {:<8} {} ({allocation})",
        "wasm",
        "ok",
        wasm.version()
    );
    for runtime in runtimes.iter().filter(|r| r.id.is_process()) {
        println!(
            "{:<34} {:<8} {}",
            runtime.id.as_str(),
            if runtime.available { "ok" } else { "missing" },
            if runtime.available {
                runtime.version.clone()
            } else {
                runtime.reason.clone().unwrap_or_default()
            }
        );
    }
    Ok(())
}

/// Which store `serve` would keep its state in, and whether it is there.
#[derive(Debug, serde::Serialize)]
struct StoreCheck {
    kind: &'static str,
    /// Where (a PostgreSQL URL with its password masked).
    location: String,
    reachable: bool,
    detail: String,
}

async fn store(settings: &Settings) -> StoreCheck {
    match &settings.server.database_url {
        Some(url) => {
            let location = gust_store::PgStore::redacted(url);
            let version = tokio::time::timeout(
                std::time::Duration::from_secs(10),
                gust_store::PgStore::server_version(url),
            )
            .await;
            let (reachable, detail) = match version {
                Ok(Ok(version)) => (true, format!("{location}: {version}")),
                Ok(Err(e)) => (
                    false,
                    format!("{location}: cannot connect: {:#}", anyhow::Error::from(e)),
                ),
                Err(_) => (false, format!("{location}: no answer in 10 s")),
            };
            StoreCheck {
                kind: "postgresql",
                location,
                reachable,
                detail,
            }
        }
        None => {
            let path = settings.server.data_dir.join("gust.db");
            let location = path.display().to_string();
            StoreCheck {
                kind: "sqlite",
                reachable: true,
                detail: if path.exists() {
                    location.clone()
                } else {
                    format!("{location} (made at first start)")
                },
                location,
            }
        }
    }
}
