//! Triggers: what starts a function besides a request. A cron trigger fires on a schedule; an
//! event trigger fires for every platform or custom event whose name matches one of its
//! patterns. Both start asynchronous executions. A function's `schedule` and `events` fields
//! (Appwrite's shape) are kept as triggers of origin `function`, so there is one mechanism.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ValidationError, ValidationResult};
use crate::schedule::Schedule;

/// Patterns one trigger may hold.
pub const MAX_PATTERNS: usize = 32;
/// Segments in an event name or pattern (`functions.{id}.deployments.{id}.update` has 5).
pub const MAX_SEGMENTS: usize = 10;
/// Longest request body a cron trigger sends, in bytes.
pub const MAX_BODY: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TriggerKind {
    Cron,
    Event,
    /// Messages of a queue or subject on a message broker. Gust connects to no broker, so a
    /// queue trigger is kept in `error` and listens to the Gust events its source maps to.
    Queue,
}

impl TriggerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cron => "cron",
            Self::Event => "event",
            Self::Queue => "queue",
        }
    }

    /// Whether triggers of this kind fire on Gust events.
    pub fn hears_events(self) -> bool {
        matches!(self, Self::Event | Self::Queue)
    }
}

/// Who manages a trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TriggerOrigin {
    /// Created through the triggers API.
    #[default]
    Api,
    /// Kept in step with the function's `schedule` or `events` field.
    Function,
}

/// Whether a trigger can fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TriggerStatus {
    #[default]
    Ready,
    /// Its source cannot be reached; `error_message` says why.
    Error,
    /// Cron, set by a client: keeps its schedule and runs left but does not fire until it is
    /// set back to `ready`.
    Paused,
    /// Cron: its runs are used up (its `count`, or its one run at `first_run_at`).
    Done,
    /// Cron, set by a client: stopped for good.
    Cancelled,
}

impl TriggerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Error => "error",
            Self::Paused => "paused",
            Self::Done => "done",
            Self::Cancelled => "cancelled",
        }
    }

    /// A trigger in a final status never fires again, so nothing about it may change.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Done | Self::Cancelled)
    }
}

/// The message protocols a queue trigger may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum QueueProtocol {
    Sqs,
    Nats,
}

/// Where a queue trigger's messages would come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[serde(remote = "Self")]
pub struct QueueSource {
    pub protocol: QueueProtocol,
    /// The queue (SQS) or subject (NATS).
    pub name: String,
    /// How to reach the broker, in the source platform's own terms (project, region,
    /// credential ids), kept as given.
    #[serde(default)]
    pub settings: std::collections::BTreeMap<String, String>,
}

object_only!(QueueSource);

/// Longest queue or subject name.
pub const MAX_QUEUE_NAME: usize = 100;

impl QueueSource {
    /// The Gust event pattern the source maps to: `queues.sqs.<queue>` or
    /// `queues.nats.<subject>` (a subject's `*` stays a one-segment wildcard; a trailing `>`
    /// is dropped, since a pattern already matches every longer name). Characters an event
    /// name cannot hold become `_`.
    pub fn event_pattern(&self) -> String {
        let clean = |segment: &str| -> String {
            if segment == "*" {
                return segment.to_string();
            }
            let cleaned: String = segment
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .take(64)
                .collect();
            if cleaned.is_empty() {
                "_".into()
            } else {
                cleaned
            }
        };
        let mut pattern = String::from("queues.");
        match self.protocol {
            QueueProtocol::Sqs => {
                pattern.push_str("sqs.");
                pattern.push_str(&clean(&self.name));
            }
            QueueProtocol::Nats => {
                pattern.push_str("nats");
                let segments: Vec<&str> = self.name.split('.').collect();
                let keep = MAX_SEGMENTS - 2;
                for segment in segments.iter().take(keep).filter(|s| **s != ">") {
                    pattern.push('.');
                    pattern.push_str(&clean(segment));
                }
            }
        }
        pattern
    }

