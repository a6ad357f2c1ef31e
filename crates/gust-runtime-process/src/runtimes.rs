//! The runtimes: finding each real interpreter at start (never a shell shim: pyenv's costs
//! ~100 ms per start), its version and what of the host a sandbox must see to run it; and how
//! a worker of each runtime is started.

use std::path::{Path, PathBuf};
use std::process::Command;

use gust_core::{RuntimeId, RuntimeInfo};

use crate::config::ProcessConfig;

const PYTHON_BOOTSTRAP: &str = include_str!("bootstrap/python.py");
const NODE_BOOTSTRAP: &str = include_str!("bootstrap/node.js");

/// A real interpreter binary and the host paths its sandbox needs besides the system's.
#[derive(Debug, Clone)]
pub struct Interpreter {
    pub path: PathBuf,
    pub version: String,
    /// Its install folder when outside `/usr` (e.g. `/root/.pyenv/versions/3.11.7`): bound
    /// read-only alone, never its parents.
    pub mounts: Vec<PathBuf>,
}

/// What was found at start.
#[derive(Debug, Clone)]
pub struct Runtimes {
    pub python: Result<Interpreter, String>,
    pub node: Result<Interpreter, String>,
}

impl Runtimes {
    pub fn detect(config: &ProcessConfig) -> Runtimes {
        Runtimes {
            python: find_python(config.python.as_deref()),
            node: find_node(config.node.as_deref()),
        }
    }

    pub fn interpreter(&self, runtime: RuntimeId) -> Result<Option<&Interpreter>, String> {
        match runtime {
            RuntimeId::Python311 => self.python.as_ref().map(Some).map_err(Clone::clone),
            RuntimeId::Node20 => self.node.as_ref().map(Some).map_err(Clone::clone),
            RuntimeId::Custom => Ok(None),
            RuntimeId::Wasm => Err("wasm is not a process runtime".into()),
        }
    }

    /// `GET /api/v1/runtimes` rows for the process runtimes; `sandbox` is why none can run
    /// when the sandbox spawner did not start.
    pub fn infos(&self, sandbox: Option<&str>) -> Vec<RuntimeInfo> {
        let row = |id: RuntimeId, name: &str, found: Result<String, String>| {
            let found = match sandbox {
                Some(reason) => Err(format!("the sandbox is unavailable: {reason}")),
                None => found,
            };
            RuntimeInfo {
                id,
                name: name.into(),
                available: found.is_ok(),
                version: found.as_ref().cloned().unwrap_or_default(),
                reason: found.err(),
            }
        };
        vec![
            row(
                RuntimeId::Python311,
                "Python 3.11",
                self.python
                    .as_ref()
                    .map(|i| i.version.clone())
                    .map_err(Clone::clone),
            ),
            row(
                RuntimeId::Node20,
                "Node.js 20",
                self.node
                    .as_ref()
                    .map(|i| i.version.clone())
                    .map_err(Clone::clone),
            ),
            row(
                RuntimeId::Custom,
                "Custom (worker protocol)",
                Ok(format!("protocol {}", crate::protocol::PROTOCOL_VERSION)),
            ),
        ]
    }
}

/// argv of a worker: the interpreter with the embedded bootstrap, or the custom `bootstrap`.
fn worker_argv(runtime: RuntimeId, interpreter: Option<&Interpreter>) -> Vec<String> {
    match (runtime, interpreter) {
        // -I: ignore PYTHON* variables and the user site; -S: skip `site` (~5 ms).
        (RuntimeId::Python311, Some(i)) => vec![
            i.path.display().to_string(),
            "-I".into(),
            "-S".into(),
            "-c".into(),
            PYTHON_BOOTSTRAP.into(),
        ],
        (RuntimeId::Node20, Some(i)) => vec![
            i.path.display().to_string(),
            "-e".into(),
            NODE_BOOTSTRAP.into(),
        ],
        _ => vec![format!("{}/bootstrap", gust_sandbox::CODE_DIR)],
    }
}

/// The sandbox of a worker for `runtime`: its argv, the base environment then `env`, the
/// interpreter's files, and `code` read-only at `/code` (stem cells start without, and get
/// theirs attached later).
pub fn worker_sandbox(
    runtime: RuntimeId,
    interpreter: Option<&Interpreter>,
    env: &[(String, String)],
    code: Option<&Path>,
    network: bool,
    limits: gust_sandbox::Limits,
) -> gust_sandbox::SandboxSpec {
    let mut all_env = base_env(runtime);
    all_env.extend(env.iter().cloned());
    gust_sandbox::SandboxSpec {
        argv: worker_argv(runtime, interpreter),
        env: all_env,
        cwd: if code.is_some() {
            gust_sandbox::CODE_DIR.into()
        } else {
            "/tmp".into()
        },
        code: code.map(|dir| gust_sandbox::CodeDir {
            host_path: dir.to_path_buf(),
            writable: false,
        }),
        runtime_paths: interpreter.map(|i| i.mounts.clone()).unwrap_or_default(),
        network,
        limits,
        profile: gust_sandbox::SeccompProfile::Worker,
    }
}

