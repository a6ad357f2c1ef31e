//! The `/api/v1` handlers, one module per resource, each handler named `<verb>_<resource>`.
//! A handler only translates: it extracts the [`Caller`](gust_engine::Caller) and the input,
//! calls the engine's operation of the same name, and renders its result as JSON (or the
//! error as the envelope).

pub mod admin;
pub mod deployments;
pub mod domains;
pub mod edge;
pub mod events;
pub mod executions;
pub mod functions;
pub mod instances;
pub mod logs;
pub mod metrics;
pub mod namespaces;
pub mod openapi;
pub mod runtimes;
pub mod schedules;
pub mod signed;
pub mod test_requests;
pub mod tokens;
pub mod triggers;
pub mod versions;
pub mod webhooks;
