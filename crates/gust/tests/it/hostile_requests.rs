//! Every dialect's routes, sent arbitrary requests (a property test with a bounded number of
//! cases): any path id, query string, content type and body, with and without a valid token,
//! is answered with a status below 500, and the server goes on answering. What each parser
//! accepts is tested next to it in `gust-compat`; this is what only the running router shows
//! (extractors, form and multipart reading, the engine's answers to what got through).
//!
//! 64 cases per dialect; `PROPTEST_CASES=1000 cargo nextest run -p gust --test it
//! hostile_requests` sends more.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::Config;
use reqwest::Method;

use crate::harness::{TestServer, zip};

/// `cases` unless `PROPTEST_CASES` asks for another number.
fn config(cases: u32) -> Config {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    config.failure_persistence = None;
    config
}

/// How a dialect is called: its prefix, routes, authentication and the fields it reads.
struct Dialect {
    prefix: &'static str,
    routes: &'static [(&'static str, &'static str)],
    auth: fn(&str) -> Vec<(&'static str, String)>,
    fields: &'static [&'static str],
    query_keys: &'static [&'static str],
    /// Requests sent first, so that some ids name something: (method, path, JSON body).
    setup: &'static [(&'static str, &'static str, &'static str)],
}

static APPWRITE: Dialect = Dialect {
    prefix: "/compat/appwrite/v1",
    routes: &[
        ("GET", "/functions"),
        ("POST", "/functions"),
        ("GET", "/functions/runtimes"),
        ("GET", "/functions/{}"),
        ("PUT", "/functions/{}"),
        ("DELETE", "/functions/{}"),
        ("GET", "/functions/{}/deployments"),
        ("POST", "/functions/{}/deployments"),
        ("GET", "/functions/{}/deployments/{}"),
        ("PATCH", "/functions/{}/deployments/{}"),
        ("DELETE", "/functions/{}/deployments/{}"),
        ("POST", "/functions/{}/deployments/{}/builds/{}"),
        ("GET", "/functions/{}/executions"),
        ("POST", "/functions/{}/executions"),
        ("GET", "/functions/{}/executions/{}"),
    ],
    auth: |token| {
        vec![
            ("x-appwrite-project", "default".into()),
            ("x-appwrite-key", token.into()),
        ]
    },
    fields: &[
        "functionId",
        "name",
        "execute",
        "runtime",
        "vars",
        "events",
        "schedule",
        "timeout",
        "enabled",
        "data",
        "async",
        "entrypoint",
        "activate",
    ],
    query_keys: &[
        "limit",
        "offset",
        "cursor",
        "cursorDirection",
        "orderType",
        "search",
    ],
    setup: &[],
};

static SCALEWAY: Dialect = Dialect {
    prefix: "/compat/scaleway/functions/v1beta1/regions/fr-par",
    routes: &[
        ("GET", "/namespaces"),
        ("POST", "/namespaces"),
        ("GET", "/namespaces/{}"),
        ("PATCH", "/namespaces/{}"),
        ("DELETE", "/namespaces/{}"),
        ("GET", "/functions"),
        ("POST", "/functions"),
        ("GET", "/functions/{}"),
        ("PATCH", "/functions/{}"),
        ("DELETE", "/functions/{}"),
        ("POST", "/functions/{}/deploy"),
        ("GET", "/functions/{}/upload-url"),
        ("GET", "/functions/{}/download-url"),
        ("GET", "/runtimes"),
        ("GET", "/crons"),
        ("POST", "/crons"),
        ("GET", "/crons/{}"),
        ("PATCH", "/crons/{}"),
        ("GET", "/domains"),
        ("POST", "/domains"),
        ("GET", "/tokens"),
        ("POST", "/tokens"),
        ("GET", "/triggers"),
        ("POST", "/triggers"),
        ("PATCH", "/triggers/{}"),
    ],
    auth: |token| vec![("x-auth-token", token.into())],
    fields: &[
        "name",
        "namespace_id",
        "function_id",
        "project_id",
        "runtime",
        "privacy",
        "min_scale",
        "max_scale",
        "memory_limit",
        "timeout",
        "schedule",
        "args",
        "hostname",
        "tags",
        "environment_variables",
        "secret_environment_variables",
        "sqs_config",
        "nats_config",
        "expires_at",
        "http_option",
        "handler",
    ],
    query_keys: &[
        "page",
        "page_size",
        "order_by",
        "namespace_id",
        "function_id",
        "project_id",
        "name",
        "content_length",
    ],
    setup: &[],
};

