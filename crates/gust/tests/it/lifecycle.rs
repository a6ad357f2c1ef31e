//! Create → deploy → ready → invoke → executions, plus API executions, code download,
//! activation and rebuild.

use gust_core::{DeploymentStatus, ExecutionStatus, ExecutionTrigger, FunctionStatus, Privacy};
use serde_json::json;

use crate::harness::{
    TestServer, cli, cli_stdout as stdout, hello_guest, spec, tar_gz, test_guest,
};

#[tokio::test]
async fn deployed_function_answers_and_is_recorded() {
    let server = TestServer::start();
    let client = server.client();
    let deployment = server.deploy_ready("hello", spec(), &hello_guest()).await;
    assert!(deployment.active);
    assert!(
        deployment.build_log.contains("compiled"),
        "{}",
        deployment.build_log
    );
    assert!(deployment.build_duration_ms.is_some());

    let function = client.get_function("default", "hello").await.unwrap();
    assert_eq!(function.status, FunctionStatus::Ready);
    assert_eq!(
        function.active_deployment.as_deref(),
        Some(deployment.id.as_str())
    );
    assert!(function.ready_at.is_some());
    assert_eq!(function.url, format!("{}/fn/default/hello", server.url));

    let response = server
        .http()
        .get(format!("{}/fn/default/hello/some/path?x=1", server.url))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let execution_id = response.headers()[gust_api::EXECUTION_ID_HEADER]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        response.text().await.unwrap(),
        "hello from gust\nmethod: GET\npath: /some/path?x=1\n"
    );

    let page = client
        .list_executions("default", "hello", &[])
        .await
        .unwrap();
    assert_eq!(page.total, 1);
    let execution = &page.items[0];
    assert_eq!(execution.id, execution_id);
    assert_eq!(execution.status, ExecutionStatus::Completed);
    assert_eq!(execution.trigger, ExecutionTrigger::Http);
    assert_eq!(execution.request.path, "/some/path");
    assert_eq!(execution.request.query, "x=1");
    assert_eq!(
        execution
            .request
            .headers
            .get("authorization")
            .map(String::as_str),
        None,
        "the token must not reach records"
    );
    let response = execution.response.as_ref().unwrap();
    assert_eq!(response.status_code, 200);
    assert!(response.body.body.starts_with("hello from gust"));
    assert_eq!(
        execution.deployment_id.as_deref(),
        Some(deployment.id.as_str())
    );
}

#[tokio::test]
async fn api_executions_return_response_and_logs() {
    let server = TestServer::start();
    let client = server.client();
    let env = [("GREETING".to_string(), "bonjour".to_string())]
        .into_iter()
        .collect();
    server
        .deploy_ready(
            "guest",
            gust_core::FunctionSpec {
                env: Some(env),
                ..spec()
            },
            &test_guest(),
        )
        .await;

    let execution = client
        .create_execution("default", "guest", &json!({"method": "POST", "path": "/echo/a", "headers": {"x-test": "1"}, "body": "ping"}))
        .await
        .unwrap();
    assert_eq!(execution.status, ExecutionStatus::Completed);
    assert_eq!(execution.trigger, ExecutionTrigger::Api);
    let echoed: serde_json::Value =
        serde_json::from_str(&execution.response.as_ref().unwrap().body.body).unwrap();
    assert_eq!(echoed["method"], "POST");
    assert_eq!(echoed["path"], "/echo/a");
    assert_eq!(echoed["body"], "ping");
    assert_eq!(echoed["headers"]["x-test"], "1");

    let env = client
        .create_execution(
            "default",
            "guest",
            &json!({"method": "GET", "path": "/env?name=GREETING"}),
        )
        .await
        .unwrap();
    assert_eq!(env.response.unwrap().body.body, "bonjour");

    let logged = client
        .create_execution(
            "default",
            "guest",
            &json!({"method": "GET", "path": "/log?n=3"}),
        )
        .await
        .unwrap();
    assert_eq!(
        logged.logs.stdout,
        "stdout line 0\nstdout line 1\nstdout line 2\n"
    );
    assert_eq!(
        logged.logs.stderr,
        "stderr line 0\nstderr line 1\nstderr line 2\n"
    );
    assert!(!logged.logs.truncated);

    // Past the bound, logs are cut and the cut is marked.
    let flood = client
        .create_execution(
            "default",
            "guest",
            &json!({"method": "GET", "path": "/log?n=20000"}),
        )
        .await
        .unwrap();
    assert!(flood.logs.truncated);
    assert!(flood.logs.stdout.len() < 70 * 1024);
    assert!(
        flood.logs.stdout.contains("[gust: output truncated"),
        "{}",
        &flood.logs.stdout[flood.logs.stdout.len() - 200..]
    );

    let fetched = client
        .get_execution("default", "guest", &logged.id)
        .await
        .unwrap();
    assert_eq!(fetched, logged);

    let failed = client
        .list_executions("default", "guest", &[("status", "completed")])
        .await
        .unwrap();
    assert_eq!(failed.total, 4);
}

