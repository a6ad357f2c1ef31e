//! Property tests of the unpacker, with archives built from hostile entries: `..` and absolute
//! paths, symbolic and hard links out of the folder (and files written through them), device
//! files, duplicate, long and non-UTF-8 names, sizes that lie, bombs past the limits; then the
//! same archives with bytes changed, and random bytes. Whatever the archive, nothing is written
//! outside the folder and nothing panics: it unpacks with every file and link inside, or fails
//! with a message and leaves no folder behind.
//!
//! Each property runs 64 cases; `PROPTEST_CASES=5000 cargo nextest run -p gust-engine
//! archive::proptests` runs more.

use std::io::Write;

use proptest::collection::vec;
use proptest::prelude::*;

use super::*;

/// `cases` unless `PROPTEST_CASES` asks for another number.
fn config(cases: u32) -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    // Failures become plain regression tests in `tests` below.
    config.failure_persistence = None;
    config
}

/// Folders between the temporary root and the destination: an escape of up to this many
/// levels lands inside the root, where the check sees it.
const DEPTH: usize = 40;

/// Small limits, so archives built here reach them.
const LIMITS: Limits = Limits {
    bytes: 64 * 1024,
    entries: 8,
};

#[derive(Debug, Clone)]
enum Kind {
    File(Vec<u8>, u32),
    /// A header that declares more bytes than follow.
    Lying(u64, Vec<u8>),
    /// Zeros: compress to almost nothing, unpack past the limit.
    Zeros(u64),
    /// A GNU long name of this many zeros before the entry (read whole by the tar reader).
    LongNameBomb(u64),
    Dir,
    Symlink(Vec<u8>),
    Hardlink(Vec<u8>),
    /// Another entry type: character and block devices, FIFOs, sparse files, ...
    Special(u8),
}

#[derive(Debug, Clone)]
struct Entry {
    name: Vec<u8>,
    kind: Kind,
}

fn segment() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => prop::sample::select(vec!["a", "b", "l", "m"]).prop_map(|s| s.as_bytes().to_vec()),
        3 => Just(b"..".to_vec()),
        1 => Just(b".".to_vec()),
        1 => Just(Vec::new()),
        1 => Just(b"\xff\xfe".to_vec()),
        1 => Just(vec![b'x'; 120]),
    ]
}

fn path() -> impl Strategy<Value = Vec<u8>> {
    (prop::bool::weighted(0.1), vec(segment(), 1..5)).prop_map(|(absolute, segments)| {
        let mut path = if absolute { b"/".to_vec() } else { Vec::new() };
        path.extend(segments.join(&b'/'));
        path
    })
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        4 => (vec(any::<u8>(), 0..64), prop::sample::select(vec![0o644, 0o755, 0o4777]))
            .prop_map(|(data, mode)| Kind::File(data, mode)),
        4 => path().prop_map(Kind::Symlink),
        2 => path().prop_map(Kind::Hardlink),
        2 => Just(Kind::Dir),
        1 => (1u64 << 20..1u64 << 40, vec(any::<u8>(), 0..16))
            .prop_map(|(declared, data)| Kind::Lying(declared, data)),
        1 => (0u64..3 * LIMITS.bytes).prop_map(Kind::Zeros),
        1 => (0u64..4 * LIMITS.bytes).prop_map(Kind::LongNameBomb),
        1 => prop::sample::select(b"34567SVgx".to_vec()).prop_map(Kind::Special),
    ]
}

fn entries() -> impl Strategy<Value = Vec<Entry>> {
    vec(
        (path(), kind()).prop_map(|(name, kind)| Entry { name, kind }),
        1..10,
    )
}

/// Entries that meet: two names, links among them (to `.`, `..` and each other), and files
/// and folders under them, so that a path goes through a link another entry made.
fn chained_entries() -> impl Strategy<Value = Vec<Entry>> {
    let name = vec(prop::sample::select(vec!["a", "l"]), 1..3).prop_map(|p| p.join("/"));
    let target =
        vec(prop::sample::select(vec!["a", "l", ".", ".."]), 1..4).prop_map(|p| p.join("/"));
    let kind = prop_oneof![
        3 => target.clone().prop_map(|t| Kind::Symlink(t.into_bytes())),
        1 => target.prop_map(|t| Kind::Hardlink(t.into_bytes())),
        1 => Just(Kind::File(b"x".to_vec(), 0o644)),
        1 => Just(Kind::Dir),
    ];
    let entry = (
        name,
        kind,
        prop::option::of(prop::sample::select(vec!["f", "a/f"])),
    );
    vec(entry, 1..8).prop_map(|entries| {
        entries
            .into_iter()
            .flat_map(|(name, kind, below)| {
                // A file written below the entry: through it, when it is a link.
                let below = below.map(|f| Entry {
                    name: format!("{name}/{f}").into_bytes(),
                    kind: Kind::File(b"y".to_vec(), 0o644),
                });
                std::iter::once(Entry {
                    name: name.into_bytes(),
                    kind,
                })
                .chain(below)
            })
            .collect()
    })
}

