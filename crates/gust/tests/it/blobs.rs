//! A shared blob store (`--blob-url`): two `gust serve` nodes over one PostgreSQL database and
//! one S3-compatible bucket (moto) or shared folder. The first deploys a Wasm function and a
//! Python folder; the second, on an empty data dir, runs both from what it fetches, checks
//! its cache by sha256 and fetches again what was altered. A location that does not answer
//! stops the start naming the flag.

use std::path::Path;
use std::process::{Command, Stdio};

use gust_test_tools::s3::S3Server;
use gust_test_tools::{Postgres, ScratchDir};
use sha2::{Digest, Sha256};

use crate::harness::{TestServer, gust_bin, hello_guest, spec};

async fn invoke(server: &TestServer, function: &str, path: &str) -> String {
    let response = server
        .client()
        .invoke(reqwest::Method::GET, "default", function, path, vec![])
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{function}{path}");
    response.text().await.unwrap()
}

/// What a node needs from the first besides the database and blobs: the admin token (for the
/// test's client), and the same signing key; the master key is passed by `--master-key-file`.
fn join_node(first: &Path, second: &Path) {
    for file in ["admin-token", "url-key"] {
        std::fs::copy(first.join(file), second.join(file)).unwrap();
    }
}

fn sha256_of(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

fn cache_path(data_dir: &Path, sha: &str) -> std::path::PathBuf {
    data_dir.join("blobs/sha256").join(&sha[..2]).join(sha)
}

/// Deploy on one node, run on another that starts empty. `listed` gives the blob digests the
/// shared location holds, as seen from outside Gust.
async fn two_nodes_share_code(
    blob_url: &str,
    env: &[(&str, &str)],
    listed: impl AsyncFn() -> Vec<String>,
) {
    let postgres = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let database = postgres.url();
    let first_dir = ScratchDir::new("gust-blobs-one").unwrap();
    let args = ["--database-url", &database, "--blob-url", blob_url];
    let mut first = TestServer::start_in_env(first_dir.path(), &args, env);
    let wasm = first.deploy_ready("hello", spec(), &hello_guest()).await;
    let py = first
        .deploy_folder("py", "python3.11", spec(), "python-hello")
        .await;
    let greeting = "hello from python, six 1.17.0";
    assert_eq!(invoke(&first, "py", "/").await, greeting);
    assert!(
        invoke(&first, "hello", "/a")
            .await
            .starts_with("hello from gust")
    );

    // The upload, the component and the built Python folder (with `six`) are in the store.
    let built = py
        .built_sha256
        .clone()
        .expect("the build shared its folder");
    let wasm_sha = wasm.wasm_sha256.clone().unwrap();
    let held = listed().await;
    for sha in [&wasm.sha256, &wasm_sha, &py.sha256, &built] {
        assert!(held.contains(sha), "{sha} not in {held:?}");
    }
    let master_key = first_dir.path().join("master.key");
    assert_eq!(first.stop(), Some(0));

    let second_dir = ScratchDir::new("gust-blobs-two").unwrap();
    join_node(first_dir.path(), second_dir.path());
    let master = master_key.to_str().unwrap();
    let second_args = [&args[..], &["--master-key-file", master]].concat();
    // Its data dir holds no code: what it runs, it fetches (at start, loading the live set).
    assert!(!second_dir.path().join("blobs").exists());
    let mut second = TestServer::start_in_env(second_dir.path(), &second_args, env);
    assert!(
        invoke(&second, "hello", "/b")
            .await
            .starts_with("hello from gust")
    );
    assert_eq!(invoke(&second, "py", "/").await, greeting);
    // Fetched, checked and unpacked here: the component, and the built folder with its
    // dependency installed on the first node.
    let cached = cache_path(second_dir.path(), &wasm_sha);
    assert_eq!(sha256_of(&cached), wasm_sha);
    let code = second_dir.path().join("deployments").join(&py.id);
    assert!(code.join("main.py").is_file());
    assert!(
        code.join("six.py").is_file(),
        "six not in {}",
        code.display()
    );
    // The second node compiled its own artifact.
    assert!(
        second_dir
            .path()
            .join("artifacts")
            .join(format!("{wasm_sha}.cwasm"))
            .exists()
    );
    assert_eq!(second.stop(), Some(0));

    // A cache file whose bytes changed is caught by its sha256 when the code loads again.
    std::fs::write(&cached, b"not the component").unwrap();
    let third = TestServer::start_in_env(second_dir.path(), &second_args, env);
    assert!(
        invoke(&third, "hello", "/c")
            .await
            .starts_with("hello from gust")
    );
    assert_eq!(sha256_of(&cached), wasm_sha);
}

/// The keys of a bucket, listed with a plain (unsigned) request, as a client outside Gust.
async fn bucket_keys(s3: &S3Server, prefix: &str) -> Vec<String> {
    let listing = reqwest::get(format!(
        "{}/{}?list-type=2&prefix={prefix}/",
        s3.endpoint(),
        s3.bucket()
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    listing
        .split("<Key>")
        .skip(1)
        .filter_map(|rest| rest.split("</Key>").next())
        .filter_map(|key| key.rsplit('/').next())
        .map(String::from)
        .collect()
}

#[tokio::test]
async fn nodes_share_code_through_s3() {
    let s3 = tokio::task::spawn_blocking(|| S3Server::start("gust-code"))
        .await
        .unwrap();
    let env = s3.env();
    two_nodes_share_code(&s3.url("prod"), &env, async || {
        bucket_keys(&s3, "prod").await
    })
    .await;
}

#[tokio::test]
async fn nodes_share_code_through_a_folder() {
    let shared = ScratchDir::new("gust-blobs-shared").unwrap();
    let url = format!("file://{}", shared.path().display());
    let root = shared.path().join("sha256");
    two_nodes_share_code(&url, &[], async || {
        let mut found = Vec::new();
        for prefix in std::fs::read_dir(&root).unwrap() {
            for blob in std::fs::read_dir(prefix.unwrap().path()).unwrap() {
                found.push(blob.unwrap().file_name().to_string_lossy().into_owned());
            }
        }
        found
    })
    .await;
}

#[test]
fn a_blob_url_that_does_not_answer_stops_the_start_naming_the_flag() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("s3://bucket/prefix?endpoint=http://127.0.0.1:{port}");
    let out = Command::new(gust_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args(["--blob-url", &url])
        .env("AWS_ACCESS_KEY_ID", "key")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("--blob-url"), "{stderr}");
    assert!(stderr.contains("does not answer"), "{stderr}");

    let out = Command::new(gust_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args(["--blob-url", "ftp://host/dir"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("--blob-url: unknown scheme `ftp`"),
        "{stderr}"
    );
}