static QINLING: Dialect = Dialect {
    prefix: "/compat/qinling",
    routes: &[
        ("GET", "/"),
        ("GET", "/v1"),
        ("GET", "/v1/functions"),
        ("POST", "/v1/functions"),
        ("GET", "/v1/functions/{}"),
        ("PUT", "/v1/functions/{}"),
        ("DELETE", "/v1/functions/{}"),
        ("POST", "/v1/functions/{}/detach"),
        ("POST", "/v1/functions/{}/scale_up"),
        ("POST", "/v1/functions/{}/scale_down"),
        ("GET", "/v1/functions/{}/workers"),
        ("GET", "/v1/functions/{}/versions"),
        ("POST", "/v1/functions/{}/versions"),
        ("GET", "/v1/functions/{}/versions/{}"),
        ("POST", "/v1/functions/{}/versions/{}/scale_up"),
        ("GET", "/v1/aliases"),
        ("POST", "/v1/aliases"),
        ("PUT", "/v1/aliases/{}"),
        ("GET", "/v1/executions"),
        ("POST", "/v1/executions"),
        ("GET", "/v1/executions/{}"),
        ("GET", "/v1/executions/{}/log"),
        ("GET", "/v1/runtimes"),
        ("GET", "/v1/runtimes/{}"),
        ("GET", "/v1/jobs"),
        ("POST", "/v1/jobs"),
        ("PUT", "/v1/jobs/{}"),
        ("GET", "/v1/webhooks"),
        ("POST", "/v1/webhooks"),
        ("PUT", "/v1/webhooks/{}"),
        ("POST", "/v1/webhooks/{}/invoke"),
    ],
    auth: |token| vec![("x-auth-token", token.into())],
    fields: &[
        "name",
        "code",
        "runtime_id",
        "entry",
        "memory_size",
        "cpu",
        "timeout",
        "function_id",
        "function_version",
        "function_alias",
        "input",
        "sync",
        "count",
        "pattern",
        "first_execution_time",
        "description",
        "status",
    ],
    query_keys: &[
        "download",
        "status",
        "function_id",
        "all_projects",
        "project_id",
    ],
    setup: &[(
        "POST",
        "/v1/aliases",
        r#"{"name": "live", "function_id": "f1"}"#,
    )],
};

