//! Thin wrappers over the Linux calls the sandbox needs: each keeps its `unsafe` to one call
//! and returns `io::Result`, so the rest of the crate reads as ordinary Rust.
//!
//! Everything here is a direct system call with no hidden allocation or locking, so the
//! functions are also fit for the child of `clone` (see `child.rs`).

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Turns a C return value into `io::Result`, reading errno on -1.
pub fn check(rc: libc::c_long) -> io::Result<libc::c_long> {
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn check_int(rc: libc::c_int) -> io::Result<libc::c_int> {
    check(rc as libc::c_long).map(|v| v as libc::c_int)
}

pub fn cpath(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path holds a NUL byte"))
}

/// `clone` with namespace flags and no new stack: fork semantics. `Ok(0)` in the child.
/// Only called from the single-threaded spawner, where fork semantics are sound.
pub fn clone_fork(flags: u64) -> io::Result<libc::pid_t> {
    // SAFETY: with a null stack pointer the raw clone syscall behaves like fork: the child
    // continues on a copy of this stack. The spawner has a single thread, so no lock can be
    // held by a thread that does not exist in the child.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags | libc::SIGCHLD as u64,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    check(rc).map(|pid| pid as libc::pid_t)
}

/// Plain fork, used by the sandbox's init to start the worker (init is single-threaded).
pub fn fork() -> io::Result<libc::pid_t> {
    // SAFETY: called only from single-threaded processes (the spawner's probes, sandbox init).
    check_int(unsafe { libc::fork() })
}

pub fn unshare(flags: libc::c_int) -> io::Result<()> {
    // SAFETY: unshare takes only an integer.
    check_int(unsafe { libc::unshare(flags) }).map(drop)
}

pub fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> io::Result<()> {
    let ptr = |s: Option<&CStr>| s.map_or(std::ptr::null(), |s| s.as_ptr());
    // SAFETY: every pointer is a valid NUL-terminated string or null, as mount(2) allows.
    let rc = unsafe {
        libc::mount(
            ptr(source),
            target.as_ptr(),
            ptr(fstype),
            flags,
            ptr(data).cast(),
        )
    };
    check_int(rc).map(drop)
}

pub fn umount_detach(target: &CStr) -> io::Result<()> {
    // SAFETY: target is a valid C string.
    check_int(unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) }).map(drop)
}

pub fn pivot_root(new_root: &CStr, put_old: &CStr) -> io::Result<()> {
    // SAFETY: both arguments are valid C strings.
    let rc = unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) };
    check(rc).map(drop)
}

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Marks the mount at `dirfd`/`path` read-only, nosuid and nodev (optionally its submounts
/// too) without touching other flags: unlike a remount, this cannot trip over flags the
/// kernel locked when the mount was copied into a user namespace.
pub fn mount_setattr_readonly(dirfd: RawFd, path: &CStr, recursive: bool) -> io::Result<()> {
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: attr is a valid mount_attr of the size passed; path is a valid C string.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dirfd,
            path.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    check(rc).map(drop)
}

/// A detached copy of the mount tree at `path` (`open_tree(OPEN_TREE_CLONE)`).
pub fn open_tree_clone(path: &CStr) -> io::Result<OwnedFd> {
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    let flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    // SAFETY: path is a valid C string.
    let rc = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), flags) };
    // SAFETY: on success the kernel returned a new descriptor that we now own.
    check(rc).map(|fd| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Attaches a detached mount (`open_tree_clone`) at `target` in the current mount namespace.
pub fn move_mount_to(tree: &OwnedFd, target: &CStr) -> io::Result<()> {
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
    // SAFETY: the empty string and target are valid C strings; tree is an open descriptor.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    check(rc).map(drop)
}

pub fn setns(fd: &OwnedFd, nstype: libc::c_int) -> io::Result<()> {
    // SAFETY: fd is an open namespace descriptor.
    check_int(unsafe { libc::setns(fd.as_raw_fd(), nstype) }).map(drop)
}

pub fn open(path: &CStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: path is a valid C string; the mode argument is ignored without O_CREAT.
    let fd = check_int(unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC, 0) })?;
    // SAFETY: open returned a fresh descriptor that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: fds has room for the two descriptors pipe2 writes.
    check_int(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 returned two fresh descriptors that we now own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

pub fn socketpair(kind: libc::c_int) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: fds has room for the two descriptors socketpair writes.
    check_int(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            kind | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    // SAFETY: socketpair returned two fresh descriptors that we now own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

pub fn dup2(src: RawFd, dst: RawFd) -> io::Result<()> {
    // SAFETY: dup2 only takes integers; replacing dst is what the caller asks for.
    check_int(unsafe { libc::dup2(src, dst) }).map(drop)
}

/// Duplicates `fd` to the lowest free descriptor at or above `min`, close-on-exec.
pub fn dup_above(fd: RawFd, min: RawFd) -> io::Result<RawFd> {
    // SAFETY: fcntl F_DUPFD_CLOEXEC only takes integers.
    check_int(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) })
}

