//! The Appwrite dialect at `/compat/appwrite/v1`: Appwrite's official SDKs of the 0.15
//! generation (PyPI `appwrite==0.10.0`, npm `node-appwrite@7.0.3`, installed by the tests
//! themselves) drive the whole life of a function, and raw requests check the conventions the
//! SDKs rely on and the errors for bad input.

use std::path::PathBuf;
use std::process::Command;

use gust_test_tools::{NpmFolder, PythonVenv};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{TestServer, run_client_script, tar_gz};

const PREFIX: &str = "/compat/appwrite/v1";

fn scripts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/appwrite")
}

/// The environment the SDK scripts read: endpoint, project, a full key and a read-only one.
async fn sdk_env(server: &TestServer, workdir: &std::path::Path) -> Vec<(&'static str, String)> {
    let read_only = server
        .client()
        .create_token(&json!({"description": "read only", "scopes": ["read"]}))
        .await
        .unwrap()
        .token
        .unwrap();
    vec![
        ("APPWRITE_ENDPOINT", format!("{}{PREFIX}", server.url)),
        ("APPWRITE_PROJECT", "default".into()),
        ("APPWRITE_KEY", server.token.clone()),
        ("APPWRITE_READ_KEY", read_only),
        ("WORKDIR", workdir.display().to_string()),
    ]
}

#[tokio::test]
async fn the_python_sdk_drives_the_whole_life_of_a_function() {
    let venv = PythonVenv::with(&["appwrite==0.10.0"]);
    let server = TestServer::start();
    let workdir = tempfile::tempdir().unwrap();
    let mut command = venv.command("python");
    command
        .arg(scripts().join("lifecycle.py"))
        .envs(sdk_env(&server, workdir.path()).await);
    run_client_script(command, "the Python SDK's lifecycle");
}

#[tokio::test]
async fn the_node_sdk_drives_the_whole_life_of_a_function() {
    let npm = NpmFolder::with(&["node-appwrite@7.0.3"]);
    let server = TestServer::start();
    let workdir = tempfile::tempdir().unwrap();
    let mut command = Command::new("node");
    command
        .arg(scripts().join("lifecycle.js"))
        .env("NODE_PATH", npm.dir().join("node_modules"))
        .envs(sdk_env(&server, workdir.path()).await);
    run_client_script(command, "the Node SDK's lifecycle");
}

/// A raw client of the dialect, with the headers the SDKs send.
struct Raw<'a> {
    server: &'a TestServer,
    http: reqwest::Client,
}

impl<'a> Raw<'a> {
    fn new(server: &'a TestServer) -> Self {
        Self {
            server,
            http: server.http(),
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{PREFIX}{path}", self.server.url))
            .header("x-appwrite-project", "default")
            .header("x-appwrite-key", &self.server.token)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (StatusCode, String, Value) {
        let response = request.send().await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("a {status} without a content type"));
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, content_type, body)
    }

    async fn json(&self, method: reqwest::Method, path: &str, body: Value) -> (StatusCode, Value) {
        let (status, _, body) = self.send(self.request(method, path).json(&body)).await;
        (status, body)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (status, _, body) = self.send(self.request(reqwest::Method::GET, path)).await;
        (status, body)
    }

    /// An upload as the SDKs send it: multipart with `entrypoint`, `code`, `activate`.
    async fn upload(
        &self,
        function: &str,
        code: Vec<u8>,
        file_name: &str,
        headers: &[(&str, String)],
    ) -> (StatusCode, Value) {
        let form = reqwest::multipart::Form::new()
            .text("entrypoint", "main.py")
            .part(
                "code",
                reqwest::multipart::Part::bytes(code).file_name(file_name.to_string()),
            )
            .text("activate", "true");
        let mut request = self
            .request(
                reqwest::Method::POST,
                &format!("/functions/{function}/deployments"),
            )
            .multipart(form);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let (status, _, body) = self.send(request).await;
        (status, body)
    }
}

fn assert_error(status: StatusCode, body: &Value, want: StatusCode, kind: &str) {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["type"], kind, "{body}");
    assert_eq!(body["code"], want.as_u16(), "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(body["version"].is_string(), "{body}");
}

