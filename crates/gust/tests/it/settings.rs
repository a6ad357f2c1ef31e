//! A malformed setting stops `gust serve` before it touches anything, with an error naming the
//! variable or flag and what it accepts.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::harness::gust_bin;

/// Runs `gust serve` on a data dir that does not exist yet; returns its output once it exits,
/// and whether it created the data dir.
fn serve(args: &[&str], env: &[(&str, &str)]) -> (Output, bool) {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let mut child = Command::new(gust_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data_dir)
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning gust serve");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("gust serve kept running with an invalid setting");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (child.wait_with_output().unwrap(), data_dir.exists())
}

#[test]
fn a_malformed_variable_stops_the_start_naming_it() {
    let (out, created) = serve(&[], &[("GUST_QUEUE_LIMIT", "abc")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "exited with {}", out.status);
    assert!(
        stderr.contains(
            "error: GUST_QUEUE_LIMIT=abc: expected a whole number of requests from 0 to 1000000"
        ),
        "{stderr}"
    );
    assert!(
        !created,
        "the data dir was created before the settings were checked"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("listening on"));
}

#[test]
fn out_of_range_values_and_renamed_variables_stop_the_start_too() {
    let refused = |args: &[&str], env: &[(&str, &str)], expected: &str| {
        let (out, _) = serve(args, env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{expected}: exited with {}",
            out.status
        );
        assert!(stderr.contains(expected), "{stderr}");
    };
    refused(
        &[],
        &[("GUST_WASM_EPOCH_TICK_MS", "0")],
        "error: GUST_WASM_EPOCH_TICK_MS=0: expected a whole number of milliseconds from 1 to 1000",
    );
    refused(
        &["--max-upload-mb", "0"],
        &[],
        "error: --max-upload-mb=0: expected a whole number of MiB from 1 to 65536",
    );
    refused(
        &[],
        &[("GUST_RETRY_MAX_S", "5")],
        "error: GUST_RETRY_MAX_S is now called GUST_RETRY_MAX_SECS",
    );
}
