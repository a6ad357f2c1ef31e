//! `gust`: the server (`gust serve`) and the command-line client of its native API.
//! One file per subcommand; `context` resolves the server and token, `output` prints tables
//! or JSON, `errors` prints an error chain with hints.

mod admin;
mod alias;
mod context;
mod deploy;
mod doctor;
mod domain;
mod edge;
mod errors;
mod event;
mod exec;
mod function;
mod invoke;
mod login;
mod logs;
mod metrics;
mod migrate;
mod output;
mod serve;
mod settings;
mod test_request;
mod token;
mod trigger;
mod version;
mod webhook;

use clap::{Parser, Subcommand};

/// Each request allocates and frees many small objects, often on different threads (a record
/// is built on a request's thread and freed by the writer's). mimalloc's thread-local free
/// lists make that cheaper than glibc's arenas: +10% requests/s measured with gust-bench.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "gust",
    version,
    about = "Gust: self-hosted serverless functions in one binary"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    global: context::GlobalArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Start the server.
    #[command(
        after_help = "Every other setting is a GUST_* variable; README.md's Configuration lists them all."
    )]
    Serve(settings::ServeFlags),
    /// Create, list, show, change and delete functions.
    #[command(subcommand, name = "fn")]
    Function(function::FunctionCommand),
    /// Upload code (a .wasm, or a folder packed as .tar.gz) and wait for its build.
    Deploy(deploy::DeployArgs),
    /// Invoke a function over HTTP and print its response.
    Invoke(invoke::InvokeArgs),
    /// List, show and replay executions.
    #[command(subcommand)]
    Exec(exec::ExecCommand),
    /// Print what a function's executions printed; `-f` follows live.
    Logs(logs::LogsArgs),
    /// Create, list and delete cron and event triggers.
    #[command(subcommand)]
    Trigger(trigger::TriggerCommand),
    /// Custom domains of a function: add, list, delete.
    #[command(subcommand)]
    Domain(domain::DomainCommand),
    /// Edge applications, their function instances and rules, and edge domains.
    #[command(subcommand)]
    Edge(edge::EdgeCommand),
    /// Webhooks: URLs that start a function without a token; create, list, delete.
    #[command(subcommand)]
    Webhook(webhook::WebhookCommand),
    /// Versions of a function: immutable snapshots, invoked as FN:NUMBER.
    #[command(subcommand)]
    Version(version::VersionCommand),
    /// Aliases: names for a function and one of its versions, invoked as FN:ALIAS.
    #[command(subcommand)]
    Alias(alias::AliasCommand),
    /// API tokens: create (`--format uuid` for clients that need one), list, delete.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Publish custom events.
    #[command(subcommand)]
    Event(event::EventCommand),
    /// Administration: `rotate-key` reseals every secret under a new master key.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// The audit log: changes made through any API, newest first.
    Audit(admin::AuditArgs),
    /// The servers sharing the database: `list` shows those alive, their version and load.
    #[command(subcommand)]
    Node(admin::NodeCommand),
    /// Save the server URL and token for later commands.
    Login(login::LoginArgs),
    /// Show what this host supports: sandbox parts, runtimes, the Wasm pooling allocator.
    Doctor(doctor::DoctorArgs),
    /// Move a stopped single node's state into an empty PostgreSQL database and shared blob
    /// store, for a cluster.
    Migrate(migrate::MigrateArgs),
}

fn main() -> std::process::ExitCode {
    // The server re-runs this binary as its sandbox spawner (single-threaded, before any
    // runtime starts); in that role it never returns from here.
    gust_runtime_process::run_spawner_if_requested();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Function(cmd) => function::run(cmd, &cli.global).await,
            Command::Deploy(args) => deploy::run(args, &cli.global).await,
            Command::Invoke(args) => invoke::run(args, &cli.global).await,
            Command::Exec(cmd) => exec::run(cmd, &cli.global).await,
            Command::Logs(args) => logs::run(args, &cli.global).await,
            Command::Trigger(cmd) => trigger::run(cmd, &cli.global).await,
            Command::Domain(cmd) => domain::run(cmd, &cli.global).await,
            Command::Edge(cmd) => edge::run(cmd, &cli.global).await,
            Command::Webhook(cmd) => webhook::run(cmd, &cli.global).await,
            Command::Version(cmd) => version::run(cmd, &cli.global).await,
            Command::Alias(cmd) => alias::run(cmd, &cli.global).await,
            Command::Token(cmd) => token::run(cmd, &cli.global).await,
            Command::Event(cmd) => event::run(cmd, &cli.global).await,
            Command::Admin(cmd) => admin::run(cmd, &cli.global).await,
            Command::Audit(args) => admin::audit(args, &cli.global).await,
            Command::Node(cmd) => admin::node(cmd, &cli.global).await,
            Command::Login(args) => login::run(args, &cli.global).await,
            Command::Doctor(args) => doctor::run(args, &cli.global).await,
            Command::Migrate(args) => migrate::run(args).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            errors::print(&error, &cli_url_hint());
            // Refused input exits as clap's usage errors do.
            if error.downcast_ref::<migrate::Refused>().is_some() {
                std::process::ExitCode::from(2)
            } else {
                std::process::ExitCode::FAILURE
            }
        }
    }
}

fn cli_url_hint() -> String {
    std::env::var("GUST_URL").unwrap_or_else(|_| context::DEFAULT_URL.to_string())
}
