//! `gust edge app|instance|rule|domain ...`: edge applications, the function instances and
//! rules in them, and the edge domains whose host names route to them. Applications answer at
//! `/edge/{app}/...` and at their domains' cnames.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use gust_core::edge::{BehaviorSpec, CriterionSpec};
use gust_core::{
    EdgeApplication, EdgeApplicationSpec, EdgeDomain, EdgeDomainSpec, EdgeRule, EdgeRuleSpec,
    FunctionInstance, FunctionInstanceSpec, FunctionRef,
};

use crate::context::GlobalArgs;
use crate::output;

#[derive(Subcommand, Debug)]
pub enum EdgeCommand {
    /// Edge applications: create, list, get, update, delete.
    #[command(subcommand)]
    App(AppCommand),
    /// Function instances of an application: a function with JSON args.
    #[command(subcommand)]
    Instance(InstanceCommand),
    /// Rules of an application, evaluated in order: the first that matches answers.
    #[command(subcommand)]
    Rule(RuleCommand),
    /// Edge domains: host names (cnames) routed to an application.
    #[command(subcommand)]
    Domain(DomainCommand),
}

#[derive(Args, Debug, Default)]
pub struct AppFlags {
    /// Let rules run function instances (`--edge-functions false` turns it off).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    edge_functions: Option<bool>,
    /// Serve requests (`--active false`: answer 403).
    #[arg(long)]
    active: Option<bool>,
}

#[derive(Subcommand, Debug)]
pub enum AppCommand {
    /// Create an application in the namespace of `-n`.
    Create {
        name: String,
        #[command(flatten)]
        flags: AppFlags,
    },
    /// List the applications of the namespace of `-n`.
    List,
    Get {
        id: u64,
    },
    Update {
        id: u64,
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        flags: AppFlags,
    },
    /// Delete an application with its instances and rules (its domains stay, unbound).
    Delete {
        id: u64,
    },
}

#[derive(Subcommand, Debug)]
pub enum InstanceCommand {
    /// Bind a function (id, name or serial) of the application's namespace into it.
    Create {
        app: u64,
        name: String,
        function: String,
        /// The args its code reads, as JSON (default `{}`).
        #[arg(long)]
        args: Option<String>,
    },
    List {
        app: u64,
    },
    Get {
        app: u64,
        id: u64,
    },
    Update {
        app: u64,
        id: u64,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        function: Option<String>,
        #[arg(long)]
        args: Option<String>,
    },
    Delete {
        app: u64,
        id: u64,
    },
}

#[derive(Args, Debug, Default)]
pub struct RuleFlags {
    /// Match requests whose path starts with this (shorthand for `--criteria`).
    #[arg(long, conflicts_with = "criteria")]
    path_prefix: Option<String>,
    /// Criteria as JSON: `[[{"variable":"${uri}","operator":"matches","conditional":"if","input_value":"^/api"}]]`.
    #[arg(long)]
    criteria: Option<String>,
    /// Run this function instance of the application.
    #[arg(long, group = "behavior")]
    run_function: Option<u64>,
    /// Redirect with 301 to this URL.
    #[arg(long, group = "behavior")]
    redirect_301: Option<String>,
    /// Redirect with 302 to this URL.
    #[arg(long, group = "behavior")]
    redirect_302: Option<String>,
    /// Deliver from the origin (Gust has none: a 404 that says so).
    #[arg(long, group = "behavior")]
    deliver: bool,
    /// Place in evaluation order (lowest first; default: after the last rule).
    #[arg(long)]
    order: Option<u32>,
    #[arg(long)]
    active: Option<bool>,
}

#[derive(Subcommand, Debug)]
pub enum RuleCommand {
    Create {
        app: u64,
        name: String,
        #[command(flatten)]
        flags: RuleFlags,
    },
    /// The rules of an application, in evaluation order.
    List {
        app: u64,
    },
    Get {
        app: u64,
        id: u64,
    },
    /// Change a rule: `--order` moves it.
    Update {
        app: u64,
        id: u64,
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        flags: RuleFlags,
    },
    Delete {
        app: u64,
        id: u64,
    },
}

