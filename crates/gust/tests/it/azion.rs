//! The Azion dialect at `/compat/azion`: Azion's JS library (npm `azion@3.1.2`, installed by
//! the test, its fetch pointed at the server) manages an edge application, its function
//! instances and rules; raw v3 requests cover edge functions and domains, replay the seed's
//! own examples, and check every error; the applications then answer real requests, by path
//! and by host, with what the instance's function computes from its args.

use std::path::PathBuf;
use std::process::Command;

use gust_test_tools::NpmFolder;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{TestServer, workspace_root};

const ROOT: &str = "/compat/azion";

fn scripts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/azion")
}

/// Code written for Azion's runtime, as it is there.
fn worker_code() -> String {
    std::fs::read_to_string(workspace_root().join("tests/functions/azion-worker/main.js")).unwrap()
}

fn module_code() -> String {
    std::fs::read_to_string(workspace_root().join("tests/functions/azion-module/main.js")).unwrap()
}

/// Raw v3 requests, with the headers the seed's examples show.
struct Raw<'a> {
    server: &'a TestServer,
    http: reqwest::Client,
}

impl<'a> Raw<'a> {
    fn new(server: &'a TestServer) -> Self {
        Self {
            server,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{ROOT}{path}", self.server.url))
            .header("accept", "application/json; version=3")
            .header("authorization", format!("token {}", self.server.token))
    }

    async fn send(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
        };
        (status, body)
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        Self::send(request).await
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(body)).await
    }

    async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(body)).await
    }

    async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, None).await
    }

    /// An edge function with `code`; its id.
    async fn edge_function(&self, name: &str, code: &str, json_args: Value) -> u64 {
        let (status, body) = self
            .post(
                "/edge_functions",
                json!({"name": name, "language": "javascript", "code": code,
                       "initiator_type": "edge_application", "active": true, "json_args": json_args}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["results"]["id"].as_u64().unwrap()
    }

    /// An application with its edge functions module on, an instance of `function` with
    /// `args`, and a rule running it for every request; the application's and instance's ids.
    async fn application_running(&self, function: u64, args: Value) -> (u64, u64) {
        let (status, app) = self
            .post(
                "/edge_applications",
                json!({"name": "site", "edge_functions": true}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{app}");
        let app = app["results"]["id"].as_u64().unwrap();
        let (status, instance) = self
            .post(
                &format!("/edge_applications/{app}/functions_instances"),
                json!({"name": "main", "edge_function_id": function, "args": args}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{instance}");
        let instance = instance["results"]["id"].as_u64().unwrap();
        let (status, rule) = self
            .post(
                &format!("/edge_applications/{app}/rules_engine/request/rules"),
                json!({"name": "all", "phase": "request",
                       "criteria": [[{"variable": "${uri}", "operator": "starts_with", "conditional": "if", "input_value": "/"}]],
                       "behaviors": [{"name": "run_function", "target": instance}]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{rule}");
        (app, instance)
    }

    /// The ids of a list's results.
    async fn ids(&self, path: &str) -> Vec<u64> {
        let (status, body) = self.get(path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_u64().unwrap())
            .collect()
    }

    /// A request to an edge application by path, its JSON answer.
    async fn edge(&self, app: u64, path: &str) -> (StatusCode, Value) {
        Self::send(
            self.http
                .get(format!("{}/edge/{app}{path}", self.server.url)),
        )
        .await
    }
}

fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn the_js_library_manages_an_application_that_answers_from_its_instance_args() {
    let npm = NpmFolder::with(&["azion@3.1.2"]);
    let server = TestServer::start();
    let raw = Raw::new(&server);
    let function = raw
        .edge_function("greeter", &worker_code(), json!({}))
        .await;

    let mut command = Command::new("node");
    command
        .arg("--require")
        .arg(scripts().join("redirect.cjs"))
        .arg(scripts().join("lifecycle.js"))
        .env("NODE_PATH", npm.dir().join("node_modules"))
        .env("AZION_TOKEN", &server.token)
        .env("AZION_API_URL", format!("{}{ROOT}", server.url))
        .env("GUST_URL", &server.url)
        .env("EDGE_FUNCTION_ID", function.to_string());
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success() && stdout.contains("passed"),
        "Azion's JS library failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let app: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("application "))
        .unwrap()
        .parse()
        .unwrap();

    // The instance the library made is counted on its function.
    let (_, read) = raw.get(&format!("/edge_functions/{function}")).await;
    assert_eq!(read["results"]["reference_count"], 1);

    // A domain (raw v3: the library has no client for it) routes its cname to the application.
    let (status, domain) = raw
        .post(
            "/domains",
            json!({"name": "shop", "cnames": ["Shop.Example.com"], "cname_access_only": false,
                   "edge_application_id": app, "is_active": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{domain}");
    let domain = &domain["results"];
    assert_eq!(domain["cnames"], json!(["shop.example.com"]));
    assert_eq!(domain["edge_application_id"], app);
    let port = server.url.rsplit(':').next().unwrap();
    let by_host: Value = raw
        .http
        .get(format!("{}/greet/x?name=bo", server.url))
        .header("host", format!("shop.example.com:{port}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_host["greeting"], "hallo bo");
    assert_eq!(by_host["path"], "/greet/x");
    let generated = domain["domain_name"].as_str().unwrap();
    let (_, listed) = raw.get("/domains").await;
    assert_eq!(listed["count"], 1);
    let by_generated: Value = raw
        .http
        .get(format!("{}/greet", server.url))
        .header("host", format!("{generated}:{port}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_generated["args"], json!({"greeting": "hallo"}));
    let id = domain["id"].as_u64().unwrap();
    let (status, patched) = raw
        .patch(
            &format!("/domains/{id}"),
            json!({"cnames": ["shop.example.org"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["results"]["cnames"], json!(["shop.example.org"]));
    let (status, body) = raw.delete(&format!("/domains/{id}")).await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    assert!(raw.ids("/domains").await.is_empty());
}

#[tokio::test]
async fn edge_functions_are_built_read_changed_and_deleted() {
    let server = TestServer::start();
    let raw = Raw::new(&server);
    let code = worker_code();
    let (status, created) = raw
        .post(
            "/edge_functions",
            json!({"name": "Hello World", "language": "JavaScript", "code": code,
                   "initiator_type": "edge_application", "active": true,
                   "json_args": {"greeting": "olá"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["schema_version"], 3);
    let f = &created["results"];
    let id = f["id"].as_u64().unwrap();
    assert_eq!(
        (
            f["name"].as_str(),
            f["language"].as_str(),
            f["code"].as_str()
        ),
        (Some("Hello World"), Some("javascript"), Some(code.as_str()))
    );
    assert_eq!(f["json_args"], json!({"greeting": "olá"}));
    assert_eq!(
        (&f["initiator_type"], &f["active"], &f["reference_count"]),
        (&json!("edge_application"), &json!(true), &json!(0))
    );
    let modified = f["modified"].as_str().unwrap();
    assert!(
        modified.ends_with('Z') && modified.len() == 27,
        "{modified}"
    );

    // json_args are what the code gets when no instance gives any: at /fn/ too.
    let native = server.client();
    let functions = native.list_functions("default", &[]).await.unwrap();
    let function = functions.items.iter().find(|x| x.serial == id).unwrap();
    assert_eq!(function.title, "Hello World");
    let at_fn = |name: String| {
        let http = raw.http.clone();
        let url = format!("{}/fn/default/{name}/hi?name=ana", server.url);
        let token = server.token.clone();
        async move {
            let response = http.get(url).bearer_auth(token).send().await.unwrap();
            // The worker form answers 200, the module form 201.
            assert!(response.status().is_success(), "{}", response.status());
            response.json::<Value>().await.unwrap()
        }
    };
    assert_eq!(at_fn(function.name.clone()).await["greeting"], "olá ana");
    // ... and what an instance starts with when it is given none (natively).
    let (_, app) = raw
        .post(
            "/edge_applications",
            json!({"name": "a", "edge_functions": true}),
        )
        .await;
    let app = app["results"]["id"].as_u64().unwrap();
    let instance = native
        .create_edge_instance(
            app,
            &serde_json::from_value(json!({"name": "n", "function": id})).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(instance.args, json!({"greeting": "olá"}));

    // A syntax error is a 400 naming `code`; the function keeps its code.
    let (status, body) = raw
        .patch(
            &format!("/edge_functions/{id}"),
            json!({"name": "renamed", "code": "addEventListener('fetch', (e) => {"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["code"][0].as_str().unwrap().contains("SyntaxError"),
        "{body}"
    );
    let (_, read) = raw.get(&format!("/edge_functions/{id}")).await;
    assert_eq!(read["results"]["code"], code.as_str());
    assert_eq!(read["results"]["name"], "Hello World");
    assert_eq!(read["results"]["reference_count"], 1);

    // New code, in the module form, and new args: both serve at once.
    let (status, body) = raw
        .put(
            &format!("/edge_functions/{id}"),
            json!({"name": "Module", "language": "javascript", "code": module_code(),
                   "initiator_type": "edge_application", "active": true, "json_args": {"m": 1}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["results"]["code"], module_code());
    assert_eq!(body["results"]["json_args"], json!({"m": 1}));
    let answer = at_fn(function.name.clone()).await;
    assert_eq!(
        (&answer["args"], &answer["path"]),
        (&json!({"m": 1}), &json!("/hi"))
    );

    // Paged lists.
    let second = raw.edge_function("second", &worker_code(), json!({})).await;
    let (_, page) = raw
        .get("/edge_functions?page=2&page_size=1&order_by=name&sort=asc")
        .await;
    assert_eq!(
        (page["count"].as_u64(), page["total_pages"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(page["results"][0]["id"], second);
    assert!(page["results"][0]["code"].is_string());
    assert!(
        page["links"]["previous"]
            .as_str()
            .unwrap()
            .contains("page=1")
    );
    assert_eq!(page["links"]["next"], Value::Null);
    let (_, sorted) = raw.get("/edge_functions?order_by=name&sort=desc").await;
    assert_eq!(sorted["results"][0]["name"], "second");

    // In use: 409; once the instance is gone, 204 then 404.
    let (status, _) = raw.delete(&format!("/edge_functions/{id}")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = raw
        .delete(&format!(
            "/edge_applications/{app}/functions_instances/{}",
            instance.id
        ))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = raw.delete(&format!("/edge_functions/{id}")).await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    let (status, body) = raw.get(&format!("/edge_functions/{id}")).await;
    assert_eq!(
        (status, body),
        (StatusCode::NOT_FOUND, json!({"detail": "Not found."}))
    );
    assert_eq!(raw.ids("/edge_functions").await, vec![second]);
}

/// The seed's request examples (its six calls on function instances), sent as written there
/// with our ids, each answer compared with the seed's response example: status, envelope and
/// fields.
#[tokio::test]
async fn the_seeds_examples_replay() {
    let server = TestServer::start();
    let raw = Raw::new(&server);
    let function = raw
        .edge_function("Hello World", &worker_code(), json!({}))
        .await;
    let (_, app) = raw
        .post("/edge_applications", json!({"name": "seed"}))
        .await;
    let app = app["results"]["id"].as_u64().unwrap();
    let instances = format!("/edge_applications/{app}/functions_instances");
    let param = json!({"param": {"body": "It works!", "http_status": 200}});
    let instance_fields = ["args", "edge_function_id", "id", "name"];

    // 4. Creating (the seed's heading writes the singular path; its example the plural).
    let (status, created) = raw
        .post(
            &format!("/edge_application/{app}/functions_instances"),
            json!({"name": "Criar Edge Functions Instance", "edge_function_id": function, "args": param}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(keys(&created), ["results", "schema_version"]);
    assert_eq!(created["schema_version"], 3);
    assert_eq!(keys(&created["results"]), instance_fields);
    assert_eq!(created["results"]["args"], param);
    assert_eq!(created["results"]["edge_function_id"], function);
    let id = created["results"]["id"].as_u64().unwrap();
    let (status, _) = raw
        .post(
            &instances,
            json!({"name": "Edge Function", "edge_function_id": function, "args": {}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // 1. Retrieving a list.
    let (status, list) = raw.get(&instances).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        keys(&list),
        ["count", "links", "results", "schema_version", "total_pages"]
    );
    assert_eq!(
        (&list["count"], &list["total_pages"], &list["links"]),
        (
            &json!(2),
            &json!(1),
            &json!({"previous": null, "next": null})
        )
    );
    assert_eq!(keys(&list["results"][0]), instance_fields);
    assert_eq!(list["results"][1]["args"], json!({}));

    // 2. Retrieving details.
    let (status, one) = raw.get(&format!("{instances}/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one, created);

    // 5. Overwriting.
    let (status, put) = raw
        .put(
            &format!("{instances}/{id}"),
            json!({"name": "Overwrite Edge Functions Instance", "edge_function_id": function, "args": param}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(keys(&put["results"]), instance_fields);
    assert_eq!(put["results"]["name"], "Overwrite Edge Functions Instance");
    assert_eq!(put["results"]["id"], id);

    // 6. Updating fields.
    let (status, patched) = raw
        .patch(
            &format!("{instances}/{id}"),
            json!({"name": "Update Edge Functions Instance", "edge_function_id": function, "args": param}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(patched["results"]["name"], "Update Edge Functions Instance");
    assert_eq!(patched["schema_version"], 3);

    // 3. Deleting: 204, empty.
    let response = raw
        .request(Method::DELETE, &format!("{instances}/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.bytes().await.unwrap().is_empty());
    assert_eq!(raw.ids(&instances).await.len(), 1);

    // The seed's Accept without a space, as the CLI writes it, is the same.
    let (status, _) = Raw::send(
        raw.http
            .get(format!("{}{ROOT}{instances}", server.url))
            .header("accept", "application/json;version=3")
            .header("authorization", format!("Token {}", server.token)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn every_bad_input_is_a_400_naming_its_field_and_writes_nothing() {
    let server = TestServer::start();
    let raw = Raw::new(&server);
    let function = raw.edge_function("f", &worker_code(), json!({})).await;
    let (app, instance) = raw
        .application_running(function, json!({"greeting": "x"}))
        .await;
    let (_, other_instance) = raw.application_running(function, json!({})).await;
    let instances = format!("/edge_applications/{app}/functions_instances");
    let rules = format!("/edge_applications/{app}/rules_engine/request/rules");
    let criterion = |v: Value| json!({"name": "r", "criteria": [[v]], "behaviors": [{"name": "run_function", "target": instance}]});

    let cases: Vec<(&str, Value, &str)> = vec![
        (
            instances.as_str(),
            json!({"name": "", "edge_function_id": function, "args": {}}),
            "name",
        ),
        (
            instances.as_str(),
            json!({"name": "i", "edge_function_id": 999_999, "args": {}}),
            "edge_function_id",
        ),
        (
            instances.as_str(),
            json!({"name": "i", "edge_function_id": function, "args": "{not json"}),
            "args",
        ),
        (
            instances.as_str(),
            json!({"name": "i", "edge_function_id": function}),
            "args",
        ),
        (
            rules.as_str(),
            json!({"name": "r", "criteria": [[{"variable": "${uri}", "operator": "starts_with", "conditional": "if", "input_value": "/"}]],
                   "behaviors": [{"name": "run_function", "target": other_instance}]}),
            "behaviors[0].target",
        ),
        (
            rules.as_str(),
            criterion(
                json!({"variable": "${uri}", "operator": "contains", "conditional": "if", "input_value": "/"}),
            ),
            "criteria[0][0].operator",
        ),
        (
            rules.as_str(),
            criterion(
                json!({"variable": "${uri}", "operator": "matches", "conditional": "if", "input_value": "(["}),
            ),
            "criteria[0][0].input_value",
        ),
        (
            rules.as_str(),
            criterion(json!({"operator": "starts_with", "input_value": "/"})),
            "criteria[0][0].variable",
        ),
        (rules.as_str(), criterion(json!("just text")), "criteria"),
        ("/edge_applications", json!({"name": "  "}), "name"),
        (
            "/edge_applications",
            json!({"name": "a", "edge_functions": "maybe"}),
            "edge_functions",
        ),
        (
            "/edge_functions",
            json!({"name": "", "language": "javascript", "code": "x", "initiator_type": "edge_application", "active": true}),
            "name",
        ),
        (
            "/edge_functions",
            json!({"name": "f", "language": "lua", "code": "x", "initiator_type": "edge_application", "active": true}),
            "language",
        ),
        (
            "/edge_functions",
            json!({"name": "f", "language": "javascript", "code": "x", "initiator_type": "edge_firewall", "active": true}),
            "initiator_type",
        ),
        (
            "/edge_functions",
            json!({"name": "f", "language": "javascript", "code": "syntax error here(", "initiator_type": "edge_application", "active": true}),
            "code",
        ),
        (
            "/domains",
            json!({"name": "d", "cnames": ["a..b"], "edge_application_id": app}),
            "cnames[0]",
        ),
        (
            "/domains",
            json!({"name": "d", "cnames": [], "edge_application_id": 999_999}),
            "edge_application_id",
        ),
    ];
    let lists = [
        "/edge_functions".to_string(),
        "/edge_applications".to_string(),
        instances.clone(),
        rules.clone(),
        "/domains".to_string(),
    ];
    let mut before = Vec::new();
    for list in &lists {
        before.push(raw.ids(list).await);
    }
    for (path, body, field) in cases {
        let (status, answer) = raw.post(path, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {answer}");
        assert!(answer[field].is_array(), "{path} {body}: {answer}");
    }
    // Changes too, each naming its field and changing nothing.
    let (status, answer) = raw
        .patch(
            &format!("{instances}/{instance}"),
            json!({"args": "{\"unclosed\": "}),
        )
        .await;
    assert_eq!(
        (status, answer["args"].is_array()),
        (StatusCode::BAD_REQUEST, true)
    );
    let (status, answer) = raw
        .patch(
            &format!("{instances}/{instance}"),
            json!({"edge_function_id": 0}),
        )
        .await;
    assert_eq!(
        (status, answer["edge_function_id"].is_array()),
        (StatusCode::BAD_REQUEST, true)
    );
    let (status, answer) = raw
        .put(
            &format!("{instances}/{instance}"),
            json!({"name": "only a name"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(keys(&answer), ["args", "edge_function_id"]);
    let (_, still) = raw.get(&format!("{instances}/{instance}")).await;
    assert_eq!(still["results"]["args"], json!({"greeting": "x"}));
    let (status, answer) = raw.post(&instances, json!(["not", "an", "object"])).await;
    assert_eq!(
        (status, answer["non_field_errors"].is_array()),
        (StatusCode::BAD_REQUEST, true)
    );
    let (status, answer) = Raw::send(
        raw.request(Method::POST, &instances)
            .header("content-type", "application/json")
            .body("{not json"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["detail"]
            .as_str()
            .unwrap()
            .starts_with("JSON parse error")
    );
    for (list, ids) in lists.iter().zip(&before) {
        assert_eq!(&raw.ids(list).await, ids, "{list} changed");
    }
    // The application still answers as before.
    let (status, answer) = raw.edge(app, "/x").await;
    assert_eq!(
        (status, &answer["args"]),
        (StatusCode::OK, &json!({"greeting": "x"}))
    );
}

#[tokio::test]
async fn credentials_versions_and_ids_are_checked() {
    let server = TestServer::start();
    let raw = Raw::new(&server);
    let function = raw.edge_function("f", &worker_code(), json!({})).await;
    let (app, instance) = raw.application_running(function, json!({})).await;
    let (other, _) = raw.application_running(function, json!({})).await;
    let url = format!("{}{ROOT}/edge_applications", server.url);
    let v3 = "application/json; version=3";

    let (status, body) = Raw::send(raw.http.get(&url).header("accept", v3)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["detail"].is_string());
    let (status, _) = Raw::send(
        raw.http
            .get(&url)
            .header("accept", v3)
            .header("authorization", "Token not-a-token"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = Raw::send(
        raw.http
            .get(&url)
            .header("accept", v3)
            .header("authorization", format!("Bearer {}", server.token)),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for accept in ["application/json", "application/json; version=2"] {
        let (status, _) = Raw::send(
            raw.http
                .get(&url)
                .header("accept", accept)
                .header("authorization", format!("Token {}", server.token)),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_ACCEPTABLE, "{accept}");
    }

    let not_found = json!({"detail": "Not found."});
    for path in [
        "/edge_applications/999999".to_string(),
        "/edge_applications/abc".to_string(),
        "/edge_applications/999999/functions_instances".to_string(),
        format!("/edge_applications/{other}/functions_instances/{instance}"),
        format!("/edge_applications/{app}/rules_engine/sideways/rules"),
        "/edge_functions/999999".to_string(),
        "/domains/999999".to_string(),
        "/no_such_thing".to_string(),
    ] {
        assert_eq!(
            raw.get(&path).await,
            (StatusCode::NOT_FOUND, not_found.clone()),
            "{path}"
        );
    }
    let (status, _) = raw
        .patch(
            &format!("/edge_applications/{other}/functions_instances/{instance}"),
            json!({"name": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = raw
        .delete(&format!(
            "/edge_applications/{other}/functions_instances/{instance}"
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = raw.get("/edge_applications?page=9").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = raw.get("/edge_applications?order_by=colour").await;
    assert_eq!(
        (status, body["order_by"].is_array()),
        (StatusCode::BAD_REQUEST, true)
    );

    // The response phase exists and holds nothing.
    let (status, body) = raw
        .get(&format!(
            "/edge_applications/{app}/rules_engine/response/rules"
        ))
        .await;
    assert_eq!((status, &body["count"]), (StatusCode::OK, &json!(0)));
}

#[tokio::test]
async fn applications_and_rules_change_what_requests_get() {
    let server = TestServer::start();
    let raw = Raw::new(&server);
    let function = raw.edge_function("f", &worker_code(), json!({})).await;
    let (app, instance) = raw
        .application_running(function, json!({"greeting": "one"}))
        .await;
    let (status, answer) = raw.edge(app, "/a?name=x").await;
    assert_eq!(
        (status, &answer["greeting"]),
        (StatusCode::OK, &json!("one x"))
    );

    // The rules: /api by regex first, everything else redirected; `or` and `and` chains.
    let rules = format!("/edge_applications/{app}/rules_engine/request/rules");
    let ids = raw.ids(&rules).await;
    let (status, body) = raw
        .patch(
            &format!("{rules}/{}", ids[0]),
            json!({"criteria": [[
                {"variable": "${uri}", "operator": "matches", "conditional": "if", "input_value": "^/api/v[0-9]+/"},
                {"variable": "${uri}", "operator": "does_not_start_with", "conditional": "and", "input_value": "/api/v0/"},
                {"variable": "${uri}", "operator": "is_equal", "conditional": "or", "input_value": "/exact"}
            ]]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["results"]["criteria"][0][1]["operator"],
        "does_not_start_with"
    );
    let (status, body) = raw
        .post(
            &rules,
            json!({"name": "rest", "criteria": [[{"input": "${uri}", "operator": "starts_with", "conditional": "if", "value": "/"}]],
                   "behaviors": [{"name": "redirect_to_302", "target": "https://example.com/"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["results"]["criteria"][0][0]["input_value"], "/");
    for (path, expected) in [
        ("/api/v1/x", 200),
        ("/exact", 200),
        ("/api/v0/x", 302),
        ("/other", 302),
    ] {
        let (status, _) = raw.edge(app, path).await;
        assert_eq!(status.as_u16(), expected, "{path}");
    }
    // An inactive rule is skipped.
    let (_, body) = raw
        .patch(&format!("{rules}/{}", ids[0]), json!({"is_active": false}))
        .await;
    assert_eq!(body["results"]["is_active"], false);
    let (status, _) = raw.edge(app, "/api/v1/x").await;
    assert_eq!(status.as_u16(), 302);

    // The module off: instances do not run.
    let (_, body) = raw
        .patch(&format!("{rules}/{}", ids[0]), json!({"is_active": true}))
        .await;
    assert_eq!(body["results"]["is_active"], true);
    let (_, body) = raw
        .patch(
            &format!("/edge_applications/{app}"),
            json!({"edge_functions": false}),
        )
        .await;
    assert_eq!(body["results"]["edge_functions"], false);
    let (status, _) = raw.edge(app, "/exact").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, body) = raw
        .put(
            &format!("/edge_applications/{app}"),
            json!({"name": "renamed", "edge_functions": true}),
        )
        .await;
    assert_eq!(
        (&body["results"]["name"], &body["results"]["caching"]),
        (&json!("renamed"), &json!(false))
    );
    let (status, answer) = raw.edge(app, "/exact").await;
    assert_eq!(
        (status, &answer["args"]),
        (StatusCode::OK, &json!({"greeting": "one"}))
    );

    // Deleting the application takes its instances and rules.
    let (status, _) = raw.delete(&format!("/edge_applications/{app}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = raw
        .get(&format!(
            "/edge_applications/{app}/functions_instances/{instance}"
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = raw.edge(app, "/exact").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, read) = raw.get(&format!("/edge_functions/{function}")).await;
    assert_eq!(read["results"]["reference_count"], 0);
}
