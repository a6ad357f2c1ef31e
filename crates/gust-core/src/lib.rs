//! Gust's resource model: the types every other crate speaks, and the rules that make a value
//! valid. No I/O and no async runtime live here, so the store, the API, the engine and the CLI
//! all agree on one definition of a function, a deployment or an execution.
//!
//! Layout: one module per resource (`namespace`, `function`, `deployment`, `execution`,
//! `token`, `runtime`, `trigger`, `webhook`, `domain`, `version`, `edge`), plus `schedule` (cron), `validate` (names, env keys, bounds), `list`
//! (pagination shared by every list endpoint) and `error`.
//!
//! Errors: [`ValidationError`] names the offending field; the API turns it into a 400.

pub mod audit;
pub mod deployment;
pub mod domain;
pub mod edge;
pub mod error;
pub mod execution;
pub mod function;
pub mod id;
pub mod json;
pub mod list;
pub mod namespace;
pub mod runtime;
pub mod schedule;
pub mod stored;
pub mod token;
pub mod trigger;
pub mod validate;
pub mod version;
pub mod webhook;

#[cfg(test)]
mod testing;

pub use audit::{AuditAction, AuditEntry, AuditOutcome, AuditQuery};
pub use deployment::{Deployment, DeploymentStatus, PackageFormat, SignedUrl};
pub use domain::{Domain, DomainSpec, DomainStatus};
pub use edge::{
    EdgeApplication, EdgeApplicationPatch, EdgeApplicationSpec, EdgeDomain, EdgeDomainPatch,
    EdgeDomainSpec, EdgeRule, EdgeRulePatch, EdgeRuleSpec, FunctionInstance, FunctionInstancePatch,
    FunctionInstanceSpec, FunctionRef,
};
pub use error::{ValidationError, ValidationResult};
pub use execution::{
    Execution, ExecutionLogs, ExecutionRequest, ExecutionResponse, ExecutionStatus, Startup,
    Trigger as ExecutionTrigger,
};
pub use function::{
    ExecutionRetention, Function, FunctionPatch, FunctionSpec, FunctionStatus, HandlerContract,
    HttpOption, Privacy,
};
pub use id::new_id;
pub use list::{ListQuery, Order, Page};
pub use namespace::{Namespace, NamespacePatch, NamespaceSpec};
pub use runtime::{RuntimeId, RuntimeInfo};
pub use token::{Scope, Token, TokenFormat, TokenSpec};
pub use trigger::{
    Event, EventSpec, FunctionTrigger, QueueProtocol, QueueSource, TriggerKind, TriggerOrigin,
    TriggerPatch, TriggerSpec, TriggerStatus,
};
pub use version::{Alias, AliasPatch, AliasSpec, FunctionVersion, MAX_VERSIONS, VersionSpec};
pub use webhook::{Webhook, WebhookSpec};

/// The namespace every installation has from its first start.
pub const DEFAULT_NAMESPACE: &str = "default";

/// Current time, truncated to milliseconds so a value survives a round trip through the store.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    let now = chrono::Utc::now();
    chrono::DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}