#[derive(Subcommand, Debug)]
pub enum DomainCommand {
    /// Create an edge domain in the namespace of `-n`.
    Create {
        name: String,
        /// A host name routed to the application (repeat for more).
        #[arg(long = "cname")]
        cnames: Vec<String>,
        /// The application its host names go to.
        #[arg(long)]
        app: Option<u64>,
    },
    List,
    Get {
        id: u64,
    },
    Update {
        id: u64,
        #[arg(long)]
        name: Option<String>,
        /// Replaces every cname (repeat for more).
        #[arg(long = "cname")]
        cnames: Vec<String>,
        /// The application, or `none` to unbind.
        #[arg(long)]
        app: Option<String>,
        #[arg(long)]
        active: Option<bool>,
    },
    Delete {
        id: u64,
    },
}

pub async fn run(command: EdgeCommand, global: &GlobalArgs) -> anyhow::Result<()> {
    match command {
        EdgeCommand::App(cmd) => run_app(cmd, global).await,
        EdgeCommand::Instance(cmd) => run_instance(cmd, global).await,
        EdgeCommand::Rule(cmd) => run_rule(cmd, global).await,
        EdgeCommand::Domain(cmd) => run_domain(cmd, global).await,
    }
}

async fn run_app(command: AppCommand, global: &GlobalArgs) -> anyhow::Result<()> {
    let client = global.client();
    let app = match command {
        AppCommand::Create { name, flags } => {
            let spec = EdgeApplicationSpec {
                name: Some(name),
                active: flags.active,
                edge_functions: flags.edge_functions,
                ..Default::default()
            };
            client
                .create_edge_application(&global.namespace, &spec)
                .await?
        }
        AppCommand::List => {
            let limit = gust_core::list::MAX_LIMIT.to_string();
            let page = client
                .list_edge_applications(Some(&global.namespace), &[("limit", &limit)])
                .await?;
            if global.json {
                return output::json(&page);
            }
            let rows = page
                .items
                .iter()
                .map(|a| {
                    vec![
                        a.id.to_string(),
                        a.name.clone(),
                        a.active.to_string(),
                        a.edge_functions.to_string(),
                        output::time(&a.created_at),
                    ]
                })
                .collect();
            output::table(&["ID", "NAME", "ACTIVE", "EDGE FUNCTIONS", "CREATED"], rows);
            return Ok(());
        }
        AppCommand::Get { id } => client.get_edge_application(id).await?,
        AppCommand::Update { id, name, flags } => {
            let patch = EdgeApplicationSpec {
                name,
                active: flags.active,
                edge_functions: flags.edge_functions,
                ..Default::default()
            };
            client.update_edge_application(id, &patch).await?
        }
        AppCommand::Delete { id } => {
            client.delete_edge_application(id).await?;
            eprintln!("deleted edge application {id}");
            return Ok(());
        }
    };
    show_app(&app, global)
}

fn show_app(app: &EdgeApplication, global: &GlobalArgs) -> anyhow::Result<()> {
    if global.json {
        return output::json(app);
    }
    output::fields(vec![
        ("id", app.id.to_string()),
        ("name", app.name.clone()),
        ("namespace", app.namespace.clone()),
        ("active", app.active.to_string()),
        ("edge_functions", app.edge_functions.to_string()),
        (
            "url",
            format!("{}/edge/{}/", global.client().base(), app.id),
        ),
        ("created", output::time(&app.created_at)),
    ]);
    Ok(())
}

/// `12` is a serial, anything else an id or a name.
fn function_ref(given: String) -> FunctionRef {
    match given.parse::<u64>() {
        Ok(serial) => FunctionRef::Serial(serial),
        Err(_) => FunctionRef::Key(given),
    }
}

fn json_arg(flag: &str, text: Option<String>) -> anyhow::Result<Option<serde_json::Value>> {
    text.map(|t| serde_json::from_str(&t).with_context(|| format!("--{flag} is not JSON")))
        .transpose()
}

