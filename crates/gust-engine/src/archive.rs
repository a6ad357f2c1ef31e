//! Safe unpacking of uploaded `.tar.gz` and `.zip` packages. Every entry is checked before it
//! touches the disk: no absolute paths, no `..`, no device files, and a cap on the total
//! unpacked size and entry count (archive bombs); for `.tar.gz` the decompressed stream itself
//! is capped too, since the tar reader reads long names and extended headers whole.
//!
//! Links are made last, once every file and folder is in place, so nothing is ever written
//! through one; each is then followed as the kernel would, through the links it meets, and
//! must end inside the folder (a link to `..` from a subfolder is inside; another link through
//! it to `..` again is not). On any error the folder is removed.
//!
//! Blocking: run it on a blocking thread.

use std::cell::Cell;
use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use gust_core::PackageFormat;

/// Most entries one archive may hold.
const MAX_ENTRIES: usize = 100_000;
/// Bytes of the decompressed tar stream allowed per entry beyond its data: its header, the
/// padding after its data, and extended headers or a long name (a path is at most 4 KiB on
/// Linux; the rest is slack).
const TAR_OVERHEAD_PER_ENTRY: u64 = 64 * 1024;
/// Links followed while resolving one, as the kernel's own limit (`MAXSYMLINKS`).
const MAX_LINK_HOPS: usize = 40;

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

/// What one archive may unpack to.
#[derive(Debug, Clone, Copy)]
struct Limits {
    /// Bytes of all files together.
    bytes: u64,
    entries: usize,
}

/// Pack the folder `dir` into the `.tar.gz` `out` (links kept as links), the form
/// [`unpack`] reads back: how a built process function travels to other nodes.
pub fn pack(dir: &Path, out: &Path) -> Result<(), ArchiveError> {
    let file = fs::File::create(out).map_err(io_err(format!("creating {}", out.display())))?;
    let gz = flate2::write::GzEncoder::new(io::BufWriter::new(file), flate2::Compression::fast());
    let mut builder = tar::Builder::new(gz);
    builder.follow_symlinks(false);
    builder
        .append_dir_all(".", dir)
        .map_err(io_err(format!("packing {}", dir.display())))?;
    let gz = builder
        .into_inner()
        .map_err(io_err(format!("writing {}", out.display())))?;
    let mut writer = gz
        .finish()
        .map_err(io_err(format!("writing {}", out.display())))?;
    io::Write::flush(&mut writer).map_err(io_err(format!("writing {}", out.display())))?;
    Ok(())
}

/// Unpack `archive` into the empty folder `dest`.
pub fn unpack(
    format: PackageFormat,
    archive: &Path,
    dest: &Path,
    max_bytes: u64,
) -> Result<Unpacked, ArchiveError> {
    let limits = Limits {
        bytes: max_bytes,
        entries: MAX_ENTRIES,
    };
    unpack_within(format, archive, dest, limits)
}

fn unpack_within(
    format: PackageFormat,
    archive: &Path,
    dest: &Path,
    limits: Limits,
) -> Result<Unpacked, ArchiveError> {
    fs::create_dir_all(dest).map_err(io_err(format!("creating {}", dest.display())))?;
    let file = fs::File::open(archive).map_err(io_err(format!("opening {}", archive.display())))?;
    let mut budget = Budget {
        limits,
        out: Unpacked::default(),
        entries: 0,
        links: Vec::new(),
        stream_allowed: Rc::new(Cell::new(TAR_OVERHEAD_PER_ENTRY)),
    };
    let unpacked = match format {
        PackageFormat::TarGz => unpack_tar(io::BufReader::new(file), dest, &mut budget),
        PackageFormat::Zip => unpack_zip(file, dest, &mut budget),
        PackageFormat::Wasm => rejected("a bare .wasm is not an archive"),
    }
    .and_then(|()| make_links(dest, &budget.links));
    if unpacked.is_err() {
        // Half an archive is no use, and it may hold a link that was refused later on.
        let _ = fs::remove_dir_all(dest);
    }
    unpacked.map(|()| budget.out)
}

/// A link of the archive, made once the files and folders are in place.
struct Link {
    /// Where the link goes, relative to the folder (clean: see [`safe_relative`]).
    at: PathBuf,
    /// A symbolic link's target as given; a hard link's, resolved from the folder's root.
    target: PathBuf,
    hard: bool,
}