#[tokio::test]
async fn executions_are_found_by_id_alone_and_deleted_once_finished() {
    let server = TestServer::start();
    let client = server.client();
    server.deploy_ready("one", spec(), &test_guest()).await;
    server.deploy_ready("two", spec(), &test_guest()).await;
    let run = |f: &'static str| {
        let client = client.clone();
        async move {
            client
                .create_execution("default", f, &json!({"method": "GET", "path": "/echo"}))
                .await
                .unwrap()
        }
    };
    let first = run("one").await;
    let second = run("two").await;

    // Found by id alone, whichever function ran it.
    for execution in [&first, &second] {
        let found = client
            .find_execution("default", &execution.id)
            .await
            .unwrap();
        assert_eq!(&found, execution);
    }
    let missing = client
        .find_execution("default", "0190a5e8-0000-7000-8000-000000000000")
        .await
        .unwrap_err();
    assert_eq!(missing.status(), Some(reqwest::StatusCode::NOT_FOUND));

    // Deleting through another function's path reaches nothing, and deletes nothing.
    let wrong = client
        .delete_execution("default", "two", &first.id)
        .await
        .unwrap_err();
    assert_eq!(wrong.status(), Some(reqwest::StatusCode::NOT_FOUND));
    client
        .get_execution("default", "one", &first.id)
        .await
        .unwrap();

    let home = tempfile::tempdir().unwrap();
    let found = cli(&server, home.path(), &["exec", "find", &second.id]);
    assert!(found.status.success(), "{found:?}");
    assert!(stdout(&found).contains(&second.id), "{}", stdout(&found));
    let deleted = cli(&server, home.path(), &["exec", "delete", "two", &second.id]);
    assert!(deleted.status.success(), "{deleted:?}");
    client
        .delete_execution("default", "one", &first.id)
        .await
        .unwrap();
    for (f, id) in [("one", &first.id), ("two", &second.id)] {
        let gone = client.get_execution("default", f, id).await.unwrap_err();
        assert_eq!(gone.status(), Some(reqwest::StatusCode::NOT_FOUND));
    }
    let again = client
        .delete_execution("default", "one", &first.id)
        .await
        .unwrap_err();
    assert_eq!(again.status(), Some(reqwest::StatusCode::NOT_FOUND));
    let listed = client.list_executions("default", "one", &[]).await.unwrap();
    assert_eq!(listed.total, 0);
}

