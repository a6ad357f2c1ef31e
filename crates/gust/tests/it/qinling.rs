//! The Qinling dialect at `/compat/qinling`: OpenStack Qinling's Python client and the
//! `openstack function` commands (PyPI `python-qinlingclient==5.1.1`, installed by the tests
//! themselves) drive the whole life of a function, and raw requests check the version
//! documents, the projects, the error shapes and every bad input.

use std::path::PathBuf;

use gust_test_tools::PythonVenv;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{TestServer, run_client_script, zip};

const ROOT: &str = "/compat/qinling";

fn scripts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/qinling")
}

fn venv() -> PythonVenv {
    PythonVenv::with(&["python-qinlingclient==5.1.1"])
}

fn client_env(server: &TestServer, workdir: &std::path::Path) -> Vec<(&'static str, String)> {
    vec![
        ("QINLING_URL", format!("{}{ROOT}", server.url)),
        ("QINLING_TOKEN", server.token.clone()),
        ("WORKDIR", workdir.display().to_string()),
        // The clients must not read a cloud configuration of the machine they run on.
        (
            "OS_CLIENT_CONFIG_FILE",
            workdir.join("none.yaml").display().to_string(),
        ),
        ("HOME", workdir.display().to_string()),
    ]
}

#[tokio::test]
async fn the_python_client_drives_the_whole_life_of_a_function() {
    let venv = venv();
    let server = TestServer::start();
    let workdir = tempfile::tempdir().unwrap();
    let mut command = venv.command("python");
    command
        .arg(scripts().join("lifecycle.py"))
        .envs(client_env(&server, workdir.path()));
    run_client_script(command, "the Qinling client's lifecycle");
}

#[tokio::test]
async fn the_openstack_cli_creates_runs_and_deletes_a_function() {
    let venv = venv();
    let server = TestServer::start();
    let workdir = tempfile::tempdir().unwrap();
    let mut command = venv.command("python");
    command
        .arg(scripts().join("osc.py"))
        .env("OPENSTACK", venv.dir().join("bin/openstack"))
        .envs(client_env(&server, workdir.path()));
    run_client_script(command, "the openstack CLI");
}

/// Raw requests with the headers the client sends.
struct Raw<'a> {
    server: &'a TestServer,
    http: reqwest::Client,
    token: String,
}