struct Budget {
    limits: Limits,
    out: Unpacked,
    entries: usize,
    links: Vec<Link>,
    /// How far the decompressed tar stream may go so far ([`Capped`]): grows with each entry
    /// by its overhead, and by each file's data while it is copied.
    stream_allowed: Rc<Cell<u64>>,
}

fn too_big(max_bytes: u64) -> ArchiveError {
    let limit = if max_bytes >= 1024 * 1024 {
        format!("{} MiB", max_bytes / (1024 * 1024))
    } else {
        format!("{max_bytes} bytes")
    };
    ArchiveError::Rejected(format!(
        "the archive unpacks to more than {limit}, the limit"
    ))
}

impl Budget {
    fn entry(&mut self) -> Result<(), ArchiveError> {
        self.entries += 1;
        if self.entries > self.limits.entries {
            return rejected(format!(
                "the archive has more than {} entries",
                self.limits.entries
            ));
        }
        self.allow_stream(TAR_OVERHEAD_PER_ENTRY);
        Ok(())
    }

    fn allow_stream(&self, bytes: u64) {
        let allowed = &self.stream_allowed;
        allowed.set(allowed.get().saturating_add(bytes));
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
        let room = self.limits.bytes - self.out.bytes;
        let take = room.saturating_add(1);
        self.allow_stream(take);
        let written = io::copy(&mut reader.take(take), &mut out)
            .map_err(|e| ArchiveError::Rejected(format!("the archive is corrupt: {e}")))?;
        if written > room {
            return Err(too_big(self.limits.bytes));
        }
        // What the copy did not use is not the stream's to take.
        let allowed = &self.stream_allowed;
        allowed.set(allowed.get() - (take - written));
        self.out.bytes += written;
        if executable {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
                .map_err(io_err("setting permissions"))?;
        }
        self.out.files.push(rel.to_path_buf());
        Ok(())
    }

    /// A link, checked as far as its own words go ([`check_link`]), to make at the end.
    fn link(&mut self, rel: PathBuf, target: PathBuf, hard: bool) -> Result<(), ArchiveError> {
        let resolved = check_link(&rel, &target, hard)?;
        let target = if hard { resolved } else { target };
        self.links.push(Link {
            at: rel,
            target,
            hard,
        });
        Ok(())
    }
}

/// The decompressed tar stream, read no further than its entries account for
/// (`Budget::stream_allowed`): the tar reader reads a long name or an extended header whole
/// into memory, and skips what an entry declares that is not read, so without this a
/// compressed run of zeros is a memory or time bomb no entry ever shows.
struct Capped<R> {
    inner: R,
    read: u64,
    allowed: Rc<Cell<u64>>,
    exceeded: Rc<Cell<bool>>,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let room = self.allowed.get().saturating_sub(self.read);
        if room == 0 && !buf.is_empty() {
            self.exceeded.set(true);
            return Err(io::Error::other("the archive outgrows its entries"));
        }
        let len = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..len])?;
        self.read += n as u64;
        Ok(n)
    }
}

