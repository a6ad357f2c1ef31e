//! `/v1/executions`: run a function, its version or what an alias points at, with `input`
//! as the request body; read, filter and delete the records; an execution's log as text.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Response};
use gust_core::{Execution, Function};
use gust_engine::ops::{Executed, ExecutionFilter, ExecutionInput};
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

use super::{Qin, QinError, Result, field, json_body, no_content, reply, views};
use crate::common::every;

pub async fn create(qin: Qin, body: Bytes) -> Result<Response> {
    let body = json_body(&body)?;
    let alias = field::text(&body, "function_alias")?.filter(|a| !a.is_empty());
    let function_id = field::text(&body, "function_id")?.filter(|f| !f.is_empty());
    let version = field::integer(&body, "function_version")?.unwrap_or(0);
    let sync = field::boolean(&body, "sync")?.unwrap_or(true);
    let input = field::text_or_json(&body, "input");
    let version = u32::try_from(version).map_err(|_| {
        QinError::input(format!(
            "Invalid input for `function_version`: {version} is not a version number"
        ))
    })?;
    let (function_id, alias) = match (function_id, alias) {
        (_, Some(alias)) => {
            let found = qin
                .engine
                .get_alias(&qin.caller, &qin.ns, &alias)
                .await
                .map_err(|e| QinError::about(e, "FunctionAlias", &alias))?;
            (found.function_id, Some(alias))
        }
        (Some(id), None) => (id, None),
        (None, None) => {
            return Err(QinError::input(
                "Either function_alias or function_id must be specified.",
            ));
        }
    };
    let mut headers = std::collections::BTreeMap::new();
    if let Some(text) = &input
        && serde_json::from_str::<serde_json::Value>(text).is_ok()
    {
        headers.insert("content-type".to_string(), "application/json".to_string());
    }
    let run = ExecutionInput {
        method: "POST".into(),
        path: "/".into(),
        headers,
        body: input,
        r#async: !sync,
        version: (alias.is_none() && version > 0).then_some(version),
        alias,
    };
    let execution = match qin
        .engine
        .create_execution(Some(&qin.caller), &qin.ns, &function_id, &run, None)
        .await
        .map_err(|e| QinError::about(e, "Function", &function_id))?
    {
        Executed::Ran(execution) => execution,
        Executed::Accepted(accepted) => accepted.execution,
    };
    Ok(reply(StatusCode::CREATED, views::execution(&execution)))
}

pub async fn get(qin: Qin, Path(id): Path<String>) -> Result<Response> {
    let (_, execution) = find(&qin, &id).await?;
    Ok(reply(StatusCode::OK, views::execution(&execution)))
}

pub async fn delete(qin: Qin, Path(id): Path<String>) -> Result<Response> {
    let (function, execution) = find(&qin, &id).await?;
    qin.engine
        .delete_execution(&qin.caller, &qin.ns, &function.id, &execution.id)
        .await
        .map_err(|e| QinError::about(e, "Execution", &id))?;
    Ok(no_content())
}

/// What the execution printed, as text: stdout, then stderr.
pub async fn log(qin: Qin, Path(id): Path<String>) -> Result<Response> {
    let (_, execution) = find(&qin, &id).await.map_err(QinError::plain)?;
    let logs = &execution.logs;
    let mut text = logs.stdout.clone();
    text.push_str(&logs.stderr);
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(response)
}

async fn find(qin: &Qin, id: &str) -> Result<(Function, Execution)> {
    qin.engine
        .find_execution(&qin.caller, &qin.ns, id)
        .await
        .map_err(|e| QinError::about(e, "Execution", id))
}

/// Every execution of the project, oldest first, narrowed by `function_id`, `status` and
/// `description` (each value may carry Qinling's `eq:`, `neq:`, `in:`, `nin:`, `has:`, `gt:`,
/// `gte:`, `lt:` or `lte:` prefix).
pub async fn list(qin: Qin, Query(query): Query<HashMap<String, String>>) -> Result<Response> {
    let by_function = query
        .get("function_id")
        .map(|v| Filter::parse(v))
        .transpose()?;
    let by_status = query.get("status").map(|v| Filter::parse(v)).transpose()?;
    let by_description = query
        .get("description")
        .map(|v| Filter::parse(v))
        .transpose()?;
    let q = &qin;
    let functions: Vec<Function> = match by_function.as_ref().and_then(Filter::exact_values) {
        // Named functions: only theirs are read (an unknown id lists nothing).
        Some(ids) => {
            let mut found = Vec::new();
            for id in ids {
                match q.engine.get_function(&q.caller, &q.ns, &id).await {
                    Ok(f) => found.push(f),
                    Err(e) if e.status == StatusCode::NOT_FOUND => {}
                    Err(e) => return Err(e.into()),
                }
            }
            found
        }
        None => {
            every(|page| async move {
                q.engine
                    .list_functions(&q.caller, &q.ns, &page, &Default::default())
                    .await
            })
            .await?
        }
    };
    let mut executions = Vec::new();
    for f in functions
        .iter()
        .filter(|f| by_function.as_ref().is_none_or(|m| m.matches(&f.id)))
    {
        let id = &f.id;
        let runs = every(|page| async move {
            q.engine
                .list_executions(&q.caller, &q.ns, id, &page, &ExecutionFilter::default())
                .await
        })
        .await?;
        executions.extend(runs.into_iter().filter(|e| {
            by_status
                .as_ref()
                .is_none_or(|m| m.matches(views::execution_status(e)))
                && by_description.as_ref().is_none_or(|m| m.matches(""))
        }));
    }
    executions.sort_by(|a, b| a.id.cmp(&b.id));
    let items: Vec<_> = executions.iter().map(views::execution).collect();
    Ok(reply(StatusCode::OK, json!({"executions": items})))
}