/// A GNU long name or long link entry (`L`/`K`) holding `name`.
fn long_entry(out: &mut Vec<u8>, kind: u8, name: &[u8]) {
    let mut header = tar::Header::new_gnu();
    header.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
    header.set_entry_type(tar::EntryType::new(kind));
    header.set_size(name.len() as u64 + 1);
    header.set_cksum();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(name);
    out.push(0);
    pad(out);
}

fn pad(out: &mut Vec<u8>) {
    out.resize(out.len().div_ceil(512) * 512, 0);
}

/// The entries as a tar stream, written header by header: `tar::Builder` refuses the names
/// these tests are about.
fn tar_bytes(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in entries {
        let (kind, size, data, link, mode): (u8, u64, Vec<u8>, &[u8], u32) = match &entry.kind {
            Kind::File(data, mode) => (b'0', data.len() as u64, data.clone(), &[], *mode),
            Kind::Lying(declared, data) => (b'0', *declared, data.clone(), &[], 0o644),
            Kind::Zeros(n) => (b'0', *n, vec![0; *n as usize], &[], 0o644),
            Kind::LongNameBomb(n) => {
                let mut header = tar::Header::new_gnu();
                header.set_entry_type(tar::EntryType::GNULongName);
                header.set_size(*n);
                header.set_cksum();
                out.extend_from_slice(header.as_bytes());
                out.resize(out.len() + *n as usize, 0);
                pad(&mut out);
                (b'0', 0, Vec::new(), &[], 0o644)
            }
            Kind::Dir => (b'5', 0, Vec::new(), &[], 0o755),
            Kind::Symlink(target) => (b'2', 0, Vec::new(), target, 0o777),
            Kind::Hardlink(target) => (b'1', 0, Vec::new(), target, 0o644),
            Kind::Special(kind) => (*kind, 0, Vec::new(), &[], 0o644),
        };
        if entry.name.len() > 100 {
            long_entry(&mut out, b'L', &entry.name);
        }
        if link.len() > 100 {
            long_entry(&mut out, b'K', link);
        }
        let mut header = tar::Header::new_gnu();
        let old = header.as_old_mut();
        let n = entry.name.len().min(100);
        old.name[..n].copy_from_slice(&entry.name[..n]);
        let n = link.len().min(100);
        old.linkname[..n].copy_from_slice(&link[..n]);
        header.set_entry_type(tar::EntryType::new(kind));
        header.set_size(size);
        header.set_mode(mode);
        header.set_cksum();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(&data);
        pad(&mut out);
    }
    out.extend_from_slice(&[0; 1024]);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// The entries as a zip, as far as zip can hold them (no hard links or devices; a name the
/// writer refuses, such as a duplicate, is left out).
fn zip_bytes(entries: &[Entry]) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let mut zip = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    for entry in entries {
        let name = String::from_utf8_lossy(&entry.name).into_owned();
        let _ = match &entry.kind {
            Kind::File(data, mode) => zip
                .start_file(name, options.unix_permissions(*mode))
                .and_then(|()| Ok(zip.write_all(data)?)),
            Kind::Zeros(n) | Kind::Lying(n, _) | Kind::LongNameBomb(n) => {
                let n = (*n).min(4 * LIMITS.bytes) as usize;
                zip.start_file(name, options)
                    .and_then(|()| Ok(zip.write_all(&vec![0; n])?))
            }
            Kind::Dir | Kind::Special(_) => zip.add_directory(name, options),
            Kind::Symlink(target) | Kind::Hardlink(target) => {
                zip.add_symlink(name, String::from_utf8_lossy(target), options)
            }
        };
    }
    zip.finish().unwrap().into_inner()
}

