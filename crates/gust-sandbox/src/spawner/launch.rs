//! Starting one sandbox: cgroup, descriptors, `clone` with the namespaces this host allows,
//! the user namespace's id maps, then the go signal to the child (see `child.rs`).

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Instant;

use super::{Running, Spawner, feature};
use crate::child::{self, ChildPlan};
use crate::rootfs::RootPlan;
use crate::spec::{CODE_DIR, SandboxSpec};
use crate::support::{Capability, Feature};
use crate::sys;
use crate::wire::Reply;

/// The uid and gid a sandboxed process has inside its user namespace.
const INSIDE_ID: u32 = 1000;

impl Spawner {
    /// Starts `spec`; the reply and the server's ends of the channel, stdout and stderr.
    pub(super) fn launch(
        &mut self,
        id: u64,
        spec: &SandboxSpec,
    ) -> Result<(Reply, Vec<OwnedFd>), String> {
        let started = Instant::now();
        let seq = self.next_seq;
        self.next_seq += 1;
        let outside_id = self.config.uid_base + (seq % self.config.uid_span as u64) as u32;
        let user_ns = self.has(Capability::UserNamespace);
        let mount_ns = self.has(Capability::MountNamespace);
        let pid_ns = self.has(Capability::PidNamespace);

        let cgroup = match &self.cgroups {
            Some(root) => {
                let cgroup = root
                    .create(&format!("sb-{seq}"))
                    .map_err(|e| format!("creating the sandbox's cgroup: {e}"))?;
                let limits = (|| {
                    cgroup.set_memory_mb(spec.limits.memory_mb)?;
                    cgroup.set_cpu_millis(spec.limits.cpu_millis)?;
                    cgroup.set_pids(spec.limits.pids)
                })();
                if let Err(e) = limits {
                    let _ = cgroup.remove();
                    return Err(format!("setting the sandbox's limits: {e}"));
                }
                Some(cgroup)
            }
            None => None,
        };

        // A writable code folder (a build installing dependencies) must belong to the
        // sandbox's user; the server gives it back to its owner afterwards.
        if let Some(code) = spec.code.as_ref().filter(|c| c.writable)
            && let Err(e) = chown_tree(&code.host_path, outside_id)
        {
            if let Some(cgroup) = &cgroup {
                let _ = cgroup.remove();
            }
            return Err(format!(
                "giving {} to the sandbox: {e}",
                code.host_path.display()
            ));
        }
        let result = self.clone_child(spec, outside_id, user_ns, mount_ns, pid_ns, &cgroup);
        let (pid, fds, status) = match result {
            Ok(ok) => ok,
            Err(e) => {
                if let Some(cgroup) = &cgroup {
                    let _ = cgroup.remove();
                }
                return Err(e);
            }
        };
        self.running.insert(
            pid,
            Running {
                cgroup: cgroup.clone(),
                status,
            },
        );
        let code_path = match (&spec.code, mount_ns) {
            (Some(code), false) => code.host_path.display().to_string(),
            _ => CODE_DIR.to_string(),
        };
        let reply = Reply::Spawned {
            id,
            pid,
            cgroup,
            code_path,
            spawn_us: started.elapsed().as_micros() as u64,
        };
        Ok((reply, fds))
    }

