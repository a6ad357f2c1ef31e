//! Deployments: uploads streamed to the blob store (hashed on the way, size-capped), then a
//! build; activation, rebuilds, deletion and the uploaded code. Uploads through signed URLs and
//! explicit deploys are in `signed`.

use std::path::PathBuf;
use std::sync::Arc;

use gust_core::{Deployment, DeploymentStatus, Function, ListQuery, PackageFormat, Page, Scope};
use gust_store::BlobWriter;

use crate::Engine;
use crate::audit::Audit;
use crate::auth::Caller;
use crate::builder;
use crate::error::{Error, Result};
use crate::jobs::events::Change;

/// An upload on its way to becoming a deployment of `function`: bytes go to a blob as they
/// arrive, bounded by the server's upload limit. Finish it with [`Engine::create_deployment`],
/// or [`Upload::discard`] it.
pub struct Upload {
    pub(crate) function: Function,
    /// Who uploads (none for a signed URL's upload), for the audit log.
    pub(crate) caller: Option<Caller>,
    pub(crate) writer: BlobWriter,
    /// The first bytes, to recognise the format.
    pub(crate) head: Vec<u8>,
    pub(crate) limit: u64,
}

/// What a deployment is made with, besides its code.
#[derive(Debug, Default, Clone)]
pub struct UploadOptions {
    /// The content type the code arrived with (or one guessed from its file name).
    pub content_type: Option<String>,
    /// The file in the package to run (default: the only `.wasm` in it).
    pub entrypoint: Option<String>,
    /// Make it active once it builds (the first deployment always is).
    pub activate: bool,
}

impl Upload {
    /// Append bytes; 413 once the upload passes the limit.
    pub async fn push(&mut self, bytes: &[u8]) -> Result<()> {
        if self.writer.size() + bytes.len() as u64 > self.limit {
            return Err(upload_too_large(self.limit));
        }
        if self.head.len() < 8 {
            self.head
                .extend_from_slice(&bytes[..bytes.len().min(8 - self.head.len())]);
        }
        self.writer.write(bytes).await.map_err(Error::internal)
    }

    /// Bytes received so far.
    pub fn size(&self) -> u64 {
        self.writer.size()
    }

    pub fn function(&self) -> &Function {
        &self.function
    }

    /// Drop what was received.
    pub async fn discard(self) {
        self.writer.discard().await;
    }
}

/// The 413 of an upload over `limit` bytes.
pub fn upload_too_large(limit: u64) -> Error {
    Error::too_large(format!(
        "the upload exceeds the limit of {} MiB",
        limit / (1024 * 1024)
    ))
}

/// The 409 of an operation that needs the whole upload.
pub(crate) fn still_uploading(deployment: &Deployment) -> Error {
    Error::conflict(format!(
        "the deployment is still uploading: {} of {} bytes received",
        deployment.received, deployment.size
    ))
}

impl Engine {
    /// Largest upload this server takes, in bytes.
    pub fn upload_limit(&self) -> u64 {
        self.config.max_upload_bytes
    }

    pub async fn list_deployments(
        &self,
        caller: &Caller,
        ns: &str,
        f: &str,
        query: &ListQuery,
    ) -> Result<Page<Deployment>> {
        caller.require(Scope::Read)?;
        query.validate()?;
        let (_, function) = self.function_for(caller, ns, f).await?;
        Ok(self.store.list_deployments(&function.id, query).await?)
    }

    /// Start an upload of new code for a function the caller may write.
    pub async fn start_upload(&self, caller: &Caller, ns: &str, f: &str) -> Result<Upload> {
        let audit = Audit::new(gust_core::AuditAction::Deploy, "deployment").within(ns);
        self.audited_refusal(caller, &audit, async {
            caller.require(Scope::Write)?;
            let (_, function) = self.function_for(caller, ns, f).await?;
            Ok(Upload {
                function,
                caller: Some(caller.clone()),
                writer: self.blobs.writer().await.map_err(Error::internal)?,
                head: Vec::new(),
                limit: self.upload_limit(),
            })
        })
        .await
    }