/// A relative path with no `..`, no root, no prefix and no NUL, normalised (`./a//b` → `a/b`).
fn safe_relative(raw: &Path) -> Result<PathBuf, ArchiveError> {
    if raw.as_os_str().as_bytes().contains(&0) {
        return rejected(format!(
            "the archive entry `{}` has a NUL byte in its name",
            raw.display()
        ));
    }
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

/// Check that a link at `entry` pointing to `target` stays inside the folder, as written (the
/// links it may go through are followed once they exist: [`resolves_inside`]).
fn check_link(entry: &Path, target: &Path, hard: bool) -> Result<PathBuf, ArchiveError> {
    if target.as_os_str().as_bytes().contains(&0) {
        return rejected(format!(
            "the link `{}` has a NUL byte in its target",
            entry.display()
        ));
    }
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

/// Make the archive's links, now that its files and folders are in place: hard links first
/// (to files only, which no symbolic link can be in the way of yet), then symbolic links, each
/// in a real folder, then check that each leads inside the folder.
fn make_links(dest: &Path, links: &[Link]) -> Result<(), ArchiveError> {
    let taken = |at: &Path, e: io::Error| {
        ArchiveError::Rejected(format!("the link `{}` cannot be made: {e}", at.display()))
    };
    for link in links.iter().filter(|l| l.hard) {
        let source = dest.join(&link.target);
        if !fs::symlink_metadata(&source).is_ok_and(|m| m.is_file()) {
            return rejected(format!(
                "the hard link `{}` points to `{}`, which is not a file of the archive",
                link.at.display(),
                link.target.display()
            ));
        }
        let path = dest.join(&link.at);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| taken(&link.at, e))?;
        }
        fs::hard_link(&source, &path).map_err(|e| taken(&link.at, e))?;
    }
    for link in links.iter().filter(|l| !l.hard) {
        // Its folder must be a folder, not reached through another link.
        let mut folder = dest.to_path_buf();
        for part in link.at.parent().into_iter().flat_map(Path::components) {
            folder.push(part);
            match fs::symlink_metadata(&folder) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return rejected(format!(
                        "the link `{}` is inside another link, `{}`",
                        link.at.display(),
                        folder.strip_prefix(dest).unwrap_or(&folder).display()
                    ));
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let path = dest.join(&link.at);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| taken(&link.at, e))?;
        }
        std::os::unix::fs::symlink(&link.target, &path).map_err(|e| taken(&link.at, e))?;
    }
    for link in links.iter().filter(|l| !l.hard) {
        resolves_inside(dest, &link.at)?;
    }
    Ok(())
}

/// Follow the link at `at` (relative to `dest`) as the kernel would: component by component,
/// each link met replaced by its target, `..` going up from where the path really is. It must
/// never leave `dest`. Parts that do not exist are taken as folders: the kernel stops there,
/// so a path that is inside this way is inside or leads nowhere.
fn resolves_inside(dest: &Path, at: &Path) -> Result<(), ArchiveError> {
    let outside = || {
        rejected(format!(
            "the link `{}` leads outside the folder, through the links on its way",
            at.display()
        ))
    };
    let mut here: Vec<OsString> = Vec::new();
    let mut pending: VecDeque<OsString> = VecDeque::new();
    let mut hops = 0;
    let push_path = |pending: &mut VecDeque<OsString>, path: &Path| -> bool {
        let mut parts = Vec::new();
        for component in path.components() {
            match component {
                Component::Normal(part) => parts.push(part.to_os_string()),
                Component::CurDir => {}
                Component::ParentDir => parts.push(OsString::from("..")),
                Component::RootDir | Component::Prefix(_) => return false,
            }
        }
        for part in parts.into_iter().rev() {
            pending.push_front(part);
        }
        true
    };
    push_path(&mut pending, at);
    while let Some(part) = pending.pop_front() {
        if part == ".." {
            if here.pop().is_none() {
                return outside();
            }
            continue;
        }
        here.push(part);
        let path: PathBuf = std::iter::once(dest.as_os_str())
            .chain(here.iter().map(OsString::as_os_str))
            .collect();
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if !meta.file_type().is_symlink() {
            continue;
        }
        hops += 1;
        if hops > MAX_LINK_HOPS {
            return rejected(format!(
                "the link `{}` goes through more than {MAX_LINK_HOPS} links (a loop?)",
                at.display()
            ));
        }
        here.pop();
        let target = fs::read_link(&path).map_err(io_err("reading a link"))?;
        if !push_path(&mut pending, &target) {
            return outside();
        }
    }
    Ok(())
}