#[tokio::test]
async fn public_functions_need_no_token_and_private_ones_do() {
    let server = TestServer::start();
    server
        .deploy_ready(
            "open",
            gust_core::FunctionSpec {
                privacy: Some(Privacy::Public),
                ..spec()
            },
            &hello_guest(),
        )
        .await;
    server.deploy_ready("closed", spec(), &hello_guest()).await;
    let http = server.http();
    assert_eq!(
        http.get(format!("{}/fn/default/open/", server.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let denied = http
        .get(format!("{}/fn/default/closed/", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 401);
    let ok = http
        .get(format!("{}/fn/default/closed/", server.url))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn code_download_activation_and_rebuild() {
    let server = TestServer::start();
    let client = server.client();
    let hello = hello_guest();
    let first = server.deploy_ready("app", spec(), &hello).await;

    // The original bytes come back unchanged.
    let code = client
        .execute(client.request(
            reqwest::Method::GET,
            &format!(
                "/api/v1/namespaces/default/functions/app/deployments/{}/code",
                first.id
            ),
        ))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(code.as_ref(), hello.as_slice());

    // A second deployment, packed as .tar.gz, builds but is not active until activated.
    let archive = tar_gz(&[("bin/app.wasm", &test_guest()), ("README", b"docs")]);
    let second = client
        .create_deployment("default", "app", archive, "application/gzip", false)
        .await
        .unwrap();
    assert_eq!(second.status, DeploymentStatus::Waiting);
    let second = client
        .wait_for_build(
            "default",
            "app",
            &second.id,
            std::time::Duration::from_secs(120),
        )
        .await
        .unwrap();
    assert_eq!(
        second.status,
        DeploymentStatus::Ready,
        "{}",
        second.build_log
    );
    assert_eq!(second.entrypoint.as_deref(), Some("bin/app.wasm"));
    assert!(!second.active);
    let body = client
        .invoke(reqwest::Method::GET, "default", "app", "/echo", vec![])
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.starts_with("hello from gust"));

    let activate = format!(
        "/api/v1/namespaces/default/functions/app/deployments/{}/activate",
        second.id
    );
    client
        .execute(client.request(reqwest::Method::POST, &activate))
        .await
        .unwrap();
    let body = client
        .invoke(reqwest::Method::GET, "default", "app", "/echo", vec![])
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let echoed: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(echoed["path"], "/echo");
    let deployments = client.list_deployments("default", "app").await.unwrap();
    assert_eq!(deployments.total, 2);
    assert_eq!(deployments.items.iter().filter(|d| d.active).count(), 1);

    // Rebuilding goes back through the pipeline and ends ready, still active.
    let rebuild = format!(
        "/api/v1/namespaces/default/functions/app/deployments/{}/rebuild",
        second.id
    );
    client
        .execute(client.request(reqwest::Method::POST, &rebuild))
        .await
        .unwrap();
    let rebuilt = client
        .wait_for_build(
            "default",
            "app",
            &second.id,
            std::time::Duration::from_secs(120),
        )
        .await
        .unwrap();
    assert_eq!(rebuilt.status, DeploymentStatus::Ready);
    assert!(rebuilt.active);
    let status = client
        .invoke(reqwest::Method::GET, "default", "app", "/echo", vec![])
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);

    // The active deployment cannot be deleted; the other one can.
    let delete_active = client
        .execute(client.request(
            reqwest::Method::DELETE,
            &format!(
                "/api/v1/namespaces/default/functions/app/deployments/{}",
                second.id
            ),
        ))
        .await
        .unwrap_err();
    assert_eq!(delete_active.status(), Some(reqwest::StatusCode::CONFLICT));
    client
        .execute(client.request(
            reqwest::Method::DELETE,
            &format!(
                "/api/v1/namespaces/default/functions/app/deployments/{}",
                first.id
            ),
        ))
        .await
        .unwrap();
    assert_eq!(
        client
            .list_deployments("default", "app")
            .await
            .unwrap()
            .total,
        1
    );

    client.delete_function("default", "app").await.unwrap();
    let gone = client.get_function("default", "app").await.unwrap_err();
    assert_eq!(gone.status(), Some(reqwest::StatusCode::NOT_FOUND));
    let invoke = client
        .invoke(reqwest::Method::GET, "default", "app", "/", vec![])
        .await
        .unwrap();
    assert_eq!(invoke.status(), 404);
}

#[tokio::test]
async fn lists_page_with_cursor_search_and_order() {
    let server = TestServer::start();
    let client = server.client();
    for name in ["alpha", "beta", "gamma", "delta", "epsilon"] {
        client
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
    let first = client
        .list_functions("default", &[("limit", "2"), ("order", "asc")])
        .await
        .unwrap();
    assert_eq!(first.total, 5);
    assert_eq!(
        first
            .items
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>(),
        ["alpha", "beta"]
    );
    let cursor = first.next_cursor.clone().unwrap();
    let second = client
        .list_functions(
            "default",
            &[("limit", "2"), ("order", "asc"), ("cursor", &cursor)],
        )
        .await
        .unwrap();
    assert_eq!(
        second
            .items
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>(),
        ["gamma", "delta"]
    );
    let last = client
        .list_functions(
            "default",
            &[("limit", "2"), ("offset", "4"), ("order", "asc")],
        )
        .await
        .unwrap();
    assert_eq!(last.items.len(), 1);
    assert!(last.next_cursor.is_none());
    let newest = client
        .list_functions("default", &[("limit", "1")])
        .await
        .unwrap();
    assert_eq!(newest.items[0].name, "epsilon");
    let found = client
        .list_functions("default", &[("search", "lt")])
        .await
        .unwrap();
    assert_eq!(found.total, 1);
    assert_eq!(found.items[0].name, "delta");
}

#[tokio::test]
async fn sigterm_stops_the_server_cleanly() {
    let mut server = TestServer::start();
    let health = server
        .http()
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(server.stop(), Some(0));
}

#[tokio::test]
async fn openapi_document_describes_the_api() {
    let server = TestServer::start();
    let doc: serde_json::Value = server
        .http()
        .get(format!("{}/api/v1/openapi.json", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/v1/namespaces/{ns}/functions",
        "/api/v1/namespaces/{ns}/functions/{fn}/deployments/{id}/activate",
        "/api/v1/namespaces/{ns}/functions/{fn}/executions",
        "/api/v1/namespaces/{ns}/functions/{fn}/domains/{id}",
        "/api/v1/tokens",
        "/api/v1/runtimes",
    ] {
        assert!(paths.contains_key(path), "missing {path}");
    }
    let function = &doc["components"]["schemas"]["Function"]["properties"];
    for field in [
        "memory_mb",
        "cpu_millis",
        "min_scale",
        "max_scale",
        "concurrency",
        "privacy",
        "http_option",
        "active_deployment",
        "ready_at",
        "domain_name",
    ] {
        assert!(
            function.get(field).is_some(),
            "Function schema lacks {field}"
        );
    }
}

#[tokio::test]
async fn the_active_deployment_is_deleted_only_when_asked_to_deactivate() {
    let server = TestServer::start();
    let deployment = server.deploy_ready("solo", spec(), &hello_guest()).await;
    let url = format!(
        "{}/api/v1/namespaces/default/functions/solo/deployments/{}",
        server.url, deployment.id
    );
    let http = server.http();
    let refused = http
        .delete(&url)
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), reqwest::StatusCode::CONFLICT);
    let invoke = || {
        http.get(format!("{}/fn/default/solo/", server.url))
            .bearer_auth(&server.token)
            .send()
    };
    assert_eq!(invoke().await.unwrap().status(), reqwest::StatusCode::OK);

    let deleted = http
        .delete(format!("{url}?deactivate=true"))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), reqwest::StatusCode::NO_CONTENT);
    let function = server
        .client()
        .get_function("default", "solo")
        .await
        .unwrap();
    assert_eq!(function.active_deployment, None);
    assert_eq!(function.status, FunctionStatus::Created);
    let after = invoke().await.unwrap();
    assert_eq!(after.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    assert!(after.text().await.unwrap().contains("no active deployment"));
}

#[tokio::test]
async fn namespaces_and_functions_keep_labels() {
    let server = TestServer::start();
    let http = server.http();
    let url = |p: &str| format!("{}{p}", server.url);
    let send = |request: reqwest::RequestBuilder| async {
        let response = request.bearer_auth(&server.token).send().await.unwrap();
        let status = response.status();
        (status, response.json::<serde_json::Value>().await.unwrap())
    };
    let (status, ns) = send(http.post(url("/api/v1/namespaces")).json(&json!({
        "name": "labelled", "labels": {"scaleway.region": "nl-ams", "owner": "team-a"}
    })))
    .await;
    assert_eq!(status, 201, "{ns}");
    assert_eq!(ns["labels"]["scaleway.region"], "nl-ams");
    let (status, function) = send(
        http.post(url("/api/v1/namespaces/labelled/functions"))
            .json(&json!({"name": "f", "runtime": "wasm", "labels": {"tier": "gold"}})),
    )
    .await;
    assert_eq!(status, 201, "{function}");
    assert_eq!(function["labels"], json!({"tier": "gold"}));

    // A patch replaces the map; a bad key names itself and changes nothing.
    let (status, patched) = send(
        http.patch(url("/api/v1/namespaces/labelled/functions/f"))
            .json(&json!({"labels": {"tier": "silver"}})),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["labels"], json!({"tier": "silver"}));
    let (status, refused) = send(
        http.patch(url("/api/v1/namespaces/labelled"))
            .json(&json!({"labels": {"Bad Key": "x"}})),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert!(refused.to_string().contains("labels.Bad Key"), "{refused}");
    let (_, kept) = send(http.get(url("/api/v1/namespaces/labelled"))).await;
    assert_eq!(kept["labels"]["owner"], "team-a");
}

/// `PUT …/functions/{fn}` replaces the configuration: what it sends takes effect, what it
/// leaves out goes back to its default, and the runtime, code and identity stay. (It answered
/// 400 `runtime is required` to every request, whatever it sent.)
#[tokio::test]
async fn put_replaces_a_functions_configuration_and_keeps_its_code() {
    let server = TestServer::start();
    let timed = gust_core::FunctionSpec {
        timeout_s: Some(9),
        description: Some("old".into()),
        ..spec()
    };
    server.deploy_ready("f", timed, &test_guest()).await;
    let before = server.client().get_function("default", "f").await.unwrap();
    let response = server
        .http()
        .put(format!(
            "{}/api/v1/namespaces/default/functions/f",
            server.url
        ))
        .bearer_auth(&server.token)
        .json(&json!({"description": "new", "memory_mb": 64}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let after: gust_core::Function = response.json().await.unwrap();
    assert_eq!(
        (after.id.as_str(), after.name.as_str()),
        (before.id.as_str(), "f")
    );
    assert_eq!(after.runtime, before.runtime);
    assert_eq!(after.active_deployment, before.active_deployment);
    assert_eq!((after.description.as_str(), after.memory_mb), ("new", 64));
    assert_eq!(after.timeout_s, 30, "left out, so back to the default");
    let answer = server
        .http()
        .post(format!("{}/fn/default/f/", server.url))
        .bearer_auth(&server.token)
        .body("still here")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), reqwest::StatusCode::OK);
}
