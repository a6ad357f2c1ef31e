//! What a caller asks for ([`SandboxSpec`], [`Limits`]) and what it gets back when the process
//! ends ([`ExitInfo`]). Plain data: these cross the socket to the spawner as JSON.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where a sandbox's code folder appears inside it.
pub const CODE_DIR: &str = "/code";

/// One process to run in a sandbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SandboxSpec {
    /// `argv[0]` is the program, as a path inside the sandbox.
    pub argv: Vec<String>,
    /// The whole environment: nothing is inherited from the server.
    pub env: Vec<(String, String)>,
    /// Working directory inside the sandbox.
    pub cwd: String,
    /// A host folder shown at [`CODE_DIR`]. `None` leaves `/code` empty so the code can be
    /// attached later ([`Sandbox::attach_code`](crate::Sandbox::attach_code), stem cells).
    pub code: Option<CodeDir>,
    /// Host paths shown read-only at the same path, besides [`system_paths`]: a runtime's
    /// install (e.g. `/root/.pyenv/versions/3.11.7`), never a parent of it.
    pub runtime_paths: Vec<PathBuf>,
    /// `false` gives the process its own empty network namespace (not even loopback is up).
    pub network: bool,
    pub limits: Limits,
    /// Which system calls it may make.
    #[serde(default)]
    pub profile: SeccompProfile,
}

/// The seccomp allow-list a sandbox runs under (`seccomp/*.json` in this crate).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SeccompProfile {
    /// What functions' workers (Python, Node, custom runtimes) need.
    #[default]
    Worker,
    /// What dependency installs need: pip and npm with their build backends, lifecycle
    /// scripts and compilers. No listening sockets or interval timers.
    Build,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeDir {
    pub host_path: PathBuf,
    /// Builds install dependencies into the code folder; functions only read it.
    pub writable: bool,
}

/// Resource limits for one sandbox. Zero means "no limit" for `cpu_millis`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Limits {
    /// cgroup memory limit (swap included where the kernel accounts it).
    pub memory_mb: u64,
    /// CPU time per wall second, in thousandths of a CPU (cfs quota). 0: unlimited.
    pub cpu_millis: u32,
    /// cgroup pids limit: processes and threads together.
    pub pids: u32,
    /// Size of the private tmpfs at `/tmp`.
    pub tmp_mb: u64,
    /// RLIMIT_NOFILE.
    pub open_files: u64,
    /// RLIMIT_FSIZE: the largest file the process may write.
    pub file_size_mb: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_mb: 128,
            cpu_millis: 0,
            // Node alone runs about a dozen threads (libuv pool, V8 platform workers); 128
            // leaves room for a function's own threads and children, and still stops a fork bomb.
            pids: 128,
            tmp_mb: 64,
            open_files: 1024,
            file_size_mb: 64,
        }
    }
}

/// Host paths every sandbox sees read-only: the system's programs and libraries, and the
/// parts of `/etc` that hold no secrets. Missing ones are skipped; symlinks (merged `/usr`)
/// are recreated as symlinks.
pub fn system_paths() -> Vec<PathBuf> {
    [
        "/usr",
        "/lib",
        "/lib64",
        "/lib32",
        "/bin",
        "/sbin",
        "/etc/alternatives",
        "/etc/ssl/certs",
        "/etc/ca-certificates",
    ]
    .iter()
    .map(PathBuf::from)
    .collect()
}

/// How a sandboxed process ended.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExitInfo {
    /// Exit status, when the process exited by itself.
    pub code: Option<i32>,
    /// The signal that ended it.
    pub signal: Option<i32>,
    /// The kernel's OOM killer acted in the sandbox's cgroup: the memory limit was hit.
    pub oom_killed: bool,
}

impl ExitInfo {
    pub fn from_wait_status(status: i32) -> Self {
        if libc::WIFSIGNALED(status) {
            ExitInfo {
                signal: Some(libc::WTERMSIG(status)),
                ..ExitInfo::default()
            }
        } else {
            ExitInfo {
                code: Some(libc::WEXITSTATUS(status)),
                ..ExitInfo::default()
            }
        }
    }

    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.oom_killed
    }

    /// Ended by SIGSYS, the seccomp filter's kill: a system call through another
    /// architecture's entry (`int 0x80` on x86_64), which no profile allows.
    pub fn killed_by_seccomp(&self) -> bool {
        !self.oom_killed && self.code.is_none() && self.signal == Some(libc::SIGSYS)
    }
}

impl std::fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.oom_killed, self.code, self.signal) {
            (true, ..) => {
                f.write_str("killed by the kernel's OOM killer: the memory limit was hit")
            }
            (false, Some(code), _) => write!(f, "exited with status {code}"),
            (false, None, Some(libc::SIGSYS)) => {
                f.write_str("killed by SIGSYS: a system call the sandbox denies")
            }
            (false, None, Some(signal)) => write!(f, "killed by signal {}", signal_name(signal)),
            (false, None, None) => f.write_str("ended for an unknown reason"),
        }
    }
}

fn signal_name(signal: i32) -> String {
    let name = match signal {
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGSYS => "SIGSYS",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGXCPU => "SIGXCPU",
        _ => return signal.to_string(),
    };
    format!("{signal} ({name})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_info_reads_like_a_sentence() {
        let oom = ExitInfo {
            signal: Some(9),
            oom_killed: true,
            ..ExitInfo::default()
        };
        assert!(oom.to_string().contains("memory limit"));
        assert_eq!(
            ExitInfo::from_wait_status(9).to_string(),
            "killed by signal 9 (SIGKILL)"
        );
        assert_eq!(
            ExitInfo::from_wait_status(3 << 8).to_string(),
            "exited with status 3"
        );
        let sigsys = ExitInfo::from_wait_status(libc::SIGSYS);
        assert!(sigsys.killed_by_seccomp());
        assert_eq!(
            sigsys.to_string(),
            "killed by SIGSYS: a system call the sandbox denies"
        );
    }
}
