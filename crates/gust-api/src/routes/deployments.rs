//! `/api/v1/namespaces/{ns}/functions/{fn}/deployments[/{id}[/code|/activate|/rebuild]]`.
//! Uploads stream to the blob store (hashed on the way, size-capped), then a build is queued.

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use gust_core::{Deployment, DeploymentStatus, ListQuery, PackageFormat, Page, Scope};
use gust_store::BlobWriter;
use http_body_util::BodyExt;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::Caller;
use crate::builder;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiQuery;
use crate::jobs::events::Change;
use crate::routes::function_for;
use crate::state::Shared;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// Make this deployment active once it builds (the first deployment always is).
    pub activate: Option<bool>,
    /// The file in the package to run (default: the only `.wasm` in it).
    pub entrypoint: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/functions/{fn}/deployments", tag = "deployments",
    params(("ns" = String, Path), ("fn" = String, Path), ListQuery),
    responses((status = 200, body = Page<Deployment>), (status = 404, body = ErrorBody)))]
pub async fn list_deployments(
    State(state): State<Shared>,
    caller: Caller,
    Path((ns, f)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Json<Page<Deployment>>> {
    caller.require(Scope::Read)?;
    query.validate()?;
    let (_, function) = function_for(&state, &caller, &ns, &f).await?;
    Ok(Json(
        state.store.list_deployments(&function.id, &query).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/namespaces/{ns}/functions/{fn}/deployments", tag = "deployments",
    params(("ns" = String, Path), ("fn" = String, Path), UploadQuery),
    request_body(description = "The code: a raw `.wasm` (application/wasm), `.tar.gz` (application/gzip) or `.zip` (application/zip) body, or multipart/form-data with a `code` part (and optional `entrypoint`, `activate` parts).", content_type = "application/octet-stream"),
    responses((status = 201, body = Deployment), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn create_deployment(
    State(state): State<Shared>,
    caller: Caller,
    Path((ns, f)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<UploadQuery>,
    request: Request,
) -> ApiResult<(StatusCode, Json<Deployment>)> {
    caller.require(Scope::Write)?;
    let (_, function) = function_for(&state, &caller, &ns, &f).await?;
    let limit = state.config.max_upload_bytes;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        drain(request.into_body()).await;
        return Err(too_large(limit));
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut upload = Upload {
        writer: state.blobs.writer().await.map_err(ApiError::internal)?,
        head: Vec::new(),
        limit,
    };
    let mut entrypoint = query.entrypoint;
    let mut activate = query.activate.unwrap_or(false);
    let mut part_type = None;

    let received = if content_type
        .as_deref()
        .is_some_and(|t| t.starts_with("multipart/form-data"))
    {
        receive_multipart(
            &state,
            request,
            &mut upload,
            &mut entrypoint,
            &mut activate,
            &mut part_type,
        )
        .await
    } else {
        part_type = content_type.clone();
        receive_raw(request.into_body(), &mut upload).await
    };
    if let Err(e) = received {
        upload.writer.discard().await;
        return Err(e);
    }
    if upload.writer.size() == 0 {
        upload.writer.discard().await;
        return Err(ApiError::invalid("code", "the upload is empty"));
    }
    let Some(format) = PackageFormat::detect(part_type.as_deref(), &upload.head) else {
        upload.writer.discard().await;
        return Err(ApiError::invalid(
            "code",
            "is not a .wasm component, a .tar.gz or a .zip",
        ));
    };
    if let Some(e) = &entrypoint {
        gust_core::validate::text("entrypoint", e, 512)?;
    }
    let (sha256, size) = upload.writer.commit().await.map_err(ApiError::internal)?;
    let now = gust_core::now();
    let deployment = Deployment {
        id: gust_core::new_id(),
        function_id: function.id.clone(),
        sha256,
        size,
        format,
        entrypoint,
        wasm_sha256: None,
        status: DeploymentStatus::Waiting,
        build_log: String::new(),
        build_duration_ms: None,
        error_message: None,
        active: false,
        activate_when_ready: activate,
        created_at: now,
        updated_at: now,
    };
    state.store.create_deployment(&deployment).await?;
    state
        .builder
        .enqueue(deployment.id.clone(), function.id.clone());
    builder::emit(&state, &function.namespace_id, &deployment, Change::Create);
    Ok((StatusCode::CREATED, Json(deployment)))
}

struct Upload {
    writer: BlobWriter,
    /// The first bytes, to recognise the format.
    head: Vec<u8>,
    limit: u64,
}

impl Upload {
    async fn push(&mut self, bytes: &[u8]) -> ApiResult<()> {
        if self.writer.size() + bytes.len() as u64 > self.limit {
            return Err(too_large(self.limit));
        }
        if self.head.len() < 8 {
            self.head
                .extend_from_slice(&bytes[..bytes.len().min(8 - self.head.len())]);
        }
        self.writer.write(bytes).await.map_err(ApiError::internal)
    }
}

fn too_large(limit: u64) -> ApiError {
    ApiError::too_large(format!(
        "the upload exceeds the limit of {} MiB",
        limit / (1024 * 1024)
    ))
}

/// After a 413, read (and drop) this much more of the body, for at most `DRAIN_TIME`, so a
/// client still sending gets our answer instead of a reset connection.
const DRAIN_BYTES: u64 = 64 * 1024 * 1024;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(5);

async fn receive_raw(mut body: Body, upload: &mut Upload) -> ApiResult<()> {
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| ApiError::bad_request(format!("the upload was interrupted: {e}")))?;
        if let Some(data) = frame.data_ref()
            && let Err(e) = upload.push(data).await
        {
            drain(body).await;
            return Err(e);
        }
    }
    Ok(())
}

/// Read and drop what is left of a refused body (bounded in size and time), so the client
/// reads our 413 on a connection still in step instead of a reset.
async fn drain(mut body: Body) {
    let mut drained = 0u64;
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        while let Some(Ok(frame)) = body.frame().await {
            drained += frame.data_ref().map_or(0, |d| d.len() as u64);
            if drained > DRAIN_BYTES {
                break;
            }
        }
    })
    .await;
}

async fn receive_multipart(
    state: &Shared,
    request: Request,
    upload: &mut Upload,
    entrypoint: &mut Option<String>,
    activate: &mut bool,
    part_type: &mut Option<String>,
) -> ApiResult<()> {
    let mut multipart = Multipart::from_request(request, state)
        .await
        .map_err(|e| ApiError::bad_request(format!("malformed multipart body: {e}")))?;
    let mut saw_code = false;
    let bad = |e: axum::extract::multipart::MultipartError| {
        ApiError::bad_request(format!("malformed multipart body: {e}"))
    };
    while let Some(mut field) = multipart.next_field().await.map_err(bad)? {
        match field.name().unwrap_or("") {
            "code" => {
                saw_code = true;
                *part_type = field
                    .content_type()
                    .map(str::to_string)
                    .filter(|t| t != "application/octet-stream")
                    .or_else(|| {
                        field
                            .file_name()
                            .and_then(type_from_file_name)
                            .map(str::to_string)
                    });
                while let Some(chunk) = field.chunk().await.map_err(bad)? {
                    upload.push(&chunk).await?;
                }
            }
            "entrypoint" => {
                *entrypoint = Some(field.text().await.map_err(bad)?).filter(|e| !e.is_empty())
            }
            "activate" => {
                let text = field.text().await.map_err(bad)?;
                *activate = match text.trim() {
                    "true" | "1" => true,
                    "false" | "0" | "" => false,
                    _ => return Err(ApiError::invalid("activate", "must be true or false")),
                };
            }
            _ => {} // unknown parts are ignored, as form posts often carry extras
        }
    }
    if !saw_code {
        return Err(ApiError::invalid(
            "code",
            "the multipart body has no `code` part",
        ));
    }
    Ok(())
}

fn type_from_file_name(name: &str) -> Option<&'static str> {
    let name = name.to_ascii_lowercase();
    if name.ends_with(".wasm") {
        Some("application/wasm")
    } else if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        Some("application/gzip")
    } else if name.ends_with(".zip") {
        Some("application/zip")
    } else {
        None
    }
}

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/functions/{fn}/deployments/{id}", tag = "deployments",
    params(("ns" = String, Path), ("fn" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = Deployment), (status = 404, body = ErrorBody)))]
