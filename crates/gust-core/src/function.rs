//! Functions: what a user creates, configures and invokes. [`FunctionSpec`] is what a client
//! sends (create or replace), [`FunctionPatch`] a partial update, [`Function`] the stored
//! resource. Defaults and bounds live here, next to the fields they govern.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ValidationError, ValidationResult};
use crate::runtime::RuntimeId;
use crate::validate;

/// Memory a function instance may use, in MiB. Default 128; 16 is the smallest that runs a
/// Rust std guest comfortably, 4096 the most one Wasm instance can address on a 32-bit memory.
pub const MEMORY_MB: (u32, u32, u32) = (16, 128, 4096);
/// CPU share in thousandths of a core (process runtimes; the Wasm runtime has no CPU quota).
pub const CPU_MILLIS: (u32, u32, u32) = (50, 1000, 16000);
/// Wall-clock limit of one execution, in seconds. 900 matches the longest the seed platforms allow.
pub const TIMEOUT_S: (u32, u32, u32) = (1, 30, 900);
/// Instances kept warm even when idle (0 = scale to zero).
pub const MIN_SCALE: (u32, u32, u32) = (0, 0, 100);
/// Most instances a function may run at once.
pub const MAX_SCALE: (u32, u32, u32) = (1, 10, 1000);
/// Requests one instance serves at a time.
pub const CONCURRENCY: (u32, u32, u32) = (1, 1, 1000);
/// Attempts an async execution gets before it is a dead letter (Lambda's default is 3).
pub const MAX_ATTEMPTS: (u32, u32, u32) = (1, 3, 20);
/// Finished executions kept per function, newest first.
pub const RETENTION_COUNT: (u32, u32, u32) = (1, 1000, 1_000_000);
/// Age past which finished executions are pruned, in seconds (default 7 days, at most a year).
pub const RETENTION_AGE_S: (u32, u32, u32) = (60, 7 * 86_400, 366 * 86_400);
/// Longest description, in characters.
pub const DESCRIPTION_MAX: usize = 1024;
/// Longest title, in characters.
pub const TITLE_MAX: usize = 128;

/// How the function's code is called: which signature it exports and what it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HandlerContract {
    /// `handle(event, context)` returning `{statusCode, headers, body}` (or any JSON value).
    #[default]
    Gust,
    /// Appwrite 0.15's `main(req, res)` (Python) / `module.exports = (req, res) => …` (Node):
    /// `req.payload`, `req.env`, `req.headers`; answered with `res.send` or `res.json`.
    Appwrite,
    /// OpenStack Qinling's: the handler (`module.function`, `main.main` by default) is given
    /// the request body as its input, in Python as keyword arguments when it is a JSON object
    /// (else as one positional argument) plus `context`, in Node as `(context, input)`; what
    /// it returns is the response, as JSON.
    Qinling,
    /// Azion's edge runtime (node20 only): `addEventListener("fetch", e => e.respondWith(…))`
    /// with `event.request` a standard `Request` and `event.args` the instance's arguments, or
    /// a module's `export default { fetch(request, env, ctx) }` with `ctx.args`; answered with
    /// a standard `Response`. The handler's module names the file (`main.default`: `main.js`
    /// or `.mjs`), its function part the export for the module form.
    Azion,
}

impl HandlerContract {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gust => "gust",
            Self::Appwrite => "appwrite",
            Self::Qinling => "qinling",
            Self::Azion => "azion",
        }
    }

    /// The file an `appwrite` function's code is loaded from: the deployment's `entrypoint`,
    /// a path inside the package (`./` allowed), else the default of Appwrite's images for
    /// the runtime (`main.py`, `index.js`). `Err` says what is wrong with the one given.
    pub fn appwrite_entrypoint(runtime: RuntimeId, given: Option<&str>) -> Result<String, String> {
        let Some(given) = given.map(str::trim).filter(|g| !g.is_empty()) else {
            return Ok(match runtime {
                RuntimeId::Node20 => "index.js",
                _ => "main.py",
            }
            .to_string());
        };
        let path = std::path::Path::new(given);
        let mut parts = Vec::new();
        for part in path.components() {
            match part {
                std::path::Component::Normal(part) => parts.push(part.to_string_lossy()),
                std::path::Component::CurDir => {}
                _ => {
                    return Err(format!(
                        "the entrypoint `{given}` must be a path inside the package, without `..`"
                    ));
                }
            }
        }
        if parts.is_empty() {
            return Err(format!("the entrypoint `{given}` names no file"));
        }
        Ok(parts.join("/"))
    }
}

