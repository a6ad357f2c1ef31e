//! Signed upload and download URLs and explicit deploys, through a running server: code sent
//! to an upload URL without a token waits, `uploaded`, until a deploy builds and activates it;
//! a deploy with nothing new builds the current code again; a download URL serves the code
//! byte for byte. Altered, expired, replayed, misdirected and wrongly sized uses are refused
//! with nothing stored; making URLs needs the token's scopes; the CLI drives the whole flow.

use std::path::Path;
use std::time::Duration;

use gust_client::Client;
use gust_core::{Deployment, DeploymentStatus, FunctionStatus, SignedUrl};
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{TestServer, cli as gust, hello_guest, spec, tar_gz, test_guest};

async fn create_function(server: &TestServer, name: &str) -> gust_core::Function {
    server
        .client()
        .create_function(
            "default",
            &gust_core::FunctionSpec {
                name: Some(name.into()),
                runtime: Some("wasm".into()),
                ..spec()
            },
        )
        .await
        .unwrap()
}

fn hello_package() -> Vec<u8> {
    tar_gz(&[("app.wasm", &hello_guest())])
}

/// `body` sent to an upload URL as a plain HTTP client would: no token, the URL's headers
/// (`Content-Length` from the body itself).
async fn put(url: &SignedUrl, body: Vec<u8>) -> reqwest::Response {
    assert_eq!(url.method, "PUT");
    reqwest::Client::new()
        .put(&url.url)
        .header("content-type", &url.headers["Content-Type"])
        .body(body)
        .send()
        .await
        .unwrap()
}

/// `body` sent as a stream: no `Content-Length`, so only the bytes that arrive can be counted.
async fn put_streamed(url: &SignedUrl, body: Vec<u8>) -> reqwest::Response {
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(1000).map(|c| Ok(c.to_vec())).collect();
    reqwest::Client::new()
        .put(&url.url)
        .header("content-type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            pieces,
        )))
        .send()
        .await
        .unwrap()
}

/// The error envelope of a refused request, as (status, field, message).
async fn refusal(response: reqwest::Response) -> (StatusCode, Option<String>, String) {
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap();
    let error = &body["error"];
    (
        status,
        error["field"].as_str().map(str::to_string),
        error["message"].as_str().unwrap_or_default().to_string(),
    )
}

async fn uploaded(response: reqwest::Response) -> Deployment {
    assert_eq!(response.status(), StatusCode::OK);
    let deployment: Deployment = response.json().await.unwrap();
    assert_eq!(deployment.status, DeploymentStatus::Uploaded);
    deployment
}

async fn built(client: &Client, f: &str, id: &str) -> Deployment {
    let d = client
        .wait_for_build("default", f, id, Duration::from_secs(120))
        .await
        .unwrap();
    assert_eq!(d.status, DeploymentStatus::Ready, "{}", d.build_log);
    d
}

