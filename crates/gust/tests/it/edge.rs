//! Edge applications through a running server: applications, function instances, rules and
//! edge domains over the native API and the CLI; requests at `/edge/{app}/…` and at a domain's
//! host names running `azion` functions with their instance's args; rules deciding in order;
//! every bad input a 400 naming its field with nothing written; a restart; deletion cascades.

use gust_client::Client;
use gust_core::{
    EdgeApplication, EdgeApplicationSpec, EdgeDomain, EdgeDomainSpec, EdgeRule, EdgeRuleSpec,
    ExecutionTrigger, FunctionInstance, FunctionSpec, HandlerContract,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{TestServer, cli, cli_stdout, spec};

fn azion() -> FunctionSpec {
    FunctionSpec {
        contract: Some(HandlerContract::Azion),
        ..spec()
    }
}

fn port(server: &TestServer) -> u16 {
    server.url.rsplit(':').next().unwrap().parse().unwrap()
}

/// A GET to the server's own address naming `host`, redirects returned as they are.
fn at_host(server: &TestServer, host: &str, path: &str) -> reqwest::RequestBuilder {
    no_redirects()
        .get(format!("{}{path}", server.url))
        .header("host", format!("{host}:{}", port(server)))
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn edge_get(server: &TestServer, app: u64, path: &str) -> reqwest::Response {
    no_redirects()
        .get(format!("{}/edge/{app}{path}", server.url))
        .send()
        .await
        .unwrap()
}

fn from<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).unwrap()
}

