//! gust-sandbox's integration tests: real spawner, real sandboxes, shell commands inside.

mod attach;
mod spawn;

use std::path::Path;

use gust_sandbox::{Limits, SandboxSpec, SeccompProfile, Spawner, SpawnerCommand, SpawnerConfig};

/// This test binary is also its own sandbox spawner, as `gust` is the server's. The spawner
/// must be single-threaded and libtest runs each test on a thread of its own, so spawner mode
/// starts from a constructor, before libtest's `main`.
#[allow(unsafe_code)] // link_section: a function pointer in .init_array, called once by libc.
#[used]
#[unsafe(link_section = ".init_array")]
static RUN_AS_SPAWNER: extern "C" fn() = {
    extern "C" fn run_as_spawner() {
        gust_sandbox::run_spawner_if_requested();
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

pub async fn spawner(state: &Path) -> Spawner {
    // A state folder only root may cross, as under /root or a data dir made 0700: each
    // sandbox still reaches its staging folder inside it.
    std::fs::set_permissions(state, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let config = SpawnerConfig {
        state_dir: state.to_path_buf(),
        ..SpawnerConfig::default()
    };
    Spawner::start(&spawner_command(), &config)
        .await
        .expect("spawner starts")
}

pub fn shell(script: &str) -> SandboxSpec {
    SandboxSpec {
        argv: vec!["/bin/sh".into(), "-c".into(), script.into()],
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        cwd: "/tmp".into(),
        code: None,
        runtime_paths: vec![],
        network: true,
        limits: Limits::default(),
        profile: SeccompProfile::Worker,
    }
}

/// Runs `spec` to its end; returns (stdout, stderr, exit).
pub async fn run(
    spawner: &Spawner,
    spec: &SandboxSpec,
) -> (String, String, gust_sandbox::ExitInfo) {
    use tokio::io::AsyncReadExt;
    let mut sandbox = spawner.spawn(spec).await.expect("spawn");
    let io = sandbox.take_io().unwrap();
    let read = |fd: std::os::fd::OwnedFd| async move {
        let mut pipe = tokio::net::unix::pipe::Receiver::from_owned_fd(fd).unwrap();
        let mut out = Vec::new();
        let _ = pipe.read_to_end(&mut out).await;
        String::from_utf8_lossy(&out).into_owned()
    };
    let (stdout, stderr) = tokio::join!(read(io.stdout), read(io.stderr));
    let exit = tokio::time::timeout(std::time::Duration::from_secs(20), sandbox.wait())
        .await
        .expect("sandbox ends");
    (stdout, stderr, exit)
}
