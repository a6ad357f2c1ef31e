//! The filesystem a sandbox sees: a fresh tmpfs as `/`, the system's and the runtime's files
//! bound read-only, the code at `/code`, a private size-limited `/tmp`, a minimal `/dev`, a
//! synthesized `/etc`, its own read-only `/proc`, then `pivot_root` into it and `/` made
//! read-only.
//!
//! [`RootPlan`] is computed by the spawner before `clone` (reading host files there, not in
//! the child); [`RootPlan::enter`] runs in the child, inside its new mount namespace.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use crate::spec::{CODE_DIR, SandboxSpec};
use crate::sys::{self, cpath};

/// One host path as it will appear in the new root.
#[derive(Debug, Clone)]
enum Entry {
    /// A folder or file bound read-only at the same path.
    Bind(PathBuf),
    /// A symlink recreated as is (merged-/usr hosts: `/bin -> usr/bin`).
    Symlink { path: PathBuf, target: PathBuf },
}

/// Everything needed to build the root, resolved before `clone`.
#[derive(Debug, Clone)]
pub struct RootPlan {
    /// Empty host folder the new root is mounted on (inside the child's namespace only).
    staging: PathBuf,
    entries: Vec<Entry>,
    code: Option<(PathBuf, bool)>,
    tmp_mb: u64,
    etc_files: Vec<(&'static str, Vec<u8>)>,
    /// Without a pid namespace, `/proc` must hide the host's processes.
    hide_pids: bool,
}

/// Devices a function may open; everything else in the host's `/dev` stays out.
const DEVICES: [&str; 5] = ["null", "zero", "full", "random", "urandom"];

impl RootPlan {
    pub fn new(spec: &SandboxSpec, staging: &Path, resolv_conf: &[u8], pid_ns: bool) -> Self {
        let mut entries = Vec::new();
        let paths = crate::spec::system_paths()
            .into_iter()
            .chain(spec.runtime_paths.iter().cloned());
        for path in paths {
            match fs::symlink_metadata(&path) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    if let Ok(target) = fs::read_link(&path) {
                        entries.push(Entry::Symlink { path, target });
                    }
                }
                Ok(_) => entries.push(Entry::Bind(path)),
                Err(_) => {}
            }
        }
        RootPlan {
            staging: staging.to_path_buf(),
            entries,
            code: spec
                .code
                .as_ref()
                .map(|c| (c.host_path.clone(), c.writable)),
            tmp_mb: spec.limits.tmp_mb,
            etc_files: etc_files(resolv_conf),
            hide_pids: !pid_ns,
        }
    }

    /// Opens every host path to bind (`O_PATH`), while the child still has the host identity
    /// that may walk to them: once it takes its sandbox uid it could not cross, say, `/root`
    /// (0700) to reach `/root/.pyenv/versions/3.11.7`. Mounting from `/proc/self/fd/N` needs
    /// no walk. Returns them in the order [`RootPlan::enter`] uses them.
    pub fn open_sources(&self) -> Result<Vec<OwnedFd>, String> {
        let binds = self.entries.iter().filter_map(|e| match e {
            Entry::Bind(path) => Some(path.as_path()),
            Entry::Symlink { .. } => None,
        });
        let code = self.code.iter().map(|(host, _)| host.as_path());
        let devices = DEVICES.iter().map(|d| Path::new("/dev").join(d));
        let mut fds = Vec::new();
        for path in binds.chain(code).map(Path::to_path_buf).chain(devices) {
            let c = cpath(&path).map_err(|e| e.to_string())?;
            let fd = sys::open(&c, libc::O_PATH)
                .map_err(|e| format!("opening {}: {e}", path.display()))?;
            fds.push(fd);
        }
        Ok(fds)
    }

    /// Mounts the new root's tmpfs on the staging folder and makes it the working folder.
    /// Runs in the sandbox's init while it still has the host identity, like
    /// [`RootPlan::open_sources`]: the staging folder may lie under a folder only root may
    /// cross (a data dir made 0700). `owner`: the id that will build the root, which must
    /// own its top folder.
    pub fn mount_root(&self, owner: Option<u32>) -> Result<(), String> {
        let step = |what: String| move |e: io::Error| format!("{what}: {e}");
        // Nothing mounted from here on may reach the host's namespace.
        sys::mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None)
            .map_err(step("making mounts private".into()))?;
        let staging = cpath(&self.staging).map_err(|e| e.to_string())?;
        let options = match owner {
            Some(id) => format!("size=4m,mode=755,uid={id},gid={id}"),
            None => "size=4m,mode=755".into(),
        };
        let options = CString::new(options).unwrap();
        let tmpfs = c"tmpfs";
        let mounting = format!("mounting the new root on {}", self.staging.display());
        sys::mount(
            Some(tmpfs),
            &staging,
            Some(tmpfs),
            libc::MS_NOSUID | libc::MS_NODEV,
            Some(&options),
        )
        .map_err(step(mounting))?;
        sys::chdir(&staging).map_err(step("entering the new root".into()))
    }

    /// Builds the root (the working folder, from [`RootPlan::mount_root`]) and moves into
    /// it. Runs in the sandbox's init, which still holds the capabilities of its user
    /// namespace. `sources` come from [`RootPlan::open_sources`] and are closed here, before
    /// anything untrusted runs.
    pub fn enter(&self, sources: Vec<OwnedFd>) -> Result<(), String> {
        let mut sources = sources.into_iter();
        // Relative paths from here on: no walk from `/` down to the staging folder.
        let root = Path::new(".");
        let c = |p: &Path| cpath(p).map_err(|e| format!("{}: {e}", p.display()));
        let step = |what: String| move |e: io::Error| format!("{what}: {e}");
        let tmpfs = c"tmpfs";

        for entry in &self.entries {
            match entry {
                Entry::Symlink { path, target } => {
                    let link = under(root, path);
                    mkdir_parent(&link)?;
                    symlink(target, &link).map_err(step(format!("linking {}", path.display())))?;
                }
                Entry::Bind(path) => {
                    let source = sources.next().ok_or("a bind source is missing")?;
                    bind(path, &source, &under(root, path), false)?
                }
            }
        }

        let code = under(root, Path::new(CODE_DIR));
        fs::create_dir_all(&code).map_err(step("creating /code".into()))?;
        if let Some((host, writable)) = &self.code {
            let source = sources.next().ok_or("the code's source is missing")?;
            bind(host, &source, &code, *writable)?;
        }

        let tmp = under(root, Path::new("/tmp"));
        fs::create_dir_all(&tmp).map_err(step("creating /tmp".into()))?;
        let size = CString::new(format!("size={}m,mode=1777", self.tmp_mb.max(1))).unwrap();
        sys::mount(
            Some(tmpfs),
            &c(&tmp)?,
            Some(tmpfs),
            libc::MS_NOSUID | libc::MS_NODEV,
            Some(&size),
        )
        .map_err(step("mounting /tmp".into()))?;

        self.make_dev(root, sources.by_ref())?;
        self.make_etc(root)?;

        let proc_dir = under(root, Path::new("/proc"));
        fs::create_dir_all(&proc_dir).map_err(step("creating /proc".into()))?;
        let options = self.hide_pids.then_some(c"hidepid=2");
        // Read-only: nothing in it is for a function to write, and its writable files change
        // the process itself (`/proc/self/attr/*`: its LSM label; `mem`; `oom_score_adj`).
        sys::mount(
            Some(c"proc"),
            &c(&proc_dir)?,
            Some(c"proc"),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | libc::MS_RDONLY,
            options,
        )
        .map_err(step("mounting /proc".into()))?;

        // pivot_root(".", ".") stacks the old root under the new one; detaching it leaves
        // nothing of the host reachable, which chroot would not guarantee.
        sys::pivot_root(c".", c".").map_err(step("pivot_root".into()))?;
        sys::umount_detach(c".").map_err(step("detaching the host's root".into()))?;
        sys::chdir(c"/").map_err(step("chdir /".into()))?;
        make_readonly(c"/", false).map_err(step("making / read-only".into()))
    }

    fn make_dev(
        &self,
        root: &Path,
        mut sources: impl Iterator<Item = OwnedFd>,
    ) -> Result<(), String> {
        let dev = under(root, Path::new("/dev"));
        fs::create_dir_all(&dev).map_err(|e| format!("creating /dev: {e}"))?;
        let dev_c = cpath(&dev).map_err(|e| e.to_string())?;
        sys::mount(
            Some(c"tmpfs"),
            &dev_c,
            Some(c"tmpfs"),
            libc::MS_NOSUID | libc::MS_NOEXEC,
            Some(c"size=64k,mode=755"),
        )
        .map_err(|e| format!("mounting /dev: {e}"))?;
        for name in DEVICES {
            let source = sources.next().ok_or("a device source is missing")?;
            bind(
                &Path::new("/dev").join(name),
                &source,
                &dev.join(name),
                true,
            )?;
        }
        for (link, target) in [
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
        ] {
            symlink(target, dev.join(link)).map_err(|e| format!("linking /dev/{link}: {e}"))?;
        }
        // The tmpfs belongs to the sandbox's user (it mounted it): freeze it, devices stay.
        make_readonly(&dev_c, false).map_err(|e| format!("making /dev read-only: {e}"))
    }

    fn make_etc(&self, root: &Path) -> Result<(), String> {
        let etc = under(root, Path::new("/etc"));
        fs::create_dir_all(&etc).map_err(|e| format!("creating /etc: {e}"))?;
        for (name, content) in &self.etc_files {
            fs::write(etc.join(name), content).map_err(|e| format!("writing /etc/{name}: {e}"))?;
        }
        Ok(())
    }
}