    fn check(&self) -> ValidationResult<()> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > MAX_QUEUE_NAME {
            return Err(ValidationError::new(
                "queue.name",
                format!("must be 1 to {MAX_QUEUE_NAME} characters"),
            ));
        }
        crate::validate::labels("queue.settings", &self.settings)
    }

    /// Why the trigger cannot fire from its source.
    fn unreachable_message(&self) -> String {
        let what = match self.protocol {
            QueueProtocol::Sqs => "SQS queue",
            QueueProtocol::Nats => "NATS subject",
        };
        format!(
            "Gust is connected to no message broker, so messages on the {what} `{}` cannot reach this function; Gust events named `{}` run it instead",
            self.name,
            self.event_pattern()
        )
    }
}

/// What a client sends to create a trigger, or to change one (PATCH: the kind stays).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerSpec {
    pub kind: Option<TriggerKind>,
    /// Free text shown in lists (at most 128 characters).
    pub name: Option<String>,
    pub description: Option<String>,
    /// Key/value metadata, replaced as a whole when sent.
    pub labels: Option<std::collections::BTreeMap<String, String>>,
    /// Cron: a 5-field expression (`*/5 * * * *`), a nickname (`@hourly`) or `@every 30s`.
    pub schedule: Option<String>,
    /// Cron: IANA timezone the expression is read in; UTC when absent.
    pub timezone: Option<String>,
    /// Cron: the request body each tick sends.
    pub body: Option<String>,
    /// Cron: how many more times it runs; absent, no limit. It is `done` when they run out.
    #[schema(minimum = 1)]
    pub count: Option<u32>,
    /// Cron: when it first runs (a time to come). Without a `schedule`, its only run.
    pub first_run_at: Option<DateTime<Utc>>,
    /// Cron, on a change only: when it runs next (a time to come).
    pub next_run_at: Option<DateTime<Utc>>,
    /// Cron: `paused`, `ready` (resume, from the next tick after now) or `cancelled` (final).
    pub status: Option<TriggerStatus>,
    /// Event: patterns such as `functions.*.deployments.*.update`.
    pub events: Option<Vec<String>>,
    /// Queue: where messages would come from.
    pub queue: Option<QueueSource>,
}

/// A change to a trigger.
pub type TriggerPatch = TriggerSpec;

/// A trigger of a function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FunctionTrigger {
    pub id: String,
    pub namespace_id: String,
    pub function_id: String,
    pub kind: TriggerKind,
    #[serde(default)]
    pub origin: TriggerOrigin,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    pub schedule: Option<String>,
    pub timezone: Option<String>,
    pub body: Option<String>,
    /// Cron: runs left; `None`, no limit.
    #[serde(default)]
    pub count: Option<u32>,
    /// Cron: when it was asked to run first; without a schedule, its only run.
    #[serde(default)]
    pub first_run_at: Option<DateTime<Utc>>,
    /// Event patterns it fires on (for a queue trigger, the pattern its source maps to).
    #[serde(default)]
    pub events: Vec<String>,
    #[serde(default)]
    pub queue: Option<QueueSource>,
    #[serde(default)]
    pub status: TriggerStatus,
    #[serde(default)]
    pub error_message: Option<String>,
    /// Cron: when it fires next.
    pub next_run_at: Option<DateTime<Utc>>,
    /// Cron: the tick it last fired for.
    pub last_run_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// Longest trigger name, in characters.
pub const NAME_MAX: usize = 128;

impl TriggerSpec {
    /// Validate and build a trigger of `function_id`.
    pub fn into_trigger(
        self,
        namespace_id: &str,
        function_id: &str,
        origin: TriggerOrigin,
    ) -> ValidationResult<FunctionTrigger> {
        let kind = self.kind.ok_or_else(|| {
            ValidationError::new("kind", "is required: `cron`, `event` or `queue`")
        })?;
        if self.next_run_at.is_some() {
            return Err(ValidationError::new(
                "next_run_at",
                "is for changing a trigger; a new one takes `first_run_at`",
            ));
        }
        let mut trigger = FunctionTrigger {
            id: crate::new_id(),
            namespace_id: namespace_id.to_string(),
            function_id: function_id.to_string(),
            kind,
            origin,
            name: String::new(),
            description: String::new(),
            labels: Default::default(),
            schedule: None,
            timezone: None,
            body: None,
            count: None,
            first_run_at: None,
            events: Vec::new(),
            queue: None,
            status: TriggerStatus::Ready,
            error_message: None,
            next_run_at: None,
            last_run_at: None,
            created_at: crate::now(),
        };
        self.apply_to(&mut trigger)?;
        Ok(trigger)
    }