    /// Store a finished upload as a deployment and queue its build. Nothing is kept when the
    /// upload is refused.
    pub async fn create_deployment(
        &self,
        upload: Upload,
        options: UploadOptions,
    ) -> Result<Deployment> {
        let audit = Audit::new(gust_core::AuditAction::Deploy, "deployment");
        audit.namespace_is(&upload.function.namespace_id);
        let caller = upload.caller.clone();
        self.audited_as(
            caller.as_ref(),
            None,
            &audit,
            self.store_upload(upload, options, DeploymentStatus::Waiting),
        )
        .await
    }

    /// Store a finished upload as a deployment in `status`: `waiting` queues its build,
    /// `uploaded` leaves it for a deploy. Nothing is kept when the upload is refused.
    pub(crate) async fn store_upload(
        &self,
        upload: Upload,
        options: UploadOptions,
        status: DeploymentStatus,
    ) -> Result<Deployment> {
        if upload.size() == 0 {
            upload.discard().await;
            return Err(Error::invalid("code", "the upload is empty"));
        }
        let Some(format) = PackageFormat::detect(options.content_type.as_deref(), &upload.head)
        else {
            upload.discard().await;
            return Err(Error::invalid(
                "code",
                "is not a .wasm component, a .tar.gz or a .zip",
            ));
        };
        if let Some(e) = &options.entrypoint
            && let Err(e) = gust_core::validate::text("entrypoint", e, 512)
        {
            upload.discard().await;
            return Err(e.into());
        }
        let function = upload.function;
        let stored = upload.writer.commit().await.map_err(Error::internal)?;
        let size = stored.size;
        let now = gust_core::now();
        let deployment = Deployment {
            id: gust_core::new_id(),
            function_id: function.id.clone(),
            sha256: stored.sha256,
            md5: Some(stored.md5),
            size,
            received: size,
            format,
            entrypoint: options.entrypoint,
            wasm_sha256: None,
            built_sha256: None,
            status,
            build_log: String::new(),
            build_duration_ms: None,
            error_message: None,
            active: false,
            activate_when_ready: options.activate,
            created_at: now,
            updated_at: now,
        };
        self.store.create_deployment(&deployment).await?;
        if status == DeploymentStatus::Waiting {
            self.builder
                .enqueue(deployment.id.clone(), function.id.clone());
        }
        builder::emit(
            &self.events,
            &function.namespace_id,
            &deployment,
            Change::Create,
        );
        Ok(deployment)
    }

    pub async fn get_deployment(
        &self,
        caller: &Caller,
        ns: &str,
        f: &str,
        id: &str,
    ) -> Result<Deployment> {
        caller.require(Scope::Read)?;
        let (_, function) = self.function_for(caller, ns, f).await?;
        Ok(self.store.get_deployment(&function.id, id).await?)
    }

    /// A deployment and the file holding its code as uploaded.
    pub async fn deployment_code(
        &self,
        caller: &Caller,
        ns: &str,
        f: &str,
        id: &str,
    ) -> Result<(Deployment, PathBuf)> {
        let deployment = self.get_deployment(caller, ns, f, id).await?;
        if deployment.status == DeploymentStatus::Uploading {
            return Err(still_uploading(&deployment));
        }
        let path = self.blobs.local(&deployment.sha256).await?;
        Ok((deployment, path))
    }

    /// Delete a deployment. The active one only with `deactivate`: the function then has no
    /// active deployment (and nothing to run) until another is activated. Never one a version
    /// runs (409 naming the version).
    pub async fn delete_deployment(
        &self,
        caller: &Caller,
        ns: &str,
        f: &str,
        id: &str,
        deactivate: bool,
    ) -> Result<()> {
        let audit = Audit::new(gust_core::AuditAction::Delete, "deployment")
            .of(id)
            .within(ns);
        self.audited(caller, &audit, async {
            caller.require(Scope::Write)?;
            let (_, mut function) = self.function_for(caller, ns, f).await?;
            audit.namespace_is(&function.namespace_id);
            let mut deployment = self.store.get_deployment(&function.id, id).await?;
            self.refuse_if_versioned(&function, &deployment.id).await?;
            // Not while a chunk of it is being written: the chunk would land in a deleted file.
            let _lock = match deployment.status {
                DeploymentStatus::Uploading => {
                    let lock = self.uploads.lock(&deployment.id).await;
                    deployment = self.store.get_deployment(&function.id, id).await?;
                    Some(lock)
                }
                _ => None,
            };
            if function.active_deployment.as_deref() == Some(deployment.id.as_str()) {
                if !deactivate {
                    return Err(Error::conflict(
                        "this deployment is active; activate another one before deleting it, or \
                     delete it with `deactivate=true`",
                    ));
                }
                // Stop serving it before the store forgets it: a request from now on is told the
                // function has nothing deployed.
                self.live.remove(&function.id);
                function.active_deployment = None;
                function.status = gust_core::FunctionStatus::Created;
                function.updated_at = gust_core::now();
                self.store.update_function_state(&function).await?;
            }
            self.store.delete_deployment(&deployment.id).await?;
            self.release_deployment(&deployment).await;
            builder::emit(
                &self.events,
                &function.namespace_id,
                &deployment,
                Change::Delete,
            );
            Ok(())
        })
        .await
    }

