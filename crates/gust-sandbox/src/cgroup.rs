//! cgroups: one per sandbox, for its memory, CPU and pids limits, its memory reading and its
//! OOM-kill count. Works on cgroup v1 (one hierarchy per controller, as on hybrid hosts) and on
//! v2 (one unified hierarchy); which one is found at start by [`CgroupRoot::detect`].
//!
//! The spawner makes `gust-<its pid>` under its own cgroup in each hierarchy and one folder per
//! sandbox below that, so concurrent servers (and test processes) never share a folder, and
//! folders left by a process that died are recognised by their dead pid and removed at start.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::support::{Capability, Feature};

/// The CFS period: quota is expressed per 100 ms of wall time, the kernel's default.
const CPU_PERIOD_US: u64 = 100_000;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum CgroupVersion {
    V1,
    V2,
}

/// One sandbox's cgroup: its folder in each hierarchy that has a usable controller.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cgroup {
    pub version: CgroupVersion,
    pub memory: Option<PathBuf>,
    pub cpu: Option<PathBuf>,
    pub pids: Option<PathBuf>,
}

impl Cgroup {
    /// Distinct folders (v2 has one for all controllers; v1 one per controller).
    fn dirs(&self) -> Vec<&Path> {
        let mut dirs: Vec<&Path> = Vec::new();
        for dir in [&self.memory, &self.cpu, &self.pids].into_iter().flatten() {
            if !dirs.contains(&dir.as_path()) {
                dirs.push(dir);
            }
        }
        dirs
    }

    pub fn set_memory_mb(&self, mb: u64) -> io::Result<()> {
        let Some(dir) = &self.memory else {
            return Ok(());
        };
        let bytes = (mb * 1024 * 1024).to_string();
        match self.version {
            CgroupVersion::V2 => {
                write(dir, "memory.max", &bytes)?;
                // Without this, a worker over its limit would swap instead of being stopped.
                let _ = write(dir, "memory.swap.max", "0");
                // Kill the whole sandbox on OOM, not one random process in it.
                let _ = write(dir, "memory.oom.group", "1");
                Ok(())
            }
            CgroupVersion::V1 => {
                // memsw (memory + swap) must stay >= memory: order the writes by direction.
                let memsw = dir.join("memory.memsw.limit_in_bytes");
                if write(dir, "memory.limit_in_bytes", &bytes).is_err() && memsw.exists() {
                    write(dir, "memory.memsw.limit_in_bytes", &bytes)?;
                    return write(dir, "memory.limit_in_bytes", &bytes);
                }
                if memsw.exists() {
                    write(dir, "memory.memsw.limit_in_bytes", &bytes)?;
                }
                Ok(())
            }
        }
    }

    pub fn set_cpu_millis(&self, millis: u32) -> io::Result<()> {
        let Some(dir) = &self.cpu else {
            return Ok(());
        };
        let quota = (millis > 0).then(|| (millis as u64 * CPU_PERIOD_US / 1000).max(1000));
        match self.version {
            CgroupVersion::V2 => {
                let quota = quota.map_or("max".to_string(), |q| q.to_string());
                write(dir, "cpu.max", &format!("{quota} {CPU_PERIOD_US}"))
            }
            CgroupVersion::V1 => {
                write(dir, "cpu.cfs_period_us", &CPU_PERIOD_US.to_string())?;
                write(
                    dir,
                    "cpu.cfs_quota_us",
                    &quota.map_or(-1, |q| q as i64).to_string(),
                )
            }
        }
    }

    pub fn set_pids(&self, max: u32) -> io::Result<()> {
        match &self.pids {
            Some(dir) => write(dir, "pids.max", &max.to_string()),
            None => Ok(()),
        }
    }

    pub fn add_process(&self, pid: i32) -> io::Result<()> {
        for dir in self.dirs() {
            write(dir, "cgroup.procs", &pid.to_string())?;
        }
        Ok(())
    }

    /// Memory charged to the sandbox now (process memory, page cache, its tmpfs).
    pub fn memory_bytes(&self) -> Option<u64> {
        let dir = self.memory.as_ref()?;
        let file = match self.version {
            CgroupVersion::V1 => "memory.usage_in_bytes",
            CgroupVersion::V2 => "memory.current",
        };
        fs::read_to_string(dir.join(file)).ok()?.trim().parse().ok()
    }

