//! Chunked uploads: a deployment's code sent in pieces, each its own request naming its place
//! with `Content-Range: bytes <start>-<end>/<total>`. The first chunk creates the deployment,
//! `uploading`, with the total it announces; the next ones append to the bytes staged under
//! `DATA_DIR/uploads/` and the deployment records how many arrived, so a client that lost its
//! connection reads the deployment and sends the chunk that starts there. The last chunk turns
//! the staged bytes into a blob and queues the build, as a single-request upload does.
//!
//! Chunks of one deployment are written one at a time (a lock per upload): a chunk sent again
//! while the first copy is still arriving waits, then finds it received. The package format is
//! recognised from the first chunk, so a wrong package is refused before anything is stored.

use std::fmt;
use std::path::PathBuf;

use gust_core::{Deployment, DeploymentStatus, Function, PackageFormat, Scope};
use http::StatusCode;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::Engine;
use crate::audit::Audit;
use crate::auth::Caller;
use crate::builder;
use crate::error::{Error, Result};
use crate::jobs::events::Change;
use crate::ops::{UploadOptions, upload_too_large};
use crate::uploads::UploadLock;

/// The header a chunk names its place with; errors about the range name it as their field.
pub const CONTENT_RANGE: &str = "Content-Range";

/// Where a chunk goes in its upload: bytes `start..=end` of `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRange {
    pub start: u64,
    /// Inclusive, as in `Content-Range`.
    pub end: u64,
    pub total: u64,
}

impl ChunkRange {
    /// Read `bytes <start>-<end>/<total>`. The total must be given: the deployment records it
    /// from the first chunk, and the server's upload limit applies to it.
    pub fn parse(value: &str) -> Result<Self> {
        let bad = || {
            Error::invalid(
                CONTENT_RANGE,
                format!("`{value}` is not of the form `bytes <start>-<end>/<total>`"),
            )
        };
        let rest = value.trim().strip_prefix("bytes ").ok_or_else(bad)?;
        let (span, total) = rest.trim_start().split_once('/').ok_or_else(bad)?;
        if total.trim() == "*" {
            return Err(Error::invalid(
                CONTENT_RANGE,
                "the total size of the upload must be given, not `*`",
            ));
        }
        let (start, end) = span.split_once('-').ok_or_else(bad)?;
        let number = |text: &str| {
            let text = text.trim();
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            text.parse::<u64>().map_err(|_| bad())
        };
        let range = Self {
            start: number(start)?,
            end: number(end)?,
            total: number(total)?,
        };
        range.validate()?;
        Ok(range)
    }

    /// A non-empty span inside the total.
    pub fn validate(&self) -> Result<()> {
        if self.start > self.end || self.end >= self.total {
            return Err(Error::invalid(
                CONTENT_RANGE,
                format!(
                    "bytes {}-{} are not a span within an upload of {} bytes",
                    self.start, self.end, self.total
                ),
            ));
        }
        Ok(())
    }

    /// Bytes in the chunk.
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    /// Never true of a valid range; here for the `len` convention.
    pub fn is_empty(&self) -> bool {
        self.start > self.end
    }
}

impl fmt::Display for ChunkRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bytes {}-{}/{}", self.start, self.end, self.total)
    }
}

/// One chunk on its way into an upload: bytes go to the staged file as they arrive. Finish it
/// with [`Engine::finish_chunk`], or [`ChunkUpload::discard`] it.
pub struct ChunkUpload {
    function: Function,
    /// Who sends the chunk, for the audit log.
    caller: Caller,
    range: ChunkRange,
    target: Target,
    staged: PathBuf,
    /// None when the chunk was received before: its bytes are counted and dropped.
    file: Option<tokio::fs::File>,
    written: u64,
    /// The first bytes of a first chunk, to recognise the format.
    head: Vec<u8>,
    /// Held from the moment the deployment is read until the chunk is recorded.
    _lock: Option<UploadLock>,
}

enum Target {
    /// The first chunk; the deployment will have this id once the chunk is in.
    New(String),
    /// The next chunk of this deployment.
    Append(Deployment),
    /// A chunk this deployment already has (a retry after a lost answer).
    Received(Deployment),
}