    /// Overlay the present fields onto `trigger` and check the result; `trigger` is untouched
    /// on error. A changed schedule or timezone moves the next tick.
    pub fn apply_to(self, trigger: &mut FunctionTrigger) -> ValidationResult<()> {
        let mut next = trigger.clone();
        if let Some(kind) = self.kind
            && kind != trigger.kind
        {
            return Err(ValidationError::new(
                "kind",
                "cannot be changed; create a new trigger instead",
            ));
        }
        if let Some(name) = self.name {
            crate::validate::text("name", &name, NAME_MAX)?;
            next.name = name;
        }
        if let Some(description) = self.description {
            crate::validate::text(
                "description",
                &description,
                crate::function::DESCRIPTION_MAX,
            )?;
            next.description = description;
        }
        if let Some(labels) = self.labels {
            crate::validate::labels("labels", &labels)?;
            next.labels = labels;
        }
        let (own, why): (&[&str], &str) = match trigger.kind {
            TriggerKind::Cron => (
                &[
                    "schedule",
                    "timezone",
                    "body",
                    "count",
                    "first_run_at",
                    "next_run_at",
                    "status",
                ],
                "a cron trigger has a schedule",
            ),
            TriggerKind::Event => (&["events"], "an event trigger sends the event as its body"),
            TriggerKind::Queue => (&["queue"], "a queue trigger sends each message as its body"),
        };
        let sent = [
            ("schedule", self.schedule.is_some()),
            ("timezone", self.timezone.is_some()),
            ("body", self.body.is_some()),
            ("count", self.count.is_some()),
            ("first_run_at", self.first_run_at.is_some()),
            ("next_run_at", self.next_run_at.is_some()),
            ("status", self.status.is_some()),
            ("events", self.events.is_some()),
            ("queue", self.queue.is_some()),
        ];
        if let Some((field, _)) = sent.iter().find(|(f, sent)| *sent && !own.contains(f)) {
            return Err(ValidationError::new(
                *field,
                format!(
                    "does not belong to a {} trigger; {why}",
                    trigger.kind.as_str()
                ),
            ));
        }
        match trigger.kind {
            TriggerKind::Cron => {
                let now = crate::now();
                let reschedule = self.schedule.is_some()
                    || self.timezone.is_some()
                    || self.first_run_at.is_some();
                if let Some(schedule) = self.schedule {
                    // Empty removes it: the trigger then runs once, at `first_run_at`.
                    let schedule = schedule.trim();
                    next.schedule = (!schedule.is_empty()).then(|| schedule.to_string());
                }
                if let Some(timezone) = self.timezone {
                    next.timezone = Some(timezone);
                }
                if let Some(at) = self.first_run_at {
                    if at <= now {
                        return Err(ValidationError::new("first_run_at", "is not in the future"));
                    }
                    next.first_run_at = Some(at);
                }
                if let Some(count) = self.count {
                    if count == 0 {
                        return Err(ValidationError::new(
                            "count",
                            "must be at least 1; leave it out for no limit",
                        ));
                    }
                    next.count = Some(count);
                }
                let schedule = match &next.schedule {
                    Some(expression) => Some(parse_schedule(expression, next.timezone.as_deref())?),
                    None if next.first_run_at.is_some() => {
                        if let Some(timezone) = &next.timezone {
                            parse_schedule("@every 1s", Some(timezone))?;
                        }
                        None
                    }
                    None => {
                        return Err(ValidationError::new(
                            "schedule",
                            "is required for cron, unless `first_run_at` sets a single run",
                        ));
                    }
                };
                if schedule.is_none() && next.count.is_some_and(|c| c > 1) {
                    return Err(ValidationError::new(
                        "count",
                        "can be more than 1 only with a `schedule`: without one the trigger \
                         runs once, at `first_run_at`",
                    ));
                }
                if let Some(body) = self.body {
                    if body.len() > MAX_BODY {
                        return Err(ValidationError::new(
                            "body",
                            format!("is longer than {MAX_BODY} bytes"),
                        ));
                    }
                    next.body = Some(body);
                }
                if let Some(status) = self.status {
                    if !matches!(
                        status,
                        TriggerStatus::Ready | TriggerStatus::Paused | TriggerStatus::Cancelled
                    ) {
                        return Err(ValidationError::new(
                            "status",
                            "may be set to `paused`, `ready` (to resume) or `cancelled`",
                        ));
                    }
                    if trigger.status.is_final() && status != trigger.status {
                        return Err(ValidationError::new(
                            "status",
                            format!("cannot change: the trigger is {}", trigger.status.as_str()),
                        ));
                    }
                    next.status = status;
                }
                let resuming =
                    trigger.status == TriggerStatus::Paused && next.status == TriggerStatus::Ready;
                if next.status.is_final() {
                    next.next_run_at = None;
                } else {
                    if reschedule || resuming || next.next_run_at.is_none() {
                        next.next_run_at = next.first_tick(schedule.as_ref(), now);
                    }
                    if let Some(at) = self.next_run_at {
                        if at <= now {
                            return Err(ValidationError::new(
                                "next_run_at",
                                "is not in the future",
                            ));
                        }
                        next.next_run_at = Some(at);
                    }
                }
            }
            TriggerKind::Event => {
                if let Some(events) = self.events {
                    event_patterns("events", &events)?;
                    next.events = events;
                }
                if next.events.is_empty() {
                    return Err(ValidationError::new(
                        "events",
                        "needs at least one pattern, e.g. `functions.*.deployments.*.update`",
                    ));
                }
            }
            TriggerKind::Queue => {
                if let Some(queue) = self.queue {
                    queue.check()?;
                    next.queue = Some(queue);
                }
                let queue = next.queue.as_ref().ok_or_else(|| {
                    ValidationError::new(
                        "queue",
                        "is required: {\"protocol\": \"sqs\"|\"nats\", \"name\": ...}",
                    )
                })?;
                next.events = vec![queue.event_pattern()];
                next.status = TriggerStatus::Error;
                next.error_message = Some(queue.unreachable_message());
            }
        }
        *trigger = next;
        Ok(())
    }
}

