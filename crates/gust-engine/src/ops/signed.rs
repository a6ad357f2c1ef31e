//! Signed URLs and explicit deploys: the flow of platforms whose clients upload code without
//! their API token. A caller who may write the function asks for an upload URL bound to the
//! function and an exact length; anyone holding it sends the bytes once before it expires, and
//! they are stored as an `uploaded` deployment that changes nothing yet; a deploy then builds
//! and activates it (or, with nothing new uploaded, builds the current code again). A download
//! URL serves a deployment's code exactly as it was uploaded. Tokens are made and checked in
//! `crate::signing`.

use std::path::PathBuf;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use gust_core::{Deployment, DeploymentStatus, Function, HandlerContract, ListQuery, Scope};
use http::Method;
use http_body_util::BodyExt;

use crate::Engine;
use crate::audit::Audit;
use crate::auth::Caller;
use crate::builder;
use crate::error::{Error, Result};
use crate::jobs::events::Change;
use crate::ops::deployments::still_uploading;
use crate::ops::{Upload, UploadOptions};
use crate::signing::Grant;

/// The header an upload's length is checked against; errors about the length name it.
pub const CONTENT_LENGTH: &str = "Content-Length";

/// The code of the 409 of a deploy or download when the function has no code yet.
pub const NO_CODE: &str = "no_code";

fn no_code(message: &str) -> Error {
    Error::new(http::StatusCode::CONFLICT, NO_CODE, message)
}

/// A URL made for one kind of request without a token, relative to the front door that serves
/// it: the door puts its own base before `path_and_query` (and routes that path to
/// [`Engine::put_signed_upload`] or [`Engine::read_signed_download`] with `token`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedUrl {
    /// What the door's route passes back to the engine.
    pub token: String,
    /// `/uploads/<token>` or `/downloads/<token>`.
    pub path_and_query: String,
    pub method: Method,
    /// Headers the request must carry, as (name, value).
    pub headers: Vec<(&'static str, String)>,
    pub expires_at: DateTime<Utc>,
}

impl SignedUrl {
    /// The URL as the native API returns it, under `base` (e.g. `http://host/api/v1`).
    pub fn at(&self, base: &str) -> gust_core::SignedUrl {
        gust_core::SignedUrl {
            url: format!("{}{}", base.trim_end_matches('/'), self.path_and_query),
            method: self.method.to_string(),
            headers: self
                .headers
                .iter()
                .map(|(name, value)| (name.to_string(), value.clone()))
                .collect(),
            expires_at: self.expires_at,
        }
    }
}

impl Engine {
    /// A URL to upload new code for a function the caller may write: one `PUT` of exactly
    /// `content_length` bytes (1 to the server's upload limit; 400 on `content_length`
    /// otherwise), without a token, before it expires.
    pub async fn create_upload_url(
        &self,
        caller: &Caller,
        ns: &str,
        f: &str,
        content_length: u64,
    ) -> Result<SignedUrl> {
        caller.require(Scope::Write)?;
        let (_, function) = self.function_for(caller, ns, f).await?;
        let limit = self.upload_limit();
        if content_length == 0 || content_length > limit {
            return Err(Error::invalid(
                "content_length",
                format!(
                    "must be from 1 to {limit} bytes (this server's upload limit), not \
                     {content_length}"
                ),
            ));
        }
        let expires_at = self.signed_url_expiry();
        let token = self.signer.sign(
            &function.id,
            &Grant::Upload {
                length: content_length,
            },
            expires_at,
        );
        Ok(SignedUrl {
            path_and_query: format!("/uploads/{token}"),
            token,
            method: Method::PUT,
            headers: vec![
                ("Content-Type", "application/octet-stream".into()),
                (CONTENT_LENGTH, content_length.to_string()),
            ],
            expires_at,
        })
    }

    /// Receive the body sent to an upload URL, `content_length` being the length the request
    /// declared (if it did). The token must be this server's, unexpired and unused (403
    /// otherwise); the body exactly the length it was signed for (400 on `Content-Length`,
    /// nothing stored). The bytes become a deployment `uploaded`: neither built nor active, and
    /// the function's state is left alone until [`Engine::deploy_function`]. A refused upload
    /// leaves the URL unused, so the client may send it again.
    pub async fn put_signed_upload<B>(
        &self,
        token: &str,
        content_length: Option<u64>,
        mut body: B,
    ) -> Result<Deployment>
    where
        B: http_body::Body<Data = Bytes> + Unpin,
        B::Error: std::fmt::Display,
    {
        // The signed URL is the credential: no token to name, and the function's namespace
        // is known only once the token is read.
        let audit = Audit::new(gust_core::AuditAction::Deploy, "deployment");
        self.audited_as(None, None, &audit, async {
            let received = self
                .receive_signed_upload(token, content_length, &mut body)
                .await;
            if received.is_err() {
                // Read what is left, so the client gets the answer rather than a reset.
                crate::invoke::drain(body).await;
            }
            received
        })
        .await
    }