/// Unpack `bytes` as `format` into a folder `DEPTH` levels below a fresh root, then check that
/// nothing was written anywhere else, and what a success left.
fn unpack_and_check(format: PackageFormat, bytes: &[u8]) -> Result<(), TestCaseError> {
    let root = tempfile::tempdir().unwrap();
    let archive = root.path().join("archive");
    fs::write(&archive, bytes).unwrap();
    let mut dest = root.path().to_path_buf();
    for _ in 0..DEPTH {
        dest.push("w");
    }
    fs::create_dir_all(&dest).unwrap();
    dest.push("out");
    let result = unpack_within(format, &archive, &dest, LIMITS);

    // Every level above `out` holds what the test put there, and nothing else.
    let names = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let mut level = root.path().to_path_buf();
    prop_assert_eq!(names(&level), ["archive", "w"], "{:?}", result);
    for depth in 1..=DEPTH {
        level.push("w");
        let expected: &[&str] = match (depth, &result) {
            (d, _) if d < DEPTH => &["w"],
            (_, Ok(_)) => &["out"],
            (_, Err(_)) => &[],
        };
        prop_assert_eq!(names(&level), expected, "{:?}", result);
    }

    match result {
        Ok(unpacked) => {
            prop_assert!(unpacked.bytes <= LIMITS.bytes);
            prop_assert!(unpacked.files.len() <= LIMITS.entries);
            let inside = fs::canonicalize(&dest).unwrap();
            for file in &unpacked.files {
                // Reached through folders only, and a file.
                let mut at = dest.clone();
                for part in file.components() {
                    at.push(part);
                    let meta = fs::symlink_metadata(&at).unwrap();
                    prop_assert!(
                        !meta.file_type().is_symlink(),
                        "{} via a link",
                        file.display()
                    );
                }
                prop_assert!(fs::symlink_metadata(&at).unwrap().is_file());
            }
            let mut stack = vec![dest.clone()];
            while let Some(dir) = stack.pop() {
                for entry in fs::read_dir(&dir).unwrap() {
                    let path = entry.unwrap().path();
                    let kind = fs::symlink_metadata(&path).unwrap().file_type();
                    if kind.is_symlink() {
                        if let Ok(target) = fs::canonicalize(&path) {
                            prop_assert!(
                                target.starts_with(&inside),
                                "{} leads to {}",
                                path.display(),
                                target.display()
                            );
                        }
                    } else if kind.is_dir() {
                        stack.push(path);
                    } else {
                        prop_assert!(kind.is_file(), "{} is a {:?}", path.display(), kind);
                    }
                }
            }
        }
        Err(error) => prop_assert!(!error.to_string().is_empty()),
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn hostile_tar_gz_archives_stay_inside(entries in entries()) {
        unpack_and_check(PackageFormat::TarGz, &gzip(&tar_bytes(&entries)))?;
    }

    #[test]
    fn chained_links_stay_inside(entries in chained_entries(), zip in any::<bool>()) {
        if zip {
            unpack_and_check(PackageFormat::Zip, &zip_bytes(&entries))?;
        } else {
            unpack_and_check(PackageFormat::TarGz, &gzip(&tar_bytes(&entries)))?;
        }
    }

    #[test]
    fn hostile_zip_archives_stay_inside(entries in entries()) {
        unpack_and_check(PackageFormat::Zip, &zip_bytes(&entries))?;
    }

    #[test]
    fn damaged_archives_stay_inside(
        entries in entries(),
        zip in any::<bool>(),
        changes in vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let (format, mut bytes) = if zip {
            (PackageFormat::Zip, zip_bytes(&entries))
        } else {
            // Damage the tar stream (the gzip layer would only fail its checksum).
            (PackageFormat::TarGz, tar_bytes(&entries))
        };
        for (at, byte) in changes {
            let at = at.index(bytes.len());
            bytes[at] = byte;
        }
        if !zip {
            bytes = gzip(&bytes);
        }
        unpack_and_check(format, &bytes)?;
    }

    #[test]
    fn random_bytes_are_refused(bytes in vec(any::<u8>(), 1..2048), zip in any::<bool>()) {
        let format = if zip { PackageFormat::Zip } else { PackageFormat::TarGz };
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("archive");
        fs::write(&archive, &bytes).unwrap();
        let result = unpack_within(format, &archive, &dir.path().join("out"), LIMITS);
        prop_assert!(result.is_err(), "{:?}", result);
    }
}
