//! Edge applications (Azion's model). An application, in a namespace, answers requests with
//! its *rules*: each rule has criteria on the request and behaviors, such as running a
//! *function instance* (a Gust function of the namespace with JSON `args` for its code),
//! redirecting, or delivering. *Edge domains* route host names (their `cnames`) to an
//! application. Every edge resource has an integer id, given by the store and never reused.
//!
//! Rule evaluation (see [`CompiledRule`]): the active rules of an application, by `order` then
//! id; the first whose criteria match answers, with its first behavior. Criteria are groups:
//! a rule matches when any group does; inside a group, criteria chain with their `conditional`
//! (`and` binds tighter than `or`, so `a and b or c` is `(a and b) or c`).

use std::cell::OnceCell;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::{ValidationError, ValidationResult};

/// Longest name of an edge resource, in characters.
pub const NAME_MAX: usize = 250;
/// Largest `args` of a function instance, as JSON (Azion's limit).
pub const ARGS_MAX_BYTES: usize = 100 * 1024;
/// Most rules one application may have.
pub const MAX_RULES: u64 = 256;
/// Most criteria one rule may have, over all its groups.
pub const MAX_CRITERIA: usize = 64;
/// Most behaviors one rule may have.
pub const MAX_BEHAVIORS: usize = 16;
/// Longest `input_value` of a criterion, in bytes.
pub const INPUT_VALUE_MAX: usize = 2048;
/// Most host names one edge domain may have.
pub const MAX_CNAMES: usize = 50;
/// Largest compiled regular expression of a criterion (bounds memory and matching time).
const REGEX_SIZE_LIMIT: usize = 256 * 1024;

/// What a client sends to create an edge application, or to change one (PATCH: only the
/// fields present change). Module flags are Azion's; each is stored as given.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EdgeApplicationSpec {
    /// Free text (1 to 250 characters); required on create.
    pub name: Option<String>,
    /// An inactive application answers every request with 403 (default true).
    pub active: Option<bool>,
    /// Whether rules may run function instances (default false, as in Azion: the module is
    /// turned on before instances run).
    pub edge_functions: Option<bool>,
    pub application_acceleration: Option<bool>,
    pub caching: Option<bool>,
    pub image_optimization: Option<bool>,
    pub load_balancer: Option<bool>,
    pub raw_logs: Option<bool>,
    pub web_application_firewall: Option<bool>,
    pub debug_rules: Option<bool>,
    pub device_detection: Option<bool>,
    pub edge_firewall: Option<bool>,
    pub http3: Option<bool>,
    pub l2_caching: Option<bool>,
    pub websocket: Option<bool>,
}

/// A partial update (PATCH) of an edge application.
pub type EdgeApplicationPatch = EdgeApplicationSpec;

/// An edge application as stored and returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EdgeApplication {
    pub id: u64,
    pub namespace_id: String,
    /// The namespace's name, for display.
    pub namespace: String,
    pub name: String,
    pub active: bool,
    pub edge_functions: bool,
    #[serde(default)]
    pub application_acceleration: bool,
    #[serde(default)]
    pub caching: bool,
    #[serde(default)]
    pub image_optimization: bool,
    #[serde(default)]
    pub load_balancer: bool,
    #[serde(default)]
    pub raw_logs: bool,
    #[serde(default)]
    pub web_application_firewall: bool,
    #[serde(default)]
    pub debug_rules: bool,
    #[serde(default)]
    pub device_detection: bool,
    #[serde(default)]
    pub edge_firewall: bool,
    #[serde(default)]
    pub http3: bool,
    #[serde(default)]
    pub l2_caching: bool,
    #[serde(default)]
    pub websocket: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl EdgeApplicationSpec {
    /// Validate a create request and build the application (its id is given when stored).
    pub fn into_application(
        self,
        namespace_id: &str,
        namespace: &str,
    ) -> ValidationResult<EdgeApplication> {
        if self.name.is_none() {
            return Err(ValidationError::new("name", "is required"));
        }
        let now = crate::now();
        let mut app = EdgeApplication {
            id: 0,
            namespace_id: namespace_id.to_string(),
            namespace: namespace.to_string(),
            name: String::new(),
            active: true,
            edge_functions: false,
            application_acceleration: false,
            caching: false,
            image_optimization: false,
            load_balancer: false,
            raw_logs: false,
            web_application_firewall: false,
            debug_rules: false,
            device_detection: false,
            edge_firewall: false,
            http3: false,
            l2_caching: false,
            websocket: false,
            created_at: now,
            updated_at: now,
        };
        self.apply_to(&mut app)?;
        Ok(app)
    }

    /// Overlay the fields present onto `app`; leaves it untouched on error.
    pub fn apply_to(self, app: &mut EdgeApplication) -> ValidationResult<()> {
        let mut next = app.clone();
        if let Some(name) = self.name {
            next.name = resource_name("name", &name)?;
        }
        let flags = [
            (self.active, &mut next.active),
            (self.edge_functions, &mut next.edge_functions),
            (
                self.application_acceleration,
                &mut next.application_acceleration,
            ),
            (self.caching, &mut next.caching),
            (self.image_optimization, &mut next.image_optimization),
            (self.load_balancer, &mut next.load_balancer),
            (self.raw_logs, &mut next.raw_logs),
            (
                self.web_application_firewall,
                &mut next.web_application_firewall,
            ),
            (self.debug_rules, &mut next.debug_rules),
            (self.device_detection, &mut next.device_detection),
            (self.edge_firewall, &mut next.edge_firewall),
            (self.http3, &mut next.http3),
            (self.l2_caching, &mut next.l2_caching),
            (self.websocket, &mut next.websocket),
        ];
        for (given, slot) in flags {
            if let Some(value) = given {
                *slot = value;
            }
        }
        next.updated_at = crate::now();
        *app = next;
        Ok(())
    }
}