impl FunctionTrigger {
    /// The parsed schedule of a cron trigger (stored ones were validated when created).
    pub fn parsed_schedule(&self) -> Option<Schedule> {
        Schedule::parse(self.schedule.as_deref()?, self.timezone.as_deref()).ok()
    }

    /// When a cron trigger should run next, counting from `now` (ticks that passed while it
    /// was paused are not made up): its `first_run_at` while that is to come and it has not
    /// run, else the schedule's next tick; a single run whose time passed runs at once.
    fn first_tick(&self, schedule: Option<&Schedule>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let first = self.first_run_at.filter(|_| self.last_run_at.is_none());
        match (first, schedule) {
            (Some(first), _) if first > now => Some(first),
            (_, Some(schedule)) => schedule.next_after(now),
            (Some(_), None) => Some(now),
            (None, None) => None,
        }
    }

    /// Record the cron tick `tick`, and whether a run was started for it: one of the runs left
    /// is used, and the trigger moves to its next tick after `now`, or is `done` when it has no
    /// runs left (a single run without a schedule is done once its time has come). The caller
    /// stores all of it in one write, so a restart neither loses nor repeats a decrement.
    pub fn record_tick(&mut self, tick: DateTime<Utc>, started: bool, now: DateTime<Utc>) {
        self.last_run_at = Some(tick);
        if started && let Some(left) = self.count {
            self.count = Some(left.saturating_sub(1));
        }
        let next = match self.count {
            Some(0) => None,
            _ => self.parsed_schedule().and_then(|s| s.next_after(now)),
        };
        if next.is_none() && (self.count == Some(0) || self.schedule.is_none()) {
            self.status = TriggerStatus::Done;
        }
        self.next_run_at = next;
    }
}

