//! `/edge_functions`: Azion edge functions as Gust functions with the `azion` contract on
//! node20, named by their `serial`. The code is one file, deployed and built before the answer
//! (a syntax error is a 400 naming `code`, and nothing changes); it is read back from the
//! active deployment.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::response::Response;
use gust_core::{DeploymentStatus, Function, FunctionSpec, HandlerContract, RuntimeId};
use gust_engine::ops::UploadOptions;
use http::StatusCode;
use serde_json::{Value, json};

use super::{Az, AzError, Body, ListParams, Result, deleted, listed, one, page_of, path_id};
use crate::common::every;

/// Native field names in Azion's terms.
const NAMES: &[(&str, &str)] = &[("title", "name"), ("args", "json_args")];

/// The module the `azion` contract loads: `main.js`, or `main.mjs` for an ES module.
const HANDLER: &str = "main.default";

/// How long a save waits for the code's build before answering.
const BUILD_WAIT: std::time::Duration = std::time::Duration::from_secs(300);

/// What a create or update sends, checked.
struct Given {
    name: Option<String>,
    code: Option<String>,
    json_args: Option<Value>,
}

/// Read the body; `full` (create, PUT) requires what Azion requires there.
fn given(bytes: &[u8], full: bool) -> Result<Given> {
    let mut body = Body::parse(bytes)?;
    let name = body.text("name", full);
    let code = body.text("code", full);
    if let Some(language) = body.text("language", full)
        && !language.eq_ignore_ascii_case("javascript")
    {
        body.error(
            "language",
            format!(
                "\"{language}\" is not a valid choice: edge functions on Gust run `javascript`."
            ),
        );
    }
    if let Some(initiator) = body.text("initiator_type", full)
        && initiator != "edge_application"
    {
        body.error(
            "initiator_type",
            format!(
                "\"{initiator}\" is not a valid choice: Gust runs edge functions for edge \
                 applications (`edge_application`); it has no edge firewall."
            ),
        );
    }
    if body.boolean("active", full) == Some(false) {
        body.error(
            "active",
            "Gust runs every edge function it holds: delete it, or the rule that runs its \
             instance, instead of deactivating it.",
        );
    }
    let json_args = match body.json("json_args", false) {
        Some(args) => Some(args),
        // A replacement without arguments clears them.
        None if full && !body.has("json_args") => Some(gust_core::edge::empty_args()),
        None => None,
    };
    body.finish()?;
    Ok(Given {
        name,
        code,
        json_args,
    })
}

pub async fn create(az: Az, body: Bytes) -> Result<Response> {
    let given = given(&body, true)?;
    let spec = FunctionSpec {
        id: Some(gust_core::new_id()),
        title: given.name,
        runtime: Some(RuntimeId::Node20.as_str().into()),
        contract: Some(HandlerContract::Azion),
        handler: Some(HANDLER.into()),
        args: given.json_args,
        ..FunctionSpec::default()
    };
    let function = az
        .engine
        .create_function(&az.caller, &az.ns, spec)
        .await
        .map_err(|e| AzError::of(e, NAMES))?;
    let code = given.code.unwrap_or_default();
    // Nothing half-made: a function whose code does not build goes again.
    if let Err(e) = deploy(&az, &function, &code).await {
        let _ = az
            .engine
            .delete_function(&az.caller, &az.ns, &function.id)
            .await;
        return Err(e);
    }
    let function = az
        .engine
        .get_function(&az.caller, &az.ns, &function.id)
        .await?;
    let view = view(&function, Some(code), &references(&az).await?);
    Ok(one(StatusCode::CREATED, view))
}

pub async fn get(az: Az, Path(id): Path<String>) -> Result<Response> {
    let function = edge_function(&az, path_id(&id)?).await?;
    let code = code_of(&az, &function).await?;
    let view = view(&function, Some(code), &references(&az).await?);
    Ok(one(StatusCode::OK, view))
}

pub async fn list(az: Az, Query(params): Query<ListParams>) -> Result<Response> {
    let a = &az;
    let functions = every(|query| async move {
        a.engine
            .list_functions(&a.caller, &a.ns, &query, &Default::default())
            .await
    })
    .await?;
    let counts = references(&az).await?;
    let by_serial: BTreeMap<u64, &Function> = functions
        .iter()
        .filter(|f| f.contract == HandlerContract::Azion)
        .map(|f| (f.serial, f))
        .collect();
    let views = by_serial.values().map(|f| view(f, None, &counts)).collect();
    let (mut items, envelope) = page_of(
        &az.engine,
        "/edge_functions",
        &params,
        views,
        &["id", "name", "modified", "reference_count", "active"],
    )?;
    // The code is read for the page's functions only.
    for item in &mut items {
        if let Some(function) = item["id"].as_u64().and_then(|id| by_serial.get(&id)) {
            item["code"] = Value::String(code_of(&az, function).await?);
        }
    }
    Ok(listed(envelope, items))
}

