//! `gust deploy PATH`: upload a `.wasm` (or a folder, packed as .tar.gz) with a progress bar,
//! wait for the build, print its log if it fails. Creates the function if it does not exist.
//! A package larger than `--chunk-mib` goes in chunks, each retried from what the server holds
//! when it fails; an upload that still stops can be resumed with `--resume`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use futures_util::StreamExt;
use gust_client::ChunkedUpload;
use gust_core::{DeploymentStatus, FunctionSpec};
use indicatif::{ProgressBar, ProgressStyle};

use crate::context::GlobalArgs;
use crate::output;

#[derive(Args, Debug)]
pub struct DeployArgs {
    /// A .wasm component, a .tar.gz/.zip package, or a folder (packed as .tar.gz).
    path: PathBuf,
    /// Function name (default: the file or folder name).
    #[arg(long = "name", short = 'f')]
    function: Option<String>,
    /// Runtime for a function created by this deploy.
    #[arg(long, default_value = "wasm")]
    runtime: String,
    /// Create the function public (no token needed to invoke).
    #[arg(long)]
    public: bool,
    /// Handler contract for a function created by this deploy: `gust` or `appwrite`.
    #[arg(long, value_parser = crate::function::parse_contract)]
    contract: Option<gust_core::HandlerContract>,
    /// The file in the package to run (an `appwrite` function's module, e.g. `src/index.js`).
    #[arg(long)]
    entrypoint: Option<String>,
    /// Return once uploaded, without waiting for the build.
    #[arg(long)]
    no_wait: bool,
    /// Longest wait for the build, in seconds.
    #[arg(long, default_value_t = 300)]
    wait_timeout: u64,
    /// Send packages larger than this many MiB in chunks of this size, so a failed request
    /// costs one chunk rather than the whole upload.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=4096))]
    chunk_mib: u64,
    /// Go on with the chunked upload an earlier run left unfinished (its deployment id, as
    /// that run printed it), sending only what the server lacks.
    #[arg(long, value_name = "DEPLOYMENT_ID")]
    resume: Option<String>,
}

