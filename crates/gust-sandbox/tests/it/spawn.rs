//! Spawning: the process runs, sees its sandbox, and its end is reported.

use std::path::Path;

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

/// The spawner processes of this test process (its children running this same executable)
/// that serve `state`, and how many children each has. Tests sharing one process each have
/// a spawner of their own; the state folder in its environment tells which is whose.
fn spawner_children(state: &Path) -> Vec<(u32, usize)> {
    let me = std::process::id().to_string();
    let this_exe = std::env::current_exe().unwrap();
    let state = state.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The parent pid is the second field after the parenthesised command name.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let parent = after.split(' ').nth(1).unwrap_or("");
        let is_spawner = std::fs::read_link(format!("/proc/{pid}/exe"))
            .map(|exe| exe == this_exe)
            .unwrap_or(false);
        let serves_state = std::fs::read(format!("/proc/{pid}/environ"))
            .map(|env| String::from_utf8_lossy(&env).contains(&state))
            .unwrap_or(false);
        if parent == me && is_spawner && serves_state {
            let mut children = 0;
            for task in std::fs::read_dir(format!("/proc/{pid}/task"))
                .unwrap()
                .flatten()
            {
                let list =
                    std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
                children += list.split_whitespace().count();
            }
            found.push((pid, children));
        }
    }
    found
}

#[tokio::test]
async fn a_sandbox_whose_spawn_was_cancelled_is_ended() {
    use futures_util::FutureExt as _;
    let state = tempfile::tempdir().unwrap();
    let spawner = spawner(state.path()).await;
    // A first run leaves the socket known writable, so the next spawn sends on its first poll.
    let (_, _, exit) = run(&spawner, &shell("true")).await;
    assert!(exit.success());
    // Sent, then given up before the reply.
    let cancelled = spawner.spawn(&shell("sleep 1000")).now_or_never();
    assert!(
        cancelled.is_none(),
        "a spawn cannot be answered on its first poll"
    );
    // Replies come in order: once this one is in, the cancelled one has been seen.
    let (_, _, exit) = run(&spawner, &shell("true")).await;
    assert!(exit.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let spawners = spawner_children(state.path());
        assert_eq!(spawners.len(), 1, "one spawner: {spawners:?}");
        if spawners[0].1 == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the cancelled spawn's sandbox still runs: {spawners:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