pub async fn put(az: Az, Path(id): Path<String>, body: Bytes) -> Result<Response> {
    update(az, &id, &body, true).await
}

pub async fn patch(az: Az, Path(id): Path<String>, body: Bytes) -> Result<Response> {
    update(az, &id, &body, false).await
}

/// Change the name and arguments, and the code when it differs: the settings are checked
/// first and the new code built before anything is written, so a failure changes nothing.
async fn update(az: Az, id: &str, bytes: &[u8], full: bool) -> Result<Response> {
    let function = edge_function(&az, path_id(id)?).await?;
    let given = given(bytes, full)?;
    let spec = FunctionSpec {
        title: given.name,
        args: given.json_args,
        ..FunctionSpec::default()
    };
    spec.clone()
        .apply_to(&mut function.clone())
        .map_err(|e| AzError::of(e.into(), NAMES))?;
    let current = code_of(&az, &function).await?;
    let code = match given.code {
        Some(code) if code != current => {
            deploy(&az, &function, &code).await?;
            code
        }
        _ => current,
    };
    let function = az
        .engine
        .update_function(&az.caller, &az.ns, &function.id, spec)
        .await
        .map_err(|e| AzError::of(e, NAMES))?;
    let view = view(&function, Some(code), &references(&az).await?);
    Ok(one(StatusCode::OK, view))
}

/// 204; 409 while a function instance runs it.
pub async fn delete(az: Az, Path(id): Path<String>) -> Result<Response> {
    let function = edge_function(&az, path_id(&id)?).await?;
    az.engine
        .delete_function(&az.caller, &az.ns, &function.id)
        .await?;
    Ok(deleted())
}

/// The edge function with this serial in the caller's namespace: a function with the `azion`
/// contract; 404 for any other.
pub async fn edge_function(az: &Az, serial: u64) -> Result<Function> {
    let (namespace, function) = az
        .engine
        .function_by_serial(&az.caller, serial)
        .await
        .map_err(|_| AzError::not_found())?;
    let ours = namespace.id == az.ns || namespace.name == az.ns;
    if !ours || function.contract != HandlerContract::Azion {
        return Err(AzError::not_found());
    }
    Ok(function)
}

/// How many function instances run each function of the namespace, by function id.
async fn references(az: &Az) -> Result<BTreeMap<String, u64>> {
    Ok(az.engine.edge_instance_counts(&az.caller, &az.ns).await?)
}

/// Package `code` as the one file the contract loads, deploy it, and wait for its build: a
/// build that fails is a 400 naming `code` with the build's message, its deployment removed
/// (the function keeps running what it ran).
async fn deploy(az: &Az, function: &Function, code: &str) -> Result<()> {
    let package = package(code).map_err(|e| {
        AzError::detail(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("packaging the code: {e}"),
        )
    })?;
    let mut upload = az
        .engine
        .start_upload(&az.caller, &az.ns, &function.id)
        .await?;
    if let Err(e) = upload.push(&package).await {
        upload.discard().await;
        return Err(AzError::of(e, &[("body", "code")]));
    }
    let options = UploadOptions {
        content_type: Some("application/zip".into()),
        entrypoint: None,
        activate: true,
    };
    let deployment = az.engine.create_deployment(upload, options).await?;
    let deadline = tokio::time::Instant::now() + BUILD_WAIT;
    let mut pause = std::time::Duration::from_millis(5);
    loop {
        let current = az
            .engine
            .get_deployment(&az.caller, &az.ns, &function.id, &deployment.id)
            .await?;
        match current.status {
            DeploymentStatus::Ready => return Ok(()),
            DeploymentStatus::Failed => {
                let _ = az
                    .engine
                    .delete_deployment(&az.caller, &az.ns, &function.id, &current.id, false)
                    .await;
                let message = current
                    .error_message
                    .unwrap_or_else(|| "the code does not load".into());
                return Err(AzError::field("code", message));
            }
            _ if tokio::time::Instant::now() >= deadline => {
                return Err(AzError::detail(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the code is still building; read the edge function again later",
                ));
            }
            _ => {}
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(std::time::Duration::from_millis(100));
    }
}

/// The file name the code is stored under: an ES module (`import`/`export` statements) must
/// be `.mjs` for Node to load it as one; a service-worker script is plain `.js`.
fn file_name(code: &str) -> &'static str {
    let module = code.lines().any(|line| {
        let line = line.trim_start();
        ["export ", "export{", "import ", "import{"]
            .iter()
            .any(|start| line.starts_with(start))
    });
    if module { "main.mjs" } else { "main.js" }
}

