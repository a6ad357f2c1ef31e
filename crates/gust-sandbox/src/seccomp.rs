//! The seccomp filter of sandboxed processes, kept as data in `seccomp/worker.json`
//! (firecracker's format, compiled by `seccompiler`): one deny-list with EPERM, plus `clone3`
//! answered with ENOSYS so libc falls back to `clone`, whose namespace flags the filter can
//! read. Compiled once when the spawner starts; installed in each sandbox right before exec.

use seccompiler::{BpfProgram, TargetArch};

use crate::error::{SandboxError, SandboxResult};

const FILTERS: &str = include_str!("../seccomp/worker.json");

/// The compiled programs, in the order they are installed.
pub struct Filters {
    programs: Vec<BpfProgram>,
    denied: usize,
}

impl Filters {
    pub fn compile() -> SandboxResult<Filters> {
        let arch = TargetArch::try_from(std::env::consts::ARCH)
            .map_err(|e| SandboxError::Seccomp(format!("{e:?}")))?;
        let mut map = seccompiler::compile_from_json(FILTERS.as_bytes(), arch)
            .map_err(|e| SandboxError::Seccomp(e.to_string()))?;
        let mut programs = Vec::new();
        for name in ["worker", "worker_enosys"] {
            let program = map
                .remove(name)
                .ok_or_else(|| SandboxError::Seccomp(format!("filter `{name}` is missing")))?;
            programs.push(program);
        }
        let denied = FILTERS.matches("\"syscall\"").count();
        Ok(Filters { programs, denied })
    }

    /// Installs every program in the calling thread; sets no_new_privs first (seccompiler
    /// does), which an unprivileged process needs to load a filter at all.
    pub fn apply(&self) -> std::io::Result<()> {
        for program in &self.programs {
            seccompiler::apply_filter(program).map_err(|e| std::io::Error::other(e.to_string()))?;
        }
        Ok(())
    }

    /// Rules in the filter (a syscall with argument conditions counts once per condition).
    pub fn denied_count(&self) -> usize {
        self.denied
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_compiles_for_this_architecture() {
        let filters = Filters::compile().unwrap();
        assert_eq!(filters.programs.len(), 2);
        assert!(filters.denied_count() > 40);
    }

    #[test]
    fn the_filter_names_what_functions_never_need() {
        for syscall in [
            "ptrace",
            "mount",
            "bpf",
            "kexec_load",
            "init_module",
            "unshare",
            "setns",
        ] {
            assert!(
                FILTERS.contains(&format!("\"syscall\": \"{syscall}\"")),
                "{syscall} is not denied"
            );
        }
    }
}