/// Who may invoke a function over `/fn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Privacy {
    /// Anyone who can reach the server.
    Public,
    /// Only callers with a token allowed to invoke it.
    #[default]
    Private,
}

/// Whether plain HTTP invocations are served or redirected (Scaleway's `http_option`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HttpOption {
    #[default]
    Enabled,
    Redirected,
}

/// Where a function stands, derived from its deployments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FunctionStatus {
    /// No deployment yet.
    #[default]
    Created,
    /// A deployment is building and none is active yet.
    Building,
    /// An active deployment serves invocations.
    Ready,
    /// The latest build failed and none is active.
    Error,
}

impl FunctionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Building => "building",
            Self::Ready => "ready",
            Self::Error => "error",
        }
    }

    pub const ALL: [Self; 4] = [Self::Created, Self::Building, Self::Ready, Self::Error];
}

/// What a client sends to create a function, or to replace its configuration (PUT).
/// Absent and `null` fields take their defaults.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FunctionSpec {
    /// Create only: the id to give the function (`a-zA-Z0-9._-`, at most 36 characters, not
    /// starting with `.`, `-` or `_`; unique on the server). Generated when absent.
    pub id: Option<String>,
    /// DNS label, unique in its namespace; it names the function in URLs. Defaults to the `id`
    /// made into a DNS label when an `id` is given.
    pub name: Option<String>,
    /// Free text shown in lists (at most 128 characters); defaults to the name.
    pub title: Option<String>,
    pub description: Option<String>,
    /// One of the ids listed by `GET /api/v1/runtimes`.
    pub runtime: Option<String>,
    /// Entry point inside the code: `module.function` for process runtimes (default `main.handle`).
    pub handler: Option<String>,
    /// How the code is called (default `gust`); `appwrite` needs a process runtime.
    pub contract: Option<HandlerContract>,
    pub env: Option<BTreeMap<String, String>>,
    /// Write-only: values are never returned.
    pub secrets: Option<BTreeMap<String, String>>,
    #[schema(minimum = 16, maximum = 4096, default = 128)]
    pub memory_mb: Option<u32>,
    #[schema(minimum = 50, maximum = 16000, default = 1000)]
    pub cpu_millis: Option<u32>,
    #[schema(minimum = 1, maximum = 900, default = 30)]
    pub timeout_s: Option<u32>,
    #[schema(minimum = 0, maximum = 100, default = 0)]
    pub min_scale: Option<u32>,
    #[schema(minimum = 1, maximum = 1000, default = 10)]
    pub max_scale: Option<u32>,
    #[schema(minimum = 1, maximum = 1000, default = 1)]
    pub concurrency: Option<u32>,
    pub privacy: Option<Privacy>,
    pub http_option: Option<HttpOption>,
    /// Whether the function may reach the network (default true; `false` gives a process
    /// function's workers an empty network namespace of their own, and denies a Wasm
    /// function's outgoing HTTP requests).
    pub network: Option<bool>,
    pub tags: Option<Vec<String>>,
    /// Key/value metadata, replaced as a whole when sent.
    pub labels: Option<BTreeMap<String, String>>,
    /// Arguments for the code (any JSON value, at most 100 KiB as JSON): what the `azion`
    /// contract gives it (`event.args`, `ctx.args`) when no edge function instance gives
    /// any (at `/fn/…`, by its host name, from triggers), and what a new instance starts
    /// with when it names none. Default `{}`.
    #[schema(value_type = Option<Value>)]
    pub args: Option<serde_json::Value>,
    /// Attempts an async execution gets before it becomes a dead letter.
    #[schema(minimum = 1, maximum = 20, default = 3)]
    pub max_attempts: Option<u32>,
    /// How many finished executions to keep, and for how long.
    pub retention: Option<RetentionSpec>,
    /// Cron schedule (Appwrite's field): the same as a cron trigger in UTC; `""` removes it.
    pub schedule: Option<String>,
    /// Event patterns (Appwrite's field): the same as an event trigger; `[]` removes them.
    pub events: Option<Vec<String>>,
}

