//! Gust's process runtimes — `python3.11`, `node20` and `custom` — run as long-lived,
//! sandboxed worker processes that speak the worker protocol (docs/worker-protocol.md).
//!
//! Layout:
//! - `runtime`: [`ProcessRuntime`], one per server: spawner, interpreters, stem cells, pools.
//! - `runtimes`: finding the real interpreters; a worker's argv and base environment.
//! - `protocol`: frames (a JSON header line + a raw body) and the host's messages.
//! - `bootstrap/`: the Python and Node workers, embedded (`include_str!`).
//! - `worker/`: one live worker (`mod`: invocations, death, logs) and bringing one up
//!   (`start`: spawn, hello, load).
//! - `cells`: stem cells — pre-started interpreters that take a function's code on demand.
//! - `pool/`: [`FunctionPool`] — scaling decisions (`state`), launching (`launch`), the
//!   background task (`maintain`), a pool as the function's [`gust_runtime::Runtime`] (`run`).
//! - `build`: dependency installs and the import check. `config`: knobs and their
//!   defaults. `request`: a worker's response and cold-start breakdowns (the request, the
//!   outcome and the not-run error are `gust-runtime`'s, shared with the Wasm runtime).
//!
//! What it leaves to others: HTTP (the API turns [`NotRun::Overloaded`] into a
//! 429 with Retry-After and [`Outcome`] into the status of the execution), recording
//! executions, deciding which deployment is live. Sandboxing is `gust-sandbox`'s.
//!
//! Errors: [`ProcessError`] for start-up and builds; [`NotRun`] when a request
//! could not run at all; how a request that ran ended is its [`Outcome`].
//!
//! Use:
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use gust_runtime_process::*;
//! let runtime = ProcessRuntime::start(ProcessConfig::new("/var/lib/gust")).await?;
//! let spec = BuildSpec {
//!     runtime: gust_core::RuntimeId::Python311,
//!     code_dir: "/var/lib/gust/deployments/d1".into(),
//!     handler: "main.handle".into(),
//!     contract: gust_core::HandlerContract::Gust,
//!     entrypoint: None,
//!     env: vec![],
//! };
//! runtime.build(&spec, &mut |line| eprint!("{line}")).await?;
//! let pool = runtime.pool(PoolSpec {
//!     function_id: "f1".into(),
//!     function_name: "hello".into(),
//!     deployment_id: "d1".into(),
//!     runtime: spec.runtime,
//!     code_dir: spec.code_dir.clone(),
//!     handler: spec.handler.clone(),
//!     contract: gust_core::HandlerContract::Gust,
//!     entrypoint: None,
//!     env: vec![],
//!     memory_mb: 128,
//!     cpu_millis: 0,
//!     timeout: std::time::Duration::from_secs(10),
//!     min_scale: 0,
//!     max_scale: 4,
//!     concurrency: 1,
//!     network: true,
//!     args: None,
//! });
//! let response = pool
//!     .invoke(Request {
//!         method: http::Method::GET,
//!         path: "/".into(),
//!         ..Request::default()
//!     })
//!     .await?;
//! assert_eq!(response.outcome, Outcome::Completed);
//! # Ok(()) }
//! ```

mod build;
mod cells;
mod config;
mod error;
mod pool;
mod protocol;
mod request;
mod runtime;
mod runtimes;
mod worker;

pub use build::{BuildReport, BuildSpec};
pub use config::ProcessConfig;
pub use error::{ProcessError, ProcessResult};
pub use gust_runtime::{Logs, NotRun, Outcome, Request};
pub use gust_sandbox::{SandboxSupport, SpawnerCommand, run_spawner_if_requested};
pub use pool::{FunctionPool, InstanceInfo, InstanceState, PoolSpec, Scaled};
pub use protocol::PROTOCOL_VERSION;
pub use request::{ColdStart, ProcessResponse};
pub use runtime::ProcessRuntime;
