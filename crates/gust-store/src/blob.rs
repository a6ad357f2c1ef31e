//! Content-addressed blobs: `DATA_DIR/blobs/sha256/ab/abcdef…`. A blob is written to a temporary
//! file first and renamed into place, so a crash never leaves a half-written blob at its address.
//!
//! With a shared location (`--blob-url`: an S3-compatible bucket, or a folder every node
//! mounts) the local folder is this node's cache of it: a blob is stored there too once it is
//! complete, and a blob this node lacks, or whose bytes no longer match their sha256, is fetched
//! again before use. Without one nothing goes past the local folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use md5::Md5;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::{StoreError, StoreResult};

mod shared;

use shared::Shared;
pub use shared::{BlobUrl, BlobUrlError};

#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
    shared: Option<Arc<Shared>>,
    /// With a shared location: cached files whose bytes this process has checked, with the
    /// length and modification time they had then. A file unchanged since is not read again
    /// (a component unloaded and loaded again, say); one rewritten since is checked anew.
    checked: Arc<std::sync::Mutex<std::collections::HashMap<String, FileStamp>>>,
}

/// What a file's metadata says about whether its bytes changed.
type FileStamp = (u64, Option<std::time::SystemTime>);

/// `root/sha256/ab/abcdef…`.
fn blob_path(root: &Path, sha256: &str) -> PathBuf {
    let prefix = sha256.get(..2).unwrap_or("00");
    root.join("sha256").join(prefix).join(sha256)
}

async fn file_stamp(path: &Path) -> Option<FileStamp> {
    let meta = tokio::fs::metadata(path).await.ok()?;
    Some((meta.len(), meta.modified().ok()))
}

/// A blob being received: bytes are hashed as they are written.
pub struct BlobWriter {
    file: tokio::fs::File,
    tmp: PathBuf,
    hasher: Sha256,
    /// The md5 some clients check a package against (Qinling's `md5sum`); cheap beside the I/O.
    md5: Md5,
    size: u64,
    root: PathBuf,
    shared: Option<Arc<Shared>>,
}

/// A blob at its address: its digests and length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    pub sha256: String,
    pub md5: String,
    pub size: u64,
}

impl BlobStore {
    pub fn open(root: impl Into<PathBuf>) -> StoreResult<Self> {
        let root = root.into();
        for dir in ["sha256", "tmp"] {
            std::fs::create_dir_all(root.join(dir)).map_err(StoreError::io(format!(
                "creating {}",
                root.join(dir).display()
            )))?;
        }
        Ok(Self {
            root,
            shared: None,
            checked: Default::default(),
        })
    }

    /// A blob store whose blobs live at `url`, `root` being this node's cache of them. Checks
    /// that the location answers (and, for a folder, that it can be made), so a wrong URL is
    /// an error at start rather than at the first deployment.
    pub async fn open_shared(root: impl Into<PathBuf>, url: &BlobUrl) -> StoreResult<Self> {
        let mut store = Self::open(root)?;
        store.shared = Some(Arc::new(Shared::connect(url).await?));
        Ok(store)
    }

    /// The shared location, if blobs have one.
    pub fn shared_url(&self) -> Option<&BlobUrl> {
        self.shared.as_deref().map(Shared::url)
    }

