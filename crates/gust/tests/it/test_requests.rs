//! Saved test requests: kept per function under a unique name (at most 50), refused naming the
//! field when bad with nothing stored, run through the CLI, and deleted with their function.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{TestServer, cli, cli_stdout, spec, test_guest};

const BASE: &str = "/api/v1/namespaces/default/functions/echoed/test-requests";

/// Sends `method` to `path` with a JSON body; returns the status and the JSON answer (null
/// when empty).
async fn send(
    server: &TestServer,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = server
        .http()
        .request(method.parse().unwrap(), format!("{}{path}", server.url))
        .bearer_auth(&server.token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let bytes = response.bytes().await.unwrap();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, value)
}

#[tokio::test]
async fn test_requests_are_saved_replaced_listed_and_deleted_per_function() {
    let server = TestServer::start();
    server.deploy_ready("echoed", spec(), &test_guest()).await;
    server
        .deploy_ready("elsewhere", spec(), &test_guest())
        .await;

    let order = json!({
        "name": "create-order", "method": "post", "path": "/orders?dry=1",
        "headers": {"content-type": "application/json", "x-trace": "t1"},
        "body": "{\"id\": 42}",
    });
    let (status, created) = send(&server, "POST", BASE, Some(order.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["method"], "POST");
    assert_eq!(created["path"], "/orders?dry=1");
    assert_eq!(created["headers"]["x-trace"], "t1");
    assert_eq!(created["created_at"], created["updated_at"]);
    // A name is unique per function: POST again is a conflict, another function has its own.
    let (status, _) = send(&server, "POST", BASE, Some(order.clone())).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let other = "/api/v1/namespaces/default/functions/elsewhere/test-requests";
    let (status, _) = send(&server, "POST", other, Some(order.clone())).await;
    assert_eq!(status, StatusCode::CREATED);

    // PUT replaces (defaults for what it leaves out) and keeps the creation time.
    let (status, replaced) = send(
        &server,
        "PUT",
        &format!("{BASE}/create-order"),
        Some(json!({"path": "/orders", "body": "{}"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["method"], "GET");
    assert_eq!(replaced["headers"], json!({}));
    assert_eq!(replaced["created_at"], created["created_at"]);
    // PUT of a new name creates it.
    let (status, _) = send(&server, "PUT", &format!("{BASE}/a-smoke"), Some(json!({}))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, listed) = send(&server, "GET", BASE, None).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a-smoke", "create-order"]);
    let (status, got) = send(&server, "GET", &format!("{BASE}/create-order"), None).await;
    assert_eq!((status, &got), (StatusCode::OK, &replaced));

    let (status, _) = send(&server, "DELETE", &format!("{BASE}/a-smoke"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for method in ["GET", "DELETE"] {
        let (status, body) = send(&server, method, &format!("{BASE}/a-smoke"), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method}: {body}");
    }

    // Deleted with their function: a new function of the same name starts with none.
    server
        .client()
        .delete_function("default", "echoed")
        .await
        .unwrap();
    server.deploy_ready("echoed", spec(), &test_guest()).await;
    let (status, listed) = send(&server, "GET", BASE, None).await;
    assert_eq!((status, listed), (StatusCode::OK, json!([])));
    let (_, kept) = send(&server, "GET", other, None).await;
    assert_eq!(kept.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn bad_test_requests_are_refused_naming_the_field_and_nothing_is_stored() {
    let server = TestServer::start();
    server.deploy_ready("echoed", spec(), &test_guest()).await;
    let (status, kept) = send(
        &server,
        "POST",
        BASE,
        Some(json!({"name": "kept", "body": "as is"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    let big = "b".repeat(256 * 1024 + 1);
    for (method, path, body, field) in [
        ("POST", BASE.to_string(), json!({}), "name"),
        (
            "POST",
            BASE.to_string(),
            json!({"name": "bad/name"}),
            "name",
        ),
        ("POST", BASE.to_string(), json!({"name": ".hidden"}), "name"),
        (
            "POST",
            BASE.to_string(),
            json!({"name": "x", "method": "BREW"}),
            "method",
        ),
        (
            "POST",
            BASE.to_string(),
            json!({"name": "x", "method": 7}),
            "method",
        ),
        (
            "POST",
            BASE.to_string(),
            json!({"name": "x", "path": "no-slash"}),
            "path",
        ),
        (
            "POST",
            BASE.to_string(),
            json!({"name": "x", "path": "/a b"}),
            "path",
        ),
        (
            "POST",
            BASE.to_string(),
            json!({"name": "x", "headers": {"bad name": "v"}}),
            "headers.bad name",
        ),
        (
            "POST",
            BASE.to_string(),
            json!({"name": "x", "headers": {"x-a": "v\r\nx-b: w"}}),
            "headers.x-a",
        ),
        (
            "POST",
            BASE.to_string(),
            json!({"name": "x", "headers": ["x"]}),
            "headers",
        ),
        (
            "POST",
            BASE.to_string(),
            json!({"name": "x", "body": big}),
            "body",
        ),
        (
            "POST",
            BASE.to_string(),
            json!({"name": "x", "bdy": "typo"}),
            "bdy",
        ),
        // Replacing with bad values leaves the stored one as it was.
        (
            "PUT",
            format!("{BASE}/kept"),
            json!({"method": "BREW"}),
            "method",
        ),
        (
            "PUT",
            format!("{BASE}/kept"),
            json!({"name": "other"}),
            "name",
        ),
        (
            "PUT",
            format!("{BASE}/kept"),
            json!({"body": "b".repeat(256 * 1024 + 1)}),
            "body",
        ),
        ("PUT", format!("{BASE}/bad%20name"), json!({}), "name"),
    ] {
        let (status, answer) = send(&server, method, &path, Some(body.clone())).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{method} {path} {body}: {answer}"
        );
        assert_eq!(
            answer["error"]["field"], field,
            "{method} {path} {body}: {answer}"
        );
    }
    let (_, listed) = send(&server, "GET", BASE, None).await;
    assert_eq!(listed, json!([kept]));

    // At most 50 per function: the 51st new name is refused, replacing one still works.
    for i in 1..50 {
        let (status, _) = send(
            &server,
            "POST",
            BASE,
            Some(json!({"name": format!("r{i}")})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "request {i}");
    }
    let (status, answer) = send(&server, "POST", BASE, Some(json!({"name": "one-too-many"}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    let (status, _) = send(
        &server,
        "PUT",
        &format!("{BASE}/one-too-many"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = send(
        &server,
        "PUT",
        &format!("{BASE}/r1"),
        Some(json!({"body": "new"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, listed) = send(&server, "GET", BASE, None).await;
    assert_eq!(listed.as_array().unwrap().len(), 50);

    let (status, _) = send(
        &server,
        "GET",
        "/api/v1/namespaces/default/functions/missing/test-requests",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_cli_saves_lists_runs_and_deletes_test_requests() {
    let server = TestServer::start();
    server.deploy_ready("echoed", spec(), &test_guest()).await;
    let home = tempfile::tempdir().unwrap();
    let gust = |args: &[&str]| cli(&server, home.path(), args);

    let saved = gust(&[
        "fn",
        "test-request",
        "save",
        "echoed",
        "order",
        "--path",
        "/orders?dry=1",
        "-H",
        "x-trace: t1",
        "--data",
        "{\"id\": 42}",
    ]);
    cli_stdout(&saved);
    let list = cli_stdout(&gust(&["fn", "test-request", "list", "echoed"]));
    let row = list
        .lines()
        .find(|l| l.trim_start().starts_with("order"))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(
        row.contains("POST") && row.contains("/orders?dry=1"),
        "{list}"
    );

    // Running it invokes the function with the saved method, path, headers and body.
    let ran = cli_stdout(&gust(&["fn", "test-request", "run", "echoed", "order"]));
    let echo: Value = serde_json::from_str(&ran).unwrap_or_else(|e| panic!("{e}: {ran}"));
    assert_eq!(echo["method"], "POST", "{echo}");
    assert_eq!(echo["headers"]["x-trace"], "t1", "{echo}");
    assert_eq!(echo["body"], "{\"id\": 42}", "{echo}");
    assert!(
        echo["path"].as_str().unwrap().starts_with("/orders"),
        "{echo}"
    );
    let executions = server
        .client()
        .list_executions("default", "echoed", &[])
        .await
        .unwrap();
    assert_eq!(executions.total, 1);

    cli_stdout(&gust(&["fn", "test-request", "delete", "echoed", "order"]));
    let gone = gust(&["fn", "test-request", "run", "echoed", "order"]);
    assert!(!gone.status.success());
    assert!(
        String::from_utf8_lossy(&gone.stderr).contains("not found"),
        "{gone:?}"
    );
    let bad = gust(&["fn", "test-request", "save", "echoed", "x", "-X", "BREW"]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("method"),
        "{bad:?}"
    );
    assert!(
        server
            .client()
            .list_test_requests("default", "echoed")
            .await
            .unwrap()
            .is_empty()
    );
}
