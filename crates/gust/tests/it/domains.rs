//! Invocation by host name: every function answers at `<function>.<namespace>.<functions
//! domain>` and at its custom domains, with the request's path and query as they are, the same
//! privacy, async and redirect rules as `/fn/…`; other hosts reach the server as before.

use gust_core::{Domain, FunctionSpec, HttpOption, Privacy};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{TestServer, cli, cli_stdout, spec, test_guest};

fn port(server: &TestServer) -> u16 {
    server.url.rsplit(':').next().unwrap().parse().unwrap()
}

/// A request to the server's own address that names `host` in its `Host` header, as a client
/// resolving that name to this server would send it. Redirects are returned, not followed.
fn at_host(server: &TestServer, host: &str, path: &str) -> reqwest::RequestBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}{path}", server.url))
        .header("host", format!("{host}:{}", port(server)))
}

fn public() -> FunctionSpec {
    FunctionSpec {
        privacy: Some(Privacy::Public),
        ..spec()
    }
}

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.unwrap()
}

async fn add_domain(server: &TestServer, function: &str, hostname: &str) -> reqwest::Response {
    server
        .http()
        .post(format!(
            "{}/api/v1/namespaces/default/functions/{function}/domains",
            server.url
        ))
        .bearer_auth(&server.token)
        .json(&json!({ "hostname": hostname }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_function_answers_at_its_generated_domain_name() {
    let server = TestServer::start();
    server.deploy_ready("echo", public(), &test_guest()).await;
    let function = server
        .client()
        .get_function("default", "echo")
        .await
        .unwrap();
    assert_eq!(function.domain_name, "echo.default.functions.localhost");

    let response = at_host(
        &server,
        "echo.default.functions.localhost",
        "/a/b?x=1&y=two",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key("x-gust-execution-id"));
    let echo = json_of(response).await;
    assert_eq!(echo["path"], "/a/b");
    assert_eq!(echo["query"], "x=1&y=two");

    // Case and a trailing dot do not matter; every path goes to the function, `/fn/` too.
    let echo = json_of(
        at_host(
            &server,
            "Echo.DEFAULT.functions.localhost.",
            "/fn/default/echo/x",
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(echo["path"], "/fn/default/echo/x");

    // Async through the domain: 202, then a recorded execution of that path.
    let accepted = at_host(&server, "echo.default.functions.localhost", "/later")
        .header("x-gust-async", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    let id = json_of(accepted).await["id"].as_str().unwrap().to_string();
    let done = server
        .client()
        .wait_for_execution("default", "echo", &id, std::time::Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(done.request.path, "/later");

    // Other hosts reach the server itself, exactly as before.
    for host in ["127.0.0.1", "localhost", "functions.localhost"] {
        let health = at_host(&server, host, "/healthz").send().await.unwrap();
        assert_eq!(health.status(), StatusCode::OK, "{host}");
    }
    let by_path = at_host(&server, "localhost", "/fn/default/echo/p?q=1")
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(by_path).await["path"], "/p");

    // A name under the functions domain that names no function says so.
    for (host, names) in [
        (
            "nope.default.functions.localhost",
            "nope.default.functions.localhost",
        ),
        ("echo.nowhere.functions.localhost", "nowhere"),
        (
            "a.b.c.functions.localhost",
            "<function>.<namespace>.functions.localhost",
        ),
        ("default.functions.localhost", "<function>.<namespace>"),
    ] {
        let response = at_host(&server, host, "/").send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{host}");
        let body = json_of(response).await;
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(host), "{host}: {message}");
        assert!(message.contains(names), "{host}: {message}");
    }
}

#[tokio::test]
async fn a_private_function_needs_a_token_through_its_domain() {
    let server = TestServer::start();
    server.deploy_ready("secret", spec(), &test_guest()).await;
    let host = "secret.default.functions.localhost";
    let refused = at_host(&server, host, "/").send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let wrong = at_host(&server, host, "/")
        .bearer_auth("gust_not_a_token")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let allowed = at_host(&server, host, "/in")
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), StatusCode::OK);
    let echo = json_of(allowed).await;
    assert_eq!(echo["path"], "/in");
    assert!(
        echo["headers"].get("authorization").is_none(),
        "the token reached the guest: {echo}"
    );
}

#[tokio::test]
async fn a_redirected_function_sends_its_domain_to_https() {
    let server = TestServer::start();
    let spec = FunctionSpec {
        http_option: Some(HttpOption::Redirected),
        ..public()
    };
    server.deploy_ready("secure", spec, &test_guest()).await;
    let host = "secure.default.functions.localhost";
    let response = at_host(&server, host, "/p/q?x=1").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(
        response.headers()["location"],
        format!("https://{host}:{}/p/q?x=1", port(&server)).as_str()
    );
    let behind_tls = at_host(&server, host, "/p")
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(behind_tls.status(), StatusCode::OK);
}

#[tokio::test]
async fn custom_domains_route_until_deleted_and_are_checked() {
    let server = TestServer::start();
    server.deploy_ready("shop", public(), &test_guest()).await;
    server.deploy_ready("blog", public(), &test_guest()).await;

    let created = add_domain(&server, "shop", "Shop.Example.COM.").await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let domain: Domain = created.json().await.unwrap();
    assert_eq!(domain.hostname, "shop.example.com");
    assert_eq!(
        domain.url,
        format!("http://shop.example.com:{}", port(&server))
    );
    let raw = serde_json::to_value(&domain).unwrap();
    assert_eq!(raw["status"], "ready");
    assert_eq!(raw["error_message"], Value::Null);
    let function = server
        .client()
        .get_function("default", "shop")
        .await
        .unwrap();
    assert_eq!(domain.function_id, function.id);
    assert_eq!(domain.namespace_id, function.namespace_id);

    let echo = json_of(
        at_host(&server, "SHOP.example.com", "/cart?item=3")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(echo["path"], "/cart");
    assert_eq!(echo["query"], "item=3");

    let client = server.client();
    let listed = client.list_domains("default", "shop", &[]).await.unwrap();
    assert_eq!(listed.total, 1);
    assert_eq!(listed.items, std::slice::from_ref(&domain));
    assert_eq!(
        client
            .get_domain("default", "shop", &domain.id)
            .await
            .unwrap(),
        domain
    );
    // Another function's domains are not reachable through this one.
    let elsewhere = client.get_domain("default", "blog", &domain.id).await;
    assert_eq!(elsewhere.unwrap_err().status(), Some(StatusCode::NOT_FOUND));

    // A host name routes to one function only.
    let taken = add_domain(&server, "blog", "shop.example.com").await;
    assert_eq!(taken.status(), StatusCode::CONFLICT);
    let body = json_of(taken).await;
    assert_eq!(body["error"]["field"], "hostname");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("shop.example.com"),
        "{body}"
    );
    for bad in [
        "shop_example.com",
        "-shop.example.com",
        "shop..example.com",
        "",
        "10.0.0.1",
        "localhost",
        "blog.default.functions.localhost",
        "functions.localhost",
    ] {
        let refused = add_domain(&server, "blog", bad).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(
            json_of(refused).await["error"]["field"],
            "hostname",
            "{bad}"
        );
    }
    let unknown_field = server
        .http()
        .post(format!(
            "{}/api/v1/namespaces/default/functions/blog/domains",
            server.url
        ))
        .bearer_auth(&server.token)
        .json(&json!({ "hostname": "blog.example.com", "tls": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_field.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        client
            .list_domains("default", "blog", &[])
            .await
            .unwrap()
            .total,
        0
    );

    // Reading needs the read scope; adding needs write.
    let reader = client
        .create_token(&json!({ "scopes": ["read"] }))
        .await
        .unwrap();
    let reader = gust_client::Client::new(&server.url, reader.token.clone());
    assert_eq!(
        reader
            .list_domains("default", "shop", &[])
            .await
            .unwrap()
            .total,
        1
    );
    let refused = reader
        .create_domain("default", "shop", "more.example.com")
        .await;
    assert_eq!(refused.unwrap_err().status(), Some(StatusCode::FORBIDDEN));

    client
        .delete_domain("default", "shop", &domain.id)
        .await
        .unwrap();
    let gone = at_host(&server, "shop.example.com", "/cart")
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    let again = client.delete_domain("default", "shop", &domain.id).await;
    assert_eq!(again.unwrap_err().status(), Some(StatusCode::NOT_FOUND));
}

#[tokio::test]
async fn a_function_has_at_most_fifty_custom_domains_listed_in_pages() {
    let server = TestServer::start();
    server.deploy_ready("busy", public(), &test_guest()).await;
    for i in 0..50 {
        let created = add_domain(&server, "busy", &format!("d{i}.example.com")).await;
        assert_eq!(created.status(), StatusCode::CREATED, "domain {i}");
    }
    let refused = add_domain(&server, "busy", "d50.example.com").await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let body = json_of(refused).await;
    assert_eq!(body["error"]["field"], "hostname");
    assert!(body["error"]["message"].as_str().unwrap().contains("50"));

    let client = server.client();
    let first = client
        .list_domains("default", "busy", &[("limit", "20")])
        .await
        .unwrap();
    assert_eq!((first.items.len(), first.total), (20, 50));
    let cursor = first.next_cursor.unwrap();
    let second = client
        .list_domains("default", "busy", &[("limit", "20"), ("cursor", &cursor)])
        .await
        .unwrap();
    assert_eq!(second.items.len(), 20);
    assert!(second.items.iter().all(|d| !first.items.contains(d)));
    let routed = at_host(&server, "d49.example.com", "/x")
        .send()
        .await
        .unwrap();
    assert_eq!(routed.status(), StatusCode::OK);
}

#[tokio::test]
async fn deleting_a_function_removes_its_domains() {
    let server = TestServer::start();
    server.deploy_ready("doomed", public(), &test_guest()).await;
    assert_eq!(
        add_domain(&server, "doomed", "doomed.example.com")
            .await
            .status(),
        StatusCode::CREATED
    );
    server
        .client()
        .delete_function("default", "doomed")
        .await
        .unwrap();
    for host in ["doomed.example.com", "doomed.default.functions.localhost"] {
        let response = at_host(&server, host, "/").send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{host}");
    }
    // The host name is free again.
    server.deploy_ready("heir", public(), &test_guest()).await;
    assert_eq!(
        add_domain(&server, "heir", "doomed.example.com")
            .await
            .status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn the_functions_domain_is_a_setting_and_domains_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_in(dir.path(), &["--functions-domain", "fn.test"]);
    server.deploy_ready("echo", public(), &test_guest()).await;
    let function = server
        .client()
        .get_function("default", "echo")
        .await
        .unwrap();
    assert_eq!(function.domain_name, "echo.default.fn.test");
    let echo = json_of(
        at_host(&server, "echo.default.fn.test", "/here")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(echo["path"], "/here");
    // The default functions domain is nothing special to this server: a name it may claim.
    assert_eq!(
        add_domain(&server, "echo", "echo.default.functions.localhost")
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        add_domain(&server, "echo", "x.fn.test").await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(server.stop(), Some(0));

    // Another functions domain after the restart; custom domains route as before.
    let server =
        TestServer::start_in_env(dir.path(), &[], &[("GUST_FUNCTIONS_DOMAIN", "apps.test")]);
    let function = server
        .client()
        .get_function("default", "echo")
        .await
        .unwrap();
    assert_eq!(function.domain_name, "echo.default.apps.test");
    for host in ["echo.default.apps.test", "echo.default.functions.localhost"] {
        let echo = json_of(at_host(&server, host, "/again").send().await.unwrap()).await;
        assert_eq!(echo["path"], "/again", "{host}");
    }
    let old = at_host(&server, "echo.default.fn.test", "/healthz")
        .send()
        .await
        .unwrap();
    assert_eq!(
        old.status(),
        StatusCode::OK,
        "an unknown host reaches the server"
    );
}

#[tokio::test]
async fn custom_domains_are_added_listed_and_deleted_from_the_cli() {
    let server = TestServer::start();
    let home = tempfile::tempdir().unwrap();
    server.deploy_ready("echo", public(), &test_guest()).await;

    let id = cli_stdout(&cli(
        &server,
        home.path(),
        &["domain", "add", "default/echo", "cli.example.com"],
    ))
    .trim()
    .to_string();
    let listed = cli_stdout(&cli(
        &server,
        home.path(),
        &["domain", "list", "default/echo"],
    ));
    assert!(listed.contains(&id), "{listed}");
    assert!(listed.contains("cli.example.com"), "{listed}");
    let as_json: Value = serde_json::from_str(&cli_stdout(&cli(
        &server,
        home.path(),
        &["domain", "list", "echo", "--json"],
    )))
    .unwrap();
    assert_eq!(as_json["items"][0]["hostname"], "cli.example.com");
    let routed = at_host(&server, "cli.example.com", "/")
        .send()
        .await
        .unwrap();
    assert_eq!(routed.status(), StatusCode::OK);

    let refused = cli(
        &server,
        home.path(),
        &["domain", "add", "default/echo", "not_a_host"],
    );
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("error: "), "{stderr}");
    assert!(
        stderr.contains("hint: fix the value of `hostname`"),
        "{stderr}"
    );

    let shown = cli_stdout(&cli(&server, home.path(), &["fn", "get", "echo"]));
    assert!(
        shown.contains("echo.default.functions.localhost"),
        "{shown}"
    );

    cli_stdout(&cli(
        &server,
        home.path(),
        &["domain", "delete", "default/echo", &id],
    ));
    let gone = at_host(&server, "cli.example.com", "/")
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}
