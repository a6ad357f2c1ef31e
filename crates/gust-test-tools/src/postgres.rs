//! [`Postgres`]: a real PostgreSQL 15 server of a test's own, on a free loopback port.
//!
//! `initdb` runs once, into a template under `<target>/test-cache/postgres/`; each server then
//! starts from a copy of it in a [`ScratchDir`], which is what makes a server cheap (a copy
//! and a start, no `initdb`), and is stopped and removed when its guard is dropped, or when
//! the test process is stopped by a signal (the scratch machinery). cargo-nextest runs each
//! test in a process of its own, so a server per test costs what a server per process would.
//!
//! The server runs as an unprivileged user: PostgreSQL refuses to run as root, so when the
//! tests do (CI, a container) it runs as the `postgres` user the Debian package makes. The
//! package is installed with apt-get, once, under a lock, if its binaries are missing.

use std::fs;
use std::io::Read;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

use crate::scratch::{self, ScratchDir};
use crate::{cached_folder, run};

/// Where Debian's `postgresql-15` puts the server's programs.
const BIN: &str = "/usr/lib/postgresql/15/bin";
/// How long a server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running PostgreSQL server with a database for one test; stopped and removed on drop.
#[derive(Debug)]
pub struct Postgres {
    child: Child,
    port: u16,
    /// Holds the data dir; declared after `child` so the server stops before it goes.
    _dir: ScratchDir,
}

