//! `/v1/jobs`: cron triggers with Qinling's fields: a `pattern` or a `first_execution_time`,
//! a `count` of runs left, `function_input` as the body, and pause, resume or cancel by PUT.

use axum::body::Bytes;
use axum::extract::Path;
use axum::response::Response;
use chrono::{DateTime, NaiveDateTime, Utc};
use gust_core::{FunctionTrigger, TriggerKind, TriggerSpec, TriggerStatus};
use http::StatusCode;
use serde_json::{Map, Value, json};

use super::functions::function;
use super::{Qin, QinError, Result, field, json_body, no_content, reply, views};
use crate::common::every;

/// Jobs run a function's current code; a job on an alias or a version is refused rather than
/// run on something else.
fn current_code_only(body: &Map<String, Value>) -> Result<()> {
    if field::text(body, "function_alias")?.is_some_and(|a| !a.is_empty()) {
        return Err(QinError::input(
            "Invalid input for `function_alias`: jobs run a function's current code; give \
             `function_id`",
        ));
    }
    if field::integer(body, "function_version")?.is_some_and(|v| v != 0) {
        return Err(QinError::input(
            "Invalid input for `function_version`: jobs run a function's current code (version 0)",
        ));
    }
    Ok(())
}

/// Qinling's times: `YYYY-MM-DD HH:MM[:SS]` in UTC, or RFC 3339.
fn time(body: &Map<String, Value>, name: &str) -> Result<Option<DateTime<Utc>>> {
    let Some(text) = field::text(body, name)?.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(Some(t.and_utc()));
        }
    }
    Err(QinError::input(format!(
        "Invalid input for `{name}`: `{text}` is not a time (YYYY-MM-DD HH:MM:SS, UTC)"
    )))
}

fn count(body: &Map<String, Value>) -> Result<Option<u32>> {
    field::integer(body, "count")?
        .map(|c| {
            u32::try_from(c).map_err(|_| {
                QinError::input(format!(
                    "Invalid input for `count`: {c} is not a count of runs"
                ))
            })
        })
        .transpose()
}

pub async fn create(qin: Qin, body: Bytes) -> Result<Response> {
    let body = json_body(&body)?;
    current_code_only(&body)?;
    let Some(function_id) = field::text(&body, "function_id")?.filter(|f| !f.is_empty()) else {
        return Err(QinError::input(
            "Either function_alias or function_id must be specified.",
        ));
    };
    let pattern = field::text(&body, "pattern")?.filter(|p| !p.is_empty());
    let first = time(&body, "first_execution_time")?;
    if pattern.is_none() && first.is_none() {
        return Err(QinError::input(
            "Pattern or first_execution_time must be specified.",
        ));
    }
    let function = function(&qin, &function_id).await?;
    let spec = TriggerSpec {
        kind: Some(TriggerKind::Cron),
        name: field::text(&body, "name")?,
        schedule: pattern,
        body: field::text_or_json(&body, "function_input"),
        count: count(&body)?,
        first_run_at: first,
        ..TriggerSpec::default()
    };
    let trigger = qin
        .engine
        .create_trigger(&qin.caller, &qin.ns, &function.id, spec)
        .await
        .map_err(|e| QinError::about(e, "Job", ""))?;
    Ok(reply(StatusCode::CREATED, views::job(&trigger)))
}

pub async fn list(qin: Qin) -> Result<Response> {
    let q = &qin;
    let functions = every(|page| async move {
        q.engine
            .list_functions(&q.caller, &q.ns, &page, &Default::default())
            .await
    })
    .await?;
    let mut jobs = Vec::new();
    for f in &functions {
        let id = &f.id;
        let triggers =
            every(|page| async move { q.engine.list_triggers(&q.caller, &q.ns, id, &page).await })
                .await?;
        jobs.extend(triggers.into_iter().filter(|t| t.kind == TriggerKind::Cron));
    }
    jobs.sort_by_key(|j| j.created_at);
    let items: Vec<_> = jobs.iter().map(views::job).collect();
    Ok(reply(StatusCode::OK, json!({"jobs": items})))
}