/// A zip holding `code` as the contract's module.
fn package(code: &str) -> std::io::Result<Vec<u8>> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o644);
    zip.start_file(file_name(code), options)
        .map_err(std::io::Error::other)?;
    zip.write_all(code.as_bytes())?;
    Ok(zip.finish().map_err(std::io::Error::other)?.into_inner())
}

/// The code the function runs: its active deployment's module (`""` before one is active).
async fn code_of(az: &Az, function: &Function) -> Result<String> {
    let Some(deployment) = &function.active_deployment else {
        return Ok(String::new());
    };
    let (_, path) = az
        .engine
        .deployment_code(&az.caller, &az.ns, &function.id, deployment)
        .await?;
    let read = tokio::task::spawn_blocking(move || module_in(&path))
        .await
        .map_err(|e| AzError::detail(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(read.unwrap_or_default())
}

/// `main.js`, `main.mjs` or `main.cjs` out of a zip package (`None` for another package).
fn module_in(path: &std::path::Path) -> Option<String> {
    let file = std::fs::File::open(path).ok()?;
    let mut archive = zip::ZipArchive::new(file).ok()?;
    for name in ["main.js", "main.mjs", "main.cjs"] {
        if let Ok(mut entry) = archive.by_name(name) {
            let mut code = String::new();
            entry.read_to_string(&mut code).ok()?;
            return Some(code);
        }
    }
    None
}

/// An edge function as Azion shows it (`code` added by the caller when read).
fn view(function: &Function, code: Option<String>, counts: &BTreeMap<String, u64>) -> Value {
    let mut view = json!({
        "id": function.serial,
        "name": function.title,
        "language": "javascript",
        "json_args": function.args,
        "function_to_run": "",
        "initiator_type": "edge_application",
        "active": true,
        "last_editor": "",
        "modified": super::timestamp(function.updated_at),
        "reference_count": counts.get(&function.id).copied().unwrap_or(0),
    });
    if let Some(code) = code {
        view["code"] = Value::String(code);
    }
    view
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_and_scripts_get_the_file_node_loads_them_from() {
        assert_eq!(
            file_name("export default { fetch() { return new Response('x') } }"),
            "main.mjs"
        );
        assert_eq!(
            file_name("import x from 'y';\nexport default x"),
            "main.mjs"
        );
        assert_eq!(
            file_name("addEventListener('fetch', (e) => e.respondWith(new Response('ok')))"),
            "main.js"
        );
    }

    #[test]
    fn a_package_holds_the_code_as_it_was_given() {
        let code = "addEventListener('fetch', e => e.respondWith(new Response('é')))";
        let dir = tempfile_dir();
        let path = dir.join("p.zip");
        std::fs::write(&path, package(code).unwrap()).unwrap();
        assert_eq!(module_in(&path).as_deref(), Some(code));
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("gust-azion-{}", gust_core::new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}

/// Property tests: any edge function body is read or a 400 naming its fields, and any code
/// comes back out of the package it is stored in as it was given.
#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;
    use crate::common::testing::{body, config};

    proptest! {
        #![proptest_config(config(128))]

        #[test]
        fn any_function_body_is_read_or_names_its_fields(
            bytes in body(&["name", "code", "language", "initiator_type", "active", "json_args"]),
            full in any::<bool>(),
        ) {
            if let Err(error) = given(&bytes, full) {
                prop_assert_eq!(error.status, StatusCode::BAD_REQUEST);
            }
        }

        #[test]
        fn code_comes_back_out_of_its_package(
            code in prop_oneof![any::<String>(), "((export|import) [a-z{}]{0,5}\n)?[a-z ();\n]{0,40}"],
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("p.zip");
            std::fs::write(&path, package(&code).unwrap()).unwrap();
            prop_assert_eq!(module_in(&path), Some(code));
        }
    }
}