/// A Gust function named in a request: by its integer `serial`, or by id or name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum FunctionRef {
    Serial(u64),
    Key(String),
}

/// What a client sends to create a function instance, or to change one (PATCH).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FunctionInstanceSpec {
    /// Free text (1 to 250 characters); required on create.
    pub name: Option<String>,
    /// A function of the application's namespace: its id or name, or its `serial` as a number.
    /// Required on create.
    pub function: Option<FunctionRef>,
    /// Any JSON value, at most 100 KiB: what the function's code reads as its arguments
    /// (`event.args` / `ctx.args` for the `azion` contract). Default: the function's own
    /// `args` when the instance is created.
    #[schema(value_type = Option<Value>)]
    pub args: Option<Value>,
}

/// A partial update (PATCH) of a function instance.
pub type FunctionInstancePatch = FunctionInstanceSpec;

/// A function bound into an edge application, with the arguments its code is given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FunctionInstance {
    pub id: u64,
    pub edge_application_id: u64,
    pub namespace_id: String,
    pub name: String,
    pub function_id: String,
    /// The function's integer serial.
    pub function_serial: u64,
    #[schema(value_type = Value)]
    pub args: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl FunctionInstanceSpec {
    /// Check the fields present (the function is resolved by the caller); on create, `name`
    /// and `function` are required.
    pub fn validate(&self, creating: bool) -> ValidationResult<()> {
        match &self.name {
            Some(name) => {
                resource_name("name", name)?;
            }
            None if creating => return Err(ValidationError::new("name", "is required")),
            None => {}
        }
        if creating && self.function.is_none() {
            return Err(ValidationError::new(
                "function",
                "is required: a function of the namespace, by id, name or serial",
            ));
        }
        if let Some(FunctionRef::Key(key)) = &self.function
            && key.trim().is_empty()
        {
            return Err(ValidationError::new("function", "must not be empty"));
        }
        if let Some(args) = &self.args {
            check_args("args", args)?;
        }
        Ok(())
    }
}

/// Arguments nobody gave: an empty object.
pub fn empty_args() -> Value {
    Value::Object(serde_json::Map::new())
}

/// Arguments for code (an instance's, or a function's own) are at most [`ARGS_MAX_BYTES`]
/// as JSON.
pub fn check_args(field: &str, args: &Value) -> ValidationResult<()> {
    let size = serde_json::to_vec(args).map(|v| v.len()).unwrap_or(0);
    if size > ARGS_MAX_BYTES {
        return Err(ValidationError::new(
            field,
            format!("is {size} bytes as JSON; at most {ARGS_MAX_BYTES} are allowed"),
        ));
    }
    Ok(())
}

/// When a rule runs. Only the request phase exists: rules decide how a request is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RulePhase {
    #[default]
    Request,
}

/// What part of the request a criterion looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum CriterionVariable {
    /// The path, without the query.
    #[serde(rename = "${uri}")]
    Uri,
    /// The path and `?query` when there is one.
    #[serde(rename = "${request_uri}")]
    RequestUri,
    /// The host name, lower case, without port.
    #[serde(rename = "${host}")]
    Host,
}

impl CriterionVariable {
    const NAMES: [(&'static str, CriterionVariable); 3] = [
        ("${uri}", Self::Uri),
        ("${request_uri}", Self::RequestUri),
        ("${host}", Self::Host),
    ];
}

/// How a criterion compares the variable with its `input_value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CriterionOperator {
    StartsWith,
    DoesNotStartWith,
    IsEqual,
    IsNotEqual,
    /// `input_value` is a regular expression (Rust `regex` syntax) found anywhere in the value.
    Matches,
    DoesNotMatch,
}

impl CriterionOperator {
    const NAMES: [(&'static str, CriterionOperator); 6] = [
        ("starts_with", Self::StartsWith),
        ("does_not_start_with", Self::DoesNotStartWith),
        ("is_equal", Self::IsEqual),
        ("is_not_equal", Self::IsNotEqual),
        ("matches", Self::Matches),
        ("does_not_match", Self::DoesNotMatch),
    ];
}

/// How a criterion joins the ones before it in its group (`if` starts a group).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Conditional {
    If,
    And,
    Or,
}