/// Job `id` of the project: a cron trigger.
async fn job(qin: &Qin, id: &str) -> Result<FunctionTrigger> {
    let (namespace, _, trigger) = qin
        .engine
        .trigger_by_id(&qin.caller, id)
        .await
        .map_err(|e| QinError::about(e, "Job", id))?;
    if trigger.kind != TriggerKind::Cron || !qin.is_project(&namespace) {
        return Err(QinError::not_found("Job", id));
    }
    Ok(trigger)
}

pub async fn get(qin: Qin, Path(id): Path<String>) -> Result<Response> {
    Ok(reply(StatusCode::OK, views::job(&job(&qin, &id).await?)))
}

/// Change `name`, `function_input`, `pattern`, `next_execution_time`, or `status`
/// (`running`, `paused`, `cancelled`). A finished job changes no more (400).
pub async fn update(qin: Qin, Path(id): Path<String>, body: Bytes) -> Result<Response> {
    let body = json_body(&body)?;
    let current = job(&qin, &id).await?;
    if matches!(
        current.status,
        TriggerStatus::Done | TriggerStatus::Cancelled
    ) {
        return Err(QinError::input(format!(
            "Job {id} is {}: a finished job cannot be changed",
            views::job_status(current.status)
        )));
    }
    let status = match field::text(&body, "status")?.as_deref() {
        None => None,
        Some("running") => Some(TriggerStatus::Ready),
        Some("paused") => Some(TriggerStatus::Paused),
        Some("cancelled" | "canceled") => Some(TriggerStatus::Cancelled),
        Some(other) => {
            return Err(QinError::input(format!(
                "Invalid input for `status`: `{other}` is not running, paused or cancelled"
            )));
        }
    };
    let patch = TriggerSpec {
        name: field::text(&body, "name")?,
        body: field::text_or_json(&body, "function_input"),
        schedule: field::text(&body, "pattern")?,
        next_run_at: time(&body, "next_execution_time")?,
        status,
        ..TriggerSpec::default()
    };
    let changed = qin
        .engine
        .update_trigger(&qin.caller, &qin.ns, &current.function_id, &id, patch)
        .await
        .map_err(|e| QinError::about(e, "Job", &id))?;
    Ok(reply(StatusCode::OK, views::job(&changed)))
}

pub async fn delete(qin: Qin, Path(id): Path<String>) -> Result<Response> {
    let current = job(&qin, &id).await?;
    qin.engine
        .delete_trigger(&qin.caller, &qin.ns, &current.function_id, &id)
        .await
        .map_err(|e| QinError::about(e, "Job", &id))?;
    Ok(no_content())
}

/// Property tests: any job body's times and count are read or refused with a 400, and a time
/// written in any of Qinling's forms reads back as that time.
#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;
    use crate::common::testing::{body, config};

    proptest! {
        #![proptest_config(config(256))]

        #[test]
        fn any_job_body_is_read_or_a_400(bytes in body(&["first_execution_time", "count", "function_alias", "function_version"])) {
            let Ok(body) = json_body(&bytes) else { return Ok(()) };
            for result in [
                time(&body, "first_execution_time").map(drop),
                count(&body).map(drop),
                current_code_only(&body),
            ] {
                if let Err(e) = result {
                    prop_assert_eq!(e.status, StatusCode::BAD_REQUEST);
                }
            }
        }

        #[test]
        fn times_read_back_in_every_form(seconds in -62_000_000_000i64..250_000_000_000, form in 0usize..4) {
            let at = DateTime::from_timestamp(seconds, 0).unwrap();
            let text = match form {
                0 => at.to_rfc3339(),
                1 => at.format("%Y-%m-%d %H:%M:%S").to_string(),
                2 => at.format("%Y-%m-%dT%H:%M:%S").to_string(),
                _ => at.format("%Y-%m-%d %H:%M").to_string(),
            };
            let body = json_body(json!({"t": text}).to_string().as_bytes()).unwrap();
            let read = time(&body, "t").unwrap().unwrap();
            let expected = if form == 3 { at - chrono::Duration::seconds(at.timestamp().rem_euclid(60)) } else { at };
            prop_assert_eq!(read, expected, "{}", text);
        }
    }
}
