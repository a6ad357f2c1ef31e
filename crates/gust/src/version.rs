//! `gust version create|list|get|delete|instances`: versions of a function, immutable snapshots
//! of its code and configuration, invoked as `gust invoke FN:NUMBER`.

use clap::Subcommand;
use gust_core::{FunctionVersion, VersionSpec};

use crate::context::GlobalArgs;
use crate::output;

#[derive(Subcommand, Debug)]
pub enum VersionCommand {
    /// Snapshot the function's active code and configuration as its next version (refused
    /// when the code is unchanged since the latest version, or past 10 versions).
    Create {
        function: String,
        #[arg(long, short)]
        description: Option<String>,
    },
    /// List a function's versions.
    List { function: String },
    /// Show one version.
    Get { function: String, number: u32 },
    /// Delete a version (refused while an alias points at it).
    Delete { function: String, number: u32 },
    /// List the live workers of a version (process runtimes); `--detach` stops them.
    Instances {
        function: String,
        number: u32,
        #[arg(long)]
        detach: bool,
    },
}

pub async fn run(command: VersionCommand, global: &GlobalArgs) -> anyhow::Result<()> {
    let client = global.client();
    let ns = global.namespace.as_str();
    match command {
        VersionCommand::Create {
            function,
            description,
        } => {
            let version = client
                .create_version(ns, &function, &VersionSpec { description })
                .await?;
            if global.json {
                return output::json(&version);
            }
            println!("{}", version.number);
            eprintln!(
                "version {} of {function} runs deployment {}; invoke it as `gust invoke {function}:{}`",
                version.number, version.deployment_id, version.number
            );
            Ok(())
        }
        VersionCommand::List { function } => {
            let page = client.list_versions(ns, &function).await?;
            if global.json {
                return output::json(&page);
            }
            let rows = page.items.iter().map(row).collect();
            output::table(
                &["VERSION", "DEPLOYMENT", "SHA256", "DESCRIPTION", "CREATED"],
                rows,
            );
            Ok(())
        }
        VersionCommand::Get { function, number } => {
            let version = client.get_version(ns, &function, number).await?;
            if global.json {
                return output::json(&version);
            }
            output::fields(vec![
                ("version", version.number.to_string()),
                ("deployment", version.deployment_id.clone()),
                ("sha256", version.sha256.clone()),
                ("runtime", version.config.runtime.to_string()),
                ("memory_mb", version.config.memory_mb.to_string()),
                ("timeout_s", version.config.timeout_s.to_string()),
                ("description", version.description.clone()),
                ("created", output::time(&version.created_at)),
            ]);
            Ok(())
        }
        VersionCommand::Delete { function, number } => {
            client.delete_version(ns, &function, number).await?;
            eprintln!("deleted version {number} of {function}");
            Ok(())
        }
        VersionCommand::Instances {
            function,
            number,
            detach,
        } => {
            let answer = if detach {
                client.detach_instances(ns, &function, Some(number)).await?
            } else {
                client.list_instances(ns, &function, Some(number)).await?
            };
            if global.json || detach {
                return output::json(&answer);
            }
            let rows = answer["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|i| {
                    vec![
                        i["pid"].to_string(),
                        i["state"].as_str().unwrap_or_default().to_string(),
                        i["requests_served"].to_string(),
                        i["started_at"].as_str().unwrap_or_default().to_string(),
                    ]
                })
                .collect();
            output::table(&["PID", "STATE", "REQUESTS", "STARTED"], rows);
            Ok(())
        }
    }
}

fn row(v: &FunctionVersion) -> Vec<String> {
    vec![
        v.number.to_string(),
        v.deployment_id.clone(),
        v.sha256.chars().take(12).collect(),
        v.description.clone(),
        output::time(&v.created_at),
    ]
}