/// The host path `path` placed under the new root.
fn under(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}

fn mkdir_parent(path: &Path) -> Result<(), String> {
    match path.parent() {
        Some(parent) => {
            fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))
        }
        None => Ok(()),
    }
}

/// Binds `host` (folder or file, opened as `source`) at `target`, read-only unless `writable`.
fn bind(host: &Path, source: &OwnedFd, target: &Path, writable: bool) -> Result<(), String> {
    let err = |what: &str, e: io::Error| format!("{what} {}: {e}", host.display());
    mkdir_parent(target)?;
    let via_fd = format!("/proc/self/fd/{}", source.as_raw_fd());
    if Path::new(&via_fd).is_dir() {
        fs::create_dir_all(target).map_err(|e| err("creating the mount point for", e))?;
    } else if !target.exists() {
        fs::write(target, b"").map_err(|e| err("creating the mount point for", e))?;
    }
    let host_c = CString::new(via_fd).unwrap();
    let target_c = cpath(target).map_err(|e| e.to_string())?;
    sys::mount(
        Some(&host_c),
        &target_c,
        None,
        libc::MS_BIND | libc::MS_REC,
        None,
    )
    .map_err(|e| err("binding", e))?;
    if !writable {
        make_readonly(&target_c, true).map_err(|e| err("making read-only", e))?;
    }
    Ok(())
}

