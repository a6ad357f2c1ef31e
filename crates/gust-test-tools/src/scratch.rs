//! Scratch dirs that go away on every exit: when their guard is dropped, and when the process
//! is stopped by SIGINT (Ctrl-C), SIGTERM or SIGHUP, which would otherwise end it with no
//! destructor run. Processes that work in them (a `gust serve` on its data dir) are stopped
//! first on a signal, with SIGTERM so they clean up their own sandboxes, then SIGKILL.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use rustix::process::Signal;
use rustix::process::{Pid, kill_process};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

/// What a signal must clean up.
#[derive(Default)]
struct Registry {
    dirs: Vec<PathBuf>,
    /// Each with the signal that asks it to stop.
    pids: Vec<(u32, Signal)>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    dirs: Vec::new(),
    pids: Vec::new(),
});
static HANDLER: Once = Once::new();
static NEXT: AtomicU64 = AtomicU64::new(0);

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|p| p.into_inner())
}

/// A fresh dir under the system's temp dir (mode 0700), removed with its contents when the
/// guard is dropped or the process is stopped by a signal.
#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    /// `prefix` starts the dir's name (`<prefix>-<pid>-<nanos>-<n>`).
    pub fn new(prefix: &str) -> io::Result<Self> {
        install_handler();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let path = std::env::temp_dir().join(format!(
            "{prefix}-{}-{nanos}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
            .create(&path)?;
        registry().dirs.push(path.clone());
        Ok(Self { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        registry().dirs.retain(|dir| dir != &self.path);
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A process to stop (SIGTERM) before scratch dirs are removed on a signal: it may be writing
/// in one.
pub fn watch_process(pid: u32) {
    watch_process_stopped_by(pid, Signal::TERM);
}

/// As [`watch_process`], for a process that `signal` stops (PostgreSQL's SIGTERM waits for its
/// clients to leave; its SIGQUIT does not).
pub fn watch_process_stopped_by(pid: u32, signal: Signal) {
    install_handler();
    registry().pids.push((pid, signal));
}

/// The process has ended (or was stopped by its owner): forget it.
pub fn unwatch_process(pid: u32) {
    registry().pids.retain(|(p, _)| *p != pid);
}

/// Listens for the stopping signals on a thread of its own (signal-hook's iterator: no work
/// in the handler itself), then cleans up and exits as the signal would have.
fn install_handler() {
    HANDLER.call_once(|| {
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
            return;
        };
        let _ = std::thread::Builder::new()
            .name("scratch-cleanup".into())
            .spawn(move || {
                if let Some(signal) = signals.forever().next() {
                    clean_up();
                    std::process::exit(128 + signal);
                }
            });
    });
}

/// Stop the watched processes (their signal, up to 5 s, then SIGKILL), then remove every dir.
fn clean_up() {
    let (dirs, pids) = {
        let mut registry = registry();
        (
            std::mem::take(&mut registry.dirs),
            std::mem::take(&mut registry.pids),
        )
    };
    let pids: Vec<(Pid, Signal)> = pids
        .into_iter()
        .filter_map(|(pid, signal)| Some((Pid::from_raw(pid as i32)?, signal)))
        .collect();
    for (pid, signal) in &pids {
        let _ = kill_process(*pid, *signal);
    }
    let pids: Vec<Pid> = pids.into_iter().map(|(pid, _)| pid).collect();
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids
        .iter()
        .any(|pid| is_running(pid.as_raw_nonzero().get() as u32))
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    for pid in pids
        .iter()
        .filter(|pid| is_running(pid.as_raw_nonzero().get() as u32))
    {
        let _ = kill_process(*pid, Signal::KILL);
    }
    for dir in dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Whether process `pid` is alive and not a zombie (a child that has exited but was not
/// waited for yet).
pub fn is_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command, which is in parentheses and may hold spaces.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_scratch_dir_is_gone_with_its_contents() {
        let dir = ScratchDir::new("scratch-test").unwrap();
        let path = dir.path().to_path_buf();
        std::fs::create_dir(path.join("inner")).unwrap();
        std::fs::write(path.join("inner/file"), b"x").unwrap();
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o700);
        assert!(registry().dirs.contains(&path));
        drop(dir);
        assert!(!path.exists());
        assert!(!registry().dirs.contains(&path));
    }

    #[test]
    fn this_process_is_running_and_a_made_up_one_is_not() {
        assert!(is_running(std::process::id()));
        assert!(!is_running(i32::MAX as u32 - 7));
    }
}