    #[allow(clippy::too_many_arguments)]
    fn clone_child(
        &self,
        spec: &SandboxSpec,
        outside_id: u32,
        user_ns: bool,
        mount_ns: bool,
        pid_ns: bool,
        cgroup: &Option<crate::cgroup::Cgroup>,
    ) -> Result<(i32, Vec<OwnedFd>, OwnedFd), String> {
        let io = |what: &'static str| move |e: std::io::Error| format!("{what}: {e}");
        let (host_channel, child_channel) =
            sys::socketpair(libc::SOCK_STREAM).map_err(io("socketpair"))?;
        let (stdout_r, stdout_w) = sys::pipe().map_err(io("pipe"))?;
        let (stderr_r, stderr_w) = sys::pipe().map_err(io("pipe"))?;
        let (sync_r, sync_w) = sys::pipe().map_err(io("pipe"))?;
        let (status_r, status_w) = sys::pipe().map_err(io("pipe"))?;

        let cstr = |s: &str| CString::new(s).map_err(|_| format!("`{s}` holds a NUL byte"));
        let argv = spec
            .argv
            .iter()
            .map(|a| cstr(a))
            .collect::<Result<Vec<_>, _>>()?;
        let program = argv.first().cloned().ok_or("empty argv")?;
        let env = spec
            .env
            .iter()
            .map(|(k, v)| cstr(&format!("{k}={v}")))
            .collect::<Result<Vec<_>, _>>()?;
        let cwd = match (&spec.code, mount_ns) {
            (Some(code), false) if spec.cwd == CODE_DIR => {
                cstr(&code.host_path.display().to_string())?
            }
            _ => cstr(&spec.cwd)?,
        };
        let plan = ChildPlan {
            root: mount_ns.then(|| {
                RootPlan::new(
                    spec,
                    &self.config.state_dir.join("root"),
                    &self.resolv_conf,
                    pid_ns,
                )
            }),
            set_hostname: self.has(Capability::UtsNamespace),
            user_namespace: user_ns,
            pid_namespace: pid_ns,
            uid: if user_ns { INSIDE_ID } else { outside_id },
            gid: if user_ns { INSIDE_ID } else { outside_id },
            program,
            argv,
            env,
            cwd,
            limits: spec.limits,
            nproc_rlimit: cgroup.as_ref().is_none_or(|c| c.pids.is_none()),
            last_cap: self.last_cap,
            seccomp: self.filters.as_ref().map(|f| f.profile(spec.profile)),
            fds: [
                stdout_w.as_raw_fd(),
                stderr_w.as_raw_fd(),
                child_channel.as_raw_fd(),
                status_w.as_raw_fd(),
                sync_r.as_raw_fd(),
            ],
        };

        let mut flags = 0u64;
        for (capability, flag) in [
            (Capability::UserNamespace, libc::CLONE_NEWUSER),
            (Capability::MountNamespace, libc::CLONE_NEWNS),
            (Capability::PidNamespace, libc::CLONE_NEWPID),
            (Capability::IpcNamespace, libc::CLONE_NEWIPC),
            (Capability::UtsNamespace, libc::CLONE_NEWUTS),
        ] {
            if self.has(capability) {
                flags |= flag as u64;
            }
        }
        if !spec.network {
            if !self.has(Capability::NetworkNamespace) {
                return Err(
                    "network off needs a network namespace, which this host refuses".into(),
                );
            }
            flags |= libc::CLONE_NEWNET as u64;
        }

        let pid = sys::clone_fork(flags).map_err(io("clone"))?;
        if pid == 0 {
            child::run(&plan);
        }
        drop((child_channel, stdout_w, stderr_w, sync_r, status_w));

        let release = (|| -> Result<(), String> {
            if user_ns {
                let map = format!("{INSIDE_ID} {outside_id} 1\n");
                std::fs::write(format!("/proc/{pid}/uid_map"), &map).map_err(io("uid_map"))?;
                std::fs::write(format!("/proc/{pid}/gid_map"), &map).map_err(io("gid_map"))?;
            }
            if let Some(cgroup) = cgroup {
                cgroup.add_process(pid).map_err(io("joining the cgroup"))?;
            }
            sys::write_all(sync_w.as_raw_fd(), b"1").map_err(io("releasing the sandbox"))
        })();
        if let Err(e) = release {
            let _ = sys::kill(pid, libc::SIGKILL);
            let _ = sys::wait_nohang(pid);
            return Err(e);
        }
        Ok((pid, vec![host_channel, stdout_r, stderr_r], status_r))
    }
}

/// `lchown -R id:id`, never following symlinks.
fn chown_tree(root: &std::path::Path, id: u32) -> std::io::Result<()> {
    std::os::unix::fs::lchown(root, Some(id), Some(id))?;
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            chown_tree(&entry.path(), id)?;
        } else {
            std::os::unix::fs::lchown(entry.path(), Some(id), Some(id))?;
        }
    }
    Ok(())
}

/// Stem cells need the new mount API and a mount namespace to attach code into.
pub(super) fn probe_attach(features: &[Feature], own_ns: bool) -> Feature {
    let mount_ns = features
        .iter()
        .any(|f| f.capability == Capability::MountNamespace && f.available);
    if !mount_ns || !own_ns {
        return feature(Capability::AttachCode, false, "needs a mount namespace");
    }
    match sys::open_tree_clone(c"/") {
        Ok(_) => feature(Capability::AttachCode, true, "open_tree + move_mount"),
        Err(e) => feature(
            Capability::AttachCode,
            false,
            format!("open_tree refused ({e}); needs Linux 5.2+"),
        ),
    }
}
