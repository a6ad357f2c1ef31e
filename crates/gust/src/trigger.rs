//! `gust trigger create|list|delete`: cron and event triggers of a function.

use anyhow::bail;
use clap::Subcommand;

use crate::context::GlobalArgs;
use crate::output;

#[derive(Subcommand, Debug)]
pub enum TriggerCommand {
    /// Add a trigger: `--cron` (with `--timezone`, `--body`) or `--event` patterns.
    Create {
        function: String,
        /// A 5-field cron expression (`*/5 * * * *`), `@hourly`, or `@every 30s`.
        #[arg(long, conflicts_with = "event")]
        cron: Option<String>,
        /// IANA timezone the cron expression is read in (default UTC).
        #[arg(long, requires = "cron")]
        timezone: Option<String>,
        /// Request body each tick sends.
        #[arg(long, requires = "cron")]
        body: Option<String>,
        /// Event pattern, e.g. `functions.*.deployments.*.update` (repeatable).
        #[arg(long)]
        event: Vec<String>,
    },
    /// List a function's triggers.
    List { function: String },
    /// Remove a trigger.
    Delete { function: String, id: String },
}

pub async fn run(command: TriggerCommand, global: &GlobalArgs) -> anyhow::Result<()> {
    let client = global.client();
    let ns = &global.namespace;
    match command {
        TriggerCommand::Create {
            function,
            cron,
            timezone,
            body,
            event,
        } => {
            let spec = match (cron, event.is_empty()) {
                (Some(schedule), true) => serde_json::json!({
                    "kind": "cron", "schedule": schedule, "timezone": timezone, "body": body,
                }),
                (None, false) => serde_json::json!({ "kind": "event", "events": event }),
                _ => bail!("give either --cron EXPR or one or more --event PATTERN"),
            };
            let trigger = client.create_trigger(ns, &function, &spec).await?;
            if global.json {
                return output::json(&trigger);
            }
            println!("{}", trigger.id);
            if let Some(next) = trigger.next_run_at {
                eprintln!("next run at {}", output::time(&next));
            }
            Ok(())
        }
        TriggerCommand::List { function } => {
            let page = client.list_triggers(ns, &function).await?;
            if global.json {
                return output::json(&page);
            }
            let rows = page
                .items
                .iter()
                .map(|t| {
                    let what = match t.kind {
                        gust_core::TriggerKind::Cron => format!(
                            "{}{}",
                            t.schedule.clone().unwrap_or_default(),
                            t.timezone
                                .as_ref()
                                .map(|tz| format!(" ({tz})"))
                                .unwrap_or_default()
                        ),
                        gust_core::TriggerKind::Event => t.events.join(", "),
                    };
                    vec![
                        t.id.clone(),
                        t.kind.as_str().to_string(),
                        what,
                        t.next_run_at
                            .as_ref()
                            .map(output::time)
                            .unwrap_or_else(|| "-".into()),
                        format!("{:?}", t.origin).to_lowercase(),
                    ]
                })
                .collect();
            output::table(&["ID", "KIND", "WHEN", "NEXT RUN", "FROM"], rows);
            Ok(())
        }
        TriggerCommand::Delete { function, id } => {
            client.delete_trigger(ns, &function, &id).await?;
            eprintln!("deleted trigger {id}");
            Ok(())
        }
    }
}