impl Conditional {
    const NAMES: [(&'static str, Conditional); 3] =
        [("if", Self::If), ("and", Self::And), ("or", Self::Or)];
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EdgeCriterion {
    pub variable: CriterionVariable,
    pub operator: CriterionOperator,
    pub conditional: Conditional,
    pub input_value: String,
}

/// What a rule does when it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BehaviorName {
    /// Run a function instance of the application (`target`: its id).
    RunFunction,
    /// Answer from the origin. Gust has no origins: the answer is a 404 saying so.
    Deliver,
    /// `target`: the URL to redirect to.
    #[serde(rename = "redirect_to_301")]
    RedirectTo301,
    #[serde(rename = "redirect_to_302")]
    RedirectTo302,
}

impl BehaviorName {
    const NAMES: [(&'static str, BehaviorName); 4] = [
        ("run_function", Self::RunFunction),
        ("deliver", Self::Deliver),
        ("redirect_to_301", Self::RedirectTo301),
        ("redirect_to_302", Self::RedirectTo302),
    ];
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EdgeBehavior {
    pub name: BehaviorName,
    /// `run_function`: the instance id (a number); redirects: the URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<BehaviorTarget>)]
    pub target: Option<Value>,
}

/// What a behavior acts on, as the schema tells it (the field itself is kept as the client's
/// JSON and checked when the rule is made): an instance id, or a URL or path.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum BehaviorTarget {
    /// `run_function`: an instance id of the application.
    Instance(u64),
    /// `run_function`: the instance id's digits; redirects: an `http(s)://` URL or a path
    /// starting with `/`.
    Text(String),
}

/// A criterion as a client sends it (Azion's shape).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[serde(remote = "Self")]
pub struct CriterionSpec {
    /// `${uri}`, `${request_uri}` or `${host}`.
    pub variable: Option<String>,
    /// `starts_with`, `does_not_start_with`, `is_equal`, `is_not_equal`, `matches`,
    /// `does_not_match`.
    pub operator: Option<String>,
    /// `if` (the first of a group; the default there), `and` or `or`.
    pub conditional: Option<String>,
    pub input_value: Option<String>,
}

object_only!(CriterionSpec);

/// A behavior as a client sends it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[serde(remote = "Self")]
pub struct BehaviorSpec {
    /// `run_function`, `deliver`, `redirect_to_301` or `redirect_to_302`.
    pub name: Option<String>,
    /// `run_function`: an instance id of this application (a number, or digits);
    /// redirects: an `http(s)://` URL or a path starting with `/`.
    #[schema(value_type = Option<BehaviorTarget>)]
    pub target: Option<Value>,
}

object_only!(BehaviorSpec);

/// What a client sends to create a rule, or to change one (PATCH).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EdgeRuleSpec {
    /// Free text (1 to 250 characters); required on create.
    pub name: Option<String>,
    pub description: Option<String>,
    /// Only `request`.
    pub phase: Option<RulePhase>,
    /// Rules are evaluated by `order`, lowest first (then by id); default: after the last.
    pub order: Option<u32>,
    /// Inactive rules are skipped (default true).
    pub active: Option<bool>,
    /// Groups of criteria: a rule matches when any group does. Default: every request
    /// (`[[{"variable": "${uri}", "operator": "starts_with", "conditional": "if", "input_value": "/"}]]`).
    pub criteria: Option<Vec<Vec<CriterionSpec>>>,
    /// What the rule does; the first behavior answers. Required on create.
    pub behaviors: Option<Vec<BehaviorSpec>>,
}

/// A partial update (PATCH) of a rule.
pub type EdgeRulePatch = EdgeRuleSpec;

/// A rule of an edge application, as stored and returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EdgeRule {
    pub id: u64,
    pub edge_application_id: u64,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub phase: RulePhase,
    pub order: u32,
    pub active: bool,
    pub criteria: Vec<Vec<EdgeCriterion>>,
    pub behaviors: Vec<EdgeBehavior>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl EdgeRuleSpec {
    /// Validate a create request and build the rule of `application_id`, ordered `order`
    /// unless it names one (its id is given when stored).
    pub fn into_rule(self, application_id: u64, order: u32) -> ValidationResult<EdgeRule> {
        if self.name.is_none() {
            return Err(ValidationError::new("name", "is required"));
        }
        if self.behaviors.is_none() {
            return Err(ValidationError::new(
                "behaviors",
                "is required, e.g. [{\"name\": \"run_function\", \"target\": 1}]",
            ));
        }
        let now = crate::now();
        let mut rule = EdgeRule {
            id: 0,
            edge_application_id: application_id,
            name: String::new(),
            description: String::new(),
            phase: RulePhase::Request,
            order,
            active: true,
            criteria: vec![vec![EdgeCriterion {
                variable: CriterionVariable::Uri,
                operator: CriterionOperator::StartsWith,
                conditional: Conditional::If,
                input_value: "/".into(),
            }]],
            behaviors: Vec::new(),
            created_at: now,
            updated_at: now,
        };
        self.apply_to(&mut rule)?;
        Ok(rule)
    }

    /// Overlay the fields present onto `rule`; leaves it untouched on error.
    pub fn apply_to(self, rule: &mut EdgeRule) -> ValidationResult<()> {
        let mut next = rule.clone();
        if let Some(name) = self.name {
            next.name = resource_name("name", &name)?;
        }
        if let Some(description) = self.description {
            crate::validate::text(
                "description",
                &description,
                crate::function::DESCRIPTION_MAX,
            )?;
            next.description = description;
        }
        if let Some(phase) = self.phase {
            next.phase = phase;
        }
        if let Some(order) = self.order {
            next.order = order;
        }
        if let Some(active) = self.active {
            next.active = active;
        }
        if let Some(criteria) = self.criteria {
            next.criteria = criteria_of(criteria)?;
        }
        if let Some(behaviors) = self.behaviors {
            next.behaviors = behaviors_of(behaviors)?;
        }
        // The rule must compile (regular expressions) before it is kept.
        next.compile()?;
        next.updated_at = crate::now();
        *rule = next;
        Ok(())
    }
}

impl EdgeRule {
    /// The function instances the rule runs, with the field naming each.
    pub fn instance_targets(&self) -> Vec<(String, u64)> {
        self.behaviors
            .iter()
            .enumerate()
            .filter(|(_, b)| b.name == BehaviorName::RunFunction)
            .filter_map(|(i, b)| {
                let id = b.target.as_ref()?.as_u64()?;
                Some((format!("behaviors[{i}].target"), id))
            })
            .collect()
    }

    /// The rule ready to evaluate: regular expressions compiled, conditionals grouped.
    pub fn compile(&self) -> ValidationResult<CompiledRule> {
        let mut groups = Vec::with_capacity(self.criteria.len());
        for (g, group) in self.criteria.iter().enumerate() {
            let mut runs: Vec<Vec<Test>> = vec![Vec::new()];
            for (c, criterion) in group.iter().enumerate() {
                if c > 0 && criterion.conditional == Conditional::Or {
                    runs.push(Vec::new());
                }
                let test = Test::compile(criterion).map_err(|m| {
                    ValidationError::new(format!("criteria[{g}][{c}].input_value"), m)
                })?;
                runs.last_mut().expect("one run at least").push(test);
            }
            groups.push(runs);
        }
        let action = match self.behaviors.first() {
            None => return Err(ValidationError::new("behaviors", "must not be empty")),
            Some(first) => {
                RuleAction::of(first).map_err(|m| ValidationError::new("behaviors[0].target", m))?
            }
        };
        Ok(CompiledRule {
            id: self.id,
            name: self.name.clone(),
            groups,
            action,
        })
    }
}

fn criteria_of(groups: Vec<Vec<CriterionSpec>>) -> ValidationResult<Vec<Vec<EdgeCriterion>>> {
    if groups.is_empty() {
        return Err(ValidationError::new(
            "criteria",
            "must hold at least one group of criteria",
        ));
    }
    let total: usize = groups.iter().map(Vec::len).sum();
    if total > MAX_CRITERIA {
        return Err(ValidationError::new(
            "criteria",
            format!("holds {total} criteria; at most {MAX_CRITERIA} are allowed"),
        ));
    }
    let mut out = Vec::with_capacity(groups.len());
    for (g, group) in groups.into_iter().enumerate() {
        if group.is_empty() {
            return Err(ValidationError::new(
                format!("criteria[{g}]"),
                "must hold at least one criterion",
            ));
        }
        let mut criteria = Vec::with_capacity(group.len());
        for (c, spec) in group.into_iter().enumerate() {
            let field = |name: &str| format!("criteria[{g}][{c}].{name}");
            let variable = one_of(
                &field("variable"),
                spec.variable.as_deref(),
                &CriterionVariable::NAMES,
            )?;
            let operator = one_of(
                &field("operator"),
                spec.operator.as_deref(),
                &CriterionOperator::NAMES,
            )?;
            let conditional = match spec.conditional.as_deref() {
                None if c == 0 => Conditional::If,
                None => Conditional::And,
                given => one_of(&field("conditional"), given, &Conditional::NAMES)?,
            };
            // `if` opens a group; inside one, criteria join with `and` or `or`.
            if c > 0 && conditional == Conditional::If {
                return Err(ValidationError::new(
                    field("conditional"),
                    "`if` starts a group; join later criteria with `and` or `or`",
                ));
            }
            let input_value = spec.input_value.unwrap_or_default();
            if input_value.len() > INPUT_VALUE_MAX {
                return Err(ValidationError::new(
                    field("input_value"),
                    format!("must be at most {INPUT_VALUE_MAX} bytes"),
                ));
            }
            let criterion = EdgeCriterion {
                variable,
                operator,
                conditional,
                input_value,
            };
            Test::compile(&criterion).map_err(|m| ValidationError::new(field("input_value"), m))?;
            criteria.push(criterion);
        }
        out.push(criteria);
    }
    Ok(out)
}

fn behaviors_of(specs: Vec<BehaviorSpec>) -> ValidationResult<Vec<EdgeBehavior>> {
    if specs.is_empty() {
        return Err(ValidationError::new("behaviors", "must not be empty"));
    }
    if specs.len() > MAX_BEHAVIORS {
        return Err(ValidationError::new(
            "behaviors",
            format!("at most {MAX_BEHAVIORS} behaviors are allowed"),
        ));
    }
    let mut out = Vec::with_capacity(specs.len());
    for (i, spec) in specs.into_iter().enumerate() {
        let name = one_of(
            &format!("behaviors[{i}].name"),
            spec.name.as_deref(),
            &BehaviorName::NAMES,
        )?;
        let target_field = format!("behaviors[{i}].target");
        let target = match name {
            BehaviorName::RunFunction => {
                let id = match &spec.target {
                    Some(Value::Number(n)) => n.as_u64(),
                    Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
                    _ => None,
                };
                let id = id.filter(|id| *id > 0).ok_or_else(|| {
                    ValidationError::new(
                        &target_field,
                        "must be the id of a function instance of this application",
                    )
                })?;
                Some(Value::from(id))
            }
            BehaviorName::Deliver => {
                if spec.target.as_ref().is_some_and(|t| !t.is_null()) {
                    return Err(ValidationError::new(
                        &target_field,
                        "`deliver` takes no target",
                    ));
                }
                None
            }
            BehaviorName::RedirectTo301 | BehaviorName::RedirectTo302 => {
                let url = match &spec.target {
                    Some(Value::String(url)) => url.trim().to_string(),
                    _ => String::new(),
                };
                redirect_url(&target_field, &url)?;
                Some(Value::String(url))
            }
        };
        out.push(EdgeBehavior { name, target });
    }
    Ok(out)
}

/// A redirect's target: an absolute `http(s)` URL or a path, usable as a `Location` header.
fn redirect_url(field: &str, url: &str) -> ValidationResult<()> {
    let shaped = url.starts_with("http://") || url.starts_with("https://") || url.starts_with('/');
    if url.is_empty() || !shaped {
        return Err(ValidationError::new(
            field,
            "must be an http:// or https:// URL, or a path starting with /",
        ));
    }
    if url.len() > INPUT_VALUE_MAX || url.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(ValidationError::new(
            field,
            format!(
                "must be at most {INPUT_VALUE_MAX} bytes, without spaces or control characters"
            ),
        ));
    }
    Ok(())
}

fn one_of<T: Copy>(field: &str, given: Option<&str>, names: &[(&str, T)]) -> ValidationResult<T> {
    let list = || {
        names
            .iter()
            .map(|(n, _)| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(given) = given else {
        return Err(ValidationError::new(
            field,
            format!("is required: one of {}", list()),
        ));
    };
    names
        .iter()
        .find(|(n, _)| *n == given)
        .map(|(_, v)| *v)
        .ok_or_else(|| ValidationError::new(field, format!("`{given}` is not one of {}", list())))
}

/// A name of an edge resource: 1 to 250 characters, not blank, no control characters.
fn resource_name(field: &str, name: &str) -> ValidationResult<String> {
    if name.trim().is_empty() {
        return Err(ValidationError::new(field, "must not be blank"));
    }
    crate::validate::text(field, name, NAME_MAX)?;
    if name.chars().any(char::is_control) {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(name.to_string())
}

/// The request as rules see it. `${request_uri}` is assembled on first use only.
pub struct EdgeRequest<'a> {
    pub path: &'a str,
    pub query: &'a str,
    /// Lower case, without port.
    pub host: &'a str,
    request_uri: OnceCell<String>,
}

impl<'a> EdgeRequest<'a> {
    pub fn new(path: &'a str, query: &'a str, host: &'a str) -> Self {
        Self {
            path,
            query,
            host,
            request_uri: OnceCell::new(),
        }
    }

    fn value(&self, variable: CriterionVariable) -> &str {
        match variable {
            CriterionVariable::Uri => self.path,
            CriterionVariable::Host => self.host,
            CriterionVariable::RequestUri if self.query.is_empty() => self.path,
            CriterionVariable::RequestUri => self
                .request_uri
                .get_or_init(|| format!("{}?{}", self.path, self.query)),
        }
    }
}

/// One criterion, ready to evaluate.
#[derive(Debug, Clone)]
struct Test {
    variable: CriterionVariable,
    negate: bool,
    kind: TestKind,
}

#[derive(Debug, Clone)]
enum TestKind {
    StartsWith(String),
    Equal(String),
    Regex(regex::Regex),
}

impl Test {
    fn compile(c: &EdgeCriterion) -> Result<Test, String> {
        use CriterionOperator::*;
        let negate = matches!(c.operator, DoesNotStartWith | IsNotEqual | DoesNotMatch);
        let kind = match c.operator {
            StartsWith | DoesNotStartWith => TestKind::StartsWith(c.input_value.clone()),
            IsEqual | IsNotEqual => TestKind::Equal(c.input_value.clone()),
            Matches | DoesNotMatch => TestKind::Regex(
                regex::RegexBuilder::new(&c.input_value)
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build()
                    .map_err(|e| format!("is not a valid regular expression: {e}"))?,
            ),
        };
        Ok(Test {
            variable: c.variable,
            negate,
            kind,
        })
    }

    fn holds(&self, request: &EdgeRequest<'_>) -> bool {
        let value = request.value(self.variable);
        let found = match &self.kind {
            TestKind::StartsWith(prefix) => value.starts_with(prefix.as_str()),
            TestKind::Equal(expected) => value == expected,
            TestKind::Regex(regex) => regex.is_match(value),
        };
        found != self.negate
    }
}

/// What a matching rule does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleAction {
    /// Run this function instance of the application.
    RunFunction(u64),
    Deliver,
    /// Answer with this status (301 or 302) and `Location`.
    Redirect(u16, String),
}

impl RuleAction {
    fn of(behavior: &EdgeBehavior) -> Result<RuleAction, String> {
        let target = behavior.target.as_ref();
        Ok(match behavior.name {
            BehaviorName::RunFunction => RuleAction::RunFunction(
                target
                    .and_then(Value::as_u64)
                    .ok_or("run_function needs an instance id")?,
            ),
            BehaviorName::Deliver => RuleAction::Deliver,
            BehaviorName::RedirectTo301 | BehaviorName::RedirectTo302 => {
                let url = target
                    .and_then(Value::as_str)
                    .ok_or("a redirect needs a URL")?;
                let status = if behavior.name == BehaviorName::RedirectTo301 {
                    301
                } else {
                    302
                };
                RuleAction::Redirect(status, url.to_string())
            }
        })
    }
}

/// A rule ready to evaluate: groups (any may match) of runs joined by `or` of criteria
/// joined by `and`.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    pub id: u64,
    pub name: String,
    groups: Vec<Vec<Vec<Test>>>,
    pub action: RuleAction,
}

impl CompiledRule {
    pub fn matches(&self, request: &EdgeRequest<'_>) -> bool {
        self.groups.iter().any(|runs| {
            runs.iter()
                .any(|tests| tests.iter().all(|t| t.holds(request)))
        })
    }
}

/// What a client sends to create an edge domain, or to change one (PATCH).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EdgeDomainSpec {
    /// Free text (1 to 250 characters); required on create.
    pub name: Option<String>,
    /// Host names routed to the application, unique on the server (also among custom
    /// domains); stored lower case. Replaced as a whole when sent.
    pub cnames: Option<Vec<String>>,
    /// The application requests for the cnames go to; `null` unbinds it.
    #[serde(
        default,
        alias = "edge_application",
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<u64>)]
    pub edge_application_id: Option<Option<u64>>,
    /// An inactive domain routes nothing (default true).
    pub active: Option<bool>,
}

