//! `gust trigger create|update|list|delete`: cron, event and queue triggers of a function;
//! `gust trigger next`: when a schedule would fire.

use anyhow::bail;
use clap::Subcommand;

use crate::context::GlobalArgs;
use crate::output;

#[derive(Subcommand, Debug)]
pub enum TriggerCommand {
    /// Add a trigger: `--cron` (with `--timezone`, `--body`, `--count`, `--first-run-at`), a
    /// single run at `--first-run-at`, `--event` patterns, or a queue (`--sqs` or `--nats`; kept
    /// in error: Gust connects to no broker, see its message).
    Create {
        function: String,
        /// Free text shown in lists.
        #[arg(long)]
        name: Option<String>,
        /// A 5-field cron expression (`*/5 * * * *`), `@hourly`, or `@every 30s`.
        #[arg(long, conflicts_with = "event")]
        cron: Option<String>,
        /// Runs it makes before it is done (default: no limit).
        #[arg(long, requires = "cron")]
        count: Option<u32>,
        /// When it first runs (RFC 3339, e.g. 2030-01-01T09:00:00Z); without `--cron`, its only run.
        #[arg(long, conflicts_with_all = ["event", "sqs", "nats"])]
        first_run_at: Option<chrono::DateTime<chrono::Utc>>,
        /// IANA timezone the cron expression is read in (default UTC).
        #[arg(long, requires = "cron")]
        timezone: Option<String>,
        /// Request body each tick sends.
        #[arg(long, requires = "cron")]
        body: Option<String>,
        /// Event pattern, e.g. `functions.*.deployments.*.update` (repeatable).
        #[arg(long)]
        event: Vec<String>,
        /// An SQS queue the function would consume.
        #[arg(long, conflicts_with_all = ["cron", "nats"])]
        sqs: Option<String>,
        /// A NATS subject the function would consume.
        #[arg(long, conflicts_with = "cron")]
        nats: Option<String>,
    },
    /// Change a trigger's name, schedule, timezone, body, runs left or next run; pause, resume
    /// or cancel a cron trigger (cancelling is final).
    Update {
        function: String,
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        cron: Option<String>,
        #[arg(long)]
        timezone: Option<String>,
        #[arg(long)]
        body: Option<String>,
        /// Runs left.
        #[arg(long)]
        count: Option<u32>,
        /// When it runs next (RFC 3339).
        #[arg(long)]
        next_run_at: Option<chrono::DateTime<chrono::Utc>>,
        /// Stop firing until resumed.
        #[arg(long, conflicts_with_all = ["resume", "cancel"])]
        pause: bool,
        /// Fire again, from the next tick after now.
        #[arg(long, conflicts_with = "cancel")]
        resume: bool,
        /// Stop firing for good.
        #[arg(long)]
        cancel: bool,
    },
    /// List a function's triggers.
    List { function: String },
    /// Remove a trigger.
    Delete { function: String, id: String },
    /// Print when a cron schedule would fire next, as a cron trigger would fire it.
    Next {
        /// A 5-field cron expression (`*/5 * * * *`), `@hourly`, or `@every 30s`.
        schedule: String,
        /// IANA timezone the expression is read in (default UTC).
        #[arg(long)]
        timezone: Option<String>,
        /// How many times (1-20).
        #[arg(long, default_value_t = 5)]
        count: u32,
    },
}

pub async fn run(command: TriggerCommand, global: &GlobalArgs) -> anyhow::Result<()> {
    let client = global.client();
    let ns = &global.namespace;
    match command {
        TriggerCommand::Create {
            function,
            name,
            cron,
            count,
            first_run_at,
            timezone,
            body,
            event,
            sqs,
            nats,
        } => {
            let queue = |protocol: &str, name: String| serde_json::json!({"protocol": protocol, "name": name});
            let single_run = first_run_at.is_some();
            let mut spec = match (cron, event.is_empty(), sqs, nats) {
                (schedule, true, None, None) if schedule.is_some() || single_run => {
                    serde_json::json!({
                        "kind": "cron", "schedule": schedule, "timezone": timezone, "body": body,
                        "count": count, "first_run_at": first_run_at,
                    })
                }
                (None, false, None, None) => {
                    serde_json::json!({ "kind": "event", "events": event })
                }
                (None, true, Some(q), None) => {
                    serde_json::json!({ "kind": "queue", "queue": queue("sqs", q) })
                }
                (None, true, None, Some(subject)) => {
                    serde_json::json!({ "kind": "queue", "queue": queue("nats", subject) })
                }
                _ => bail!(
                    "give one of --cron EXPR, --first-run-at TIME, one or more --event PATTERN, \
                     --sqs QUEUE or --nats SUBJECT"
                ),
            };
            if let Some(name) = name {
                spec["name"] = name.into();
            }
            let trigger = client.create_trigger(ns, &function, &spec).await?;
            if global.json {
                return output::json(&trigger);
            }
            println!("{}", trigger.id);
            if let Some(next) = trigger.next_run_at {
                eprintln!("next run at {}", output::time(&next));
            }
            if let Some(why) = &trigger.error_message {
                eprintln!("status error: {why}");
            }
            Ok(())
        }
        TriggerCommand::Update {
            function,
            id,
            name,
            cron,
            timezone,
            body,
            count,
            next_run_at,
            pause,
            resume,
            cancel,
        } => {
            let status = match (pause, resume, cancel) {
                (true, _, _) => Some("paused"),
                (_, true, _) => Some("ready"),
                (_, _, true) => Some("cancelled"),
                _ => None,
            };
            let patch = serde_json::json!({
                "name": name, "schedule": cron, "timezone": timezone, "body": body,
                "count": count, "next_run_at": next_run_at, "status": status,
            });
            let trigger = client.update_trigger(ns, &function, &id, &patch).await?;
            if global.json {
                return output::json(&trigger);
            }
            eprintln!("updated trigger {id}: {}", trigger.status.as_str());
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
                        gust_core::TriggerKind::Queue => t
                            .queue
                            .as_ref()
                            .map(|q| format!("{:?} {}", q.protocol, q.name).to_lowercase())
                            .unwrap_or_default(),
                    };
                    vec![
                        t.id.clone(),
                        t.kind.as_str().to_string(),
                        what,
                        t.next_run_at
                            .as_ref()
                            .map(output::time)
                            .unwrap_or_else(|| "-".into()),
                        match t.count {
                            Some(left) => format!("{} ({left} left)", t.status.as_str()),
                            None => t.status.as_str().to_string(),
                        },
                        format!("{:?}", t.origin).to_lowercase(),
                    ]
                })
                .collect();
            output::table(&["ID", "KIND", "WHEN", "NEXT RUN", "STATUS", "FROM"], rows);
            Ok(())
        }
        TriggerCommand::Delete { function, id } => {
            client.delete_trigger(ns, &function, &id).await?;
            eprintln!("deleted trigger {id}");
            Ok(())
        }
        TriggerCommand::Next {
            schedule,
            timezone,
            count,
        } => {
            let times = client
                .next_fire_times(&schedule, timezone.as_deref(), count)
                .await?;
            if global.json {
                return output::json(&times);
            }
            for time in &times {
                // RFC 3339 in UTC, and the same instant in the schedule's timezone when given.
                match timezone.as_deref().map(str::parse::<chrono_tz::Tz>) {
                    Some(Ok(tz)) => println!(
                        "{}  {}",
                        time.to_rfc3339(),
                        time.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S %Z")
                    ),
                    _ => println!("{}", time.to_rfc3339()),
                }
            }
            Ok(())
        }
    }
}
