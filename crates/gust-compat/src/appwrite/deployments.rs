//! Deployments and their builds. An upload is multipart (`entrypoint`, `code`, `activate`);
//! archives over 5 MiB arrive in chunks, each its own request with `Content-Range`.

use std::collections::BTreeMap;

use axum::extract::{FromRequest, Multipart, Path, Query, Request};
use axum::response::Response;
use gust_core::DeploymentStatus;
use gust_engine::ops::{CONTENT_RANGE, ChunkRange, ChunkUpload, Upload, UploadOptions};
use http::StatusCode;

use super::params::{ListParams, cursor_not_found};
use super::{Appwrite, AppwriteError, Result, models, no_content, reply};
use crate::common::Failure;

pub async fn list_deployments(
    aw: Appwrite,
    Path(function): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Result<Response> {
    let caller = aw.key()?;
    let list = ListParams::parse(&query, true)?;
    if let Some(cursor) = &list.window.cursor {
        aw.engine
            .get_deployment(caller, aw.ns(), &function, cursor)
            .await
            .map_err(|e| match e.resource {
                Some("function") => AppwriteError::from(e),
                _ => cursor_not_found(cursor),
            })?;
    }
    let (engine, ns, function) = (&aw.engine, aw.ns(), &function);
    let (deployments, total) = list
        .window
        .load(None, |query| async move {
            engine.list_deployments(caller, ns, function, &query).await
        })
        .await?;
    let items = deployments
        .iter()
        .filter(|d| {
            // Deployments have no name to search natively: match the id and entrypoint here.
            list.search.as_deref().is_none_or(|s| {
                d.id.contains(s) || d.entrypoint.as_deref().is_some_and(|e| e.contains(s))
            })
        })
        .map(|d| models::deployment(d, aw.format))
        .collect();
    Ok(reply(
        StatusCode::OK,
        models::list("deployments", total, items),
    ))
}

pub async fn get_deployment(
    aw: Appwrite,
    Path((function, id)): Path<(String, String)>,
) -> Result<Response> {
    let caller = aw.key()?;
    let deployment = aw
        .engine
        .get_deployment(caller, aw.ns(), &function, &id)
        .await?;
    Ok(reply(
        StatusCode::OK,
        models::deployment(&deployment, aw.format),
    ))
}

/// `POST .../deployments`: multipart with `entrypoint`, `code` (a `.tar.gz`) and `activate`.
/// Archives over 5 MiB come in chunks: each request carries one in `code`, its place in
/// `Content-Range`, and from the second on the deployment's id in `X-Appwrite-ID`.
pub async fn create_deployment(
    aw: Appwrite,
    Path(function): Path<String>,
    request: Request,
) -> Result<Response> {
    let sink = match open_sink(&aw, &function, request.headers()).await {
        Ok(sink) => sink,
        Err(e) => {
            // The client is still sending its chunk: let it finish, then answer.
            gust_engine::invoke::drain(request.into_body()).await;
            return Err(e);
        }
    };
    let mut sink = sink;
    let mut form = Form::default();
    if let Err(e) = receive(request, &mut sink, &mut form).await {
        sink.discard().await;
        return Err(e);
    }
    let options = match form.options() {
        Ok(options) => options,
        Err(e) => {
            sink.discard().await;
            return Err(e);
        }
    };
    let finished = match sink {
        Sink::Whole(upload) if upload.size() == 0 => {
            upload.discard().await;
            return Err(AppwriteError::new(
                StatusCode::BAD_REQUEST,
                "storage_file_empty",
                "Empty file passed to the endpoint.",
            ));
        }
        Sink::Whole(upload) => aw.engine.create_deployment(upload, options).await,
        Sink::Chunk(chunk) => aw.engine.finish_chunk(chunk, options).await,
    };
    let deployment = finished.map_err(|e| match e.field.as_deref() {
        Some("code") => AppwriteError::new(
            StatusCode::BAD_REQUEST,
            "storage_file_type_unsupported",
            format!("The code is not a .tar.gz archive: {}", e.message),
        ),
        _ => range_error(e),
    })?;
    Ok(reply(
        StatusCode::CREATED,
        models::deployment(&deployment, aw.format),
    ))
}

/// Where this request's code goes: a whole upload, or the chunk its `Content-Range` names of
/// the deployment its `X-Appwrite-ID` names (none: the first chunk).
async fn open_sink(aw: &Appwrite, function: &str, headers: &http::HeaderMap) -> Result<Sink> {
    let caller = aw.key()?;
    let Some(range) = headers.get(http::header::CONTENT_RANGE) else {
        return Ok(Sink::Whole(
            aw.engine.start_upload(caller, aw.ns(), function).await?,
        ));
    };
    let range = chunk_range(range.to_str().unwrap_or(""))?;
    let id = headers
        .get("x-appwrite-id")
        .and_then(|v| v.to_str().ok())
        .filter(|id| !id.is_empty());
    let chunk = aw
        .engine
        .start_chunk(caller, aw.ns(), function, id, range)
        .await
        .map_err(range_error)?;
    Ok(Sink::Chunk(chunk))
}

/// `bytes <start>-<end>/<total>` as the SDKs send it: they compute the last chunk's end as
/// `min(start + 5 MiB - 1, total)`, so an end equal to the total means the last byte.
fn chunk_range(value: &str) -> Result<ChunkRange> {
    let fixed = match value.trim().rsplit_once('/') {
        Some((span, total)) => match span.rsplit_once('-') {
            Some((start, end)) if end.trim() == total.trim() => {
                let last = total.trim().parse::<u64>().unwrap_or(0).saturating_sub(1);
                format!("{start}-{last}/{total}")
            }
            _ => value.to_string(),
        },
        None => value.to_string(),
    };
    ChunkRange::parse(&fixed).map_err(range_error)
}

/// Errors about a chunk's place, in Appwrite's terms.
fn range_error(e: gust_engine::Error) -> AppwriteError {
    let about_range =
        e.field.as_deref() == Some(CONTENT_RANGE) || Failure::of(&e) == Failure::BadRange;
    if about_range {
        AppwriteError::new(
            StatusCode::BAD_REQUEST,
            "storage_invalid_content_range",
            format!("Invalid Content-Range: {}", e.message),
        )
    } else {
        e.into()
    }
}

/// Where the code part goes: a whole upload, or one chunk of a chunked one.
enum Sink {
    Whole(Upload),
    Chunk(ChunkUpload),
}

impl Sink {
    async fn push(&mut self, bytes: &[u8]) -> Result<()> {
        match self {
            Self::Whole(upload) => upload.push(bytes).await.map_err(AppwriteError::from),
            Self::Chunk(chunk) => chunk.push(bytes).await.map_err(range_error),
        }
    }

    async fn discard(self) {
        match self {
            Self::Whole(upload) => upload.discard().await,
            Self::Chunk(chunk) => chunk.discard().await,
        }
    }
}

/// The form's fields besides the code, and what the code part said about itself.
#[derive(Default)]
struct Form {
    entrypoint: Option<String>,
    activate: Option<String>,
    saw_code: bool,
}

impl Form {
    fn options(self) -> Result<UploadOptions> {
        let entrypoint = self
            .entrypoint
            .filter(|e| !e.is_empty())
            .ok_or_else(|| AppwriteError::invalid("Param \"entrypoint\" is not optional."))?;
        if entrypoint.chars().count() > 1028 {
            return Err(AppwriteError::invalid(
                "Invalid entrypoint: Value must be a valid string and at most 1028 chars",
            ));
        }
        let activate = match self.activate.as_deref().map(str::trim) {
            None => {
                return Err(AppwriteError::invalid(
                    "Param \"activate\" is not optional.",
                ));
            }
            Some("true" | "1") => true,
            Some("false" | "0" | "") => false,
            Some(_) => {
                return Err(AppwriteError::invalid(
                    "Invalid activate: Value must be a valid boolean",
                ));
            }
        };
        if !self.saw_code {
            return Err(AppwriteError::invalid("Param \"code\" is not optional."));
        }
        Ok(UploadOptions {
            // The bytes say what they are: a file merely named .tar.gz is refused.
            content_type: None,
            entrypoint: Some(entrypoint),
            activate,
        })
    }
}

/// Stream the form: the code part goes to the sink as it arrives.
async fn receive(request: Request, sink: &mut Sink, form: &mut Form) -> Result<()> {
    let malformed = |e: axum::extract::multipart::MultipartError| {
        AppwriteError::invalid(format!("Invalid multipart body: {e}"))
    };
    let mut multipart = Multipart::from_request(request, &())
        .await
        .map_err(|e| AppwriteError::invalid(format!("Invalid multipart body: {e}")))?;
    while let Some(mut field) = multipart.next_field().await.map_err(malformed)? {
        match field.name().unwrap_or("") {
            "code" => {
                let name = field.file_name().unwrap_or("").to_ascii_lowercase();
                if !(name.ends_with(".tar.gz") || name.ends_with(".tgz") || name.ends_with(".gz")) {
                    return Err(AppwriteError::new(
                        StatusCode::BAD_REQUEST,
                        "storage_file_type_unsupported",
                        "The code must be a .tar.gz archive.",
                    ));
                }
                form.saw_code = true;
                while let Some(chunk) = field.chunk().await.map_err(malformed)? {
                    if let Err(e) = sink.push(&chunk).await {
                        // Let the client finish sending before it reads the refusal.
                        let rest = async { while let Ok(Some(_)) = field.chunk().await {} };
                        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), rest).await;
                        return Err(e);
                    }
                }
            }
            "entrypoint" => form.entrypoint = Some(field.text().await.map_err(malformed)?),
            "activate" => form.activate = Some(field.text().await.map_err(malformed)?),
            _ => {}
        }
    }
    Ok(())
}