/// Closes every descriptor from `first` up.
pub fn close_from(first: RawFd) {
    // SAFETY: close_range only takes integers; callers own every descriptor above `first`.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first as u32, u32::MAX, 0u32) };
    if rc != 0 {
        for fd in first..1024 {
            // SAFETY: as above, a fallback for kernels without close_range.
            unsafe { libc::close(fd) };
        }
    }
}

pub fn close(fd: RawFd) {
    // SAFETY: callers pass descriptors they own and no longer use.
    unsafe { libc::close(fd) };
}

pub fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl with integer arguments.
    let flags = check_int(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    // SAFETY: as above.
    check_int(unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) }).map(drop)
}

pub fn clear_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl with integer arguments.
    check_int(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) }).map(drop)
}

pub fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: buf is valid for writes of buf.len() bytes.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    check(n as libc::c_long).map(|n| n as usize)
}

pub fn write_all(fd: RawFd, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: buf is valid for reads of buf.len() bytes.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        match check(n as libc::c_long) {
            Ok(n) => buf = &buf[n as usize..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

pub fn kill(pid: libc::pid_t, signal: libc::c_int) -> io::Result<()> {
    // SAFETY: kill only takes integers.
    check_int(unsafe { libc::kill(pid, signal) }).map(drop)
}

/// `waitpid(pid, WNOHANG)`: `Some((pid, status))` for a reaped child.
pub fn wait_nohang(pid: libc::pid_t) -> io::Result<Option<(libc::pid_t, libc::c_int)>> {
    let mut status = 0;
    // SAFETY: status is a valid out pointer.
    let rc = check_int(unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) })?;
    Ok((rc > 0).then_some((rc, status)))
}

/// Blocking `waitpid(-1)`, retried on EINTR.
pub fn wait_any() -> io::Result<(libc::pid_t, libc::c_int)> {
    loop {
        let mut status = 0;
        // SAFETY: status is a valid out pointer.
        match check_int(unsafe { libc::waitpid(-1, &mut status, 0) }) {
            Ok(pid) => return Ok((pid, status)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

pub fn set_parent_death_signal(signal: libc::c_int) -> io::Result<()> {
    // SAFETY: prctl with integer arguments.
    check_int(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong, 0, 0, 0) })
        .map(drop)
}

pub fn setsid() {
    // SAFETY: setsid takes no arguments; failing (already a leader) is harmless.
    unsafe { libc::setsid() };
}

pub fn sethostname(name: &[u8]) -> io::Result<()> {
    // SAFETY: name is valid for name.len() bytes.
    check_int(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) }).map(drop)
}

pub fn setrlimit(resource: libc::__rlimit_resource_t, value: u64) -> io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: value,
        rlim_max: value,
    };
    // SAFETY: limit is a valid rlimit.
    check_int(unsafe { libc::setrlimit(resource, &limit) }).map(drop)
}

