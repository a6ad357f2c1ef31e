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
}

impl TriggerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cron => "cron",
            Self::Event => "event",
        }
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

/// What a client sends to create a trigger.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerSpec {
    pub kind: Option<TriggerKind>,
    /// Cron: a 5-field expression (`*/5 * * * *`), a nickname (`@hourly`) or `@every 30s`.
    pub schedule: Option<String>,
    /// Cron: IANA timezone the expression is read in; UTC when absent.
    pub timezone: Option<String>,
    /// Cron: the request body each tick sends.
    pub body: Option<String>,
    /// Event: patterns such as `functions.*.deployments.*.update`.
    pub events: Option<Vec<String>>,
}

/// A trigger of a function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FunctionTrigger {
    pub id: String,
    pub namespace_id: String,
    pub function_id: String,
    pub kind: TriggerKind,
    #[serde(default)]
    pub origin: TriggerOrigin,
    pub schedule: Option<String>,
    pub timezone: Option<String>,
    pub body: Option<String>,
    #[serde(default)]
    pub events: Vec<String>,
    /// Cron: when it fires next.
    pub next_run_at: Option<DateTime<Utc>>,
    /// Cron: the tick it last fired for.
    pub last_run_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl TriggerSpec {
    /// Validate and build a trigger of `function_id`.
    pub fn into_trigger(
        self,
        namespace_id: &str,
        function_id: &str,
        origin: TriggerOrigin,
    ) -> ValidationResult<FunctionTrigger> {
        let kind = self
            .kind
            .ok_or_else(|| ValidationError::new("kind", "is required: `cron` or `event`"))?;
        let now = crate::now();
        let mut trigger = FunctionTrigger {
            id: crate::new_id(),
            namespace_id: namespace_id.to_string(),
            function_id: function_id.to_string(),
            kind,
            origin,
            schedule: None,
            timezone: None,
            body: None,
            events: Vec::new(),
            next_run_at: None,
            last_run_at: None,
            created_at: now,
        };
        match kind {
            TriggerKind::Cron => {
                if self.events.is_some() {
                    return Err(ValidationError::new(
                        "events",
                        "belongs to event triggers; a cron trigger has a schedule",
                    ));
                }
                let expression = self
                    .schedule
                    .ok_or_else(|| ValidationError::new("schedule", "is required for cron"))?;
                let schedule = parse_schedule(&expression, self.timezone.as_deref())?;
                if let Some(body) = &self.body
                    && body.len() > MAX_BODY
                {
                    return Err(ValidationError::new(
                        "body",
                        format!("is longer than {MAX_BODY} bytes"),
                    ));
                }
                trigger.next_run_at = schedule.next_after(now);
                trigger.schedule = Some(expression.trim().to_string());
                trigger.timezone = self.timezone;
                trigger.body = self.body;
            }
            TriggerKind::Event => {
                for (field, present) in [
                    ("schedule", self.schedule.is_some()),
                    ("timezone", self.timezone.is_some()),
                    ("body", self.body.is_some()),
                ] {
                    if present {
                        return Err(ValidationError::new(
                            field,
                            "belongs to cron triggers; an event trigger sends the event as its body",
                        ));
                    }
                }
                let events = self.events.unwrap_or_default();
                if events.is_empty() {
                    return Err(ValidationError::new(
                        "events",
                        "needs at least one pattern, e.g. `functions.*.deployments.*.update`",
                    ));
                }
                event_patterns("events", &events)?;
                trigger.events = events;
            }
        }
        Ok(trigger)
    }
}

impl FunctionTrigger {
    /// The parsed schedule of a cron trigger (stored ones were validated when created).
    pub fn parsed_schedule(&self) -> Option<Schedule> {
        Schedule::parse(self.schedule.as_deref()?, self.timezone.as_deref()).ok()
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
}
