//! Where blobs are shared between nodes: an S3-compatible bucket (through `object_store`) or a
//! folder every node mounts. Both hold `<prefix>/sha256/ab/abcdef…`, the local layout.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStore, RetryConfig};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::{StoreError, StoreResult};

/// A `--blob-url`: `s3://BUCKET/PREFIX?endpoint=…&region=…` or `file:///DIR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobUrl {
    Dir(PathBuf),
    S3 {
        bucket: String,
        /// Without leading or trailing `/`; may be empty.
        prefix: String,
        /// `object_store`'s S3 settings from the query (`endpoint`, `region`, …).
        options: Vec<(AmazonS3ConfigKey, String)>,
        text: String,
    },
}

/// Why a blob URL does not parse; the message says what would.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BlobUrlError(String);

impl std::str::FromStr for BlobUrl {
    type Err = BlobUrlError;

    fn from_str(text: &str) -> Result<Self, BlobUrlError> {
        let fail = |why: String| Err(BlobUrlError(why));
        let Some((scheme, _)) = text.split_once("://") else {
            return fail(format!(
                "`{text}` is not a URL: use s3://BUCKET/PREFIX?endpoint=URL or file:///DIR"
            ));
        };
        let url = match url::Url::parse(text) {
            Ok(url) => url,
            Err(e) => return fail(format!("`{text}` is not a URL: {e}")),
        };
        match scheme {
            "file" => {
                if url
                    .host_str()
                    .is_some_and(|h| !h.is_empty() && h != "localhost")
                {
                    return fail(format!(
                        "`{text}`: a file URL names a folder on this machine: file:///DIR"
                    ));
                }
                if url.query().is_some() {
                    return fail(format!("`{text}`: a file URL takes no options"));
                }
                match url.to_file_path() {
                    Ok(dir) if dir.is_absolute() => Ok(Self::Dir(dir)),
                    _ => fail(format!(
                        "`{text}`: a file URL needs an absolute path: file:///DIR"
                    )),
                }
            }
            "s3" => {
                let bucket = url.host_str().unwrap_or_default().to_string();
                if bucket.is_empty() {
                    return fail(format!(
                        "`{text}` names no bucket: s3://BUCKET/PREFIX?endpoint=URL"
                    ));
                }
                let prefix = url.path().trim_matches('/').to_string();
                let mut options = Vec::new();
                for (name, value) in url.query_pairs() {
                    let key: AmazonS3ConfigKey = match name.parse() {
                        Ok(key) => key,
                        Err(_) => {
                            return fail(format!(
                                "`{text}`: unknown option `{name}` (endpoint, region and \
                                 object_store's other S3 settings are known)"
                            ));
                        }
                    };
                    if matches!(
                        key,
                        AmazonS3ConfigKey::AccessKeyId
                            | AmazonS3ConfigKey::SecretAccessKey
                            | AmazonS3ConfigKey::Token
                    ) {
                        return fail(format!(
                            "`{text}`: credentials do not go in the URL; set AWS_ACCESS_KEY_ID \
                             and AWS_SECRET_ACCESS_KEY"
                        ));
                    }
                    options.push((key, value.into_owned()));
                }
                Ok(Self::S3 {
                    bucket,
                    prefix,
                    options,
                    text: text.to_string(),
                })
            }
            other => fail(format!(
                "unknown scheme `{other}` in `{text}`: use s3://BUCKET/PREFIX?endpoint=URL or \
                 file:///DIR"
            )),
        }
    }
}

impl BlobUrl {
    /// An S3 setting given by the program rather than the URL or the environment (a test's
    /// credentials, say); `key` is one of `object_store`'s names (`aws_access_key_id`, …).
    pub fn with_setting(mut self, key: &str, value: &str) -> Result<Self, BlobUrlError> {
        let Self::S3 { options, .. } = &mut self else {
            return Err(BlobUrlError("a folder takes no settings".into()));
        };
        let key = key
            .parse()
            .map_err(|_| BlobUrlError(format!("unknown S3 setting `{key}`")))?;
        options.push((key, value.to_string()));
        Ok(self)
    }
}

