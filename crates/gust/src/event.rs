//! `gust event publish NAME [--data JSON]`: publish a custom event to the namespace.

use anyhow::Context;
use clap::Subcommand;

use crate::context::GlobalArgs;
use crate::output;

#[derive(Subcommand, Debug)]
pub enum EventCommand {
    /// Publish a custom event; matching event triggers start async executions.
    Publish {
        /// Dot-separated name, e.g. `orders.created`.
        name: String,
        /// JSON payload.
        #[arg(long, short, default_value = "null")]
        data: String,
    },
}

pub async fn run(command: EventCommand, global: &GlobalArgs) -> anyhow::Result<()> {
    match command {
        EventCommand::Publish { name, data } => {
            let payload: serde_json::Value =
                serde_json::from_str(&data).context("--data must be JSON")?;
            let published = global
                .client()
                .publish_event(&global.namespace, &name, &payload)
                .await?;
            if global.json {
                return output::json(&published);
            }
            let started = published["executions"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            println!("{}", published["event"]["id"].as_str().unwrap_or_default());
            eprintln!("started {} execution(s)", started.len());
            Ok(())
        }
    }
}
