//! What a network client can do to the server: hostile clients (slow heads, too many
//! connections, oversized heads and bodies, deeply nested JSON) are cut off while others are
//! served; HTTPS with a certificate reloaded on SIGHUP; plain HTTP beside it, redirecting the
//! callers of `http_option: redirected` functions.

use std::process::Command;
use std::time::{Duration, Instant};

use gust_core::FunctionSpec;
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::harness::{TestServer, hello_guest, spec};

/// A connection to the server from another loopback address (all of 127/8 is loopback), so
/// its per-address limits are not the test client's.
async fn connect_from(source: &str, server: &TestServer) -> TcpStream {
    let address = server
        .url
        .trim_start_matches("http://")
        .trim_start_matches("https://");
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    socket.connect(address.parse().unwrap()).await.unwrap()
}

/// Read until the server closes the connection (or `patience` passes); what it sent.
async fn read_to_close(stream: &mut TcpStream, patience: Duration) -> Option<String> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(patience, stream.read_to_end(&mut got)).await;
    match read {
        Ok(_) => Some(String::from_utf8_lossy(&got).into_owned()),
        Err(_) => None,
    }
}

/// A client that opens a connection per request, so it holds no idle ones against the
/// per-address limit (and none the server closes after its header timeout).
fn one_shot_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

async fn healthy(server: &TestServer) {
    let response = one_shot_client()
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn hostile_clients_are_cut_off_while_others_are_served() {
    let server = TestServer::start_with_env(
        &[],
        &[
            ("GUST_HEADER_TIMEOUT_SECS", "1"),
            ("GUST_MAX_CONNECTIONS_PER_IP", "4"),
            ("GUST_MAX_HEADERS", "32"),
            ("GUST_MAX_HEADER_KB", "16"),
        ],
    );

    // Slowloris: a head that never ends is cut off after the header timeout.
    let mut slow = connect_from("127.0.0.2", &server).await;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    healthy(&server).await;
    let answer = read_to_close(&mut slow, Duration::from_secs(10))
        .await
        .expect("the server keeps a never-ending head open");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );

    // Connections from one address: past the limit, a new one is closed at once; others
    // still get in.
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(connect_from("127.0.0.3", &server).await);
    }
    // Let the server admit them before the next arrives.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = connect_from("127.0.0.3", &server).await;
    let _ = extra
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let refused = read_to_close(&mut extra, Duration::from_secs(5))
        .await
        .expect("a connection past the limit is closed");
    assert!(!refused.contains("200 OK"), "{refused}");
    healthy(&server).await;
    drop(idle);
    // Their seats are given back.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut again = connect_from("127.0.0.3", &server).await;
    again
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut again, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // Too many headers, and a head too large: 431.
    let http = one_shot_client();
    let mut many = reqwest::header::HeaderMap::new();
    for i in 0..64 {
        many.insert(
            reqwest::header::HeaderName::from_bytes(format!("x-h{i}").as_bytes()).unwrap(),
            "1".parse().unwrap(),
        );
    }
    let response = http
        .get(format!("{}/healthz", server.url))
        .headers(many)
        .send()
        .await;
    match response {
        Ok(r) => assert_eq!(r.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE),
        Err(e) => assert!(e.is_request() || e.is_connect(), "{e:?}"),
    }
    let response = http
        .get(format!("{}/healthz", server.url))
        .header("x-big", "a".repeat(32 * 1024))
        .send()
        .await;
    match response {
        Ok(r) => assert_eq!(r.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE),
        Err(e) => assert!(e.is_request() || e.is_connect(), "{e:?}"),
    }

    // JSON nested past serde_json's 128 levels, and a body past the API's 2 MiB: refused,
    // nothing made.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let response = http
        .post(format!("{}/api/v1/namespaces", server.url))
        .bearer_auth(&server.token)
        .header("content-type", "application/json")
        .body(deep)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let big = json!({"name": "big", "description": "x".repeat(3 * 1024 * 1024)});
    let response = http
        .post(format!("{}/api/v1/namespaces", server.url))
        .bearer_auth(&server.token)
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let listed: serde_json::Value = http
        .get(format!("{}/api/v1/namespaces", server.url))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|ns| ns["name"] != "big")
    );
    healthy(&server).await;
}

/// A self-signed certificate for 127.0.0.1 and localhost, written as PEM files; the
/// certificate's DER too, to tell certificates apart.
pub(crate) fn certificate(dir: &std::path::Path) -> (String, Vec<u8>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    (cert.pem(), cert.der().to_vec())
}