impl std::fmt::Display for BlobUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Dir(dir) => write!(f, "file://{}", dir.display()),
            Self::S3 { text, .. } => f.write_str(text),
        }
    }
}

pub(super) struct Shared {
    url: BlobUrl,
    backend: Backend,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Shared")
            .field(&self.url.to_string())
            .finish()
    }
}

enum Backend {
    Dir(PathBuf),
    Object {
        store: Arc<dyn ObjectStore>,
        prefix: ObjectPath,
    },
}

fn unavailable(what: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("blob store: {what}"))
}

impl Shared {
    pub(super) async fn connect(url: &BlobUrl) -> StoreResult<Self> {
        let backend = match url {
            BlobUrl::Dir(dir) => {
                for sub in ["sha256", "tmp"] {
                    let path = dir.join(sub);
                    tokio::fs::create_dir_all(&path)
                        .await
                        .map_err(StoreError::io(format!("creating {}", path.display())))?;
                }
                Backend::Dir(dir.clone())
            }
            BlobUrl::S3 {
                bucket,
                prefix,
                options,
                ..
            } => {
                // A node waits a little for a slow store, not minutes (the default). The client
                // options go first: setting them replaces any set before (`allow_http`).
                let mut builder = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_client_options(
                        ClientOptions::new().with_connect_timeout(Duration::from_secs(5)),
                    )
                    .with_retry(RetryConfig {
                        max_retries: 3,
                        retry_timeout: Duration::from_secs(30),
                        ..RetryConfig::default()
                    });
                for (key, value) in options {
                    builder = builder.with_config(*key, value);
                    if *key == AmazonS3ConfigKey::Endpoint && value.starts_with("http://") {
                        builder = builder.with_allow_http(true);
                    }
                }
                let store = builder.build().map_err(unavailable)?;
                let prefix = ObjectPath::from(prefix.as_str());
                // One listing proves the endpoint answers, the bucket exists and the
                // credentials are accepted.
                store
                    .list_with_delimiter(Some(&prefix))
                    .await
                    .map_err(|e| unavailable(format!("{url} does not answer: {e}")))?;
                Backend::Object {
                    store: Arc::new(store),
                    prefix,
                }
            }
        };
        Ok(Self {
            url: url.clone(),
            backend,
        })
    }

    pub(super) fn url(&self) -> &BlobUrl {
        &self.url
    }

    fn key(prefix: &ObjectPath, sha256: &str) -> ObjectPath {
        prefix
            .child("sha256")
            .child(sha256.get(..2).unwrap_or("00"))
            .child(sha256)
    }

    fn dir_path(dir: &Path, sha256: &str) -> PathBuf {
        dir.join("sha256")
            .join(sha256.get(..2).unwrap_or("00"))
            .join(sha256)
    }

    /// Put the complete local blob at `file` in the shared location (unless it is there: the
    /// address is the content).
    pub(super) async fn upload(&self, sha256: &str, file: &Path) -> StoreResult<()> {
        match &self.backend {
            Backend::Dir(dir) => {
                let dest = Self::dir_path(dir, sha256);
                if tokio::fs::try_exists(&dest).await.unwrap_or(false) {
                    return Ok(());
                }
                let tmp = dir.join("tmp").join(gust_core::new_id());
                tokio::fs::copy(file, &tmp)
                    .await
                    .map_err(StoreError::io(format!(
                        "copying a blob to {}",
                        tmp.display()
                    )))?;
                if let Some(parent) = dest.parent() {
                    tokio::fs::create_dir_all(parent)
                        .await
                        .map_err(StoreError::io(format!("creating {}", parent.display())))?;
                }
                tokio::fs::rename(&tmp, &dest)
                    .await
                    .map_err(StoreError::io(format!(
                        "moving a blob to {}",
                        dest.display()
                    )))
            }
            Backend::Object { store, prefix } => {
                let key = Self::key(prefix, sha256);
                let size = tokio::fs::metadata(file)
                    .await
                    .map_err(StoreError::io(format!("reading {}", file.display())))?
                    .len();
                if let Ok(meta) = store.head(&key).await
                    && meta.size == size
                {
                    return Ok(());
                }
                let mut source = tokio::fs::File::open(file)
                    .await
                    .map_err(StoreError::io(format!("opening {}", file.display())))?;
                // One PUT for a small blob, a multipart upload past the buffer.
                let mut writer = object_store::buffered::BufWriter::with_capacity(
                    store.clone(),
                    key,
                    8 * 1024 * 1024,
                );
                let copied = async {
                    tokio::io::copy(&mut source, &mut writer).await?;
                    writer.shutdown().await
                }
                .await;
                if let Err(e) = copied {
                    let _ = writer.abort().await;
                    return Err(unavailable(format!("uploading blob {sha256}: {e}")));
                }
                Ok(())
            }
        }
    }

