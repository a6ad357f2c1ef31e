//! The test environment: a real `gust serve` process on 127.0.0.1:0 with a fresh data dir, a
//! client pointed at it, and guest components built from the repo's own sources.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use gust_client::Client;
use gust_core::{Deployment, DeploymentStatus, Execution, FunctionSpec};

pub struct TestServer {
    child: Option<Child>,
    pub url: String,
    pub token: String,
    pub data_dir: PathBuf,
    /// Lines the server printed on stdout before `listening on`.
    pub banner: Vec<String>,
    /// The plain HTTP address served beside HTTPS (`--plain-listen`), when there is one.
    pub plain_url: Option<String>,
    _temp: Option<gust_test_tools::ScratchDir>,
}

impl TestServer {
    /// A server on a fresh data dir.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Self {
        Self::start_with_env(extra, &[])
    }

    /// A server on a fresh data dir with extra `GUST_*` settings.
    pub fn start_with_env(extra: &[&str], env: &[(&str, &str)]) -> Self {
        // 0700, as a data dir under /root is: sandboxes must not need to cross it by path.
        // Removed even when the tests are stopped with Ctrl-C.
        let temp = gust_test_tools::ScratchDir::new("gust-test").expect("temp dir");
        let mut server = Self::start_in_env(temp.path(), extra, env);
        server._temp = Some(temp);
        server
    }

    /// A server on `data_dir` (which may hold an earlier server's state).
    pub fn start_in(data_dir: &Path, extra: &[&str]) -> Self {
        Self::start_in_env(data_dir, extra, &[])
    }

    pub fn start_in_env(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        // The server's log stays with its data dir, for reading when a test fails.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data_dir.join("serve.log"));
        let stderr = match log {
            Ok(file) => Stdio::from(file),
            Err(_) => Stdio::null(),
        };
        // Run from the data dir's parent and name it relatively, as `gust serve` is usually
        // run (the default is `./gust-data`), so relative paths are what the tests exercise.
        let (workdir, relative) = match (data_dir.parent(), data_dir.file_name()) {
            (Some(parent), Some(name)) => (parent.to_path_buf(), PathBuf::from(".").join(name)),
            _ => (PathBuf::from("."), data_dir.to_path_buf()),
        };
        let mut child = Command::new(gust_bin())
            .current_dir(workdir)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(relative)
            .args(extra)
            .env("GUST_LOG", "info")
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawning gust serve");
        gust_test_tools::scratch::watch_process(child.id());
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut banner = Vec::new();
        let url = loop {
            let line = lines
                .next()
                .expect("gust serve exited before listening")
                .expect("reading stdout");
            if let Some(url) = line.strip_prefix("listening on ") {
                break url.to_string();
            }
            banner.push(line);
        };
        let plain_url = if extra.contains(&"--plain-listen") {
            lines
                .next()
                .and_then(|line| line.ok())
                .and_then(|line| line.strip_prefix("listening on ").map(String::from))
        } else {
            None
        };
        let token = std::fs::read_to_string(data_dir.join("admin-token"))
            .expect("admin-token")
            .trim()
            .to_string();
        Self {
            child: Some(child),
            url,
            token,
            data_dir: data_dir.to_path_buf(),
            banner,
            plain_url,
            _temp: None,
        }
    }

    /// A sample of `/metrics` without labels (`gust_wasm_instances`, …); panics if absent.
    pub async fn metric(&self, name: &str) -> f64 {
        let text = self
            .http()
            .get(format!("{}/metrics", self.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {name} in /metrics"))
            .trim()
            .parse()
            .unwrap()
    }

    pub fn client(&self) -> Client {
        Client::new(&self.url, Some(self.token.clone()))
    }

    /// SIGTERM, then wait for a clean exit; returns the exit code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        gust_test_tools::scratch::unwatch_process(child.id());
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        for _ in 0..200 {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// The server process's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the server is running").id()
    }

    /// SIGKILL: the server gets no chance to finish anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            gust_test_tools::scratch::unwatch_process(child.id());
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Create a Wasm function and deploy `code` to it, waiting for the build.
    pub async fn deploy(
        &self,
        name: &str,
        spec: FunctionSpec,
        code: &[u8],
        content_type: &str,
    ) -> Deployment {
        self.deploy_as(name, "wasm", spec, code.to_vec(), content_type)
            .await
    }

    /// Create a function on `runtime` and deploy a package (`.tar.gz` bytes) to it, waiting
    /// for the build.
    pub async fn deploy_package(
        &self,
        name: &str,
        runtime: &str,
        spec: FunctionSpec,
        package: Vec<u8>,
    ) -> Deployment {
        self.deploy_as(name, runtime, spec, package, "application/gzip")
            .await
    }

    async fn deploy_as(
        &self,
        name: &str,
        runtime: &str,
        spec: FunctionSpec,
        code: Vec<u8>,
        content_type: &str,
    ) -> Deployment {
        let client = self.client();
        let spec = FunctionSpec {
            name: Some(name.into()),
            runtime: Some(runtime.into()),
            ..spec
        };
        client
            .create_function("default", &spec)
            .await
            .expect("create function");
        let deployment = client
            .create_deployment("default", name, code, content_type, false)
            .await
            .expect("upload");
        client
            .wait_for_build("default", name, &deployment.id, Duration::from_secs(300))
            .await
            .expect("build")
    }

    /// Deploy a folder of `tests/functions` and require the build to succeed.
    pub async fn deploy_folder(
        &self,
        name: &str,
        runtime: &str,
        spec: FunctionSpec,
        folder: &str,
    ) -> Deployment {
        let d = self
            .deploy_package(name, runtime, spec, package(folder))
            .await;
        assert_eq!(
            d.status,
            DeploymentStatus::Ready,
            "build of {folder} failed: {}",
            d.build_log
        );
        d
    }

    /// Deploy and require the build to succeed.
    pub async fn deploy_ready(&self, name: &str, spec: FunctionSpec, code: &[u8]) -> Deployment {
        let d = self.deploy(name, spec, code, "application/wasm").await;
        assert_eq!(
            d.status,
            DeploymentStatus::Ready,
            "build failed: {}",
            d.build_log
        );
        d
    }

    pub fn http(&self) -> reqwest::Client {
        reqwest::Client::new()
    }

    /// A client that hangs up after `patience`.
    pub fn impatient(&self, patience: Duration) -> reqwest::Client {
        reqwest::Client::builder()
            .timeout(patience)
            .build()
            .unwrap()
    }

    /// The newest execution of `function`, once there is one (within 10 s).
    pub async fn first_execution(&self, function: &str) -> Execution {
        let client = self.client();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let page = client
                .list_executions("default", function, &[])
                .await
                .unwrap();
            if let Some(execution) = page.items.into_iter().next() {
                return execution;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no execution of {function} was recorded"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Submits `count` async invocations of `function`, each answered 202.
    pub async fn submit_async(&self, function: &str, count: usize) {
        let http = self.http();
        let url = format!("{}/fn/default/{function}/", self.url);
        for _ in 0..count {
            let response = http
                .post(&url)
                .bearer_auth(&self.token)
                .header("x-gust-async", "true")
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            gust_test_tools::scratch::unwatch_process(child.id());
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Run the `gust` CLI against `server`, with `home` as its home (where `gust login` writes).
pub fn cli(server: &TestServer, home: &Path, args: &[&str]) -> std::process::Output {
    Command::new(gust_bin())
        .args(args)
        .env("GUST_URL", &server.url)
        .env("GUST_TOKEN", &server.token)
        .env("HOME", home)
        .env_remove("XDG_CONFIG_HOME")
        .env("NO_COLOR", "1")
        .output()
        .expect("running gust")
}

/// The stdout of a CLI run that must succeed.
/// Run a script that drives an official client against the server; it must exit 0 having
/// printed `passed`.
pub fn run_client_script(mut command: std::process::Command, what: &str) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("running {what}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains("passed"), "{what}: {stdout}\n{stderr}");
}

pub fn cli_stdout(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "gust failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn gust_bin() -> &'static str {
    env!("CARGO_BIN_EXE_gust")
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Build the guest components (once per test process; cargo's own lock serialises processes).
fn build_guests() -> &'static PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let root = workspace_root();
        let target_dir = root.join("target").join("guests");
        for manifest in ["tests/guests/Cargo.toml", "examples/hello-wasm/Cargo.toml"] {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = Command::new(cargo)
                .args(["build", "--quiet", "--release", "--target", "wasm32-wasip2", "--manifest-path"])
                .arg(root.join(manifest))
                .arg("--target-dir")
                .arg(&target_dir)
                .status()
                .expect("running cargo to build guest components");
            assert!(status.success(), "building {manifest} for wasm32-wasip2 failed (is the target installed? `rustup target add wasm32-wasip2`)");
        }
        target_dir.join("wasm32-wasip2").join("release")
    })
}

/// The test guest: echo, env, log, loop, alloc, status, stream, panic (see tests/guests).
pub fn test_guest() -> Vec<u8> {
    std::fs::read(build_guests().join("gust_test_guest.wasm")).expect("test guest")
}

/// A wasi:cli command component: valid, but not a wasi:http proxy.
pub fn command_guest() -> Vec<u8> {
    std::fs::read(build_guests().join("not_a_proxy.wasm")).expect("command guest")
}

/// The hello example from the README.
pub fn hello_guest() -> Vec<u8> {
    std::fs::read(build_guests().join("hello_wasm.wasm")).expect("hello guest")
}

/// A folder of `tests/functions` packed as `.tar.gz`, file modes kept (a custom runtime's
/// `bootstrap` must stay executable).
pub fn package(folder: &str) -> Vec<u8> {
    let dir = workspace_root().join("tests/functions").join(folder);
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    tar.append_dir_all(".", &dir)
        .unwrap_or_else(|e| panic!("packing {}: {e}", dir.display()));
    tar.into_inner().unwrap().finish().unwrap()
}

/// A `.tar.gz` holding the given (path, bytes) entries. Paths are written raw into the header,
/// so tests can build archives a well-behaved packer would refuse to make.
pub fn tar_gz(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut tar = Vec::new();
    for (path, data) in entries {
        let mut header = tar::Header::new_old();
        {
            let name = &mut header.as_old_mut().name;
            name[..path.len()].copy_from_slice(path.as_bytes());
        }
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        tar.extend_from_slice(header.as_bytes());
        tar.extend_from_slice(data);
        tar.resize(tar.len().div_ceil(512) * 512, 0);
    }
    tar.resize(tar.len() + 1024, 0);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    gz.finish().unwrap()
}

/// A `.zip` holding the given (path, bytes) entries.
pub fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (path, data) in entries {
        out.start_file(*path, zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut out, data).unwrap();
    }
    out.finish().unwrap().into_inner()
}

/// Names for specs in tests.
pub fn spec() -> FunctionSpec {
    FunctionSpec::default()
}
