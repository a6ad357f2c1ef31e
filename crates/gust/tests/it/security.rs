//! Secrets at rest, the master key and its rotation, tokens' last use, the slowing of failed
//! authentications, and the audit log, against a real server and its files.

use std::net::IpAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gust_core::FunctionSpec;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{TestServer, cli, cli_stdout, gust_bin, spec, test_guest};

const SCALEWAY: &str = "/compat/scaleway/functions/v1beta1/regions/fr-par";

/// Every byte of the database, its WAL and its shared-memory file.
fn database_bytes(data_dir: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for name in ["gust.db", "gust.db-wal", "gust.db-shm"] {
        if let Ok(b) = std::fs::read(data_dir.join(name)) {
            bytes.extend(b);
        }
    }
    bytes
}

fn holds(bytes: &[u8], text: &str) -> bool {
    bytes.windows(text.len()).any(|w| w == text.as_bytes())
}

fn with_secret(name: &str, value: &str) -> FunctionSpec {
    FunctionSpec {
        secrets: Some([(name.to_string(), value.to_string())].into()),
        ..spec()
    }
}

async fn env_of(server: &TestServer, function: &str, name: &str) -> String {
    server
        .http()
        .get(format!(
            "{}/fn/default/{function}/env?name={name}",
            server.url
        ))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// `gust serve` on `data_dir` that must refuse to start: its stderr.
fn refused_start(data_dir: &Path, extra: &[&str]) -> String {
    let mut child = Command::new(gust_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("gust serve started with a master key that cannot open its secrets");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success());
    assert!(
        !String::from_utf8_lossy(&output.stdout).contains("listening on"),
        "it served"
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn secrets_are_sealed_in_the_database_files_and_still_reach_functions() {
    let mut server = TestServer::start();
    let client = server.client();
    server
        .deploy_ready(
            "f",
            with_secret("FN_SECRET", "fn-plain-7a3e"),
            &test_guest(),
        )
        .await;
    let patched = server
        .http()
        .patch(format!("{}/api/v1/namespaces/default", server.url))
        .bearer_auth(&server.token)
        .json(&json!({"secrets": {"NS_SECRET": "ns-plain-51b0"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::OK);
    // A dialect's secrets are the same native secrets.
    let scw = client
        .create_token(&json!({"scopes": ["admin"], "format": "uuid"}))
        .await
        .unwrap()
        .token
        .unwrap();
    let http = server.http();
    let ns: Value = http
        .post(format!("{}{SCALEWAY}/namespaces", server.url))
        .header("x-auth-token", &scw)
        .json(&json!({"name": "scw", "project_id": "6f0c6a0e-2d9b-4c1e-9a55-3b8f2f0a7d11"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let created = http
        .post(format!("{}{SCALEWAY}/functions", server.url))
        .header("x-auth-token", &scw)
        .json(
            &json!({"namespace_id": ns["id"], "name": "scw-fn", "runtime": "node20",
            "secret_environment_variables": [{"key": "SCW_SECRET", "value": "scw-plain-c44d"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::OK);

    // Searched before any invocation: the function's answers, which echo its secrets, are
    // recorded with its executions.
    let bytes = database_bytes(&server.data_dir);
    assert!(holds(&bytes, "FN_SECRET"), "the names are not secret");
    for plain in ["fn-plain-7a3e", "ns-plain-51b0", "scw-plain-c44d"] {
        assert!(!holds(&bytes, plain), "{plain} is in the database files");
    }
    let key = server.data_dir.join("master.key");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);

    server.stop();
    let bytes = database_bytes(&server.data_dir);
    for plain in ["fn-plain-7a3e", "ns-plain-51b0", "scw-plain-c44d"] {
        assert!(!holds(&bytes, plain), "{plain} is in the database files");
    }
    let server = TestServer::start_in(&server.data_dir.clone(), &[]);
    assert_eq!(env_of(&server, "f", "FN_SECRET").await, "fn-plain-7a3e");
    assert_eq!(env_of(&server, "f", "NS_SECRET").await, "ns-plain-51b0");
}

#[tokio::test]
async fn a_master_key_that_cannot_open_the_secrets_stops_the_start() {
    let mut server = TestServer::start();
    server
        .deploy_ready("f", with_secret("TOKEN", "hunter2"), &test_guest())
        .await;
    server.stop();
    let data_dir = server.data_dir.clone();

    let other = data_dir.join("other.key");
    std::fs::write(&other, format!("{}\n", "ab".repeat(32))).unwrap();
    let stderr = refused_start(&data_dir, &["--master-key-file", other.to_str().unwrap()]);
    assert!(
        stderr.contains("cannot open this data dir's secrets"),
        "{stderr}"
    );
    assert!(stderr.contains("other.key"), "{stderr}");

    // A lost key file is not silently replaced by a new key.
    let kept = data_dir.join("kept.key");
    std::fs::rename(data_dir.join("master.key"), &kept).unwrap();
    let stderr = refused_start(&data_dir, &[]);
    assert!(stderr.contains("master.key is missing"), "{stderr}");
    assert!(
        !data_dir.join("master.key").exists(),
        "no new key was left behind"
    );

    // The right file, given by flag, serves the function with its secret.
    let server = TestServer::start_in(&data_dir, &["--master-key-file", kept.to_str().unwrap()]);
    assert_eq!(env_of(&server, "f", "TOKEN").await, "hunter2");
}

#[tokio::test]
async fn plaintext_secrets_of_an_earlier_version_are_sealed_at_start() {
    let mut server = TestServer::start();
    server
        .deploy_ready("f", with_secret("TOKEN", "replaced"), &test_guest())
        .await;
    server.stop();
    let data_dir = server.data_dir.clone();
    // The data dir as the version before sealing left it: plaintext secrets, no master key,
    // no trace of the migration that introduced sealing.
    let db = rusqlite::Connection::open(data_dir.join("gust.db")).unwrap();
    db.execute_batch(
        "UPDATE functions SET secrets = '{\"TOKEN\":\"legacy-plain-e81f\"}';
         DROP TABLE store_meta; DROP TABLE sealing_keys; DROP TABLE audit;
         DELETE FROM _sqlx_migrations WHERE version = 8;",
    )
    .unwrap();
    drop(db);
    std::fs::remove_file(data_dir.join("master.key")).unwrap();
    assert!(holds(&database_bytes(&data_dir), "legacy-plain-e81f"));

    let mut server = TestServer::start_in(&data_dir, &[]);
    assert!(data_dir.join("master.key").exists());
    // Searched before any invocation: the function's answer echoes the secret, and is
    // recorded with its execution.
    assert!(
        !holds(&database_bytes(&data_dir), "legacy-plain-e81f"),
        "the plaintext left the files"
    );
    assert_eq!(env_of(&server, "f", "TOKEN").await, "legacy-plain-e81f");
    server.stop();
    let server = TestServer::start_in(&data_dir, &[]);
    assert_eq!(env_of(&server, "f", "TOKEN").await, "legacy-plain-e81f");
}

fn key_ids(data_dir: &Path) -> Vec<String> {
    std::fs::read_to_string(data_dir.join("master.key"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn rotating_the_key_reseals_everything_while_the_server_serves() {
    let mut server = TestServer::start();
    server
        .deploy_ready("f", with_secret("TOKEN", "rotate-me-0b7c"), &test_guest())
        .await;
    let home = tempfile::tempdir().unwrap();
    assert_eq!(key_ids(&server.data_dir), ["1"]);
    let before = std::fs::read_to_string(server.data_dir.join("master.key")).unwrap();

    let out = cli(&server, home.path(), &["--json", "admin", "rotate-key"]);
    let rotation: Value = serde_json::from_str(&cli_stdout(&out)).unwrap();
    assert_eq!(rotation["key_id"], 2, "{rotation}");
    assert_eq!(rotation["retired"], json!([1]), "{rotation}");
    assert_eq!(rotation["resealed"], 1, "{rotation}");
    assert_eq!(
        key_ids(&server.data_dir),
        ["2"],
        "the old key is gone from the file"
    );
    // Served throughout, and after.
    assert_eq!(env_of(&server, "f", "TOKEN").await, "rotate-me-0b7c");

    // A reader token may not rotate.
    let reader = server
        .client()
        .create_token(&json!({"scopes": ["read"]}))
        .await
        .unwrap()
        .token
        .unwrap();
    let refused = server
        .http()
        .post(format!("{}/api/v1/admin/rotate-key", server.url))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    server.stop();
    let data_dir = server.data_dir.clone();
    // The old key no longer opens anything.
    let old = data_dir.join("old.key");
    std::fs::write(&old, before).unwrap();
    let stderr = refused_start(&data_dir, &["--master-key-file", old.to_str().unwrap()]);
    assert!(stderr.contains("lacks"), "{stderr}");
    let server = TestServer::start_in(&data_dir, &[]);
    assert_eq!(env_of(&server, "f", "TOKEN").await, "rotate-me-0b7c");
}

#[tokio::test]
async fn an_interrupted_rotation_is_finished_at_the_next_start() {
    let mut server = TestServer::start();
    server
        .deploy_ready("f", with_secret("TOKEN", "midway-33aa"), &test_guest())
        .await;
    server.stop();
    let data_dir = server.data_dir.clone();
    // As a crash right after the first step leaves it: the file holds a new key before the
    // old one, and the database knows only the old.
    let old = std::fs::read_to_string(data_dir.join("master.key")).unwrap();
    let old_line = old.lines().find(|l| l.starts_with("1 ")).unwrap();
    std::fs::write(
        data_dir.join("master.key"),
        format!("2 {}\n{old_line}\n", "cd".repeat(32)),
    )
    .unwrap();
    let server = TestServer::start_in(&data_dir, &[]);
    assert_eq!(env_of(&server, "f", "TOKEN").await, "midway-33aa");
    assert_eq!(key_ids(&data_dir), ["2"]);
}

#[tokio::test]
async fn secrets_carry_a_prefix_and_tokens_remember_their_last_use() {
    let mut server = TestServer::start();
    let client = server.client();
    let created = client
        .create_token(&json!({"scopes": ["read"], "description": "ci"}))
        .await
        .unwrap();
    let secret = created.token.clone().unwrap();
    assert!(secret.starts_with("gust_"), "{secret}");
    assert_eq!(created.last_used_at, None);
    let listed = client.get_token(&created.id).await.unwrap();
    assert_eq!(listed.last_used_at, None, "never used");

    let before = gust_core::now() - chrono::Duration::seconds(1);
    let used = server
        .http()
        .get(format!("{}/api/v1/namespaces", server.url))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(used.status(), StatusCode::OK);
    let seen = client.get_token(&created.id).await.unwrap().last_used_at;
    assert!(seen.is_some_and(|at| at >= before), "{seen:?}");
    let in_list = client.list_tokens().await.unwrap();
    let row = in_list.items.iter().find(|t| t.id == created.id).unwrap();
    assert_eq!(row.last_used_at, seen);

    let home = tempfile::tempdir().unwrap();
    let table = cli_stdout(&cli(&server, home.path(), &["token", "list"]));
    assert!(table.contains("last used"), "{table}");
    let shown = cli_stdout(&cli(&server, home.path(), &["token", "get", &created.id]));
    assert!(
        shown.contains("last used:") && !shown.contains("never"),
        "{shown}"
    );

    // Written at shutdown: a restart keeps it.
    server.stop();
    let server = TestServer::start_in(&server.data_dir.clone(), &[]);
    let after = server.client().get_token(&created.id).await.unwrap();
    assert_eq!(after.last_used_at, seen);
}

#[tokio::test]
async fn last_uses_are_written_in_the_background() {
    let server = TestServer::start_with_env(&[], &[("GUST_TOKEN_USE_FLUSH_SECS", "1")]);
    let used = server
        .http()
        .get(format!("{}/api/v1/namespaces", server.url))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(used.status(), StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let db = rusqlite::Connection::open(server.data_dir.join("gust.db")).unwrap();
        let written: Option<String> = db
            .query_row(
                "SELECT json_extract(data, '$.last_used_at') FROM tokens",
                [],
                |row| row.get(0),
            )
            .unwrap();
        if written.is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the last use never reached the store"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A client whose connections come from `source` (any 127.0.0.0/8 address reaches the
/// server on loopback), so tests can be two clients at once.
fn client_from(source: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(source.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_failed_authentication_storm_is_slowed_for_its_address_alone() {
    let server = TestServer::start_with_env(&[], &[("GUST_AUTH_FAILURE_BURST", "5")]);
    server.deploy_ready("private", spec(), &test_guest()).await;
    let attacker = client_from("127.0.0.2");
    let bystander = client_from("127.0.0.3");
    let api = format!("{}/api/v1/namespaces", server.url);
    for n in 0..5 {
        let response = attacker
            .get(&api)
            .bearer_auth(format!("gust_guess{n}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    // Every door refuses the address now, before looking at its secret, a valid one included.
    let doors = [
        attacker.get(&api).bearer_auth("gust_guess"),
        attacker.get(&api).bearer_auth(&server.token),
        attacker
            .get(format!("{}/fn/default/private/env?name=X", server.url))
            .bearer_auth("gust_guess"),
        attacker
            .get(format!("{}{SCALEWAY}/namespaces", server.url))
            .header("x-auth-token", "6b1e3f7c-0000-4000-8000-000000000000"),
        attacker
            .get(format!("{}/compat/qinling/v1/functions", server.url))
            .header("x-auth-token", "guess"),
        attacker
            .get(format!("{}/compat/appwrite/v1/functions", server.url))
            .header("x-appwrite-key", "guess")
            .header("x-appwrite-project", "default"),
        attacker
            .get(format!("{}/compat/azion/edge_functions", server.url))
            .header("authorization", "Token guess")
            .header("accept", "application/json; version=3"),
    ];
    for request in doors {
        let response = request.send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "{response:?}"
        );
        let wait: u64 = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=6).contains(&wait), "{wait}");
    }
    // Anyone else goes on, wrong secrets included.
    let ok = bystander
        .get(&api)
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let wrong = bystander
        .get(&api)
        .bearer_auth("gust_nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let public = bystander
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), StatusCode::OK);
}

#[tokio::test]
async fn every_change_is_audited_with_who_what_where_and_how_it_ended() {
    let server = TestServer::start();
    let client = server.client();
    let http = server.http();
    server
        .deploy_ready("f", with_secret("TOKEN", "audit-plain-91d4"), &test_guest())
        .await;
    client
        .update_function("default", "f", &with_secret("TOKEN", "audit-plain-second"))
        .await
        .unwrap();
    let writer = client
        .create_token(&json!({"scopes": ["read", "write"], "description": "writer"}))
        .await
        .unwrap();
    // A refused change is recorded too, with its status.
    let missing = http
        .delete(format!(
            "{}/api/v1/namespaces/default/functions/nope",
            server.url
        ))
        .bearer_auth(writer.token.as_ref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    // Through a dialect: the engine records it the same way.
    let scw = client
        .create_token(&json!({"scopes": ["admin"], "format": "uuid"}))
        .await
        .unwrap();
    let ns = http
        .post(format!("{}{SCALEWAY}/namespaces", server.url))
        .header("x-auth-token", scw.token.as_ref().unwrap())
        .json(
            &json!({"name": "scw", "project_id": "6f0c6a0e-2d9b-4c1e-9a55-3b8f2f0a7d11",
            "secret_environment_variables": [{"key": "S", "value": "audit-plain-scw"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(ns.status(), StatusCode::OK);
    // Invocations are executions, not changes.
    env_of(&server, "f", "TOKEN").await;

    let all = client.list_audit(&[("limit", "1000")]).await.unwrap();
    let text = serde_json::to_string(&all).unwrap();
    for plain in ["audit-plain-91d4", "audit-plain-second", "audit-plain-scw"] {
        assert!(!text.contains(plain), "a secret reached the audit log");
    }
    let summary: Vec<(String, String, u16)> = all
        .items
        .iter()
        .rev()
        .map(|e| {
            (
                serde_json::to_value(e.action)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string(),
                e.resource_kind.clone(),
                e.status,
            )
        })
        .collect();
    let expect = |action: &str, kind: &str, status: u16| {
        assert!(
            summary.contains(&(action.to_string(), kind.to_string(), status)),
            "{action} {kind} {status} missing from {summary:?}"
        );
    };
    expect("create", "function", 200);
    expect("deploy", "deployment", 200);
    expect("update", "function", 200);
    expect("create", "token", 200);
    expect("delete", "function", 404);
    expect("create", "namespace", 200);
    assert!(
        !summary.iter().any(|(_, kind, _)| kind == "execution"),
        "{summary:?}"
    );
    let function = client.get_function("default", "f").await.unwrap();
    let created = all
        .items
        .iter()
        .find(|e| e.resource_kind == "function" && e.resource_id.as_deref() == Some(&function.id))
        .unwrap();
    assert_eq!(
        created.namespace_id.as_deref(),
        Some(function.namespace_id.as_str())
    );
    assert_eq!(created.client_addr.as_deref(), Some("127.0.0.1"));
    let admin_id = client
        .list_tokens()
        .await
        .unwrap()
        .items
        .iter()
        .find(|t| t.description.contains("first start"))
        .unwrap()
        .id
        .clone();
    assert_eq!(created.token_id.as_deref(), Some(admin_id.as_str()));
    let refused = all.items.iter().find(|e| e.status == 404).unwrap();
    assert_eq!(refused.token_id.as_deref(), Some(writer.id.as_str()));
    assert_eq!(refused.error.as_deref(), Some("not_found"));

    // Filters and pages.
    let by_function = client
        .list_audit(&[("resource_kind", "function"), ("resource_id", &function.id)])
        .await
        .unwrap();
    assert!(by_function.items.len() >= 2, "{by_function:?}");
    assert!(
        by_function
            .items
            .iter()
            .all(|e| e.resource_id.as_deref() == Some(&function.id))
    );
    let by_token = client
        .list_audit(&[("token_id", scw.id.as_str())])
        .await
        .unwrap();
    assert_eq!(by_token.items.len(), 1, "{by_token:?}");
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![("limit", "2")];
        if let Some(c) = &cursor {
            query.push(("cursor", c));
        }
        let page = client.list_audit(&query).await.unwrap();
        seen.extend(page.items.iter().map(|e| e.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, all.items.iter().map(|e| e.id).collect::<Vec<_>>());

    // Admins only; bad input names its field.
    let forbidden = http
        .get(format!("{}/api/v1/audit", server.url))
        .bearer_auth(writer.token.as_ref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    let bad: Value = http
        .get(format!("{}/api/v1/audit?cursor=abc", server.url))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(bad["error"]["field"], "cursor", "{bad}");

    let home = tempfile::tempdir().unwrap();
    let table = cli_stdout(&cli(&server, home.path(), &["audit", "--kind", "function"]));
    assert!(table.contains("404 not_found"), "{table}");
    assert!(table.contains(&function.id), "{table}");
}

/// `gust doctor --json`, run with `args` as `serve` would take them: its protections by part.
fn doctor_protections(args: &[&str]) -> std::collections::HashMap<String, (String, String)> {
    let out = Command::new(gust_bin())
        .arg("--json")
        .arg("doctor")
        .args(args)
        .env_remove("GUST_DATA_DIR")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    report["protections"]
        .as_array()
        .unwrap_or_else(|| panic!("no protections in {report}"))
        .iter()
        .map(|p| {
            (
                p["part"].as_str().unwrap().to_string(),
                (
                    p["standing"].as_str().unwrap().to_string(),
                    p["detail"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

#[test]
fn doctor_reports_each_protection_and_what_weakens_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(data.join("master.key"), "1 00").unwrap();
    std::fs::set_permissions(
        data.join("master.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    crate::network::certificate(dir.path());
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let data_arg = data.to_str().unwrap();

    let plain = doctor_protections(&["--data-dir", data_arg]);
    assert_eq!(plain["no_new_privs"].0, "ok", "{plain:?}");
    assert_eq!(plain["tls"].0, "off", "{plain:?}");
    assert_eq!(plain["master key"].0, "weak", "{plain:?}");
    assert!(plain["master key"].1.contains("chmod 600"), "{plain:?}");
    assert_eq!(plain["data dir"].0, "weak", "{plain:?}");
    // Files `serve` makes itself at first start are not missing.
    assert_eq!(plain["admin token file"].0, "ok", "{plain:?}");

    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(
        data.join("master.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let tls_args = [
        "--data-dir",
        data_arg,
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ];
    let mended = doctor_protections(&tls_args);
    for part in ["tls", "master key", "data dir"] {
        assert_eq!(mended[part].0, "ok", "{part}: {mended:?}");
    }

    // A key others can read weakens HTTPS; a certificate that does not load turns it off.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    assert_eq!(doctor_protections(&tls_args)["tls"].0, "weak");
    std::fs::write(&cert, "not a certificate").unwrap();
    let broken = doctor_protections(&tls_args);
    assert_eq!(broken["tls"].0, "off", "{broken:?}");
    // A key file that must be given but is not there.
    let missing = doctor_protections(&[
        "--data-dir",
        data_arg,
        "--master-key-file",
        dir.path().join("nowhere.key").to_str().unwrap(),
    ]);
    assert_eq!(missing["master key"].0, "off", "{missing:?}");
}

#[tokio::test]
async fn a_data_dir_serve_makes_is_its_owners_alone() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().unwrap();
    let data_dir = parent.path().join("made-by-serve");
    let server = TestServer::start_in(&data_dir, &[]);
    let mode = std::fs::metadata(&server.data_dir)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "{mode:o}");
    // Sandboxed functions still run from it: their sandboxes never cross it by path.
    server
        .deploy_folder("hi", "python3.11", FunctionSpec::default(), "python-hello")
        .await;
    let answer = server
        .http()
        .get(format!("{}/fn/default/hi", server.url))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
}

#[tokio::test]
async fn secrets_set_one_by_one_at_once_all_hold_and_reach_the_function() {
    let server = TestServer::start();
    server
        .deploy_ready("f", with_secret("FIRST", "one"), &test_guest())
        .await;
    // Twenty clients each set a secret of their own at the same moment: none is lost (a map
    // read, changed and sent back whole by each would keep only some).
    let sets = (0..20).map(|i| {
        let client = server.client();
        async move {
            client
                .set_function_secret("default", "f", &format!("S{i}"), &format!("v{i}"))
                .await
        }
    });
    for set in futures_util::future::join_all(sets).await {
        let function = set.unwrap();
        assert!(
            function.secrets.values().all(|v| v == "********"),
            "values are never returned"
        );
    }
    let function = server.client().get_function("default", "f").await.unwrap();
    assert_eq!(function.secrets.len(), 21, "{:?}", function.secrets.keys());
    assert_eq!(env_of(&server, "f", "S7").await, "v7");
    assert_eq!(env_of(&server, "f", "FIRST").await, "one");
    // The same for a namespace's.
    let answer = server
        .http()
        .put(format!(
            "{}/api/v1/namespaces/default/secrets/NS_ONE",
            server.url
        ))
        .bearer_auth(&server.token)
        .json(&json!({"value": "ns-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(env_of(&server, "f", "NS_ONE").await, "ns-1");

    // Removed, one by one, and the others stay.
    server
        .client()
        .delete_function_secret("default", "f", "S7")
        .await
        .unwrap();
    assert_eq!(env_of(&server, "f", "S7").await, "unset");
    assert_eq!(env_of(&server, "f", "S8").await, "v8");

    // A bad name is a 400 naming it; a function that is not there a 404; nothing changes.
    let answer = server
        .http()
        .put(format!(
            "{}/api/v1/namespaces/default/functions/f/secrets/1BAD",
            server.url
        ))
        .bearer_auth(&server.token)
        .json(&json!({"value": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"]["field"], "secrets.1BAD", "{body}");
    let missing = server
        .client()
        .set_function_secret("default", "nope", "A", "x")
        .await;
    assert!(missing.is_err());
    let function = server.client().get_function("default", "f").await.unwrap();
    assert_eq!(function.secrets.len(), 20);

    // The CLI: a value from stdin, and a removal.
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(gust_bin())
        .args(["fn", "secret", "set", "f", "FROM_STDIN"])
        .env("GUST_URL", &server.url)
        .env("GUST_TOKEN", &server.token)
        .env("HOME", home.path())
        .env_remove("XDG_CONFIG_HOME")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"piped-value\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(env_of(&server, "f", "FROM_STDIN").await, "piped-value");
    let out = cli(
        &server,
        home.path(),
        &["fn", "secret", "unset", "f", "FROM_STDIN"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(env_of(&server, "f", "FROM_STDIN").await, "unset");
}