impl ChunkUpload {
    /// Append bytes of the chunk; refused once the body passes the length its range names.
    pub async fn push(&mut self, bytes: &[u8]) -> Result<()> {
        let len = self.range.len();
        if self.written + bytes.len() as u64 > len {
            return Err(Error::invalid(
                CONTENT_RANGE,
                format!(
                    "the body is longer than the {len} bytes of `{}`",
                    self.range
                ),
            ));
        }
        self.written += bytes.len() as u64;
        let Some(file) = &mut self.file else {
            return Ok(());
        };
        if self.head.len() < 8 {
            self.head
                .extend_from_slice(&bytes[..bytes.len().min(8 - self.head.len())]);
        }
        file.write_all(bytes).await.map_err(Error::internal)
    }

    /// The deployment this chunk belongs to (None for a first chunk).
    pub fn deployment_id(&self) -> Option<&str> {
        match &self.target {
            Target::New(_) => None,
            Target::Append(d) | Target::Received(d) => Some(&d.id),
        }
    }

    /// Whether the deployment already holds this chunk: its bytes will be dropped.
    pub fn already_received(&self) -> bool {
        matches!(self.target, Target::Received(_))
    }

    pub fn range(&self) -> ChunkRange {
        self.range
    }

    /// Drop what this chunk wrote; the upload stays as it was before it.
    pub async fn discard(mut self) {
        self.rewind().await;
    }

    async fn rewind(&mut self) {
        drop(self.file.take());
        match &self.target {
            Target::New(_) => {
                let _ = tokio::fs::remove_file(&self.staged).await;
            }
            Target::Append(d) => {
                // The next chunk cuts the file back to `received` anyway; this keeps the disk
                // from holding bytes nobody will use until then.
                if let Ok(file) = tokio::fs::OpenOptions::new()
                    .write(true)
                    .open(&self.staged)
                    .await
                {
                    let _ = file.set_len(d.received).await;
                }
            }
            Target::Received(_) => {}
        }
    }
}

