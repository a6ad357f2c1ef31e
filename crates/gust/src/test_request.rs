//! `gust fn test-request list|save|delete|run FN`: a function's saved test requests, and
//! running one (invoking the function with it and printing the response).

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::{Context, bail};
use clap::Subcommand;
use gust_core::TestRequestSpec;

use crate::context::GlobalArgs;
use crate::output;

#[derive(Subcommand, Debug)]
pub enum TestRequestCommand {
    /// List a function's saved test requests.
    List { function: String },
    /// Save a test request under a name (replacing one of that name).
    Save {
        function: String,
        name: String,
        /// HTTP method (default: POST with --data, GET without).
        #[arg(long, short = 'X')]
        method: Option<String>,
        /// Path after the function's URL, with its query.
        #[arg(long, default_value = "/")]
        path: String,
        /// Header `NAME: VALUE` (repeatable).
        #[arg(long = "header", short = 'H', value_parser = parse_header)]
        headers: Vec<(String, String)>,
        /// Body; `@file` reads a file, `-` reads stdin.
        #[arg(long, short)]
        data: Option<String>,
    },
    /// Delete a saved test request.
    Delete { function: String, name: String },
    /// Invoke the function with a saved test request and print the response body (the status
    /// and headers too with `-i`, to stderr).
    Run {
        function: String,
        name: String,
        /// Print the status and headers before the body (to stderr).
        #[arg(long, short = 'i')]
        include: bool,
    },
}

fn parse_header(s: &str) -> Result<(String, String), String> {
    let (name, value) = s
        .split_once(':')
        .ok_or_else(|| format!("`{s}` is not NAME: VALUE"))?;
    Ok((name.trim().to_string(), value.trim().to_string()))
}

pub async fn run(command: TestRequestCommand, global: &GlobalArgs) -> anyhow::Result<()> {
    let client = global.client();
    let ns = &global.namespace;
    match command {
        TestRequestCommand::List { function } => {
            let requests = client.list_test_requests(ns, &function).await?;
            if global.json {
                return output::json(&requests);
            }
            let rows = requests
                .iter()
                .map(|r| {
                    vec![
                        r.name.clone(),
                        r.method.clone(),
                        r.path.clone(),
                        r.headers.len().to_string(),
                        r.body.len().to_string(),
                        output::time(&r.updated_at),
                    ]
                })
                .collect();
            output::table(
                &["NAME", "METHOD", "PATH", "HEADERS", "BODY BYTES", "UPDATED"],
                rows,
            );
            Ok(())
        }
        TestRequestCommand::Save {
            function,
            name,
            method,
            path,
            headers,
            data,
        } => {
            let body = match data.as_deref() {
                None => None,
                Some("-") => {
                    let mut buf = String::new();
                    std::io::Read::read_to_string(&mut std::io::stdin(), &mut buf)
                        .context("reading stdin (a test request's body is text)")?;
                    Some(buf)
                }
                Some(d) if d.starts_with('@') => Some(
                    std::fs::read_to_string(&d[1..])
                        .with_context(|| format!("reading {} as text", &d[1..]))?,
                ),
                Some(d) => Some(d.to_string()),
            };
            let method =
                method.unwrap_or_else(|| if body.is_some() { "POST" } else { "GET" }.into());
            let spec = TestRequestSpec {
                name: Some(name.clone()),
                method: Some(method),
                path: Some(path),
                headers: Some(headers.into_iter().collect::<BTreeMap<_, _>>()),
                body,
            };
            let saved = client.put_test_request(ns, &function, &name, &spec).await?;
            if global.json {
                return output::json(&saved);
            }
            eprintln!(
                "saved test request {} ({} {})",
                saved.name, saved.method, saved.path
            );
            Ok(())
        }
        TestRequestCommand::Delete { function, name } => {
            client.delete_test_request(ns, &function, &name).await?;
            eprintln!("deleted test request {name}");
            Ok(())
        }
        TestRequestCommand::Run {
            function,
            name,
            include,
        } => {
            let request = client.get_test_request(ns, &function, &name).await?;
            let response = client.run_test_request(ns, &function, &request).await?;
            let status = response.status();
            if include {
                eprintln!("{status}");
                for (name, value) in response.headers() {
                    eprintln!("{name}: {}", value.to_str().unwrap_or("<binary>"));
                }
                eprintln!();
            }
            let bytes = response.bytes().await?;
            std::io::stdout().write_all(&bytes)?;
            if !status.is_success() {
                bail!("the function answered {status}");
            }
            Ok(())
        }
    }
}