    /// The local file of a blob, for reading: fetched from the shared location when this node
    /// lacks it or holds bytes that do not match the digest (checked on first use, and again
    /// whenever the file's length or modification time has changed since: another process
    /// may have written the cache). Without a shared location, the file at [`Self::path`],
    /// unchecked.
    pub async fn local(&self, sha256: &str) -> StoreResult<PathBuf> {
        let path = self.path(sha256);
        let Some(shared) = &self.shared else {
            return match tokio::fs::try_exists(&path).await {
                Ok(true) => Ok(path),
                Ok(false) => Err(StoreError::not_found("blob", sha256)),
                Err(e) => Err(StoreError::io(format!("reading {}", path.display()))(e)),
            };
        };
        let stamp = file_stamp(&path).await;
        let checked = |stamp: &Option<FileStamp>| {
            let checked = self.checked.lock().unwrap_or_else(|p| p.into_inner());
            stamp.is_some() && checked.get(sha256) == stamp.as_ref()
        };
        if checked(&stamp) {
            return Ok(path);
        }
        if file_sha256(&path).await?.as_deref() == Some(sha256) {
            self.remember_checked(sha256, stamp);
            return Ok(path);
        }
        let tmp = self.root.join("tmp").join(gust_core::new_id());
        let fetched = shared.fetch(sha256, &tmp).await;
        match fetched {
            Ok(actual) if actual == sha256 => {}
            Ok(actual) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(StoreError::Unavailable(format!(
                    "blob store: blob {sha256} holds bytes whose sha256 is {actual}"
                )));
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(e);
            }
        }
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(StoreError::io(format!("creating {}", dir.display())))?;
        }
        tokio::fs::rename(&tmp, &path)
            .await
            .map_err(StoreError::io(format!("moving blob to {}", path.display())))?;
        tracing::info!(sha256, "fetched a blob from the shared blob store");
        self.remember_checked(sha256, file_stamp(&path).await);
        Ok(path)
    }

    /// Note that the file's bytes matched. Not for a file modified within the last second:
    /// file times are coarse (a clock tick), so a rewrite that soon could keep the same stamp.
    fn remember_checked(&self, sha256: &str, stamp: Option<FileStamp>) {
        let settled = |stamp: &FileStamp| {
            stamp.1.is_some_and(|modified| {
                modified + std::time::Duration::from_secs(1) < std::time::SystemTime::now()
            })
        };
        if let Some(stamp) = stamp.filter(settled) {
            let mut checked = self.checked.lock().unwrap_or_else(|p| p.into_inner());
            checked.insert(sha256.to_string(), stamp);
        }
    }

    /// The digests of every blob: the shared location's when there is one, else the local
    /// folder's. Sorted.
    pub async fn list(&self) -> StoreResult<Vec<String>> {
        if let Some(shared) = &self.shared {
            return shared.list().await;
        }
        list_dir(&self.root.join("sha256")).await
    }

    /// Where the blob with this digest lives (whether or not it exists).
    pub fn path(&self, sha256: &str) -> PathBuf {
        blob_path(&self.root, sha256)
    }

    /// Start receiving a blob.
    pub async fn writer(&self) -> StoreResult<BlobWriter> {
        let tmp = self.root.join("tmp").join(gust_core::new_id());
        let file = tokio::fs::File::create(&tmp)
            .await
            .map_err(StoreError::io(format!("creating {}", tmp.display())))?;
        Ok(BlobWriter {
            file,
            tmp,
            hasher: Sha256::new(),
            md5: Md5::new(),
            size: 0,
            root: self.root.clone(),
            shared: self.shared.clone(),
        })
    }

    /// Store a blob held in memory. Returns its sha256.
    pub async fn put(&self, bytes: &[u8]) -> StoreResult<String> {
        let mut writer = self.writer().await?;
        writer.write(bytes).await?;
        Ok(writer.commit().await?.sha256)
    }

    /// Store a copy of the file at `path`, read a piece at a time (it may be larger than
    /// memory should hold). The file itself is left in place: its owner
    /// removes it once the blob is recorded, so a crash in between loses nothing.
    pub async fn put_file(&self, path: &Path) -> StoreResult<StoredBlob> {
        use tokio::io::AsyncReadExt;
        let mut file = tokio::fs::File::open(path)
            .await
            .map_err(StoreError::io(format!("opening {}", path.display())))?;
        let mut writer = self.writer().await?;
        let mut buffer = vec![0; 256 * 1024];
        loop {
            let n = match file.read(&mut buffer).await {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    writer.discard().await;
                    return Err(StoreError::io(format!("reading {}", path.display()))(e));
                }
            };
            if let Err(e) = writer.write(&buffer[..n]).await {
                writer.discard().await;
                return Err(e);
            }
        }
        writer.commit().await
    }

    pub async fn read(&self, sha256: &str) -> StoreResult<Vec<u8>> {
        let path = self.local(sha256).await?;
        tokio::fs::read(&path).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                StoreError::not_found("blob", sha256)
            } else {
                StoreError::io(format!("reading {}", path.display()))(e)
            }
        })
    }

    pub async fn remove(&self, sha256: &str) -> StoreResult<()> {
        match tokio::fs::remove_file(self.path(sha256)).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(StoreError::io("removing blob")(e));
            }
            _ => {}
        }
        if let Some(shared) = &self.shared {
            shared.remove(sha256).await?;
        }
        Ok(())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl BlobWriter {
    pub async fn write(&mut self, bytes: &[u8]) -> StoreResult<()> {
        self.hasher.update(bytes);
        self.md5.update(bytes);
        self.size += bytes.len() as u64;
        self.file
            .write_all(bytes)
            .await
            .map_err(StoreError::io("writing blob"))
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Flush, then move the blob to its address.
    pub async fn commit(mut self) -> StoreResult<StoredBlob> {
        self.file
            .flush()
            .await
            .map_err(StoreError::io("writing blob"))?;
        self.file
            .sync_all()
            .await
            .map_err(StoreError::io("syncing blob"))?;
        let sha = hex::encode(self.hasher.finalize_reset());
        let dest = blob_path(&self.root, &sha);
        if let Some(dir) = dest.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(StoreError::io(format!("creating {}", dir.display())))?;
        }
        tokio::fs::rename(&self.tmp, &dest)
            .await
            .map_err(StoreError::io(format!("moving blob to {}", dest.display())))?;
        // Recorded only once the shared location holds it, so another node never finds a
        // deployment whose code it cannot fetch.
        if let Some(shared) = &self.shared {
            shared.upload(&sha, &dest).await?;
        }
        Ok(StoredBlob {
            sha256: sha,
            md5: hex::encode(self.md5.finalize_reset()),
            size: self.size,
        })
    }

    /// Drop what was received.
    pub async fn discard(self) {
        let _ = tokio::fs::remove_file(&self.tmp).await;
    }
}

