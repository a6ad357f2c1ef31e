//! The native API fuzzed from its own OpenAPI document: schemathesis (pinned) generates requests
//! for every operation of `/api/v1/openapi.json` against a running server seeded with one of
//! each resource, and checks that no answer is a 5xx and that every answer (status, content
//! type, headers, body) is what the document says. The seeded ids reach schemathesis through
//! its config file (`schema_fuzz/schemathesis.toml`, `${GUST_FUZZ_*}` placeholders filled from
//! the environment this test sets), so operations on one resource get past 404; destructive
//! operations each get a victim of their own. Afterwards the run's NDJSON report must show a
//! 2xx answer for every operation.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use gust_client::ChunkedUpload;
use gust_core::FunctionSpec;
use gust_test_tools::PythonVenv;
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{TestServer, spec, test_guest, workspace_root};

/// Pinned: a newer schemathesis generates other requests and may check other things.
const SCHEMATHESIS: &str = "schemathesis==4.32.5";

/// The smallest package the server recognises (a Wasm module's magic and version). Its build
/// fails, since it is no component, but an upload of it is accepted: the hooks use it where
/// an operation needs a package (`schema_fuzz/hooks.py`).
const WASM_STUB: &[u8] = b"\0asm\x01\0\0\0";

/// Operations that cannot answer 2xx in a fuzz run, each with the reason. Every operation can
/// today: destructive ones have victims of their own (see `seed`).
const NO_2XX_EXPECTED: &[(&str, &str)] = &[];

/// Requests from the seeding helper, each required to succeed; the JSON answer.
struct Seeder<'a> {
    server: &'a TestServer,
    http: reqwest::Client,
}

impl Seeder<'_> {
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method.clone(), format!("{}/api/v1{path}", self.server.url))
            .bearer_auth(&self.server.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(
            status.is_success(),
            "seeding {method} {path}: {status} {text}"
        );
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.send(Method::POST, path, Some(body)).await
    }

    async fn create_function(&self, name: &str) -> String {
        let f = self
            .post(
                "/namespaces/default/functions",
                json!({"name": name, "runtime": "wasm"}),
            )
            .await;
        f["id"].as_str().unwrap().to_string()
    }

    /// A function running the test guest, built and active; its id.
    async fn deployed(&self, name: &str, spec: FunctionSpec) -> String {
        self.server.deploy_ready(name, spec, &test_guest()).await;
        let f = self
            .send(
                Method::GET,
                &format!("/namespaces/default/functions/{name}"),
                None,
            )
            .await;
        f["id"].as_str().unwrap().to_string()
    }

    /// Another deployment of the test guest to `function`, built but not active; its id.
    async fn inactive_deployment(&self, function: &str) -> String {
        let client = self.server.client();
        let d = client
            .create_deployment("default", function, test_guest(), "application/wasm", false)
            .await
            .unwrap();
        let d = client
            .wait_for_build("default", function, &d.id, Duration::from_secs(120))
            .await
            .unwrap();
        d.id
    }
}

