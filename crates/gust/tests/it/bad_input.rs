//! Bad input gets a 4xx naming what was wrong, and leaves no half-written record behind.

use gust_core::DeploymentStatus;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{TestServer, command_guest, spec, tar_gz, test_guest};

async fn post_function(server: &TestServer, body: &str) -> (StatusCode, Value) {
    let response = server
        .http()
        .post(format!(
            "{}/api/v1/namespaces/default/functions",
            server.url
        ))
        .bearer_auth(&server.token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn invalid_function_fields_are_named() {
    let server = TestServer::start();
    let (status, body) = post_function(&server, "{\"name\": \"x\",").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("malformed JSON"),
        "{body}"
    );

    let cases = [
        (
            json!({"name": "ok", "runtime": "wasm", "memory_mb": 1_000_000}),
            "memory_mb",
        ),
        (
            json!({"name": "ok", "runtime": "wasm", "memory_mb": -5}),
            "memory_mb",
        ),
        (
            json!({"name": "ok", "runtime": "wasm", "memory_mb": "lots"}),
            "memory_mb",
        ),
        (
            json!({"name": "ok", "runtime": "wasm", "timeout_s": 901}),
            "timeout_s",
        ),
        (json!({"name": "ok", "runtime": "cobol"}), "runtime"),
        // An array is not an object, though serde would read it as the fields in order.
        (
            json!({"name": "ok", "runtime": "wasm", "retention": [60, 10]}),
            "retention",
        ),
        (
            json!({"name": "ok", "runtime": "python3.11", "network": "off"}),
            "network",
        ),
        (json!({"name": "Not A Label", "runtime": "wasm"}), "name"),
        (
            json!({"name": "ok", "runtime": "wasm", "min_scale": 5, "max_scale": 1}),
            "min_scale",
        ),
        (
            json!({"name": "ok", "runtime": "wasm", "env": {"BAD-KEY": "v"}}),
            "env.BAD-KEY",
        ),
        (
            json!({"name": "ok", "runtime": "wasm", "privacy": "secret"}),
            "privacy",
        ),
        (
            json!({"name": "ok", "runtime": "wasm", "memmory_mb": 128}),
            "memmory_mb",
        ),
    ];
    for (body, field) in cases {
        let (status, answer) = post_function(&server, &body.to_string()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer["error"]["field"], field, "{body} → {answer}");
        assert_eq!(answer["error"]["code"], "invalid_value");
    }
    // Nothing was stored by any of the rejected requests.
    assert_eq!(
        server
            .client()
            .list_functions("default", &[])
            .await
            .unwrap()
            .total,
        0
    );

    let bad_query = server
        .http()
        .get(format!(
            "{}/api/v1/namespaces/default/functions?limit=0",
            server.url
        ))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(bad_query.status(), StatusCode::BAD_REQUEST);
    let answer: Value = bad_query.json().await.unwrap();
    assert_eq!(answer["error"]["field"], "limit");
}

#[tokio::test]
async fn duplicates_conflict_and_unknown_ids_are_not_found() {
    let server = TestServer::start();
    let (status, _) = post_function(&server, r#"{"name": "twice", "runtime": "wasm"}"#).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = post_function(
        &server,
        r#"{"name": "twice", "runtime": "wasm", "memory_mb": 256}"#,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "conflict");
    // The original is unchanged.
    assert_eq!(
        server
            .client()
            .get_function("default", "twice")
            .await
            .unwrap()
            .memory_mb,
        128
    );

    let client = server.client();
    for path in [
        "/api/v1/namespaces/nope/functions",
        "/api/v1/namespaces/default/functions/nope",
        "/api/v1/namespaces/default/functions/twice/deployments/0190a0b2-7c1e-7d2a-9f00-1234567890ab",
        "/api/v1/tokens/0190a0b2-7c1e-7d2a-9f00-1234567890ab",
    ] {
        let err = client
            .execute(client.request(reqwest::Method::GET, path))
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(StatusCode::NOT_FOUND), "{path}");
    }
    // A bad PATCH leaves the function as it was.
    let err = client
        .update_function(
            "default",
            "twice",
            &gust_core::FunctionSpec {
                memory_mb: Some(512),
                max_scale: Some(0),
                ..spec()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::BAD_REQUEST));
    assert_eq!(
        client
            .get_function("default", "twice")
            .await
            .unwrap()
            .memory_mb,
        128
    );
}

#[tokio::test]
async fn oversized_uploads_get_413() {
    let server = TestServer::start_with(&["--max-upload-mb", "1"]);
    let client = server.client();
    client
        .create_function(
            "default",
            &gust_core::FunctionSpec {
                name: Some("big".into()),
                runtime: Some("wasm".into()),
                ..spec()
            },
        )
        .await
        .unwrap();
    let big = vec![0u8; 2 * 1024 * 1024];
    let err = client
        .create_deployment("default", "big", big.clone(), "application/wasm", false)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::PAYLOAD_TOO_LARGE));
    // Also without a Content-Length (streamed), the limit holds.
    let stream = futures_util::stream::iter(
        big.chunks(64 * 1024)
            .map(|c| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    );
    let err = client
        .create_deployment(
            "default",
            "big",
            reqwest::Body::wrap_stream(stream),
            "application/wasm",
            false,
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::PAYLOAD_TOO_LARGE));
    assert_eq!(
        client
            .list_deployments("default", "big")
            .await
            .unwrap()
            .total,
        0
    );
    // No partial blob is left behind.
    let tmp = std::fs::read_dir(server.data_dir.join("blobs/tmp"))
        .unwrap()
        .count();
    assert_eq!(tmp, 0);
}

