//! `/api/v1/namespaces/{ns}/functions/{fn}/deployments[/{id}[/code|/activate|/rebuild]]`.
//! Uploads stream to the blob store (hashed on the way, size-capped), then a build is queued.
//! An upload may also come in chunks (`Content-Range`): the first one to the collection,
//! creating the deployment, the next ones to `PUT …/{id}/code`.

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use gust_core::{Deployment, ListQuery, PackageFormat, Page};
use gust_engine::Caller;
use gust_engine::ops::{
    CONTENT_RANGE, ChunkRange, ChunkUpload, Upload, UploadOptions, upload_too_large,
};
use http_body_util::BodyExt;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::ApiState;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiPath, ApiQuery};

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// Make this deployment active once it builds (the first deployment always is).
    pub activate: Option<bool>,
    /// The file in the package to run (default: the only `.wasm` in it; for a function of
    /// the `appwrite` contract, `main.py` or `index.js`).
    pub entrypoint: Option<String>,
}

/// A package as the raw request body: a `.wasm` module, a `.tar.gz` or a `.zip`.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct DeploymentPackage(#[allow(dead_code)] Vec<u8>);

/// An upload as multipart/form-data: the package in `code`, the options beside it.
// Only describes the body: `receive_multipart` reads it part by part, as it streams.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DeploymentUploadForm {
    /// The package: a `.wasm`, `.tar.gz` or `.zip`, told apart by the part's content type or
    /// file name.
    #[schema(value_type = String, format = Binary)]
    code: Vec<u8>,
    /// The file in the package to run; overrides the query parameter.
    entrypoint: Option<String>,
    /// Make this deployment active once it builds; overrides the query parameter.
    activate: Option<bool>,
}

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/functions/{fn}/deployments", tag = "deployments",
    params(("ns" = String, Path), ("fn" = String, Path), ListQuery),
    responses((status = 200, body = Page<Deployment>), (status = 404, body = ErrorBody)))]
