//! `gust migrate`: a single SQLite node's state moved into an empty PostgreSQL database and an
//! S3 bucket, then served by a node that starts on an empty data dir; and a target that holds
//! state already refused, untouched.

use std::path::Path;
use std::process::{Command, Output};

use gust_core::FunctionSpec;
use gust_test_tools::s3::S3Server;
use gust_test_tools::{Postgres, ScratchDir};
use serde_json::json;

use crate::harness::{TestServer, gust_bin, spec, test_guest};

fn migrate(from: &Path, database: &str, blob_url: &str, env: &[(&str, &str)]) -> Output {
    Command::new(gust_bin())
        .args(["migrate", "--from"])
        .arg(from)
        .args(["--database-url", database, "--blob-url", blob_url])
        .envs(env.iter().copied())
        .env("NO_COLOR", "1")
        .output()
        .expect("running gust migrate")
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

async fn get(server: &TestServer, path: &str) -> (u16, String) {
    let response = server
        .http()
        .get(format!("{}{path}", server.url))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The `count` column of the table `gust migrate` printed, for one table's row.
fn counted(stdout: &str, table: &str) -> Vec<String> {
    stdout
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|cells| cells.first() == Some(&table))
        .unwrap_or_else(|| panic!("no row for {table} in\n{stdout}"))
        .iter()
        .skip(1)
        .map(|s| s.to_string())
        .collect()
}

#[tokio::test]
async fn a_single_node_moves_to_postgres_and_s3_and_runs_there() {
    let (postgres, s3) = tokio::join!(
        tokio::task::spawn_blocking(Postgres::start),
        tokio::task::spawn_blocking(|| S3Server::start("gust-migrate")),
    );
    let (postgres, s3) = (postgres.unwrap(), s3.unwrap());
    let database = postgres.url();
    let env = s3.env();
    let blob_url = s3.url("cluster");

    // A single node on SQLite: a Wasm function with a secret, a namespace secret, a Python
    // folder (its build installs `six`), a cron trigger, executions and a token.
    let single_dir = ScratchDir::new("gust-migrate-single").unwrap();
    let mut single = TestServer::start_in(single_dir.path(), &[]);
    let client = single.client();
    let wasm = single
        .deploy_ready(
            "f",
            FunctionSpec {
                secrets: Some([("FN_SECRET".to_string(), "fn-6e1d".to_string())].into()),
                ..spec()
            },
            &test_guest(),
        )
        .await;
    let patched = single
        .http()
        .patch(format!("{}/api/v1/namespaces/default", single.url))
        .bearer_auth(&single.token)
        .json(&json!({"secrets": {"NS_SECRET": "ns-90c2"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let py = single
        .deploy_folder("py", "python3.11", spec(), "python-hello")
        .await;
    assert!(py.built_sha256.is_none(), "a single node shares nothing");
    let greeting = "hello from python, six 1.17.0";
    assert_eq!(
        get(&single, "/fn/default/py/").await,
        (200, greeting.into())
    );
    let trigger = client
        .create_trigger(
            "default",
            "f",
            &json!({"kind": "cron", "schedule": "0 0 1 1 *"}),
        )
        .await
        .unwrap();
    for _ in 0..3 {
        let (status, _) = get(&single, "/fn/default/f/env?name=FN_SECRET").await;
        assert_eq!(status, 200);
    }
    let token = client
        .create_token(&json!({"description": "kept", "scopes": ["read"]}))
        .await
        .unwrap();
    let executions = client
        .list_executions("default", "f", &[])
        .await
        .unwrap()
        .items;
    assert_eq!(executions.len(), 3);
    // Not while the server still runs on it.
    let out = migrate(single_dir.path(), &database, &blob_url, &env);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stderr.contains("a server is still running"), "{stderr}");
    assert_eq!(single.stop(), Some(0));

    let out = migrate(single_dir.path(), &database, &blob_url, &env);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // Every table counted on both sides, and the counts agree.
    let functions = counted(&stdout, "functions");
    assert_eq!(functions, ["2", "2", "ok"], "{stdout}");
    let copied = counted(&stdout, "executions");
    assert_eq!(copied[0], copied[1]);
    assert!(copied[0].parse::<u32>().unwrap() >= 4, "{stdout}");
    assert_eq!(counted(&stdout, "triggers"), ["1", "1", "ok"]);
    assert!(!stdout.contains("MISMATCH"), "{stdout}");
    // The Wasm upload and component, the Python upload, and its packed built folder.
    assert!(
        stdout.contains("the built code of 1 deployment(s) packed"),
        "{stdout}"
    );
    assert!(stdout.contains("master.key"), "{stdout}");
    assert!(stdout.contains("url-key"), "{stdout}");

    // A node of the cluster: an empty data dir but for the url-key and the admin token the
    // test's client uses; the master key by flag.
    let node_dir = ScratchDir::new("gust-migrate-node").unwrap();
    for file in ["admin-token", "url-key"] {
        std::fs::copy(single_dir.path().join(file), node_dir.path().join(file)).unwrap();
    }
    let master = single_dir.path().join("master.key");
    let args = [
        "--database-url",
        &database,
        "--blob-url",
        &blob_url,
        "--master-key-file",
        master.to_str().unwrap(),
    ];
    let mut node = TestServer::start_in_env(node_dir.path(), &args, &env);
    let client = node.client();
    let mut names: Vec<String> = client
        .list_functions("default", &[])
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|f| f.name)
        .collect();
    names.sort();
    assert_eq!(names, ["f", "py"]);
    let moved = client
        .list_executions("default", "f", &[])
        .await
        .unwrap()
        .items;
    let ids = |list: &[gust_core::Execution]| -> Vec<String> {
        list.iter().map(|e| e.id.clone()).collect()
    };
    assert_eq!(ids(&moved), ids(&executions));
    let triggers = client.list_triggers("default", "f").await.unwrap().items;
    assert_eq!(triggers.len(), 1);
    assert_eq!(triggers[0].id, trigger.id);
    let tokens = client.list_tokens().await.unwrap().items;
    assert!(tokens.iter().any(|t| t.id == token.id), "{tokens:?}");
    // Secrets open with the same key; both functions run from what the bucket holds, the
    // Python one from the folder built on the single node (no build here).
    assert_eq!(
        get(&node, "/fn/default/f/env?name=FN_SECRET").await,
        (200, "fn-6e1d".into())
    );
    assert_eq!(
        get(&node, "/fn/default/f/env?name=NS_SECRET").await,
        (200, "ns-90c2".into())
    );
    assert_eq!(get(&node, "/fn/default/py/").await, (200, greeting.into()));
    let deployed = client
        .get_deployment("default", "py", &py.id)
        .await
        .unwrap();
    assert!(deployed.built_sha256.is_some());
    // Unpacked here from the packed folder, `six` included: the node built nothing.
    let code = node_dir.path().join("deployments").join(&py.id);
    assert!(
        code.join("six.py").is_file(),
        "six not in {}",
        code.display()
    );
    assert_eq!(
        client
            .get_deployment("default", "f", &wasm.id)
            .await
            .unwrap()
            .wasm_sha256,
        wasm.wasm_sha256
    );
    // New records get keys past the copied ones (the sequences moved): the three executions
    // made here are recorded beside the three copied.
    let recorded = executions_of_f(&node, executions.len() + 2).await;
    assert_eq!(node.stop(), Some(0));

    // Into a database that holds state now: refused, naming what it holds; nothing changes.
    let out = migrate(single_dir.path(), &database, &blob_url, &env);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stderr.contains("not empty"), "{stderr}");
    assert!(stderr.contains("functions 2"), "{stderr}");
    assert!(stderr.contains("hint:"), "{stderr}");
    let node = TestServer::start_in_env(node_dir.path(), &args, &env);
    let after = node
        .client()
        .list_executions("default", "f", &[])
        .await
        .unwrap()
        .items;
    assert_eq!(ids(&after), ids(&recorded));
}

/// The executions of `f` once there are `count` of them (records are written in batches).
async fn executions_of_f(server: &TestServer, count: usize) -> Vec<gust_core::Execution> {
    let client = server.client();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let items = client
            .list_executions("default", "f", &[])
            .await
            .unwrap()
            .items;
        if items.len() >= count {
            assert_eq!(items.len(), count);
            return items;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} executions of f recorded, not {count}",
            items.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[test]
fn a_data_dir_without_a_database_is_refused_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let out = migrate(
        dir.path(),
        "postgres://nobody@127.0.0.1:1/none",
        "file:///nowhere",
        &[],
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("holds no gust.db"), "{stderr}");
    assert!(stderr.contains("hint: --from"), "{stderr}");
}