async fn create_app(client: &Client, name: &str) -> EdgeApplication {
    client
        .create_edge_application(
            "default",
            &EdgeApplicationSpec {
                name: Some(name.into()),
                edge_functions: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap()
}

async fn create_instance(
    client: &Client,
    app: u64,
    function: Value,
    args: Value,
) -> FunctionInstance {
    client
        .create_edge_instance(
            app,
            &from(json!({"name": "instance", "function": function, "args": args})),
        )
        .await
        .unwrap()
}

async fn create_rule(client: &Client, app: u64, rule: Value) -> EdgeRule {
    client
        .create_edge_rule(app, &from::<EdgeRuleSpec>(rule))
        .await
        .unwrap()
}

fn run(instance: u64) -> Value {
    json!([{"name": "run_function", "target": instance}])
}

fn criterion(variable: &str, operator: &str, conditional: &str, value: &str) -> Value {
    json!({"variable": variable, "operator": operator, "conditional": conditional, "input_value": value})
}

async fn error_of(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    (status, body["error"].clone())
}

#[tokio::test]
async fn an_edge_application_runs_its_instance_by_path_and_by_host_with_its_args() {
    let server = TestServer::start();
    let client = server.client();
    server
        .deploy_folder("worker", "node20", azion(), "azion-worker")
        .await;
    let function = client.get_function("default", "worker").await.unwrap();
    assert!(function.serial >= 1);

    let app = create_app(&client, "shop").await;
    let instance = create_instance(
        &client,
        app.id,
        json!(function.serial),
        json!({"greeting": "hej", "n": [1, 2]}),
    )
    .await;
    assert_eq!(
        (instance.function_id.as_str(), instance.function_serial),
        (function.id.as_str(), function.serial)
    );
    create_rule(
        &client,
        app.id,
        json!({"name": "all", "behaviors": run(instance.id)}),
    )
    .await;

    // By path: the function sees the path under the application; headers and body kept.
    let response = no_redirects()
        .post(format!("{}/edge/{}/hello?name=ann", server.url, app.id))
        .header("x-test", "kept")
        .body("héllo")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-edge"], "worker");
    assert!(response.headers().contains_key("x-gust-execution-id"));
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["greeting"], "hej ann");
    assert_eq!(answer["called"], "hej");
    assert_eq!(answer["args"], json!({"greeting": "hej", "n": [1, 2]}));
    assert_eq!(answer["path"], "/hello");
    assert_eq!(answer["method"], "POST");
    assert_eq!(answer["header"], "kept");
    assert_eq!(
        (answer["body"].as_str(), answer["bytes"].as_u64()),
        (Some("héllo"), Some(6))
    );
    assert_eq!(
        answer["url"],
        format!("http://127.0.0.1:{}/hello?name=ann", port(&server))
    );

    // By host: a cname of an edge domain, and the domain's generated name.
    let domain = client
        .create_edge_domain(
            "default",
            &from::<EdgeDomainSpec>(json!({"name": "shop", "cnames": ["Shop.Example.com"], "edge_application_id": app.id})),
        )
        .await
        .unwrap();
    assert_eq!(domain.cnames, vec!["shop.example.com"]);
    assert_eq!(
        domain.domain_name,
        format!("edge-{}.functions.localhost", domain.id)
    );
    let answer: Value = at_host(&server, "shop.example.com", "/x?name=bo")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (answer["greeting"].as_str(), answer["path"].as_str()),
        (Some("hej bo"), Some("/x"))
    );
    assert_eq!(
        answer["url"],
        format!("http://shop.example.com:{}/x?name=bo", port(&server))
    );
    let answer: Value = at_host(&server, &domain.domain_name, "/y")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["path"], "/y");

    // New args take effect on the next request, no restart.
    client
        .update_edge_instance(
            app.id,
            instance.id,
            &from(json!({"args": {"greeting": "hola"}})),
        )
        .await
        .unwrap();
    let answer: Value = edge_get(&server, app.id, "/").await.json().await.unwrap();
    assert_eq!(answer["greeting"], "hola world");
    assert_eq!(answer["args"], json!({"greeting": "hola"}));

    // Through /fn/ the same function gets no args.
    let answer: Value = server
        .http()
        .get(format!("{}/fn/default/worker/plain", server.url))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (answer["greeting"].as_str(), answer["args"].clone()),
        (Some("hello world"), json!({}))
    );

    // Edge runs are recorded as such.
    // A record is written once its body has ended, which may follow the client's read.
    let mut runs = client
        .list_executions("default", "worker", &[("trigger", "edge")])
        .await
        .unwrap();
    for _ in 0..50 {
        if runs.total >= 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        runs = client
            .list_executions("default", "worker", &[("trigger", "edge")])
            .await
            .unwrap();
    }
    assert_eq!(
        runs.total,
        4,
        "{:?}",
        runs.items
            .iter()
            .map(|e| &e.request.path)
            .collect::<Vec<_>>()
    );
    assert!(
        runs.items
            .iter()
            .all(|e| e.trigger == ExecutionTrigger::Edge)
    );
    assert!(runs.items.iter().any(|e| e.request.path == "/hello"));

    // Instance counts per function, for front doors that show a reference count.
    let counts = client.edge_instance_counts("default").await.unwrap();
    assert_eq!(counts.get(&function.id), Some(&1));
}