pub async fn list_deployments(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Json<Page<Deployment>>> {
    Ok(Json(
        state.list_deployments(&caller, &ns, &f, &query).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/namespaces/{ns}/functions/{fn}/deployments", tag = "deployments",
    params(("ns" = String, Path), ("fn" = String, Path), UploadQuery,
        ("Content-Range" = Option<String>, Header, pattern = r"^bytes [0-9]+-[0-9]+/[0-9]+$", description = "`bytes <start>-<end>/<total>`: the body is the first chunk of an upload sent in pieces (start 0, end inclusive, total the whole upload's size). The deployment is created `uploading` with `received` bytes; send the next chunks to `PUT …/deployments/{id}/code`. The format, `entrypoint` and `activate` are taken from this chunk.")),
    request_body(description = "The code: a raw `.wasm` (application/wasm), `.tar.gz` (application/gzip) or `.zip` (application/zip) body, or multipart/form-data with a `code` part (and optional `entrypoint`, `activate` parts). With `Content-Range`, the first chunk of it.",
        content((DeploymentPackage = "application/octet-stream"), (DeploymentUploadForm = "multipart/form-data"))),
    responses((status = 201, body = Deployment), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn create_deployment(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<UploadQuery>,
    request: Request,
) -> ApiResult<(StatusCode, Json<Deployment>)> {
    let mut options = UploadOptions {
        content_type: None,
        entrypoint: query.entrypoint,
        activate: query.activate.unwrap_or(false),
    };
    if let Some(range) = content_range(&request) {
        let deployment =
            receive_chunk(&state, &caller, (&ns, &f, None), range, request, options).await?;
        return Ok((StatusCode::CREATED, Json(deployment)));
    }
    let mut upload = state.start_upload(&caller, &ns, &f).await?;
    let limit = state.upload_limit();
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        upload.discard().await;
        gust_engine::invoke::drain(request.into_body()).await;
        return Err(upload_too_large(limit).into());
    }
    let received = if is_multipart(&request) {
        receive_multipart(&state, request, Sink::Whole(&mut upload), &mut options).await
    } else {
        options.content_type = content_type(&request);
        receive_raw(request.into_body(), Sink::Whole(&mut upload)).await
    };
    if let Err(e) = received {
        upload.discard().await;
        return Err(e);
    }
    let deployment = state.create_deployment(upload, options).await?;
    Ok((StatusCode::CREATED, Json(deployment)))
}

#[utoipa::path(put, path = "/api/v1/namespaces/{ns}/functions/{fn}/deployments/{id}/code", tag = "deployments",
    params(("ns" = String, Path), ("fn" = String, Path), ("id" = String, Path),
        ("Content-Range" = String, Header, pattern = r"^bytes [0-9]+-[0-9]+/[0-9]+$", description = "`bytes <start>-<end>/<total>`: where this chunk goes (end inclusive; total as the first chunk gave it). `start` must be the deployment's `received`; a chunk the deployment already holds is accepted again without change (a retry after a lost answer); any other start is refused with 416, the message naming the offset expected. The chunk that completes the upload queues the build (`waiting`).")),
    request_body(description = "The chunk's bytes: a raw body, or multipart/form-data with a `code` part (other parts are ignored: the options came with the first chunk).",
        content((DeploymentPackage = "application/octet-stream"), (DeploymentUploadForm = "multipart/form-data"))),
    responses((status = 200, body = Deployment), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 416, body = ErrorBody)))]
pub async fn upload_deployment_chunk(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f, id)): ApiPath<(String, String, String)>,
    request: Request,
) -> ApiResult<Json<Deployment>> {
    let range = content_range(&request).unwrap_or_else(|| {
        Err(gust_engine::Error::invalid(
            CONTENT_RANGE,
            "is required: `bytes <start>-<end>/<total>`",
        ))
    });
    let options = UploadOptions::default();
    let deployment = receive_chunk(
        &state,
        &caller,
        (&ns, &f, Some(&id)),
        range,
        request,
        options,
    )
    .await?;
    Ok(Json(deployment))
}

/// The `Content-Range` of an upload sent in chunks, if the request has one.
fn content_range(request: &Request) -> Option<gust_engine::Result<ChunkRange>> {
    let value = request.headers().get(header::CONTENT_RANGE)?;
    Some(match value.to_str() {
        Ok(text) => ChunkRange::parse(text),
        Err(_) => Err(gust_engine::Error::invalid(
            CONTENT_RANGE,
            "must be visible ASCII",
        )),
    })
}

fn is_multipart(request: &Request) -> bool {
    content_type(request).is_some_and(|t| t.starts_with("multipart/form-data"))
}

fn content_type(request: &Request) -> Option<String> {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// One chunk into the upload of deployment `id` of `f` (a new upload when `id` is None).
async fn receive_chunk(
    state: &ApiState,
    caller: &Caller,
    (ns, f, id): (&str, &str, Option<&str>),
    range: gust_engine::Result<ChunkRange>,
    request: Request,
    mut options: UploadOptions,
) -> ApiResult<Deployment> {
    let started = match range {
        Ok(range) => state.start_chunk(caller, ns, f, id, range).await,
        Err(e) => Err(e),
    };
    let mut chunk = match started {
        Ok(chunk) => chunk,
        Err(e) => {
            // A client sending a large chunk reads why it was refused, not a reset.
            gust_engine::invoke::drain(request.into_body()).await;
            return Err(e.into());
        }
    };
    let received = if is_multipart(&request) {
        receive_multipart(state, request, Sink::Chunk(&mut chunk), &mut options).await
    } else {
        options.content_type = content_type(&request);
        receive_raw(request.into_body(), Sink::Chunk(&mut chunk)).await
    };
    if let Err(e) = received {
        chunk.discard().await;
        return Err(e);
    }
    Ok(state.finish_chunk(chunk, options).await?)
}

/// Where the bytes of a body go: a whole upload, or one chunk of one.
enum Sink<'a> {
    Whole(&'a mut Upload),
    Chunk(&'a mut ChunkUpload),
}

impl Sink<'_> {
    async fn push(&mut self, bytes: &[u8]) -> gust_engine::Result<()> {
        match self {
            Sink::Whole(upload) => upload.push(bytes).await,
            Sink::Chunk(chunk) => chunk.push(bytes).await,
        }
    }
}

async fn receive_raw(mut body: Body, mut sink: Sink<'_>) -> ApiResult<()> {
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| ApiError::bad_request(format!("the upload was interrupted: {e}")))?;
        if let Some(data) = frame.data_ref()
            && let Err(e) = sink.push(data).await
        {
            gust_engine::invoke::drain(body).await;
            return Err(e.into());
        }
    }
    Ok(())
}

