//! Builds: dependencies installed into the code folder, in a sandbox with the network on, the
//! folder writable and the build's seccomp profile (`pip install -r requirements.txt
//! --target`, `npm install --omit=dev`), output streamed to the build log; then the handler is
//! loaded in a real worker, so a module that does not import (or lacks the function) fails the
//! build instead of the first request.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gust_core::{HandlerContract, RuntimeId};
use gust_sandbox::{CodeDir, Limits, SandboxSpec, SeccompProfile};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use crate::error::{ProcessError, ProcessResult};
use crate::protocol::{FunctionInfo, Load};
use crate::runtime::Shared;
use crate::runtimes::{Interpreter, base_env, worker_sandbox};
use crate::worker::Fresh;

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildSpec {
    pub runtime: RuntimeId,
    /// The unpacked code; dependencies are installed into it.
    pub code_dir: PathBuf,
    pub handler: String,
    /// How the handler is called; `appwrite` checks `entrypoint` and its `main` instead.
    pub contract: HandlerContract,
    /// The file the `appwrite` contract loads (its runtime's default when `None`).
    pub entrypoint: Option<String>,
    /// The function's environment, for the import check.
    pub env: Vec<(String, String)>,
}

/// What a successful build did.
#[derive(Debug, Clone, Default)]
pub struct BuildReport {
    /// The install steps that ran (`pip install`, `npm install`).
    pub steps: Vec<String>,
    pub import_us: u64,
    pub duration: Duration,
    /// The file an `appwrite` build loaded (the default filled in, `./` dropped).
    pub entrypoint: Option<String>,
}

/// Installs are generous: pip and npm spawn many processes and unpack into /tmp.
fn install_limits(config: &crate::ProcessConfig) -> Limits {
    Limits {
        memory_mb: 2048,
        cpu_millis: 0,
        pids: 512,
        tmp_mb: 1024,
        open_files: 4096,
        file_size_mb: 1024.max(config.file_size_mb),
    }
}

/// Registry settings passed into the install sandbox (its /etc and /root are not the host's).
const PASSED_ENV: [&str; 10] = [
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_TRUSTED_HOST",
    "PIP_DEFAULT_TIMEOUT",
    "npm_config_registry",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_PROXY",
    "https_proxy",
    "http_proxy",
];

pub(crate) async fn build(
    shared: &Shared,
    spec: &BuildSpec,
    log: &mut (dyn FnMut(&str) + Send),
) -> ProcessResult<BuildReport> {
    let started = Instant::now();
    let interpreter = shared
        .runtimes
        .interpreter(spec.runtime)
        .map_err(|reason| ProcessError::RuntimeUnavailable(spec.runtime.to_string(), reason))?;
    // Before the installs: a package without its entrypoint need not wait for them to fail.
    let entrypoint = appwrite_entrypoint(spec).inspect_err(|e| log(&format!("{e}\n")))?;
    let mut report = BuildReport::default();
    let owner = std::fs::metadata(&spec.code_dir)
        .map(|m| {
            use std::os::unix::fs::MetadataExt;
            (m.uid(), m.gid())
        })
        .map_err(|e| ProcessError::io(format!("reading {}", spec.code_dir.display()), e))?;
    // Installs run as the sandbox's user, who is lent the folder: whatever they do, it is
    // given back, and everything in it made readable to the workers.
    let installed = run_installs(shared, spec, interpreter, &mut report, log).await;
    let code_dir = spec.code_dir.clone();
    let given_back = tokio::task::spawn_blocking(move || give_back(&code_dir, owner))
        .await
        .map_err(|e| ProcessError::Build(format!("giving the code folder back failed: {e}")))?;
    installed?;
    given_back?;

    report.import_us = import_check(shared, spec, interpreter, entrypoint.as_deref())
        .await
        .inspect_err(|e| {
            log(&format!("{e}\n"));
        })?;
    match &entrypoint {
        None => log(&format!("handler {} loads\n", spec.handler)),
        Some(file) => log(&format!(
            "entrypoint {file} loads and defines its function\n"
        )),
    }
    report.duration = started.elapsed();
    report.entrypoint = entrypoint;
    Ok(report)
}

/// The file an `appwrite` build loads, checked to be in the package (`None` for `gust`).
fn appwrite_entrypoint(spec: &BuildSpec) -> ProcessResult<Option<String>> {
    if spec.contract != HandlerContract::Appwrite {
        return Ok(None);
    }
    let file = HandlerContract::appwrite_entrypoint(spec.runtime, spec.entrypoint.as_deref())
        .map_err(ProcessError::Build)?;
    if !spec.code_dir.join(&file).is_file() {
        return Err(ProcessError::Build(format!(
            "the entrypoint `{file}` is not a file in the package (name another with the \
             deployment's `entrypoint`)"
        )));
    }
    Ok(Some(file))
}

