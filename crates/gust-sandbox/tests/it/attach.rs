//! Stem cells: code attached to a sandbox that is already running appears read-only at /code.

use std::time::{Duration, Instant};

use crate::{shell, spawner};

#[tokio::test]
async fn code_attached_later_appears_read_only_at_code() {
    use tokio::io::AsyncReadExt;
    let state = tempfile::tempdir().unwrap();
    let code = tempfile::tempdir().unwrap();
    std::fs::write(code.path().join("marker"), "attached").unwrap();
    std::fs::set_permissions(
        code.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let spawner = spawner(state.path()).await;
    let script = "while [ ! -e /code/marker ]; do sleep 0.01; done; cat /code/marker; \
                  echo; touch /code/new 2>/dev/null && echo writable || echo read-only";
    let mut sandbox = spawner.spawn(&shell(script)).await.unwrap();
    let io = sandbox.take_io().unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    sandbox.attach_code(code.path()).await.unwrap();
    eprintln!("attach took {:?}", started.elapsed());
    let mut out = String::new();
    let mut pipe = tokio::net::unix::pipe::Receiver::from_owned_fd(io.stdout).unwrap();
    tokio::time::timeout(Duration::from_secs(10), pipe.read_to_string(&mut out))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out, "attached\nread-only\n");
    assert!(!code.path().join("new").exists());
    assert!(sandbox.wait().await.success());
}