async fn run_instance(command: InstanceCommand, global: &GlobalArgs) -> anyhow::Result<()> {
    let client = global.client();
    let instance = match command {
        InstanceCommand::Create {
            app,
            name,
            function,
            args,
        } => {
            let spec = FunctionInstanceSpec {
                name: Some(name),
                function: Some(function_ref(function)),
                args: json_arg("args", args)?,
            };
            client.create_edge_instance(app, &spec).await?
        }
        InstanceCommand::List { app } => {
            let page = client.list_edge_instances(app).await?;
            if global.json {
                return output::json(&page);
            }
            let rows = page
                .items
                .iter()
                .map(|i| {
                    vec![
                        i.id.to_string(),
                        i.name.clone(),
                        i.function_id.clone(),
                        i.args.to_string(),
                    ]
                })
                .collect();
            output::table(&["ID", "NAME", "FUNCTION", "ARGS"], rows);
            return Ok(());
        }
        InstanceCommand::Get { app, id } => client.get_edge_instance(app, id).await?,
        InstanceCommand::Update {
            app,
            id,
            name,
            function,
            args,
        } => {
            let patch = FunctionInstanceSpec {
                name,
                function: function.map(function_ref),
                args: json_arg("args", args)?,
            };
            client.update_edge_instance(app, id, &patch).await?
        }
        InstanceCommand::Delete { app, id } => {
            client.delete_edge_instance(app, id).await?;
            eprintln!("deleted instance {id}");
            return Ok(());
        }
    };
    show_instance(&instance, global)
}

fn show_instance(instance: &FunctionInstance, global: &GlobalArgs) -> anyhow::Result<()> {
    if global.json {
        return output::json(instance);
    }
    output::fields(vec![
        ("id", instance.id.to_string()),
        ("name", instance.name.clone()),
        ("application", instance.edge_application_id.to_string()),
        ("function", instance.function_id.clone()),
        ("args", instance.args.to_string()),
    ]);
    Ok(())
}

/// The rule fields the flags give; `None` for what they leave out.
fn rule_spec(name: Option<String>, flags: RuleFlags) -> anyhow::Result<EdgeRuleSpec> {
    let criteria = match (flags.path_prefix, flags.criteria) {
        (Some(prefix), _) => Some(vec![vec![CriterionSpec {
            variable: Some("${uri}".into()),
            operator: Some("starts_with".into()),
            conditional: Some("if".into()),
            input_value: Some(prefix),
        }]]),
        (None, Some(json)) => Some(
            serde_json::from_str(&json).context("--criteria is not a list of lists of criteria")?,
        ),
        (None, None) => None,
    };
    let behavior = |name: &str, target: Option<serde_json::Value>| {
        Some(vec![BehaviorSpec {
            name: Some(name.into()),
            target,
        }])
    };
    let behaviors = if let Some(instance) = flags.run_function {
        behavior("run_function", Some(instance.into()))
    } else if let Some(url) = flags.redirect_301 {
        behavior("redirect_to_301", Some(url.into()))
    } else if let Some(url) = flags.redirect_302 {
        behavior("redirect_to_302", Some(url.into()))
    } else if flags.deliver {
        behavior("deliver", None)
    } else {
        None
    };
    Ok(EdgeRuleSpec {
        name,
        order: flags.order,
        active: flags.active,
        criteria,
        behaviors,
        ..Default::default()
    })
}

