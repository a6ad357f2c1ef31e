//! `gust invoke FN`: call a function over HTTP and print the response body.

use anyhow::{Context, bail};
use clap::Args;
use std::io::Write;

use crate::context::GlobalArgs;

#[derive(Args, Debug)]
pub struct InvokeArgs {
    /// The function; `FN:NUMBER` runs one of its versions, `FN:ALIAS` what an alias points at.
    function: String,
    /// Request body; `@file` reads a file, `-` reads stdin.
    #[arg(long, short)]
    data: Option<String>,
    /// HTTP method (default: POST with --data, GET without).
    #[arg(long, short = 'X')]
    method: Option<String>,
    /// Path after the function's URL.
    #[arg(long, default_value = "/")]
    path: String,
    /// Print the status and headers before the body (to stderr).
    #[arg(long, short = 'i')]
    include: bool,
    /// Queue it and print the execution id instead of waiting for the response
    /// (`gust exec get FN ID` shows the result, `gust logs FN` the output).
    #[arg(long = "async")]
    run_async: bool,
    /// With --async: a repeat with the same key returns the first execution.
    #[arg(long, requires = "run_async")]
    idempotency_key: Option<String>,
}

pub async fn run(args: InvokeArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let body = match args.data.as_deref() {
        None => Vec::new(),
        Some("-") => {
            let mut buf = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf).context("reading stdin")?;
            buf
        }
        Some(d) if d.starts_with('@') => {
            std::fs::read(&d[1..]).with_context(|| format!("reading {}", &d[1..]))?
        }
        Some(d) => d.as_bytes().to_vec(),
    };
    let method = args.method.clone().unwrap_or_else(|| {
        if args.data.is_some() {
            "POST".into()
        } else {
            "GET".into()
        }
    });
    let method = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .context("--method is not an HTTP method")?;
    let client = global.client();
    if args.run_async {
        return submit(&args, global, method, body).await;
    }
    let response = client
        .invoke(method, &global.namespace, &args.function, &args.path, body)
        .await?;
    let status = response.status();
    let execution = response
        .headers()
        .get(gust_api::EXECUTION_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    if args.include {
        eprintln!("{status}");
        for (name, value) in response.headers() {
            eprintln!("{name}: {}", value.to_str().unwrap_or("<binary>"));
        }
        eprintln!();
    }
    let bytes = response.bytes().await?;
    if !status.is_success() {
        let message = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(String::from))
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
        let id = execution
            .map(|id| {
                format!(
                    " (execution {id}; see `gust exec get {} {id}`)",
                    gust_core::version::split_qualifier(&args.function).0
                )
            })
            .unwrap_or_default();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(gust_client::ClientError::Api {
                status,
                code: "http".into(),
                message,
                field: None,
            }
            .into());
        }
        bail!("the function answered {status}: {message}{id}");
    }
    std::io::stdout().write_all(&bytes)?;
    Ok(())
}

/// `--async`: queue the request as an async execution; print its id (or the record with --json).
async fn submit(
    args: &InvokeArgs,
    global: &GlobalArgs,
    method: reqwest::Method,
    body: Vec<u8>,
) -> anyhow::Result<()> {
    let body =
        String::from_utf8(body).context("--async sends the body as text; this one is not UTF-8")?;
    let mut input = serde_json::json!({
        "method": method.as_str(),
        "path": args.path,
        "body": body,
    });
    // The executions API names the function alone; a version or alias goes in the input.
    let (function, qualifier) = gust_core::version::split_qualifier(&args.function);
    match qualifier.map(gust_core::version::Qualifier::parse) {
        None => {}
        Some(Ok(gust_core::version::Qualifier::Version(number))) => {
            input["version"] = number.into();
        }
        Some(Ok(gust_core::version::Qualifier::Alias(alias))) => input["alias"] = alias.into(),
        Some(Err(why)) => bail!("`{}`: {why}", args.function),
    }
    let execution = global
        .client()
        .submit_execution(
            &global.namespace,
            function,
            &input,
            args.idempotency_key.as_deref(),
        )
        .await?;
    if global.json {
        return crate::output::json(&execution);
    }
    println!("{}", execution.id);
    eprintln!(
        "queued; follow it with `gust logs {function} --execution {} -f`",
        execution.id
    );
    Ok(())
}