/// A schedule, or a 400 naming `schedule` or `timezone`.
pub fn parse_schedule(expression: &str, timezone: Option<&str>) -> ValidationResult<Schedule> {
    if let Some(tz) = timezone {
        Schedule::parse("@every 1s", Some(tz)).map_err(|e| ValidationError::new("timezone", e))?;
    }
    Schedule::parse(expression, timezone).map_err(|e| ValidationError::new("schedule", e))
}

/// Check a list of event patterns: dot-separated segments of letters, digits, `-`, `_`, or `*`.
pub fn event_patterns(field: &str, patterns: &[String]) -> ValidationResult<()> {
    if patterns.len() > MAX_PATTERNS {
        return Err(ValidationError::new(
            field,
            format!("holds more than {MAX_PATTERNS} patterns"),
        ));
    }
    for (i, pattern) in patterns.iter().enumerate() {
        check_event_name(pattern, true)
            .map_err(|why| ValidationError::new(format!("{field}[{i}]"), why))?;
    }
    Ok(())
}

/// Check the name of a published event (no wildcards).
pub fn event_name(field: &str, name: &str) -> ValidationResult<()> {
    check_event_name(name, false).map_err(|why| ValidationError::new(field, why))
}

fn check_event_name(name: &str, wildcards: bool) -> Result<(), String> {
    let segments: Vec<&str> = name.split('.').collect();
    if name.is_empty() || segments.len() > MAX_SEGMENTS {
        return Err(format!(
            "must have 1 to {MAX_SEGMENTS} dot-separated segments"
        ));
    }
    for segment in segments {
        let ok = (wildcards && segment == "*")
            || (!segment.is_empty()
                && segment.len() <= 64
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        if !ok {
            return Err(format!(
                "`{name}`: each segment is letters, digits, `-` or `_`{}",
                if wildcards { ", or `*`" } else { "" }
            ));
        }
    }
    Ok(())
}

/// Whether an event name matches a pattern: `*` stands for one segment, and a pattern that
/// matches the first segments of a name matches the name (`functions.abc` receives every event
/// of function `abc`, as in Appwrite).
pub fn event_matches(pattern: &str, name: &str) -> bool {
    let mut names = name.split('.');
    for want in pattern.split('.') {
        match names.next() {
            Some(got) if want == "*" || want == got => {}
            _ => return false,
        }
    }
    true
}

/// A platform or custom event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    pub id: String,
    /// e.g. `functions.{id}.deployments.{id}.update`.
    pub name: String,
    pub namespace_id: String,
    /// The resource as it is after the change, or the custom event's payload.
    pub payload: serde_json::Value,
    pub time: DateTime<Utc>,
}

