//! Finding the cgroup hierarchies this process may use: which version, where each
//! controller is mounted, which folder is our own, and clearing what dead spawners left.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cgroup::CgroupVersion;

/// The hierarchies as `/proc/self/mountinfo` and `/proc/self/cgroup` describe them.
#[derive(Debug)]
pub struct Layout {
    pub version: CgroupVersion,
    /// v1: (controllers of the hierarchy, mount point, mount root, our path in it).
    v1: Vec<(Vec<String>, PathBuf, String, String)>,
    /// v2: (mount point, mount root, our path).
    v2: Option<(PathBuf, String, String)>,
}

/// The controllers Gust limits with; a v1 hierarchy holding any of them makes the host "v1".
const CONTROLLERS: [&str; 3] = ["memory", "cpu", "pids"];

pub fn layout(mountinfo: &str, self_cgroup: &str) -> Layout {
    let mut v1 = Vec::new();
    let mut v2 = None;
    for line in mountinfo.lines() {
        // id parent major:minor root mountpoint options [optional...] - fstype source superopts
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let left: Vec<&str> = left.split(' ').collect();
        let right: Vec<&str> = right.split(' ').collect();
        if left.len() < 5 || right.len() < 3 {
            continue;
        }
        let (root, mount_point) = (left[3].to_string(), PathBuf::from(left[4]));
        match right[0] {
            "cgroup" => {
                let controllers: Vec<String> = right[2].split(',').map(str::to_string).collect();
                let own = own_path(self_cgroup, |c| controllers.iter().any(|k| k == c));
                if let Some(own) = own {
                    v1.push((controllers, mount_point, root, own));
                }
            }
            "cgroup2" => {
                let own = own_path(self_cgroup, |c| c.is_empty());
                if let Some(own) = own {
                    v2 = Some((mount_point, root, own));
                }
            }
            _ => {}
        }
    }
    let has_v1 = v1.iter().any(|(controllers, ..)| {
        controllers
            .iter()
            .any(|c| CONTROLLERS.contains(&c.as_str()))
    });
    Layout {
        version: if has_v1 {
            CgroupVersion::V1
        } else {
            CgroupVersion::V2
        },
        v1,
        v2,
    }
}

/// Our path in the hierarchy whose controller list matches (`hier:controllers:path`).
fn own_path(self_cgroup: &str, matches: impl Fn(&str) -> bool) -> Option<String> {
    self_cgroup.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let hit = if controllers.is_empty() {
            matches("")
        } else {
            controllers.split(',').any(&matches)
        };
        hit.then(|| path.to_string())
    })
}

fn join(mount: &Path, root: &str, own: &str) -> PathBuf {
    // Inside a container the mount's root is our cgroup's ancestor; strip it from our path.
    let relative = own.strip_prefix(root).unwrap_or(own);
    mount.join(relative.trim_start_matches('/'))
}

impl Layout {
    /// The folder under which this process may make cgroups for `controller`.
    pub fn parent_for(&self, controller: &str) -> Result<PathBuf, String> {
        match self.version {
            CgroupVersion::V1 => self
                .v1
                .iter()
                .find(|(controllers, ..)| controllers.iter().any(|c| c == controller))
                .map(|(_, mount, root, own)| join(mount, root, own))
                .ok_or_else(|| format!("no cgroup v1 hierarchy has the {controller} controller")),
            CgroupVersion::V2 => {
                let (mount, root, own) = self
                    .v2
                    .as_ref()
                    .ok_or("no cgroup hierarchy is mounted (neither v1 nor v2)")?;
                let dir = join(mount, root, own);
                let offered =
                    fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
                if offered.split_whitespace().any(|c| c == controller) {
                    Ok(dir)
                } else {
                    Err(format!(
                        "cgroup v2 does not offer the {controller} controller in {}",
                        dir.display()
                    ))
                }
            }
        }
    }
}

/// Clears folders of dead spawners under `parent`, then makes (or reuses) `parent/name` and,
/// on v2, delegates `controller` to the sandboxes below it.
pub fn prepare(
    parent: &Path,
    name: &str,
    controller: &str,
    version: CgroupVersion,
) -> Result<PathBuf, String> {
    remove_stale(parent);
    let dir = parent.join(name);
    if let Err(e) = fs::create_dir(&dir)
        && e.kind() != std::io::ErrorKind::AlreadyExists
    {
        return Err(format!("cannot create {}: {e}", dir.display()));
    }
    if version == CgroupVersion::V2 {
        for folder in [parent, dir.as_path()] {
            let control = folder.join("cgroup.subtree_control");
            if let Err(e) = fs::write(&control, format!("+{controller}")) {
                return Err(format!(
                    "cannot delegate the {controller} controller in {}: {e} \
                     (run gust in a cgroup of its own, e.g. a systemd unit with Delegate=yes)",
                    control.display()
                ));
            }
        }
    }
    Ok(dir)
}

/// Removes `gust-<pid>` folders whose process no longer exists.
fn remove_stale(parent: &Path) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("gust-")) else {
            continue;
        };
        let dead = pid
            .parse::<u32>()
            .is_ok_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
        if dead {
            tracing::info!(cgroup = %entry.path().display(), "removing a cgroup left by a server that is gone");
            remove_tree(&entry.path());
        }
    }
}

/// Kills the members of `dir`'s sub-cgroups and removes them, then `dir` itself.
pub fn remove_tree(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&entry.path());
            }
        }
    }
    for attempt in 0..20 {
        let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.lines().filter_map(|p| p.trim().parse::<i32>().ok()) {
            let _ = crate::sys::kill(pid, libc::SIGKILL);
        }
        if fs::remove_dir(dir).is_ok() || !dir.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5 * (attempt + 1)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID_MOUNTS: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw";
    const HYBRID_SELF: &str = "8:pids:/\n4:memory:/process_api/abc\n1:cpu:/\n0::/";

    #[test]
    fn hybrid_hosts_use_the_v1_hierarchies_and_our_own_folder_in_each() {
        let layout = layout(HYBRID_MOUNTS, HYBRID_SELF);
        assert_eq!(layout.version, CgroupVersion::V1);
        assert_eq!(
            layout.parent_for("memory").unwrap(),
            PathBuf::from("/sys/fs/cgroup/memory/process_api/abc")
        );
        assert_eq!(
            layout.parent_for("pids").unwrap(),
            PathBuf::from("/sys/fs/cgroup/pids/")
        );
    }

    #[test]
    fn pure_v2_hosts_use_the_unified_hierarchy() {
        let mounts = "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate";
        let layout = layout(mounts, "0::/user.slice/gust.service");
        assert_eq!(layout.version, CgroupVersion::V2);
        // No cgroup.controllers file at that made-up path: the controller is reported missing.
        assert!(layout.parent_for("memory").unwrap_err().contains("memory"));
    }

    #[test]
    fn a_container_mount_root_is_stripped_from_our_path() {
        assert_eq!(
            join(Path::new("/sys/fs/cgroup"), "/docker/x", "/docker/x/inner"),
            PathBuf::from("/sys/fs/cgroup/inner")
        );
    }
}
