//! The seccomp profiles of sandboxed processes, kept as data: `seccomp/worker.json` for
//! functions' workers, `seccomp/build.json` for builds (see [`SeccompProfile`]). Each is an
//! allow-list: what is not listed fails with EPERM. Both are compiled (by firecracker's
//! `seccompiler`) once when the spawner starts; one is installed in each sandbox right
//! before exec.
//!
//! A profile becomes two stacked filters. The first answers `clone3` with ENOSYS (its flags
//! sit in memory a filter cannot read), so libc falls back to `clone`, whose flags the second
//! one checks. The second is the allow-list itself (EPERM for the rest). The kernel runs both
//! and keeps the strictest answer, so ENOSYS stands for `clone3` even though the allow-list
//! lets it through, and installing the second filter needs nothing the first denies.
//!
//! Profiles name system calls, and some exist on x86_64 only (`open`, `stat`, `vfork`, ...):
//! a rule may say `"arch": "x86_64"` and is left out on other architectures, where libc uses
//! the `*at` forms also listed.

use std::collections::BTreeSet;

use seccompiler::{BpfProgram, TargetArch};
use serde_json::{Value, json};

use crate::error::{SandboxError, SandboxResult};
use crate::spec::SeccompProfile;

const WORKER: &str = include_str!("../seccomp/worker.json");
const BUILD: &str = include_str!("../seccomp/build.json");

/// Architectures a rule's `arch` may name.
const ARCHES: [&str; 2] = ["x86_64", "aarch64"];

/// Every profile, compiled for one architecture.
pub struct Filters {
    worker: Profile,
    build: Profile,
}

/// One profile's programs, in the order they are installed.
pub struct Profile {
    programs: Vec<BpfProgram>,
    allowed: BTreeSet<String>,
}

impl Filters {
    /// Compiles every profile for the running architecture.
    pub fn compile() -> SandboxResult<Filters> {
        Filters::compile_for(std::env::consts::ARCH)
    }

    /// Compiles every profile for `arch` (`x86_64`, `aarch64`).
    pub fn compile_for(arch: &str) -> SandboxResult<Filters> {
        Ok(Filters {
            worker: Profile::compile(WORKER, arch).map_err(|e| error("worker", e))?,
            build: Profile::compile(BUILD, arch).map_err(|e| error("build", e))?,
        })
    }

    pub fn profile(&self, profile: SeccompProfile) -> &Profile {
        match profile {
            SeccompProfile::Worker => &self.worker,
            SeccompProfile::Build => &self.build,
        }
    }
}

fn error(profile: &str, message: String) -> SandboxError {
    SandboxError::Seccomp(format!("the {profile} profile: {message}"))
}

impl Profile {
    fn compile(source: &str, arch: &str) -> Result<Profile, String> {
        let target = TargetArch::try_from(arch).map_err(|e| format!("{e:?}"))?;
        let source: Value = serde_json::from_str(source).map_err(|e| e.to_string())?;
        let enosys = rules_for(&source, "enosys", arch)?;
        let allow = rules_for(&source, "allow", arch)?;
        let names = |rules: &[Value]| -> BTreeSet<String> {
            rules
                .iter()
                .filter_map(|r| r["syscall"].as_str().map(str::to_string))
                .collect()
        };
        let answered_enosys = names(&enosys);
        let allowed = names(&allow)
            .into_iter()
            .filter(|name| !answered_enosys.contains(name))
            .collect();
        let filters = json!({
            "enosys": {
                "mismatch_action": "allow",
                "filter_action": {"errno": libc::ENOSYS},
                "filter": enosys,
            },
            "allow": {
                "mismatch_action": {"errno": libc::EPERM},
                "filter_action": "allow",
                "filter": allow,
            },
        });
        let mut map = seccompiler::compile_from_json(filters.to_string().as_bytes(), target)
            .map_err(|e| e.to_string())?;
        let programs = ["enosys", "allow"]
            .iter()
            .map(|name| map.remove(*name).expect("compiled above"))
            .collect();
        Ok(Profile { programs, allowed })
    }

    /// Installs the profile in the calling thread; sets no_new_privs first (seccompiler
    /// does), which an unprivileged process needs to load a filter at all.
    pub fn apply(&self) -> std::io::Result<()> {
        for program in &self.programs {
            seccompiler::apply_filter(program).map_err(|e| std::io::Error::other(e.to_string()))?;
        }
        Ok(())
    }