impl Postgres {
    /// A fresh server with an empty database `postgres`, reachable by [`Postgres::url`] with no
    /// password. Panics if PostgreSQL cannot be installed or started.
    pub fn start() -> Self {
        let template = template();
        let owner = server_user();
        // A port can be taken between asking for it and the server binding it: try again.
        let mut failures = Vec::new();
        for _ in 0..5 {
            let dir = ScratchDir::new("gust-pg").expect("making the server's scratch dir");
            let data = dir.path().join("data");
            copy_tree(&template.join("data"), &data).expect("copying the template data dir");
            if let Some((uid, gid)) = owner {
                chown_tree(dir.path(), uid, gid).expect("handing the data dir to its user");
            }
            let port = free_port();
            match start_server(&data, dir.path(), port, owner) {
                Ok(child) => {
                    return Self {
                        child,
                        port,
                        _dir: dir,
                    };
                }
                Err(e) => failures.push(e),
            }
        }
        panic!("PostgreSQL did not start:\n{}", failures.join("\n---\n"));
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The postmaster's pid (its backends are its children).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's data dir (owned by the server's user), for tests that read its files.
    pub fn data_dir(&self) -> PathBuf {
        self._dir.path().join("data")
    }

    /// Stop the server at once (an immediate shutdown: nothing here needs its data again).
    fn stop(&mut self) {
        let pid = self.child.id();
        if let Some(pid) = Pid::from_raw(pid as i32) {
            let _ = kill_process(pid, Signal::QUIT);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                scratch::unwatch_process(pid);
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        scratch::unwatch_process(pid);
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Start `postgres` on `data`, its socket in `socket_dir`, and wait until it accepts
/// connections; its log when it does not.
fn start_server(
    data: &Path,
    socket_dir: &Path,
    port: u16,
    owner: Option<(u32, u32)>,
) -> Result<Child, String> {
    let log = socket_dir.join("server.log");
    let log_file = fs::File::create(&log).map_err(|e| e.to_string())?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(&log, Some(uid), Some(gid)).map_err(|e| e.to_string())?;
    }
    let mut command = Command::new(Path::new(BIN).join("postgres"));
    command
        .arg("-D")
        .arg(data)
        .args(["-p", &port.to_string()])
        .args(["-c", "listen_addresses=127.0.0.1"])
        .arg("-c")
        .arg(format!("unix_socket_directories={}", socket_dir.display()))
        // Durability is for data that outlives the test; the test's does not.
        .args(["-c", "fsync=off"])
        .args(["-c", "synchronous_commit=off"])
        .args(["-c", "full_page_writes=off"])
        // Shared memory in the data dir, so nothing is left in /dev/shm if the server is killed.
        .args(["-c", "dynamic_shared_memory_type=mmap"])
        .args(["-c", "max_connections=40"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file);
    if let Some((uid, gid)) = owner {
        command.uid(uid).gid(gid);
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot run {}/postgres: {e}", BIN))?;
    scratch::watch_process_stopped_by(child.id(), Signal::QUIT);
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        // The postmaster writes `ready` as the last line of its pid file once it accepts
        // connections (pg_ctl waits for the same).
        let ready = fs::read_to_string(data.join("postmaster.pid"))
            .is_ok_and(|pid| pid.lines().nth(7).is_some_and(|l| l.trim() == "ready"));
        if ready {
            return Ok(child);
        }
        let exited = child.try_wait().ok().flatten();
        if exited.is_some() || Instant::now() > deadline {
            if exited.is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
            scratch::unwatch_process(child.id());
            let mut text = String::new();
            let _ = fs::File::open(&log).and_then(|mut f| f.read_to_string(&mut text));
            return Err(format!("on port {port} ({exited:?}):\n{text}"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The template cluster, made by `initdb` once: C locale (byte order, as SQLite compares),
/// trust authentication on loopback, 1 MiB WAL segments (a smaller copy per server).
fn template() -> PathBuf {
    ensure_installed();
    let owner = server_user();
    cached_folder("postgres", &["initdb", "15", "C", "wal-1"], |dir| {
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(dir, Some(uid), Some(gid)).unwrap();
        }
        let mut initdb = Command::new(Path::new(BIN).join("initdb"));
        initdb
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-U", "postgres", "--auth=trust", "--encoding=UTF8"])
            .args(["--locale=C", "--wal-segsize=1", "--no-instructions"]);
        if let Some((uid, gid)) = owner {
            initdb.uid(uid).gid(gid);
        }
        run(&mut initdb);
    })
}

/// Install Debian's `postgresql-15` unless its binaries are there. No cluster of its own is
/// made: the tests make theirs.
fn ensure_installed() {
    let postgres = Path::new(BIN).join("postgres");
    crate::debian::install(
        &["postgresql-15"],
        "the PostgreSQL tests",
        || postgres.exists(),
        || {
            fs::create_dir_all("/etc/postgresql-common").unwrap();
            fs::write(
                "/etc/postgresql-common/createcluster.conf",
                "create_main_cluster = false\n",
            )
            .unwrap();
        },
    );
}

/// The user and group the server runs as: `postgres` when the tests run as root (which
/// PostgreSQL refuses), else the tests' own user (`None`).
fn server_user() -> Option<(u32, u32)> {
    if !rustix::process::geteuid().is_root() {
        return None;
    }
    let passwd = fs::read_to_string("/etc/passwd").unwrap();
    let line = passwd
        .lines()
        .find(|line| line.starts_with("postgres:"))
        .expect("no `postgres` user: the postgresql package makes it");
    let fields: Vec<&str> = line.split(':').collect();
    Some((fields[2].parse().unwrap(), fields[3].parse().unwrap()))
}

/// A loopback port nothing listens on now.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding a loopback port")
}

/// Copy the folder `from` to `to` (files, folders and links), keeping modes.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir(to)?;
    fs::set_permissions(to, fs::metadata(from)?.permissions())?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(entry.path())?, &target)?;
        } else {
            fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Give `dir` and everything in it to `uid`:`gid`.
fn chown_tree(dir: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    std::os::unix::fs::lchown(dir, Some(uid), Some(gid))?;
    if fs::symlink_metadata(dir)?.is_dir() {
        for entry in fs::read_dir(dir)? {
            chown_tree(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// Whether `dir` is private to its owner, as PostgreSQL wants its data dir.
#[cfg(test)]
fn is_private(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & 0o077 == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_accepts_connections_and_is_gone_after_drop() {
        let started = Instant::now();
        let server = Postgres::start();
        let took = started.elapsed();
        let port = server.port();
        assert!(server.url().ends_with(&format!(":{port}/postgres")));
        assert!(std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok());
        let pid = server.child.id();
        let data = server._dir.path().join("data");
        assert!(is_private(&data));
        let stopping = Instant::now();
        drop(server);
        eprintln!(
            "PostgreSQL: started in {took:?}, stopped and removed in {:?}",
            stopping.elapsed()
        );
        assert!(!scratch::is_running(pid));
        assert!(!data.exists());
        assert!(std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err());
    }
}
