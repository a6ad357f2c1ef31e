//! gust-runtime-process's integration tests: real spawner, real sandboxes, real interpreters.
//! One module per area; `sandbox` holds the escape attempts.

mod appwrite;
mod functions;
mod scaling;
mod workers;

use std::path::Path;
use std::time::Duration;

use gust_core::RuntimeId;
use gust_runtime_process::{
    BuildSpec, FunctionPool, PoolSpec, ProcessConfig, ProcessResponse, ProcessRuntime, Request,
    SpawnerCommand,
};
use tempfile::TempDir;

/// This test binary is also its own sandbox spawner, as `gust` is the server's. The spawner
/// must be single-threaded and libtest runs each test on a thread of its own, so spawner mode
/// starts from a constructor, before libtest's `main`.
#[allow(unsafe_code)] // link_section: a function pointer in .init_array, called once by libc.
#[used]
#[unsafe(link_section = ".init_array")]
static RUN_AS_SPAWNER: extern "C" fn() = {
    extern "C" fn run_as_spawner() {
        gust_runtime_process::run_spawner_if_requested();
    }
    run_as_spawner
};

/// This executable, re-run as the spawner. Should spawner mode ever fail to take over, the
/// `--list` makes libtest only list the tests, not run them all again in each spawner.
fn spawner_command() -> SpawnerCommand {
    SpawnerCommand {
        program: std::env::current_exe().expect("this test executable's path"),
        args: vec!["--list".into()],
    }
}

/// A runtime with its own data dir; `tweak` adjusts the config first.
pub struct Env {
    pub runtime: ProcessRuntime,
    pub data: TempDir,
}

pub async fn env_with(tweak: impl FnOnce(&mut ProcessConfig)) -> Env {
    let data = tempfile::tempdir().unwrap();
    let mut config = ProcessConfig::new(data.path());
    config.spawner = Some(spawner_command());
    // Most tests do not need stem cells; the ones about cold starts turn them on.
    config.stem_cells = 0;
    config.queue_wait = Duration::from_secs(20);
    tweak(&mut config);
    let runtime = ProcessRuntime::start(config)
        .await
        .expect("the runtime starts");
    Env { runtime, data }
}

pub async fn env() -> Env {
    env_with(|_| {}).await
}

/// A code folder holding `files`, readable by the sandbox's user.
pub fn code(files: &[(&str, &str)]) -> TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in files {
        let path = dir.path().join(name);
        if let Some(folder) = path.parent().filter(|p| !p.exists()) {
            std::fs::create_dir_all(folder).unwrap();
            std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::write(&path, content).unwrap();
        let mode = if *name == "bootstrap" { 0o755 } else { 0o644 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

pub fn spec(runtime: RuntimeId, code_dir: &Path) -> PoolSpec {
    PoolSpec {
        function_id: "fn-test".into(),
        function_name: "test-fn".into(),
        deployment_id: "dep-test".into(),
        runtime,
        code_dir: code_dir.to_path_buf(),
        handler: "main.handle".into(),
        contract: gust_core::HandlerContract::Gust,
        entrypoint: None,
        env: vec![("GREETING".into(), "hi".into())],
        memory_mb: 256,
        cpu_millis: 0,
        timeout: Duration::from_secs(10),
        min_scale: 0,
        max_scale: 2,
        concurrency: 1,
        network: true,
        args: None,
    }
}

/// Builds `code_dir`, returning the build log or the error with it.
pub async fn build(env: &Env, runtime: RuntimeId, code_dir: &Path) -> Result<String, String> {
    build_spec(
        env,
        BuildSpec {
            runtime,
            code_dir: code_dir.to_path_buf(),
            handler: "main.handle".into(),
            contract: gust_core::HandlerContract::Gust,
            entrypoint: None,
            env: vec![],
        },
    )
    .await
}

/// Builds as `spec` says, returning the build log or the error with it.
pub async fn build_spec(env: &Env, spec: BuildSpec) -> Result<String, String> {
    let mut log = String::new();
    let result = env
        .runtime
        .build(&spec, &mut |line| log.push_str(line))
        .await;
    match result {
        Ok(_) => Ok(log),
        Err(e) => Err(format!("{e}\n--- log ---\n{log}")),
    }
}

pub fn get(path: &str) -> Request {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::ACCEPT, http::HeaderValue::from_static("*/*"));
    Request {
        method: http::Method::GET,
        path: path.into(),
        query: query.into(),
        headers,
        execution_id: "exec-1".into(),
        ..Request::default()
    }
}

/// Invokes with a bound on the whole call: a hang fails the test instead of stalling it.
pub async fn call(pool: &FunctionPool, request: Request) -> ProcessResponse {
    tokio::time::timeout(Duration::from_secs(60), pool.invoke(request))
        .await
        .expect("the invocation finished in time")
        .expect("the invocation ran")
}

pub fn body(response: &ProcessResponse) -> String {
    String::from_utf8_lossy(&response.body).into_owned()
}

pub fn json(response: &ProcessResponse) -> serde_json::Value {
    serde_json::from_slice(&response.body).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {} / logs {:?}",
            body(response),
            response.logs
        )
    })
}

/// Polls `check` every 20 ms for up to `limit`.
pub async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check()
}
