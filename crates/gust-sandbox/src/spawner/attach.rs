//! Attaching a function's code to a running sandbox (a stem cell): the spawner clones the code
//! folder as a detached mount, makes it read-only, steps into the sandbox's mount namespace,
//! mounts it on `/code` and steps back. The sandbox itself needs no privilege for this, and the
//! server's own mount namespace is never touched.

use std::path::Path;

use super::Spawner;
use crate::spec::CODE_DIR;
use crate::sys;

impl Spawner {
    pub(super) fn attach_code(&mut self, pid: i32, host_path: &Path) -> Result<(), String> {
        if !self.running.contains_key(&pid) {
            return Err(format!("no running sandbox has pid {pid}"));
        }
        let own_ns = self
            .own_mount_ns
            .as_ref()
            .ok_or("the spawner cannot reopen its own mount namespace")?;
        let source = sys::cpath(host_path).map_err(|e| e.to_string())?;
        let tree = sys::open_tree_clone(&source)
            .map_err(|e| format!("cloning {} as a mount: {e}", host_path.display()))?;
        sys::mount_setattr_readonly(std::os::fd::AsRawFd::as_raw_fd(&tree), c"", false)
            .map_err(|e| format!("making the code read-only: {e}"))?;
        let ns_path = std::ffi::CString::new(format!("/proc/{pid}/ns/mnt")).unwrap();
        let target_ns = sys::open(&ns_path, libc::O_RDONLY)
            .map_err(|e| format!("opening the sandbox's mount namespace: {e}"))?;

        sys::setns(&target_ns, libc::CLONE_NEWNS)
            .map_err(|e| format!("entering the sandbox's mount namespace: {e}"))?;
        let target = std::ffi::CString::new(CODE_DIR).unwrap();
        let moved = sys::move_mount_to(&tree, &target);
        let back = sys::setns(own_ns, libc::CLONE_NEWNS).and_then(|()| match &self.own_cwd {
            Some(cwd) => sys::fchdir(cwd),
            None => Ok(()),
        });
        if let Err(e) = back {
            // Staying in a sandbox's namespace (or at its root) would make every later spawn wrong.
            eprintln!("gust sandbox spawner: cannot return to its own mount namespace: {e}");
            std::process::exit(1);
        }
        moved.map_err(|e| format!("mounting the code at {CODE_DIR}: {e}"))
    }
}