async fn answer(client: &Client, f: &str) -> String {
    client
        .invoke(reqwest::Method::GET, "default", f, "/signed", vec![])
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

const HELLO: &str = "hello from gust\nmethod: GET\npath: /signed\n";

/// Regular files under `dir`, at any depth.
fn files_under(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    let path = e.path();
                    if path.is_dir() { files_under(&path) } else { 1 }
                })
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn code_sent_to_an_upload_url_waits_for_a_deploy_then_serves() {
    let server = TestServer::start();
    let client = server.client();
    create_function(&server, "app").await;

    let package = hello_package();
    let url = client
        .create_upload_url("default", "app", package.len() as u64)
        .await
        .unwrap();
    assert!(
        url.url
            .starts_with(&format!("{}/api/v1/uploads/", server.url)),
        "{}",
        url.url
    );
    assert_eq!(url.headers["Content-Type"], "application/octet-stream");
    assert_eq!(url.headers["Content-Length"], package.len().to_string());
    assert!(url.expires_at > chrono::Utc::now() + chrono::Duration::minutes(59));

    let first = uploaded(put(&url, package.clone()).await).await;
    assert_eq!(first.size, package.len() as u64);
    // Nothing builds it and the function is as it was.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let function = client.get_function("default", "app").await.unwrap();
    assert_eq!(function.status, FunctionStatus::Created);
    assert_eq!(function.active_deployment, None);
    let now = client
        .get_deployment("default", "app", &first.id)
        .await
        .unwrap();
    assert_eq!(now.status, DeploymentStatus::Uploaded);

    let deploying = client.deploy_function("default", "app").await.unwrap();
    assert_eq!(deploying.id, first.id);
    assert_eq!(deploying.status, DeploymentStatus::Waiting);
    built(&client, "app", &first.id).await;
    let function = client.get_function("default", "app").await.unwrap();
    assert_eq!(function.status, FunctionStatus::Ready);
    assert_eq!(
        function.active_deployment.as_deref(),
        Some(first.id.as_str())
    );
    assert_eq!(answer(&client, "app").await, HELLO);

    // New code (a bare component this time) changes nothing until it is deployed.
    let echo = test_guest();
    let url = client
        .create_upload_url("default", "app", echo.len() as u64)
        .await
        .unwrap();
    let second = uploaded(put(&url, echo.clone()).await).await;
    let function = client.get_function("default", "app").await.unwrap();
    assert_eq!(
        function.active_deployment.as_deref(),
        Some(first.id.as_str())
    );
    assert_eq!(function.status, FunctionStatus::Ready);
    assert_eq!(answer(&client, "app").await, HELLO);

    let deploying = client.deploy_function("default", "app").await.unwrap();
    assert_eq!(deploying.id, second.id);
    built(&client, "app", &second.id).await;
    let function = client.get_function("default", "app").await.unwrap();
    assert_eq!(
        function.active_deployment.as_deref(),
        Some(second.id.as_str())
    );
    let echoed = answer(&client, "app").await;
    assert!(echoed != HELLO && echoed.contains("/signed"), "{echoed}");

    // Nothing new: the active code is built again as a new deployment, which takes over.
    let again = client.deploy_function("default", "app").await.unwrap();
    assert!(again.id != second.id && again.id != first.id);
    assert_eq!(again.sha256, second.sha256);
    built(&client, "app", &again.id).await;
    let function = client.get_function("default", "app").await.unwrap();
    assert_eq!(
        function.active_deployment.as_deref(),
        Some(again.id.as_str())
    );
    assert_eq!(function.status, FunctionStatus::Ready);
    assert_eq!(answer(&client, "app").await, echoed);

    // Downloads: the active code by default, any deployment by id, without a token, as often
    // as wanted until the URL expires.
    let active = client
        .create_download_url("default", "app", None)
        .await
        .unwrap();
    assert!(
        active
            .url
            .starts_with(&format!("{}/api/v1/downloads/", server.url))
    );
    assert_eq!(active.method, "GET");
    for _ in 0..2 {
        let response = reqwest::get(&active.url).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.bytes().await.unwrap() == echo, "byte for byte");
    }
    let original = client
        .create_download_url("default", "app", Some(&first.id))
        .await
        .unwrap();
    assert!(client.download(&original).await.unwrap() == package);
}

