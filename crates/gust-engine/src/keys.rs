//! The master key file and key rotation.
//!
//! The keys that seal secrets live outside the database: `DATA_DIR/master.key` (made at first
//! start, mode 0600) or the file `--master-key-file` names. Each line is `<id> <64 hex digits>`,
//! the active key first; a lone hex line is key 1.
//!
//! Rotation (`Engine::rotate_master_key`), with the server running and every step safe to
//! interrupt:
//! 1. a new key, numbered past every id used, is written to the file *before* the old ones
//!    (atomically: a temporary file, synced, renamed over it), so from here the file opens
//!    everything, whatever happens next;
//! 2. the store records the new key and seals every new value with it;
//! 3. the store reseals the old values, one row per transaction;
//! 4. the store checks, in one transaction, that nothing is left under the old keys and
//!    forgets them;
//! 5. the file is rewritten with the new key alone.
//!
//! A crash before 5 leaves a file with more keys than needed, never fewer; the next start
//! finishes the rotation (steps 3 to 5). Since 4 comes before 5, no database ever names a key
//! its file lacks.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use gust_store::seal::{key_file_text, parse_key_file};
use gust_store::{Keyring, MasterKey, Store};

/// Where the keys are, and whether this start made the file.
pub struct KeyFile {
    pub path: PathBuf,
    /// Made by this start: removed again if the database refuses it, so a data dir whose
    /// file was lost does not get a wrong one that stays.
    pub created: bool,
}

/// Read the key file, or make `DATA_DIR/master.key` when neither it nor a given file exists.
pub fn load_or_create(
    data_dir: &Path,
    given: Option<&Path>,
) -> anyhow::Result<(KeyFile, Arc<Keyring>)> {
    let path = given
        .map(Path::to_path_buf)
        .unwrap_or_else(|| data_dir.join("master.key"));
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            if let Ok(meta) = std::fs::metadata(&path)
                && std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o077 != 0
            {
                tracing::warn!(
                    path = %path.display(),
                    "the master key file is readable by others than its owner; chmod 600 it"
                );
            }
            let keys = parse_key_file(&text)
                .map_err(|e| anyhow::anyhow!("the master key file {}: {e}", path.display()))?;
            let keyring = Keyring::new(keys)
                .map_err(|e| anyhow::anyhow!("the master key file {}: {e}", path.display()))?;
            Ok((
                KeyFile {
                    path,
                    created: false,
                },
                Arc::new(keyring),
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && given.is_none() => {
            let key = MasterKey::generate(1);
            crate::start::write_private_new(&path, &key_file_text(std::slice::from_ref(&key)))
                .with_context(|| format!("creating the master key file {}", path.display()))?;
            tracing::info!(path = %path.display(), "created the master key");
            let keyring = Keyring::new(vec![key]).map_err(anyhow::Error::msg)?;
            Ok((
                KeyFile {
                    path,
                    created: true,
                },
                Arc::new(keyring),
            ))
        }
        Err(e) => Err(e).with_context(|| format!("reading the master key file {}", path.display())),
    }
}

/// Replace the key file with `keys` (the active key first), atomically and durably: a reader
/// or a crash sees the old file or the new one, never a mix.
pub fn write_keys(path: &Path, keys: &[MasterKey]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .context("the master key file's path names no file")?
        .to_string_lossy();
    let temp = dir.join(format!(".{name}.new"));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)
        .with_context(|| format!("writing {}", temp.display()))?;
    file.write_all(key_file_text(keys).as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", temp.display()))?;
    std::fs::rename(&temp, path)
        .with_context(|| format!("replacing {} with {}", path.display(), temp.display()))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))?;
    Ok(())
}

/// What a rotation did.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Rotation {
    /// The id of the key that now seals every secret.
    pub key_id: u32,
    /// The ids of the keys retired.
    pub retired: Vec<u32>,
    /// Rows (namespaces, functions, versions) whose secrets were resealed.
    pub resealed: u64,
}

/// Steps 3 to 5 of a rotation: reseal what the old keys sealed, forget them, rewrite the file.
pub async fn finish_rotation(store: &dyn Store, path: &Path) -> anyhow::Result<Rotation> {
    let resealed = store
        .reseal_secrets()
        .await
        .context("resealing secrets under the new master key")?;
    let retired = store
        .retire_keys()
        .await
        .context("retiring the old master keys")?;
    write_keys(path, &store.keyring().keys())?;
    Ok(Rotation {
        key_id: store.keyring().active_id(),
        retired,
        resealed,
    })
}

/// A whole rotation to a new key (see the module's comment).
pub async fn rotate(store: &dyn Store, path: &Path) -> anyhow::Result<Rotation> {
    let keyring = store.keyring();
    let used = store.sealing_key_ids().await?;
    let next = used
        .iter()
        .chain(keyring.ids().iter())
        .copied()
        .max()
        .unwrap_or(0)
        .checked_add(1)
        .context("master key ids are used up")?;
    let key = MasterKey::generate(next);
    let mut keys = vec![key.clone()];
    keys.extend(keyring.keys());
    write_keys(path, &keys)?;
    store
        .begin_rotation(key)
        .await
        .context("recording the new master key")?;
    finish_rotation(store, path).await
}