/// Retention as sent: absent fields keep their current value.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[serde(remote = "Self")]
pub struct RetentionSpec {
    #[schema(minimum = 1, maximum = 1000000, default = 1000)]
    pub max_count: Option<u32>,
    #[schema(minimum = 60, maximum = 31622400, default = 604800)]
    pub max_age_s: Option<u32>,
}

object_only!(RetentionSpec);

/// Finished executions kept per function: at most `max_count`, none older than `max_age_s`.
/// Queued and running ones are never pruned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ExecutionRetention {
    pub max_count: u32,
    pub max_age_s: u32,
}

impl Default for ExecutionRetention {
    fn default() -> Self {
        Self {
            max_count: RETENTION_COUNT.1,
            max_age_s: RETENTION_AGE_S.1,
        }
    }
}

fn default_network() -> bool {
    true
}

fn default_max_attempts() -> u32 {
    MAX_ATTEMPTS.1
}

/// A partial update (PATCH): only the fields present change.
pub type FunctionPatch = FunctionSpec;

/// A function as stored and returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Function {
    pub id: String,
    /// A stable integer naming the function on the whole server, given at creation and never
    /// given again (for front doors whose ids are numbers).
    #[serde(default)]
    pub serial: u64,
    pub namespace_id: String,
    /// The namespace's name, for display and URLs.
    pub namespace: String,
    pub name: String,
    /// Free text shown in lists; the name unless one was given.
    #[serde(default)]
    pub title: String,
    pub description: String,
    pub runtime: RuntimeId,
    pub handler: Option<String>,
    #[serde(default)]
    pub contract: HandlerContract,
    pub env: BTreeMap<String, String>,
    /// Write-only: names are returned, each value masked as `********`.
    #[serde(serialize_with = "crate::namespace::mask_values")]
    pub secrets: BTreeMap<String, String>,
    pub memory_mb: u32,
    pub cpu_millis: u32,
    pub timeout_s: u32,
    pub min_scale: u32,
    pub max_scale: u32,
    pub concurrency: u32,
    pub privacy: Privacy,
    pub http_option: HttpOption,
    /// Network access (`false`: process workers get an empty network namespace; Wasm guests'
    /// outgoing HTTP requests are denied).
    #[serde(default = "default_network")]
    pub network: bool,
    pub tags: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Arguments for the code when no edge function instance gives any (see
    /// [`FunctionSpec::args`]).
    #[serde(default = "crate::edge::empty_args")]
    #[schema(value_type = Value)]
    pub args: serde_json::Value,
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    #[serde(default)]
    pub retention: ExecutionRetention,
    /// Cron schedule in UTC (kept as a trigger of origin `function`).
    #[serde(default)]
    pub schedule: Option<String>,
    /// Event patterns (kept as a trigger of origin `function`).
    #[serde(default)]
    pub events: Vec<String>,
    pub status: FunctionStatus,
    /// Why the function is in `error`, if it is.
    pub error_message: Option<String>,
    /// One line about the latest build.
    pub build_message: Option<String>,
    /// The deployment that serves invocations.
    pub active_deployment: Option<String>,
    /// Where to invoke it over HTTP.
    #[serde(default)]
    pub url: String,
    /// The host name it answers at: `<name>.<namespace>.<the server's functions domain>`.
    /// Computed when returned, so a new functions domain shows after a restart.
    #[serde(default)]
    pub domain_name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When it first had an active deployment.
    pub ready_at: Option<DateTime<Utc>>,
}

