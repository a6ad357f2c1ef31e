//! Signed URLs and deploys: `POST …/functions/{fn}/upload-url` and `…/download-url` make them,
//! `PUT /api/v1/uploads/{token}` and `GET /api/v1/downloads/{token}` take them without a bearer
//! token (the token in the path is the credential), and `POST …/functions/{fn}/deploy` builds
//! and activates what was uploaded, or the current code again.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use gust_core::{Deployment, SignedUrl};
use gust_engine::Caller;
use gust_engine::ops::CONTENT_LENGTH;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::ApiState;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::routes::deployments::{self, DeploymentPackage};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadUrlRequest {
    /// The exact size of the package that will be sent, in bytes (1 to the server's upload
    /// limit).
    pub content_length: u64,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DownloadUrlRequest {
    /// The deployment whose code to serve (default: the active one, else the latest one).
    pub deployment: Option<String>,
}

/// Where the URLs this API hands out point: the configured public URL, else the host the
/// request was sent to (what reached this server will reach it again), else the listener.
fn api_base(state: &ApiState, headers: &HeaderMap) -> String {
    let base = match (&state.config.public_url, headers.get(header::HOST)) {
        (Some(public), _) => public.trim_end_matches('/').to_string(),
        (None, Some(host)) if host.to_str().is_ok_and(|h| !h.is_empty()) => {
            format!("http://{}", host.to_str().unwrap_or_default())
        }
        _ => state.base_url().to_string(),
    };
    format!("{base}/api/v1")
}

#[utoipa::path(post, path = "/api/v1/namespaces/{ns}/functions/{fn}/upload-url", tag = "deployments",
    params(("ns" = String, Path, description = "name or id"), ("fn" = String, Path, description = "name or id")),
    request_body = UploadUrlRequest,
    responses((status = 200, body = SignedUrl, description = "A URL to `PUT` the package to once, without a token, with the headers given, before `expires_at`. What it receives waits as an `uploaded` deployment until `POST …/deploy`."),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create_upload_url(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f)): ApiPath<(String, String)>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<UploadUrlRequest>,
) -> ApiResult<Json<SignedUrl>> {
    let url = state
        .create_upload_url(&caller, &ns, &f, request.content_length)
        .await?;
    Ok(Json(url.at(&api_base(&state, &headers))))
}

#[utoipa::path(post, path = "/api/v1/namespaces/{ns}/functions/{fn}/download-url", tag = "deployments",
    params(("ns" = String, Path, description = "name or id"), ("fn" = String, Path, description = "name or id")),
    request_body = DownloadUrlRequest,
    responses((status = 200, body = SignedUrl, description = "A URL that serves the deployment's code exactly as uploaded, without a token, until `expires_at`."),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_download_url(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f)): ApiPath<(String, String)>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<DownloadUrlRequest>,
) -> ApiResult<Json<SignedUrl>> {
    let url = state
        .create_download_url(&caller, &ns, &f, request.deployment.as_deref())
        .await?;
    Ok(Json(url.at(&api_base(&state, &headers))))
}

#[utoipa::path(post, path = "/api/v1/namespaces/{ns}/functions/{fn}/deploy", tag = "deployments",
    params(("ns" = String, Path, description = "name or id"), ("fn" = String, Path, description = "name or id")),
    responses((status = 202, body = Deployment, description = "The deployment queued to build and become active: the newest one when it is `uploaded`, else a new deployment of the active (or latest) code."),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "The function has no code to deploy.")))]
pub async fn deploy_function(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f)): ApiPath<(String, String)>,
) -> ApiResult<(StatusCode, Json<Deployment>)> {
    let deployment = state.deploy_function(&caller, &ns, &f).await?;
    Ok((StatusCode::ACCEPTED, Json(deployment)))
}

#[utoipa::path(put, path = "/api/v1/uploads/{token}", tag = "deployments",
    params(("token" = String, Path, description = "from `…/upload-url`")),
    request_body(description = "The package: a `.zip`, `.tar.gz` or `.wasm`, raw, of exactly the `content_length` the URL was made for (the request's `Content-Length`).", content((DeploymentPackage = "application/octet-stream"))),
    security(()),
    responses((status = 200, body = Deployment, description = "Stored as a deployment `uploaded`; `POST …/deploy` builds and activates it."),
        (status = 400, body = ErrorBody, description = "The body is not the length the URL was made for; nothing is stored."),
        (status = 403, body = ErrorBody, description = "The URL was altered, has expired, or was already used.")))]
pub async fn put_signed_upload(
    State(state): State<ApiState>,
    ApiPath(token): ApiPath<String>,
    request: Request,
) -> ApiResult<Json<Deployment>> {
    let declared = match request.headers().get(header::CONTENT_LENGTH) {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| ApiError::invalid(CONTENT_LENGTH, "is not a number of bytes"))?,
        ),
    };
    let deployment = state
        .put_signed_upload(&token, declared, request.into_body())
        .await?;
    Ok(Json(deployment))
}

#[utoipa::path(get, path = "/api/v1/downloads/{token}", tag = "deployments",
    params(("token" = String, Path, description = "from `…/download-url`")),
    security(()),
    responses((status = 200, description = "The deployment's code, byte for byte as uploaded, typed by the package's format",
            content((DeploymentPackage = "application/wasm"), (DeploymentPackage = "application/gzip"), (DeploymentPackage = "application/zip"))),
        (status = 403, body = ErrorBody, description = "The URL was altered or has expired."),
        (status = 404, body = ErrorBody)))]
pub async fn get_signed_download(
    State(state): State<ApiState>,
    ApiPath(token): ApiPath<String>,
) -> ApiResult<Response> {
    let (deployment, path) = state.read_signed_download(&token).await?;
    deployments::code_response(&deployment, path).await
}