async fn run_rule(command: RuleCommand, global: &GlobalArgs) -> anyhow::Result<()> {
    let client = global.client();
    let rule = match command {
        RuleCommand::Create { app, name, flags } => {
            let spec = rule_spec(Some(name), flags)?;
            if spec.behaviors.is_none() {
                bail!(
                    "say what the rule does: --run-function, --redirect-301, --redirect-302 or --deliver"
                );
            }
            client.create_edge_rule(app, &spec).await?
        }
        RuleCommand::List { app } => {
            let page = client.list_edge_rules(app).await?;
            if global.json {
                return output::json(&page);
            }
            let rows = page
                .items
                .iter()
                .map(|r| {
                    vec![
                        r.order.to_string(),
                        r.id.to_string(),
                        r.name.clone(),
                        r.active.to_string(),
                        serde_json::to_string(&r.behaviors).unwrap_or_default(),
                    ]
                })
                .collect();
            output::table(&["ORDER", "ID", "NAME", "ACTIVE", "BEHAVIORS"], rows);
            return Ok(());
        }
        RuleCommand::Get { app, id } => client.get_edge_rule(app, id).await?,
        RuleCommand::Update {
            app,
            id,
            name,
            flags,
        } => {
            client
                .update_edge_rule(app, id, &rule_spec(name, flags)?)
                .await?
        }
        RuleCommand::Delete { app, id } => {
            client.delete_edge_rule(app, id).await?;
            eprintln!("deleted rule {id}");
            return Ok(());
        }
    };
    show_rule(&rule, global)
}

fn show_rule(rule: &EdgeRule, global: &GlobalArgs) -> anyhow::Result<()> {
    if global.json {
        return output::json(rule);
    }
    output::fields(vec![
        ("id", rule.id.to_string()),
        ("name", rule.name.clone()),
        ("order", rule.order.to_string()),
        ("active", rule.active.to_string()),
        (
            "criteria",
            serde_json::to_string(&rule.criteria).unwrap_or_default(),
        ),
        (
            "behaviors",
            serde_json::to_string(&rule.behaviors).unwrap_or_default(),
        ),
    ]);
    Ok(())
}

async fn run_domain(command: DomainCommand, global: &GlobalArgs) -> anyhow::Result<()> {
    let client = global.client();
    let domain = match command {
        DomainCommand::Create { name, cnames, app } => {
            let spec = EdgeDomainSpec {
                name: Some(name),
                cnames: Some(cnames),
                edge_application_id: app.map(Some),
                active: None,
            };
            client.create_edge_domain(&global.namespace, &spec).await?
        }
        DomainCommand::List => {
            let limit = gust_core::list::MAX_LIMIT.to_string();
            let page = client
                .list_edge_domains(Some(&global.namespace), &[("limit", &limit)])
                .await?;
            if global.json {
                return output::json(&page);
            }
            let rows = page
                .items
                .iter()
                .map(|d| {
                    vec![
                        d.id.to_string(),
                        d.name.clone(),
                        d.cnames.join(","),
                        d.edge_application_id
                            .map_or_else(|| "-".into(), |a| a.to_string()),
                        d.domain_name.clone(),
                    ]
                })
                .collect();
            output::table(
                &["ID", "NAME", "CNAMES", "APPLICATION", "DOMAIN NAME"],
                rows,
            );
            return Ok(());
        }
        DomainCommand::Get { id } => client.get_edge_domain(id).await?,
        DomainCommand::Update {
            id,
            name,
            cnames,
            app,
            active,
        } => {
            let application = match app.as_deref() {
                None => None,
                Some("none") => Some(None),
                Some(id) => Some(Some(id.parse::<u64>().with_context(|| {
                    format!("--app `{id}`: give an application id or `none`")
                })?)),
            };
            let patch = EdgeDomainSpec {
                name,
                cnames: (!cnames.is_empty()).then_some(cnames),
                edge_application_id: application,
                active,
            };
            client.update_edge_domain(id, &patch).await?
        }
        DomainCommand::Delete { id } => {
            client.delete_edge_domain(id).await?;
            eprintln!("deleted edge domain {id}");
            return Ok(());
        }
    };
    show_domain(&domain, global)
}

fn show_domain(domain: &EdgeDomain, global: &GlobalArgs) -> anyhow::Result<()> {
    if global.json {
        return output::json(domain);
    }
    output::fields(vec![
        ("id", domain.id.to_string()),
        ("name", domain.name.clone()),
        ("cnames", domain.cnames.join(", ")),
        (
            "application",
            domain
                .edge_application_id
                .map_or_else(|| "-".into(), |a| a.to_string()),
        ),
        ("active", domain.active.to_string()),
        ("domain_name", domain.domain_name.clone()),
    ]);
    Ok(())
}
