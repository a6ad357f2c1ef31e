//! The sandbox from the inside: what the child of the spawner's `clone` does.
//!
//! That child becomes the sandbox's init (pid 1 of its pid namespace): it waits for the
//! spawner's go (id maps written, cgroup joined), builds the root filesystem, forks the worker
//! and then only reaps. The worker drops every privilege (groups, ids, capabilities, no_new_privs,
//! seccomp, rlimits) and execs the program. When the worker ends, init writes its wait status
//! for the spawner, kills what is left and exits, which ends the pid namespace.
//!
//! The spawner is single-threaded, so the child may allocate; everything it reads from the
//! host was resolved by the spawner beforehand ([`ChildPlan`]).

use std::ffi::CString;
use std::os::fd::RawFd;

use crate::rootfs::RootPlan;
use crate::seccomp::Profile;
use crate::spec::Limits;
use crate::sys;

/// Descriptor numbers in the child after [`arrange_fds`].
pub const FD_CHANNEL: RawFd = 3;
const FD_STATUS: RawFd = 4;
const FD_SYNC: RawFd = 5;

/// Everything the child needs, prepared by the spawner before `clone`.
pub struct ChildPlan<'a> {
    pub root: Option<RootPlan>,
    pub set_hostname: bool,
    /// Whether the child is in a new user namespace (where it must take a mapped id early).
    pub user_namespace: bool,
    /// Whether the child is pid 1 of a new pid namespace: only then may it signal "every
    /// process" (-1) to end the sandbox.
    pub pid_namespace: bool,
    /// Ids to become (inside the user namespace when there is one).
    pub uid: u32,
    pub gid: u32,
    pub program: CString,
    pub argv: Vec<CString>,
    pub env: Vec<CString>,
    pub cwd: CString,
    pub limits: Limits,
    /// Without a pids cgroup, RLIMIT_NPROC (per uid, and each sandbox has its own) stands in.
    pub nproc_rlimit: bool,
    pub last_cap: u32,
    pub seccomp: Option<&'a Profile>,
    /// The child's ends: stdout, stderr, protocol socket, status pipe, sync pipe.
    pub fds: [RawFd; 5],
}

/// Runs in the child of `clone`; never returns.
pub fn run(plan: &ChildPlan) -> ! {
    let error = match setup(plan) {
        Ok(never) => match never {},
        Err(error) => error,
    };
    let message = format!("gust sandbox: {error}\n");
    let _ = sys::write_all(2, message.as_bytes());
    // SAFETY: _exit ends the child without running the spawner's exit handlers.
    unsafe { libc::_exit(126) }
}

fn setup(plan: &ChildPlan) -> Result<std::convert::Infallible, String> {
    let _ = sys::set_parent_death_signal(libc::SIGKILL);
    sys::reset_signals();
    arrange_fds(plan.fds).map_err(|e| format!("arranging descriptors: {e}"))?;

    // Wait for the spawner to write our id maps and put us in the cgroup.
    let mut go = [0u8; 1];
    if sys::read(FD_SYNC, &mut go).ok() != Some(1) {
        // SAFETY: the spawner gave up on us; leave quietly.
        unsafe { libc::_exit(125) }
    }
    sys::close(FD_SYNC);

    let sources = match &plan.root {
        Some(root) => {
            let sources = root.open_sources()?;
            root.mount_root(plan.user_namespace.then_some(plan.uid))?;
            sources
        }
        None => Vec::new(),
    };
    if plan.user_namespace {
        sys::become_user_keeping_capabilities(plan.uid, plan.gid)
            .map_err(|e| format!("taking the sandbox's ids: {e}"))?;
        // Changing ids clears the parent-death signal: set it again, or a sandbox would
        // outlive a spawner that was killed outright, beyond the reach of any kill.
        let _ = sys::set_parent_death_signal(libc::SIGKILL);
    }
    if plan.set_hostname {
        sys::sethostname(b"gust").map_err(|e| format!("sethostname: {e}"))?;
    }
    if let Some(root) = &plan.root {
        root.enter(sources)?;
    }

    let worker = sys::fork().map_err(|e| format!("forking the worker: {e}"))?;
    if worker == 0 {
        exec_worker(plan)
    } else {
        init(worker, plan)
    }
}