/// `PATCH .../deployments/{id}`: make a ready deployment the active one; answers the function.
pub async fn activate_deployment(
    aw: Appwrite,
    Path((function, id)): Path<(String, String)>,
) -> Result<Response> {
    let caller = aw.key()?;
    aw.engine
        .activate_deployment(caller, aw.ns(), &function, &id)
        .await
        .map_err(|e| match Failure::of(&e) {
            // The engine activates only a ready build.
            Failure::Conflict => AppwriteError::new(
                StatusCode::BAD_REQUEST,
                "build_not_ready",
                format!("Build not ready: {}", e.message),
            ),
            _ => e.into(),
        })?;
    super::functions::get_function(aw, Path(function)).await
}

/// Deleting the active deployment leaves the function with none, as in Appwrite.
pub async fn delete_deployment(
    aw: Appwrite,
    Path((function, id)): Path<(String, String)>,
) -> Result<Response> {
    let caller = aw.key()?;
    aw.engine
        .delete_deployment(caller, aw.ns(), &function, &id, true)
        .await?;
    Ok(no_content())
}

/// `POST .../deployments/{id}/builds/{build}`: build a failed deployment again.
pub async fn retry_build(
    aw: Appwrite,
    Path((function, id, build)): Path<(String, String, String)>,
) -> Result<Response> {
    let caller = aw.key()?;
    let deployment = aw
        .engine
        .get_deployment(caller, aw.ns(), &function, &id)
        .await?;
    if build != deployment.id {
        return Err(AppwriteError::new(
            StatusCode::NOT_FOUND,
            "build_not_found",
            "Build not found",
        ));
    }
    if deployment.status != DeploymentStatus::Failed {
        return Err(AppwriteError::new(
            StatusCode::BAD_REQUEST,
            "build_in_progress",
            format!(
                "Build is already {}: only a failed build can be retried",
                deployment.status.as_str()
            ),
        ));
    }
    aw.engine
        .rebuild_deployment(caller, aw.ns(), &function, &id)
        .await?;
    Ok(no_content())
}

/// Property tests of `Content-Range` as the SDKs send it.
#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;
    use crate::common::testing::{config, text};

    proptest! {
        #![proptest_config(config(512))]

        #[test]
        fn any_content_range_is_a_span_of_the_upload_or_a_400(
            value in prop_oneof![
                "bytes [0-9]{1,3}-[0-9]{1,3}/[0-9]{1,3}",
                "bytes [0-9]{1,21}-[0-9]{1,21}/[0-9*]{1,21}",
                text(),
            ],
        ) {
            match chunk_range(&value) {
                Ok(range) => prop_assert!(range.start <= range.end && range.end < range.total),
                Err(e) => prop_assert_eq!(e.status, http::StatusCode::BAD_REQUEST),
            }
        }

        #[test]
        fn the_sdks_last_chunk_ends_at_the_last_byte(start in 0u64..1 << 40, len in 1u64..1 << 22) {
            let total = start + len;
            let range = chunk_range(&format!("bytes {start}-{total}/{total}")).unwrap();
            prop_assert_eq!((range.start, range.end, range.total), (start, total - 1, total));
        }
    }
}