async fn receive_multipart(
    state: &ApiState,
    request: Request,
    mut sink: Sink<'_>,
    options: &mut UploadOptions,
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
                options.content_type = field
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
                    sink.push(&chunk).await?;
                }
            }
            "entrypoint" => {
                options.entrypoint =
                    Some(field.text().await.map_err(bad)?).filter(|e| !e.is_empty())
            }
            "activate" => {
                let text = field.text().await.map_err(bad)?;
                options.activate = match text.trim() {
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
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f, id)): ApiPath<(String, String, String)>,
) -> ApiResult<Json<Deployment>> {
    Ok(Json(state.get_deployment(&caller, &ns, &f, &id).await?))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// Also delete the active deployment: the function is left with none (409 without it).
    pub deactivate: Option<bool>,
}

#[utoipa::path(delete, path = "/api/v1/namespaces/{ns}/functions/{fn}/deployments/{id}", tag = "deployments",
    params(("ns" = String, Path), ("fn" = String, Path), ("id" = String, Path), DeleteQuery),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_deployment(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f, id)): ApiPath<(String, String, String)>,
    ApiQuery(query): ApiQuery<DeleteQuery>,
) -> ApiResult<StatusCode> {
    let deactivate = query.deactivate.unwrap_or(false);
    state
        .delete_deployment(&caller, &ns, &f, &id, deactivate)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/functions/{fn}/deployments/{id}/code", tag = "deployments",
    params(("ns" = String, Path), ("fn" = String, Path), ("id" = String, Path)),
    responses((status = 200, description = "The uploaded bytes, unchanged, typed by the package's format",
            content((DeploymentPackage = "application/wasm"), (DeploymentPackage = "application/gzip"), (DeploymentPackage = "application/zip"))),
        (status = 404, body = ErrorBody)))]
pub async fn get_deployment_code(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f, id)): ApiPath<(String, String, String)>,
) -> ApiResult<Response> {
    let (deployment, path) = state.deployment_code(&caller, &ns, &f, &id).await?;
    code_response(&deployment, path).await
}

/// A deployment's code as a download: the file streamed, with its type, length and a name.
pub(crate) async fn code_response(
    deployment: &Deployment,
    path: std::path::PathBuf,
) -> ApiResult<Response> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| ApiError(gust_engine::Error::internal(e)))?;
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
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f, id)): ApiPath<(String, String, String)>,
) -> ApiResult<Json<Deployment>> {
    Ok(Json(
        state.activate_deployment(&caller, &ns, &f, &id).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/namespaces/{ns}/functions/{fn}/deployments/{id}/rebuild", tag = "deployments",
    params(("ns" = String, Path), ("fn" = String, Path), ("id" = String, Path)),
    responses((status = 202, body = Deployment), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn rebuild_deployment(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f, id)): ApiPath<(String, String, String)>,
) -> ApiResult<(StatusCode, Json<Deployment>)> {
    let deployment = state.rebuild_deployment(&caller, &ns, &f, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(deployment)))
}
