//! `/v1/functions`: functions made and changed by form posts (a `package` zip, or urlencoded
//! fields), their download, and their workers.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Query, Request};
use axum::response::{IntoResponse, Response};
use gust_core::{Function, FunctionSpec, HandlerContract, ListQuery, Order, RuntimeId};
use gust_engine::ops::{ExecutionFilter, UploadOptions};
use http::{HeaderValue, StatusCode, header};
use md5::{Digest, Md5};
use serde::Deserialize;
use serde_json::{Value, json};

use super::views::{self, FunctionFacts, MIB};
use super::{Qin, QinError, Result, accepted, field, json_body, no_content, reply};
use crate::common::every;

/// Qinling's default limits (`[resource_limits]`).
const CPU: (u32, u32, u32) = (100, 100, 300);
const MEMORY: (u64, u64, u64) = (32 * MIB, 32 * MIB, 128 * MIB);
const TIMEOUT: (u32, u32, u32) = (5, 1, 300);

/// How long a create or update waits for the package's build before answering.
const BUILD_WAIT: std::time::Duration = std::time::Duration::from_secs(300);

/// A function form: its text fields and the `package` part.
#[derive(Default)]
struct Form {
    fields: BTreeMap<String, String>,
    package: Option<Bytes>,
}

impl Form {
    fn text(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    /// A number field within `[min, max]`, or 400 naming it.
    fn number<T>(&self, name: &str, (_, min, max): (T, T, T)) -> Result<Option<T>>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        let Some(text) = self.text(name) else {
            return Ok(None);
        };
        let value: T = text.trim().parse().map_err(|_| {
            QinError::input(format!(
                "Invalid input for `{name}`: `{text}` is not an integer"
            ))
        })?;
        if value < min || value > max {
            return Err(QinError::input(format!(
                "Invalid input for `{name}`: {value} is out of range [{min}, {max}]"
            )));
        }
        Ok(Some(value))
    }
}