#[tokio::test]
async fn client_conventions_bodies_on_get_nulls_content_types_and_old_formats() {
    use reqwest::Method;
    let server = TestServer::start();
    let raw = Raw::new(&server);
    // The Python SDK sends `null` for every unset optional; they take their defaults.
    let (status, created) = raw
        .json(
            Method::POST,
            "/functions",
            json!({"functionId": "conv", "name": "Conventions", "execute": [], "runtime": "python-3.11",
                   "vars": null, "events": null, "schedule": null, "timeout": null}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["vars"], json!({}));
    assert_eq!(created["timeout"], 15);
    assert_eq!(created["events"], json!([]));
    assert_eq!(created["schedule"], "");
    assert_eq!(created["status"], "disabled");

    // GETs and DELETEs carry `{}` (Python) or `null` (Node) bodies: ignored.
    for body in ["{}", "null"] {
        let (status, content_type, listed) = raw
            .send(
                raw.request(Method::GET, "/functions")
                    .header("content-type", "application/json")
                    .body(body),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{listed}");
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
        assert_eq!(listed["total"], 1);
    }

    // The project may come in the query string.
    let (status, _, _) = raw
        .send(
            server
                .http()
                .get(format!(
                    "{}{PREFIX}/functions/conv?project=default",
                    server.url
                ))
                .header("x-appwrite-key", &server.token),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // 0.13 clients (the CLI) get `dateCreated`; 0.15 ones `$createdAt`.
    let (_, _, old) = raw
        .send(
            raw.request(Method::GET, "/functions/conv")
                .header("x-appwrite-response-format", "0.13.0"),
        )
        .await;
    assert!(
        old["dateCreated"].is_i64() && old.get("$createdAt").is_none(),
        "{old}"
    );
    let (_, _, new) = raw
        .send(
            raw.request(Method::GET, "/functions/conv")
                .header("x-appwrite-response-format", "0.15.0"),
        )
        .await;
    assert!(
        new["$createdAt"].is_i64() && new.get("dateCreated").is_none(),
        "{new}"
    );

    // The function is the same one natively: same id, the name as its title.
    let native = server
        .client()
        .get_function("default", "conv")
        .await
        .unwrap();
    assert_eq!(
        (native.id.as_str(), native.title.as_str()),
        ("conv", "Conventions")
    );

    // A 204 still says what it is.
    let (status, content_type, _) = raw
        .send(
            raw.request(Method::DELETE, "/functions/conv")
                .header("content-type", "application/json")
                .body("{}"),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(!content_type.is_empty());

    let (status, _, body) = raw.send(raw.request(Method::GET, "/nowhere")).await;
    assert_error(
        status,
        &body,
        StatusCode::NOT_FOUND,
        "general_route_not_found",
    );
}

#[tokio::test]
async fn bad_input_is_a_400_naming_the_parameter_and_writes_nothing() {
    use reqwest::Method;
    let server = TestServer::start();
    let raw = Raw::new(&server);
    let base = json!({"functionId": "bad", "name": "n", "execute": [], "runtime": "python-3.11"});
    let with = |field: &str, value: Value| {
        let mut body = base.clone();
        body[field] = value;
        body
    };
    let without = |field: &str| {
        let mut body = base.clone();
        body.as_object_mut().unwrap().remove(field);
        body
    };
    let cases = [
        (without("name"), "name"),
        (without("functionId"), "functionId"),
        (without("runtime"), "runtime"),
        (with("timeout", json!(0)), "timeout"),
        (with("timeout", json!(901)), "timeout"),
        (with("runtime", json!("cobol-1.0")), "runtime"),
        (with("name", json!("x".repeat(129))), "name"),
        (with("functionId", json!("_leading")), "functionId"),
        (with("functionId", json!("x".repeat(37))), "functionId"),
        (with("execute", json!("role:all")), "execute"),
        (with("vars", json!({"9bad": "v"})), "vars"),
        (with("schedule", json!("every day")), "schedule"),
        (with("events", json!(["a..b"])), "events"),
    ];
    for (body, param) in cases {
        let (status, error) = raw.json(Method::POST, "/functions", body.clone()).await;
        assert_error(
            status,
            &error,
            StatusCode::BAD_REQUEST,
            "general_argument_invalid",
        );
        assert!(
            error["message"].as_str().unwrap().contains(param),
            "{param}: {error}"
        );
    }
    let (status, body) = raw.json(Method::GET, "/functions", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["total"], 0, "nothing half-written: {body}");

    let (status, _) = raw.json(Method::POST, "/functions", base.clone()).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, error) = raw.get("/functions?limit=101").await;
    assert_error(
        status,
        &error,
        StatusCode::BAD_REQUEST,
        "general_argument_invalid",
    );
    let (status, error) = raw.get("/functions?orderType=sideways").await;
    assert_error(
        status,
        &error,
        StatusCode::BAD_REQUEST,
        "general_argument_invalid",
    );
    let (status, error) = raw.get("/functions?cursor=missing").await;
    assert_error(
        status,
        &error,
        StatusCode::BAD_REQUEST,
        "general_cursor_not_found",
    );

    // Uploads: an empty file, a file that is not a .tar.gz, a missing entrypoint.
    let (status, error) = raw.upload("bad", Vec::new(), "code.tar.gz", &[]).await;
    assert_error(
        status,
        &error,
        StatusCode::BAD_REQUEST,
        "storage_file_empty",
    );
    let (status, error) = raw.upload("bad", b"hello".to_vec(), "code.txt", &[]).await;
    assert_error(
        status,
        &error,
        StatusCode::BAD_REQUEST,
        "storage_file_type_unsupported",
    );
    let (status, error) = raw
        .upload("bad", b"not gzip at all".to_vec(), "code.tar.gz", &[])
        .await;
    assert_error(
        status,
        &error,
        StatusCode::BAD_REQUEST,
        "storage_file_type_unsupported",
    );
    let form = reqwest::multipart::Form::new()
        .part(
            "code",
            reqwest::multipart::Part::bytes(tar_gz(&[("main.py", b"x = 1\n")]))
                .file_name("code.tar.gz"),
        )
        .text("activate", "true");
    let (status, _, error) = raw
        .send(
            raw.request(Method::POST, "/functions/bad/deployments")
                .multipart(form),
        )
        .await;
    assert_error(
        status,
        &error,
        StatusCode::BAD_REQUEST,
        "general_argument_invalid",
    );
    assert!(error["message"].as_str().unwrap().contains("entrypoint"));
    let (status, body) = raw
        .json(Method::GET, "/functions/bad/deployments", json!({}))
        .await;
    assert_eq!(
        (status, &body["total"]),
        (StatusCode::OK, &json!(0)),
        "{body}"
    );

    // An execution's data is bounded; a function without a deployment has nothing to run.
    let (status, error) = raw
        .json(
            Method::POST,
            "/functions/bad/executions",
            json!({"data": "x".repeat(8193)}),
        )
        .await;
    assert_error(
        status,
        &error,
        StatusCode::BAD_REQUEST,
        "general_argument_invalid",
    );
    assert!(error["message"].as_str().unwrap().contains("data"));
    let (status, error) = raw
        .json(
            Method::POST,
            "/functions/bad/executions",
            json!({"data": "x", "async": false}),
        )
        .await;
    assert_error(
        status,
        &error,
        StatusCode::NOT_FOUND,
        "deployment_not_found",
    );
}

#[tokio::test]
async fn execute_permissions_let_guests_run_public_functions_only() {
    use reqwest::Method;
    let server = TestServer::start();
    let raw = Raw::new(&server);
    let handler = b"def main(req, res):\n    return res.send('hi ' + req.payload)\n";
    for (id, execute) in [
        ("open", json!(["role:all"])),
        ("closed", json!(["role:member"])),
    ] {
        let (status, body) = raw
            .json(
                Method::POST,
                "/functions",
                json!({"functionId": id, "name": id, "execute": execute, "runtime": "python-3.11"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = raw
            .upload(id, tar_gz(&[("main.py", handler)]), "code.tar.gz", &[])
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        server
            .client()
            .wait_for_build(
                "default",
                id,
                body["$id"].as_str().unwrap(),
                std::time::Duration::from_secs(120),
            )
            .await
            .unwrap();
    }
    let guest = |id: &str| {
        server
            .http()
            .post(format!("{}{PREFIX}/functions/{id}/executions", server.url))
            .header("x-appwrite-project", "default")
            .json(&json!({"data": "guest", "async": false}))
    };
    let (status, _, body) = raw.send(guest("open")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["response"], "hi guest", "{body}");
    let (status, _, body) = raw.send(guest("closed")).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "user_unauthorized");
    // With a key that may invoke, the closed one runs too.
    let (status, body) = raw
        .json(
            Method::POST,
            "/functions/closed/executions",
            json!({"data": "key", "async": false}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["response"], "hi key", "{body}");
    // A cursor must be an execution of the function listed, not of another.
    let (status, error) = raw
        .get(&format!(
            "/functions/open/executions?cursor={}",
            body["$id"].as_str().unwrap()
        ))
        .await;
    assert_error(
        status,
        &error,
        StatusCode::BAD_REQUEST,
        "general_cursor_not_found",
    );
    // Guests still cannot manage functions.
    let (status, _, body) = raw
        .send(
            server
                .http()
                .get(format!("{}{PREFIX}/functions", server.url))
                .header("x-appwrite-project", "default"),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "general_unauthorized_scope",
    );
}

/// Appwrite's CLI of the era (`appwrite-cli@0.16.0`, which asks for 0.13 models): it lists,
/// deploys a folder it packs itself, and executes.
#[tokio::test]
async fn the_appwrite_cli_lists_deploys_and_executes() {
    let npm = NpmFolder::with(&["appwrite-cli@0.16.0"]);
    let server = TestServer::start();
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let appwrite = |args: &[&str]| -> Value {
        let output = Command::new(npm.dir().join("node_modules/.bin/appwrite"))
            .args(args)
            .env("HOME", home.path())
            .env("NO_COLOR", "1")
            .current_dir(work.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        assert!(
            output.status.success() && !stdout.contains("Error"),
            "appwrite {args:?}: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        // `--json` prints the response, then a success line.
        match (stdout.find('{'), stdout.rfind('}')) {
            (Some(start), Some(end)) => serde_json::from_str(&stdout[start..=end])
                .unwrap_or_else(|e| panic!("appwrite {args:?}: {e}: {stdout}")),
            _ => Value::Null,
        }
    };
    let endpoint = format!("{}{PREFIX}", server.url);
    appwrite(&[
        "client",
        "--endpoint",
        &endpoint,
        "--projectId",
        "default",
        "--key",
        &server.token,
    ]);
    let created = appwrite(&[
        "functions",
        "create",
        "--functionId",
        "clifn",
        "--name",
        "CLI function",
        "--execute",
        "role:all",
        "--runtime",
        "python-3.11",
        "--json",
    ]);
    assert_eq!(created["$id"], "clifn", "{created}");
    assert!(created["dateCreated"].is_i64(), "0.13 models: {created}");

    let code = work.path().join("code");
    std::fs::create_dir(&code).unwrap();
    std::fs::write(
        code.join("main.py"),
        "def main(req, res):\n    return res.send('cli ' + req.payload)\n",
    )
    .unwrap();
    let deployment = appwrite(&[
        "functions",
        "createDeployment",
        "--functionId",
        "clifn",
        "--entrypoint",
        "main.py",
        "--code",
        "./code",
        "--activate",
        "true",
        "--json",
    ]);
    let id = deployment["$id"].as_str().unwrap().to_string();
    server
        .client()
        .wait_for_build("default", "clifn", &id, std::time::Duration::from_secs(120))
        .await
        .unwrap();
    let listed = appwrite(&[
        "functions",
        "listDeployments",
        "--functionId",
        "clifn",
        "--json",
    ]);
    assert_eq!(listed["deployments"][0]["status"], "ready", "{listed}");

    let execution = appwrite(&[
        "functions",
        "createExecution",
        "--functionId",
        "clifn",
        "--data",
        "hello",
        "--async",
        "false",
        "--json",
    ]);
    assert_eq!(execution["status"], "completed", "{execution}");
    assert_eq!(
        execution["stdout"], "cli hello",
        "0.13 names the output stdout: {execution}"
    );
    let functions = appwrite(&["functions", "list", "--json"]);
    assert_eq!(functions["total"], 1, "{functions}");
}

/// Bytes that do not compress, so an archive holding them stays over the chunk size.
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

#[tokio::test]
async fn chunked_uploads_resume_and_refuse_bad_ranges() {
    use reqwest::Method;
    const CHUNK: usize = 5 * 1024 * 1024;
    let server = TestServer::start();
    let raw = Raw::new(&server);
    let (status, body) = raw
        .json(
            Method::POST,
            "/functions",
            json!({"functionId": "chunky", "name": "chunky", "execute": [], "runtime": "python-3.11"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let handler = b"def main(req, res):\n    return res.send('big')\n";
    let archive = tar_gz(&[
        ("main.py", handler),
        ("padding.bin", &noise(CHUNK + CHUNK / 4)),
    ]);
    let total = archive.len();
    assert!(total > CHUNK);
    let range =
        |start: usize, end: usize| ("content-range", format!("bytes {start}-{end}/{total}"));

    let first = archive[..CHUNK].to_vec();
    let (status, created) = raw
        .upload(
            "chunky",
            first.clone(),
            "code.tar.gz",
            &[range(0, CHUNK - 1)],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["status"], "processing", "{created}");
    assert_eq!(created["chunksUploaded"], 1, "{created}");
    let id = created["$id"].as_str().unwrap().to_string();
    let with_id = |header: (&'static str, String)| vec![header, ("x-appwrite-id", id.clone())];

    // The first chunk again (a retry after a lost answer) changes nothing.
    let (status, again) = raw
        .upload(
            "chunky",
            first,
            "code.tar.gz",
            &with_id(range(0, CHUNK - 1)),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert_eq!(again["$id"], id.as_str());
    // Ranges that are malformed, backwards, or leave a gap are refused.
    let rest = archive[CHUNK..].to_vec();
    for bad in [
        ("content-range", "bytes nonsense".to_string()),
        range(CHUNK + 10, CHUNK),
        range(CHUNK + 1, total),
    ] {
        let (status, error) = raw
            .upload("chunky", rest.clone(), "code.tar.gz", &with_id(bad.clone()))
            .await;
        assert_error(
            status,
            &error,
            StatusCode::BAD_REQUEST,
            "storage_invalid_content_range",
        );
        assert!(
            error["message"].as_str().unwrap().contains("Content-Range"),
            "{error}"
        );
    }
    let (status, now) = raw
        .get(&format!("/functions/chunky/deployments/{id}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (&now["status"], &now["chunksUploaded"]),
        (&json!("processing"), &json!(1)),
        "{now}"
    );

    // The last chunk, with the SDKs' end equal to the total, completes it.
    let (status, last) = raw
        .upload("chunky", rest, "code.tar.gz", &with_id(range(CHUNK, total)))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{last}");
    assert_eq!(last["size"], total, "{last}");
    let built = server
        .client()
        .wait_for_build(
            "default",
            "chunky",
            &id,
            std::time::Duration::from_secs(120),
        )
        .await
        .unwrap();
    assert_eq!(built.size, total as u64);

    // Deleting the active deployment leaves the function with none, as in Appwrite.
    let (status, _, _) = raw
        .send(raw.request(
            Method::DELETE,
            &format!("/functions/chunky/deployments/{id}"),
        ))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, function) = raw.get("/functions/chunky").await;
    assert_eq!(function["deployment"], "", "{function}");
    let (status, error) = raw
        .json(
            Method::POST,
            "/functions/chunky/executions",
            json!({"async": false}),
        )
        .await;
    assert_error(
        status,
        &error,
        StatusCode::NOT_FOUND,
        "deployment_not_found",
    );
}
