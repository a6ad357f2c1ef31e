//! Chunked uploads in progress: the bytes of each so far in `DATA_DIR/uploads/<deployment id>`
//! (so an upload survives a restart and resumes where it stopped), and a lock per deployment,
//! so its chunks, its deletion and its pruning happen one at a time and never interleave in
//! the file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;

pub struct Uploads {
    dir: PathBuf,
    /// One entry per deployment someone holds or awaits the lock of; the last holder removes it.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Exclusive use of one upload until dropped.
pub struct UploadLock {
    uploads: Arc<Uploads>,
    id: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Uploads {
    pub fn open(dir: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        Ok(Self {
            dir,
            locks: Mutex::default(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the bytes of the upload of deployment `id` are staged. Ids are the server's own,
    /// never a client's text, so they are safe as file names.
    pub fn path(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Wait for exclusive use of the upload of deployment `id`.
    pub async fn lock(self: &Arc<Self>, id: &str) -> UploadLock {
        let mutex = self.entry(id);
        let guard = mutex.lock_owned().await;
        self.held(id, guard)
    }

    /// Exclusive use of the upload of `id` if nobody has it now.
    pub fn try_lock(self: &Arc<Self>, id: &str) -> Option<UploadLock> {
        let mutex = self.entry(id);
        match mutex.try_lock_owned() {
            Ok(guard) => Some(self.held(id, guard)),
            Err(_) => {
                self.release(id);
                None
            }
        }
    }

    /// Forget the staged bytes of `id`.
    pub async fn remove(&self, id: &str) {
        match tokio::fs::remove_file(self.path(id)).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                tracing::warn!(deployment = id, error = %e, "removing a staged upload");
            }
            _ => {}
        }
    }

    fn entry(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id.to_string())
            .or_default()
            .clone()
    }

    fn held(self: &Arc<Self>, id: &str, guard: OwnedMutexGuard<()>) -> UploadLock {
        UploadLock {
            uploads: self.clone(),
            id: id.to_string(),
            guard: Some(guard),
        }
    }

    /// Drop the entry of `id` when nobody else holds or awaits it (the map's own reference is
    /// then the only one), so the map does not grow with every upload ever made.
    fn release(&self, id: &str) {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        if locks.get(id).is_some_and(|m| Arc::strong_count(m) == 1) {
            locks.remove(id);
        }
    }

    #[cfg(test)]
    fn entries(&self) -> usize {
        self.locks.lock().unwrap().len()
    }
}

impl Drop for UploadLock {
    fn drop(&mut self) {
        drop(self.guard.take());
        self.uploads.release(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn one_holder_at_a_time_and_no_entry_left_behind() {
        let dir = tempfile::tempdir().unwrap();
        let uploads = Arc::new(Uploads::open(dir.path().join("uploads")).unwrap());
        let first = uploads.lock("d1").await;
        assert!(uploads.try_lock("d1").is_none());
        assert!(uploads.try_lock("d2").is_some(), "other uploads are free");

        let waiter = {
            let uploads = uploads.clone();
            tokio::spawn(async move {
                let _second = uploads.lock("d1").await;
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !waiter.is_finished(),
            "the second holder waits for the first"
        );
        drop(first);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(uploads.entries(), 0);
    }
}