    /// How many system calls the allow-list lets through (by name; one with argument
    /// conditions counts once).
    pub fn allowed_count(&self) -> usize {
        self.allowed.len()
    }

    #[cfg(test)]
    fn allows(&self, name: &str) -> bool {
        self.allowed.contains(name)
    }
}

/// The rules of `list` that apply on `arch`, in seccompiler's form (without `arch`).
fn rules_for(source: &Value, list: &str, arch: &str) -> Result<Vec<Value>, String> {
    let rules = source[list]
        .as_array()
        .ok_or_else(|| format!("`{list}` is not a list"))?;
    let mut kept = Vec::with_capacity(rules.len());
    for rule in rules {
        let mut rule = rule.clone();
        let object = rule
            .as_object_mut()
            .ok_or_else(|| format!("a rule of `{list}` is not an object"))?;
        match object.remove("arch") {
            None => {}
            Some(Value::String(only)) if only == arch => {}
            Some(Value::String(other)) if ARCHES.contains(&other.as_str()) => continue,
            Some(other) => return Err(format!("unknown arch {other} in {rule}")),
        }
        kept.push(rule);
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What no function or build needs and each has served kernel exploits or escapes:
    /// other processes' memory, mounts, namespaces, kernel modules and keyrings, eBPF, perf,
    /// userfaultfd (widens race windows), io_uring (bypasses this filter), handles that skip
    /// path checks, the clock, the host name.
    const NEVER: &[&str] = &[
        "ptrace",
        "process_vm_readv",
        "process_vm_writev",
        "process_madvise",
        "kcmp",
        "pidfd_getfd",
        "get_robust_list",
        "mount",
        "umount2",
        "pivot_root",
        "chroot",
        "open_tree",
        "move_mount",
        "fsopen",
        "fsconfig",
        "fsmount",
        "fspick",
        "mount_setattr",
        "setns",
        "unshare",
        "kexec_load",
        "kexec_file_load",
        "reboot",
        "init_module",
        "finit_module",
        "delete_module",
        "bpf",
        "perf_event_open",
        "userfaultfd",
        "swapon",
        "swapoff",
        "acct",
        "quotactl",
        "keyctl",
        "add_key",
        "request_key",
        "open_by_handle_at",
        "name_to_handle_at",
        "syslog",
        "settimeofday",
        "clock_settime",
        "clock_adjtime",
        "adjtimex",
        "sethostname",
        "setdomainname",
        "vhangup",
        "io_uring_setup",
        "io_uring_enter",
        "io_uring_register",
        "fanotify_init",
        "move_pages",
        "migrate_pages",
        "mbind",
        "set_mempolicy",
        "seccomp",
        "mknodat",
        "setuid",
        "setresuid",
        "setgroups",
        "capset",
        "memfd_secret",
        "lookup_dcookie",
        "quotactl_fd",
    ];

    /// Only on x86_64, and as dangerous.
    const NEVER_X86_64: &[&str] = &["iopl", "ioperm", "modify_ldt", "uselib", "mknod", "_sysctl"];

    /// Allowed only with conditions on their arguments.
    const CONDITIONAL: &[&str] = &[
        "clone",
        "socket",
        "socketpair",
        "prctl",
        "personality",
        "ioctl",
    ];

    fn sources() -> [(&'static str, &'static str); 2] {
        [("worker", WORKER), ("build", BUILD)]
    }

    #[test]
    fn both_profiles_compile_for_x86_64_and_aarch64() {
        for arch in ARCHES {
            let filters = Filters::compile_for(arch).unwrap_or_else(|e| panic!("{arch}: {e}"));
            for profile in [SeccompProfile::Worker, SeccompProfile::Build] {
                let profile = filters.profile(profile);
                assert_eq!(profile.programs.len(), 2);
                assert!(profile.allows("read") && profile.allows("openat"));
                assert!(!profile.allows("clone3"), "clone3 is answered ENOSYS");
                assert!(profile.allowed_count() > 100, "{}", profile.allowed_count());
            }
            // x86_64's legacy calls are left out elsewhere, their *at forms are not.
            let worker = filters.profile(SeccompProfile::Worker);
            assert_eq!(worker.allows("open"), arch == "x86_64");
            assert!(worker.allows("unlinkat"));
        }
        // And for the architecture this runs on, as the spawner compiles them.
        Filters::compile().unwrap();
    }

    #[test]
    fn no_profile_allows_what_escapes_or_attacks_the_kernel() {
        for arch in ARCHES {
            let filters = Filters::compile_for(arch).unwrap();
            for (name, profile) in [
                ("worker", filters.profile(SeccompProfile::Worker)),
                ("build", filters.profile(SeccompProfile::Build)),
            ] {
                for syscall in NEVER.iter().chain(NEVER_X86_64) {
                    assert!(!profile.allows(syscall), "{name} allows {syscall}");
                }
            }
        }
    }

    #[test]
    fn powerful_calls_are_allowed_only_with_argument_conditions() {
        for (name, source) in sources() {
            let source: Value = serde_json::from_str(source).unwrap();
            for rule in source["allow"].as_array().unwrap() {
                let syscall = rule["syscall"].as_str().unwrap();
                if CONDITIONAL.contains(&syscall) {
                    let args = rule["args"].as_array();
                    assert!(
                        args.is_some_and(|a| !a.is_empty()),
                        "{name}: {syscall} without conditions"
                    );
                }
            }
        }
    }

    #[test]
    fn builds_do_not_serve_and_workers_may() {
        let filters = Filters::compile().unwrap();
        for call in ["listen", "accept4"] {
            assert!(filters.profile(SeccompProfile::Worker).allows(call));
            assert!(!filters.profile(SeccompProfile::Build).allows(call));
        }
    }

    #[test]
    fn a_rule_for_an_unknown_architecture_is_an_error() {
        let source = r#"{"enosys": [], "allow": [{"syscall": "read", "arch": "x86-64"}]}"#;
        let error = Profile::compile(source, "x86_64").err().unwrap();
        assert!(error.contains("x86-64"), "{error}");
    }

    /// A raw system call with integer arguments: its result or its errno.
    fn raw(nr: libc::c_long, args: [libc::c_long; 3]) -> Result<libc::c_long, i32> {
        // SAFETY: every call tested passes integers or null pointers, which the kernel checks.
        let result = unsafe { libc::syscall(nr, args[0], args[1], args[2]) };
        match result {
            -1 => Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0)),
            ok => Ok(ok),
        }
    }

    /// In a forked child (the filter stays there): the worker profile denies with EPERM,
    /// answers clone3 with ENOSYS, and lets ordinary calls and sockets through.
    #[test]
    fn the_worker_profile_denies_with_eperm_and_lets_ordinary_calls_through() {
        use libc::*;
        let filters = Filters::compile().unwrap();
        let profile = filters.profile(SeccompProfile::Worker);
        let checks = || -> Result<(), i32> {
            profile.apply().map_err(|_| 1)?;
            let denied = |nr, args, step| match raw(nr, args) {
                Err(EPERM) => Ok(()),
                _ => Err(step),
            };
            denied(SYS_unshare, [CLONE_NEWUSER as c_long, 0, 0], 2)?;
            denied(SYS_socket, [AF_PACKET as c_long, SOCK_RAW as c_long, 0], 3)?;
            denied(SYS_socket, [AF_INET as c_long, SOCK_RAW as c_long, 1], 4)?;
            denied(SYS_personality, [0x0040000, 0, 0], 5)?; // ADDR_NO_RANDOMIZE
            if raw(SYS_clone3, [0, 0, 0]) != Err(ENOSYS) {
                return Err(6);
            }
            let tcp = raw(
                SYS_socket,
                [AF_INET as c_long, (SOCK_STREAM | SOCK_CLOEXEC) as c_long, 0],
            );
            raw(SYS_close, [tcp.map_err(|_| 7)?, 0, 0]).map_err(|_| 8)?;
            raw(SYS_getppid, [0, 0, 0]).map_err(|_| 9)?;
            raw(SYS_personality, [0xffff_ffff, 0, 0]).map_err(|_| 10)?;
            Ok(())
        };
        // SAFETY: the child only makes system calls and _exits; it takes no lock another
        // thread of this test process might hold.
        let pid = unsafe { fork() };
        assert!(pid >= 0);
        if pid == 0 {
            let code = checks().err().unwrap_or(0);
            // SAFETY: ends the forked child without running the test harness's handlers.
            unsafe { _exit(code) }
        }
        let mut status = 0;
        // SAFETY: waits for the child forked above, with a valid out pointer.
        assert_eq!(unsafe { waitpid(pid, &mut status, 0) }, pid);
        assert!(WIFEXITED(status), "status {status}");
        assert_eq!(WEXITSTATUS(status), 0, "the check that failed");
    }
}