impl<'a> Raw<'a> {
    fn new(server: &'a TestServer) -> Self {
        Self {
            server,
            http: server.http(),
            token: server.token.clone(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{ROOT}{path}", self.server.url)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn json(&self, method: reqwest::Method, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(
            self.http
                .request(method, self.url(path))
                .header("x-auth-token", &self.token)
                .json(&body),
        )
        .await
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(
            self.http
                .get(self.url(path))
                .header("x-auth-token", &self.token),
        )
        .await
    }

    /// A function form, multipart, with `package` last as the client sends it.
    async fn form(
        &self,
        method: reqwest::Method,
        path: &str,
        fields: &[(&str, &str)],
        package: Option<Vec<u8>>,
    ) -> (StatusCode, Value) {
        let mut form = reqwest::multipart::Form::new();
        for (name, value) in fields {
            form = form.text(name.to_string(), value.to_string());
        }
        if let Some(bytes) = package {
            form = form.part(
                "package",
                reqwest::multipart::Part::bytes(bytes).file_name("package.zip"),
            );
        }
        self.send(
            self.http
                .request(method, self.url(path))
                .header("x-auth-token", &self.token)
                .multipart(form),
        )
        .await
    }

    async fn python_runtime(&self) -> String {
        let (_, runtimes) = self.get("/v1/runtimes").await;
        runtimes["runtimes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["image"] == "python3.11")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn function_ids(&self) -> Vec<String> {
        let (status, listed) = self.get("/v1/functions").await;
        assert_eq!(status, StatusCode::OK, "{listed}");
        listed["functions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect()
    }
}

fn hello_package() -> Vec<u8> {
    zip(&[(
        "main.py",
        b"def main(name='world', context=None):\n    return 'hello ' + name\n",
    )])
}

#[tokio::test]
async fn version_documents_need_no_token_and_the_api_needs_a_valid_one() {
    let server = TestServer::start();
    let raw = Raw::new(&server);
    for path in ["", "/"] {
        let (status, doc) = raw
            .send(raw.http.get(format!("{}{ROOT}{path}", server.url)))
            .await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(doc["versions"][0]["id"], "v1.0");
        assert_eq!(doc["versions"][0]["status"], "CURRENT");
        assert_eq!(
            doc["versions"][0]["links"][0]["href"],
            format!("{}{ROOT}/v1", server.url)
        );
    }
    let (status, doc) = raw.send(raw.http.get(raw.url("/v1"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["uri"], format!("{}{ROOT}/v1", server.url));

    let (status, error) = raw.send(raw.http.get(raw.url("/v1/functions"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        error["faultstring"]
            .as_str()
            .unwrap()
            .contains("X-Auth-Token")
    );
    let (status, error) = raw
        .send(
            raw.http
                .get(raw.url("/v1/functions"))
                .header("x-auth-token", "notused"),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{error}");

    // WSME routes add `faultcode` and `debuginfo`; pecan routes send `faultstring` alone.
    let (status, error) = raw
        .get("/v1/jobs/0190a5e8-0000-7000-8000-000000000000")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error["faultcode"], "Client");
    assert_eq!(error["debuginfo"], Value::Null);
    let (status, error) = raw.get("/v1/functions/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        error,
        json!({"faultstring": "Function not found [id=nope]"})
    );
}

#[tokio::test]
async fn a_token_limited_to_a_namespace_works_in_that_project_alone() {
    let server = TestServer::start();
    let client = server.client();
    let ns: Value = server
        .http()
        .post(format!("{}/api/v1/namespaces", server.url))
        .bearer_auth(&server.token)
        .json(&json!({"name": "tenant"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = client
        .create_token(&json!({"scopes": ["read", "write", "invoke"], "namespace": "tenant"}))
        .await
        .unwrap()
        .token
        .unwrap();
    let tenant = Raw {
        token,
        ..Raw::new(&server)
    };
    let runtime = tenant.python_runtime().await;
    let (status, made) = tenant
        .form(
            reqwest::Method::POST,
            "/v1/functions",
            &[
                ("runtime_id", &runtime),
                ("code", r#"{"source": "package"}"#),
            ],
            Some(hello_package()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!(made["project_id"], ns["id"]);
    // The admin works in project `default` (made on first use) unless it names another.
    let admin = Raw::new(&server);
    assert!(admin.function_ids().await.is_empty());
    let (_, listed) = admin
        .send(
            admin
                .http
                .get(admin.url("/v1/functions"))
                .header("x-auth-token", &admin.token)
                .header("x-project-id", "tenant"),
        )
        .await;
    assert_eq!(listed["functions"][0]["id"], made["id"]);
    let default = server
        .http()
        .get(format!("{}/api/v1/namespaces/default", server.url))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(default.status(), StatusCode::OK);
}

#[tokio::test]
async fn bad_input_is_a_400_naming_the_field_and_writes_nothing() {
    let server = TestServer::start();
    let raw = Raw::new(&server);
    let runtime = raw.python_runtime().await;
    let code = r#"{"source": "package"}"#;
    let post = reqwest::Method::POST;
    // Form fields, package, the status and a word the message must hold.
    type Case<'a> = (
        Vec<(&'a str, &'a str)>,
        Option<Vec<u8>>,
        StatusCode,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            vec![("runtime_id", &runtime)],
            Some(hello_package()),
            StatusCode::BAD_REQUEST,
            "code",
        ),
        (
            vec![("runtime_id", &runtime), ("code", "{not json")],
            Some(hello_package()),
            StatusCode::BAD_REQUEST,
            "code",
        ),
        (
            vec![("code", r#"{"source": "image", "image": "x/y"}"#)],
            None,
            StatusCode::BAD_REQUEST,
            "image",
        ),
        (
            vec![("code", r#"{"source": "ftp"}"#), ("runtime_id", &runtime)],
            Some(hello_package()),
            StatusCode::BAD_REQUEST,
            "source",
        ),
        (
            vec![("code", code)],
            Some(hello_package()),
            StatusCode::BAD_REQUEST,
            "runtime_id",
        ),
        (
            vec![("code", code), ("runtime_id", "nope")],
            Some(hello_package()),
            StatusCode::NOT_FOUND,
            "Runtime not found",
        ),
        (
            vec![("code", code), ("runtime_id", &runtime)],
            None,
            StatusCode::BAD_REQUEST,
            "package",
        ),
        (
            vec![
                ("code", r#"{"source": "package", "md5sum": "abc"}"#),
                ("runtime_id", &runtime),
            ],
            Some(hello_package()),
            StatusCode::BAD_REQUEST,
            "md5",
        ),
        (
            vec![("code", code), ("runtime_id", &runtime), ("cpu", "50")],
            Some(hello_package()),
            StatusCode::BAD_REQUEST,
            "cpu",
        ),
        (
            vec![
                ("code", code),
                ("runtime_id", &runtime),
                ("memory_size", "999999999999"),
            ],
            Some(hello_package()),
            StatusCode::BAD_REQUEST,
            "memory_size",
        ),
        (
            vec![("code", code), ("runtime_id", &runtime), ("timeout", "0")],
            Some(hello_package()),
            StatusCode::BAD_REQUEST,
            "timeout",
        ),
        (
            vec![
                ("code", code),
                ("runtime_id", &runtime),
                ("timeout", "soon"),
            ],
            Some(hello_package()),
            StatusCode::BAD_REQUEST,
            "timeout",
        ),
        (
            vec![("code", code), ("runtime_id", &runtime), ("entry", "main")],
            Some(hello_package()),
            StatusCode::BAD_REQUEST,
            "entry",
        ),
        (
            vec![("code", code), ("runtime_id", &runtime)],
            Some(b"not a zip".to_vec()),
            StatusCode::BAD_REQUEST,
            "package",
        ),
    ];
    for (fields, package, status, word) in cases {
        let (got, error) = raw
            .form(post.clone(), "/v1/functions", &fields, package)
            .await;
        assert_eq!(got, status, "{fields:?}: {error}");
        let message = error["faultstring"].as_str().unwrap_or_default();
        assert!(message.contains(word), "{fields:?}: {message}");
        assert!(
            raw.function_ids().await.is_empty(),
            "{fields:?} left a function"
        );
    }

    // A function to aim the JSON routes at.
    let (status, made) = raw
        .form(
            post.clone(),
            "/v1/functions",
            &[("runtime_id", &runtime), ("code", code)],
            Some(hello_package()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let id = made["id"].as_str().unwrap();
    // Urlencoded settings-only update, as the client sends one.
    let (status, updated) = raw
        .send(
            raw.http
                .put(raw.url(&format!("/v1/functions/{id}")))
                .header("x-auth-token", &raw.token)
                .form(&[("name", "renamed"), ("timeout", "10")]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(
        (updated["name"].as_str(), updated["timeout"].as_u64()),
        (Some("renamed"), Some(10))
    );
    assert!(updated["updated_at"].is_string());

    let json_cases = [
        ("/v1/executions", json!({"input": "{}"}), "function_id"),
        (
            "/v1/executions",
            json!({"function_id": id, "function_version": -1}),
            "function_version",
        ),
        (
            "/v1/executions",
            json!({"function_id": id, "sync": "maybe"}),
            "sync",
        ),
        (
            "/v1/jobs",
            json!({"function_id": id}),
            "first_execution_time",
        ),
        (
            "/v1/jobs",
            json!({"function_id": id, "pattern": "61 * * * *"}),
            "pattern",
        ),
        (
            "/v1/jobs",
            json!({"function_id": id, "first_execution_time": "tomorrow"}),
            "first_execution_time",
        ),
        (
            "/v1/jobs",
            json!({"function_id": id, "function_alias": "prod", "pattern": "* * * * *"}),
            "function_alias",
        ),
        (
            "/v1/jobs",
            json!({"function_id": id, "pattern": "* * * * *", "count": -2}),
            "count",
        ),
        (
            "/v1/aliases",
            json!({"name": "Bad Name", "function_id": id}),
            "name",
        ),
        ("/v1/aliases", json!({"function_id": id}), "name"),
        (
            "/v1/webhooks",
            json!({"function_id": id, "function_version": 3}),
            "function_version",
        ),
        ("/v1/runtimes", json!({"image": "docker/hello"}), "image"),
        (
            &format!("/v1/functions/{id}/scale_up"),
            json!({"count": 0}),
            "count",
        ),
        (
            &format!("/v1/functions/{id}/versions"),
            json!("not an object"),
            "JSON object",
        ),
    ];
    for (path, body, word) in json_cases {
        let (status, error) = raw.json(post.clone(), path, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {error}");
        let message = error["faultstring"].as_str().unwrap();
        assert!(message.contains(word), "{path} {body}: {message}");
    }
    for list in ["/v1/jobs", "/v1/aliases", "/v1/webhooks"] {
        let (_, listed) = raw.get(list).await;
        let items = listed.as_object().unwrap().values().next().unwrap();
        assert_eq!(items, &json!([]), "{list}");
    }
    let (_, executions) = raw.get(&format!("/v1/executions?function_id={id}")).await;
    assert_eq!(executions["executions"], json!([]));

    // Unknown ids are 404s, never 500s.
    let missing = "0190a5e8-0000-7000-8000-000000000000";
    for path in [
        format!("/v1/executions/{missing}"),
        format!("/v1/executions/{missing}/log"),
        format!("/v1/functions/{id}/versions/9"),
        "/v1/aliases/prod".to_string(),
        format!("/v1/webhooks/{missing}"),
        format!("/v1/runtimes/{missing}"),
    ] {
        let (status, error) = raw.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {error}");
    }
    let (status, error) = raw
        .send(
            raw.http
                .post(raw.url(&format!("/v1/webhooks/{missing}/invoke"))),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{error}");
    assert!(error.get("faultcode").is_none(), "{error}");
}
