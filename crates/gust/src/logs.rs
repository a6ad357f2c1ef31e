//! `gust logs FN [-f] [--execution ID]`: what a function's executions printed; `-f` keeps
//! following, as executions finish (or, for one execution, as it prints).

use clap::Args;
use gust_client::SseEvent;
use std::io::Write;

use crate::context::GlobalArgs;

#[derive(Args, Debug)]
pub struct LogsArgs {
    function: String,
    /// Keep following.
    #[arg(long, short)]
    follow: bool,
    /// Only this execution (followed live while it runs).
    #[arg(long)]
    execution: Option<String>,
    /// How many recent executions to show first.
    #[arg(long, default_value_t = 10)]
    tail: u32,
}

pub async fn run(args: LogsArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let client = global.client();
    let ns = &global.namespace;
    let base = format!("/api/v1/namespaces/{ns}/functions/{}", args.function);
    let follow = if args.follow { "true" } else { "false" };
    if let Some(id) = &args.execution {
        if !args.follow {
            let execution = client.get_execution(ns, &args.function, id).await?;
            print_output(&execution.logs.stdout, &execution.logs.stderr);
            return Ok(());
        }
        let mut failure = None;
        client
            .follow(
                &format!("{base}/executions/{id}/logs"),
                &[("follow", "true")],
                |event| {
                    match event.event.as_str() {
                        "stdout" => print_chunk(&mut std::io::stdout(), &event.data),
                        "stderr" => print_chunk(&mut std::io::stderr(), &event.data),
                        "retry" => eprintln!("-- attempt failed, retrying: {}", event.data),
                        "end" => {
                            let end: serde_json::Value =
                                serde_json::from_str(&event.data).unwrap_or_default();
                            if end["status"] != "completed" {
                                failure = Some(
                                    end["error_message"]
                                        .as_str()
                                        .unwrap_or("failed")
                                        .to_string(),
                                );
                            }
                            return false;
                        }
                        _ => {}
                    }
                    true
                },
            )
            .await?;
        if let Some(message) = failure {
            anyhow::bail!("execution {id} did not complete: {message}");
        }
        return Ok(());
    }
    let tail = args.tail.to_string();
    let query = [("follow", follow), ("tail", tail.as_str())];
    if !args.follow {
        let outputs: Vec<serde_json::Value> = client
            .send(
                client
                    .request(reqwest::Method::GET, &format!("{base}/logs"))
                    .query(&query),
            )
            .await?;
        if global.json {
            return crate::output::json(&outputs);
        }
        for output in &outputs {
            print_execution(output);
        }
        return Ok(());
    }
    client
        .follow(&format!("{base}/logs"), &query, |event: SseEvent| {
            if event.event == "execution"
                && let Ok(output) = serde_json::from_str::<serde_json::Value>(&event.data)
            {
                if global.json {
                    println!("{output}");
                } else {
                    print_execution(&output);
                }
            }
            true
        })
        .await?;
    Ok(())
}

/// One execution: a header line, then its output.
fn print_execution(output: &serde_json::Value) {
    let id = output["id"].as_str().unwrap_or_default();
    println!(
        "== {} {} {}{}",
        output["created_at"].as_str().unwrap_or_default(),
        id,
        output["status"].as_str().unwrap_or_default(),
        output["error_message"]
            .as_str()
            .map(|m| format!(": {m}"))
            .unwrap_or_default()
    );
    print_output(
        output["stdout"].as_str().unwrap_or_default(),
        output["stderr"].as_str().unwrap_or_default(),
    );
}

fn print_output(stdout: &str, stderr: &str) {
    print_chunk(&mut std::io::stdout(), stdout);
    print_chunk(&mut std::io::stderr(), stderr);
}

fn print_chunk(out: &mut impl Write, text: &str) {
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}