/// Moves the child's descriptors to fixed numbers and closes every other one, so nothing of
/// the spawner (its control socket, other sandboxes' pipes) leaks in.
fn arrange_fds(fds: [RawFd; 5]) -> std::io::Result<()> {
    // Lift them above the target range first, so no dup2 clobbers a source still needed.
    let mut lifted = [0; 5];
    for (i, fd) in fds.iter().enumerate() {
        lifted[i] = sys::dup_above(*fd, 100)?;
    }
    let null = sys::open(c"/dev/null", libc::O_RDWR)?;
    sys::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), 0)?;
    drop(null); // before close_from: an OwnedFd closed behind its back aborts on drop
    for (i, fd) in lifted.iter().enumerate() {
        sys::dup2(*fd, i as RawFd + 1)?;
    }
    sys::close_from(6);
    Ok(())
}

/// The worker: drop everything, then exec. Never returns.
fn exec_worker(plan: &ChildPlan) -> ! {
    sys::close(FD_STATUS);
    sys::setsid();
    let result = (|| -> Result<(), String> {
        let mb = 1024 * 1024;
        sys::setrlimit(libc::RLIMIT_NOFILE, plan.limits.open_files)
            .map_err(|e| format!("RLIMIT_NOFILE: {e}"))?;
        sys::setrlimit(libc::RLIMIT_FSIZE, plan.limits.file_size_mb * mb)
            .map_err(|e| format!("RLIMIT_FSIZE: {e}"))?;
        sys::setrlimit(libc::RLIMIT_CORE, 0).map_err(|e| format!("RLIMIT_CORE: {e}"))?;
        if plan.nproc_rlimit {
            sys::setrlimit(libc::RLIMIT_NPROC, plan.limits.pids as u64)
                .map_err(|e| format!("RLIMIT_NPROC: {e}"))?;
        }
        drop_privileges(plan)?;
        sys::chdir(&plan.cwd).map_err(|e| format!("chdir {:?}: {e}", plan.cwd))?;
        // The last step before exec: from here on, only what the profile allows (execve,
        // and write and exit_group should it fail).
        if let Some(profile) = plan.seccomp {
            profile.apply().map_err(|e| format!("seccomp: {e}"))?;
        }
        let mut env = plan.env.clone();
        env.push(
            CString::new(format!(
                "{}={}",
                crate::wire::EXEC_TIME_ENV,
                crate::wire::monotonic_ns()
            ))
            .unwrap(),
        );
        let error = sys::execve(&plan.program, &plan.argv, &env);
        Err(format!("exec {:?}: {error}", plan.program))
    })();
    if let Err(error) = result {
        let _ = sys::write_all(2, format!("gust sandbox: {error}\n").as_bytes());
    }
    // SAFETY: _exit after a failed exec, as after any fork.
    unsafe { libc::_exit(127) }
}

/// Bounding set first (needs CAP_SETPCAP), then ids (clears the rest), then no_new_privs.
fn drop_privileges(plan: &ChildPlan) -> Result<(), String> {
    sys::drop_bounding_capabilities(plan.last_cap).map_err(|e| format!("capabilities: {e}"))?;
    sys::become_user(plan.uid, plan.gid).map_err(|e| format!("changing ids: {e}"))?;
    sys::clear_capabilities().map_err(|e| format!("clearing capabilities: {e}"))?;
    sys::set_no_new_privs().map_err(|e| format!("no_new_privs: {e}"))
}

/// pid 1: reap everything; when the worker ends, report its status and end the sandbox.
fn init(worker: libc::pid_t, plan: &ChildPlan) -> ! {
    // Holding the worker's socket or pipes open would hide its death from the server.
    sys::close(FD_CHANNEL);
    if let Ok(null) = sys::open(c"/dev/null", libc::O_RDWR) {
        let null = std::os::fd::AsRawFd::as_raw_fd(&null);
        let _ = sys::dup2(null, 1);
        let _ = sys::dup2(null, 2);
    }
    let _ = drop_privileges(plan);
    // Keeps the worker (same uid) out of init's /proc entries.
    let _ = sys::set_not_dumpable();
    // Its loop needs wait4, write, kill and exit_group, which every profile allows.
    if let Some(profile) = plan.seccomp {
        let _ = profile.apply();
    }
    loop {
        match sys::wait_any() {
            Ok((pid, status)) if pid == worker => {
                let _ = sys::write_all(FD_STATUS, &status.to_le_bytes());
                // In its own pid namespace, -1 is every process of the sandbox. Outside one it
                // would be every process this user may signal (the server's own, when it runs
                // unprivileged): take the worker's process group (it called setsid) instead.
                let _ = sys::kill(if plan.pid_namespace { -1 } else { -worker }, libc::SIGKILL);
                // SAFETY: ends init, and with it the pid namespace.
                unsafe { libc::_exit(0) }
            }
            Ok(_) => continue,
            // SAFETY: no children left at all; nothing more to do.
            Err(_) => unsafe { libc::_exit(0) },
        }
    }
}
