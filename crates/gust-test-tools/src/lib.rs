//! Tools that tests run from outside the workspace (API client generators, third-party SDKs,
//! a browser: [`browser`]), installed from their registries by the tests themselves, so a
//! fresh machine needs nothing by hand; and scratch dirs that tests and the benchmark leave
//! nothing of, Ctrl-C included ([`ScratchDir`]); and a real PostgreSQL server per test
//! ([`Postgres`]); and an S3-compatible server ([`s3::S3Server`]).
//!
//! Each set of packages gets a folder under `<target>/test-cache/<kind>/<hash of the list>`,
//! made once and then reused by every later run: changing the list makes a new folder. Tests
//! run in parallel processes, so the folder is made under a lock file, and a `.ready` marker,
//! written last, tells a finished folder from one that a killed run left half made.

pub mod browser;
mod debian;
mod postgres;
pub mod s3;
pub mod scratch;

pub use postgres::Postgres;
pub use scratch::ScratchDir;

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// A Python virtualenv with pinned packages installed.
#[derive(Debug, Clone)]
pub struct PythonVenv {
    dir: PathBuf,
}

impl PythonVenv {
    /// The virtualenv with `requirements` (pip requirement specifiers, e.g.
    /// `"appwrite==0.10.0"`) installed, made on first use. Panics if it cannot be made.
    pub fn with(requirements: &[&str]) -> Self {
        let dir = cached_folder("python", requirements, |dir| {
            let python = real_python();
            run(Command::new(&python).arg("-m").arg("venv").arg(dir));
            run(Command::new(dir.join("bin/python"))
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "--no-input",
                ])
                .args(["--quiet"])
                .args(requirements));
        });
        Self { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A command running `program` from the virtualenv's `bin/` (`python` or a package's script).
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.dir.join("bin").join(program));
        command.env("VIRTUAL_ENV", &self.dir);
        command
    }
}

/// An npm folder (`node_modules/` and its `.bin/`) with pinned packages installed.
#[derive(Debug, Clone)]
pub struct NpmFolder {
    dir: PathBuf,
}

impl NpmFolder {
    /// The folder with `packages` (npm specifiers, e.g. `"node-appwrite@14.1.0"`) installed,
    /// made on first use. Panics if it cannot be made.
    pub fn with(packages: &[&str]) -> Self {
        let dir = cached_folder("npm", packages, |dir| {
            run(Command::new("npm")
                .arg("install")
                .arg("--prefix")
                .arg(dir)
                .args([
                    "--no-audit",
                    "--no-fund",
                    "--save-exact",
                    "--loglevel=error",
                ])
                .args(packages));
        });
        Self { dir }
    }

    /// Where `node_modules/` is: run node from here (or set `NODE_PATH`) to `require` the packages.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A command running a package's executable from `node_modules/.bin/`.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.dir.join("node_modules/.bin").join(program));
        command.current_dir(&self.dir);
        command
    }
}

/// The folder for `packages` under `<target>/test-cache/<kind>/`, made by `make` unless an
/// earlier run (or a concurrent test) already made it.
fn cached_folder(kind: &str, packages: &[&str], make: impl FnOnce(&Path)) -> PathBuf {
    let root = target_dir().join("test-cache").join(kind);
    let key = cache_key(packages);
    let dir = root.join(&key);
    let ready = dir.join(".ready");
    if ready.exists() {
        return dir;
    }
    fs::create_dir_all(&root).unwrap();
    let lock = File::create(root.join(format!("{key}.lock"))).unwrap();
    // Blocks while another test process makes the same folder; the lock goes with the file.
    lock.lock().unwrap();
    if !ready.exists() {
        if dir.exists() {
            fs::remove_dir_all(&dir).unwrap();
        }
        fs::create_dir_all(&dir).unwrap();
        make(&dir);
        fs::write(&ready, packages.join("\n")).unwrap();
    }
    dir
}

/// The first 16 hex digits of the SHA-256 of the package list, one per line.
fn cache_key(packages: &[&str]) -> String {
    let digest = Sha256::digest(packages.join("\n").as_bytes());
    hex::encode(&digest[..8])
}

/// Cargo's target dir, found from the test binary's own path (`<target>/<profile>/deps/…`,
/// or `<target>/<triple>/<profile>/deps/…`): cargo marks its root with `CACHEDIR.TAG`.
pub(crate) fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .or_else(|| exe.ancestors().nth(3))
        .expect("the test binary is not inside a cargo target dir")
        .to_path_buf()
}

/// The interpreter behind `python3`, asked once: a version manager's `python3` is a shim that
/// re-resolves the version on every call, and a venv should point at the interpreter itself.
fn real_python() -> PathBuf {
    let output = run(Command::new("python3").args(["-c", "import sys; print(sys.executable)"]));
    PathBuf::from(output.trim())
}

/// Run `command` to the end; panic with its output if it fails. Returns its stdout.
fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_different_package_list_gets_a_different_folder() {
        assert_eq!(cache_key(&["a==1"]), cache_key(&["a==1"]));
        assert_ne!(cache_key(&["a==1"]), cache_key(&["a==2"]));
        assert_eq!(cache_key(&["a==1"]).len(), 16);
    }

    #[test]
    fn the_target_dir_holds_this_binary() {
        let target = target_dir();
        assert!(std::env::current_exe().unwrap().starts_with(&target));
        assert!(target.join("CACHEDIR.TAG").is_file());
    }

    #[test]
    fn concurrent_requests_for_one_npm_folder_install_it_once() {
        // A tiny package without dependencies: the point is the cache, not the package.
        let packages = ["is-number@7.0.0"];
        let folders: Vec<NpmFolder> = std::thread::scope(|scope| {
            let requests: Vec<_> = (0..2)
                .map(|_| scope.spawn(|| NpmFolder::with(&packages)))
                .collect();
            requests.into_iter().map(|r| r.join().unwrap()).collect()
        });
        assert_eq!(folders[0].dir(), folders[1].dir());
        let manifest = folders[0].dir().join("node_modules/is-number/package.json");
        assert!(
            fs::read_to_string(manifest)
                .unwrap()
                .contains("\"version\": \"7.0.0\"")
        );
    }
}