    /// Free what a deleted deployment held: the bytes of an unfinished upload, its unpacked
    /// code, and blobs and artifacts no other deployment uses.
    pub(crate) async fn release_deployment(&self, deployment: &Deployment) {
        self.live.forget_deployment(&deployment.id);
        self.uploads.remove(&deployment.id).await;
        let _ =
            tokio::fs::remove_dir_all(crate::live::code_dir(&self.config.data_dir, &deployment.id))
                .await;
        for sha in [
            Some(&deployment.sha256),
            deployment.wasm_sha256.as_ref(),
            deployment.built_sha256.as_ref(),
        ]
        .into_iter()
        .flatten()
        .filter(|sha| !sha.is_empty())
        {
            if matches!(self.store.blob_in_use(sha).await, Ok(false)) {
                let _ = self.blobs.remove(sha).await;
                let _ = tokio::fs::remove_file(self.wasm.artifact_path(sha)).await;
            }
        }
    }

    /// Make a ready deployment the function's active one; it serves from now on.
    pub async fn activate_deployment(
        self: &Arc<Self>,
        caller: &Caller,
        ns: &str,
        f: &str,
        id: &str,
    ) -> Result<Deployment> {
        let audit = Audit::new(gust_core::AuditAction::Activate, "deployment")
            .of(id)
            .within(ns);
        self.audited(caller, &audit, async {
            caller.require(Scope::Write)?;
            let (_, mut function) = self.function_for(caller, ns, f).await?;
            audit.namespace_is(&function.namespace_id);
            let mut deployment = self.store.get_deployment(&function.id, id).await?;
            if deployment.status != DeploymentStatus::Ready {
                return Err(Error::conflict(format!(
                    "only a ready deployment can be activated; this one is {}",
                    deployment.status.as_str()
                )));
            }
            builder::activate(
                &*self.store,
                &self.live,
                &mut function,
                &mut deployment,
                false,
            )
            .await?;
            builder::emit(
                &self.events,
                &function.namespace_id,
                &deployment,
                Change::Update,
            );
            Ok(deployment)
        })
        .await
    }

    /// Build a finished deployment again (after a failure, or a runtime upgrade).
    pub async fn rebuild_deployment(
        &self,
        caller: &Caller,
        ns: &str,
        f: &str,
        id: &str,
    ) -> Result<Deployment> {
        let audit = Audit::new(gust_core::AuditAction::Rebuild, "deployment")
            .of(id)
            .within(ns);
        self.audited(caller, &audit, async {
            caller.require(Scope::Write)?;
            let (_, function) = self.function_for(caller, ns, f).await?;
            audit.namespace_is(&function.namespace_id);
            let mut deployment = self.store.get_deployment(&function.id, id).await?;
            if deployment.status == DeploymentStatus::Uploading {
                return Err(still_uploading(&deployment));
            }
            if !deployment.status.is_final() && deployment.status != DeploymentStatus::Uploaded {
                return Err(Error::conflict(format!(
                    "the deployment is already {}",
                    deployment.status.as_str()
                )));
            }
            deployment.status = DeploymentStatus::Waiting;
            deployment.updated_at = gust_core::now();
            self.store.update_deployment(&deployment).await?;
            self.builder
                .enqueue(deployment.id.clone(), function.id.clone());
            Ok(deployment)
        })
        .await
    }
}
