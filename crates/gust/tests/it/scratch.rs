//! The harness leaves nothing behind when the tests are stopped: Ctrl-C (SIGINT) stops each
//! server it started, with SIGTERM so the server cleans up its sandboxes, and removes their
//! data dirs.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::TestServer;

/// Set for the child run of [`holds_a_server_until_stopped`] only.
const PROBE: &str = "GUST_SCRATCH_PROBE";

/// A no-op in a normal run; as the child of the test below, starts a server, says where, and
/// waits to be stopped.
#[test]
fn holds_a_server_until_stopped() {
    if std::env::var_os(PROBE).is_none() {
        return;
    }
    let server = TestServer::start();
    println!("server {} {}", server.pid(), server.data_dir.display());
    std::thread::sleep(Duration::from_secs(60));
}

fn gone(pid: u32) -> bool {
    !gust_test_tools::scratch::is_running(pid)
}

#[test]
fn ctrl_c_stops_the_servers_and_removes_their_data_dirs() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "scratch::holds_a_server_until_stopped",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(PROBE, "1")
        .env("TMPDIR", tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (pid, data_dir) = loop {
        let line = lines
            .next()
            .expect("the child ended before its server started")
            .unwrap();
        // After libtest's own `test … ... ` on the same line.
        if let Some((_, rest)) = line.split_once("server ") {
            let (pid, dir) = rest.split_once(' ').unwrap();
            break (pid.parse::<u32>().unwrap(), PathBuf::from(dir));
        }
    };
    assert!(data_dir.join("gust.db").exists());
    assert!(data_dir.starts_with(tmp.path()), "{}", data_dir.display());
    assert!(!gone(pid));

    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the child did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    // It ended as SIGINT asks (128 + 2), having cleaned up first.
    assert_eq!(status.code(), Some(130), "{status:?}");
    assert!(!data_dir.exists(), "{} is left", data_dir.display());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gone(pid) {
        assert!(Instant::now() < deadline, "gust serve {pid} still runs");
        std::thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}