    /// Copy a blob into `tmp`; the sha256 of what arrived.
    pub(super) async fn fetch(&self, sha256: &str, tmp: &Path) -> StoreResult<String> {
        let mut out = tokio::fs::File::create(tmp)
            .await
            .map_err(StoreError::io(format!("creating {}", tmp.display())))?;
        let mut hasher = Sha256::new();
        let writing = StoreError::io(format!("writing {}", tmp.display()));
        match &self.backend {
            Backend::Dir(dir) => {
                use tokio::io::AsyncReadExt;
                let source = Self::dir_path(dir, sha256);
                let mut file = match tokio::fs::File::open(&source).await {
                    Ok(file) => file,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        return Err(StoreError::not_found("blob", sha256));
                    }
                    Err(e) => {
                        return Err(StoreError::io(format!("opening {}", source.display()))(e));
                    }
                };
                let mut buffer = vec![0; 256 * 1024];
                loop {
                    let n = file
                        .read(&mut buffer)
                        .await
                        .map_err(StoreError::io(format!("reading {}", source.display())))?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(&buffer[..n]);
                    if let Err(e) = out.write_all(&buffer[..n]).await {
                        return Err(writing(e));
                    }
                }
            }
            Backend::Object { store, prefix } => {
                let got = match store.get(&Self::key(prefix, sha256)).await {
                    Ok(got) => got,
                    Err(object_store::Error::NotFound { .. }) => {
                        return Err(StoreError::not_found("blob", sha256));
                    }
                    Err(e) => return Err(unavailable(format!("fetching blob {sha256}: {e}"))),
                };
                let mut stream = got.into_stream();
                while let Some(chunk) = stream.next().await {
                    let chunk =
                        chunk.map_err(|e| unavailable(format!("fetching blob {sha256}: {e}")))?;
                    hasher.update(&chunk);
                    if let Err(e) = out.write_all(&chunk).await {
                        return Err(writing(e));
                    }
                }
            }
        }
        out.flush()
            .await
            .map_err(StoreError::io(format!("writing {}", tmp.display())))?;
        Ok(hex::encode(hasher.finalize()))
    }

    pub(super) async fn remove(&self, sha256: &str) -> StoreResult<()> {
        match &self.backend {
            Backend::Dir(dir) => match tokio::fs::remove_file(Self::dir_path(dir, sha256)).await {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(StoreError::io("removing a shared blob")(e))
                }
                _ => Ok(()),
            },
            Backend::Object { store, prefix } => {
                match store.delete(&Self::key(prefix, sha256)).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                    Err(e) => Err(unavailable(format!("removing blob {sha256}: {e}"))),
                }
            }
        }
    }

    pub(super) async fn list(&self) -> StoreResult<Vec<String>> {
        match &self.backend {
            Backend::Dir(dir) => super::list_dir(&dir.join("sha256")).await,
            Backend::Object { store, prefix } => {
                let under = prefix.child("sha256");
                let mut listing = store.list(Some(&under));
                let mut found = Vec::new();
                while let Some(meta) = listing.next().await {
                    let meta = meta.map_err(|e| unavailable(format!("listing blobs: {e}")))?;
                    if let Some(name) = meta.location.filename()
                        && name.len() == 64
                        && name.bytes().all(|b| b.is_ascii_hexdigit())
                    {
                        found.push(name.to_string());
                    }
                }
                found.sort();
                Ok(found)
            }
        }
    }
}
