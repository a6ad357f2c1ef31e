//! Where the CLI finds its server and token: flags, then `GUST_URL`/`GUST_TOKEN`, then the file
//! `gust login` wrote (`$XDG_CONFIG_HOME/gust/config.json` or `~/.config/gust/config.json`).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde::{Deserialize, Serialize};

pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// Server URL [env: GUST_URL] (default: saved by `gust login`, else http://127.0.0.1:8080).
    #[arg(long, global = true)]
    pub url: Option<String>,
    /// API token [env: GUST_TOKEN].
    #[arg(long, global = true)]
    pub token: Option<String>,
    /// Namespace of the function.
    #[arg(short, long, global = true, default_value = gust_core::DEFAULT_NAMESPACE)]
    pub namespace: String,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct SavedLogin {
    pub url: Option<String>,
    pub token: Option<String>,
}

pub fn config_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(base.join("gust").join("config.json"))
}

pub fn load_saved() -> SavedLogin {
    config_path()
        .and_then(|path| std::fs::read(path).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

pub fn save(login: &SavedLogin) -> anyhow::Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = config_path().context("neither XDG_CONFIG_HOME nor HOME is set")?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(&serde_json::to_vec_pretty(login)?)?;
    Ok(path)
}

impl GlobalArgs {
    pub fn resolve_url(&self) -> String {
        self.url
            .clone()
            .or_else(|| std::env::var("GUST_URL").ok())
            .or_else(|| load_saved().url)
            .unwrap_or_else(|| DEFAULT_URL.to_string())
    }

    pub fn resolve_token(&self) -> Option<String> {
        self.token
            .clone()
            .or_else(|| std::env::var("GUST_TOKEN").ok())
            .or_else(|| load_saved().token)
    }

    pub fn client(&self) -> gust_client::Client {
        gust_client::Client::new(&self.resolve_url(), self.resolve_token())
    }
}
