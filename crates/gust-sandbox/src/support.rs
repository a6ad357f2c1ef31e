//! What this host's kernel lets the sandbox do: found once when the spawner starts, then used
//! to pick the namespace flags and limits for every sandbox, to warn once at `gust serve`
//! start ([`SandboxSupport::warnings`]) and to print `gust doctor`'s table (its `Display`).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::sys;

/// One part of the sandbox the kernel may or may not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Capability {
    UserNamespace,
    PidNamespace,
    MountNamespace,
    IpcNamespace,
    UtsNamespace,
    /// Needed only by functions with the network turned off.
    NetworkNamespace,
    CgroupMemory,
    CgroupCpu,
    CgroupPids,
    Seccomp,
    /// Attaching code to a pre-started sandbox (`open_tree` + `move_mount`, Linux 5.2+):
    /// what stem cells need.
    AttachCode,
}

impl Capability {
    pub fn label(self) -> &'static str {
        match self {
            Capability::UserNamespace => "user namespace",
            Capability::PidNamespace => "pid namespace",
            Capability::MountNamespace => "mount namespace",
            Capability::IpcNamespace => "ipc namespace",
            Capability::UtsNamespace => "uts namespace",
            Capability::NetworkNamespace => "network namespace",
            Capability::CgroupMemory => "cgroup memory limit",
            Capability::CgroupCpu => "cgroup cpu limit",
            Capability::CgroupPids => "cgroup pids limit",
            Capability::Seccomp => "seccomp filter",
            Capability::AttachCode => "attach code to a running sandbox",
        }
    }

    /// What a function loses when this part is missing, for the start-up warning.
    fn consequence(self) -> &'static str {
        match self {
            Capability::UserNamespace => "workers run as an unprivileged host user instead",
            Capability::PidNamespace => "workers can see the host's processes",
            Capability::MountNamespace => "workers see the host's files (no filesystem isolation)",
            Capability::IpcNamespace => "workers share System V IPC with the host",
            Capability::UtsNamespace => "workers share the host name",
            Capability::NetworkNamespace => "functions with network off keep the network",
            Capability::CgroupMemory => "memory_mb is not enforced",
            Capability::CgroupCpu => "cpu_millis is not enforced",
            Capability::CgroupPids => "the number of processes is not limited (fork bombs)",
            Capability::Seccomp => "no system call is filtered",
            Capability::AttachCode => "no stem cells: every cold start spawns an interpreter",
        }
    }
}

/// Whether one part works here, and why not when it does not.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Feature {
    pub capability: Capability,
    pub available: bool,
    /// Where it is (a cgroup path) or why it is missing.
    pub detail: String,
}

/// Everything the sandbox found out about this host.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SandboxSupport {
    pub features: Vec<Feature>,
}

impl SandboxSupport {
    pub fn has(&self, capability: Capability) -> bool {
        self.features
            .iter()
            .any(|f| f.capability == capability && f.available)
    }

    /// One line per missing part, saying what functions lose: for a warning at start.
    pub fn warnings(&self) -> Vec<String> {
        self.features
            .iter()
            .filter(|f| !f.available)
            .map(|f| {
                format!(
                    "sandbox: no {} ({}): {}",
                    f.capability.label(),
                    f.detail,
                    f.capability.consequence()
                )
            })
            .collect()
    }
}

impl fmt::Display for SandboxSupport {
    /// `gust doctor`'s table: one line per part, `ok` or `missing`, then the detail.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for feature in &self.features {
            writeln!(
                f,
                "{:<34} {:<8} {}",
                feature.capability.label(),
                if feature.available { "ok" } else { "missing" },
                feature.detail
            )?;
        }
        Ok(())
    }
}

/// Tries each namespace in a throw-away child (fork + unshare): the only reliable test, as
/// sysctls, LSMs and container runtimes can each refuse one.
pub fn probe_namespaces() -> Vec<Feature> {
    [
        (Capability::UserNamespace, libc::CLONE_NEWUSER),
        (Capability::PidNamespace, libc::CLONE_NEWPID),
        (Capability::MountNamespace, libc::CLONE_NEWNS),
        (Capability::IpcNamespace, libc::CLONE_NEWIPC),
        (Capability::UtsNamespace, libc::CLONE_NEWUTS),
        (Capability::NetworkNamespace, libc::CLONE_NEWNET),
    ]
    .into_iter()
    .map(|(capability, flag)| {
        let (available, detail) = match try_in_child(|| sys::unshare(flag)) {
            Ok(()) => (true, "ok".to_string()),
            Err(reason) => (false, format!("unshare refused: {reason}")),
        };
        Feature {
            capability,
            available,
            detail,
        }
    })
    .collect()
}

/// Installs each real profile in a throw-away child, so "available" means they load here.
pub fn probe_seccomp(filters: &crate::seccomp::Filters) -> Feature {
    use crate::spec::SeccompProfile::{Build, Worker};
    let (available, detail) = if !sys::seccomp_available() {
        (false, "the kernel has no seccomp filters".to_string())
    } else {
        let loaded = try_in_child(|| filters.profile(Worker).apply())
            .and_then(|()| try_in_child(|| filters.profile(Build).apply()));
        match loaded {
            Ok(()) => (
                true,
                format!(
                    "allow-list: {} system calls (worker), {} (build)",
                    filters.profile(Worker).allowed_count(),
                    filters.profile(Build).allowed_count()
                ),
            ),
            Err(reason) => (false, format!("loading the filter failed: {reason}")),
        }
    };
    Feature {
        capability: Capability::Seccomp,
        available,
        detail,
    }
}

/// Runs `test` in a forked child and reports its errno, if any, through the exit status.
fn try_in_child(test: impl FnOnce() -> std::io::Result<()>) -> Result<(), String> {
    match sys::fork() {
        Ok(0) => {
            let code = match test() {
                Ok(()) => 0,
                Err(e) => e.raw_os_error().unwrap_or(255).clamp(1, 255),
            };
            // SAFETY: _exit in the forked child skips the parent's atexit handlers and buffers.
            unsafe { libc::_exit(code) }
        }
        Ok(pid) => loop {
            match sys::wait_nohang(pid) {
                Ok(Some((_, status))) => {
                    let code = libc::WEXITSTATUS(status);
                    return if libc::WIFEXITED(status) && code == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::from_raw_os_error(code).to_string())
                    };
                }
                Ok(None) => std::thread::sleep(std::time::Duration::from_micros(200)),
                Err(e) => return Err(e.to_string()),
            }
        },
        Err(e) => Err(format!("fork failed: {e}")),
    }
}