/// A list filter with Qinling's operator prefixes (`eq:` when none).
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    op: &'static str,
    values: Vec<String>,
}

impl Filter {
    const OPS: [&'static str; 9] = ["eq", "neq", "in", "nin", "has", "gt", "gte", "lt", "lte"];

    pub fn parse(raw: &str) -> Result<Self> {
        let (op, value) = match raw.split_once(':') {
            Some((op, value)) if Self::OPS.contains(&op) => (
                Self::OPS.into_iter().find(|o| *o == op).unwrap_or("eq"),
                value,
            ),
            _ => ("eq", raw),
        };
        let values = match op {
            "in" | "nin" => value.split(',').map(|v| v.trim().to_string()).collect(),
            _ => vec![value.to_string()],
        };
        if values.iter().all(String::is_empty) && op != "eq" {
            return Err(QinError::input(format!(
                "Invalid filter `{raw}`: `{op}:` needs a value"
            )));
        }
        Ok(Self { op, values })
    }

    /// The values an `eq:`/`in:` filter allows, which can be looked up directly.
    fn exact_values(&self) -> Option<Vec<String>> {
        matches!(self.op, "eq" | "in").then(|| self.values.clone())
    }

    pub fn matches(&self, actual: &str) -> bool {
        let first = self.values.first().map(String::as_str).unwrap_or("");
        match self.op {
            "eq" => actual == first,
            "neq" => actual != first,
            "in" => self.values.iter().any(|v| v == actual),
            "nin" => !self.values.iter().any(|v| v == actual),
            "has" => actual.contains(first),
            "gt" => actual > first,
            "gte" => actual >= first,
            "lt" => actual < first,
            _ => actual <= first,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::common::testing::{config, text};

    proptest! {
        #![proptest_config(config(512))]

        /// Any filter is one or a 400; each operator compares as its name says.
        #[test]
        fn filters_compare_as_their_operator_says(
            raw in prop_oneof![
                "(eq|neq|in|nin|has|gt|gte|lt|lte|xx):[a-c,]{0,6}",
                text(),
            ],
            actual in "[a-c]{0,3}",
        ) {
            let Ok(filter) = Filter::parse(&raw) else { return Ok(()) };
            let (op, value) = match raw.split_once(':') {
                Some((op, value)) if Filter::OPS.contains(&op) => (op, value),
                _ => ("eq", raw.as_str()),
            };
            let values: Vec<&str> = value.split(',').map(str::trim).collect();
            let expected = match op {
                "eq" => actual == value,
                "neq" => actual != value,
                "in" => values.contains(&actual.as_str()),
                "nin" => !values.contains(&actual.as_str()),
                "has" => actual.contains(value),
                "gt" => actual.as_str() > value,
                "gte" => actual.as_str() >= value,
                "lt" => actual.as_str() < value,
                _ => actual.as_str() <= value,
            };
            prop_assert_eq!(filter.matches(&actual), expected);
        }
    }

    #[test]
    fn filters_take_qinling_prefixes() {
        let plain = Filter::parse("success").unwrap();
        assert!(plain.matches("success") && !plain.matches("failed"));
        let any = Filter::parse("in:success,failed").unwrap();
        assert!(any.matches("failed") && !any.matches("running"));
        let none = Filter::parse("nin:success").unwrap();
        assert!(none.matches("failed") && !none.matches("success"));
        assert!(Filter::parse("neq:a").unwrap().matches("b"));
        assert!(Filter::parse("has:ucc").unwrap().matches("success"));
        // A colon that is no operator belongs to the value.
        assert!(Filter::parse("a:b").unwrap().matches("a:b"));
        assert!(Filter::parse("in:").is_err());
    }
}
