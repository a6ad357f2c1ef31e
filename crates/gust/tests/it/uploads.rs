//! Deployments uploaded in chunks (`Content-Range`), through a running server: a package larger
//! than one request sent in pieces builds and serves; an interrupted upload resumes from what
//! the server holds, across a restart too; chunks out of place or of another upload are refused
//! with nothing changed; an upload left unfinished is pruned; the CLI sends large packages in
//! chunks and resumes one.

use std::time::{Duration, Instant};

use gust_core::{Deployment, DeploymentStatus};
use reqwest::StatusCode;

use crate::harness::{TestServer, cli as gust, hello_guest, spec, tar_gz};

const MIB: usize = 1024 * 1024;

/// A .tar.gz holding the hello component and 6 MiB that do not compress: larger than the
/// 5 MiB chunks clients send.
fn large_package() -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let padding: Vec<u8> = (0..6 * MIB)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let package = tar_gz(&[("app.wasm", &hello_guest()), ("padding.bin", &padding)]);
    assert!(package.len() > 6 * MIB);
    package
}

fn deployments_url(server: &TestServer, f: &str) -> String {
    format!(
        "{}/api/v1/namespaces/default/functions/{f}/deployments",
        server.url
    )
}

fn content_range(start: usize, end: usize, total: usize) -> String {
    format!("bytes {start}-{}/{total}", end - 1)
}

/// Bytes `start..end` of `code` as a raw chunk: to the collection when `id` is None (the first
/// chunk), else to the deployment's `code`.
async fn send(
    server: &TestServer,
    f: &str,
    id: Option<&str>,
    code: &[u8],
    (start, end): (usize, usize),
) -> reqwest::Response {
    let request = match id {
        None => server
            .http()
            .post(deployments_url(server, f))
            .header("content-type", "application/gzip"),
        Some(id) => server
            .http()
            .put(format!("{}/{id}/code", deployments_url(server, f))),
    };
    request
        .bearer_auth(&server.token)
        .header("content-range", content_range(start, end, code.len()))
        .body(code[start..end].to_vec())
        .send()
        .await
        .unwrap()
}

async fn deployment(response: reqwest::Response, status: StatusCode) -> Deployment {
    assert_eq!(response.status(), status);
    response.json().await.unwrap()
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

async fn create_function(server: &TestServer, name: &str) {
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
        .unwrap();
}

async fn built(server: &TestServer, f: &str, id: &str) -> Deployment {
    let d = server
        .client()
        .wait_for_build("default", f, id, Duration::from_secs(120))
        .await
        .unwrap();
    assert_eq!(d.status, DeploymentStatus::Ready, "{}", d.build_log);
    d
}

async fn answers_hello(server: &TestServer, f: &str) {
    let body = server
        .client()
        .invoke(reqwest::Method::GET, "default", f, "/chunked", vec![])
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "hello from gust\nmethod: GET\npath: /chunked\n");
}