/// A client that trusts `pem` alone, and reports the certificate each connection got.
fn https_client(pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        .tls_info(true)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn peer_certificate(response: &reqwest::Response) -> Vec<u8> {
    response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .expect("the connection's certificate")
        .to_vec()
}

#[tokio::test]
async fn https_is_served_reloaded_on_sighup_and_plain_http_redirects_where_asked() {
    let certs = tempfile::tempdir().unwrap();
    let (pem, first_der) = certificate(certs.path());
    let cert = certs.path().join("cert.pem");
    let key = certs.path().join("key.pem");
    let server = TestServer::start_with(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
        "--plain-listen",
        "127.0.0.1:0",
    ]);
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
    let plain = server.plain_url.clone().expect("the plain listener");
    assert!(plain.starts_with("http://127.0.0.1:"), "{plain}");

    let https = https_client(&pem);
    let health = https
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(peer_certificate(&health), first_der);
    // Plain HTTP to the TLS port is no request.
    assert!(
        server
            .http()
            .get(format!(
                "{}/healthz",
                server.url.replace("https://", "http://")
            ))
            .send()
            .await
            .map(|r| !r.status().is_success())
            .unwrap_or(true)
    );

    // A function that wants HTTPS: its plain-HTTP callers are sent to the HTTPS port, with
    // the path and query kept; over HTTPS it runs.
    let client =
        gust_client::Client::with_http(&server.url, Some(server.token.clone()), https.clone());
    for (name, http_option) in [
        ("secure", gust_core::HttpOption::Redirected),
        ("open", gust_core::HttpOption::Enabled),
    ] {
        let spec = FunctionSpec {
            name: Some(name.into()),
            runtime: Some("wasm".into()),
            http_option: Some(http_option),
            privacy: Some(gust_core::Privacy::Public),
            ..spec()
        };
        client.create_function("default", &spec).await.unwrap();
        let deployment = client
            .create_deployment("default", name, hello_guest(), "application/wasm", false)
            .await
            .unwrap();
        let built = client
            .wait_for_build("default", name, &deployment.id, Duration::from_secs(300))
            .await
            .unwrap();
        assert_eq!(built.status, gust_core::DeploymentStatus::Ready);
    }
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let moved = no_redirects
        .get(format!("{plain}/fn/default/secure/path?q=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), StatusCode::MOVED_PERMANENTLY);
    let https_port = server.url.rsplit(':').next().unwrap();
    assert_eq!(
        moved.headers()["location"],
        format!("https://127.0.0.1:{https_port}/fn/default/secure/path?q=1").as_str()
    );
    let open = no_redirects
        .get(format!("{plain}/fn/default/open/"))
        .send()
        .await
        .unwrap();
    assert_eq!(open.status(), StatusCode::OK);
    let secure = https
        .get(format!("{}/fn/default/secure/", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(secure.status(), StatusCode::OK);

    // A new certificate, then SIGHUP: new connections get it; one open before keeps its own
    // and is served.
    let mut open_before = tls_connection(&server, &pem).await;
    let (new_pem, new_der) = certificate(certs.path());
    assert_ne!(new_der, first_der);
    let status = Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let fresh = https_client(&new_pem);
        if let Ok(response) = fresh.get(format!("{}/healthz", server.url)).send().await {
            assert_eq!(peer_certificate(&response), new_der);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    open_before
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    open_before.read_to_end(&mut answer).await.unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let (_, session) = open_before.get_ref();
    assert_eq!(session.peer_certificates().unwrap()[0].as_ref(), first_der);
}

/// A TLS connection to the server, trusting `pem` alone.
async fn tls_connection(
    server: &TestServer,
    pem: &str,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let address = server.url.trim_start_matches("https://");
    let tcp = TcpStream::connect(address).await.unwrap();
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect("127.0.0.1".try_into().unwrap(), tcp)
        .await
        .unwrap()
}

#[test]
fn tls_settings_are_checked_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(crate::harness::gust_bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("data"))
            .args(args)
            .output()
            .unwrap()
    };
    let only_cert = run(&["--tls-cert", "/nonexistent.pem"]);
    assert!(!only_cert.status.success());
    assert!(String::from_utf8_lossy(&only_cert.stderr).contains("--tls-key"));
    let missing = run(&[
        "--tls-cert",
        "/nonexistent.pem",
        "--tls-key",
        "/nonexistent.key",
    ]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent.pem"));
    let plain_alone = run(&["--plain-listen", "127.0.0.1:0"]);
    assert!(!plain_alone.status.success());
    assert!(String::from_utf8_lossy(&plain_alone.stderr).contains("--tls-cert"));
}
