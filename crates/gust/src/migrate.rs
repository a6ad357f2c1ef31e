//! `gust migrate`: move a stopped single node's state (its SQLite database and code blobs)
//! into an empty PostgreSQL database and the shared blob store a cluster runs on.
//!
//! Blobs go first (they are addressed by digest, so a second try just writes them again),
//! with the built folders of process functions packed as the builder packs them for a shared
//! store; then the rows (`gust_store::migrate`), then the checks: counts per table on both
//! sides, and each blob read back from the target and its sha256 compared.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use gust_store::migrate::{
    copy_tables, deployments_without_built_code, rows_in_use, sqlite_in_use,
};
use gust_store::seal::parse_key_file;
use gust_store::{BlobStore, BlobUrl, Keyring, PgStore, SqliteStore, Store, file_sha256};

#[derive(Args)]
#[command(
    after_help = "The server using DATA_DIR must be stopped first (one still holding its \
    database is detected and refused). The target database must be empty (a new \
    one); the target's nodes need the same master key file and DATA_DIR/url-key."
)]
pub struct MigrateArgs {
    /// The data dir of the single node to move (it holds gust.db, blobs/ and master.key).
    #[arg(long, value_name = "DATA_DIR")]
    from: PathBuf,
    /// The PostgreSQL database to move into: postgres://user:password@host:port/database.
    #[arg(
        long,
        env = "GUST_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    database_url: String,
    /// The shared blob store the cluster's nodes use (s3://BUCKET/PREFIX?endpoint=URL or
    /// file:///DIR); without it only the database is moved.
    #[arg(
        long,
        env = "GUST_BLOB_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    blob_url: Option<String>,
    /// The master key file the node used [default: DATA_DIR/master.key].
    #[arg(long, env = "GUST_MASTER_KEY_FILE", value_name = "FILE")]
    master_key_file: Option<PathBuf>,
}

/// Input the migration refuses, with what to do about it: exits with status 2.
#[derive(Debug)]
pub struct Refused {
    pub message: String,
    pub hint: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refused {}

fn refused(message: impl Into<String>, hint: impl Into<String>) -> anyhow::Error {
    Refused {
        message: message.into(),
        hint: hint.into(),
    }
    .into()
}

pub async fn run(args: MigrateArgs) -> anyhow::Result<()> {
    let from = args.from;
    let database = from.join("gust.db");
    if !database.is_file() {
        return Err(refused(
            format!("{} holds no gust.db", from.display()),
            "--from names the data dir of a single node (its --data-dir)",
        ));
    }
    let key_path = args
        .master_key_file
        .unwrap_or_else(|| from.join("master.key"));
    let keyring = read_keyring(&key_path)?;
    let blob_url = match &args.blob_url {
        Some(text) => Some(text.parse::<BlobUrl>().map_err(|e| {
            refused(
                format!("--blob-url: {e}"),
                "give s3://BUCKET/PREFIX?endpoint=URL or file:///DIR",
            )
        })?),
        None => None,
    };

    if sqlite_in_use(&database)? {
        return Err(refused(
            format!(
                "{} is in use: a server is still running on {}",
                database.display(),
                from.display()
            ),
            "stop that `gust serve` first; what it writes during a migration would not be \
             carried over",
        ));
    }
    let source = SqliteStore::open_with_keyring(&database, 1, keyring.clone())
        .await
        .with_context(|| format!("opening {}", database.display()))?;
    let target = PgStore::connect(&args.database_url, 4, keyring)
        .await
        .with_context(|| format!("connecting to {}", PgStore::redacted(&args.database_url)))?;
    let used = rows_in_use(&target).await?;
    if !used.is_empty() {
        let held: Vec<String> = used.iter().map(|(t, n)| format!("{t} {n}")).collect();
        return Err(refused(
            format!(
                "the target database is not empty (it holds {}); nothing was copied",
                held.join(", ")
            ),
            "migrate into a new, empty database (e.g. `createdb gust`); a cluster already \
             running keeps its own state",
        ));
    }

    let scratch = tempfile::Builder::new()
        .prefix(".gust-migrate")
        .tempdir_in(&from)
        .context("making a scratch folder in the data dir")?;
    let mut built = Vec::new();
    let mut blob_count = (0, 0);
    if let Some(url) = &blob_url {
        let shared = BlobStore::open_shared(scratch.path().join("upload"), url)
            .await
            .context("opening --blob-url")?;
        blob_count = copy_blobs(&from, &shared).await?;
        built = share_built_code(&from, &source, &shared, scratch.path()).await?;
    }

    eprintln!(
        "copying rows into {}",
        PgStore::redacted(&args.database_url)
    );
    // Batches are a thousand rows: a line per hundred thousand shows a large table moving.
    let copies = copy_tables(&source, &target, |table, rows| {
        if rows > 0 && rows % 100_000 == 0 {
            eprintln!("  {table}: {rows} rows so far");
        }
    })
    .await?;
    for (function_id, deployment_id, sha) in &built {
        let mut deployment = target.get_deployment(function_id, deployment_id).await?;
        deployment.built_sha256 = Some(sha.clone());
        target.update_deployment(&deployment).await?;
    }

    let mut mismatches = Vec::new();
    let rows = copies
        .iter()
        .map(|copy| {
            let ok = copy.source_rows == copy.target_rows;
            if !ok {
                mismatches.push(format!(
                    "{}: {} rows in the source, {} in the target",
                    copy.table, copy.source_rows, copy.target_rows
                ));
            }
            vec![
                copy.table.clone(),
                copy.source_rows.to_string(),
                copy.target_rows.to_string(),
                if ok { "ok" } else { "MISMATCH" }.to_string(),
            ]
        })
        .collect();
    crate::output::table(&["TABLE", "SOURCE", "TARGET", "CHECK"], rows);
    if let Some(url) = &blob_url {
        let built_shas: Vec<String> = built.iter().map(|(_, _, sha)| sha.clone()).collect();
        let checked = check_blobs(&from, &built_shas, url, scratch.path()).await?;
        mismatches.extend(checked.1);
        println!(
            "blobs: {} ({} bytes) copied, and the built code of {} deployment(s) packed; \
             {} read back with their sha256",
            blob_count.0,
            blob_count.1,
            built.len(),
            checked.0
        );
    } else {
        println!("blobs: not copied (no --blob-url)");
    }
    source.close().await;
    target.close().await;
    if !mismatches.is_empty() {
        anyhow::bail!("the copy does not match: {}", mismatches.join("; "));
    }
    println!(
        "done. Copy {} (as --master-key-file or DATA_DIR/master.key) and {} to every node \
         before its first start; the admin token is the one in {}.",
        key_path.display(),
        from.join("url-key").display(),
        from.join("admin-token").display()
    );
    Ok(())
}

fn read_keyring(path: &Path) -> anyhow::Result<Arc<Keyring>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        refused(
            format!("reading the master key file {}: {e}", path.display()),
            "pass the file the node was started with: --master-key-file FILE",
        )
    })?;
    let keys = parse_key_file(&text).and_then(Keyring::new).map_err(|e| {
        refused(
            format!("the master key file {}: {e}", path.display()),
            "pass the file the node was started with: --master-key-file FILE",
        )
    })?;
    Ok(Arc::new(keys))
}