/// Leaves every supplementary group, then takes `gid` and `uid` as real, effective and saved
/// ids. Changing all uids away from 0 also clears the permitted and effective capabilities.
pub fn become_user(uid: libc::uid_t, gid: libc::gid_t) -> io::Result<()> {
    // SAFETY: an empty group list with a null pointer is valid for setgroups.
    check_int(unsafe { libc::setgroups(0, std::ptr::null()) })?;
    // SAFETY: integer arguments only.
    check_int(unsafe { libc::setresgid(gid, gid, gid) })?;
    // SAFETY: integer arguments only.
    check_int(unsafe { libc::setresuid(uid, uid, uid) }).map(drop)
}

/// Drops every capability from the bounding and ambient sets, so no later exec can regain one.
pub fn drop_bounding_capabilities(last_cap: u32) -> io::Result<()> {
    for cap in 0..=last_cap {
        // SAFETY: prctl with integer arguments. EINVAL for a cap this kernel lacks is fine.
        let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
        if rc != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINVAL) {
                return Err(e);
            }
        }
    }
    // SAFETY: prctl with integer arguments.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    Ok(())
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Clears the effective, permitted and inheritable capability sets of this process.
pub fn clear_capabilities() -> io::Result<()> {
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    let header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [CapData {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: header and data are valid v3 capability structures (two data words).
    let rc = unsafe { libc::syscall(libc::SYS_capset, &header as *const _, data.as_ptr()) };
    check(rc).map(drop)
}

/// Becomes `uid`/`gid` but keeps the capabilities (made effective again): the sandbox's
/// init needs an id the user namespace maps to create files in its new root, and still needs
/// CAP_SYS_ADMIN there to mount.
pub fn become_user_keeping_capabilities(uid: libc::uid_t, gid: libc::gid_t) -> io::Result<()> {
    // SAFETY: prctl with integer arguments.
    check_int(unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) })?;
    become_user(uid, gid)?;
    let mut header = CapHeader {
        version: 0x2008_0522,
        pid: 0,
    };
    let mut data = [CapData {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: header and data are valid v3 capability structures (two data words).
    check(unsafe { libc::syscall(libc::SYS_capget, &mut header as *mut _, data.as_mut_ptr()) })?;
    for word in &mut data {
        word.effective = word.permitted;
    }
    // SAFETY: as above.
    check(unsafe { libc::syscall(libc::SYS_capset, &header as *const _, data.as_ptr()) }).map(drop)
}

pub fn set_not_dumpable() -> io::Result<()> {
    // SAFETY: prctl with integer arguments.
    check_int(unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) }).map(drop)
}

pub fn set_no_new_privs() -> io::Result<()> {
    // SAFETY: prctl with integer arguments.
    check_int(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) }).map(drop)
}

/// Whether this kernel has seccomp filters (`PR_GET_SECCOMP` answers instead of EINVAL).
pub fn seccomp_available() -> bool {
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) >= 0 }
}

pub fn chdir(path: &CStr) -> io::Result<()> {
    // SAFETY: path is a valid C string.
    check_int(unsafe { libc::chdir(path.as_ptr()) }).map(drop)
}

pub fn fchdir(dir: &OwnedFd) -> io::Result<()> {
    // SAFETY: dir is an open descriptor owned by the caller.
    check_int(unsafe { libc::fchdir(dir.as_raw_fd()) }).map(drop)
}

/// Replaces this process image. Returns only on failure.
pub fn execve(path: &CStr, argv: &[CString], envp: &[CString]) -> io::Error {
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut envp_ptrs: Vec<*const libc::c_char> = envp.iter().map(|e| e.as_ptr()).collect();
    envp_ptrs.push(std::ptr::null());
    // SAFETY: path, argv and envp are NUL-terminated strings in null-terminated arrays that
    // outlive the call.
    unsafe { libc::execve(path.as_ptr(), argv_ptrs.as_ptr(), envp_ptrs.as_ptr()) };
    io::Error::last_os_error()
}

