//! `gust login`: check a server URL and token, then save them for later commands.

use anyhow::Context;
use clap::Args;

use crate::context::{self, GlobalArgs, SavedLogin};

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Read the token from this file (for example the server's DATA_DIR/admin-token).
    #[arg(long)]
    token_file: Option<std::path::PathBuf>,
}

pub async fn run(args: LoginArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let url = global.resolve_url();
    let token = match &args.token_file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("reading {}", path.display()))?
            .trim()
            .to_string(),
        None => match global.resolve_token() {
            Some(token) => token,
            None => {
                eprint!("token: ");
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .context("reading the token from stdin")?;
                line.trim().to_string()
            }
        },
    };
    anyhow::ensure!(
        !token.is_empty(),
        "no token given: pass --token, --token-file or GUST_TOKEN"
    );
    let client = gust_client::Client::new(&url, Some(token.clone()));
    client
        .runtimes()
        .await
        .with_context(|| format!("checking the token against {url}"))?;
    let path = context::save(&SavedLogin {
        url: Some(url.clone()),
        token: Some(token),
    })?;
    eprintln!("logged in to {url}; saved to {}", path.display());
    Ok(())
}