/// Read a function form, multipart or urlencoded; the package is held in memory up to the
/// server's upload limit.
async fn read_form(qin: &Qin, request: Request) -> Result<Form> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut form = Form::default();
    if content_type.starts_with("multipart/form-data") {
        let malformed = |e: axum::extract::multipart::MultipartError| {
            QinError::input(format!("Invalid multipart body: {e}"))
        };
        let mut multipart = Multipart::from_request(request, &())
            .await
            .map_err(|e| QinError::input(format!("Invalid multipart body: {e}")))?;
        let limit = qin.engine.upload_limit();
        while let Some(mut part) = multipart.next_field().await.map_err(malformed)? {
            let name = part.name().unwrap_or("").to_string();
            if name == "package" {
                let mut bytes = Vec::new();
                while let Some(chunk) = part.chunk().await.map_err(malformed)? {
                    if (bytes.len() + chunk.len()) as u64 > limit {
                        return Err(QinError::input(format!(
                            "The package exceeds the limit of {} MiB",
                            limit / MIB
                        )));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                form.package = Some(bytes.into());
            } else {
                form.fields
                    .insert(name, part.text().await.map_err(malformed)?);
            }
        }
    } else {
        let body = axum::body::to_bytes(request.into_body(), 1024 * 1024)
            .await
            .map_err(|e| QinError::input(format!("Invalid form body: {e}")))?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
            .map_err(|e| QinError::input(format!("Invalid form body: {e}")))?;
        form.fields.extend(pairs);
    }
    Ok(form)
}

/// The `code` field: only packages run on Gust. Its `md5sum`, when given.
fn package_code(text: &str) -> Result<Option<String>> {
    let code: Value = serde_json::from_str(text)
        .map_err(|e| QinError::input(format!("Invalid input for `code`: not JSON: {e}")))?;
    match code.get("source").and_then(Value::as_str) {
        Some("package") => Ok(code.get("md5sum").and_then(Value::as_str).map(String::from)),
        Some(source @ ("image" | "swift")) => Err(QinError::input(format!(
            "Invalid input for `code`: source `{source}` is not supported here; Gust runs \
             functions from a package (`\"source\": \"package\"` with a zip)"
        ))),
        _ => Err(QinError::input(
            "Invalid input for `code`: `source` must be `package`, `swift` or `image`",
        )),
    }
}

/// The package, checked against the md5 the client announced.
fn checked_package(form: &Form, announced: Option<&str>) -> Result<(Bytes, String)> {
    let Some(package) = form.package.clone().filter(|p| !p.is_empty()) else {
        return Err(QinError::input(
            "Invalid input for `package`: a package function needs its zip in `package`",
        ));
    };
    if !package.starts_with(b"PK\x03\x04") {
        return Err(QinError::input(
            "Invalid input for `package`: it is not a zip archive",
        ));
    }
    let md5 = hex::encode(Md5::digest(&package));
    if let Some(announced) = announced
        && !announced.eq_ignore_ascii_case(&md5)
    {
        return Err(QinError::input(format!(
            "Package md5 mismatch: `code.md5sum` is {announced}, the package's is {md5}"
        )));
    }
    Ok((package, md5))
}

/// A runtime by the UUID Qinling shows, or by its Gust name.
pub fn runtime_by_id(qin: &Qin, id: &str) -> Result<RuntimeId> {
    views::qinling_runtimes(qin.engine.runtimes())
        .into_iter()
        .find(|r| views::runtime_uuid(r.id) == id || r.id.as_str() == id)
        .map(|r| r.id)
        .ok_or_else(|| QinError::not_found("Runtime", id))
}

/// `value` when creating (a default), nothing when changing.
fn default<T>(creating: bool, value: T) -> Option<T> {
    creating.then_some(value)
}

/// The settings a form sets, as a Gust spec.
fn settings(form: &Form, creating: bool) -> Result<FunctionSpec> {
    let memory = form
        .number("memory_size", MEMORY)?
        .or(default(creating, MEMORY.0));
    let entry = form.text("entry").map(str::trim).filter(|e| !e.is_empty());
    if let Some(entry) = entry
        && entry
            .rsplit_once('.')
            .is_none_or(|(m, f)| m.is_empty() || f.is_empty())
    {
        return Err(QinError::input(format!(
            "Invalid input for `entry`: `{entry}` is not `module.function`"
        )));
    }
    Ok(FunctionSpec {
        title: form.text("name").map(String::from),
        description: form.text("description").map(String::from),
        handler: entry
            .map(String::from)
            .or(default(creating, views::DEFAULT_ENTRY.into())),
        cpu_millis: form.number("cpu", CPU)?.or(default(creating, CPU.0)),
        memory_mb: memory.map(|bytes| bytes.div_ceil(MIB) as u32),
        timeout_s: form
            .number("timeout", TIMEOUT)?
            .or(default(creating, TIMEOUT.0)),
        ..FunctionSpec::default()
    })
}

pub async fn create(qin: Qin, request: Request) -> Result<Response> {
    pecan(create_function(&qin, request).await)
}

async fn create_function(qin: &Qin, request: Request) -> Result<Response> {
    let form = read_form(qin, request).await?;
    let Some(code) = form.text("code") else {
        return Err(QinError::input("Invalid input for `code`: it is required"));
    };
    let announced = package_code(code)?;
    let Some(runtime_id) = form.text("runtime_id").filter(|r| !r.is_empty()) else {
        return Err(QinError::input(
            "Invalid input for `runtime_id`: a package function needs a runtime",
        ));
    };
    let runtime = runtime_by_id(qin, runtime_id)?;
    let (package, _) = checked_package(&form, announced.as_deref())?;
    let spec = FunctionSpec {
        id: Some(gust_core::new_id()),
        runtime: Some(runtime.as_str().into()),
        contract: Some(HandlerContract::Qinling),
        ..settings(&form, true)?
    };
    let function = qin
        .engine
        .create_function(&qin.caller, &qin.ns, spec)
        .await
        .map_err(|e| QinError::about(e, "Function", ""))?;
    // Nothing half-made: a function whose package could not be stored goes again.
    if let Err(e) = deploy(qin, &function, package).await {
        let _ = qin
            .engine
            .delete_function(&qin.caller, &qin.ns, &function.id)
            .await;
        return Err(e);
    }
    let function = qin
        .engine
        .get_function(&qin.caller, &qin.ns, &function.id)
        .await?;
    Ok(reply(
        StatusCode::CREATED,
        view(qin, &function, false).await?,
    ))
}

/// Store `package` as the function's new code and wait for its build, so that the function
/// runs it once the answer is sent (a failed build shows in the executions, as in Qinling).
async fn deploy(qin: &Qin, function: &Function, package: Bytes) -> Result<()> {
    let mut upload = qin
        .engine
        .start_upload(&qin.caller, &qin.ns, &function.id)
        .await?;
    if let Err(e) = upload.push(&package).await {
        upload.discard().await;
        return Err(e.into());
    }
    let options = UploadOptions {
        content_type: Some("application/zip".into()),
        entrypoint: None,
        activate: true,
    };
    let deployment = qin
        .engine
        .create_deployment(upload, options)
        .await
        .map_err(|e| QinError::about(e, "Function", &function.id))?;
    let deadline = tokio::time::Instant::now() + BUILD_WAIT;
    let mut pause = std::time::Duration::from_millis(5);
    while tokio::time::Instant::now() < deadline {
        let current = qin
            .engine
            .get_deployment(&qin.caller, &qin.ns, &function.id, &deployment.id)
            .await?;
        if matches!(
            crate::common::BuildState::of(current.status),
            crate::common::BuildState::Ready | crate::common::BuildState::Failed
        ) {
            break;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(std::time::Duration::from_millis(100));
    }
    Ok(())
}

#[derive(Debug, Default, Deserialize)]
pub struct GetQuery {
    pub download: Option<String>,
}

pub async fn get(
    qin: Qin,
    Path(id): Path<String>,
    Query(query): Query<GetQuery>,
) -> Result<Response> {
    pecan(get_function(&qin, &id, query).await)
}

async fn get_function(qin: &Qin, id: &str, query: GetQuery) -> Result<Response> {
    let function = function(qin, id).await?;
    if query.download.as_deref().is_some_and(is_true) {
        let newest = newest_deployment(qin, &function).await?;
        let Some(deployment) = newest else {
            return Err(QinError::not_found("Package", id));
        };
        let (_, path) = qin
            .engine
            .deployment_code(&qin.caller, &qin.ns, &function.id, &deployment.id)
            .await?;
        return zip_file(&path, id).await;
    }
    Ok(reply(StatusCode::OK, view(qin, &function, false).await?))
}

pub fn is_true(value: &str) -> bool {
    matches!(value, "true" | "True" | "1")
}

/// A stored package as Qinling's download answers it.
pub async fn zip_file(path: &std::path::Path, id: &str) -> Result<Response> {
    let bytes = tokio::fs::read(path).await.map_err(|e| {
        QinError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reading the package: {e}"),
        )
    })?;
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{id}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

pub async fn list(qin: Qin) -> Result<Response> {
    let q = &qin;
    let functions = every(|query| async move {
        q.engine
            .list_functions(&q.caller, &q.ns, &query, &Default::default())
            .await
    })
    .await?;
    let mut items = Vec::with_capacity(functions.len());
    for f in &functions {
        items.push(view(&qin, f, true).await?);
    }
    Ok(reply(StatusCode::OK, json!({"functions": items})))
}

pub async fn update(qin: Qin, Path(id): Path<String>, request: Request) -> Result<Response> {
    pecan(update_function(&qin, &id, request).await)
}

async fn update_function(qin: &Qin, id: &str, request: Request) -> Result<Response> {
    let current = function(qin, id).await?;
    let form = read_form(qin, request).await?;
    // The client sends a changed `code` flattened into `source` and `md5sum` fields.
    let announced = match form.text("code") {
        Some(code) => package_code(code)?,
        None => form.text("md5sum").map(String::from),
    };
    if let Some(source) = form.text("source")
        && source != "package"
    {
        return Err(QinError::input(
            "Invalid input for `code`: the source of a function's code cannot change",
        ));
    }
    let package = match &form.package {
        Some(_) => {
            let (package, md5) = checked_package(&form, announced.as_deref())?;
            let newest = newest_deployment(qin, &current).await?;
            if newest.and_then(|d| d.md5).as_deref() == Some(md5.as_str()) {
                return Err(QinError::input(
                    "The function code checksum is not changed.",
                ));
            }
            Some(package)
        }
        None => None,
    };
    let spec = settings(&form, false)?;
    let function = qin
        .engine
        .update_function(&qin.caller, &qin.ns, &current.id, spec)
        .await
        .map_err(|e| QinError::about(e, "Function", id))?;
    if let Some(package) = package {
        deploy(qin, &function, package).await?;
    }
    let function = qin
        .engine
        .get_function(&qin.caller, &qin.ns, &function.id)
        .await?;
    Ok(reply(StatusCode::OK, view(qin, &function, false).await?))
}

/// 204; 403 while jobs, webhooks or aliases still refer to the function, as in Qinling.
pub async fn delete(qin: Qin, Path(id): Path<String>) -> Result<Response> {
    let function = function(&qin, &id).await?;
    let users = users_of(&qin, &function, None).await?;
    if !users.is_empty() {
        return Err(QinError::not_allowed(format!(
            "The function {id} is still in use by {}",
            users.join(", ")
        )));
    }
    qin.engine
        .delete_function(&qin.caller, &qin.ns, &function.id)
        .await
        .map_err(|e| QinError::about(e, "Function", &id))?;
    Ok(no_content())
}

/// What refers to the function (or to its `version`): `job <id>`, `webhook <id>`,
/// `alias <name>`.
pub async fn users_of(qin: &Qin, function: &Function, version: Option<u32>) -> Result<Vec<String>> {
    let mut users = Vec::new();
    if version.is_none() {
        let triggers = every(|query| async move {
            qin.engine
                .list_triggers(&qin.caller, &qin.ns, &function.id, &query)
                .await
        })
        .await?;
        users.extend(
            triggers
                .iter()
                .filter(|t| t.kind == gust_core::TriggerKind::Cron)
                .filter(|t| {
                    !matches!(
                        t.status,
                        gust_core::TriggerStatus::Done | gust_core::TriggerStatus::Cancelled
                    )
                })
                .map(|t| format!("job {}", t.id)),
        );
        let webhooks = every(|query| async move {
            qin.engine
                .list_webhooks(&qin.caller, &qin.ns, Some(&function.id), &query)
                .await
        })
        .await?;
        users.extend(webhooks.iter().map(|w| format!("webhook {}", w.id)));
    }
    let aliases = qin
        .engine
        .list_aliases(
            &qin.caller,
            &qin.ns,
            Some(&function.id),
            &ListQuery {
                limit: Some(gust_core::list::MAX_LIMIT),
                ..ListQuery::default()
            },
        )
        .await?;
    users.extend(
        aliases
            .items
            .iter()
            .filter(|a| version.is_none() || a.version == version)
            .map(|a| format!("alias {}", a.name)),
    );
    Ok(users)
}

/// A function of the request's project, by id: 404 `Function not found [id=…]` otherwise.
pub async fn function(qin: &Qin, id: &str) -> Result<Function> {
    qin.engine
        .get_function(&qin.caller, &qin.ns, id)
        .await
        .map_err(|e| QinError::about(e, "Function", id))
}

async fn newest_deployment(
    qin: &Qin,
    function: &Function,
) -> Result<Option<gust_core::Deployment>> {
    let page = qin
        .engine
        .list_deployments(
            &qin.caller,
            &qin.ns,
            &function.id,
            &ListQuery {
                limit: Some(1),
                order: Some(Order::Desc),
                ..ListQuery::default()
            },
        )
        .await?;
    Ok(page.items.into_iter().next())
}

/// A function with its package's md5, its execution count and its latest version.
pub async fn view(qin: &Qin, function: &Function, code_as_string: bool) -> Result<Value> {
    let md5 = newest_deployment(qin, function).await?.and_then(|d| d.md5);
    let count = qin
        .engine
        .list_executions(
            &qin.caller,
            &qin.ns,
            &function.id,
            &ListQuery {
                limit: Some(1),
                ..ListQuery::default()
            },
            &ExecutionFilter::default(),
        )
        .await?
        .total;
    let versions = qin
        .engine
        .list_versions(&qin.caller, &qin.ns, &function.id)
        .await?;
    let latest_version = versions.items.iter().map(|v| v.number).max().unwrap_or(0);
    let facts = FunctionFacts {
        md5,
        count,
        latest_version,
    };
    Ok(views::function(function, &facts, code_as_string))
}

/// The function routes Qinling serves through pecan answer errors with `faultstring` alone.
fn pecan(result: Result<Response>) -> Result<Response> {
    result.map_err(QinError::plain)
}

/// `{"count": n}` with n ≥ 1 (1 when absent).
pub fn worker_count(body: &Bytes) -> Result<u32> {
    let body = json_body(body)?;
    let count = field::integer(&body, "count")?.unwrap_or(1);
    u32::try_from(count)
        .ok()
        .filter(|c| *c >= 1)
        .ok_or_else(|| QinError::input(format!("Invalid input for `count`: {count} is not ≥ 1")))
}

pub async fn scale_up(qin: Qin, Path(id): Path<String>, body: Bytes) -> Result<Response> {
    let function = function(&qin, &id).await?;
    scale(&qin, &function, None, i64::from(worker_count(&body)?)).await
}

pub async fn scale_down(qin: Qin, Path(id): Path<String>, body: Bytes) -> Result<Response> {
    let function = function(&qin, &id).await?;
    scale(&qin, &function, None, -i64::from(worker_count(&body)?)).await
}

/// Start `delta` workers, or stop `-delta` idle ones while keeping one, as Qinling's scale
/// down never goes below a single worker.
pub async fn scale(
    qin: &Qin,
    function: &Function,
    version: Option<u32>,
    delta: i64,
) -> Result<Response> {
    let delta = if delta < 0 {
        let live = qin
            .engine
            .list_instances(&qin.caller, &qin.ns, &function.id, version)
            .await?
            .total as i64;
        -(-delta).min(live - 1).max(0)
    } else {
        delta
    };
    if delta != 0 {
        qin.engine
            .scale_instances(
                &qin.caller,
                &qin.ns,
                &function.id,
                i32::try_from(delta).unwrap_or(i32::MAX),
                version,
            )
            .await
            .map_err(|e| QinError::about(e, "Function", &function.id))?;
    }
    Ok(accepted())
}

pub async fn detach(qin: Qin, Path(id): Path<String>) -> Result<Response> {
    let function = function(&qin, &id).await?;
    qin.engine
        .detach_instances(&qin.caller, &qin.ns, &function.id, None)
        .await?;
    Ok(accepted())
}

pub async fn workers(qin: Qin, Path(id): Path<String>) -> Result<Response> {
    let function = function(&qin, &id).await?;
    workers_of(&qin, &function, None).await
}

/// `{"workers": [{function_id, function_version, worker_name}]}`.
pub async fn workers_of(qin: &Qin, function: &Function, version: Option<u32>) -> Result<Response> {
    let instances = qin
        .engine
        .list_instances(&qin.caller, &qin.ns, &function.id, version)
        .await?;
    let workers: Vec<Value> = instances
        .items
        .iter()
        .map(|i| {
            json!({
                "function_id": function.id,
                "function_version": version.unwrap_or(0),
                "worker_name": format!("gust-worker-{}", i.pid),
            })
        })
        .collect();
    Ok(reply(StatusCode::OK, json!({"workers": workers})))
}

/// Property tests: any function form is a spec within Qinling's limits or a 400; any `code`
/// field and scale body is read or refused without a panic.
#[cfg(test)]
mod props {
    use proptest::collection::btree_map;
    use proptest::prelude::*;

    use super::*;
    use crate::common::testing::{body, config, text};

    proptest! {
        #![proptest_config(config(256))]

        #[test]
        fn any_form_is_a_spec_within_the_limits_or_a_400(
            fields in btree_map(
                prop::sample::select(vec!["memory_size", "cpu", "timeout", "entry", "name", "description"]).prop_map(str::to_string),
                prop_oneof!["-?[0-9]{1,12}", "[a-z]{0,3}(\\.[a-z]{0,3})?", text()],
                0..6,
            ),
            creating in any::<bool>(),
        ) {
            let form = Form { fields, package: None };
            match settings(&form, creating) {
                Ok(spec) => {
                    prop_assert!(spec.memory_mb.is_none_or(|m| (32..=128).contains(&m)));
                    prop_assert!(spec.cpu_millis.is_none_or(|c| (100..=300).contains(&c)));
                    prop_assert!(spec.timeout_s.is_none_or(|t| (1..=300).contains(&t)));
                    if creating {
                        prop_assert!(spec.handler.is_some());
                    }
                }
                Err(e) => prop_assert_eq!(e.status, StatusCode::BAD_REQUEST),
            }
        }

        #[test]
        fn any_code_field_is_read_or_a_400(code in prop_oneof![
            crate::common::testing::object(&["source", "md5sum"]).prop_map(|v| v.to_string()),
            text(),
        ]) {
            if let Err(e) = package_code(&code) {
                prop_assert_eq!(e.status, StatusCode::BAD_REQUEST);
            }
        }

        #[test]
        fn worker_counts_are_at_least_one_or_a_400(bytes in body(&["count"])) {
            match worker_count(&Bytes::from(bytes)) {
                Ok(count) => prop_assert!(count >= 1),
                Err(e) => prop_assert_eq!(e.status, StatusCode::BAD_REQUEST),
            }
        }
    }
}
