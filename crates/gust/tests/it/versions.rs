//! Versions and aliases end to end: `/fn/{ns}/{fn}:{version}` and `:{alias}` run the snapshot's
//! code and configuration, not the function's current ones; the rules Qinling has (a version
//! needs new code, at most ten, no deleting what an alias or a version uses); executions name
//! the version and alias that ran; a version's workers are listed and detached on their own;
//! all of it survives a restart and is reachable from the CLI.

use std::time::Duration;

use gust_core::{AliasPatch, AliasSpec, FunctionSpec, MAX_VERSIONS, Privacy, VersionSpec};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{TestServer, cli, cli_stdout, hello_guest, spec, tar_gz, test_guest};

fn env(key: &str, value: &str) -> FunctionSpec {
    FunctionSpec {
        env: Some([(key.to_string(), value.to_string())].into()),
        ..spec()
    }
}

/// Deploy `code` to an existing function, make it active once built, and wait for that.
async fn redeploy(server: &TestServer, function: &str, code: Vec<u8>, content_type: &str) {
    let client = server.client();
    let deployment = client
        .create_deployment("default", function, code, content_type, true)
        .await
        .unwrap();
    let built = client
        .wait_for_build(
            "default",
            function,
            &deployment.id,
            Duration::from_secs(120),
        )
        .await
        .unwrap();
    assert_eq!(
        built.status,
        gust_core::DeploymentStatus::Ready,
        "{}",
        built.build_log
    );
    let function = client.get_function("default", function).await.unwrap();
    assert_eq!(
        function.active_deployment.as_deref(),
        Some(built.id.as_str())
    );
}

/// The test guest packed in a `.tar.gz` with a note: the same component, another package.
fn packed_guest(note: &str) -> Vec<u8> {
    tar_gz(&[("guest.wasm", &test_guest()), ("note.txt", note.as_bytes())])
}

async fn get(server: &TestServer, path: &str) -> reqwest::Response {
    server
        .http()
        .get(format!("{}{path}", server.url))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap()
}

async fn text(server: &TestServer, path: &str) -> String {
    let response = get(server, path).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.text().await.unwrap()
}