fn unpack_tar(reader: impl Read, dest: &Path, budget: &mut Budget) -> Result<(), ArchiveError> {
    let exceeded = Rc::new(Cell::new(false));
    let gz = Capped {
        inner: flate2::read::GzDecoder::new(reader),
        read: 0,
        allowed: budget.stream_allowed.clone(),
        exceeded: exceeded.clone(),
    };
    let mut archive = tar::Archive::new(gz);
    let max_bytes = budget.limits.bytes;
    let corrupt = |e: io::Error| {
        if exceeded.get() {
            too_big(max_bytes)
        } else {
            ArchiveError::Rejected(format!("the archive is not a valid .tar.gz: {e}"))
        }
    };
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
                budget
                    .write_file(&mut entry, dest, &rel, executable)
                    .map_err(|e| match e {
                        ArchiveError::Rejected(_) if exceeded.get() => too_big(max_bytes),
                        e => e,
                    })?;
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
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
                budget.link(rel, target, kind == tar::EntryType::Link)?;
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
            budget.link(rel, PathBuf::from(target), false)?;
        } else {
            let executable = entry.unix_mode().map(|m| m & 0o111 != 0).unwrap_or(false);
            budget.write_file(&mut entry, dest, &rel, executable)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod proptests;

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

    fn symlink(b: &mut tar::Builder<Vec<u8>>, at: &str, target: &str) {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, at, target).unwrap();
    }

    fn file(b: &mut tar::Builder<Vec<u8>>, at: &str, data: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, at, data).unwrap();
    }

    /// What the temporary folder holds besides the archive and the destination.
    fn strays(dir: &tempfile::TempDir) -> Vec<String> {
        fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "a.tar.gz" && n != "out")
            .collect()
    }

    #[test]
    fn a_link_through_a_link_to_the_folder_cannot_reach_its_parent() {
        // `a/l` → `..` is the folder itself, and `m` → `a/l/..` reads as `a` when taken
        // word by word; the kernel follows `a/l` first and lands in the folder's parent, where
        // `m/evil` was written.
        let bytes = tar_gz(|b| {
            symlink(b, "a/l", "..");
            symlink(b, "m", "a/l/..");
            file(b, "m/evil", b"x");
        });
        let (dir, result) = unpack_bytes(&bytes, 1024);
        assert!(result.is_err());
        assert_eq!(strays(&dir), Vec::<String>::new());
        assert!(!dir.path().join("out").exists());
        // The link alone, which the build would read through, is refused too.
        let bytes = tar_gz(|b| {
            symlink(b, "a/l", "..");
            symlink(b, "m", "a/l/../package.json");
        });
        let (_dir, result) = unpack_bytes(&bytes, 1024);
        let error = result.unwrap_err().to_string();
        assert!(error.contains("`m` leads outside the folder"), "{error}");
    }

    #[test]
    fn nothing_is_written_through_a_link() {
        // `a` → `.`: `a/f` would land at `f`. Files come first; the link then has no place.
        let bytes = tar_gz(|b| {
            symlink(b, "a", ".");
            file(b, "a/f", b"x");
        });
        let (_dir, result) = unpack_bytes(&bytes, 1024);
        assert!(result.is_err());
        // A link inside another link's place is refused before it is made.
        let bytes = tar_gz(|b| {
            symlink(b, "a", "b");
            file(b, "b/f", b"x");
            symlink(b, "a/l", "f");
        });
        let (_dir, result) = unpack_bytes(&bytes, 1024);
        let error = result.unwrap_err().to_string();
        assert!(error.contains("inside another link"), "{error}");
    }

    #[test]
    fn links_that_stay_inside_are_made_last() {
        let bytes = tar_gz(|b| {
            symlink(b, "lib/current", "../v1");
            file(b, "v1/mod.py", b"x = 1");
            symlink(b, "top", "lib/current/mod.py");
        });
        let (dir, result) = unpack_bytes(&bytes, 1024);
        result.unwrap();
        assert_eq!(fs::read(dir.path().join("out/top")).unwrap(), b"x = 1");
    }

    #[test]
    fn a_long_name_bomb_is_stopped_at_the_limit() {
        // A GNU long name the tar reader would read whole: 64 MiB of zeros, a few KiB packed.
        let bytes = tar_gz(|b| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::GNULongName);
            h.set_size(64 * 1024 * 1024);
            h.set_cksum();
            b.append(&h, io::repeat(0).take(64 * 1024 * 1024)).unwrap();
            file(b, "f", b"x");
        });
        let (_dir, result) = unpack_bytes(&bytes, 1024);
        let error = result.unwrap_err().to_string();
        assert!(error.contains("unpacks to more than 1024 bytes"), "{error}");
    }

    #[test]
    fn hard_links_must_name_a_file_of_the_archive() {
        let bytes = tar_gz(|b| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            b.append_data(&mut h, "d/", io::empty()).unwrap();
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Link);
            h.set_size(0);
            b.append_link(&mut h, "h", "d").unwrap();
        });
        let (_dir, result) = unpack_bytes(&bytes, 1024);
        let error = result.unwrap_err().to_string();
        assert!(error.contains("not a file of the archive"), "{error}");
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