fn id(value: &Value) -> String {
    match &value["id"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One of each resource, with victims for the destructive operations; the ids, as the
/// `GUST_FUZZ_*` variables `schemathesis.toml` names.
async fn seed(server: &TestServer) -> BTreeMap<String, String> {
    let s = Seeder {
        server,
        http: reqwest::Client::new(),
    };
    let mut env = BTreeMap::new();
    let mut set = |key: &str, value: String| {
        env.insert(format!("GUST_FUZZ_{key}"), value);
    };

    // The function most operations work on. A short timeout bounds any request that happens
    // to reach the guest's endless loop.
    let wasm = s
        .deployed(
            "wasm",
            FunctionSpec {
                timeout_s: Some(5),
                ..spec()
            },
        )
        .await;
    let active = s
        .send(Method::GET, "/namespaces/default/functions/wasm", None)
        .await["active_deployment"]
        .as_str()
        .unwrap()
        .to_string();
    set("FN", wasm.clone());
    set("DEPLOYMENT", active);
    set("DEPLOYMENT_REBUILT", s.inactive_deployment("wasm").await);
    set("DEPLOYMENT_DOOMED", s.inactive_deployment("wasm").await);
    // An upload in chunks that stays unfinished: its first chunk may be sent again, as a
    // client retrying after a lost answer does.
    let chunked = server
        .client()
        .upload_chunk(
            "default",
            "wasm",
            None,
            bytes::Bytes::from_static(WASM_STUB),
            (0, 2 * WASM_STUB.len() as u64),
            &ChunkedUpload {
                content_type: "application/wasm".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    set("DEPLOYMENT_UPLOADING", chunked.id);
    set(
        "CHUNK_RANGE",
        format!("bytes 0-{}/{}", WASM_STUB.len() - 1, 2 * WASM_STUB.len()),
    );

    // A process function, for the operations on workers.
    server
        .deploy_folder(
            "py",
            "python3.11",
            FunctionSpec {
                max_scale: Some(2),
                timeout_s: Some(5),
                ..spec()
            },
            "python-hello",
        )
        .await;
    let py = s
        .send(Method::GET, "/namespaces/default/functions/py", None)
        .await;
    set("FN_PY", id(&py));

    // Functions that operations may change or delete at will.
    set("FN_MUTABLE", s.create_function("mutable").await);
    set("FN_DOOMED", s.create_function("doomed").await);
    set("FN_UNVERSIONED", s.deployed("unversioned", spec()).await);
    let spare = s.deployed("spare", spec()).await;
    set("FN_SPARE", spare.clone());

    let fns = "/namespaces/default/functions";
    let run = json!({"path": "/", "body": "seed"});
    let e1 = s.post(&format!("{fns}/wasm/executions"), run.clone()).await;
    set("EXECUTION", id(&e1));
    let e2 = s.post(&format!("{fns}/wasm/executions"), run).await;
    set("EXECUTION_DOOMED", id(&e2));

    let event = json!({"kind": "event", "events": ["orders.*"]});
    set(
        "TRIGGER",
        id(&s.post(&format!("{fns}/wasm/triggers"), event.clone()).await),
    );
    let yearly = json!({"kind": "cron", "schedule": "0 0 1 1 *"});
    set(
        "TRIGGER_CHANGED",
        id(&s.post(&format!("{fns}/wasm/triggers"), yearly).await),
    );
    set(
        "TRIGGER_DOOMED",
        id(&s.post(&format!("{fns}/wasm/triggers"), event).await),
    );

    let domain = |host: &str| json!({"hostname": host});
    let d1 = s
        .post(&format!("{fns}/wasm/domains"), domain("a.fuzz.example"))
        .await;
    set("DOMAIN", id(&d1));
    let d2 = s
        .post(&format!("{fns}/wasm/domains"), domain("b.fuzz.example"))
        .await;
    set("DOMAIN_DOOMED", id(&d2));

    for name in ["smoke", "doomed"] {
        s.send(
            Method::PUT,
            &format!("{fns}/wasm/test-requests/{name}"),
            Some(json!({"method": "POST", "path": "/", "body": "seed"})),
        )
        .await;
    }

    let hooks = "/namespaces/default/webhooks";
    set(
        "WEBHOOK",
        id(&s.post(hooks, json!({"function": wasm})).await),
    );
    set(
        "WEBHOOK_DOOMED",
        id(&s.post(hooks, json!({"function": wasm})).await),
    );

    s.post(&format!("{fns}/wasm/versions"), json!({})).await;
    s.post(&format!("{fns}/spare/versions"), json!({})).await;
    let aliases = "/namespaces/default/aliases";
    for name in ["live", "doomed"] {
        s.post(
            aliases,
            json!({"name": name, "function": wasm, "version": 1}),
        )
        .await;
    }

    let upload = s
        .post(
            &format!("{fns}/spare/upload-url"),
            json!({"content_length": WASM_STUB.len()}),
        )
        .await;
    set("UPLOAD_TOKEN", token_of(&upload));
    let download = s.post(&format!("{fns}/wasm/download-url"), json!({})).await;
    set("DOWNLOAD_TOKEN", token_of(&download));

    let apps = "/namespaces/default/edge-applications";
    let app = id(&s
        .post(apps, json!({"name": "fuzz", "edge_functions": true}))
        .await);
    set("EDGE_APP", app.clone());
    set(
        "EDGE_APP_DOOMED",
        id(&s.post(apps, json!({"name": "doomed"})).await),
    );
    let instances = format!("/edge-applications/{app}/function-instances");
    let instance = json!({"name": "i", "function": wasm, "args": {}});
    let i1 = id(&s.post(&instances, instance.clone()).await);
    set("EDGE_INSTANCE", i1.clone());
    set(
        "EDGE_INSTANCE_DOOMED",
        id(&s.post(&instances, instance).await),
    );
    let rules = format!("/edge-applications/{app}/rules");
    let runs = json!({"name": "all", "behaviors": [{"name": "run_function", "target": i1.parse::<u64>().unwrap()}]});
    set("EDGE_RULE", id(&s.post(&rules, runs).await));
    let redirects = json!({"name": "away", "behaviors": [{"name": "redirect_to_301", "target": "https://example.com/"}]});
    set("EDGE_RULE_DOOMED", id(&s.post(&rules, redirects).await));
    let domains = "/namespaces/default/edge-domains";
    let ed = |name: &str| json!({"name": name, "cnames": [format!("{name}.edge.example")], "edge_application_id": app.parse::<u64>().unwrap()});
    set("EDGE_DOMAIN", id(&s.post(domains, ed("shop")).await));
    set("EDGE_DOMAIN_DOOMED", id(&s.post(domains, ed("gone")).await));

    let reader = json!({"description": "reader", "scopes": ["read"]});
    set("TOKEN", id(&s.post("/tokens", reader.clone()).await));
    set("TOKEN_DOOMED", id(&s.post("/tokens", reader).await));

    s.post("/namespaces", json!({"name": "doomed"})).await;
    set("NS_DOOMED", "doomed".into());
    set("NS", "default".into());
    set("TOKEN_SECRET", server.token.clone());
    env
}

/// The token in a signed URL (`…/uploads/{token}` or `…/downloads/{token}`).
fn token_of(signed: &Value) -> String {
    let url = signed["url"].as_str().unwrap();
    url.rsplit('/').next().unwrap().to_string()
}

/// Operation ids by `METHOD /path`, the labels schemathesis reports under.
fn operation_ids(doc: &Value) -> BTreeMap<String, String> {
    let mut ids = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if let Some(id) = operation["operationId"].as_str() {
                ids.insert(format!("{} {path}", method.to_uppercase()), id.to_string());
            }
        }
    }
    ids
}

/// The statuses each operation answered with, from schemathesis's NDJSON event stream: every
/// scenario's recorder holds its cases (method and path template) and, under the same keys,
/// the interactions (the response's status).
fn statuses_by_label(report: &Path) -> BTreeMap<String, BTreeSet<u16>> {
    let mut seen: BTreeMap<String, BTreeSet<u16>> = BTreeMap::new();
    let text = std::fs::read_to_string(report).expect("the NDJSON report");
    for line in text.lines() {
        let event: Value = serde_json::from_str(line).unwrap();
        let recorder = &event["ScenarioFinished"]["recorder"];
        let Some(interactions) = recorder["interactions"].as_object() else {
            continue;
        };
        for (case_id, interaction) in interactions {
            let case = &recorder["cases"][case_id]["value"];
            let (Some(method), Some(path), Some(status)) = (
                case["method"].as_str(),
                case["path"].as_str(),
                interaction["response"]["status_code"].as_u64(),
            ) else {
                continue;
            };
            seen.entry(format!("{} {path}", method.to_uppercase()))
                .or_default()
                .insert(status as u16);
        }
    }
    seen
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_or_undocumented_answer_and_reaches_every_operation() {
    // The run authenticates wrongly on purpose (`ignored_auth`); the throttle on failed
    // authentications has tests of its own and would only slow this one to 429s.
    let server = TestServer::start_with_env(&[], &[("GUST_AUTH_FAILURE_BURST", "1000000")]);
    let seeds = seed(&server).await;
    let venv = PythonVenv::with(&[SCHEMATHESIS]);
    let work = tempfile::tempdir().unwrap();
    let here = workspace_root().join("crates/gust/tests/it/schema_fuzz");
    let report = work.path().join("report.ndjson");
    let started = std::time::Instant::now();
    let output = venv
        .command("st")
        .arg("--config-file")
        .arg(here.join("schemathesis.toml"))
        .arg("run")
        .arg(format!("{}/api/v1/openapi.json", server.url))
        .arg("--report-ndjson-path")
        .arg(&report)
        .arg("--report")
        .arg("ndjson")
        .current_dir(work.path())
        .envs(&seeds)
        .env("SCHEMATHESIS_HOOKS", here.join("hooks.py"))
        .env("NO_COLOR", "1")
        .output()
        .expect("running schemathesis");
    let elapsed = started.elapsed();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("schemathesis ran for {elapsed:?}");

    let doc: Value = reqwest::get(format!("{}/api/v1/openapi.json", server.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids = operation_ids(&doc);
    let seen = statuses_by_label(&report);
    let excused: BTreeSet<&str> = NO_2XX_EXPECTED.iter().map(|(id, _)| *id).collect();
    let missing: Vec<String> = ids
        .iter()
        .filter(|(_, id)| !excused.contains(id.as_str()))
        .filter(|(label, _)| {
            !seen
                .get(*label)
                .is_some_and(|statuses| statuses.iter().any(|s| (200..300).contains(s)))
        })
        .map(|(label, id)| format!("{id} ({label}): {:?}", seen.get(label)))
        .collect();
    if !output.status.success() || !missing.is_empty() {
        // Kept for reading: every request and answer of the run.
        let kept = work.keep().join("report.ndjson");
        panic!(
            "schemathesis exited with {}; operations that never answered 2xx:\n{}\n\n\
             the report: {}\n\nschemathesis said:\n{text}",
            output.status,
            missing.join("\n"),
            kept.display()
        );
    }
    // The run's own token was never revoked.
    server.client().list_tokens().await.unwrap();
    eprintln!(
        "{} operations, each answered 2xx at least once, none 5xx",
        ids.len()
    );
}
