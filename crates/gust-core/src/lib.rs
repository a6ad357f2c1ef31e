//! Gust's resource model: the types every other crate speaks, and the rules that make a value
//! valid. No I/O and no async runtime live here, so the store, the API, the engine and the CLI
//! all agree on one definition of a function, a deployment or an execution.
//!
//! Layout: one module per resource (`namespace`, `function`, `deployment`, `execution`,
//! `token`, `runtime`, `trigger`, `webhook`, `domain`, `version`, `edge`, `test_request`), plus
//! `schedule` (cron), `metrics` (per-minute aggregates and the charts drawn from them),
//! `validate` (names, env keys, bounds), `list` (pagination shared by every list endpoint)
//! and `error`.
//!
//! Errors: [`ValidationError`] names the offending field; the API turns it into a 400.

/// Derived `Deserialize` also reads a JSON array as a struct's fields in order, which no client
/// means and the schema does not allow. A struct that derives with `#[serde(remote = "Self")]`
/// (the derives then write inherent `serialize` and `deserialize` functions) gets the traits
/// from this macro instead: `Deserialize` taking an object alone, `Serialize` as derived.
macro_rules! object_only {
    ($ty:ty) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                <$ty>::serialize(self, serializer)
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct Object;
                impl<'de> serde::de::Visitor<'de> for Object {
                    type Value = $ty;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str("an object")
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        map: A,
                    ) -> Result<$ty, A::Error> {
                        <$ty>::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    }
                }
                deserializer.deserialize_map(Object)
            }
        }
    };
}

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
pub mod metrics;
pub mod namespace;
pub mod node;
pub mod runtime;
pub mod schedule;
pub mod stored;
pub mod test_request;
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
pub use node::Node;
pub use runtime::{RuntimeId, RuntimeInfo};
pub use test_request::{MAX_TEST_REQUESTS, TestRequest, TestRequestSpec};
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