impl FunctionSpec {
    /// Validate a create request and build the new function.
    pub fn into_new_function(
        mut self,
        namespace_id: &str,
        namespace: &str,
    ) -> ValidationResult<Function> {
        let given_id = self.id.take();
        let id = match &given_id {
            Some(id) => {
                validate::custom_id("id", id)?;
                id.clone()
            }
            None => crate::new_id(),
        };
        let name = match self.name.clone() {
            Some(name) => name,
            None if given_id.is_some() => validate::label_from_id(&id),
            None => return Err(ValidationError::new("name", "is required")),
        };
        validate::dns_label("name", &name)?;
        if self.runtime.is_none() {
            return Err(ValidationError::new("runtime", "is required"));
        }
        let now = crate::now();
        let mut function = Function {
            id,
            serial: 0,
            namespace_id: namespace_id.to_string(),
            namespace: namespace.to_string(),
            title: name.clone(),
            name,
            description: String::new(),
            runtime: RuntimeId::Wasm,
            handler: None,
            contract: HandlerContract::Gust,
            env: BTreeMap::new(),
            secrets: BTreeMap::new(),
            memory_mb: MEMORY_MB.1,
            cpu_millis: CPU_MILLIS.1,
            timeout_s: TIMEOUT_S.1,
            min_scale: MIN_SCALE.1,
            max_scale: MAX_SCALE.1,
            concurrency: CONCURRENCY.1,
            privacy: Privacy::default(),
            http_option: HttpOption::default(),
            network: true,
            tags: Vec::new(),
            labels: BTreeMap::new(),
            args: crate::edge::empty_args(),
            max_attempts: MAX_ATTEMPTS.1,
            retention: ExecutionRetention::default(),
            schedule: None,
            events: Vec::new(),
            status: FunctionStatus::Created,
            error_message: None,
            build_message: None,
            active_deployment: None,
            url: String::new(),
            domain_name: String::new(),
            created_at: now,
            updated_at: now,
            ready_at: None,
        };
        self.apply_to(&mut function)?;
        Ok(function)
    }

    /// Validate a replacement (PUT): every configurable field takes the sent value or its default.
    pub fn replace(self, current: &Function) -> ValidationResult<Function> {
        let mut fresh = FunctionSpec {
            name: Some(current.name.clone()),
            runtime: Some(current.runtime.to_string()),
            ..FunctionSpec::default()
        }
        .into_new_function(&current.namespace_id, &current.namespace)?;
        // Keep identity and state; only configuration is replaced.
        fresh.id = current.id.clone();
        fresh.serial = current.serial;
        fresh.created_at = current.created_at;
        fresh.status = current.status;
        fresh.error_message = current.error_message.clone();
        fresh.build_message = current.build_message.clone();
        fresh.active_deployment = current.active_deployment.clone();
        fresh.ready_at = current.ready_at;
        fresh.runtime = current.runtime;
        let spec = FunctionSpec {
            runtime: self
                .runtime
                .clone()
                .or_else(|| Some(current.runtime.to_string())),
            ..self
        };
        spec.apply_to(&mut fresh)?;
        Ok(fresh)
    }