/// The dependency installs the code asks for (pip, npm), or the bootstrap check of a custom
/// runtime.
async fn run_installs(
    shared: &Shared,
    spec: &BuildSpec,
    interpreter: Option<&Interpreter>,
    report: &mut BuildReport,
    log: &mut (dyn FnMut(&str) + Send),
) -> ProcessResult<()> {
    match (spec.runtime, interpreter) {
        (RuntimeId::Python311, Some(python))
            if spec.code_dir.join("requirements.txt").is_file() =>
        {
            log("$ pip install -r requirements.txt --target .\n");
            let argv = vec![
                python.path.display().to_string(),
                "-I".into(),
                "-m".into(),
                "pip".into(),
                "install".into(),
                "-r".into(),
                "/code/requirements.txt".into(),
                "--target".into(),
                "/code".into(),
                "--no-cache-dir".into(),
                "--disable-pip-version-check".into(),
                "--no-input".into(),
                "--progress-bar".into(),
                "off".into(),
            ];
            install(shared, spec, python, argv, log).await?;
            report.steps.push("pip install".into());
            // Compiled once here, so no worker compiles at import (the code is read-only then).
            let argv = vec![
                python.path.display().to_string(),
                "-I".into(),
                "-m".into(),
                "compileall".into(),
                "-q".into(),
                "/code".into(),
            ];
            let _ = install(shared, spec, python, argv, &mut |_| {}).await;
        }
        (RuntimeId::Node20, Some(node)) if has_node_dependencies(&spec.code_dir) => {
            let npm = npm_cli(node).ok_or_else(|| {
                ProcessError::Build("package.json has dependencies but npm was not found".into())
            })?;
            log("$ npm install --omit=dev\n");
            let argv = vec![
                node.path.display().to_string(),
                npm.display().to_string(),
                "install".into(),
                "--omit=dev".into(),
                "--no-audit".into(),
                "--no-fund".into(),
                "--no-update-notifier".into(),
            ];
            install(shared, spec, node, argv, log).await?;
            report.steps.push("npm install".into());
        }
        (RuntimeId::Custom, _) => check_bootstrap(&spec.code_dir)?,
        _ => {}
    }
    Ok(())
}

/// Runs one install command in a sandbox (network on, /code writable, the build's seccomp
/// profile), streaming its output to `log`; fails with its exit status.
async fn install(
    shared: &Shared,
    spec: &BuildSpec,
    interpreter: &Interpreter,
    argv: Vec<String>,
    log: &mut (dyn FnMut(&str) + Send),
) -> ProcessResult<()> {
    let mut env = base_env(spec.runtime);
    env.push(("npm_config_cache".into(), "/tmp/.npm".into()));
    env.push((
        "PIP_CERT".into(),
        "/etc/ssl/certs/ca-certificates.crt".into(),
    ));
    for name in PASSED_ENV {
        if let Ok(value) = std::env::var(name) {
            env.push((name.into(), value));
        }
    }
    let sandbox_spec = SandboxSpec {
        argv,
        env,
        cwd: gust_sandbox::CODE_DIR.into(),
        code: Some(CodeDir {
            host_path: spec.code_dir.clone(),
            writable: true,
        }),
        runtime_paths: interpreter.mounts.clone(),
        network: true,
        limits: install_limits(&shared.config),
        profile: SeccompProfile::Build,
    };
    let mut sandbox = shared.spawner.spawn(&sandbox_spec).await?;
    let io = sandbox
        .take_io()
        .expect("fresh sandbox has its descriptors");
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    for fd in [io.stdout, io.stderr] {
        let tx = tx.clone();
        let mut pipe = tokio::net::unix::pipe::Receiver::from_owned_fd(fd)
            .map_err(|e| ProcessError::io("reading the install's output", e))?;
        tokio::spawn(async move {
            let mut buf = vec![0u8; 8192];
            while let Ok(n) = pipe.read(&mut buf).await {
                if n == 0
                    || tx
                        .send(String::from_utf8_lossy(&buf[..n]).into_owned())
                        .is_err()
                {
                    break;
                }
            }
        });
    }
    drop(tx);
    let deadline = tokio::time::sleep(shared.config.build_timeout);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            chunk = rx.recv() => match chunk {
                Some(text) => log(&text),
                None => break,
            },
            _ = &mut deadline => {
                sandbox.kill();
                return Err(ProcessError::Build(format!(
                    "the install did not finish within {:?}", shared.config.build_timeout
                )));
            }
        }
    }
    let exit = sandbox.wait().await;
    if exit.success() {
        Ok(())
    } else {
        Err(ProcessError::Build(format!("the install failed: {exit}")))
    }
}