#[tokio::test]
async fn broken_packages_fail_their_build_with_a_reason() {
    let server = TestServer::start();
    let core_module = b"\0asm\x01\0\0\0".to_vec();
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "core",
            core_module,
            "application/wasm",
            "core WebAssembly module, not a component",
        ),
        (
            "corrupt",
            vec![0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5],
            "application/gzip",
            "not a valid .tar.gz",
        ),
        (
            "traversal",
            tar_gz(&[("../../evil.wasm", &test_guest())]),
            "application/gzip",
            "contains `..`",
        ),
        (
            "absolute",
            tar_gz(&[("/etc/evil.wasm", &test_guest())]),
            "application/gzip",
            "absolute path",
        ),
        (
            "nowasm",
            tar_gz(&[("README", b"hi")]),
            "application/gzip",
            "no .wasm file",
        ),
        (
            "garbage",
            b"\0asm\x0d\0\x01\0garbage".to_vec(),
            "application/wasm",
            "does not compile",
        ),
        (
            "command",
            command_guest(),
            "application/wasm",
            "is not a wasi:http proxy",
        ),
    ];
    for (name, code, content_type, reason) in cases {
        let deployment = server.deploy(name, spec(), &code, content_type).await;
        assert_eq!(deployment.status, DeploymentStatus::Failed, "{name}");
        let message = deployment.error_message.clone().unwrap_or_default();
        assert!(message.contains(reason), "{name}: {message}");
        assert!(
            deployment.build_log.contains("build failed"),
            "{name}: {}",
            deployment.build_log
        );
        let function = server.client().get_function("default", name).await.unwrap();
        assert_eq!(function.status, gust_core::FunctionStatus::Error);
        assert!(function.active_deployment.is_none());
    }
    assert!(!server.data_dir.parent().unwrap().join("evil.wasm").exists());
    // Unknown formats are refused at upload, naming the part.
    let client = server.client();
    let err = client
        .create_deployment(
            "default",
            "core",
            b"just text".to_vec(),
            "text/plain",
            false,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, gust_client::ClientError::Api { field: Some(f), .. } if f == "code"),
        "{err:?}"
    );
    // A function without a ready deployment answers 503, not 500.
    let response = client
        .invoke(reqwest::Method::GET, "default", "core", "/", vec![])
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn multipart_uploads_with_a_code_part_work() {
    let server = TestServer::start();
    let client = server.client();
    client
        .create_function(
            "default",
            &gust_core::FunctionSpec {
                name: Some("multi".into()),
                runtime: Some("wasm".into()),
                ..spec()
            },
        )
        .await
        .unwrap();
    let boundary = "gustboundary";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"activate\"\r\n\r\ntrue\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"code\"; filename=\"code.wasm\"\r\n\r\n").as_bytes());
    body.extend_from_slice(&test_guest());
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let deployment = client
        .create_deployment(
            "default",
            "multi",
            body,
            &format!("multipart/form-data; boundary={boundary}"),
            false,
        )
        .await
        .unwrap();
    let built = client
        .wait_for_build(
            "default",
            "multi",
            &deployment.id,
            std::time::Duration::from_secs(120),
        )
        .await
        .unwrap();
    assert_eq!(built.status, DeploymentStatus::Ready, "{}", built.build_log);
    assert_eq!(built.sha256.len(), 64);
}

/// A path segment that is not UTF-8 once percent-decoded gets the JSON envelope naming the
/// parameter, as every other bad input does (axum's own rejection is a plain-text 400).
#[tokio::test]
async fn a_path_segment_that_is_not_utf8_is_a_400_naming_the_parameter() {
    let server = TestServer::start();
    for (path, field) in [
        ("/api/v1/namespaces/%FF", "ns"),
        (
            "/api/v1/namespaces/default/functions/%C3%28/executions",
            "fn",
        ),
        ("/api/v1/edge-applications/%FE/rules", "app"),
    ] {
        let response = server
            .http()
            .get(format!("{}{path}", server.url))
            .bearer_auth(&server.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["field"], field, "{path}: {body}");
        assert_eq!(body["error"]["code"], "invalid_value", "{path}: {body}");
    }
}

/// A JSON array is not an object, though serde reads one as a struct's fields in order: a
/// token or a webhook change must not be made from `[null, …]`.
#[tokio::test]
async fn a_json_body_that_is_not_an_object_is_refused() {
    let server = TestServer::start();
    let client = server.client();
    let tokens_before = client.list_tokens().await.unwrap().total;
    let send = |method: reqwest::Method, path: &str, body: &str| {
        server
            .http()
            .request(method, format!("{}/api/v1{path}", server.url))
            .bearer_auth(&server.token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    let response = send(
        reqwest::Method::POST,
        "/tokens",
        "[null, null, null, null, null, null]",
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["field"], "body", "{body}");
    assert_eq!(client.list_tokens().await.unwrap().total, tokens_before);

    server.deploy_ready("f", spec(), &test_guest()).await;
    let webhook = client
        .create_webhook("default", "f", Some("kept"))
        .await
        .unwrap();
    for body in ["[null, null]", "null", "\"x\"", "7"] {
        let path = format!("/namespaces/default/webhooks/{}", webhook.id);
        let response = send(reqwest::Method::PATCH, &path, body).await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["field"], "body", "{body}: {error}");
    }
    let kept = client.get_webhook("default", &webhook.id).await.unwrap();
    assert_eq!(kept.description, "kept");
}
