//! Spawning: the process runs, sees its sandbox, and its end is reported.

use crate::{run, shell, spawner};

#[tokio::test]
async fn a_shell_runs_in_its_sandbox() {
    let state = tempfile::tempdir().unwrap();
    let spawner = spawner(state.path()).await;
    eprintln!("{}", spawner.support());
    let (stdout, stderr, exit) = run(
        &spawner,
        &shell("echo hello; id; ls /; cat /etc/hostname; echo $$"),
    )
    .await;
    eprintln!("stdout: {stdout}\nstderr: {stderr}\nexit: {exit}");
    assert!(exit.success(), "{exit}: {stderr}");
    assert!(stdout.starts_with("hello\n"));
}