/// Loads the handler in a real (sandboxed) worker and stops it. The worker's seccomp profile,
/// not the build's: code that imports only with a call workers may not make fails here.
async fn import_check(
    shared: &Shared,
    spec: &BuildSpec,
    interpreter: Option<&Interpreter>,
    entrypoint: Option<&str>,
) -> ProcessResult<u64> {
    let sandbox_spec = worker_sandbox(
        spec.runtime,
        interpreter,
        &spec.env,
        Some(&spec.code_dir),
        true,
        shared.config.limits(512, 0),
    );
    let timeout = shared.config.start_timeout;
    let mut fresh = Fresh::spawn(&shared.spawner, &sandbox_spec, timeout)
        .await
        .map_err(ProcessError::Build)?;
    let env: BTreeMap<&str, &str> = spec
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let load = Load {
        kind: "load",
        handler: &spec.handler,
        contract: spec.contract.as_str(),
        entrypoint,
        code_dir: &fresh.sandbox.code_path.clone(),
        env,
        function: FunctionInfo {
            name: "build",
            memory_mb: 512,
            timeout_ms: timeout.as_millis() as u64,
        },
        log_limit: shared.config.log_limit,
    };
    let result = fresh
        .load(&load, timeout)
        .await
        .map_err(ProcessError::Build);
    fresh.sandbox.kill();
    result
}

fn has_node_dependencies(code_dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(code_dir.join("package.json")) else {
        return false;
    };
    let manifest: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    manifest["dependencies"]
        .as_object()
        .is_some_and(|deps| !deps.is_empty())
}

/// npm's entry script, run with the real node (`/usr/bin/npm` is a script with a shebang).
fn npm_cli(node: &Interpreter) -> Option<PathBuf> {
    let prefix = node.path.parent()?.parent()?;
    [
        prefix.join("lib/node_modules/npm/bin/npm-cli.js"),
        PathBuf::from("/usr/lib/node_modules/npm/bin/npm-cli.js"),
        PathBuf::from("/usr/share/nodejs/npm/bin/npm-cli.js"),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

fn check_bootstrap(code_dir: &Path) -> ProcessResult<()> {
    use std::os::unix::fs::PermissionsExt;
    let path = code_dir.join("bootstrap");
    let meta = std::fs::metadata(&path).map_err(|_| {
        ProcessError::Build("a custom runtime needs an executable file named `bootstrap`".into())
    })?;
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        return Err(ProcessError::Build(
            "`bootstrap` is not an executable file".into(),
        ));
    }
    Ok(())
}

/// Gives `dir` and everything in it back to `owner`, and makes it readable to the sandbox
/// user, who is not the owner: folders a+rx, files a+r (keeping their x bits for everyone)
/// and never setuid or setgid, which would make the install's files run as the server's
/// user on the host. One walk for both.
fn give_back(dir: &Path, (uid, gid): (u32, u32)) -> ProcessResult<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    walk(dir, &mut |path, meta| {
        if meta.uid() != uid || meta.gid() != gid {
            std::os::unix::fs::lchown(path, Some(uid), Some(gid))
                .map_err(|e| ProcessError::io(format!("giving back {}", path.display()), e))?;
        }
        if meta.file_type().is_symlink() {
            return Ok(()); // chmod would follow it
        }
        let mode = meta.permissions().mode();
        let wanted = if meta.is_dir() {
            mode | 0o555
        } else if mode & 0o100 != 0 {
            (mode | 0o555) & !0o6000
        } else {
            (mode | 0o444) & !0o6000
        };
        if wanted == mode {
            return Ok(());
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(wanted))
            .map_err(|e| ProcessError::io(format!("making {} readable", path.display()), e))
    })
}

/// Calls `visit` on `dir` and everything below it; symlinks are visited, never followed.
fn walk(
    dir: &Path,
    visit: &mut dyn FnMut(&Path, &std::fs::Metadata) -> ProcessResult<()>,
) -> ProcessResult<()> {
    let meta = std::fs::symlink_metadata(dir)
        .map_err(|e| ProcessError::io(format!("reading {}", dir.display()), e))?;
    visit(dir, &meta)?;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        let entries = std::fs::read_dir(&folder)
            .map_err(|e| ProcessError::io(format!("reading {}", folder.display()), e))?;
        for entry in entries.flatten() {
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            visit(&entry.path(), &meta)?;
            if meta.is_dir() {
                stack.push(entry.path());
            }
        }
    }
    Ok(())
}