    /// Overlay the present fields onto `function`, then check the result as a whole.
    /// Leaves `function` untouched when it returns an error.
    pub fn apply_to(self, function: &mut Function) -> ValidationResult<()> {
        let mut next = function.clone();
        if let Some(id) = self.id
            && id != function.id
        {
            return Err(ValidationError::new(
                "id",
                "cannot be changed; create a new function instead",
            ));
        }
        if let Some(name) = self.name
            && name != function.name
        {
            return Err(ValidationError::new(
                "name",
                "cannot be changed; create a new function instead",
            ));
        }
        if let Some(title) = self.title {
            validate::text("title", &title, TITLE_MAX)?;
            if title.chars().any(char::is_control) {
                return Err(ValidationError::new(
                    "title",
                    "must not contain control characters",
                ));
            }
            next.title = if title.trim().is_empty() {
                next.name.clone()
            } else {
                title
            };
        }
        if let Some(description) = self.description {
            validate::text("description", &description, DESCRIPTION_MAX)?;
            next.description = description;
        }
        if let Some(runtime) = self.runtime {
            let runtime: RuntimeId = runtime
                .parse()
                .map_err(|e: String| ValidationError::new("runtime", e))?;
            if runtime != function.runtime && function.active_deployment.is_some() {
                return Err(ValidationError::new(
                    "runtime",
                    "cannot be changed once the function has a deployment; create a new function instead",
                ));
            }
            next.runtime = runtime;
        }
        if let Some(handler) = self.handler {
            validate_handler(&handler)?;
            next.handler = Some(handler);
        }
        if let Some(contract) = self.contract {
            next.contract = contract;
        }
        if let Some(env) = self.env {
            validate::env_map("env", &env)?;
            next.env = env;
        }
        if let Some(secrets) = self.secrets {
            validate::env_map("secrets", &secrets)?;
            next.secrets = secrets;
        }
        let bounded = [
            ("memory_mb", self.memory_mb, MEMORY_MB, &mut next.memory_mb),
            (
                "cpu_millis",
                self.cpu_millis,
                CPU_MILLIS,
                &mut next.cpu_millis,
            ),
            ("timeout_s", self.timeout_s, TIMEOUT_S, &mut next.timeout_s),
            (
                "max_attempts",
                self.max_attempts,
                MAX_ATTEMPTS,
                &mut next.max_attempts,
            ),
            ("min_scale", self.min_scale, MIN_SCALE, &mut next.min_scale),
            ("max_scale", self.max_scale, MAX_SCALE, &mut next.max_scale),
            (
                "concurrency",
                self.concurrency,
                CONCURRENCY,
                &mut next.concurrency,
            ),
        ];
        for (field, value, (min, _, max), slot) in bounded {
            if let Some(value) = value {
                validate::within(field, value, min, max)?;
                *slot = value;
            }
        }
        if next.min_scale > next.max_scale {
            return Err(ValidationError::new(
                "min_scale",
                format!(
                    "must not exceed max_scale ({} > {})",
                    next.min_scale, next.max_scale
                ),
            ));
        }
        if let Some(privacy) = self.privacy {
            next.privacy = privacy;
        }
        if let Some(http_option) = self.http_option {
            next.http_option = http_option;
        }
        if let Some(network) = self.network {
            next.network = network;
        }
        if let Some(tags) = self.tags {
            validate::tags("tags", &tags)?;
            next.tags = tags;
        }
        if let Some(labels) = self.labels {
            validate::labels("labels", &labels)?;
            next.labels = labels;
        }
        if let Some(args) = self.args {
            crate::edge::check_args("args", &args)?;
            next.args = args;
        }
        if let Some(retention) = self.retention {
            let fields = [
                (
                    "retention.max_count",
                    retention.max_count,
                    RETENTION_COUNT,
                    &mut next.retention.max_count,
                ),
                (
                    "retention.max_age_s",
                    retention.max_age_s,
                    RETENTION_AGE_S,
                    &mut next.retention.max_age_s,
                ),
            ];
            for (field, value, (min, _, max), slot) in fields {
                if let Some(value) = value {
                    validate::within(field, value, min, max)?;
                    *slot = value;
                }
            }
        }
        if let Some(schedule) = self.schedule {
            let schedule = schedule.trim().to_string();
            if schedule.is_empty() {
                next.schedule = None;
            } else {
                crate::trigger::parse_schedule(&schedule, None)?;
                next.schedule = Some(schedule);
            }
        }
        if let Some(events) = self.events {
            crate::trigger::event_patterns("events", &events)?;
            next.events = events;
        }
        if next.contract != HandlerContract::Gust
            && !matches!(next.runtime, RuntimeId::Python311 | RuntimeId::Node20)
        {
            return Err(ValidationError::new(
                "contract",
                format!(
                    "`{}` needs the python3.11 or node20 runtime, not {}",
                    next.contract.as_str(),
                    next.runtime
                ),
            ));
        }
        if next.contract == HandlerContract::Azion && next.runtime != RuntimeId::Node20 {
            return Err(ValidationError::new(
                "contract",
                format!(
                    "`azion` runs JavaScript: it needs the node20 runtime, not {}",
                    next.runtime
                ),
            ));
        }
        if next.handler.is_none() && next.runtime.is_process() {
            // Each contract's platform has its own default (Qinling's `entry` is `main.main`).
            let default = match next.contract {
                HandlerContract::Qinling => "main.main",
                HandlerContract::Azion => "main.default",
                _ => "main.handle",
            };
            next.handler = Some(default.to_string());
        }
        next.updated_at = crate::now();
        *function = next;
        Ok(())
    }
}