/// Read-only + nosuid + nodev via `mount_setattr`; on kernels before 5.12, a bind remount
/// that repeats the flags the kernel may have locked (it refuses to clear them).
fn make_readonly(path: &std::ffi::CStr, recursive: bool) -> io::Result<()> {
    match sys::mount_setattr_readonly(libc::AT_FDCWD, path, recursive) {
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
            // SAFETY: a zeroed statvfs is a valid out buffer; path is a valid C string.
            let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
            // SAFETY: as above.
            sys::check(unsafe { libc::statvfs(path.as_ptr(), &mut st) } as libc::c_long)?;
            let mut flags = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY;
            flags |= libc::MS_NOSUID | libc::MS_NODEV;
            if st.f_flag & libc::ST_NOEXEC != 0 {
                flags |= libc::MS_NOEXEC;
            }
            if st.f_flag & libc::ST_NOATIME != 0 {
                flags |= libc::MS_NOATIME;
            }
            if st.f_flag & libc::ST_RELATIME != 0 {
                flags |= libc::MS_RELATIME;
            }
            sys::mount(None, path, None, flags, None)
        }
        other => other,
    }
}

/// The synthesized `/etc`: a passwd and group naming the sandbox user, loopback hosts, the
/// host's resolver (addresses only, no secret), and name-service order without LDAP/NIS.
fn etc_files(resolv_conf: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "passwd",
            b"root:x:0:0:root:/tmp:/bin/false\ngust:x:1000:1000:gust function:/tmp:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n".to_vec(),
        ),
        ("group", b"root:x:0:\ngust:x:1000:\nnogroup:x:65534:\n".to_vec()),
        ("hosts", b"127.0.0.1 localhost gust\n::1 localhost ip6-localhost\n".to_vec()),
        ("hostname", b"gust\n".to_vec()),
        ("resolv.conf", resolv_conf.to_vec()),
        ("nsswitch.conf", b"passwd: files\ngroup: files\nhosts: files dns\n".to_vec()),
    ]
}
