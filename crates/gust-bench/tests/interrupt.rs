//! An interrupted bench leaves nothing behind: Ctrl-C (SIGINT) mid-run stops the servers it
//! started and removes its scratch dir.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The processes whose parent is `pid`.
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/stat"))
                .ok()
                .and_then(|stat| {
                    let rest = stat.rsplit_once(')')?.1.to_string();
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(pid)
        })
        .collect()
}

fn gone(pid: u32) -> bool {
    !gust_test_tools::scratch::is_running(pid)
}

#[test]
fn ctrl_c_mid_run_removes_the_scratch_dir_and_stops_the_servers() {
    let tmp = tempfile::tempdir().unwrap();
    // The baseline against itself: no gust binary needed, a server and a load all the same.
    let mut bench = Command::new(env!("CARGO_BIN_EXE_gust-bench"))
        .args([
            "--only-raw",
            "--connections",
            "1",
            "--warmup",
            "0s",
            "--duration",
            "60s",
        ])
        .env("TMPDIR", tmp.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Running: its scratch dir exists and its server has started.
    let deadline = Instant::now() + Duration::from_secs(30);
    let servers = loop {
        let servers = children(bench.id());
        let dirs = std::fs::read_dir(tmp.path()).unwrap().count();
        if dirs == 1 && !servers.is_empty() {
            break servers;
        }
        assert!(Instant::now() < deadline, "the bench did not start");
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(500));

    let interrupted = Command::new("kill")
        .args(["-INT", &bench.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = bench.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the bench did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(130), "{status:?}");
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !servers.iter().all(|pid| gone(*pid)) {
        assert!(Instant::now() < deadline, "servers {servers:?} still run");
        std::thread::sleep(Duration::from_millis(50));
    }
}