    async fn receive_signed_upload<B>(
        &self,
        token: &str,
        content_length: Option<u64>,
        body: &mut B,
    ) -> Result<Deployment>
    where
        B: http_body::Body<Data = Bytes> + Unpin,
        B::Error: std::fmt::Display,
    {
        let now = gust_core::now();
        let claims = self.signer.verify(token, now)?;
        let Grant::Upload { length } = claims.grant else {
            return Err(Error::forbidden(
                "this URL is for downloading code, not for uploading it",
            ));
        };
        if let Some(declared) = content_length
            && declared != length
        {
            return Err(Error::invalid(
                CONTENT_LENGTH,
                format!("the URL was signed for a body of exactly {length} bytes, not {declared}"),
            ));
        }
        let function = self.store.get_function_by_id(&claims.function_id).await?;
        let single_use = UploadUse::take(&self.store, &claims, now).await?;
        let mut upload = Upload {
            caller: None,
            function,
            writer: self.blobs.writer().await.map_err(Error::internal)?,
            head: Vec::new(),
            limit: length,
        };
        while let Some(frame) = body.frame().await {
            let pushed = match frame {
                Err(e) => Err(Error::bad_request(format!(
                    "the upload was interrupted: {e}"
                ))),
                Ok(frame) => match frame.data_ref() {
                    Some(data) if upload.size() + data.len() as u64 > length => {
                        Err(Error::invalid(
                            CONTENT_LENGTH,
                            format!(
                                "the body is longer than the {length} bytes the URL was signed for"
                            ),
                        ))
                    }
                    Some(data) => upload.push(data).await,
                    None => Ok(()),
                },
            };
            if let Err(e) = pushed {
                upload.discard().await;
                return Err(e);
            }
        }
        if upload.size() != length {
            let size = upload.size();
            upload.discard().await;
            return Err(Error::invalid(
                CONTENT_LENGTH,
                format!("the body holds {size} bytes; the URL was signed for exactly {length}"),
            ));
        }
        let deployment = self
            .store_upload(upload, UploadOptions::default(), DeploymentStatus::Uploaded)
            .await?;
        single_use.consume();
        Ok(deployment)
    }

    /// Build the function's newest deployment when it is `uploaded` and activate it once it
    /// builds, as any upload with `activate` goes (the function `building` while it has nothing
    /// active, then `ready`, or `error` with the build's message). With no newer upload, build
    /// the active deployment's code again (else the latest deployment's) as a new deployment
    /// and activate that. 409 when the function has no code at all.
    pub async fn deploy_function(&self, caller: &Caller, ns: &str, f: &str) -> Result<Deployment> {
        let audit = Audit::new(gust_core::AuditAction::Deploy, "deployment").within(ns);
        self.audited(caller, &audit, async {
            caller.require(Scope::Write)?;
            let (_, function) = self.function_for(caller, ns, f).await?;
            audit.namespace_is(&function.namespace_id);
            let newest_first = self
                .store
                .list_deployments(
                    &function.id,
                    &ListQuery {
                        limit: Some(gust_core::list::MAX_LIMIT),
                        ..Default::default()
                    },
                )
                .await?
                .items;
            // A chunked upload still arriving is no candidate either way.
            let mut complete = newest_first
                .into_iter()
                .filter(|d| d.status != DeploymentStatus::Uploading);
            let newest = complete.next();
            if let Some(newest) = &newest
                && newest.status == DeploymentStatus::Uploaded
            {
                // One deploy at a time takes it: a second one then finds it queued, and redeploys.
                let _lock = self.uploads.lock(&newest.id).await;
                let mut deployment = self.store.get_deployment(&function.id, &newest.id).await?;
                if deployment.status == DeploymentStatus::Uploaded {
                    deployment.status = DeploymentStatus::Waiting;
                    deployment.activate_when_ready = true;
                    deployment.updated_at = gust_core::now();
                    self.store.update_deployment(&deployment).await?;
                    self.builder
                        .enqueue(deployment.id.clone(), function.id.clone());
                    builder::emit(
                        &self.events,
                        &function.namespace_id,
                        &deployment,
                        Change::Update,
                    );
                    return Ok(deployment);
                }
            }
            let source = match &function.active_deployment {
                Some(id) => self.store.get_deployment(&function.id, id).await?,
                None => newest.ok_or_else(|| {
                    no_code(
                        "the function has no code to deploy; upload some first (…/upload-url or \
                     …/deployments)",
                    )
                })?,
            };
            self.redeploy(&function, &source).await
        })
        .await
    }