static AZION: Dialect = Dialect {
    prefix: "/compat/azion",
    routes: &[
        ("GET", "/edge_functions"),
        ("POST", "/edge_functions"),
        ("GET", "/edge_functions/{}"),
        ("PUT", "/edge_functions/{}"),
        ("PATCH", "/edge_functions/{}"),
        ("DELETE", "/edge_functions/{}"),
        ("GET", "/edge_applications"),
        ("POST", "/edge_applications"),
        ("PATCH", "/edge_applications/{}"),
        ("GET", "/edge_applications/{}/functions_instances"),
        ("POST", "/edge_applications/{}/functions_instances"),
        ("PATCH", "/edge_applications/{}/functions_instances/{}"),
        ("GET", "/edge_applications/{}/rules_engine/{}/rules"),
        ("POST", "/edge_applications/{}/rules_engine/{}/rules"),
        ("PUT", "/edge_applications/{}/rules_engine/{}/rules/{}"),
        ("GET", "/domains"),
        ("POST", "/domains"),
        ("PATCH", "/domains/{}"),
    ],
    auth: |token| {
        vec![
            ("authorization", format!("Token {token}")),
            ("accept", "application/json; version=3".into()),
        ]
    },
    fields: &[
        "name",
        "code",
        "language",
        "initiator_type",
        "active",
        "json_args",
        "edge_function_id",
        "args",
        "criteria",
        "behaviors",
        "order",
        "is_active",
        "cnames",
        "edge_application_id",
        "cname_access_only",
        "delivery_protocol",
        "caching",
    ],
    query_keys: &["page", "page_size", "order_by", "sort", "order", "filter"],
    setup: &[
        ("POST", "/edge_applications", r#"{"name": "app"}"#),
        (
            "POST",
            "/domains",
            r#"{"name": "d", "edge_application_id": 1, "cnames": ["d.example.com"]}"#,
        ),
        (
            "POST",
            "/domains",
            r#"{"name": "loose", "edge_application_id": 1}"#,
        ),
    ],
};

/// One request: route, ids for its placeholders, query, body and how it is sent.
#[derive(Debug, Clone)]
struct Hostile {
    route: usize,
    ids: Vec<String>,
    query: Vec<(String, String)>,
    raw_query: Option<String>,
    body: Body,
    authenticated: bool,
}

#[derive(Debug, Clone)]
enum Body {
    None,
    Json(serde_json::Value),
    Bytes(Option<&'static str>, Vec<u8>),
    Form(Vec<(String, String)>),
    Multipart(Vec<(String, String)>, Option<Vec<u8>>),
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9_-]{0,10}",
        "-?[0-9]{1,22}",
        prop::sample::select(vec![
            "",
            "1",
            "0",
            "default",
            "true",
            "null",
            "request",
            "python3.11",
            "nodejs20",
            "*/5 * * * *",
            "@every 2305843009213693952s",
            "2026-01-01 00:00",
            "01a2109a-2284-75ea-9d77-6fd26a0e33b8",
            "../etc",
            "%00",
            "{\"source\":\"package\"}",
        ])
        .prop_map(str::to_string),
        any::<String>(),
    ]
}

fn json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map(text(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Requests to `dialect`'s routes; `ids` name things that exist.
fn hostile(dialect: &'static Dialect, ids: Vec<String>) -> impl Strategy<Value = Hostile> {
    let field = prop_oneof![
        4 => prop::sample::select(dialect.fields).prop_map(str::to_string),
        1 => text(),
    ];
    let object = proptest::collection::btree_map(field.clone(), json(), 0..6)
        .prop_map(|m| serde_json::Value::Object(m.into_iter().collect()));
    let pairs = vec((field, text()), 0..5).boxed();
    let body = prop_oneof![
        1 => Just(Body::None),
        6 => object.prop_map(Body::Json),
        1 => json().prop_map(Body::Json),
        1 => (prop::sample::select(vec![None, Some("application/json"), Some("text/plain"), Some("multipart/form-data")]), vec(any::<u8>(), 0..128))
            .prop_map(|(kind, bytes)| Body::Bytes(kind, bytes)),
        1 => pairs.clone().prop_map(Body::Form),
        1 => (pairs, proptest::option::of(prop_oneof![
            vec(any::<u8>(), 0..64),
            Just(zip(&[("main.py", b"def main(): pass\n".as_slice())])),
        ])).prop_map(|(fields, package)| Body::Multipart(fields, package)),
    ];
    let query_key = prop_oneof![
        4 => prop::sample::select(dialect.query_keys).prop_map(str::to_string),
        1 => text(),
    ];
    (
        0..dialect.routes.len(),
        vec(
            prop_oneof![
                2 => text(),
                3 => prop::sample::select(ids),
            ],
            3,
        ),
        vec((query_key, text()), 0..4),
        proptest::option::of("[ -~]{0,24}"),
        body,
        prop::bool::weighted(0.9),
    )
        .prop_map(
            |(route, ids, query, raw_query, body, authenticated)| Hostile {
                route,
                ids,
                query,
                raw_query,
                body,
                authenticated,
            },
        )
}

/// `path` with each `{}` replaced by the next id, percent-encoded as a path segment.
fn fill(path: &str, ids: &[String]) -> String {
    let mut out = String::new();
    let mut ids = ids.iter();
    for (i, part) in path.split("{}").enumerate() {
        if i > 0 {
            let id = ids.next().map(String::as_str).unwrap_or("1");
            out.extend(id.bytes().map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            }));
        }
        out.push_str(part);
    }
    out
}