#[tokio::test]
async fn altered_misdirected_wrongly_sized_and_replayed_uploads_are_refused() {
    let server = TestServer::start();
    let client = server.client();
    let app = create_function(&server, "app").await;
    let other = create_function(&server, "other").await;
    let package = hello_package();
    let len = package.len();
    let url = client
        .create_upload_url("default", "app", len as u64)
        .await
        .unwrap();

    // An altered signature, and the token pointed at another function.
    let mut altered = url.clone();
    let last = altered.url.pop().unwrap();
    altered.url.push(if last == '0' { '1' } else { '0' });
    let retargeted = SignedUrl {
        url: url.url.replacen(&app.id, &other.id, 1),
        ..url.clone()
    };
    assert_ne!(retargeted.url, url.url);
    for wrong in [&altered, &retargeted] {
        let (status, _, message) = refusal(put(wrong, package.clone()).await).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{message}");
        assert!(message.contains("signature"), "{message}");
    }

    // Bodies longer and shorter than signed for, declared or streamed.
    let mut longer = package.clone();
    longer.extend_from_slice(b"extra");
    let shorter = package[..len - 5].to_vec();
    for response in [
        put(&url, longer.clone()).await,
        put(&url, shorter.clone()).await,
        put_streamed(&url, longer).await,
        put_streamed(&url, shorter).await,
    ] {
        let (status, field, message) = refusal(response).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{message}");
        assert_eq!(field.as_deref(), Some("Content-Length"));
        assert!(message.contains(&len.to_string()), "{message}");
    }
    for f in ["app", "other"] {
        let listed = client.list_deployments("default", f).await.unwrap();
        assert_eq!(listed.total, 0, "nothing stored");
    }
    assert_eq!(files_under(&server.data_dir.join("blobs")), 0);

    // The refused attempts did not use the URL up; the right body goes in once.
    let deployment = uploaded(put_streamed(&url, package.clone()).await).await;
    let (status, _, message) = refusal(put(&url, package.clone()).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(message.contains("already used"), "{message}");
    let listed = client.list_deployments("default", "app").await.unwrap();
    assert_eq!(listed.total, 1);
    assert_eq!(listed.items[0].id, deployment.id);

    // A download URL is no upload URL, and the other way round.
    let download = client
        .create_download_url("default", "app", None)
        .await
        .unwrap();
    let as_upload = SignedUrl {
        url: download.url.replace("/downloads/", "/uploads/"),
        ..url.clone()
    };
    let (status, ..) = refusal(put(&as_upload, package.clone()).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, ..) = refusal(
        reqwest::get(url.url.replace("/uploads/", "/downloads/"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let mut altered_download = download.url.clone();
    altered_download.pop();
    altered_download.push('x');
    let (status, _, message) = refusal(reqwest::get(&altered_download).await.unwrap()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(message.contains("signature"), "{message}");
}

#[tokio::test]
async fn making_urls_and_deploying_take_the_right_scopes_and_input() {
    let server = TestServer::start();
    let admin = server.client();
    create_function(&server, "app").await;
    let api = |path: &str| format!("{}/api/v1/namespaces/default/functions/{path}", server.url);

    // Lengths outside 1..=the upload limit, or none.
    let limit = 100 * 1024 * 1024u64;
    for body in [
        json!({"content_length": 0}),
        json!({"content_length": limit + 1}),
        json!({"content_length": "many"}),
    ] {
        let response = server
            .http()
            .post(api("app/upload-url"))
            .bearer_auth(&server.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let (status, field, message) = refusal(response).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {message}");
        assert_eq!(field.as_deref(), Some("content_length"), "{body}");
    }
    assert!(
        admin
            .create_upload_url("default", "app", limit)
            .await
            .is_ok()
    );

    // Nothing uploaded yet: nothing to deploy or download.
    for e in [
        admin.deploy_function("default", "app").await.unwrap_err(),
        admin
            .create_download_url("default", "app", None)
            .await
            .unwrap_err(),
    ] {
        assert_eq!(e.status(), Some(StatusCode::CONFLICT), "{e}");
        assert!(matches!(&e, gust_client::ClientError::Api { code, .. } if code == "no_code"));
    }

    // A token that may read but not write: no upload URL, no deploy; a download URL is a read.
    let secret = admin
        .create_token(&json!({"scopes": ["read"]}))
        .await
        .unwrap()
        .token
        .unwrap();
    let reader = Client::new(&server.url, Some(secret));
    let package = hello_package();
    let url = admin
        .create_upload_url("default", "app", package.len() as u64)
        .await
        .unwrap();
    uploaded(put(&url, package.clone()).await).await;
    for e in [
        reader
            .create_upload_url("default", "app", 10)
            .await
            .unwrap_err(),
        reader.deploy_function("default", "app").await.unwrap_err(),
    ] {
        assert_eq!(e.status(), Some(StatusCode::FORBIDDEN), "{e}");
        assert!(e.to_string().contains("`write` scope"), "{e}");
    }
    let download = reader
        .create_download_url("default", "app", None)
        .await
        .unwrap();
    assert!(reader.download(&download).await.unwrap() == package);
    // No token at all: the URLs are made only for callers the API knows.
    let anonymous = Client::new(&server.url, None);
    let e = anonymous
        .create_upload_url("default", "app", 10)
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(StatusCode::UNAUTHORIZED));
}

#[tokio::test]
async fn signed_urls_expire() {
    let server = TestServer::start_with_env(&[], &[("GUST_SIGNED_URL_SECS", "1")]);
    let client = server.client();
    create_function(&server, "app").await;
    let package = hello_package();
    client
        .create_deployment("default", "app", package.clone(), "application/gzip", false)
        .await
        .unwrap();
    let upload = client
        .create_upload_url("default", "app", package.len() as u64)
        .await
        .unwrap();
    let download = client
        .create_download_url("default", "app", None)
        .await
        .unwrap();
    assert!(upload.expires_at <= chrono::Utc::now() + chrono::Duration::seconds(1));
    tokio::time::sleep(Duration::from_millis(1200)).await;

    let (status, _, message) = refusal(put(&upload, package.clone()).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(message.contains("expired"), "{message}");
    let (status, _, message) = refusal(reqwest::get(&download.url).await.unwrap()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(message.contains("expired"), "{message}");
    assert_eq!(
        client
            .list_deployments("default", "app")
            .await
            .unwrap()
            .total,
        1
    );
}

#[tokio::test]
async fn upload_urls_outlive_a_restart_and_stay_single_use() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_in(dir.path(), &[]);
    let client = server.client();
    create_function(&server, "app").await;
    let package = hello_package();
    let first = client
        .create_upload_url("default", "app", package.len() as u64)
        .await
        .unwrap();
    uploaded(put(&first, package.clone()).await).await;
    let pending = client
        .create_upload_url("default", "app", package.len() as u64)
        .await
        .unwrap();
    let download = client
        .create_download_url("default", "app", None)
        .await
        .unwrap();
    let key_file = dir.path().join("url-key");
    let key = std::fs::read(&key_file).unwrap();
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(server.stop(), Some(0));

    let server = TestServer::start_in(dir.path(), &[]);
    assert_eq!(std::fs::read(&key_file).unwrap(), key);
    // Which upload URLs were used is kept in the database: the one used before the restart
    // stays used, the one not used yet uploads once.
    let moved = |url: &SignedUrl| SignedUrl {
        url: url.url.replace(&first_base(&url.url), &server.url),
        ..url.clone()
    };
    let (status, _, message) = refusal(put(&moved(&first), package.clone()).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(message.contains("already used"), "{message}");
    uploaded(put(&moved(&pending), package.clone()).await).await;
    let (status, _, message) = refusal(put(&moved(&pending), package.clone()).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(message.contains("already used"), "{message}");
    let response = reqwest::get(&moved(&download).url).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.bytes().await.unwrap() == package);
}

/// `http://host:port` of a URL.
fn first_base(url: &str) -> String {
    let rest = url.strip_prefix("http://").unwrap();
    format!("http://{}", rest.split('/').next().unwrap())
}

#[tokio::test]
async fn the_cli_makes_upload_urls_deploys_and_downloads() {
    let server = TestServer::start();
    let home = tempfile::tempdir().unwrap();
    create_function(&server, "app").await;
    let package = hello_package();
    let size = package.len().to_string();

    let out = gust(
        &server,
        home.path(),
        &["fn", "upload-url", "app", "--size", &size],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("PUT") && stderr.contains(&size), "{stderr}");
    let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let response = reqwest::Client::new()
        .put(&url)
        .header("content-type", "application/octet-stream")
        .body(package.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let out = gust(&server, home.path(), &["fn", "deploy", "app"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("{}/fn/default/app", server.url)
    );
    assert_eq!(answer(&server.client(), "app").await, HELLO);

    let saved = home.path().join("app.tar.gz");
    let out = gust(
        &server,
        home.path(),
        &["fn", "download", "app", "-o", saved.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::read(&saved).unwrap() == package);

    let out = gust(
        &server,
        home.path(),
        &["fn", "upload-url", "app", "--size", "0"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("content_length") && stderr.contains("hint:"),
        "{stderr}"
    );

    create_function(&server, "empty").await;
    let out = gust(&server, home.path(), &["fn", "deploy", "empty"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("no code to deploy") && stderr.contains("hint: upload code first"),
        "{stderr}"
    );
}