#[tokio::test]
async fn a_package_sent_in_chunks_builds_and_serves() {
    let server = TestServer::start();
    create_function(&server, "big").await;
    let code = large_package();
    let total = code.len();
    let cuts = [0, 2 * MIB, 4 * MIB, 6 * MIB, total];

    let first = deployment(
        send(&server, "big", None, &code, (0, cuts[1])).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(first.status, DeploymentStatus::Uploading);
    assert_eq!((first.received, first.size), (cuts[1] as u64, total as u64));

    // The second chunk as a multipart `code` part, as form-posting clients send it.
    let boundary = "gust-chunk-boundary";
    let mut form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"code\"; \
         filename=\"big.tar.gz\"\r\nContent-Type: application/gzip\r\n\r\n"
    )
    .into_bytes();
    form.extend_from_slice(&code[cuts[1]..cuts[2]]);
    form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let second = server
        .http()
        .put(format!(
            "{}/{}/code",
            deployments_url(&server, "big"),
            first.id
        ))
        .bearer_auth(&server.token)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .header("content-range", content_range(cuts[1], cuts[2], total))
        .body(form)
        .send()
        .await
        .unwrap();
    let second = deployment(second, StatusCode::OK).await;
    assert_eq!(second.received, cuts[2] as u64);

    let third = deployment(
        send(&server, "big", Some(&first.id), &code, (cuts[2], cuts[3])).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(third.status, DeploymentStatus::Uploading);
    let last = deployment(
        send(&server, "big", Some(&first.id), &code, (cuts[3], total)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(last.status, DeploymentStatus::Waiting);
    assert_eq!(last.received, total as u64);

    built(&server, "big", &first.id).await;
    answers_hello(&server, "big").await;
    let stored = server
        .http()
        .get(format!(
            "{}/{}/code",
            deployments_url(&server, "big"),
            first.id
        ))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(stored == code, "the stored package is the one sent");
}

#[tokio::test]
async fn an_interrupted_upload_resumes_from_what_the_server_holds() {
    let server = TestServer::start();
    create_function(&server, "resumed").await;
    create_function(&server, "other").await;
    let code = large_package();
    let total = code.len();
    let first = deployment(
        send(&server, "resumed", None, &code, (0, 3 * MIB)).await,
        StatusCode::CREATED,
    )
    .await;
    let id = first.id.clone();

    // The second chunk's connection breaks half way.
    let half: Vec<u8> = code[3 * MIB..4 * MIB].to_vec();
    let broken = futures_util::stream::iter([
        Ok(bytes::Bytes::from(half)),
        Err(std::io::Error::other("the network went away")),
    ]);
    let cut = server
        .http()
        .put(format!("{}/{id}/code", deployments_url(&server, "resumed")))
        .bearer_auth(&server.token)
        .header("content-range", content_range(3 * MIB, 6 * MIB, total))
        .body(reqwest::Body::wrap_stream(broken))
        .send()
        .await;
    assert!(cut.is_err(), "the request never completed");

    // The client reads where the upload stands.
    let client = server.client();
    let now = client
        .get_deployment("default", "resumed", &id)
        .await
        .unwrap();
    assert_eq!(now.status, DeploymentStatus::Uploading);
    assert_eq!(now.received, 3 * MIB as u64);

    // The first chunk again (its answer lost, say): accepted, nothing changes.
    let again = deployment(
        send(&server, "resumed", Some(&id), &code, (0, 3 * MIB)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(again, now);

    // A chunk past the end of what arrived, and one overlapping it: refused, naming the offset.
    for span in [(4 * MIB, 5 * MIB), (2 * MIB, 4 * MIB)] {
        let (status, field, message) =
            refusal(send(&server, "resumed", Some(&id), &code, span).await).await;
        assert_eq!(status, StatusCode::RANGE_NOT_SATISFIABLE, "{message}");
        assert_eq!(field.as_deref(), Some("Content-Range"));
        assert!(
            message.contains(&format!("start at byte {}", 3 * MIB)),
            "{message}"
        );
    }
    // A total other than the first chunk announced.
    let wrong_total = server
        .http()
        .put(format!("{}/{id}/code", deployments_url(&server, "resumed")))
        .bearer_auth(&server.token)
        .header("content-range", content_range(3 * MIB, 4 * MIB, total + 1))
        .body(code[3 * MIB..4 * MIB].to_vec())
        .send()
        .await
        .unwrap();
    let (status, field, message) = refusal(wrong_total).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{message}");
    assert_eq!(field.as_deref(), Some("Content-Range"));
    // A chunk sent to the deployment through another function.
    let (status, ..) =
        refusal(send(&server, "other", Some(&id), &code, (3 * MIB, 4 * MIB)).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // No Content-Range at all.
    let bare = server
        .http()
        .put(format!("{}/{id}/code", deployments_url(&server, "resumed")))
        .bearer_auth(&server.token)
        .body(code[3 * MIB..4 * MIB].to_vec())
        .send()
        .await
        .unwrap();
    let (status, field, _) = refusal(bare).await;
    assert_eq!(
        (status, field.as_deref()),
        (StatusCode::BAD_REQUEST, Some("Content-Range"))
    );
    assert_eq!(
        client
            .get_deployment("default", "resumed", &id)
            .await
            .unwrap(),
        now,
        "nothing changed"
    );

    // The rest, from where the server said.
    deployment(
        send(&server, "resumed", Some(&id), &code, (3 * MIB, total)).await,
        StatusCode::OK,
    )
    .await;
    built(&server, "resumed", &id).await;
    answers_hello(&server, "resumed").await;
}

#[tokio::test]
async fn an_upload_goes_on_after_a_restart_of_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_in(dir.path(), &[]);
    create_function(&server, "durable").await;
    let code = large_package();
    let first = deployment(
        send(&server, "durable", None, &code, (0, 4 * MIB)).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(server.stop(), Some(0));

    let server = TestServer::start_in(dir.path(), &[]);
    let now = server
        .client()
        .get_deployment("default", "durable", &first.id)
        .await
        .unwrap();
    assert_eq!(
        now.status,
        DeploymentStatus::Uploading,
        "no build of a part"
    );
    assert_eq!(now.received, 4 * MIB as u64);
    deployment(
        send(
            &server,
            "durable",
            Some(&first.id),
            &code,
            (4 * MIB, code.len()),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    built(&server, "durable", &first.id).await;
    answers_hello(&server, "durable").await;
}

#[tokio::test]
async fn an_upload_left_unfinished_is_pruned_with_its_bytes() {
    let server = TestServer::start_with_env(
        &[],
        &[
            ("GUST_UPLOAD_EXPIRY_SECS", "1"),
            ("GUST_RETENTION_INTERVAL_SECS", "1"),
        ],
    );
    create_function(&server, "abandoned").await;
    let code = large_package();
    let first = deployment(
        send(&server, "abandoned", None, &code, (0, MIB)).await,
        StatusCode::CREATED,
    )
    .await;
    let staged = server.data_dir.join("uploads").join(&first.id);
    assert!(staged.exists());
    let client = server.client();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match client
            .get_deployment("default", "abandoned", &first.id)
            .await
        {
            Err(e) if e.status() == Some(StatusCode::NOT_FOUND) => break,
            Ok(d) => assert_eq!(d.status, DeploymentStatus::Uploading),
            Err(e) => panic!("{e}"),
        }
        assert!(Instant::now() < deadline, "the upload was never pruned");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(!staged.exists());
    let (status, ..) =
        refusal(send(&server, "abandoned", Some(&first.id), &code, (MIB, 2 * MIB)).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_cli_deploys_a_large_package_in_chunks_and_resumes_one() {
    let server = TestServer::start();
    let home = tempfile::tempdir().unwrap();
    let code = large_package();
    let path = home.path().join("big.tar.gz");
    std::fs::write(&path, &code).unwrap();
    let path = path.to_str().unwrap();

    let out = gust(
        &server,
        home.path(),
        &["deploy", path, "--name", "cli-big", "--chunk-mib", "2"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("{}/fn/default/cli-big", server.url)
    );
    answers_hello(&server, "cli-big").await;
    let client = server.client();
    let listed = client.list_deployments("default", "cli-big").await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].size, code.len() as u64);

    // An upload an earlier run left unfinished: the CLI sends only the rest.
    create_function(&server, "cli-resumed").await;
    let first = deployment(
        send(&server, "cli-resumed", None, &code, (0, 3 * MIB)).await,
        StatusCode::CREATED,
    )
    .await;
    let out = gust(
        &server,
        home.path(),
        &[
            "deploy",
            path,
            "--name",
            "cli-resumed",
            "--chunk-mib",
            "2",
            "--resume",
            &first.id,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = client
        .list_deployments("default", "cli-resumed")
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1, "the same deployment, finished");
    assert_eq!(listed.items[0].id, first.id);
    assert_eq!(listed.items[0].status, DeploymentStatus::Ready);
    answers_hello(&server, "cli-resumed").await;
}