/// What a client sends to publish a custom event.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventSpec {
    /// Dot-separated segments, e.g. `orders.created`.
    pub name: Option<String>,
    #[serde(default)]
    pub payload: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_segments_and_prefixes() {
        let name = "functions.f1.deployments.d1.update";
        assert!(event_matches("functions.*.deployments.*.update", name));
        assert!(event_matches("functions.f1", name));
        assert!(event_matches("functions.*", name));
        assert!(!event_matches("functions.f2", name));
        assert!(!event_matches("functions.*.deployments.*.create", name));
        assert!(!event_matches(
            "functions.f1.deployments.d1.update.more",
            name
        ));
    }

    #[test]
    fn specs_are_checked_per_kind() {
        let err = TriggerSpec {
            kind: Some(TriggerKind::Cron),
            ..Default::default()
        }
        .into_trigger("n", "f", TriggerOrigin::Api)
        .unwrap_err();
        assert_eq!(err.field, "schedule");
        let err = TriggerSpec {
            kind: Some(TriggerKind::Event),
            events: Some(vec!["ok.*".into(), "bad..name".into()]),
            ..Default::default()
        }
        .into_trigger("n", "f", TriggerOrigin::Api)
        .unwrap_err();
        assert_eq!(err.field, "events[1]");
        let err = TriggerSpec {
            kind: Some(TriggerKind::Cron),
            schedule: Some("* * * * *".into()),
            timezone: Some("Nowhere/Atall".into()),
            ..Default::default()
        }
        .into_trigger("n", "f", TriggerOrigin::Api)
        .unwrap_err();
        assert_eq!(err.field, "timezone");
        let cron = TriggerSpec {
            kind: Some(TriggerKind::Cron),
            schedule: Some("@every 30s".into()),
            ..Default::default()
        }
        .into_trigger("n", "f", TriggerOrigin::Api)
        .unwrap();
        assert!(cron.next_run_at.is_some());
    }

    fn cron(spec: serde_json::Value) -> ValidationResult<FunctionTrigger> {
        let mut spec: TriggerSpec = serde_json::from_value(spec).unwrap();
        spec.kind = Some(TriggerKind::Cron);
        spec.into_trigger("n", "f", TriggerOrigin::Api)
    }

    #[test]
    fn counted_and_single_runs_are_checked() {
        let soon = crate::now() + chrono::Duration::seconds(30);
        let past = crate::now() - chrono::Duration::seconds(30);
        let field = |spec| cron(spec).unwrap_err().field;
        assert_eq!(field(serde_json::json!({})), "schedule");
        assert_eq!(
            field(serde_json::json!({"first_run_at": past})),
            "first_run_at"
        );
        assert_eq!(
            field(serde_json::json!({"first_run_at": soon, "count": 2})),
            "count"
        );
        assert_eq!(
            field(serde_json::json!({"schedule": "@every 1s", "count": 0})),
            "count"
        );
        assert_eq!(
            field(serde_json::json!({"schedule": "@every 1s", "status": "done"})),
            "status"
        );
        assert_eq!(
            field(serde_json::json!({"schedule": "@every 1s", "next_run_at": soon})),
            "next_run_at"
        );
        let once = cron(serde_json::json!({"first_run_at": soon})).unwrap();
        assert_eq!(once.next_run_at, Some(soon));
        let later = soon + chrono::Duration::days(1);
        let first_then_hourly =
            cron(serde_json::json!({"schedule": "@hourly", "first_run_at": later})).unwrap();
        assert_eq!(first_then_hourly.next_run_at, Some(later));
    }

    #[test]
    fn ticks_use_up_the_count_then_the_trigger_is_done() {
        let mut counted = cron(serde_json::json!({"schedule": "@every 1s", "count": 2})).unwrap();
        let now = crate::now();
        counted.record_tick(now, true, now);
        assert_eq!(counted.count, Some(1));
        assert_eq!(counted.status, TriggerStatus::Ready);
        assert!(counted.next_run_at.is_some());
        // A tick that started nothing (no active deployment) uses no run.
        counted.record_tick(now, false, now);
        assert_eq!(counted.count, Some(1));
        counted.record_tick(now, true, now);
        assert_eq!(counted.count, Some(0));
        assert_eq!(counted.status, TriggerStatus::Done);
        assert_eq!(counted.next_run_at, None);

        let mut once =
            cron(serde_json::json!({"first_run_at": now + chrono::Duration::seconds(1)})).unwrap();
        once.record_tick(now, true, now);
        assert_eq!(once.status, TriggerStatus::Done);
        assert_eq!(once.next_run_at, None);
    }

    #[test]
    fn pausing_keeps_the_count_and_resuming_starts_from_now() {
        let mut trigger = cron(serde_json::json!({"schedule": "@every 1s", "count": 5})).unwrap();
        let patch = |status: &str| TriggerSpec {
            status: Some(serde_json::from_value(serde_json::json!(status)).unwrap()),
            ..Default::default()
        };
        patch("paused").apply_to(&mut trigger).unwrap();
        assert_eq!(trigger.status, TriggerStatus::Paused);
        trigger.next_run_at = Some(crate::now() - chrono::Duration::hours(1));
        patch("ready").apply_to(&mut trigger).unwrap();
        assert_eq!(trigger.status, TriggerStatus::Ready);
        assert!(trigger.next_run_at.unwrap() > crate::now());
        assert_eq!(trigger.count, Some(5));
        patch("cancelled").apply_to(&mut trigger).unwrap();
        assert_eq!(trigger.next_run_at, None);
        let refused = patch("ready").apply_to(&mut trigger).unwrap_err();
        assert_eq!(refused.field, "status");
        assert_eq!(trigger.status, TriggerStatus::Cancelled);
    }
}
