//! Safe unpacking of uploaded `.tar.gz` and `.zip` packages. Every entry is checked before it
//! touches the disk: no absolute paths, no `..`, no links that point outside the folder, no
//! device files, and a cap on the total unpacked size and entry count (archive bombs).
//! Blocking: run it on a blocking thread.

use std::fs;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use gust_core::PackageFormat;

/// Most entries one archive may hold.
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The archive is unsafe or malformed; the message is for the user.
    #[error("{0}")]
    Rejected(String),
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
}

fn rejected<T>(message: impl Into<String>) -> Result<T, ArchiveError> {
    Err(ArchiveError::Rejected(message.into()))
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> ArchiveError {
    let context = context.into();
    move |source| ArchiveError::Io { context, source }
}

/// What was unpacked.
#[derive(Debug, Default)]
pub struct Unpacked {
    pub files: Vec<PathBuf>,
    pub bytes: u64,
}

/// Unpack `archive` into the empty folder `dest`.
pub fn unpack(
    format: PackageFormat,
    archive: &Path,
    dest: &Path,
    max_bytes: u64,
) -> Result<Unpacked, ArchiveError> {
    fs::create_dir_all(dest).map_err(io_err(format!("creating {}", dest.display())))?;
    let file = fs::File::open(archive).map_err(io_err(format!("opening {}", archive.display())))?;
    let mut budget = Budget {
        max_bytes,
        out: Unpacked::default(),
        entries: 0,
    };
    match format {
        PackageFormat::TarGz => unpack_tar(io::BufReader::new(file), dest, &mut budget)?,
        PackageFormat::Zip => unpack_zip(file, dest, &mut budget)?,
        PackageFormat::Wasm => return rejected("a bare .wasm is not an archive"),
    }
    Ok(budget.out)
}

struct Budget {
    max_bytes: u64,
    out: Unpacked,
    entries: usize,
}

impl Budget {
    fn entry(&mut self) -> Result<(), ArchiveError> {
        self.entries += 1;
        if self.entries > MAX_ENTRIES {
            return rejected(format!("the archive has more than {MAX_ENTRIES} entries"));
        }
        Ok(())
    }

    /// Copy `reader` to `path`, counting against the size cap with the bytes really written.
    fn write_file(
        &mut self,
        reader: &mut dyn Read,
        dest: &Path,
        rel: &Path,
        executable: bool,
    ) -> Result<(), ArchiveError> {
        let path = dest.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io_err(format!("creating {}", parent.display())))?;
        }
        let mut out =
            fs::File::create(&path).map_err(io_err(format!("creating {}", path.display())))?;
        let room = self.max_bytes - self.out.bytes;
        let written = io::copy(&mut reader.take(room + 1), &mut out)
            .map_err(|e| ArchiveError::Rejected(format!("the archive is corrupt: {e}")))?;
        if written > room {
            return rejected(format!(
                "the archive unpacks to more than {} MiB, the limit",
                self.max_bytes / (1024 * 1024)
            ));
        }
        self.out.bytes += written;
        if executable {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
                .map_err(io_err("setting permissions"))?;
        }
        self.out.files.push(rel.to_path_buf());
        Ok(())
    }
}

/// A relative path with no `..`, no root and no prefix, normalised (`./a//b` → `a/b`).
fn safe_relative(raw: &Path) -> Result<PathBuf, ArchiveError> {
    let mut clean = PathBuf::new();
    for component in raw.components() {
        match component {
            Component::Normal(part) => clean.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                return rejected(format!(
                    "the archive entry `{}` contains `..`: refusing to unpack outside the folder",
                    raw.display()
                ));
            }
            Component::RootDir | Component::Prefix(_) => {
                return rejected(format!(
                    "the archive entry `{}` has an absolute path",
                    raw.display()
                ));
            }
        }
    }
    Ok(clean)
}

/// Check that a link at `entry` pointing to `target` stays inside the folder.
fn check_link(entry: &Path, target: &Path, hard: bool) -> Result<PathBuf, ArchiveError> {
    if target.is_absolute() {
        return rejected(format!(
            "the link `{}` points to the absolute path `{}`, outside the folder",
            entry.display(),
            target.display()
        ));
    }
    // Symlinks resolve from their own folder; hard link names are relative to the archive root.
    let mut resolved = if hard {
        PathBuf::new()
    } else {
        entry.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    for component in target.components() {
        match component {
            Component::Normal(part) => resolved.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                if !resolved.pop() {
                    return rejected(format!(
                        "the link `{}` points to `{}`, outside the folder",
                        entry.display(),
                        target.display()
                    ));
                }
            }
            Component::RootDir | Component::Prefix(_) => {
                return rejected(format!(
                    "the link `{}` points outside the folder",
                    entry.display()
                ));
            }
        }
    }
    Ok(resolved)
}