/// The sha256 of a file's bytes, hex; `None` when there is no such file.
pub async fn file_sha256(path: &Path) -> StoreResult<Option<String>> {
    use tokio::io::AsyncReadExt;
    let mut file = match tokio::fs::File::open(path).await {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io(format!("opening {}", path.display()))(e)),
    };
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 256 * 1024];
    loop {
        match file.read(&mut buffer).await {
            Ok(0) => break,
            Ok(n) => hasher.update(&buffer[..n]),
            Err(e) => return Err(StoreError::io(format!("reading {}", path.display()))(e)),
        }
    }
    Ok(Some(hex::encode(hasher.finalize())))
}

/// The blob names under a `sha256/` folder (two-character subfolders of files named by digest).
async fn list_dir(root: &Path) -> StoreResult<Vec<String>> {
    let mut found = Vec::new();
    let mut prefixes = match tokio::fs::read_dir(root).await {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(StoreError::io(format!("listing {}", root.display()))(e)),
    };
    let listing = StoreError::io(format!("listing {}", root.display()));
    let mut dirs = Vec::new();
    loop {
        match prefixes.next_entry().await {
            Ok(Some(entry)) => dirs.push(entry.path()),
            Ok(None) => break,
            Err(e) => return Err(listing(e)),
        }
    }
    for dir in dirs {
        let Ok(mut entries) = tokio::fs::read_dir(&dir).await else {
            continue;
        };
        while let Ok(Some(entry)) = entries.next_entry().await {
            if let Some(name) = entry.file_name().to_str()
                && name.len() == 64
                && name.bytes().all(|b| b.is_ascii_hexdigit())
            {
                found.push(name.to_string());
            }
        }
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn blobs_are_addressed_by_sha256() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::open(dir.path()).unwrap();
        let sha = blobs.put(b"hello").await.unwrap();
        assert_eq!(
            sha,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(blobs.read(&sha).await.unwrap(), b"hello");
        assert!(
            std::fs::read_dir(dir.path().join("tmp"))
                .unwrap()
                .next()
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_file_is_stored_by_copy_and_left_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::open(dir.path().join("blobs")).unwrap();
        let source = dir.path().join("upload");
        // Larger than one read, and not a multiple of it.
        let bytes: Vec<u8> = (0..600_001u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&source, &bytes).unwrap();
        let stored = blobs.put_file(&source).await.unwrap();
        assert_eq!(stored.size, bytes.len() as u64);
        assert_eq!(stored.sha256, hex::encode(Sha256::digest(&bytes)));
        assert_eq!(stored.md5, hex::encode(Md5::digest(&bytes)));
        assert_eq!(blobs.read(&stored.sha256).await.unwrap(), bytes);
        assert!(source.exists());
        assert!(blobs.put_file(&dir.path().join("missing")).await.is_err());
    }
}