pub async fn run(args: DeployArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let client = global.client();
    let ns = &global.namespace;
    let name = match &args.function {
        Some(name) => name.clone(),
        None => default_name(&args.path)?,
    };
    let (bytes, content_type) = package(&args.path)?;

    match client.get_function(ns, &name).await {
        Ok(_) => {}
        Err(gust_client::ClientError::Api { status, .. })
            if status == reqwest::StatusCode::NOT_FOUND =>
        {
            let spec = FunctionSpec {
                name: Some(name.clone()),
                runtime: Some(args.runtime.clone()),
                privacy: args.public.then_some(gust_core::Privacy::Public),
                contract: args.contract,
                ..FunctionSpec::default()
            };
            client
                .create_function(ns, &spec)
                .await
                .with_context(|| format!("creating function {name}"))?;
            eprintln!("created function {name}");
        }
        Err(e) => return Err(e.into()),
    }

    let total = bytes.len() as u64;
    let bar = if global.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(total)
    };
    bar.set_style(
        ProgressStyle::with_template("uploading {bar:30} {bytes}/{total_bytes} {bytes_per_sec}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let chunk_size = args.chunk_mib * 1024 * 1024;
    let deployment = if total > chunk_size || args.resume.is_some() {
        let options = ChunkedUpload {
            chunk_size: usize::try_from(chunk_size)?,
            content_type: content_type.into(),
            activate: true,
            entrypoint: args.entrypoint.clone(),
            resume: args.resume.clone(),
            ..ChunkedUpload::default()
        };
        let progress = bar.clone();
        let uploaded = client
            .upload_in_chunks(ns, &name, bytes::Bytes::from(bytes), &options, |held| {
                progress.set_position(held)
            })
            .await;
        match uploaded {
            Ok(deployment) => deployment,
            Err(stopped) => {
                bar.abandon();
                let what = format!("uploading {}", args.path.display());
                return Err(match stopped.deployment {
                    Some(id) => anyhow::Error::new(stopped.error).context(format!(
                        "{what} stopped; deployment {id} holds what arrived: run the same \
                         command with `--resume {id}` to send the rest"
                    )),
                    None => anyhow::Error::new(stopped.error).context(what),
                });
            }
        }
    } else {
        let progress = bar.clone();
        let chunks: Vec<bytes::Bytes> = bytes::Bytes::from(bytes)
            .chunks(64 * 1024)
            .map(bytes::Bytes::copy_from_slice)
            .collect();
        let stream = futures_util::stream::iter(chunks).map(move |chunk| {
            progress.inc(chunk.len() as u64);
            Ok::<_, std::io::Error>(chunk)
        });
        client
            .create_deployment_at(
                ns,
                &name,
                reqwest::Body::wrap_stream(stream),
                content_type,
                true,
                args.entrypoint.as_deref(),
            )
            .await
            .with_context(|| format!("uploading {}", args.path.display()))?
    };
    bar.finish_and_clear();
    eprintln!(
        "uploaded deployment {} ({} bytes, sha256 {})",
        deployment.id,
        deployment.size,
        deployment.sha256.get(..12).unwrap_or_default()
    );
    if args.no_wait {
        return if global.json {
            output::json(&deployment)
        } else {
            Ok(())
        };
    }
    wait_for_build(
        &client,
        global,
        &name,
        &deployment.id,
        Duration::from_secs(args.wait_timeout),
    )
    .await
}

/// Wait for a deployment's build with a spinner, then print the function's URL, or fail with
/// the build log.
pub async fn wait_for_build(
    client: &gust_client::Client,
    global: &GlobalArgs,
    name: &str,
    id: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    let ns = &global.namespace;
    let spinner = if global.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new_spinner()
    };
    spinner.set_message("building");
    spinner.enable_steady_tick(Duration::from_millis(100));
    let built = client.wait_for_build(ns, name, id, timeout).await;
    spinner.finish_and_clear();
    let built = built?;
    if global.json {
        output::json(&built)?;
    }
    if built.status == DeploymentStatus::Failed {
        eprint!("{}", built.build_log);
        bail!(
            "the build of deployment {} failed: {}",
            built.id,
            built.error_message.unwrap_or_default()
        );
    }
    if !global.json {
        let function = client.get_function(ns, name).await?;
        eprintln!(
            "deployment {} is ready in {} ms",
            built.id,
            built.build_duration_ms.unwrap_or(0)
        );
        println!("{}", function.url);
    }
    Ok(())
}

fn default_name(path: &Path) -> anyhow::Result<String> {
    let stem = path
        .file_name()
        .and_then(|n| n.to_str())
        .map(|n| {
            n.trim_end_matches(".wasm")
                .trim_end_matches(".tar.gz")
                .trim_end_matches(".tgz")
                .trim_end_matches(".zip")
        })
        .context("the path has no file name; pass --name")?;
    let name: String = stem
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    Ok(name.trim_matches('-').to_string())
}

/// The bytes to upload and their content type.
fn package(path: &Path) -> anyhow::Result<(Vec<u8>, &'static str)> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.is_dir() {
        return Ok((pack_folder(path)?, "application/gzip"));
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let name = path.to_string_lossy().to_ascii_lowercase();
    let content_type = if name.ends_with(".wasm") {
        "application/wasm"
    } else if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        "application/gzip"
    } else if name.ends_with(".zip") {
        "application/zip"
    } else {
        "application/octet-stream"
    };
    Ok((bytes, content_type))
}

/// Pack a folder as .tar.gz, paths relative to it.
fn pack_folder(dir: &Path) -> anyhow::Result<Vec<u8>> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.follow_symlinks(false);
    tar.append_dir_all(".", dir)
        .with_context(|| format!("packing {}", dir.display()))?;
    Ok(tar.into_inner()?.finish()?)
}