pub async fn get_deployment(
    State(state): State<Shared>,
    caller: Caller,
    Path((ns, f, id)): Path<(String, String, String)>,
) -> ApiResult<Json<Deployment>> {
    caller.require(Scope::Read)?;
    let (_, function) = function_for(&state, &caller, &ns, &f).await?;
    Ok(Json(state.store.get_deployment(&function.id, &id).await?))
}

#[utoipa::path(delete, path = "/api/v1/namespaces/{ns}/functions/{fn}/deployments/{id}", tag = "deployments",
    params(("ns" = String, Path), ("fn" = String, Path), ("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_deployment(
    State(state): State<Shared>,
    caller: Caller,
    Path((ns, f, id)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    caller.require(Scope::Write)?;
    let (_, function) = function_for(&state, &caller, &ns, &f).await?;
    let deployment = state.store.get_deployment(&function.id, &id).await?;
    if function.active_deployment.as_deref() == Some(deployment.id.as_str()) {
        return Err(ApiError::conflict(
            "this deployment is active; activate another one before deleting it",
        ));
    }
    state.store.delete_deployment(&deployment.id).await?;
    release(&state, &deployment).await;
    builder::emit(&state, &function.namespace_id, &deployment, Change::Delete);
    Ok(StatusCode::NO_CONTENT)
}

/// Free what a deleted deployment held: its unpacked code, and blobs and artifacts no other
/// deployment uses.
pub async fn release(state: &Shared, deployment: &Deployment) {
    state.live.forget_deployment(&deployment.id);
    let _ = tokio::fs::remove_dir_all(crate::builder::code_dir(
        &state.config.data_dir,
        &deployment.id,
    ))
    .await;
    for sha in [Some(&deployment.sha256), deployment.wasm_sha256.as_ref()]
        .into_iter()
        .flatten()
    {
        if matches!(state.store.blob_in_use(sha).await, Ok(false)) {
            let _ = state.blobs.remove(sha).await;
            let _ = tokio::fs::remove_file(state.wasm.artifact_path(sha)).await;
        }
    }
}

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/functions/{fn}/deployments/{id}/code", tag = "deployments",
    params(("ns" = String, Path), ("fn" = String, Path), ("id" = String, Path)),
    responses((status = 200, description = "The uploaded bytes, unchanged", content_type = "application/octet-stream"), (status = 404, body = ErrorBody)))]
