//! `gust fn create|list|get|update|delete`, `secret set|unset`, and the signed-URL flow: `upload-url`, `deploy`,
//! `download`; `metrics` and `test-request` have files of their own.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

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
        /// Only functions whose name, title or description contains this.
        #[arg(long)]
        search: Option<String>,
        /// Only functions on this runtime (wasm, python3.11, node20, custom).
        #[arg(long)]
        runtime: Option<String>,
        /// Only functions in this state (created, building, ready, error).
        #[arg(long)]
        status: Option<String>,
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
    /// Print a URL that takes one upload of new code without a token (`PUT` the package with
    /// the headers shown); `gust fn deploy` then builds and activates it.
    UploadUrl {
        name: String,
        /// The package's exact size in bytes.
        #[arg(long)]
        size: u64,
    },
    /// Build and activate the newest code uploaded to an upload URL, or with none, the current
    /// code again; waits for the build.
    Deploy {
        name: String,
        /// Return once queued, without waiting for the build.
        #[arg(long)]
        no_wait: bool,
        /// Longest wait for the build, in seconds.
        #[arg(long, default_value_t = 300)]
        wait_timeout: u64,
    },
    /// Start warm workers of a process function ahead of demand (`--up N`, up to its
    /// max scale), or stop idle ones (`--down N`, never below its min scale).
    Scale {
        name: String,
        /// Workers to start now.
        #[arg(long, conflicts_with = "down", required_unless_present = "down")]
        up: Option<u32>,
        /// Idle workers to stop.
        #[arg(long)]
        down: Option<u32>,
        /// The workers of this version of the function instead.
        #[arg(long)]
        version: Option<u32>,
    },
    /// Save a deployment's code (by default the active one's) exactly as it was uploaded.
    Download {
        name: String,
        /// The file to write.
        #[arg(long, short = 'o')]
        output: PathBuf,
        /// The deployment whose code to save.
        #[arg(long)]
        deployment: Option<String>,
    },
    /// Show a function's requests, errors, cold starts, duration percentiles and instances
    /// over the last hour, day or week.
    Metrics(crate::metrics::MetricsArgs),
    /// Saved test requests of a function: list, save, delete, run.
    #[command(subcommand)]
    TestRequest(crate::test_request::TestRequestCommand),
    /// Set or remove one secret of a function, leaving its others as they are (`update
    /// --secret` replaces them all).
    #[command(subcommand)]
    Secret(SecretCommand),
}

#[derive(Subcommand, Debug)]
pub enum SecretCommand {
    /// Set one secret: `gust fn secret set hello API_KEY` reads the value from stdin;
    /// `--value` gives it on the command line (where other users may see it).
    Set {
        name: String,
        key: String,
        #[arg(long)]
        value: Option<String>,
    },
    /// Remove one secret.
    Unset { name: String, key: String },
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
    [
        HandlerContract::Gust,
        HandlerContract::Appwrite,
        HandlerContract::Qinling,
    ]
    .into_iter()
    .find(|c| c.as_str() == s)
    .ok_or_else(|| format!("`{s}` is not a contract: `gust`, `appwrite` or `qinling`"))
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
        FunctionCommand::List {
            search,
            runtime,
            status,
            limit,
        } => {
            let limit = limit.to_string();
            let mut query = vec![("limit", limit.as_str())];
            for (name, value) in [
                ("search", &search),
                ("runtime", &runtime),
                ("status", &status),
            ] {
                if let Some(value) = value {
                    query.push((name, value));
                }
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
        FunctionCommand::Scale {
            name,
            up,
            down,
            version,
        } => {
            let delta = match (up, down) {
                (Some(up), _) => i32::try_from(up)?,
                (_, Some(down)) => -i32::try_from(down)?,
                _ => anyhow::bail!("give --up N or --down N"),
            };
            let scaled = client.scale_instances(ns, &name, delta, version).await?;
            if global.json {
                return output::json(&scaled);
            }
            eprintln!(
                "started {}, stopped {}: {} live workers",
                scaled["started"], scaled["stopped"], scaled["instances"]
            );
            Ok(())
        }
        FunctionCommand::UploadUrl { name, size } => {
            let url = client.create_upload_url(ns, &name, size).await?;
            if global.json {
                return output::json(&url);
            }
            let headers: Vec<String> = url
                .headers
                .iter()
                .map(|(name, value)| format!("{name}: {value}"))
                .collect();
            eprintln!(
                "{} it once, with {}, before {}; then `gust fn deploy {name}`",
                url.method,
                headers.join(", "),
                output::time(&url.expires_at)
            );
            println!("{}", url.url);
            Ok(())
        }
        FunctionCommand::Deploy {
            name,
            no_wait,
            wait_timeout,
        } => {
            let deployment = client.deploy_function(ns, &name).await?;
            eprintln!("deploying deployment {}", deployment.id);
            if no_wait {
                return if global.json {
                    output::json(&deployment)
                } else {
                    Ok(())
                };
            }
            crate::deploy::wait_for_build(
                &client,
                global,
                &name,
                &deployment.id,
                Duration::from_secs(wait_timeout),
            )
            .await
        }
        FunctionCommand::Metrics(args) => crate::metrics::run(args, global).await,
        FunctionCommand::TestRequest(command) => crate::test_request::run(command, global).await,
        FunctionCommand::Secret(SecretCommand::Set { name, key, value }) => {
            let value = match value {
                Some(value) => value,
                None => {
                    let mut value = String::new();
                    std::io::Read::read_to_string(&mut std::io::stdin(), &mut value)
                        .context("reading the secret's value from stdin")?;
                    // What a shell's `echo` or a file's last line adds.
                    value.truncate(value.trim_end_matches(['\n', '\r']).len());
                    value
                }
            };
            let function = client.set_function_secret(ns, &name, &key, &value).await?;
            eprintln!("secret {key} of {name} set");
            show(&function, global)
        }
        FunctionCommand::Secret(SecretCommand::Unset { name, key }) => {
            let function = client.delete_function_secret(ns, &name, &key).await?;
            eprintln!("secret {key} of {name} removed");
            show(&function, global)
        }
        FunctionCommand::Download {
            name,
            output,
            deployment,
        } => {
            let url = client
                .create_download_url(ns, &name, deployment.as_deref())
                .await?;
            let code = client.download(&url).await?;
            std::fs::write(&output, &code)
                .with_context(|| format!("writing {}", output.display()))?;
            eprintln!("saved {} bytes to {}", code.len(), output.display());
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
