//! `gust admin rotate-key`, `gust audit` and `gust node list`: administration through the
//! running server (admin token; a read token lists nodes).

use clap::{Args, Subcommand};

use crate::context::GlobalArgs;
use crate::output;

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Reseal every secret under a new master key, with the server running: the key file
    /// gets the new key, then loses the old one once nothing is sealed with it.
    RotateKey,
}

pub async fn run(command: AdminCommand, global: &GlobalArgs) -> anyhow::Result<()> {
    let client = global.client();
    match command {
        AdminCommand::RotateKey => {
            let rotation = client.rotate_key().await?;
            if global.json {
                return output::json(&rotation);
            }
            eprintln!(
                "secrets are sealed with master key {} ({} resealed; retired: {})",
                rotation["key_id"], rotation["resealed"], rotation["retired"]
            );
            Ok(())
        }
    }
}

#[derive(Args, Debug)]
pub struct AuditArgs {
    /// Only changes to resources of this kind (function, token, namespace, …).
    #[arg(long)]
    kind: Option<String>,
    /// Only changes to this resource (its id).
    #[arg(long)]
    resource: Option<String>,
    /// Only changes made with this token (its id).
    #[arg(long)]
    token: Option<String>,
    /// Entries per page.
    #[arg(long, default_value = "50")]
    limit: u32,
    /// Where to continue: the `next` cursor a previous page printed.
    #[arg(long)]
    cursor: Option<String>,
}

/// `gust audit`: changes made through any API, newest first.
pub async fn audit(args: AuditArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let client = global.client();
    let limit = args.limit.to_string();
    let mut query = vec![("limit", limit.as_str())];
    for (name, value) in [
        ("resource_kind", &args.kind),
        ("resource_id", &args.resource),
        ("token_id", &args.token),
        ("cursor", &args.cursor),
    ] {
        if let Some(value) = value {
            query.push((name, value.as_str()));
        }
    }
    let page = client.list_audit(&query).await?;
    if global.json {
        return output::json(&page);
    }
    let rows = page
        .items
        .iter()
        .map(|e| {
            let action = serde_json::to_value(e.action)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            let outcome = match &e.error {
                None => e.status.to_string(),
                Some(code) => format!("{} {code}", e.status),
            };
            vec![
                output::time(&e.at),
                action,
                e.resource_kind.clone(),
                e.resource_id.clone().unwrap_or_default(),
                e.token_id.clone().unwrap_or_default(),
                e.client_addr.clone().unwrap_or_default(),
                outcome,
            ]
        })
        .collect();
    output::table(
        &[
            "at", "action", "kind", "resource", "token", "from", "status",
        ],
        rows,
    );
    if let Some(cursor) = page.next_cursor {
        eprintln!("more: --cursor {cursor}");
    }
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum NodeCommand {
    /// The servers sharing the database that are alive now, with their version and load.
    List,
}

/// `gust node list`.
pub async fn node(command: NodeCommand, global: &GlobalArgs) -> anyhow::Result<()> {
    let client = global.client();
    match command {
        NodeCommand::List => {
            let nodes = client.list_nodes().await?;
            if global.json {
                return output::json(&nodes);
            }
            let rows = nodes
                .iter()
                .map(|n| {
                    vec![
                        n.id.clone(),
                        n.version.clone(),
                        n.url.clone(),
                        output::time(&n.started_at),
                        output::time(&n.heartbeat_at),
                        n.running.to_string(),
                        n.queued.to_string(),
                        n.instances.to_string(),
                    ]
                })
                .collect();
            output::table(
                &[
                    "id",
                    "version",
                    "url",
                    "started",
                    "heartbeat",
                    "running",
                    "queued",
                    "instances",
                ],
                rows,
            );
            Ok(())
        }
    }
}