pub async fn get_deployment_code(
    State(state): State<Shared>,
    caller: Caller,
    Path((ns, f, id)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    caller.require(Scope::Read)?;
    let (_, function) = function_for(&state, &caller, &ns, &f).await?;
    let deployment = state.store.get_deployment(&function.id, &id).await?;
    let file = tokio::fs::File::open(state.blobs.path(&deployment.sha256))
        .await
        .map_err(ApiError::internal)?;
    let (content_type, extension) = match deployment.format {
        PackageFormat::Wasm => ("application/wasm", "wasm"),
        PackageFormat::TarGz => ("application/gzip", "tar.gz"),
        PackageFormat::Zip => ("application/zip", "zip"),
    };
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_LENGTH, deployment.size.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}.{extension}\"", deployment.id),
            ),
        ],
        body,
    )
        .into_response())
}

#[utoipa::path(post, path = "/api/v1/namespaces/{ns}/functions/{fn}/deployments/{id}/activate", tag = "deployments",
    params(("ns" = String, Path), ("fn" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = Deployment), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn activate_deployment(
    State(state): State<Shared>,
    caller: Caller,
    Path((ns, f, id)): Path<(String, String, String)>,
) -> ApiResult<Json<Deployment>> {
    caller.require(Scope::Write)?;
    let (_, mut function) = function_for(&state, &caller, &ns, &f).await?;
    let mut deployment = state.store.get_deployment(&function.id, &id).await?;
    if deployment.status != DeploymentStatus::Ready {
        return Err(ApiError::conflict(format!(
            "only a ready deployment can be activated; this one is {}",
            deployment.status.as_str()
        )));
    }
    builder::activate(&state, &mut function, &mut deployment, false).await?;
    builder::emit(&state, &function.namespace_id, &deployment, Change::Update);
    Ok(Json(deployment))
}

#[utoipa::path(post, path = "/api/v1/namespaces/{ns}/functions/{fn}/deployments/{id}/rebuild", tag = "deployments",
    params(("ns" = String, Path), ("fn" = String, Path), ("id" = String, Path)),
    responses((status = 202, body = Deployment), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn rebuild_deployment(
    State(state): State<Shared>,
    caller: Caller,
    Path((ns, f, id)): Path<(String, String, String)>,
) -> ApiResult<(StatusCode, Json<Deployment>)> {
    caller.require(Scope::Write)?;
    let (_, function) = function_for(&state, &caller, &ns, &f).await?;
    let mut deployment = state.store.get_deployment(&function.id, &id).await?;
    if !deployment.status.is_final() {
        return Err(ApiError::conflict(format!(
            "the deployment is already {}",
            deployment.status.as_str()
        )));
    }
    deployment.status = DeploymentStatus::Waiting;
    deployment.updated_at = gust_core::now();
    state.store.update_deployment(&deployment).await?;
    state
        .builder
        .enqueue(deployment.id.clone(), function.id.clone());
    Ok((StatusCode::ACCEPTED, Json(deployment)))
}
