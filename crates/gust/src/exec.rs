//! `gust exec list|get|find|delete|replay`: the record of a function's executions.

use clap::Subcommand;
use gust_core::Execution;

use crate::context::GlobalArgs;
use crate::output;

#[derive(Subcommand, Debug)]
pub enum ExecCommand {
    /// List a function's executions, newest first.
    List {
        function: String,
        /// Only this status (queued, running, completed, failed, timeout).
        #[arg(long)]
        status: Option<String>,
        /// Only this trigger (http, api, schedule, event).
        #[arg(long)]
        trigger: Option<String>,
        /// Only dead letters: async executions that used up their attempts.
        #[arg(long)]
        dead_letter: bool,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Show one execution with its logs.
    Get { function: String, id: String },
    /// Show an execution of any function of the namespace, by its id alone.
    Find { id: String },
    /// Delete a finished execution's record.
    Delete { function: String, id: String },
    /// Run an execution's request again, as a new async execution; or, with `--dead-letters`,
    /// each of the function's dead letters (once: a replayed one is a dead letter no more).
    Replay {
        function: String,
        #[arg(
            required_unless_present = "dead_letters",
            conflicts_with = "dead_letters"
        )]
        id: Option<String>,
        #[arg(long)]
        dead_letters: bool,
        /// With `--dead-letters`: the most to replay, newest first.
        #[arg(long, default_value_t = 100, requires = "dead_letters")]
        limit: u32,
    },
}

pub async fn run(command: ExecCommand, global: &GlobalArgs) -> anyhow::Result<()> {
    let client = global.client();
    let ns = &global.namespace;
    match command {
        ExecCommand::List {
            function,
            status,
            trigger,
            dead_letter,
            limit,
        } => {
            let limit = limit.to_string();
            let mut query = vec![("limit", limit.as_str())];
            if let Some(status) = &status {
                query.push(("status", status));
            }
            if let Some(trigger) = &trigger {
                query.push(("trigger", trigger));
            }
            if dead_letter {
                query.push(("dead_letter", "true"));
            }
            let page = client.list_executions(ns, &function, &query).await?;
            if global.json {
                return output::json(&page);
            }
            let rows = page
                .items
                .iter()
                .map(|e| {
                    vec![
                        e.id.clone(),
                        status_text(e),
                        format!("{:?}", e.trigger).to_lowercase(),
                        e.response
                            .as_ref()
                            .map(|r| r.status_code.to_string())
                            .unwrap_or_else(|| "-".into()),
                        e.duration_us
                            .map(|d| format!("{:.2} ms", d as f64 / 1000.0))
                            .unwrap_or_else(|| "-".into()),
                        output::time(&e.created_at),
                    ]
                })
                .collect();
            output::table(
                &["ID", "STATUS", "TRIGGER", "HTTP", "DURATION", "CREATED"],
                rows,
            );
            Ok(())
        }
        ExecCommand::Get { function, id } => {
            let execution = client.get_execution(ns, &function, &id).await?;
            if global.json {
                return output::json(&execution);
            }
            show(&execution);
            Ok(())
        }
        ExecCommand::Find { id } => {
            let execution = client.find_execution(ns, &id).await?;
            if global.json {
                return output::json(&execution);
            }
            show(&execution);
            Ok(())
        }
        ExecCommand::Delete { function, id } => {
            client.delete_execution(ns, &function, &id).await?;
            eprintln!("deleted execution {id}");
            Ok(())
        }
        ExecCommand::Replay {
            function,
            id: Some(id),
            ..
        } => {
            let execution = client.replay_execution(ns, &function, &id).await?;
            if global.json {
                return output::json(&execution);
            }
            println!("{}", execution.id);
            eprintln!(
                "queued a replay of {id}; `gust exec get {function} {}` shows it",
                execution.id
            );
            Ok(())
        }
        ExecCommand::Replay {
            function,
            id: None,
            limit,
            ..
        } => {
            let replays = client.replay_dead_letters(ns, &function, limit).await?;
            if global.json {
                return output::json(&replays);
            }
            for execution in &replays {
                println!("{}", execution.id);
            }
            eprintln!(
                "queued {} replays of dead letters; `gust exec list {function}` shows them",
                replays.len()
            );
            Ok(())
        }
    }
}

/// The status, with the attempt count for async executions and a mark for dead letters.
fn status_text(e: &Execution) -> String {
    let mut text = e.status.as_str().to_string();
    if e.is_async && e.attempts > 1 {
        text.push_str(&format!(" ({} attempts)", e.attempts));
    }
    if e.dead_letter {
        text.push_str(" [dead letter]");
    }
    text
}

fn show(e: &Execution) {
    output::fields(vec![
        ("id", e.id.clone()),
        ("status", status_text(e)),
        ("trigger", format!("{:?}", e.trigger).to_lowercase()),
        (
            "request",
            format!(
                "{} {}{}",
                e.request.method,
                e.request.path,
                if e.request.query.is_empty() {
                    String::new()
                } else {
                    format!("?{}", e.request.query)
                }
            ),
        ),
        (
            "response",
            e.response
                .as_ref()
                .map(|r| r.status_code.to_string())
                .unwrap_or_else(|| "-".into()),
        ),
        (
            "duration",
            e.duration_us
                .map(|d| format!("{:.2} ms", d as f64 / 1000.0))
                .unwrap_or_else(|| "-".into()),
        ),
        (
            "error",
            e.error_message.clone().unwrap_or_else(|| "-".into()),
        ),
        ("created", output::time(&e.created_at)),
    ]);
    if !e.logs.stdout.is_empty() {
        println!("--- stdout");
        print!("{}", e.logs.stdout);
    }
    if !e.logs.stderr.is_empty() {
        println!("--- stderr");
        print!("{}", e.logs.stderr);
    }
}
