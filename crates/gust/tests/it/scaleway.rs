//! The Scaleway dialect at `/compat/scaleway`: Scaleway's official SDKs (PyPI
//! `scaleway==2.12.0`, npm `@scaleway/sdk-function@1.7.0` with `@scaleway/sdk-client`,
//! installed by the tests themselves) drive the whole life of a function, and raw requests
//! check the conventions the SDKs rely on, signed URLs, crons firing and the errors for bad
//! input.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use gust_test_tools::{NpmFolder, PythonVenv};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{TestServer, run_client_script, zip};

const PREFIX: &str = "/compat/scaleway";
const REGION: &str = "fr-par";
const API: &str = "/compat/scaleway/functions/v1beta1/regions/fr-par";
const PROJECT: &str = "6f0c6a0e-2d9b-4c1e-9a55-3b8f2f0a7d11";

fn scripts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/scaleway")
}

/// An admin token with a UUID secret, as the SDKs insist on.
async fn uuid_token(server: &TestServer, scopes: &[&str]) -> String {
    server
        .client()
        .create_token(&json!({"scopes": scopes, "format": "uuid", "description": "scaleway"}))
        .await
        .unwrap()
        .token
        .unwrap()
}

/// The environment the SDKs read their configuration from, and what the scripts need besides.
async fn sdk_env(server: &TestServer, workdir: &std::path::Path) -> Vec<(&'static str, String)> {
    const HANDLER: &str = "module.exports.handle = async (event, context) => ({
  statusCode: 200,
  headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify({
    version: 'VERSION', path: event.path, query: event.queryStringParameters,
    ns_var: process.env.NS_VAR, fn_var: process.env.FN_VAR,
    secrets_seen: process.env.NS_SECRET === 'ns-s3cret' && process.env.FN_SECRET === 'fn-s3cret',
    memory: context.memoryLimitInMb,
  }),
});
";
    let mut env = vec![
        ("SCW_API_URL", format!("{}{PREFIX}", server.url)),
        ("SCW_ACCESS_KEY", "SCWXXXXXXXXXXXXXXXXX".into()),
        ("SCW_SECRET_KEY", uuid_token(server, &["admin"]).await),
        ("SCW_DEFAULT_REGION", REGION.into()),
        ("SCW_DEFAULT_PROJECT_ID", PROJECT.into()),
        ("SCW_DEFAULT_ORGANIZATION_ID", PROJECT.into()),
        // The SDKs must not read a profile of the machine they run on.
        (
            "SCW_CONFIG_PATH",
            workdir.join("none.yaml").display().to_string(),
        ),
        ("GUST_URL", server.url.clone()),
        ("FUNCTIONS_DOMAIN", "functions.localhost".into()),
    ];
    for (name, version) in [("ZIP_V1", "v1"), ("ZIP_V2", "v2")] {
        let path = workdir.join(format!("{version}.zip"));
        let code = HANDLER.replace("VERSION", version);
        std::fs::write(&path, zip(&[("handler.js", code.as_bytes())])).unwrap();
        env.push((name, path.display().to_string()));
    }
    env
}

#[tokio::test]
async fn the_python_sdk_drives_the_whole_life_of_a_function() {
    let venv = PythonVenv::with(&["scaleway==2.12.0"]);
    let server = TestServer::start();
    let workdir = tempfile::tempdir().unwrap();
    let mut command = venv.command("python");
    command
        .arg(scripts().join("lifecycle.py"))
        .envs(sdk_env(&server, workdir.path()).await);
    run_client_script(command, "the Python SDK's lifecycle");
}

#[tokio::test]
async fn the_js_sdk_drives_the_whole_life_of_a_function() {
    let npm = NpmFolder::with(&["@scaleway/sdk-function@1.7.0", "@scaleway/sdk-client@1.3.3"]);
    let server = TestServer::start();
    let workdir = tempfile::tempdir().unwrap();
    let mut command = Command::new("node");
    command
        .arg(scripts().join("lifecycle.js"))
        .env("NODE_PATH", npm.dir().join("node_modules"))
        .envs(sdk_env(&server, workdir.path()).await);
    run_client_script(command, "the JS SDK's lifecycle");
}

/// A raw client of the dialect, with the headers the SDKs send.
struct Raw<'a> {
    server: &'a TestServer,
    http: reqwest::Client,
    token: String,
}