    /// How many times the kernel's OOM killer acted in this cgroup.
    pub fn oom_kills(&self) -> u64 {
        let Some(dir) = &self.memory else { return 0 };
        let file = match self.version {
            CgroupVersion::V1 => "memory.oom_control",
            CgroupVersion::V2 => "memory.events",
        };
        let text = fs::read_to_string(dir.join(file)).unwrap_or_default();
        text.lines()
            .filter_map(|line| line.strip_prefix("oom_kill "))
            .filter_map(|n| n.trim().parse().ok())
            .next()
            .unwrap_or(0)
    }

    /// Kills whatever still runs in the cgroup (normally nothing: the pid namespace ends
    /// with its init) and removes its folders. `Err` while processes are still exiting.
    pub fn remove(&self) -> io::Result<()> {
        let mut result = Ok(());
        for dir in self.dirs() {
            kill_members(dir);
            if let Err(e) = fs::remove_dir(dir)
                && e.kind() != io::ErrorKind::NotFound
            {
                result = Err(e);
            }
        }
        result
    }
}

fn write(dir: &Path, file: &str, value: &str) -> io::Result<()> {
    fs::write(dir.join(file), value)
        .map_err(|e| io::Error::new(e.kind(), format!("writing {value} to {file}: {e}")))
}

fn kill_members(dir: &Path) {
    let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    for pid in procs.lines().filter_map(|p| p.trim().parse::<i32>().ok()) {
        let _ = crate::sys::kill(pid, libc::SIGKILL);
    }
}

/// The parent folders of this spawner's sandbox cgroups, one per controller.
#[derive(Debug, Clone)]
pub struct CgroupRoot {
    version: CgroupVersion,
    memory: Option<PathBuf>,
    cpu: Option<PathBuf>,
    pids: Option<PathBuf>,
}

impl CgroupRoot {
    /// Finds the hierarchies, removes folders of dead spawners, makes `gust-<pid>` and says
    /// per controller what works. `None` when no controller is usable.
    pub fn detect(features: &mut Vec<Feature>) -> Option<CgroupRoot> {
        let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        let layout = crate::cgroup_detect::layout(&mounts, &own);
        let name = format!("gust-{}", std::process::id());
        let mut root = CgroupRoot {
            version: layout.version,
            memory: None,
            cpu: None,
            pids: None,
        };
        for (capability, controller) in [
            (Capability::CgroupMemory, "memory"),
            (Capability::CgroupCpu, "cpu"),
            (Capability::CgroupPids, "pids"),
        ] {
            let result = match layout.parent_for(controller) {
                Ok(parent) => {
                    crate::cgroup_detect::prepare(&parent, &name, controller, layout.version)
                }
                Err(reason) => Err(reason),
            };
            let (available, detail) = match result {
                Ok(dir) => {
                    let detail = format!("cgroup {:?} at {}", layout.version, dir.display());
                    match controller {
                        "memory" => root.memory = Some(dir),
                        "cpu" => root.cpu = Some(dir),
                        _ => root.pids = Some(dir),
                    }
                    (true, detail)
                }
                Err(reason) => (false, reason),
            };
            features.push(Feature {
                capability,
                available,
                detail,
            });
        }
        (root.memory.is_some() || root.cpu.is_some() || root.pids.is_some()).then_some(root)
    }

    /// A new cgroup for one sandbox, named `name`, in every usable hierarchy.
    pub fn create(&self, name: &str) -> io::Result<Cgroup> {
        let make = |parent: &Option<PathBuf>| -> io::Result<Option<PathBuf>> {
            let Some(parent) = parent else {
                return Ok(None);
            };
            let dir = parent.join(name);
            match fs::create_dir(&dir) {
                Ok(()) => Ok(Some(dir)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(Some(dir)),
                Err(e) => Err(e),
            }
        };
        Ok(Cgroup {
            version: self.version,
            memory: make(&self.memory)?,
            cpu: make(&self.cpu)?,
            pids: make(&self.pids)?,
        })
    }

    /// Removes `gust-<pid>` folders (called when the spawner exits).
    pub fn remove(&self) {
        for dir in [&self.memory, &self.cpu, &self.pids].into_iter().flatten() {
            crate::cgroup_detect::remove_tree(dir);
        }
    }
}