async fn send(server: &TestServer, dialect: &Dialect, case: &Hostile) -> reqwest::StatusCode {
    let (method, path) = dialect.routes[case.route];
    let mut url = format!("{}{}{}", server.url, dialect.prefix, fill(path, &case.ids));
    if let Some(raw) = &case.raw_query {
        // As sent: the client only escapes what a URL cannot hold.
        url.push('?');
        url.push_str(raw);
    }
    let mut request = server
        .http()
        .request(Method::from_bytes(method.as_bytes()).unwrap(), &url);
    if case.raw_query.is_none() {
        request = request.query(&case.query);
    }
    if case.authenticated {
        for (name, value) in (dialect.auth)(&server.token) {
            request = request.header(name, value);
        }
    }
    request = match &case.body {
        Body::None => request,
        Body::Json(value) => request.json(value),
        Body::Bytes(kind, bytes) => {
            let request = request.body(bytes.clone());
            match kind {
                Some(kind) => request.header("content-type", *kind),
                None => request,
            }
        }
        Body::Form(pairs) => request.form(pairs),
        Body::Multipart(fields, package) => {
            let mut form = reqwest::multipart::Form::new();
            for (name, value) in fields {
                form = form.text(name.clone(), value.clone());
            }
            if let Some(package) = package {
                form = form.part(
                    "package",
                    reqwest::multipart::Part::bytes(package.clone()).file_name("package.zip"),
                );
            }
            request.multipart(form)
        }
    };
    match request.send().await {
        Ok(response) => response.status(),
        // A request reqwest itself refuses to send (a header it cannot write) is no answer.
        Err(e) if e.is_builder() => reqwest::StatusCode::BAD_REQUEST,
        Err(e) => panic!("{method} {url}: no answer: {e}"),
    }
}

/// A function `f1`, the default namespace's id, and what `dialect.setup` makes.
async fn setup(server: &TestServer, dialect: &Dialect) -> String {
    let http = server.http();
    let made = http
        .post(format!(
            "{}/api/v1/namespaces/default/functions",
            server.url
        ))
        .bearer_auth(&server.token)
        .json(&serde_json::json!({"id": "f1", "name": "f1", "runtime": "wasm"}))
        .send()
        .await
        .unwrap();
    assert!(made.status().is_success(), "{}", made.text().await.unwrap());
    let namespace: serde_json::Value = http
        .get(format!("{}/api/v1/namespaces/default", server.url))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (method, path, body) in dialect.setup {
        let mut request = http
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}{}{path}", server.url, dialect.prefix),
            )
            .header("content-type", "application/json")
            .body(*body);
        for (name, value) in (dialect.auth)(&server.token) {
            request = request.header(name, value);
        }
        let response = request.send().await.unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.text().await.unwrap()
        );
    }
    namespace["id"].as_str().unwrap().to_string()
}

fn no_answer_is_a_5xx(dialect: &'static Dialect) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = TestServer::start();
    let namespace = runtime.block_on(setup(&server, dialect));
    let mut ids: Vec<String> = ["f1", "1", "2", "live", "request", "default"]
        .map(String::from)
        .to_vec();
    ids.push(namespace);
    proptest!(config(64), |(case in hostile(dialect, ids.clone()))| {
        let status = runtime.block_on(send(&server, dialect, &case));
        prop_assert!(
            !status.is_server_error(),
            "{} {}: {}",
            dialect.routes[case.route].0,
            dialect.routes[case.route].1,
            status
        );
    });
    // Still serving.
    let health = runtime.block_on(async {
        server
            .http()
            .get(format!("{}/api/v1/namespaces", server.url))
            .bearer_auth(&server.token)
            .send()
            .await
            .unwrap()
            .status()
    });
    assert!(health.is_success(), "{health}");
}

#[test]
fn appwrite_answers_any_request_below_500() {
    no_answer_is_a_5xx(&APPWRITE);
}

#[test]
fn scaleway_answers_any_request_below_500() {
    no_answer_is_a_5xx(&SCALEWAY);
}

#[test]
fn qinling_answers_any_request_below_500() {
    no_answer_is_a_5xx(&QINLING);
}

#[test]
fn azion_answers_any_request_below_500() {
    no_answer_is_a_5xx(&AZION);
}