/// A partial update (PATCH) of an edge domain.
pub type EdgeDomainPatch = EdgeDomainSpec;

/// A field that may be sent as `null`: `Some(None)`, told apart from an absent one (`None`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

/// An edge domain as stored and returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EdgeDomain {
    pub id: u64,
    pub namespace_id: String,
    pub name: String,
    pub cnames: Vec<String>,
    pub edge_application_id: Option<u64>,
    pub active: bool,
    /// The generated host name that also routes to the application:
    /// `edge-<id>.<functions domain>` (computed when returned).
    #[serde(default)]
    pub domain_name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl EdgeDomainSpec {
    /// Validate a create request and build the domain (its id is given when stored).
    pub fn into_domain(self, namespace_id: &str) -> ValidationResult<EdgeDomain> {
        if self.name.is_none() {
            return Err(ValidationError::new("name", "is required"));
        }
        let now = crate::now();
        let mut domain = EdgeDomain {
            id: 0,
            namespace_id: namespace_id.to_string(),
            name: String::new(),
            cnames: Vec::new(),
            edge_application_id: None,
            active: true,
            domain_name: String::new(),
            created_at: now,
            updated_at: now,
        };
        self.apply_to(&mut domain)?;
        Ok(domain)
    }

    /// Overlay the fields present onto `domain`; leaves it untouched on error.
    pub fn apply_to(self, domain: &mut EdgeDomain) -> ValidationResult<()> {
        let mut next = domain.clone();
        if let Some(name) = self.name {
            next.name = resource_name("name", &name)?;
        }
        if let Some(cnames) = self.cnames {
            if cnames.len() > MAX_CNAMES {
                return Err(ValidationError::new(
                    "cnames",
                    format!("at most {MAX_CNAMES} host names are allowed"),
                ));
            }
            let mut checked: Vec<String> = Vec::with_capacity(cnames.len());
            for (i, given) in cnames.iter().enumerate() {
                let field = format!("cnames[{i}]");
                let host = crate::domain::hostname(&field, given)?;
                if host == "localhost" {
                    return Err(ValidationError::new(
                        field,
                        "`localhost` is the server's own name",
                    ));
                }
                if checked.contains(&host) {
                    return Err(ValidationError::new(
                        field,
                        format!("`{host}` is given twice"),
                    ));
                }
                checked.push(host);
            }
            next.cnames = checked;
        }
        if let Some(application) = self.edge_application_id {
            next.edge_application_id = application;
        }
        if let Some(active) = self.active {
            next.active = active;
        }
        next.updated_at = crate::now();
        *domain = next;
        Ok(())
    }
}