impl<'a> Raw<'a> {
    async fn new(server: &'a TestServer) -> Self {
        Self {
            server,
            http: server.http(),
            token: uuid_token(server, &["admin"]).await,
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = request.send().await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string());
        let text = response.text().await.unwrap();
        if !text.is_empty() {
            // Exactly this: the JS SDK reads anything else as text.
            assert_eq!(content_type.as_deref(), Some("application/json"), "{text}");
        }
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{API}{path}", self.server.url))
            .header("x-auth-token", &self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request).await
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::PATCH, path, Some(body)).await
    }

    /// A namespace and a Python function in it, deployed from `handler.py` and ready.
    async fn ready_function(&self, name: &str, handler: &str) -> Value {
        let (status, ns) = self
            .post(
                "/namespaces",
                json!({"name": format!("{name}-ns"), "project_id": PROJECT}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{ns}");
        let (status, function) = self
            .post(
                "/functions",
                json!({"namespace_id": ns["id"], "name": name, "runtime": "python311"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{function}");
        let id = function["id"].as_str().unwrap().to_string();
        let code = zip(&[("handler.py", handler.as_bytes())]);
        let url = self.upload_url(&id, code.len()).await;
        let put = self.http.put(&url).body(code).send().await.unwrap();
        assert_eq!(
            put.status(),
            StatusCode::OK,
            "{}",
            put.text().await.unwrap()
        );
        let (status, _) = self
            .post(&format!("/functions/{id}/deploy"), json!({}))
            .await;
        assert_eq!(status, StatusCode::OK);
        self.wait_ready(&id).await
    }

    async fn upload_url(&self, id: &str, length: usize) -> String {
        let (status, body) = self
            .get(&format!(
                "/functions/{id}/upload-url?content_length={length}"
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body["headers"]["content-length"],
            json!([length.to_string()])
        );
        body["url"].as_str().unwrap().to_string()
    }

    async fn wait_ready(&self, id: &str) -> Value {
        for _ in 0..600 {
            let (_, function) = self.get(&format!("/functions/{id}")).await;
            match function["status"].as_str() {
                Some("ready") => return function,
                Some("error") => panic!("the build failed: {function}"),
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        panic!("function {id} did not get ready");
    }
}

const ECHO: &str = "import json
def handle(event, context):
    return {'statusCode': 200, 'body': json.dumps({'path': event['path'], 'body': event['body'],
            'method': event['httpMethod']})}
";

#[tokio::test]
async fn requests_are_authenticated_and_errors_come_in_scaleway_shape() {
    let server = TestServer::start();
    let raw = Raw::new(&server).await;
    let url = format!("{}{API}/namespaces", server.url);

    let (status, body) = raw.send(raw.http.get(&url)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["type"], "denied_authentication", "{body}");
    assert_eq!(body["method"], "api_key");
    assert_eq!(body["reason"], "not_found");
    let (status, body) = raw
        .send(
            raw.http
                .get(&url)
                .header("x-auth-token", "6b1e3f7c-0000-4000-8000-000000000000"),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["reason"], "invalid_argument", "{body}");

    // A read-only token reads but does not write.
    let reader = uuid_token(&server, &["read"]).await;
    let (status, _) = raw
        .send(raw.http.get(&url).header("x-auth-token", &reader))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = raw
        .send(
            raw.http
                .post(&url)
                .header("x-auth-token", &reader)
                .json(&json!({"name": "nope"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["type"], "permissions_denied", "{body}");
    assert!(body["details"][0]["resource"].is_string(), "{body}");

    // Any region of the pattern is accepted and kept; others are refused.
    let (status, ns) = raw
        .send(
            raw.http
                .post(format!("{}{PREFIX}/functions/v1beta1/regions/nl-ams/namespaces", server.url))
                .header("x-auth-token", &raw.token)
                .json(&json!({"name": "amsterdam", "project_id": PROJECT, "organization_id": PROJECT})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{ns}");
    assert_eq!(ns["region"], "nl-ams");
    assert_eq!(ns["project_id"], PROJECT);
    assert_eq!(ns["organization_id"], PROJECT);
    assert_eq!(ns["status"], "ready");
    let (_, listed) = raw.get("/namespaces").await;
    assert!(
        !listed["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["name"] == "amsterdam"),
        "fr-par lists no nl-ams namespace: {listed}"
    );
    let (status, body) = raw
        .send(
            raw.http
                .get(format!(
                    "{}{PREFIX}/functions/v1beta1/regions/paris/namespaces",
                    server.url
                ))
                .header("x-auth-token", &raw.token),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["type"], "invalid_arguments");
    assert_eq!(body["details"][0]["argument_name"], "region", "{body}");

    // Missing things are not_found with their resource and id.
    let (status, body) = raw
        .get("/functions/0193aaaa-0000-7000-8000-000000000000")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["type"], "not_found");
    assert_eq!(body["resource"], "function");
    assert_eq!(body["resource_id"], "0193aaaa-0000-7000-8000-000000000000");
    // Past the last page a list is empty, with the total.
    let (status, body) = raw.get("/namespaces?page=99&page_size=10").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["namespaces"], json!([]));
    assert!(body["total_count"].as_u64().unwrap() >= 1, "{body}");
}

#[tokio::test]
async fn bad_values_are_400s_naming_the_argument_and_write_nothing() {
    let server = TestServer::start();
    let raw = Raw::new(&server).await;
    let (_, ns) = raw.post("/namespaces", json!({"name": "strict"})).await;
    let base = json!({"namespace_id": ns["id"], "name": "f", "runtime": "python311"});
    let with = |change: Value| {
        let mut body = base.clone();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    for (body, argument) in [
        (with(json!({"memory_limit": 999_999})), "memory_limit"),
        (with(json!({"memory_limit": 1})), "memory_limit"),
        (with(json!({"runtime": "cobol85"})), "runtime"),
        (with(json!({"min_scale": -1})), "min_scale"),
        (with(json!({"min_scale": 3, "max_scale": 1})), "min_scale"),
        (with(json!({"timeout": "ten seconds"})), "timeout"),
        (with(json!({"privacy": "secret"})), "privacy"),
        (with(json!({"name": "Not A Label"})), "name"),
        (
            with(json!({"environment_variables": {"BAD-KEY": "v"}})),
            "environment_variables.BAD-KEY",
        ),
        (json!({"name": "f", "runtime": "python311"}), "namespace_id"),
    ] {
        let (status, error) = raw.post("/functions", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {error}");
        assert_eq!(error["type"], "invalid_arguments", "{error}");
        assert_eq!(
            error["details"][0]["argument_name"], argument,
            "{body} → {error}"
        );
    }
    let (_, listed) = raw
        .get(&format!(
            "/functions?namespace_id={}",
            ns["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(listed["total_count"], 0, "nothing half-made: {listed}");

    let (_, function) = raw.post("/functions", base.clone()).await;
    let id = function["id"].as_str().unwrap();
    for (body, argument) in [
        (
            json!({"function_id": id, "schedule": "every minute"}),
            "schedule",
        ),
        (json!({"function_id": id}), "schedule"),
        (
            json!({"function_id": id, "schedule": "* * * * *", "args": [1]}),
            "args",
        ),
    ] {
        let (status, error) = raw.post("/crons", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {error}");
        assert_eq!(error["details"][0]["argument_name"], argument, "{error}");
    }
    for (query, argument) in [
        ("", "content_length"),
        ("?content_length=lots", "content_length"),
    ] {
        let (status, error) = raw.get(&format!("/functions/{id}/upload-url{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
        assert_eq!(error["details"][0]["argument_name"], argument, "{error}");
    }
    for (body, argument) in [
        (json!({"function_id": id, "name": "t"}), "scw_sqs_config"),
        (
            json!({"function_id": id, "name": "", "scw_sqs_config": {"queue": "q"}}),
            "name",
        ),
        (
            json!({"function_id": id, "name": "t", "scw_nats_config": {"subject": ""}}),
            "scw_nats_config.subject",
        ),
    ] {
        let (status, error) = raw.post("/triggers", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {error}");
        assert_eq!(error["details"][0]["argument_name"], argument, "{error}");
    }
    let (status, error) = raw.get("/functions?page_size=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["details"][0]["argument_name"], "page_size");
    let (_, kept) = raw.get(&format!("/functions/{id}")).await;
    assert_eq!(kept["status"], "created", "{kept}");
}

#[tokio::test]
async fn upload_urls_are_signed_bound_and_single_use() {
    let server = TestServer::start();
    let raw = Raw::new(&server).await;
    let function = raw.ready_function("signed", ECHO).await;
    let id = function["id"].as_str().unwrap();
    let code = zip(&[(
        "handler.py",
        ECHO.replace("{'path':", "{'where':").as_bytes(),
    )]);

    // Longer or shorter than declared: refused, and nothing stored.
    let url = raw.upload_url(id, code.len()).await;
    let mut longer = code.clone();
    longer.extend_from_slice(b"more");
    let (status, error) = raw.send(raw.http.put(&url).body(longer)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["type"], "invalid_arguments", "{error}");
    let (status, _) = raw.send(raw.http.put(&url).body(code[..10].to_vec())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Tampered: another signature, or the URL of another length.
    let tampered = format!("{}x", &url);
    let (status, error) = raw.send(raw.http.put(&tampered).body(code.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{error}");
    assert_eq!(error["type"], "permissions_denied", "{error}");

    // The good one works once.
    let put = raw.http.put(&url).body(code.clone()).send().await.unwrap();
    assert_eq!(put.status(), StatusCode::OK);
    let (status, _) = raw.send(raw.http.put(&url).body(code.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a replay is refused");

    // Still the old code until a deploy; then the new one, and the download is the upload.
    let (_, unchanged) = raw.get(&format!("/functions/{id}")).await;
    assert_eq!(unchanged["status"], "ready");
    let (status, deploying) = raw
        .post(&format!("/functions/{id}/deploy"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{deploying}");
    let function = raw.wait_ready(id).await;
    let host = function["domain_name"].as_str().unwrap();
    let answer: Value = raw
        .http
        .get(format!("{}/x", server.url))
        .header("host", host)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["where"], "/x", "{answer}");
    let (_, download) = raw.get(&format!("/functions/{id}/download-url")).await;
    let bytes = raw
        .http
        .get(download["url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes.as_ref(), code.as_slice());
}

#[tokio::test]
async fn expired_upload_urls_are_refused() {
    let server = TestServer::start_with_env(&[], &[("GUST_SIGNED_URL_SECS", "1")]);
    let raw = Raw::new(&server).await;
    let (_, ns) = raw.post("/namespaces", json!({"name": "late"})).await;
    let (_, function) = raw
        .post(
            "/functions",
            json!({"namespace_id": ns["id"], "name": "late", "runtime": "python311"}),
        )
        .await;
    let code = zip(&[("handler.py", ECHO.as_bytes())]);
    let url = raw
        .upload_url(function["id"].as_str().unwrap(), code.len())
        .await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, error) = raw.send(raw.http.put(&url).body(code)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{error}");
}

#[tokio::test]
async fn crons_fire_with_their_args_as_the_body() {
    let server = TestServer::start();
    let raw = Raw::new(&server).await;
    let function = raw.ready_function("ticked", ECHO).await;
    let id = function["id"].as_str().unwrap();
    let (status, cron) = raw
        .post(
            "/crons",
            json!({"function_id": id, "schedule": "@every 1s", "args": {"n": 1}, "name": "tick"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{cron}");
    let client = server.client();
    let ns = function["namespace_id"].as_str().unwrap();
    let mut runs = Vec::new();
    for _ in 0..100 {
        runs = client
            .list_executions(ns, id, &[("trigger", "schedule")])
            .await
            .unwrap()
            .items;
        // Finished ones only: a tick may still be queued or running.
        runs.retain(|run| run.response.is_some());
        if runs.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(runs.len() >= 2, "{runs:?}");
    let echo: Value = serde_json::from_str(&runs[0].response.as_ref().unwrap().body.body).unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(
        serde_json::from_str::<Value>(echo["body"].as_str().unwrap()).unwrap(),
        json!({"n": 1})
    );

    // Args change in place; deleting stops it.
    let cron_id = cron["id"].as_str().unwrap();
    let (_, patched) = raw
        .patch(&format!("/crons/{cron_id}"), json!({"args": {"n": 2}}))
        .await;
    assert_eq!(patched["args"], json!({"n": 2}));
    let (status, deleted) = raw
        .call(
            reqwest::Method::DELETE,
            &format!("/crons/{cron_id}"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deleted["status"], "deleting");
    let (status, _) = raw.get(&format!("/crons/{cron_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn redirected_functions_send_plain_http_to_https() {
    let server = TestServer::start();
    let raw = Raw::new(&server).await;
    let function = raw.ready_function("tls-only", ECHO).await;
    let id = function["id"].as_str().unwrap();
    let (_, function) = raw
        .patch(
            &format!("/functions/{id}"),
            json!({"http_option": "redirected", "redeploy": false}),
        )
        .await;
    assert_eq!(function["http_option"], "redirected");
    let host = function["domain_name"].as_str().unwrap();
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = no_redirects
        .get(format!("{}/a?b=1", server.url))
        .header("host", host)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_redirection(), "{}", response.status());
    assert_eq!(
        response.headers()["location"],
        format!("https://{host}/a?b=1").as_str()
    );
    // Behind a proxy that ended TLS, it serves.
    let response = no_redirects
        .get(format!("{}/a", server.url))
        .header("host", host)
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}