impl Engine {
    /// Receive one chunk of a deployment's code, read from `body`: the whole of
    /// [`Engine::start_chunk`], [`ChunkUpload::push`] and [`Engine::finish_chunk`].
    /// `deployment`: None for the first chunk (which creates the deployment), else its id.
    // Each argument is one input of the request (who, which function, which upload, where in
    // it, the bytes, the options); bundling them would only rename them.
    #[allow(clippy::too_many_arguments)]
    pub async fn upload_chunk(
        &self,
        caller: &Caller,
        ns: &str,
        f: &str,
        deployment: Option<&str>,
        range: ChunkRange,
        mut body: impl AsyncRead + Unpin,
        options: UploadOptions,
    ) -> Result<Deployment> {
        let mut chunk = self.start_chunk(caller, ns, f, deployment, range).await?;
        let mut buffer = vec![0; 64 * 1024];
        loop {
            let n = match body.read(&mut buffer).await {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    chunk.discard().await;
                    return Err(Error::bad_request(format!(
                        "the upload was interrupted: {e}"
                    )));
                }
            };
            if let Err(e) = chunk.push(&buffer[..n]).await {
                chunk.discard().await;
                return Err(e);
            }
        }
        self.finish_chunk(chunk, options).await
    }

    /// Check a chunk against its upload and get ready to receive it. A first chunk
    /// (`deployment` None) must start at byte 0; a later one must start where the upload
    /// stopped (416 otherwise, the expected offset in the message) or be one the upload already
    /// holds, and announce the same total. 413 when the total passes the upload limit.
    pub async fn start_chunk(
        &self,
        caller: &Caller,
        ns: &str,
        f: &str,
        deployment: Option<&str>,
        range: ChunkRange,
    ) -> Result<ChunkUpload> {
        let audit = Audit::new(gust_core::AuditAction::Deploy, "deployment").within(ns);
        if let Some(id) = deployment {
            audit.resolved(id, None);
        }
        self.audited_refusal(caller, &audit, async {
        caller.require(Scope::Write)?;
        range.validate()?;
        if range.total > self.upload_limit() {
            return Err(upload_too_large(self.upload_limit()));
        }
        let (_, function) = self.function_for(caller, ns, f).await?;
        let Some(id) = deployment else {
            if range.start != 0 {
                return Err(Error::invalid(
                    CONTENT_RANGE,
                    format!(
                        "a new upload starts at byte 0, not {}; later chunks go to \
                         …/deployments/{{id}}/code",
                        range.start
                    ),
                ));
            }
            let id = gust_core::new_id();
            let staged = self.uploads.path(&id);
            let file = tokio::fs::File::create(&staged)
                .await
                .map_err(Error::internal)?;
            return Ok(ChunkUpload {
                caller: caller.clone(),
                function,
                range,
                target: Target::New(id),
                staged,
                file: Some(file),
                written: 0,
                head: Vec::new(),
                _lock: None,
            });
        };
        // 404 for a deployment of another function before anyone waits for its lock.
        self.store.get_deployment(&function.id, id).await?;
        let lock = self.uploads.lock(id).await;
        // As it is now that no other chunk of it is being written.
        let deployment = self.store.get_deployment(&function.id, id).await?;
        if range.total != deployment.size {
            return Err(Error::invalid(
                CONTENT_RANGE,
                format!(
                    "this upload is {} bytes in all, not {}",
                    deployment.size, range.total
                ),
            ));
        }
        let staged = self.uploads.path(id);
        let mut chunk = ChunkUpload {
            caller: caller.clone(),
            function,
            range,
            target: Target::Received(deployment.clone()),
            staged,
            file: None,
            written: 0,
            head: Vec::new(),
            _lock: Some(lock),
        };
        // A deployment past uploading has every byte, so any chunk of it is a retry.
        if deployment.status != DeploymentStatus::Uploading || range.end < deployment.received {
            return Ok(chunk);
        }
        if range.start != deployment.received {
            return Err(Error {
                field: Some(CONTENT_RANGE.into()),
                ..Error::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "range_not_satisfiable",
                    format!(
                        "the upload holds bytes 0-{} of {}; the next chunk must start at byte {}, \
                         not {}",
                        deployment.received.saturating_sub(1),
                        deployment.size,
                        deployment.received,
                        range.start
                    ),
                )
            });
        }
        let mut file = match tokio::fs::OpenOptions::new()
            .write(true)
            .open(&chunk.staged)
            .await
        {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::conflict(
                    "the bytes this upload received are missing from the server; delete the \
                     deployment and upload again",
                ));
            }
            Err(e) => return Err(Error::internal(e)),
        };
        // Bytes past `received` are from a chunk that never completed: this one replaces them.
        file.set_len(deployment.received)
            .await
            .map_err(Error::internal)?;
        file.seek(std::io::SeekFrom::End(0))
            .await
            .map_err(Error::internal)?;
        chunk.file = Some(file);
        chunk.target = Target::Append(deployment);
        Ok(chunk)
    })
        .await
    }

    /// Record a received chunk: the first one creates the deployment (`uploading`, with the
    /// options given), a later one advances `received`, and the last one stores the upload as
    /// a blob and queues the build (`waiting`). A chunk received before returns the deployment
    /// as it is.
    pub async fn finish_chunk(
        &self,
        mut chunk: ChunkUpload,
        options: UploadOptions,
    ) -> Result<Deployment> {
        let audit = Audit::new(gust_core::AuditAction::Deploy, "deployment");
        audit.namespace_is(&chunk.function.namespace_id);
        let caller = chunk.caller.clone();
        self.audited(&caller, &audit, async move {
            let len = chunk.range.len();
            if chunk.written != len {
                let written = chunk.written;
                let range = chunk.range;
                chunk.discard().await;
                return Err(Error::invalid(
                    CONTENT_RANGE,
                    format!("the body holds {written} bytes, but `{range}` names {len}"),
                ));
            }
            if let Some(file) = chunk.file.as_mut() {
                // On disk before the store counts it, so `received` never names bytes a crash lost.
                let synced = async {
                    file.flush().await?;
                    file.sync_data().await
                }
                .await;
                if let Err(e) = synced {
                    chunk.discard().await;
                    return Err(Error::internal(e));
                }
            }
            match &chunk.target {
                Target::Received(deployment) => Ok(deployment.clone()),
                Target::New(id) => {
                    let id = id.clone();
                    match self.first_chunk(&chunk, id, options).await {
                        Ok(deployment) => Ok(deployment),
                        Err(e) => {
                            chunk.discard().await;
                            Err(e)
                        }
                    }
                }
                Target::Append(deployment) => {
                    let mut deployment = deployment.clone();
                    deployment.received += len;
                    deployment.updated_at = gust_core::now();
                    let recorded = if deployment.received == deployment.size {
                        self.complete_upload(&chunk, deployment, false).await
                    } else {
                        self.store
                            .update_deployment(&deployment)
                            .await
                            .map(|()| deployment)
                            .map_err(Error::from)
                    };
                    if recorded.is_err() {
                        chunk.discard().await;
                    }
                    recorded
                }
            }
        })
        .await
    }

    async fn first_chunk(
        &self,
        chunk: &ChunkUpload,
        id: String,
        options: UploadOptions,
    ) -> Result<Deployment> {
        if let Some(e) = &options.entrypoint {
            gust_core::validate::text("entrypoint", e, 512)?;
        }
        let format = PackageFormat::detect(options.content_type.as_deref(), &chunk.head)
            .ok_or_else(|| {
                Error::invalid("code", "is not a .wasm component, a .tar.gz or a .zip")
            })?;
        let now = gust_core::now();
        let deployment = Deployment {
            id,
            function_id: chunk.function.id.clone(),
            sha256: String::new(),
            md5: None,
            size: chunk.range.total,
            received: chunk.range.len(),
            format,
            entrypoint: options.entrypoint,
            wasm_sha256: None,
            built_sha256: None,
            status: DeploymentStatus::Uploading,
            build_log: String::new(),
            build_duration_ms: None,
            error_message: None,
            active: false,
            activate_when_ready: options.activate,
            created_at: now,
            updated_at: now,
        };
        if deployment.received == deployment.size {
            return self.complete_upload(chunk, deployment, true).await;
        }
        self.store.create_deployment(&deployment).await?;
        Ok(deployment)
    }

    /// The last byte is in: store the staged bytes as a blob, mark the deployment `waiting`
    /// (creating it when one chunk was the whole upload), queue its build. The staged file
    /// goes only once the store has the blob's address.
    async fn complete_upload(
        &self,
        chunk: &ChunkUpload,
        mut deployment: Deployment,
        create: bool,
    ) -> Result<Deployment> {
        let stored = self
            .blobs
            .put_file(&chunk.staged)
            .await
            .map_err(Error::internal)?;
        let size = stored.size;
        if size != deployment.size {
            return Err(Error::internal(format!(
                "the staged upload of {} holds {size} bytes, not {}",
                deployment.id, deployment.size
            )));
        }
        deployment.sha256 = stored.sha256;
        deployment.md5 = Some(stored.md5);
        deployment.received = size;
        deployment.status = DeploymentStatus::Waiting;
        deployment.updated_at = gust_core::now();
        let stored = if create {
            self.store.create_deployment(&deployment).await
        } else {
            self.store.update_deployment(&deployment).await
        };
        if let Err(e) = stored {
            if matches!(self.store.blob_in_use(&deployment.sha256).await, Ok(false)) {
                let _ = self.blobs.remove(&deployment.sha256).await;
            }
            return Err(e.into());
        }
        self.uploads.remove(&deployment.id).await;
        self.builder
            .enqueue(deployment.id.clone(), deployment.function_id.clone());
        builder::emit(
            &self.events,
            &chunk.function.namespace_id,
            &deployment,
            Change::Create,
        );
        Ok(deployment)
    }

    /// Delete the chunked uploads no chunk has reached for the configured expiry before `now`,
    /// with their staged bytes (the retention task does this on its own every interval).
    /// Returns how many were deleted.
    pub async fn prune_abandoned_uploads(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<usize> {
        crate::jobs::retention::prune_uploads(
            &*self.store,
            &self.uploads,
            &self.events,
            now,
            self.jobs_config.upload_expiry,
        )
        .await
        .map_err(Error::internal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges_are_read_strictly() {
        assert_eq!(
            ChunkRange::parse("bytes 0-5242879/12000000").unwrap(),
            ChunkRange {
                start: 0,
                end: 5_242_879,
                total: 12_000_000
            }
        );
        assert_eq!(ChunkRange::parse("bytes 9-9/10").unwrap().len(), 1);
        for bad in [
            "",
            "bytes",
            "0-1/2",
            "items 0-1/2",
            "bytes 0-1",
            "bytes 1/2",
            "bytes -1-1/2",
            "bytes +0-1/2",
            "bytes 0-x/2",
            "bytes 0-1/*",
            "bytes 2-1/5",
            "bytes 0-5/5",
            "bytes 0-0/0",
            "bytes 0-1/99999999999999999999999",
        ] {
            let e = ChunkRange::parse(bad).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{bad}");
            assert_eq!(e.field.as_deref(), Some(CONTENT_RANGE), "{bad}");
        }
        assert_eq!(
            ChunkRange::parse("bytes 0-1/2").unwrap().to_string(),
            "bytes 0-1/2"
        );
    }
}