fn unpack_tar(reader: impl Read, dest: &Path, budget: &mut Budget) -> Result<(), ArchiveError> {
    let gz = flate2::read::GzDecoder::new(reader);
    let mut archive = tar::Archive::new(gz);
    let corrupt =
        |e: io::Error| ArchiveError::Rejected(format!("the archive is not a valid .tar.gz: {e}"));
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        budget.entry()?;
        let raw = entry.path().map_err(corrupt)?.into_owned();
        let rel = safe_relative(&raw)?;
        if rel.as_os_str().is_empty() {
            continue;
        }
        let kind = entry.header().entry_type();
        match kind {
            tar::EntryType::Directory => {
                fs::create_dir_all(dest.join(&rel)).map_err(io_err("creating a folder"))?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let executable = entry
                    .header()
                    .mode()
                    .map(|m| m & 0o111 != 0)
                    .unwrap_or(false);
                budget.write_file(&mut entry, dest, &rel, executable)?;
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let hard = kind == tar::EntryType::Link;
                let target = entry
                    .link_name()
                    .map_err(corrupt)?
                    .ok_or_else(|| {
                        ArchiveError::Rejected(format!(
                            "the link `{}` has no target",
                            raw.display()
                        ))
                    })?
                    .into_owned();
                let resolved = check_link(&rel, &target, hard)?;
                let path = dest.join(&rel);
                if let Some(parent) = path.parent() {
                    fs::create_dir_all(parent).map_err(io_err("creating a folder"))?;
                }
                if hard {
                    fs::hard_link(dest.join(&resolved), &path).map_err(|e| {
                        ArchiveError::Rejected(format!(
                            "the hard link `{}` points to a missing file: {e}",
                            raw.display()
                        ))
                    })?;
                } else {
                    std::os::unix::fs::symlink(&target, &path)
                        .map_err(io_err("creating a symlink"))?;
                }
            }
            // Pax and GNU long-name headers are consumed by the tar reader itself.
            tar::EntryType::XGlobalHeader
            | tar::EntryType::XHeader
            | tar::EntryType::GNULongName
            | tar::EntryType::GNULongLink => {}
            other => {
                return rejected(format!(
                    "the archive entry `{}` is a {other:?}, which is not allowed (only files, folders and links)",
                    raw.display()
                ));
            }
        }
    }
    Ok(())
}

fn unpack_zip(file: fs::File, dest: &Path, budget: &mut Budget) -> Result<(), ArchiveError> {
    let corrupt = |e: zip::result::ZipError| {
        ArchiveError::Rejected(format!("the archive is not a valid .zip: {e}"))
    };
    let mut archive = zip::ZipArchive::new(io::BufReader::new(file)).map_err(corrupt)?;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(corrupt)?;
        budget.entry()?;
        let raw = PathBuf::from(entry.name());
        let rel = safe_relative(&raw)?;
        if rel.as_os_str().is_empty() {
            continue;
        }
        if entry.is_dir() {
            fs::create_dir_all(dest.join(&rel)).map_err(io_err("creating a folder"))?;
        } else if entry.is_symlink() {
            let mut target = String::new();
            entry
                .by_ref()
                .take(4096)
                .read_to_string(&mut target)
                .map_err(|e| ArchiveError::Rejected(format!("the archive is corrupt: {e}")))?;
            let target = PathBuf::from(target);
            check_link(&rel, &target, false)?;
            let path = dest.join(&rel);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).map_err(io_err("creating a folder"))?;
            }
            std::os::unix::fs::symlink(&target, &path).map_err(io_err("creating a symlink"))?;
        } else {
            let executable = entry.unix_mode().map(|m| m & 0o111 != 0).unwrap_or(false);
            budget.write_file(&mut entry, dest, &rel, executable)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_with_parent_or_root_are_rejected() {
        assert!(safe_relative(Path::new("../etc/passwd")).is_err());
        assert!(safe_relative(Path::new("a/../../b")).is_err());
        assert!(safe_relative(Path::new("/etc/passwd")).is_err());
        assert_eq!(
            safe_relative(Path::new("./a//b")).unwrap(),
            PathBuf::from("a/b")
        );
    }

    #[test]
    fn links_must_stay_inside() {
        assert!(check_link(Path::new("a/link"), Path::new("../b"), false).is_ok());
        assert!(check_link(Path::new("a/link"), Path::new("../../b"), false).is_err());
        assert!(check_link(Path::new("link"), Path::new("/etc/passwd"), false).is_err());
        assert!(check_link(Path::new("a/b"), Path::new("a/c"), true).is_ok());
    }

    fn tar_gz(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        build(&mut builder);
        let tar = builder.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &tar).unwrap();
        gz.finish().unwrap()
    }

    fn unpack_bytes(bytes: &[u8], max: u64) -> (tempfile::TempDir, Result<Unpacked, ArchiveError>) {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("a.tar.gz");
        fs::write(&archive, bytes).unwrap();
        let result = unpack(PackageFormat::TarGz, &archive, &dir.path().join("out"), max);
        (dir, result)
    }

    #[test]
    fn unpacks_files_and_counts_bytes() {
        let bytes = tar_gz(|b| {
            let mut h = tar::Header::new_gnu();
            h.set_size(5);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, "dir/hello.txt", &b"hello"[..])
                .unwrap();
        });
        let (dir, result) = unpack_bytes(&bytes, 1024);
        let out = result.unwrap();
        assert_eq!(out.bytes, 5);
        assert_eq!(
            fs::read(dir.path().join("out/dir/hello.txt")).unwrap(),
            b"hello"
        );
    }

    #[test]
    fn oversized_archives_fail_with_the_limit_named() {
        let bytes = tar_gz(|b| {
            let mut h = tar::Header::new_gnu();
            h.set_size(2048);
            h.set_cksum();
            b.append_data(&mut h, "big", &vec![0u8; 2048][..]).unwrap();
        });
        let (_dir, result) = unpack_bytes(&bytes, 1024);
        assert!(
            result
                .unwrap_err()
                .to_string()
                .contains("unpacks to more than")
        );
    }

    #[test]
    fn escaping_symlinks_are_refused() {
        let bytes = tar_gz(|b| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, "evil", "../../etc/passwd").unwrap();
        });
        let (_dir, result) = unpack_bytes(&bytes, 1024);
        assert!(
            result
                .unwrap_err()
                .to_string()
                .contains("outside the folder")
        );
    }
}