/// Upload every blob of the node's own store; their count and bytes.
async fn copy_blobs(from: &Path, shared: &BlobStore) -> anyhow::Result<(u64, u64)> {
    let local = BlobStore::open(from.join("blobs"))?;
    let shas = local.list().await?;
    eprintln!("copying {} blobs", shas.len());
    let mut bytes = 0;
    for sha in &shas {
        let stored = shared
            .put_file(&local.path(sha))
            .await
            .with_context(|| format!("uploading blob {sha}"))?;
        if &stored.sha256 != sha {
            anyhow::bail!(
                "the blob file {} does not hold the bytes its name says (sha256 {})",
                local.path(sha).display(),
                stored.sha256
            );
        }
        bytes += stored.size;
        // The upload's copy in the scratch cache is not needed again (`remove` would delete
        // the shared one too).
        std::fs::remove_file(shared.path(sha)).ok();
    }
    Ok((shas.len() as u64, bytes))
}

/// Pack and upload the built folder of each ready process deployment, as a build with a
/// shared store does, so other nodes run what this node built instead of building again.
/// Returns (function, deployment, sha256) for each.
async fn share_built_code(
    from: &Path,
    source: &gust_store::SqlStore,
    shared: &BlobStore,
    scratch: &Path,
) -> anyhow::Result<Vec<(String, String, String)>> {
    let mut built = Vec::new();
    for deployment in deployments_without_built_code(source).await? {
        let dir = gust_engine::live::code_dir(from, &deployment.id);
        if !dir.is_dir() {
            eprintln!(
                "warning: deployment {} has no built folder at {}; other nodes will build its upload again",
                deployment.id,
                dir.display()
            );
            continue;
        }
        let packed = scratch.join(format!("{}.built.tar.gz", deployment.id));
        let out = packed.clone();
        tokio::task::spawn_blocking(move || gust_engine::archive::pack(&dir, &out))
            .await?
            .with_context(|| format!("packing the built code of deployment {}", deployment.id))?;
        let stored = shared.put_file(&packed).await?;
        std::fs::remove_file(&packed).ok();
        std::fs::remove_file(shared.path(&stored.sha256)).ok();
        built.push((deployment.function_id, deployment.id, stored.sha256));
    }
    Ok(built)
}

/// Read every blob back from the shared store into a fresh cache (which checks its sha256)
/// and check it again here; the count read back, and what did not match.
async fn check_blobs(
    from: &Path,
    built: &[String],
    url: &BlobUrl,
    scratch: &Path,
) -> anyhow::Result<(u64, Vec<String>)> {
    let local = BlobStore::open(from.join("blobs"))?;
    let fresh = BlobStore::open_shared(scratch.join("check"), url).await?;
    let mut read = 0;
    let mut wrong = Vec::new();
    let mut shas = local.list().await?;
    shas.extend(built.iter().cloned());
    for sha in shas {
        match fresh.local(&sha).await {
            Ok(path) => match file_sha256(&path).await? {
                Some(found) if found == sha => read += 1,
                found => wrong.push(format!("blob {sha} reads back as {found:?}")),
            },
            Err(e) => wrong.push(format!("blob {sha} does not read back: {e}")),
        }
        std::fs::remove_file(fresh.path(&sha)).ok();
    }
    Ok((read, wrong))
}
