//! `gust serve` on PostgreSQL (`--database-url`, `GUST_DATABASE_URL`): a Wasm function
//! deployed, invoked and its executions listed, all of it kept in the database and there
//! again after a restart; and `gust doctor` saying which store it found.

use std::process::Command;

use gust_test_tools::Postgres;

use crate::harness::{TestServer, gust_bin, hello_guest, spec};

/// One value from the database, read with PostgreSQL's own client.
pub(crate) fn psql(server: &Postgres, sql: &str) -> String {
    let output = Command::new("/usr/lib/postgresql/15/bin/psql")
        .args([&server.url(), "-tAc", sql])
        .output()
        .expect("running psql");
    assert!(
        output.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

#[tokio::test]
async fn a_server_on_postgres_keeps_functions_and_executions_across_a_restart() {
    let postgres = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let url = postgres.url();
    let dir = gust_test_tools::ScratchDir::new("gust-pg-test").unwrap();
    let mut server = TestServer::start_in(dir.path(), &["--database-url", &url]);
    let deployment = server.deploy_ready("hello", spec(), &hello_guest()).await;
    let client = server.client();
    for path in ["/one", "/two"] {
        let body = client
            .invoke(reqwest::Method::GET, "default", "hello", path, vec![])
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(
            body,
            format!("hello from gust\nmethod: GET\npath: {path}\n")
        );
    }
    let executions = client
        .list_executions("default", "hello", &[])
        .await
        .unwrap();
    assert_eq!(executions.total, 2);
    // The state is in PostgreSQL, not in a SQLite file beside the code.
    assert!(!dir.path().join("gust.db").exists());
    assert_eq!(psql(&postgres, "SELECT COUNT(*) FROM executions"), "2");
    assert_eq!(
        psql(&postgres, "SELECT name FROM functions"),
        "hello",
        "the function's row"
    );
    assert_eq!(server.stop(), Some(0));

    // Restarted through the variable rather than the flag.
    let server = TestServer::start_in_env(dir.path(), &[], &[("GUST_DATABASE_URL", &url)]);
    let client = server.client();
    let function = client.get_function("default", "hello").await.unwrap();
    assert_eq!(
        function.active_deployment.as_deref(),
        Some(deployment.id.as_str())
    );
    let after = client
        .list_executions("default", "hello", &[])
        .await
        .unwrap();
    assert_eq!(after.total, 2);
    let mut before_ids: Vec<_> = executions.items.iter().map(|e| &e.id).collect();
    let mut after_ids: Vec<_> = after.items.iter().map(|e| &e.id).collect();
    before_ids.sort();
    after_ids.sort();
    assert_eq!(before_ids, after_ids);
    let body = client
        .invoke(reqwest::Method::GET, "default", "hello", "/three", vec![])
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "hello from gust\nmethod: GET\npath: /three\n");
    assert_eq!(
        client
            .list_executions("default", "hello", &[])
            .await
            .unwrap()
            .total,
        3
    );

    let doctor = Command::new(gust_bin())
        .args(["doctor", "--database-url", &url])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&doctor.stdout);
    let line = stdout
        .lines()
        .find(|line| line.starts_with("postgresql"))
        .unwrap_or_else(|| panic!("no store line:\n{stdout}"));
    assert!(
        line.contains(" ok ") && line.contains("PostgreSQL 15"),
        "{line}"
    );
}