/// The environment every worker starts with (the function's own comes with `load`).
pub fn base_env(runtime: RuntimeId) -> Vec<(String, String)> {
    vec![
        ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
        ("HOME".into(), "/tmp".into()),
        ("TMPDIR".into(), "/tmp".into()),
        ("LANG".into(), "C.UTF-8".into()),
        ("GUST_RUNTIME".into(), runtime.as_str().into()),
    ]
}

fn find_python(configured: Option<&Path>) -> Result<Interpreter, String> {
    let mut candidates: Vec<PathBuf> = configured.into_iter().map(Path::to_path_buf).collect();
    let pyenv_root = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".pyenv")))
        .unwrap_or_else(|| PathBuf::from("/root/.pyenv"));
    let mut versions: Vec<PathBuf> = std::fs::read_dir(pyenv_root.join("versions"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("3.11"))
        })
        .collect();
    versions.sort();
    candidates.extend(versions.into_iter().rev().map(|v| v.join("bin/python3.11")));
    candidates.extend(["/usr/local/bin/python3.11", "/usr/bin/python3.11"].map(PathBuf::from));
    candidates.extend(on_path("python3.11"));

    let probe =
        "import sys; print(sys.version.split()[0]); print(sys.executable); print(sys.base_prefix)";
    let mut last_error = "no python3.11 found (set GUST_PYTHON311)".to_string();
    for candidate in candidates.into_iter().filter(|c| c.exists()) {
        // A shim (pyenv's is a bash script) is run once here, to learn the real binary.
        let output = match run(&candidate, &["-I", "-S", "-c", probe]) {
            Ok(output) => output,
            Err(e) => {
                last_error = format!("{}: {e}", candidate.display());
                continue;
            }
        };
        let mut lines = output.lines();
        let (Some(version), Some(executable), Some(prefix)) =
            (lines.next(), lines.next(), lines.next())
        else {
            continue;
        };
        if !version.starts_with("3.11.") {
            last_error = format!("{} is Python {version}, not 3.11", candidate.display());
            continue;
        }
        let path = std::fs::canonicalize(executable).unwrap_or_else(|_| executable.into());
        return Ok(Interpreter {
            mounts: install_mounts(Path::new(prefix)),
            path,
            version: version.to_string(),
        });
    }
    Err(last_error)
}

fn find_node(configured: Option<&Path>) -> Result<Interpreter, String> {
    let mut candidates: Vec<PathBuf> = configured.into_iter().map(Path::to_path_buf).collect();
    candidates.extend(["/usr/bin/node", "/usr/local/bin/node"].map(PathBuf::from));
    candidates.extend(on_path("node"));
    let mut last_error = "no node found (set GUST_NODE20)".to_string();
    for candidate in candidates.into_iter().filter(|c| c.exists()) {
        let path = std::fs::canonicalize(&candidate).unwrap_or(candidate);
        let version = match run(&path, &["--version"]) {
            Ok(v) => v.trim().trim_start_matches('v').to_string(),
            Err(e) => {
                last_error = format!("{}: {e}", path.display());
                continue;
            }
        };
        if !version.starts_with("20.") {
            last_error = format!("{} is Node.js {version}, not 20", path.display());
            continue;
        }
        let prefix = path
            .parent()
            .and_then(Path::parent)
            .unwrap_or(Path::new("/usr"));
        return Ok(Interpreter {
            mounts: install_mounts(prefix),
            path,
            version,
        });
    }
    Err(last_error)
}

/// The install folder, unless the system paths every sandbox sees already hold it.
fn install_mounts(prefix: &Path) -> Vec<PathBuf> {
    let covered = gust_sandbox::system_paths()
        .iter()
        .any(|system| prefix.starts_with(system));
    if covered {
        Vec::new()
    } else {
        vec![prefix.to_path_buf()]
    }
}

fn on_path(name: &str) -> Vec<PathBuf> {
    std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|dir| dir.join(name))
                .collect()
        })
        .unwrap_or_default()
}

fn run(program: &Path, args: &[&str]) -> Result<String, String> {
    let output = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(format!("{}", output.status));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installs_under_usr_need_no_extra_mount() {
        assert!(install_mounts(Path::new("/usr")).is_empty());
        assert_eq!(
            install_mounts(Path::new("/root/.pyenv/versions/3.11.7")),
            vec![PathBuf::from("/root/.pyenv/versions/3.11.7")]
        );
    }
}