/// The generated host name of an edge domain: one label under the functions domain, a shape
/// no function's name (`<function>.<namespace>`, two labels) has.
pub fn edge_domain_name(id: u64, base_domain: &str) -> String {
    format!("{EDGE_LABEL_PREFIX}{id}.{base_domain}")
}

/// What starts the single label of an edge domain's generated name.
pub const EDGE_LABEL_PREFIX: &str = "edge-";

/// The edge domain id a label under the functions domain names (`edge-12` → 12).
pub fn edge_domain_id(label: &str) -> Option<u64> {
    let digits = label.strip_prefix(EDGE_LABEL_PREFIX)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(json: Value) -> ValidationResult<EdgeRule> {
        serde_json::from_value::<EdgeRuleSpec>(json)
            .unwrap()
            .into_rule(1, 0)
    }

    fn matches(rule: &EdgeRule, path: &str, query: &str, host: &str) -> bool {
        rule.compile()
            .unwrap()
            .matches(&EdgeRequest::new(path, query, host))
    }

    #[test]
    fn a_rule_defaults_to_every_request() {
        let r =
            rule(serde_json::json!({"name": "all", "behaviors": [{"name": "deliver"}]})).unwrap();
        assert!(matches(&r, "/", "", "h"));
        assert!(matches(&r, "/x/y", "a=1", "h"));
        assert_eq!(r.compile().unwrap().action, RuleAction::Deliver);
    }

    #[test]
    fn groups_or_and_conditionals_chain() {
        let c = |op: &str, cond: &str, v: &str| serde_json::json!({"variable": "${uri}", "operator": op, "conditional": cond, "input_value": v});
        let r = rule(serde_json::json!({
            "name": "r",
            "criteria": [
                [c("starts_with", "if", "/api"), c("does_not_match", "and", "\\.php$")],
                [c("is_equal", "if", "/exact"), c("matches", "or", "^/v[0-9]+/")],
            ],
            "behaviors": [{"name": "run_function", "target": "7"}],
        }))
        .unwrap();
        assert!(matches(&r, "/api/users", "", "h"));
        assert!(!matches(&r, "/api/index.php", "", "h"));
        assert!(matches(&r, "/exact", "", "h"));
        assert!(matches(&r, "/v2/x", "", "h"));
        assert!(!matches(&r, "/other", "", "h"));
        assert_eq!(r.behaviors[0].target, Some(Value::from(7)));
        assert_eq!(
            r.instance_targets(),
            vec![("behaviors[0].target".into(), 7)]
        );
    }

    #[test]
    fn request_uri_and_host_are_variables() {
        let r = rule(serde_json::json!({"name": "r", "criteria": [[
            {"variable": "${request_uri}", "operator": "is_equal", "conditional": "if", "input_value": "/a?x=1"},
            {"variable": "${host}", "operator": "is_not_equal", "conditional": "and", "input_value": "blocked.example"}
        ]], "behaviors": [{"name": "redirect_to_302", "target": "https://example.com/"}]}))
        .unwrap();
        assert!(matches(&r, "/a", "x=1", "ok.example"));
        assert!(!matches(&r, "/a", "x=1", "blocked.example"));
        assert!(!matches(&r, "/a", "", "ok.example"));
        assert_eq!(
            r.compile().unwrap().action,
            RuleAction::Redirect(302, "https://example.com/".into())
        );
    }

    #[test]
    fn each_bad_value_names_its_field() {
        let crit = |v: Value| serde_json::json!({"name": "r", "criteria": [[v]], "behaviors": [{"name": "deliver"}]});
        let cases = [
            (
                serde_json::json!({"behaviors": [{"name": "deliver"}]}),
                "name",
            ),
            (serde_json::json!({"name": "r"}), "behaviors"),
            (serde_json::json!({"name": " ", "behaviors": []}), "name"),
            (
                serde_json::json!({"name": "r", "behaviors": []}),
                "behaviors",
            ),
            (
                serde_json::json!({"name": "r", "criteria": [], "behaviors": [{"name": "deliver"}]}),
                "criteria",
            ),
            (
                serde_json::json!({"name": "r", "criteria": [[]], "behaviors": [{"name": "deliver"}]}),
                "criteria[0]",
            ),
            (
                crit(
                    serde_json::json!({"variable": "${cookie}", "operator": "is_equal", "input_value": "x"}),
                ),
                "criteria[0][0].variable",
            ),
            (
                crit(
                    serde_json::json!({"variable": "${uri}", "operator": "contains", "input_value": "x"}),
                ),
                "criteria[0][0].operator",
            ),
            (
                crit(
                    serde_json::json!({"variable": "${uri}", "operator": "matches", "input_value": "(["}),
                ),
                "criteria[0][0].input_value",
            ),
            (
                crit(
                    serde_json::json!({"variable": "${uri}", "operator": "matches", "conditional": "maybe"}),
                ),
                "criteria[0][0].conditional",
            ),
            (
                serde_json::json!({"name": "r", "behaviors": [{"name": "set_origin"}]}),
                "behaviors[0].name",
            ),
            (
                serde_json::json!({"name": "r", "behaviors": [{"name": "run_function", "target": "x"}]}),
                "behaviors[0].target",
            ),
            (
                serde_json::json!({"name": "r", "behaviors": [{"name": "redirect_to_301", "target": "ftp://x"}]}),
                "behaviors[0].target",
            ),
            (
                serde_json::json!({"name": "r", "behaviors": [{"name": "deliver", "target": 3}]}),
                "behaviors[0].target",
            ),
        ];
        for (json, field) in cases {
            let err = rule(json.clone()).unwrap_err();
            assert_eq!(err.field, field, "{json}");
        }
        let second_if = serde_json::json!({"name": "r", "criteria": [[
            {"variable": "${uri}", "operator": "starts_with", "conditional": "if", "input_value": "/"},
            {"variable": "${uri}", "operator": "starts_with", "conditional": "if", "input_value": "/"}
        ]], "behaviors": [{"name": "deliver"}]});
        assert_eq!(
            rule(second_if).unwrap_err().field,
            "criteria[0][1].conditional"
        );
    }

    #[test]
    fn applications_instances_and_domains_are_checked() {
        let e = EdgeApplicationSpec::default()
            .into_application("n", "default")
            .unwrap_err();
        assert_eq!(e.field, "name");
        let app = EdgeApplicationSpec {
            name: Some("site".into()),
            edge_functions: Some(true),
            ..Default::default()
        }
        .into_application("n", "default")
        .unwrap();
        assert!(app.active && app.edge_functions && !app.caching);

        let big = Value::String("x".repeat(ARGS_MAX_BYTES));
        let spec = FunctionInstanceSpec {
            name: Some("i".into()),
            function: Some(FunctionRef::Serial(1)),
            args: Some(big),
        };
        assert_eq!(spec.validate(true).unwrap_err().field, "args");
        let spec: FunctionInstanceSpec =
            serde_json::from_value(serde_json::json!({"name": "i", "function": 3})).unwrap();
        assert_eq!(spec.function, Some(FunctionRef::Serial(3)));
        assert_eq!(
            FunctionInstanceSpec {
                name: Some("i".into()),
                ..Default::default()
            }
            .validate(true)
            .unwrap_err()
            .field,
            "function"
        );

        let spec: EdgeDomainSpec = serde_json::from_value(serde_json::json!({
            "name": "d", "cnames": ["A.example.com", "b.example.com"], "edge_application": 4
        }))
        .unwrap();
        let d = spec.into_domain("n").unwrap();
        assert_eq!(d.cnames, vec!["a.example.com", "b.example.com"]);
        assert_eq!(d.edge_application_id, Some(4));
        let unbind: EdgeDomainSpec =
            serde_json::from_value(serde_json::json!({"edge_application_id": null})).unwrap();
        assert_eq!(unbind.edge_application_id, Some(None));
        for bad in [
            serde_json::json!({"name": "d", "cnames": ["a..b"]}),
            serde_json::json!({"name": "d", "cnames": ["x.com", "X.com"]}),
            serde_json::json!({"name": "d", "cnames": ["localhost"]}),
        ] {
            let spec: EdgeDomainSpec = serde_json::from_value(bad.clone()).unwrap();
            assert!(
                spec.into_domain("n")
                    .unwrap_err()
                    .field
                    .starts_with("cnames["),
                "{bad}"
            );
        }
    }

    #[test]
    fn generated_names_carry_the_domain_id() {
        assert_eq!(
            edge_domain_name(12, "functions.localhost"),
            "edge-12.functions.localhost"
        );
        assert_eq!(edge_domain_id("edge-12"), Some(12));
        for bad in ["edge-", "edge-01", "edge-x", "edge12", "hello"] {
            assert_eq!(edge_domain_id(bad), None, "{bad}");
        }
    }
}