    /// A new deployment of `source`'s code (the same blob), queued to build and activate.
    async fn redeploy(&self, function: &Function, source: &Deployment) -> Result<Deployment> {
        // A `gust`- or `qinling`-contract process build records the handler it loaded as the
        // entrypoint; the handler comes from the function, so it is not carried over.
        let entrypoint =
            if function.runtime.is_process() && function.contract != HandlerContract::Appwrite {
                None
            } else {
                source.entrypoint.clone()
            };
        let now = gust_core::now();
        let deployment = Deployment {
            id: gust_core::new_id(),
            function_id: function.id.clone(),
            sha256: source.sha256.clone(),
            md5: source.md5.clone(),
            size: source.size,
            received: source.size,
            format: source.format,
            entrypoint,
            wasm_sha256: None,
            built_sha256: None,
            status: DeploymentStatus::Waiting,
            build_log: String::new(),
            build_duration_ms: None,
            error_message: None,
            active: false,
            activate_when_ready: true,
            created_at: now,
            updated_at: now,
        };
        self.store.create_deployment(&deployment).await?;
        self.builder
            .enqueue(deployment.id.clone(), function.id.clone());
        builder::emit(
            &self.events,
            &function.namespace_id,
            &deployment,
            Change::Create,
        );
        Ok(deployment)
    }

    /// A URL to read a deployment's code as it was uploaded, without a token, until it
    /// expires (any number of times). `deployment`: by default the active one, else the latest
    /// one with its code complete; 409 when there is none.
    pub async fn create_download_url(
        &self,
        caller: &Caller,
        ns: &str,
        f: &str,
        deployment: Option<&str>,
    ) -> Result<SignedUrl> {
        caller.require(Scope::Read)?;
        let (_, function) = self.function_for(caller, ns, f).await?;
        let deployment = match deployment.or(function.active_deployment.as_deref()) {
            Some(id) => self.store.get_deployment(&function.id, id).await?,
            None => self
                .store
                .list_deployments(
                    &function.id,
                    &ListQuery {
                        limit: Some(gust_core::list::MAX_LIMIT),
                        ..Default::default()
                    },
                )
                .await?
                .items
                .into_iter()
                .find(|d| d.status != DeploymentStatus::Uploading)
                .ok_or_else(|| no_code("the function has no code to download"))?,
        };
        if deployment.status == DeploymentStatus::Uploading {
            return Err(still_uploading(&deployment));
        }
        let expires_at = self.signed_url_expiry();
        let token = self.signer.sign(
            &function.id,
            &Grant::Download {
                deployment_id: deployment.id.clone(),
            },
            expires_at,
        );
        Ok(SignedUrl {
            path_and_query: format!("/downloads/{token}"),
            token,
            method: Method::GET,
            headers: Vec::new(),
            expires_at,
        })
    }

    /// The deployment a download token names and the file holding its code, byte for byte as
    /// uploaded; 403 when the token is not this server's or has expired, 404 when the
    /// deployment is gone.
    pub async fn read_signed_download(&self, token: &str) -> Result<(Deployment, PathBuf)> {
        let claims = self.signer.verify(token, gust_core::now())?;
        let Grant::Download { deployment_id } = claims.grant else {
            return Err(Error::forbidden(
                "this URL is for uploading code, not for downloading it",
            ));
        };
        let deployment = self
            .store
            .get_deployment(&claims.function_id, &deployment_id)
            .await?;
        let path = self.blobs.local(&deployment.sha256).await?;
        Ok((deployment, path))
    }

    fn signed_url_expiry(&self) -> DateTime<Utc> {
        chrono::Duration::from_std(self.config.signed_url_ttl)
            .ok()
            .and_then(|ttl| gust_core::now().checked_add_signed(ttl))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

/// The single use of an upload token, taken by one request (in the store, so every server
/// sharing it sees it). Dropped without [`UploadUse::consume`], the use is given back: the
/// upload failed and stored nothing, so the client may try the URL again.
struct UploadUse {
    store: std::sync::Arc<dyn gust_store::Store>,
    nonce: String,
    consumed: bool,
}

impl UploadUse {
    /// 403 when the token was used, or is in use now.
    async fn take(
        store: &std::sync::Arc<dyn gust_store::Store>,
        claims: &crate::signing::Claims,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Self> {
        if !store
            .use_upload_token(&claims.nonce, claims.expires_at, now)
            .await?
        {
            return Err(Error::forbidden(
                "this upload URL was already used; ask for a new one",
            ));
        }
        Ok(Self {
            store: store.clone(),
            nonce: claims.nonce.clone(),
            consumed: false,
        })
    }

    /// The upload succeeded: the token stays used until it expires.
    fn consume(mut self) {
        self.consumed = true;
    }
}

impl Drop for UploadUse {
    fn drop(&mut self) {
        if self.consumed {
            return;
        }
        let (store, nonce) = (self.store.clone(), std::mem::take(&mut self.nonce));
        tokio::spawn(async move {
            if let Err(e) = store.release_upload_token(&nonce).await {
                tracing::warn!(error = %e, "giving back a failed upload's URL failed; it stays used");
            }
        });
    }
}