/// Signal mask helpers: the spawner blocks SIGCHLD and SIGTERM to read them from a signalfd;
/// children must start with an empty mask and default dispositions.
pub fn block_signals_into_fd() -> io::Result<OwnedFd> {
    // SAFETY: set is a valid sigset_t initialised by sigemptyset before use.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        let fd = check_int(libc::signalfd(
            -1,
            &set,
            libc::SFD_CLOEXEC | libc::SFD_NONBLOCK,
        ))?;
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// Writes to a pipe whose reader is gone then fail with EPIPE instead of killing the process.
pub fn ignore_sigpipe() {
    // SAFETY: setting a disposition to SIG_IGN is always valid.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

pub fn reset_signals() {
    // SAFETY: resetting dispositions to SIG_DFL and clearing the mask is always valid.
    unsafe {
        for signal in 1..32 {
            if signal != libc::SIGKILL && signal != libc::SIGSTOP {
                libc::signal(signal, libc::SIG_DFL);
            }
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

/// Waits for any of `fds` to be readable; returns which, by index.
pub fn poll_readable(fds: &[RawFd], timeout_ms: libc::c_int) -> io::Result<Vec<bool>> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: pfds is valid for pfds.len() entries.
    let rc = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
    match check_int(rc) {
        Ok(_) => Ok(pfds.iter().map(|p| p.revents != 0).collect()),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(vec![false; fds.len()]),
        Err(e) => Err(e),
    }
}

/// Most descriptors one message carries (a sandbox's channel, stdout and stderr).
pub const MAX_FDS: usize = 4;

/// Sends one datagram with descriptors attached (`SCM_RIGHTS`).
pub fn send_with_fds(sock: RawFd, data: &[u8], fds: &[RawFd]) -> io::Result<()> {
    assert!(fds.len() <= MAX_FDS);
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut _,
        iov_len: data.len(),
    };
    let mut control = [0u64; 8]; // 64 bytes, aligned, room for MAX_FDS descriptors
    // SAFETY: msghdr is zeroed then filled with pointers to live buffers; CMSG_* macros
    // compute offsets within `control`, which is large enough for MAX_FDS descriptors.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if !fds.is_empty() {
            let len = libc::CMSG_SPACE((fds.len() * 4) as u32) as usize;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = len;
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN((fds.len() * 4) as u32) as usize;
            std::ptr::copy_nonoverlapping(
                fds.as_ptr(),
                libc::CMSG_DATA(cmsg).cast::<RawFd>(),
                fds.len(),
            );
        }
        let n = libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL);
        check(n as libc::c_long).map(drop)
    }
}

/// Receives one datagram and the descriptors attached to it. `Ok((0, _))` means end of file.
pub fn recv_with_fds(sock: RawFd, buf: &mut [u8]) -> io::Result<(usize, Vec<OwnedFd>)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut control = [0u64; 8];
    // SAFETY: as in send_with_fds; received descriptors are fresh and become owned here.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control);
        let n = check(libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) as libc::c_long)?;
        let mut fds = Vec::new();
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                let count = ((*cmsg).cmsg_len - libc::CMSG_LEN(0) as usize) / 4;
                for i in 0..count {
                    fds.push(OwnedFd::from_raw_fd(std::ptr::read_unaligned(data.add(i))));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
        if msg.msg_flags & libc::MSG_TRUNC != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "spawner message larger than the receive buffer",
            ));
        }
        Ok((n as usize, fds))
    }
}

/// Wraps a descriptor number inherited at exec (the spawner's control socket).
///
/// # Safety
/// `fd` must be open and owned by nobody else in this process.
pub unsafe fn owned_from_raw(fd: RawFd) -> OwnedFd {
    // SAFETY: guaranteed by the caller.
    unsafe { OwnedFd::from_raw_fd(fd) }
}