/// Property tests of rule criteria: any criteria a client sends are a rule or a 400, never a
/// panic; a rule that validates compiles (also after a trip through its stored JSON); and it
/// matches exactly the requests its groups describe (`and` binding tighter than `or`).
#[cfg(test)]
mod props {
    use proptest::collection::vec;
    use proptest::option::of;
    use proptest::prelude::*;

    use super::*;

    fn name_or_junk(names: &'static [&'static str]) -> impl Strategy<Value = Option<String>> {
        of(prop_oneof![
            4 => prop::sample::select(names).prop_map(str::to_string),
            1 => "\\PC{0,12}",
        ])
    }

    /// Regular expressions, broken ones and costly ones among them, and plain text.
    fn input_value() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z/.?=]{0,8}",
            "[()\\[\\]{}*+?|^$.\\\\a-c0-9,]{0,24}",
            Just("(a{1000}){1000}".to_string()),
            Just("\\p{L}{100}[^\\x00]{100}".to_string()),
            "\\PC{0,16}",
        ]
    }

    fn criterion_spec() -> impl Strategy<Value = CriterionSpec> {
        (
            name_or_junk(&["${uri}", "${request_uri}", "${host}"]),
            name_or_junk(&[
                "starts_with",
                "does_not_start_with",
                "is_equal",
                "is_not_equal",
                "matches",
                "does_not_match",
            ]),
            name_or_junk(&["if", "and", "or"]),
            of(input_value()),
        )
            .prop_map(
                |(variable, operator, conditional, input_value)| CriterionSpec {
                    variable,
                    operator,
                    conditional,
                    input_value,
                },
            )
    }

    fn behavior_spec() -> impl Strategy<Value = BehaviorSpec> {
        let target = of(prop_oneof![
            any::<u64>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::from),
            "(https?://|/)[a-z/ \\x01]{0,12}".prop_map(Value::from),
            Just(Value::Null),
        ]);
        (
            name_or_junk(&[
                "run_function",
                "deliver",
                "redirect_to_301",
                "redirect_to_302",
            ]),
            target,
        )
            .prop_map(|(name, target)| BehaviorSpec { name, target })
    }

    /// A request's parts: paths, queries and hosts near the values criteria look for.
    fn request_part() -> impl Strategy<Value = String> {
        prop_oneof!["[a-c/.?=]{0,8}", "\\PC{0,12}"]
    }

    /// A criterion that validates, with the test it stands for in plain code: the variable it
    /// reads, whether it is negated, and how it compares (`matches` gets an escaped literal).
    #[derive(Debug, Clone)]
    struct Plain {
        variable: CriterionVariable,
        operator: CriterionOperator,
        conditional: Conditional,
        value: String,
    }

    fn plain_group() -> impl Strategy<Value = Vec<Plain>> {
        let one = (
            prop::sample::select(CriterionVariable::NAMES.map(|(_, v)| v).to_vec()),
            prop::sample::select(CriterionOperator::NAMES.map(|(_, o)| o).to_vec()),
            prop::sample::select(vec![Conditional::And, Conditional::Or]),
            "[a-c/.?=]{0,3}",
        )
            .prop_map(|(variable, operator, conditional, value)| Plain {
                variable,
                operator,
                conditional,
                value,
            });
        vec(one, 1..5)
    }

    impl Plain {
        fn spec(&self, first: bool) -> CriterionSpec {
            fn name<T: PartialEq>(names: &[(&str, T)], want: T) -> Option<String> {
                names
                    .iter()
                    .find(|(_, v)| *v == want)
                    .map(|(n, _)| n.to_string())
            }
            use CriterionOperator::*;
            CriterionSpec {
                variable: name(&CriterionVariable::NAMES, self.variable),
                operator: name(&CriterionOperator::NAMES, self.operator),
                conditional: if first {
                    Some("if".into())
                } else {
                    name(&Conditional::NAMES, self.conditional)
                },
                input_value: Some(match self.operator {
                    Matches | DoesNotMatch => regex::escape(&self.value),
                    _ => self.value.clone(),
                }),
            }
        }

        fn holds(&self, path: &str, query: &str, host: &str) -> bool {
            let value = match self.variable {
                CriterionVariable::Uri => path.to_string(),
                CriterionVariable::Host => host.to_string(),
                CriterionVariable::RequestUri if query.is_empty() => path.to_string(),
                CriterionVariable::RequestUri => format!("{path}?{query}"),
            };
            use CriterionOperator::*;
            match self.operator {
                StartsWith => value.starts_with(&self.value),
                DoesNotStartWith => !value.starts_with(&self.value),
                IsEqual => value == self.value,
                IsNotEqual => value != self.value,
                Matches => value.contains(&self.value),
                DoesNotMatch => !value.contains(&self.value),
            }
        }
    }

    /// A group as written: `and` binds tighter than `or`.
    fn group_holds(group: &[Plain], path: &str, query: &str, host: &str) -> bool {
        let mut any = false;
        let mut run = true;
        for (i, c) in group.iter().enumerate() {
            if i > 0 && c.conditional == Conditional::Or {
                any |= run;
                run = true;
            }
            run &= c.holds(path, query, host);
        }
        any || run
    }

    proptest! {
        #![proptest_config(crate::testing::config(256))]

        #[test]
        fn any_rule_spec_is_a_rule_or_names_its_field(
            name in of("\\PC{0,8}"),
            criteria in of(vec(vec(criterion_spec(), 0..4), 0..4)),
            behaviors in of(vec(behavior_spec(), 0..3)),
            path in request_part(),
            query in request_part(),
            host in request_part(),
        ) {
            let spec = EdgeRuleSpec {
                name,
                criteria,
                behaviors,
                ..EdgeRuleSpec::default()
            };
            match spec.into_rule(1, 0) {
                Err(error) => prop_assert!(!error.field.is_empty()),
                Ok(rule) => {
                    let compiled = rule.compile().map_err(|e| TestCaseError::fail(e.to_string()))?;
                    let request = EdgeRequest::new(&path, &query, &host);
                    let matched = compiled.matches(&request);
                    // The stored form compiles to the same rule.
                    let stored: EdgeRule = serde_json::from_value(serde_json::to_value(&rule).unwrap()).unwrap();
                    prop_assert_eq!(&stored, &rule);
                    let again = stored.compile().map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!(again.matches(&request), matched);
                    prop_assert_eq!(again.action, compiled.action);
                }
            }
        }

        #[test]
        fn rules_match_what_their_groups_say(
            groups in vec(plain_group(), 1..4),
            path in request_part(),
            query in request_part(),
            host in request_part(),
        ) {
            let spec = EdgeRuleSpec {
                name: Some("r".into()),
                criteria: Some(
                    groups
                        .iter()
                        .map(|g| g.iter().enumerate().map(|(i, c)| c.spec(i == 0)).collect())
                        .collect(),
                ),
                behaviors: Some(vec![BehaviorSpec {
                    name: Some("deliver".into()),
                    target: None,
                }]),
                ..EdgeRuleSpec::default()
            };
            let rule = spec.into_rule(1, 0).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let expected = groups.iter().any(|g| group_holds(g, &path, &query, &host));
            let compiled = rule.compile().unwrap();
            prop_assert_eq!(compiled.matches(&EdgeRequest::new(&path, &query, &host)), expected);
        }

        #[test]
        fn generated_edge_names_give_back_their_id(id in 1u64.., label in "\\PC{0,24}|edge-[0-9]{0,22}") {
            let name = edge_domain_name(id, "functions.example");
            let first = name.split('.').next().unwrap();
            prop_assert_eq!(edge_domain_id(first), Some(id));
            if let Some(id) = edge_domain_id(&label) {
                prop_assert_eq!(format!("edge-{id}"), label);
            }
        }
    }
}
