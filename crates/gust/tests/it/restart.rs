//! State survives a restart on the same data dir: the function stays active and invocable, and
//! its compiled artifact is reused rather than rebuilt.

use std::time::SystemTime;

use crate::harness::{TestServer, hello_guest, spec};

#[tokio::test]
async fn restart_keeps_functions_live_without_rebuilding() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_in(dir.path(), &[]);
    assert!(
        server.banner.iter().any(|l| l.starts_with("admin token")),
        "first start prints the admin token once"
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(dir.path().join("admin-token"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let deployment = server.deploy_ready("hello", spec(), &hello_guest()).await;
    let artifacts: Vec<_> = std::fs::read_dir(dir.path().join("artifacts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(artifacts.len(), 1, "one compiled artifact");
    let compiled_at: SystemTime = std::fs::metadata(&artifacts[0])
        .unwrap()
        .modified()
        .unwrap();
    let token = server.token.clone();
    assert_eq!(server.stop(), Some(0));

    let server = TestServer::start_in(dir.path(), &[]);
    assert!(
        server.banner.iter().all(|l| !l.starts_with("admin token")),
        "the token is printed only at first start"
    );
    assert_eq!(server.token, token);
    let client = server.client();
    let function = client.get_function("default", "hello").await.unwrap();
    assert_eq!(
        function.active_deployment.as_deref(),
        Some(deployment.id.as_str())
    );
    let body = client
        .invoke(reqwest::Method::GET, "default", "hello", "/again", vec![])
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "hello from gust\nmethod: GET\npath: /again\n");

    // No rebuild: the deployment record and the artifact are untouched.
    let after = client
        .get_deployment("default", "hello", &deployment.id)
        .await
        .unwrap();
    assert_eq!(after, deployment);
    assert_eq!(
        std::fs::metadata(&artifacts[0])
            .unwrap()
            .modified()
            .unwrap(),
        compiled_at
    );
    let executions = client
        .list_executions("default", "hello", &[])
        .await
        .unwrap();
    assert_eq!(executions.total, 1);
}