/// A request to `/api/v1/namespaces/default{path}`: its status and JSON answer.
async fn api(
    server: &TestServer,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = server
        .http()
        .request(
            method,
            format!("{}/api/v1/namespaces/default{path}", server.url),
        )
        .bearer_auth(&server.token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let bytes = response.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

fn execution_id(response: &reqwest::Response) -> String {
    response.headers()["x-gust-execution-id"]
        .to_str()
        .unwrap()
        .to_string()
}

/// A function `f` with three configurations: version 1 (the test guest, MARK=one), version 2
/// (the hello guest, MARK=two) and the current one (the test guest packed, MARK=three).
async fn three_configurations(server: &TestServer) {
    server
        .deploy_ready("f", env("MARK", "one"), &test_guest())
        .await;
    let client = server.client();
    let one = client
        .create_version(
            "default",
            "f",
            &VersionSpec {
                description: Some("first".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(one.number, 1);
    assert_eq!(one.config.env["MARK"], "one");
    client
        .update_function("default", "f", &env("MARK", "two"))
        .await
        .unwrap();
    redeploy(server, "f", hello_guest(), "application/wasm").await;
    let two = client
        .create_version("default", "f", &VersionSpec::default())
        .await
        .unwrap();
    assert_eq!(two.number, 2);
    assert_ne!(two.sha256, one.sha256);
    client
        .update_function("default", "f", &env("MARK", "three"))
        .await
        .unwrap();
    redeploy(server, "f", packed_guest("current"), "application/gzip").await;
}

#[tokio::test]
async fn versions_run_their_own_code_and_configuration() {
    let server = TestServer::start();
    three_configurations(&server).await;
    let client = server.client();

    assert_eq!(text(&server, "/fn/default/f:1/env?name=MARK").await, "one");
    assert_eq!(
        text(&server, "/fn/default/f:2/v2").await,
        "hello from gust\nmethod: GET\npath: /v2\n"
    );
    assert_eq!(text(&server, "/fn/default/f/env?name=MARK").await, "three");
    // By the function's id too.
    let function = client.get_function("default", "f").await.unwrap();
    assert_eq!(
        text(
            &server,
            &format!("/fn/default/{}:1/env?name=MARK", function.id)
        )
        .await,
        "one"
    );

    // The record names the version that ran, and its deployment.
    let response = get(&server, "/fn/default/f:1/env?name=MARK").await;
    let record = client
        .get_execution("default", "f", &execution_id(&response))
        .await
        .unwrap();
    assert_eq!((record.function_version, record.alias), (Some(1), None));
    let versions = client.list_versions("default", "f").await.unwrap();
    assert_eq!(
        record.deployment_id.as_deref(),
        Some(versions.items[0].deployment_id.as_str())
    );
    let response = get(&server, "/fn/default/f/").await;
    let record = client
        .get_execution("default", "f", &execution_id(&response))
        .await
        .unwrap();
    assert_eq!(record.function_version, None);

    // Versions are listed, read, and give their package back byte for byte.
    assert_eq!(versions.total, 2);
    assert_eq!(versions.items[0].description, "first");
    assert_eq!(
        client.get_version("default", "f", 2).await.unwrap(),
        versions.items[1]
    );
    assert_eq!(
        client
            .version_code("default", "f", 1)
            .await
            .unwrap()
            .as_ref(),
        test_guest().as_slice()
    );
    assert_eq!(
        client
            .version_code("default", "f", 2)
            .await
            .unwrap()
            .as_ref(),
        hello_guest().as_slice()
    );

    // Secrets are kept in the snapshot and masked in every answer.
    let secret = |value: &str| FunctionSpec {
        secrets: Some([("TOKEN".to_string(), value.to_string())].into()),
        ..spec()
    };
    client
        .update_function("default", "f", &secret("hunter2"))
        .await
        .unwrap();
    redeploy(&server, "f", packed_guest("secret"), "application/gzip").await;
    let three = client
        .create_version("default", "f", &VersionSpec::default())
        .await
        .unwrap();
    assert_eq!(three.number, 3);
    let (_, raw) = api(&server, Method::GET, "/functions/f/versions/3", None).await;
    assert_eq!(raw["config"]["secrets"]["TOKEN"], "********", "{raw}");
    client
        .update_function("default", "f", &secret("changed"))
        .await
        .unwrap();
    assert_eq!(
        text(&server, "/fn/default/f:3/env?name=TOKEN").await,
        "hunter2"
    );
    assert_eq!(
        text(&server, "/fn/default/f/env?name=TOKEN").await,
        "changed"
    );

    // Privacy is the function's current one: private, then public.
    let anonymous = |path: &'static str| {
        let url = format!("{}{path}", server.url);
        async move { reqwest::get(url).await.unwrap() }
    };
    assert_eq!(
        anonymous("/fn/default/f:1/").await.status(),
        StatusCode::UNAUTHORIZED
    );
    client
        .update_function(
            "default",
            "f",
            &FunctionSpec {
                privacy: Some(Privacy::Public),
                ..spec()
            },
        )
        .await
        .unwrap();
    let opened = anonymous("/fn/default/f:1/env?name=MARK").await;
    assert_eq!(opened.status(), StatusCode::OK);
    assert_eq!(opened.text().await.unwrap(), "one");

    // Unknown versions and aliases are 404s that name them.
    for (path, names) in [
        ("/fn/default/f:9/", "9"),
        ("/fn/default/f:nope/", "nope"),
        ("/fn/default/f:0/", "0"),
        ("/fn/default/ghost:1/", "ghost"),
    ] {
        let response = get(&server, path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let body: Value = response.json().await.unwrap();
        assert!(message(&body).contains(names), "{path}: {body}");
    }

    // A deleted version stops serving at once.
    client.delete_version("default", "f", 3).await.unwrap();
    assert_eq!(
        get(&server, "/fn/default/f:3/").await.status(),
        StatusCode::NOT_FOUND
    );
    let (status, body) = api(&server, Method::GET, "/functions/f/versions/x", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["field"], "number");
}

#[tokio::test]
async fn a_version_needs_new_code_and_a_function_has_at_most_ten() {
    let server = TestServer::start();
    let client = server.client();
    // Nothing deployed: nothing to make a version of.
    client
        .create_function(
            "default",
            &FunctionSpec {
                name: Some("empty".into()),
                runtime: Some("wasm".into()),
                ..spec()
            },
        )
        .await
        .unwrap();
    let versions_of = |f: &str| format!("/functions/{f}/versions");
    let (status, body) = api(
        &server,
        Method::POST,
        &versions_of("empty"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "no_code");

    server.deploy_ready("g", spec(), &test_guest()).await;
    client
        .create_version("default", "g", &VersionSpec::default())
        .await
        .unwrap();
    // The same code again, even with another configuration: refused.
    client
        .update_function("default", "g", &env("MARK", "changed"))
        .await
        .unwrap();
    let (status, body) = api(&server, Method::POST, &versions_of("g"), Some(json!({}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(message(&body).contains("unchanged"), "{body}");
    let (status, body) = api(
        &server,
        Method::POST,
        &versions_of("g"),
        Some(json!({"descr": "x"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    for n in 2..=MAX_VERSIONS {
        redeploy(
            &server,
            "g",
            packed_guest(&n.to_string()),
            "application/gzip",
        )
        .await;
        let made = client
            .create_version("default", "g", &VersionSpec::default())
            .await
            .unwrap();
        assert_eq!(made.number, n);
    }
    redeploy(&server, "g", packed_guest("eleventh"), "application/gzip").await;
    let (status, body) = api(&server, Method::POST, &versions_of("g"), Some(json!({}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(message(&body).contains(&MAX_VERSIONS.to_string()), "{body}");
    assert_eq!(
        client.list_versions("default", "g").await.unwrap().total,
        u64::from(MAX_VERSIONS)
    );

    // Room again once one is deleted; numbers go on from the highest.
    client.delete_version("default", "g", 4).await.unwrap();
    let made = client
        .create_version("default", "g", &VersionSpec::default())
        .await
        .unwrap();
    assert_eq!(made.number, MAX_VERSIONS + 1);

    // The deployment a version runs cannot be deleted while the version exists.
    let one = client.get_version("default", "g", 1).await.unwrap();
    let deployment = format!("/functions/g/deployments/{}", one.deployment_id);
    let (status, body) = api(&server, Method::DELETE, &deployment, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(message(&body).contains("version 1"), "{body}");
    client.delete_version("default", "g", 1).await.unwrap();
    let (status, body) = api(&server, Method::DELETE, &deployment, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}

#[tokio::test]
async fn aliases_route_to_a_version_and_move() {
    let server = TestServer::start();
    three_configurations(&server).await;
    server
        .deploy_ready("other", env("MARK", "other"), &test_guest())
        .await;
    let client = server.client();
    let move_prod = |patch: AliasPatch| {
        let client = client.clone();
        async move {
            client
                .update_alias("default", "prod", &patch)
                .await
                .unwrap()
        }
    };

    let prod = client
        .create_alias(
            "default",
            &AliasSpec {
                name: Some("prod".into()),
                function: Some("f".into()),
                version: Some(1),
                description: Some("production".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!((prod.function.as_str(), prod.version), ("f", Some(1)));
    assert_eq!(
        text(&server, "/fn/default/f:prod/env?name=MARK").await,
        "one"
    );
    let response = get(&server, "/fn/default/f:prod/env?name=MARK").await;
    let record = client
        .get_execution("default", "f", &execution_id(&response))
        .await
        .unwrap();
    assert_eq!(
        (record.function_version, record.alias.as_deref()),
        (Some(1), Some("prod"))
    );

    // Moved to version 2, to the current configuration, and back.
    let moved = move_prod(AliasPatch {
        version: Some(2),
        ..AliasPatch::default()
    })
    .await;
    assert_eq!(
        (moved.version, moved.description.as_str()),
        (Some(2), "production")
    );
    assert_eq!(
        text(&server, "/fn/default/f:prod/x").await,
        "hello from gust\nmethod: GET\npath: /x\n"
    );
    move_prod(AliasPatch {
        version: Some(0),
        ..AliasPatch::default()
    })
    .await;
    assert_eq!(
        text(&server, "/fn/default/f:prod/env?name=MARK").await,
        "three"
    );
    move_prod(AliasPatch {
        version: Some(2),
        ..AliasPatch::default()
    })
    .await;

    // An alias answers only for its function.
    let response = get(&server, "/fn/default/other:prod/").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = response.json().await.unwrap();
    assert!(message(&body).contains("prod"), "{body}");

    // Executions through the API name a version or an alias.
    let executions = "/functions/f/executions";
    let (status, ran) = api(
        &server,
        Method::POST,
        executions,
        Some(json!({"method": "GET", "path": "/env?name=MARK", "version": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{ran}");
    assert_eq!(ran["response"]["body"], "one");
    assert_eq!(
        (&ran["function_version"], &ran["alias"]),
        (&json!(1), &Value::Null)
    );
    let (status, ran) = api(
        &server,
        Method::POST,
        executions,
        Some(json!({"method": "GET", "path": "/y", "alias": "prod"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{ran}");
    assert_eq!(
        ran["response"]["body"],
        "hello from gust\nmethod: GET\npath: /y\n"
    );
    assert_eq!(
        (&ran["function_version"], &ran["alias"]),
        (&json!(2), &json!("prod"))
    );
    let stored = client
        .get_execution("default", "f", ran["id"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(
        (stored.function_version, stored.alias.as_deref()),
        (Some(2), Some("prod"))
    );
    // Async with a version: queued, then run on that version.
    let (status, queued) = api(
        &server,
        Method::POST,
        executions,
        Some(json!({"method": "GET", "path": "/env?name=MARK", "version": 1, "async": true})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    let done = client
        .wait_for_execution(
            "default",
            "f",
            queued["id"].as_str().unwrap(),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert_eq!(done.function_version, Some(1));
    assert_eq!(done.response.unwrap().body.body, "one");
    for (input, status, names) in [
        (json!({"version": 9}), StatusCode::NOT_FOUND, "9"),
        (json!({"alias": "nope"}), StatusCode::NOT_FOUND, "nope"),
        (
            json!({"alias": "Bad Name"}),
            StatusCode::BAD_REQUEST,
            "alias",
        ),
        (
            json!({"alias": "prod", "version": 1}),
            StatusCode::BAD_REQUEST,
            "alias",
        ),
    ] {
        let (got, body) = api(&server, Method::POST, executions, Some(input.clone())).await;
        assert_eq!(got, status, "{input}: {body}");
        assert!(
            message(&body).contains(names) || body["error"]["field"] == names,
            "{input}: {body}"
        );
    }

    // Names are checked and unique; what an alias uses stays.
    for (bad, field) in [
        (json!({"name": "Bad Name", "function": "f"}), "name"),
        (json!({"name": "2", "function": "f"}), "name"),
        (json!({"function": "f"}), "name"),
        (json!({"name": "ok"}), "function"),
        (json!({"name": "ok", "function": "f", "extra": 1}), ""),
    ] {
        let (status, body) = api(&server, Method::POST, "/aliases", Some(bad.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        if !field.is_empty() {
            assert_eq!(body["error"]["field"], field, "{bad}: {body}");
        }
    }
    let (status, body) = api(
        &server,
        Method::POST,
        "/aliases",
        Some(json!({"name": "prod", "function": "other"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["field"], "name");
    let (status, body) = api(
        &server,
        Method::POST,
        "/aliases",
        Some(json!({"name": "beta", "function": "f", "version": 7})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(message(&body).contains('7'), "{body}");
    let (status, body) = api(&server, Method::DELETE, "/functions/f/versions/2", None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(message(&body).contains("prod"), "{body}");
    let (status, body) = api(&server, Method::DELETE, "/functions/f", None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(message(&body).contains("prod"), "{body}");

    // Listed per namespace and per function; moved to another function.
    let stage = client
        .create_alias(
            "default",
            &AliasSpec {
                name: Some("stage".into()),
                function: Some("other".into()),
                ..AliasSpec::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(stage.version, None);
    assert_eq!(client.list_aliases("default", None).await.unwrap().total, 2);
    let of_f = client.list_aliases("default", Some("f")).await.unwrap();
    assert_eq!(of_f.items.len(), 1);
    assert_eq!(of_f.items[0].name, "prod");
    move_prod(AliasPatch {
        function: Some("other".into()),
        version: Some(0),
        ..AliasPatch::default()
    })
    .await;
    assert_eq!(
        text(&server, "/fn/default/other:prod/env?name=MARK").await,
        "other"
    );
    assert_eq!(
        get(&server, "/fn/default/f:prod/").await.status(),
        StatusCode::NOT_FOUND
    );

    // Deleted: gone from routing; then the version and the function may go.
    client.delete_alias("default", "prod").await.unwrap();
    assert_eq!(
        get(&server, "/fn/default/other:prod/").await.status(),
        StatusCode::NOT_FOUND
    );
    let missing = client.get_alias("default", "prod").await.unwrap_err();
    assert_eq!(missing.status(), Some(StatusCode::NOT_FOUND));
    assert!(missing.to_string().contains("prod"), "{missing}");
    client.delete_version("default", "f", 2).await.unwrap();
    client.delete_function("default", "f").await.unwrap();
    assert_eq!(
        get(&server, "/fn/default/f:1/").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_versions_workers_are_listed_and_detached_on_their_own() {
    let server = TestServer::start();
    let package = |answer: &str| {
        tar_gz(&[(
            "main.py",
            format!("def handle(event, context):\n    return {answer:?}\n").as_bytes(),
        )])
    };
    let first = server
        .deploy_package("py", "python3.11", spec(), package("one"))
        .await;
    assert_eq!(
        first.status,
        gust_core::DeploymentStatus::Ready,
        "{}",
        first.build_log
    );
    let client = server.client();
    client
        .create_version("default", "py", &VersionSpec::default())
        .await
        .unwrap();
    redeploy(&server, "py", package("two"), "application/gzip").await;

    assert_eq!(text(&server, "/fn/default/py:1/").await, "one");
    assert_eq!(text(&server, "/fn/default/py/").await, "two");
    let of_version = client
        .list_instances("default", "py", Some(1))
        .await
        .unwrap();
    assert_eq!(of_version["total"], 1, "{of_version}");
    assert_eq!(of_version["items"][0]["requests_served"], 1, "{of_version}");
    let current = client.list_instances("default", "py", None).await.unwrap();
    assert_eq!(current["total"], 1, "{current}");
    assert_ne!(current["items"][0]["pid"], of_version["items"][0]["pid"]);

    let detached = client
        .detach_instances("default", "py", Some(1))
        .await
        .unwrap();
    assert_eq!(detached["detached"], 1, "{detached}");
    let of_version = client
        .list_instances("default", "py", Some(1))
        .await
        .unwrap();
    assert_eq!(of_version["total"], 0, "{of_version}");
    let current = client.list_instances("default", "py", None).await.unwrap();
    assert_eq!(
        current["total"], 1,
        "the function's own workers stay: {current}"
    );
    // The next request starts a fresh worker of the version.
    assert_eq!(text(&server, "/fn/default/py:1/").await, "one");

    let missing = client
        .list_instances("default", "py", Some(5))
        .await
        .unwrap_err();
    assert_eq!(missing.status(), Some(StatusCode::NOT_FOUND));
}

#[tokio::test]
async fn versions_and_aliases_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_in(dir.path(), &[]);
    three_configurations(&server).await;
    server
        .client()
        .create_alias(
            "default",
            &AliasSpec {
                name: Some("prod".into()),
                function: Some("f".into()),
                version: Some(2),
                ..AliasSpec::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(server.stop(), Some(0));

    let server = TestServer::start_in(dir.path(), &[]);
    assert_eq!(text(&server, "/fn/default/f:1/env?name=MARK").await, "one");
    assert_eq!(
        text(&server, "/fn/default/f:prod/r").await,
        "hello from gust\nmethod: GET\npath: /r\n"
    );
    assert_eq!(text(&server, "/fn/default/f/env?name=MARK").await, "three");
    let versions = server.client().list_versions("default", "f").await.unwrap();
    assert_eq!(versions.total, 2);
}

#[tokio::test]
async fn versions_and_aliases_from_the_cli() {
    let server = TestServer::start();
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| cli(&server, home.path(), args);
    server
        .deploy_ready("f", env("MARK", "one"), &test_guest())
        .await;

    let made = cli_stdout(&run(&["version", "create", "f", "-d", "first"]));
    assert_eq!(made.trim(), "1");
    let again = run(&["version", "create", "f"]);
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("unchanged"), "{stderr}");
    let listed = cli_stdout(&run(&["version", "list", "f"]));
    assert!(
        listed.contains("VERSION") && listed.contains("first"),
        "{listed}"
    );
    let page: Value =
        serde_json::from_str(&cli_stdout(&run(&["version", "list", "f", "--json"]))).unwrap();
    assert_eq!(page["total"], 1);

    server
        .client()
        .update_function("default", "f", &env("MARK", "two"))
        .await
        .unwrap();
    cli_stdout(&run(&[
        "alias",
        "create",
        "prod",
        "--function",
        "f",
        "--version",
        "1",
    ]));
    let invoke = |target: &str| cli_stdout(&run(&["invoke", target, "--path", "/env?name=MARK"]));
    assert_eq!(invoke("f:prod"), "one");
    assert_eq!(invoke("f:1"), "one");
    assert_eq!(invoke("f"), "two");
    let queued = cli_stdout(&run(&[
        "invoke",
        "f:prod",
        "--async",
        "--path",
        "/env?name=MARK",
    ]));
    let done = server
        .client()
        .wait_for_execution("default", "f", queued.trim(), Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        (done.function_version, done.alias.as_deref()),
        (Some(1), Some("prod"))
    );
    cli_stdout(&run(&["alias", "update", "prod", "--version", "0"]));
    assert_eq!(invoke("f:prod"), "two");
    let aliases = cli_stdout(&run(&["alias", "list"]));
    assert!(
        aliases.contains("prod") && aliases.contains("current"),
        "{aliases}"
    );
    cli_stdout(&run(&["alias", "delete", "prod"]));
    cli_stdout(&run(&["version", "delete", "f", "1"]));
    let page: Value =
        serde_json::from_str(&cli_stdout(&run(&["version", "list", "f", "--json"]))).unwrap();
    assert_eq!(page["total"], 0);
}