#[tokio::test]
async fn rules_decide_in_order_with_their_criteria_and_changes_apply_at_once() {
    let server = TestServer::start();
    let client = server.client();
    server
        .deploy_folder("worker", "node20", azion(), "azion-worker")
        .await;
    let app = create_app(&client, "rules").await;
    let instance =
        create_instance(&client, app.id, json!("worker"), json!({"greeting": "hi"})).await;

    let old = create_rule(
        &client,
        app.id,
        json!({
            "name": "old", "order": 10,
            "criteria": [[criterion("${uri}", "starts_with", "if", "/old")]],
            "behaviors": [{"name": "redirect_to_301", "target": "https://example.com/new"}],
        }),
    )
    .await;
    // (`/api/v<n>/…` and no `secret` in the query) or exactly `/exact`.
    let api = create_rule(
        &client,
        app.id,
        json!({
            "name": "api", "order": 20,
            "criteria": [
                [criterion("${uri}", "matches", "if", "^/api/v[0-9]+/"),
                 criterion("${request_uri}", "does_not_match", "and", "secret")],
                [criterion("${uri}", "is_equal", "if", "/exact")],
            ],
            "behaviors": run(instance.id),
        }),
    )
    .await;
    create_rule(
        &client,
        app.id,
        json!({
            "name": "moved", "order": 30,
            "criteria": [[criterion("${uri}", "does_not_start_with", "if", "/api"),
                          criterion("${host}", "is_not_equal", "and", "nowhere.example")]],
            "behaviors": [{"name": "redirect_to_302", "target": "/elsewhere"}],
        }),
    )
    .await;
    let deliver = create_rule(
        &client,
        app.id,
        json!({
            "name": "origin", "order": 40,
            "criteria": [[criterion("${uri}", "starts_with", "if", "/api/deliver")]],
            "behaviors": [{"name": "deliver"}],
        }),
    )
    .await;
    let listed: Vec<u64> = client
        .list_edge_rules(app.id)
        .await
        .unwrap()
        .items
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(listed[0], old.id);
    assert_eq!(listed[1], api.id);

    let response = edge_get(&server, app.id, "/old/page").await;
    assert_eq!(response.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(response.headers()["location"], "https://example.com/new");
    let response = edge_get(&server, app.id, "/api/v2/users?x=1").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap()["path"],
        "/api/v2/users"
    );
    assert_eq!(
        edge_get(&server, app.id, "/exact").await.status(),
        StatusCode::OK
    );
    let response = edge_get(&server, app.id, "/somewhere").await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(response.headers()["location"], "/elsewhere");
    // The query's `secret` fails the first group; nothing later matches an /api path.
    let (status, error) = error_of(edge_get(&server, app.id, "/api/v1/x?secret=1").await).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    assert!(
        error["message"].as_str().unwrap().contains("no rule"),
        "{error}"
    );
    let (status, error) = error_of(edge_get(&server, app.id, "/api/deliver").await).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("no_origin"))
    );
    assert!(
        error["message"].as_str().unwrap().contains("origin"),
        "{error}"
    );

    // Moving a rule first, or turning it off, applies on the next request.
    client
        .update_edge_rule(
            app.id,
            deliver.id,
            &from(
                json!({"order": 0, "criteria": [[criterion("${uri}", "starts_with", "if", "/")]]}),
            ),
        )
        .await
        .unwrap();
    let listed: Vec<u64> = client
        .list_edge_rules(app.id)
        .await
        .unwrap()
        .items
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(listed[0], deliver.id);
    assert_eq!(
        edge_get(&server, app.id, "/api/v2/users").await.status(),
        StatusCode::NOT_FOUND
    );
    client
        .update_edge_rule(app.id, deliver.id, &from(json!({"active": false})))
        .await
        .unwrap();
    assert_eq!(
        edge_get(&server, app.id, "/api/v2/users").await.status(),
        StatusCode::OK
    );

    // The module off, or the application inactive: a clear refusal.
    client
        .update_edge_application(app.id, &from(json!({"edge_functions": false})))
        .await
        .unwrap();
    let (status, error) = error_of(edge_get(&server, app.id, "/api/v2/users").await).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("module_disabled"))
    );
    client
        .update_edge_application(
            app.id,
            &from(json!({"edge_functions": true, "active": false})),
        )
        .await
        .unwrap();
    let (status, error) = error_of(edge_get(&server, app.id, "/api/v2/users").await).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("inactive"))
    );
    let (status, _) = error_of(edge_get(&server, 999_999, "/").await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Counts of everything edge the server holds, to check a refused request wrote nothing.
async fn edge_counts(client: &Client, app: u64) -> (u64, u64, u64, u64) {
    (
        client
            .list_edge_applications(None, &[])
            .await
            .unwrap()
            .total,
        client.list_edge_instances(app).await.unwrap().total,
        client.list_edge_rules(app).await.unwrap().total,
        client.list_edge_domains(None, &[]).await.unwrap().total,
    )
}

#[tokio::test]
async fn bad_edge_input_is_a_400_naming_the_field_and_writes_nothing() {
    let server = TestServer::start();
    let client = server.client();
    let function = client
        .create_function(
            "default",
            &FunctionSpec {
                name: Some("f".into()),
                runtime: Some("node20".into()),
                ..azion()
            },
        )
        .await
        .unwrap();
    let made = server
        .http()
        .post(format!("{}/api/v1/namespaces", server.url))
        .bearer_auth(&server.token)
        .json(&json!({"name": "other"}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), StatusCode::CREATED);
    let elsewhere = client
        .create_function(
            "other",
            &FunctionSpec {
                name: Some("g".into()),
                runtime: Some("wasm".into()),
                ..spec()
            },
        )
        .await
        .unwrap();
    let app = create_app(&client, "site").await;
    let second = create_app(&client, "second").await;
    let instance = create_instance(&client, app.id, json!("f"), json!({})).await;
    let foreign = create_instance(&client, second.id, json!(function.id), json!({})).await;
    create_rule(
        &client,
        app.id,
        json!({"name": "r", "behaviors": run(instance.id)}),
    )
    .await;
    client
        .create_edge_domain(
            "default",
            &from(json!({"name": "d", "cnames": ["taken.example.com"]})),
        )
        .await
        .unwrap();
    client
        .create_domain("default", "f", "custom.example.com")
        .await
        .unwrap();
    let before = edge_counts(&client, app.id).await;

    let big = "x".repeat(100 * 1024);
    let cases: Vec<(String, Value, &str)> = vec![
        (
            "/api/v1/namespaces/default/edge-applications".into(),
            json!({}),
            "name",
        ),
        (
            "/api/v1/namespaces/default/edge-applications".into(),
            json!({"name": "  "}),
            "name",
        ),
        (
            "/api/v1/namespaces/default/edge-applications".into(),
            json!({"name": "a", "caching": "yes"}),
            "caching",
        ),
        (
            "/api/v1/namespaces/default/edge-applications".into(),
            json!({"name": "a", "speed": 1}),
            "speed",
        ),
        (
            format!("/api/v1/edge-applications/{}/function-instances", app.id),
            json!({"name": "i"}),
            "function",
        ),
        (
            format!("/api/v1/edge-applications/{}/function-instances", app.id),
            json!({"name": "i", "function": "missing"}),
            "function",
        ),
        (
            format!("/api/v1/edge-applications/{}/function-instances", app.id),
            json!({"name": "i", "function": elsewhere.id}),
            "function",
        ),
        (
            format!("/api/v1/edge-applications/{}/function-instances", app.id),
            json!({"name": "i", "function": elsewhere.serial}),
            "function",
        ),
        (
            format!("/api/v1/edge-applications/{}/function-instances", app.id),
            json!({"name": "i", "function": "f", "args": big}),
            "args",
        ),
        (
            format!("/api/v1/edge-applications/{}/function-instances", app.id),
            json!({"function": "f"}),
            "name",
        ),
        (
            format!("/api/v1/edge-applications/{}/rules", app.id),
            json!({"name": "r", "criteria": [[criterion("${uri}", "contains", "if", "/")]], "behaviors": run(instance.id)}),
            "criteria[0][0].operator",
        ),
        (
            format!("/api/v1/edge-applications/{}/rules", app.id),
            json!({"name": "r", "criteria": [[criterion("${uri}", "matches", "if", "(unclosed")]], "behaviors": run(instance.id)}),
            "criteria[0][0].input_value",
        ),
        (
            format!("/api/v1/edge-applications/{}/rules", app.id),
            json!({"name": "r", "criteria": [[criterion("${cookie}", "is_equal", "if", "x")]], "behaviors": run(instance.id)}),
            "criteria[0][0].variable",
        ),
        (
            format!("/api/v1/edge-applications/{}/rules", app.id),
            json!({"name": "r", "criteria": [[criterion("${uri}", "is_equal", "if", "x"), criterion("${uri}", "is_equal", "xor", "y")]], "behaviors": run(instance.id)}),
            "criteria[0][1].conditional",
        ),
        (
            format!("/api/v1/edge-applications/{}/rules", app.id),
            json!({"name": "r", "behaviors": [{"name": "deliver"}, {"name": "run_function", "target": foreign.id}]}),
            "behaviors[1].target",
        ),
        (
            format!("/api/v1/edge-applications/{}/rules", app.id),
            json!({"name": "r", "behaviors": [{"name": "run_function", "target": 987_654}]}),
            "behaviors[0].target",
        ),
        (
            format!("/api/v1/edge-applications/{}/rules", app.id),
            json!({"name": "r", "behaviors": [{"name": "redirect_to_301", "target": "javascript:alert(1)"}]}),
            "behaviors[0].target",
        ),
        (
            format!("/api/v1/edge-applications/{}/rules", app.id),
            json!({"name": "r", "behaviors": [{"name": "set_origin"}]}),
            "behaviors[0].name",
        ),
        (
            format!("/api/v1/edge-applications/{}/rules", app.id),
            json!({"name": "r"}),
            "behaviors",
        ),
        (
            "/api/v1/namespaces/default/edge-domains".into(),
            json!({"name": "d", "cnames": ["bad_host.example.com"]}),
            "cnames[0]",
        ),
        (
            "/api/v1/namespaces/default/edge-domains".into(),
            json!({"name": "d", "cnames": ["ok.example.com", "x.functions.localhost"]}),
            "cnames[1]",
        ),
        (
            "/api/v1/namespaces/default/edge-domains".into(),
            json!({"name": "d", "cnames": ["ok.example.com", "OK.example.com"]}),
            "cnames[1]",
        ),
        (
            "/api/v1/namespaces/default/edge-domains".into(),
            json!({"name": "d", "cnames": ["ok.example.com"], "edge_application_id": 987_654}),
            "edge_application_id",
        ),
    ];
    for (path, body, field) in cases {
        let response = server
            .http()
            .post(format!("{}{path}", server.url))
            .bearer_auth(&server.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let (status, error) = error_of(response).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {error}");
        assert_eq!(error["field"], field, "{path} {body}: {error}");
        assert_eq!(
            edge_counts(&client, app.id).await,
            before,
            "{path} {body} wrote something"
        );
    }

    // A cname another domain holds, edge or custom: 409 naming `cnames`, nothing written.
    for taken in ["taken.example.com", "custom.example.com"] {
        let response = server
            .http()
            .post(format!(
                "{}/api/v1/namespaces/default/edge-domains",
                server.url
            ))
            .bearer_auth(&server.token)
            .json(&json!({"name": "d", "cnames": ["free.example.com", taken]}))
            .send()
            .await
            .unwrap();
        let (status, error) = error_of(response).await;
        assert_eq!(
            (status, error["field"].as_str()),
            (StatusCode::CONFLICT, Some("cnames")),
            "{error}"
        );
    }
    assert_eq!(edge_counts(&client, app.id).await, before);
    assert!(
        client
            .create_domain("default", "f", "taken.example.com")
            .await
            .is_err()
    );

    // A failed PATCH leaves the rule as it was.
    let rule = client
        .list_edge_rules(app.id)
        .await
        .unwrap()
        .items
        .remove(0);
    let response = server
        .http()
        .patch(format!(
            "{}/api/v1/edge-applications/{}/rules/{}",
            server.url, app.id, rule.id
        ))
        .bearer_auth(&server.token)
        .json(
            &json!({"name": "renamed", "criteria": [[criterion("${uri}", "matches", "if", "[")]]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(response).await.1["field"],
        "criteria[0][0].input_value"
    );
    assert_eq!(client.get_edge_rule(app.id, rule.id).await.unwrap(), rule);

    // The azion contract is JavaScript.
    let err = client
        .create_function(
            "default",
            &FunctionSpec {
                name: Some("py".into()),
                runtime: Some("python3.11".into()),
                ..azion()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, gust_client::ClientError::Api { field: Some(f), .. } if f == "contract"),
        "{err:?}"
    );
}

#[tokio::test]
async fn functions_have_stable_integer_serials() {
    let server = TestServer::start();
    let client = server.client();
    let create = |name: &'static str| {
        let client = client.clone();
        async move {
            client
                .create_function(
                    "default",
                    &FunctionSpec {
                        name: Some(name.into()),
                        runtime: Some("wasm".into()),
                        ..spec()
                    },
                )
                .await
                .unwrap()
        }
    };
    let a = create("a").await;
    let b = create("b").await;
    assert!(a.serial >= 1 && b.serial > a.serial);
    assert_eq!(
        client.get_function("default", "b").await.unwrap().serial,
        b.serial
    );
    client
        .update_function(
            "default",
            "b",
            &FunctionSpec {
                description: Some("changed".into()),
                ..spec()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        client.get_function("default", "b").await.unwrap().serial,
        b.serial
    );
    client.delete_function("default", "b").await.unwrap();
    let c = create("c").await;
    assert!(c.serial > b.serial, "serials are never given again");
}

#[tokio::test]
async fn edge_resources_survive_a_restart_and_deletion_cascades() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let mut server = TestServer::start_in(dir.path(), &[]);
    let client = server.client();
    server
        .deploy_folder("worker", "node20", azion(), "azion-worker")
        .await;
    let serial = client
        .get_function("default", "worker")
        .await
        .unwrap()
        .serial;
    let app = create_app(&client, "kept").await;
    let instance = create_instance(
        &client,
        app.id,
        json!("worker"),
        json!({"greeting": "still"}),
    )
    .await;
    let rule = create_rule(&client, app.id, json!({
        "name": "api", "criteria": [[criterion("${uri}", "matches", "if", "^/a")]], "behaviors": run(instance.id),
    }))
    .await;
    let domain: EdgeDomain = client
        .create_edge_domain(
            "default",
            &from(json!({"name": "d", "cnames": ["kept.example.com"], "edge_application": app.id})),
        )
        .await
        .unwrap();
    assert_eq!(server.stop(), Some(0));

    let server = TestServer::start_in(dir.path(), &[]);
    let client = server.client();
    assert_eq!(
        client
            .get_function("default", "worker")
            .await
            .unwrap()
            .serial,
        serial
    );
    let answer: Value = edge_get(&server, app.id, "/a").await.json().await.unwrap();
    assert_eq!(answer["greeting"], "still world");
    let answer: Value = at_host(&server, "kept.example.com", "/abc")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["path"], "/abc");
    assert_eq!(
        edge_get(&server, app.id, "/b").await.status(),
        StatusCode::NOT_FOUND
    );

    // What is in use cannot go: the function while an instance runs it, the instance while a
    // rule runs it.
    let err = client
        .delete_function("default", "worker")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::CONFLICT));
    assert_eq!(
        edge_get(&server, app.id, "/a").await.status(),
        StatusCode::OK,
        "a refused delete leaves it serving"
    );
    let err = client
        .delete_edge_instance(app.id, instance.id)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::CONFLICT));

    // Deleting the application takes its instances and rules and unbinds its domain.
    client.delete_edge_application(app.id).await.unwrap();
    assert_eq!(
        client
            .get_edge_application(app.id)
            .await
            .unwrap_err()
            .status(),
        Some(StatusCode::NOT_FOUND)
    );
    assert_eq!(
        client
            .get_edge_instance(app.id, instance.id)
            .await
            .unwrap_err()
            .status(),
        Some(StatusCode::NOT_FOUND)
    );
    assert_eq!(
        client
            .get_edge_rule(app.id, rule.id)
            .await
            .unwrap_err()
            .status(),
        Some(StatusCode::NOT_FOUND)
    );
    assert_eq!(
        client
            .get_edge_domain(domain.id)
            .await
            .unwrap()
            .edge_application_id,
        None
    );
    assert_eq!(
        edge_get(&server, app.id, "/a").await.status(),
        StatusCode::NOT_FOUND
    );
    let (status, error) = error_of(
        at_host(&server, "kept.example.com", "/a")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("bound to no edge application"),
        "{error}"
    );
    client.delete_function("default", "worker").await.unwrap();

    // A domain deleted stops routing; the host reaches the server itself again.
    client.delete_edge_domain(domain.id).await.unwrap();
    let response = at_host(&server, "kept.example.com", "/healthz")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_cli_manages_edge_applications_instances_rules_and_domains() {
    let server = TestServer::start();
    let home = tempfile::tempdir().unwrap();
    let client = server.client();
    client
        .create_function(
            "default",
            &FunctionSpec {
                name: Some("f".into()),
                runtime: Some("node20".into()),
                ..azion()
            },
        )
        .await
        .unwrap();
    let json_of = |args: &[&str]| -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&cli_stdout(&cli(&server, home.path(), &all))).unwrap()
    };
    let app = json_of(&["edge", "app", "create", "storefront", "--edge-functions"]);
    let app_id = app["id"].as_u64().unwrap();
    assert_eq!(app["edge_functions"], true);
    let app_arg = app_id.to_string();
    let instance = json_of(&[
        "edge",
        "instance",
        "create",
        &app_arg,
        "main",
        "f",
        "--args",
        r#"{"k":"v"}"#,
    ]);
    assert_eq!(instance["args"], json!({"k": "v"}));
    let instance_arg = instance["id"].as_u64().unwrap().to_string();
    let rule = json_of(&[
        "edge",
        "rule",
        "create",
        &app_arg,
        "api",
        "--path-prefix",
        "/api",
        "--run-function",
        &instance_arg,
    ]);
    assert_eq!(rule["criteria"][0][0]["input_value"], "/api");
    let rule_arg = rule["id"].as_u64().unwrap().to_string();
    let moved = json_of(&[
        "edge", "rule", "update", &app_arg, &rule_arg, "--order", "7",
    ]);
    assert_eq!(moved["order"], 7);
    let domain = json_of(&[
        "edge",
        "domain",
        "create",
        "shop",
        "--cname",
        "cli.example.com",
        "--app",
        &app_arg,
    ]);
    assert_eq!(domain["edge_application_id"], app_id);
    let domain_arg = domain["id"].as_u64().unwrap().to_string();
    let unbound = json_of(&["edge", "domain", "update", &domain_arg, "--app", "none"]);
    assert_eq!(unbound["edge_application_id"], Value::Null);
    let updated = json_of(&[
        "edge",
        "instance",
        "update",
        &app_arg,
        &instance_arg,
        "--args",
        "[1,2]",
    ]);
    assert_eq!(updated["args"], json!([1, 2]));

    let table = cli_stdout(&cli(&server, home.path(), &["edge", "app", "list"]));
    assert!(table.contains("storefront"), "{table}");
    let table = cli_stdout(&cli(
        &server,
        home.path(),
        &["edge", "rule", "list", &app_arg],
    ));
    assert!(
        table.contains("api") && table.contains("run_function"),
        "{table}"
    );
    let table = cli_stdout(&cli(&server, home.path(), &["edge", "domain", "list"]));
    assert!(table.contains("cli.example.com"), "{table}");

    // A bad value is the server's 400, named.
    let output = cli(
        &server,
        home.path(),
        &[
            "edge",
            "rule",
            "create",
            &app_arg,
            "bad",
            "--criteria",
            r#"[[{"variable":"${uri}","operator":"near","input_value":"/"}]]"#,
            "--deliver",
        ],
    );
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("operator"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    cli_stdout(&cli(
        &server,
        home.path(),
        &["edge", "rule", "delete", &app_arg, &rule_arg],
    ));
    cli_stdout(&cli(
        &server,
        home.path(),
        &["edge", "instance", "delete", &app_arg, &instance_arg],
    ));
    cli_stdout(&cli(
        &server,
        home.path(),
        &["edge", "domain", "delete", &domain_arg],
    ));
    cli_stdout(&cli(
        &server,
        home.path(),
        &["edge", "app", "delete", &app_arg],
    ));
    assert_eq!(
        client
            .list_edge_applications(None, &[])
            .await
            .unwrap()
            .total,
        0
    );
    assert_eq!(client.list_edge_domains(None, &[]).await.unwrap().total, 0);
}