/// `module.function`, each part an identifier path (`pkg.module.handle` is fine).
fn validate_handler(handler: &str) -> ValidationResult<()> {
    let ok = !handler.is_empty()
        && handler.len() <= 256
        && handler.contains('.')
        && handler.split(['.', '/']).all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            "handler",
            "must look like `module.function` (for example `main.handle`)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> FunctionSpec {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_nested_spec_is_an_object_not_an_array_of_its_fields() {
        let err = serde_json::from_str::<FunctionSpec>(r#"{"retention": [60, 10]}"#).unwrap_err();
        assert!(err.to_string().contains("expected an object"), "{err}");
        let spec = spec(r#"{"retention": {"max_count": 10}}"#);
        assert_eq!(spec.retention.unwrap().max_count, Some(10));
        let round_trip = serde_json::to_value(RetentionSpec {
            max_count: Some(3),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(round_trip["max_count"], 3);
    }

    #[test]
    fn a_replacement_keeps_identity_and_runtime_and_resets_what_it_leaves_out() {
        let current =
            spec(r#"{"name":"hello","runtime":"python3.11","timeout_s":9,"description":"old"}"#)
                .into_new_function("ns1", "default")
                .unwrap();
        let replaced = spec(r#"{"description":"new"}"#).replace(&current).unwrap();
        assert_eq!(
            (replaced.id.as_str(), replaced.name.as_str()),
            (current.id.as_str(), "hello")
        );
        assert_eq!(replaced.runtime, RuntimeId::Python311);
        assert_eq!(replaced.description, "new");
        assert_eq!(replaced.timeout_s, TIMEOUT_S.1);
    }

    #[test]
    fn defaults_apply_to_absent_and_null_fields() {
        let f = spec(r#"{"name":"hello","runtime":"wasm","memory_mb":null}"#)
            .into_new_function("ns1", "default")
            .unwrap();
        assert_eq!(f.memory_mb, 128);
        assert_eq!(f.timeout_s, 30);
        assert_eq!(f.privacy, Privacy::Private);
        assert_eq!(f.status, FunctionStatus::Created);
    }

    #[test]
    fn each_bad_value_names_its_field() {
        let cases = [
            (r#"{"runtime":"wasm"}"#, "name"),
            (r#"{"name":"Bad Name","runtime":"wasm"}"#, "name"),
            (r#"{"name":"a"}"#, "runtime"),
            (r#"{"name":"a","runtime":"cobol"}"#, "runtime"),
            (
                r#"{"name":"a","runtime":"wasm","memory_mb":8}"#,
                "memory_mb",
            ),
            (
                r#"{"name":"a","runtime":"wasm","timeout_s":0}"#,
                "timeout_s",
            ),
            (
                r#"{"name":"a","runtime":"wasm","min_scale":5,"max_scale":2}"#,
                "min_scale",
            ),
            (
                r#"{"name":"a","runtime":"wasm","env":{"9x":"1"}}"#,
                "env.9x",
            ),
            (
                r#"{"name":"a","runtime":"wasm","handler":"nodot"}"#,
                "handler",
            ),
            (
                r#"{"name":"a","runtime":"wasm","max_attempts":0}"#,
                "max_attempts",
            ),
            (
                r#"{"name":"a","runtime":"wasm","retention":{"max_age_s":1}}"#,
                "retention.max_age_s",
            ),
            (
                r#"{"name":"a","runtime":"wasm","schedule":"every day"}"#,
                "schedule",
            ),
            (
                r#"{"name":"a","runtime":"wasm","events":["a..b"]}"#,
                "events[0]",
            ),
        ];
        for (json, field) in cases {
            let err = spec(json).into_new_function("ns1", "default").unwrap_err();
            assert_eq!(err.field, field, "{json}");
        }
    }

    #[test]
    fn failed_patch_leaves_function_untouched() {
        let mut f = spec(r#"{"name":"a","runtime":"wasm"}"#)
            .into_new_function("ns1", "default")
            .unwrap();
        let before = f.clone();
        let err = spec(r#"{"memory_mb":256,"max_scale":0}"#)
            .apply_to(&mut f)
            .unwrap_err();
        assert_eq!(err.field, "max_scale");
        assert_eq!(f, before);
    }

    #[test]
    fn secrets_are_masked_when_serialized() {
        let f = spec(r#"{"name":"a","runtime":"wasm","secrets":{"API_KEY":"hunter2"}}"#)
            .into_new_function("ns1", "default")
            .unwrap();
        let json = serde_json::to_string(&f).unwrap();
        assert!(!json.contains("hunter2"));
        assert!(json.contains(r#""API_KEY":"********""#));
    }

    #[test]
    fn a_given_id_is_kept_and_names_the_function() {
        let f = spec(r#"{"id":"My.Func_1","runtime":"wasm","title":"My function"}"#)
            .into_new_function("ns1", "default")
            .unwrap();
        assert_eq!(f.id, "My.Func_1");
        assert_eq!(f.name, "my-func-1");
        assert_eq!(f.title, "My function");
        let f = spec(r#"{"name":"plain","runtime":"wasm"}"#)
            .into_new_function("ns1", "default")
            .unwrap();
        assert!(crate::id::looks_like_id(&f.id));
        assert_eq!(f.title, "plain");
    }

    #[test]
    fn ids_titles_and_contracts_are_checked() {
        let cases = [
            (r#"{"id":"_x","runtime":"wasm"}"#, "id"),
            (r#"{"id":"a/b","runtime":"wasm"}"#, "id"),
            (
                &format!(r#"{{"id":"{}","runtime":"wasm"}}"#, "a".repeat(37)),
                "id",
            ),
            (
                &format!(
                    r#"{{"name":"a","runtime":"wasm","title":"{}"}}"#,
                    "t".repeat(129)
                ),
                "title",
            ),
            (
                r#"{"name":"a","runtime":"wasm","contract":"appwrite"}"#,
                "contract",
            ),
            (
                r#"{"name":"a","runtime":"python3.11","contract":"azion"}"#,
                "contract",
            ),
        ];
        for (json, field) in cases {
            let err = spec(json).into_new_function("ns1", "default").unwrap_err();
            assert_eq!(err.field, field, "{json}");
        }
        let mut f = spec(r#"{"id":"fixed","runtime":"python3.11","contract":"appwrite"}"#)
            .into_new_function("ns1", "default")
            .unwrap();
        assert_eq!(f.contract, HandlerContract::Appwrite);
        let err = spec(r#"{"id":"other"}"#).apply_to(&mut f).unwrap_err();
        assert_eq!(err.field, "id");
    }

    #[test]
    fn appwrite_entrypoints_default_per_runtime_and_stay_inside_the_package() {
        let file = |runtime, given| HandlerContract::appwrite_entrypoint(runtime, given);
        assert_eq!(file(RuntimeId::Python311, None).unwrap(), "main.py");
        assert_eq!(file(RuntimeId::Node20, Some(" ")).unwrap(), "index.js");
        assert_eq!(
            file(RuntimeId::Node20, Some("./src//index.js")).unwrap(),
            "src/index.js"
        );
        for bad in ["../x.py", "/etc/passwd", "src/../../x.py", "."] {
            assert!(file(RuntimeId::Python311, Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn process_runtimes_get_a_default_handler() {
        let f = spec(r#"{"name":"a","runtime":"python3.11"}"#)
            .into_new_function("ns1", "default")
            .unwrap();
        assert_eq!(f.handler.as_deref(), Some("main.handle"));
    }
}
