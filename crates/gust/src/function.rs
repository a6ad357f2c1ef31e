//! `gust fn create|list|get|update|delete`.

use std::collections::BTreeMap;

use clap::{Args, Subcommand};
use gust_core::{Function, FunctionSpec, HandlerContract, Privacy};

use crate::context::GlobalArgs;
use crate::output;

#[derive(Subcommand, Debug)]
pub enum FunctionCommand {
    /// Create a function.
    Create {
        name: String,
        /// Runtime id (see `GET /api/v1/runtimes`).
        #[arg(long, default_value = "wasm")]
        runtime: String,
        #[command(flatten)]
        settings: Settings,
    },
    /// List the functions of the namespace.
    List {
        /// Only functions whose name or description contains this.
        #[arg(long)]
        search: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show one function.
    Get { name: String },
    /// Change settings of a function (only the flags given).
    Update {
        name: String,
        #[command(flatten)]
        settings: Settings,
    },
    /// Delete a function with its deployments and executions.
    Delete { name: String },
}

#[derive(Args, Debug, Default)]
pub struct Settings {
    #[arg(long)]
    description: Option<String>,
    /// Memory limit in MiB (16-4096).
    #[arg(long)]
    memory: Option<u32>,
    /// Timeout in seconds (1-900).
    #[arg(long)]
    timeout: Option<u32>,
    #[arg(long)]
    min_scale: Option<u32>,
    #[arg(long)]
    max_scale: Option<u32>,
    #[arg(long)]
    concurrency: Option<u32>,
    /// Anyone may invoke it, without a token.
    #[arg(long, conflicts_with = "private")]
    public: bool,
    /// Only token holders may invoke it (the default).
    #[arg(long)]
    private: bool,
    /// Environment variable KEY=VALUE (repeatable; replaces the whole set).
    #[arg(long = "env", value_parser = parse_pair)]
    env: Vec<(String, String)>,
    /// Secret KEY=VALUE (repeatable; write-only).
    #[arg(long = "secret", value_parser = parse_pair)]
    secrets: Vec<(String, String)>,
    #[arg(long)]
    handler: Option<String>,
    /// How the code is called: `gust` (the default) or `appwrite` (code written for
    /// Appwrite 0.15; python3.11 and node20).
    #[arg(long, value_parser = parse_contract)]
    contract: Option<HandlerContract>,
    /// CPU in thousandths of a core (process runtimes; 50-16000).
    #[arg(long)]
    cpu: Option<u32>,
    /// Process runtimes: no network access (an empty network namespace).
    #[arg(long, conflicts_with = "network")]
    no_network: bool,
    /// Process runtimes: network access again (the default).
    #[arg(long)]
    network: bool,
}

pub fn parse_contract(s: &str) -> Result<HandlerContract, String> {
    [HandlerContract::Gust, HandlerContract::Appwrite]
        .into_iter()
        .find(|c| c.as_str() == s)
        .ok_or_else(|| format!("`{s}` is not a contract: `gust` or `appwrite`"))
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("`{s}` is not KEY=VALUE"))
}

impl Settings {
    fn into_spec(self) -> FunctionSpec {
        let map = |pairs: Vec<(String, String)>| {
            (!pairs.is_empty()).then(|| pairs.into_iter().collect::<BTreeMap<_, _>>())
        };
        FunctionSpec {
            description: self.description,
            memory_mb: self.memory,
            timeout_s: self.timeout,
            min_scale: self.min_scale,
            max_scale: self.max_scale,
            concurrency: self.concurrency,
            privacy: if self.public {
                Some(Privacy::Public)
            } else if self.private {
                Some(Privacy::Private)
            } else {
                None
            },
            env: map(self.env),
            secrets: map(self.secrets),
            handler: self.handler,
            contract: self.contract,
            cpu_millis: self.cpu,
            network: if self.no_network {
                Some(false)
            } else if self.network {
                Some(true)
            } else {
                None
            },
            ..FunctionSpec::default()
        }
    }
}

pub async fn run(command: FunctionCommand, global: &GlobalArgs) -> anyhow::Result<()> {
    let client = global.client();
    let ns = &global.namespace;
    match command {
        FunctionCommand::Create {
            name,
            runtime,
            settings,
        } => {
            let spec = FunctionSpec {
                name: Some(name),
                runtime: Some(runtime),
                ..settings.into_spec()
            };
            show(&client.create_function(ns, &spec).await?, global)
        }
        FunctionCommand::List { search, limit } => {
            let limit = limit.to_string();
            let mut query = vec![("limit", limit.as_str())];
            if let Some(search) = &search {
                query.push(("search", search));
            }
            let page = client.list_functions(ns, &query).await?;
            if global.json {
                return output::json(&page);
            }
            let rows = page
                .items
                .iter()
                .map(|f| {
                    vec![
                        f.name.clone(),
                        f.runtime.to_string(),
                        format!("{:?}", f.status).to_lowercase(),
                        format!("{:?}", f.privacy).to_lowercase(),
                        f.url.clone(),
                    ]
                })
                .collect();
            output::table(&["NAME", "RUNTIME", "STATUS", "PRIVACY", "URL"], rows);
            Ok(())
        }
        FunctionCommand::Get { name } => show(&client.get_function(ns, &name).await?, global),
        FunctionCommand::Update { name, settings } => show(
            &client
                .update_function(ns, &name, &settings.into_spec())
                .await?,
            global,
        ),
        FunctionCommand::Delete { name } => {
            client.delete_function(ns, &name).await?;
            eprintln!("deleted function {name}");
            Ok(())
        }
    }
}

fn show(f: &Function, global: &GlobalArgs) -> anyhow::Result<()> {
    if global.json {
        return output::json(f);
    }
    let join = |m: &BTreeMap<String, String>| {
        m.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    output::fields(vec![
        ("name", f.name.clone()),
        ("id", f.id.clone()),
        ("namespace", f.namespace.clone()),
        ("runtime", f.runtime.to_string()),
        ("contract", f.contract.as_str().to_string()),
        ("status", format!("{:?}", f.status).to_lowercase()),
        ("privacy", format!("{:?}", f.privacy).to_lowercase()),
        ("url", f.url.clone()),
        ("domain", f.domain_name.clone()),
        ("memory", format!("{} MiB", f.memory_mb)),
        ("timeout", format!("{} s", f.timeout_s)),
        (
            "scale",
            format!(
                "{}..{} (concurrency {})",
                f.min_scale, f.max_scale, f.concurrency
            ),
        ),
        ("env", join(&f.env)),
        (
            "secrets",
            f.secrets.keys().cloned().collect::<Vec<_>>().join(" "),
        ),
        (
            "active deployment",
            f.active_deployment.clone().unwrap_or_else(|| "-".into()),
        ),
        (
            "build",
            f.build_message.clone().unwrap_or_else(|| "-".into()),
        ),
        (
            "error",
            f.error_message.clone().unwrap_or_else(|| "-".into()),
        ),
        ("created", output::time(&f.created_at)),
    ]);
    Ok(())
}
