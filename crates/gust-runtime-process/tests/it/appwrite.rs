//! The `appwrite` contract through a pool: Appwrite 0.15 code loaded from its entrypoint file,
//! called with `req` and `res`, answered, failing and printing as Appwrite's runtimes do.

use gust_core::{ExecutionTrigger, HandlerContract, RuntimeId};
use gust_runtime_process::{BuildSpec, FunctionPool, Outcome, PoolSpec, Request};

use crate::{Env, body, build_spec, call, code, env, get, json, spec};

fn appwrite_build(runtime: RuntimeId, dir: &std::path::Path, entrypoint: &str) -> BuildSpec {
    BuildSpec {
        runtime,
        code_dir: dir.to_path_buf(),
        handler: "main.handle".into(),
        contract: HandlerContract::Appwrite,
        entrypoint: Some(entrypoint.into()),
        env: vec![],
    }
}

fn appwrite_pool(env: &Env, build: &BuildSpec) -> FunctionPool {
    let mut pool = PoolSpec {
        contract: HandlerContract::Appwrite,
        entrypoint: build.entrypoint.clone(),
        ..spec(build.runtime, &build.code_dir)
    };
    pool.env
        .push(("APPWRITE_FUNCTION_ID".into(), "fn-test".into()));
    env.runtime.pool(pool)
}

fn post(path: &str, payload: &str) -> Request {
    let mut request = get(path);
    request.method = http::Method::POST;
    request.body = payload.to_string().into();
    request
        .headers
        .insert("x-custom", http::HeaderValue::from_static("yes"));
    request
}

const PYTHON: &str = r#"
import json, os

def main(req, res):
    print("payload is", req.payload)
    if req.payload == "raise":
        raise ValueError("failed on purpose")
    if req.payload == "silent":
        return
    if req.payload == "created":
        return res.send("made it", 201)
    res.json({
        "payload": req.payload,
        "env": req.env,
        "same": req.variables is req.env,
        "headers": req.headers,
        "process_id": os.environ.get("APPWRITE_FUNCTION_ID"),
    })
    res.send("ignored: the first answer stands", 202)
"#;

#[tokio::test]
async fn python_code_written_for_appwrite_runs_from_its_entrypoint() {
    let env = env().await;
    let dir = code(&[("src/index.py", PYTHON)]);
    let build = appwrite_build(RuntimeId::Python311, dir.path(), "./src/index.py");
    let log = build_spec(&env, build.clone()).await.unwrap();
    assert!(log.contains("entrypoint src/index.py loads"), "{log}");
    let pool = appwrite_pool(&env, &build);

    let response = call(&pool, post("/", r#"{"name": 1}"#)).await;
    assert_eq!(response.outcome, Outcome::Completed, "{:?}", response.logs);
    assert_eq!(response.status, 200);
    assert!(
        response
            .headers
            .contains(&("content-type".into(), "application/json".into()))
    );
    let value = json(&response);
    assert_eq!(
        value["payload"], r#"{"name": 1}"#,
        "the payload is not parsed"
    );
    assert_eq!(value["same"], true);
    assert_eq!(value["env"]["GREETING"], "hi");
    assert_eq!(value["env"]["APPWRITE_FUNCTION_ID"], "fn-test");
    assert_eq!(value["env"]["APPWRITE_FUNCTION_TRIGGER"], "http");
    assert_eq!(value["env"]["APPWRITE_FUNCTION_DATA"], r#"{"name": 1}"#);
    assert_eq!(value["headers"]["x-custom"], "yes");
    assert_eq!(value["process_id"], "fn-test");
    assert_eq!(response.logs.stdout, "payload is {\"name\": 1}\n");

    let created = call(&pool, post("/", "created")).await;
    assert_eq!((created.status, body(&created).as_str()), (201, "made it"));

    let raised = call(&pool, post("/", "raise")).await;
    assert_eq!(raised.status, 500);
    assert!(matches!(raised.outcome, Outcome::Failed(ref why) if why.contains("ValueError")));
    for text in [body(&raised), raised.logs.stderr.clone()] {
        assert!(
            text.contains("Traceback") && text.contains("ValueError: failed on purpose"),
            "{text}"
        );
    }

    let silent = call(&pool, post("/", "silent")).await;
    assert_eq!(silent.status, 500);
    assert!(body(&silent).contains("without calling res.send or res.json"));

    let mut scheduled = post("/", "");
    scheduled.trigger = ExecutionTrigger::Schedule;
    let value = json(&call(&pool, scheduled).await);
    assert_eq!(value["env"]["APPWRITE_FUNCTION_TRIGGER"], "schedule");
    let mut event = post("/", r#"{"name":"functions.x.create"}"#);
    event.trigger = ExecutionTrigger::Event;
    event.headers.insert(
        "x-gust-event",
        http::HeaderValue::from_static("functions.x.create"),
    );
    let value = json(&call(&pool, event).await);
    assert_eq!(value["env"]["APPWRITE_FUNCTION_TRIGGER"], "event");
    assert_eq!(
        value["env"]["APPWRITE_FUNCTION_EVENT"],
        "functions.x.create"
    );
    assert_eq!(
        value["env"]["APPWRITE_FUNCTION_EVENT_DATA"],
        r#"{"name":"functions.x.create"}"#
    );
}

#[tokio::test]
async fn python_builds_need_main_and_the_entrypoint_file() {
    let env = env().await;
    let dir = code(&[("main.py", "def handle(req, res):\n    pass\n")]);
    let mut build = appwrite_build(RuntimeId::Python311, dir.path(), "main.py");
    let err = build_spec(&env, build.clone()).await.unwrap_err();
    assert!(err.contains("main.py defines no function `main`"), "{err}");
    build.entrypoint = Some("src/missing.py".into());
    let err = build_spec(&env, build).await.unwrap_err();
    assert!(err.contains("`src/missing.py` is not a file"), "{err}");
}

const NODE: &str = r#"
module.exports = async (req, res) => {
  console.log('payload is', req.payload);
  if (req.payload === 'throw') throw new Error('failed on purpose');
  if (req.payload === 'silent') return 'a return value is no answer';
  if (req.payload === 'created') return res.send('made it', 201);
  await new Promise((resolve) => setTimeout(resolve, 1));
  res.json({ payload: req.payload, env: req.env, same: req.variables === req.env,
    headers: req.headers, processId: process.env.APPWRITE_FUNCTION_ID });
  res.send('ignored: the first answer stands', 202);
};
"#;

#[tokio::test]
async fn node_code_written_for_appwrite_runs_from_its_entrypoint() {
    let env = env().await;
    let dir = code(&[("src/index.js", NODE)]);
    let build = appwrite_build(RuntimeId::Node20, dir.path(), "src/index.js");
    build_spec(&env, build.clone()).await.unwrap();
    let pool = appwrite_pool(&env, &build);

    let response = call(&pool, post("/", r#"{"name": 1}"#)).await;
    assert_eq!(response.outcome, Outcome::Completed, "{:?}", response.logs);
    let value = json(&response);
    assert_eq!(value["payload"], r#"{"name": 1}"#);
    assert_eq!(value["same"], true);
    assert_eq!(value["env"]["GREETING"], "hi");
    assert_eq!(value["env"]["APPWRITE_FUNCTION_TRIGGER"], "http");
    assert_eq!(value["headers"]["x-custom"], "yes");
    assert_eq!(value["processId"], "fn-test");
    assert_eq!(response.logs.stdout, "payload is {\"name\": 1}\n");

    let created = call(&pool, post("/", "created")).await;
    assert_eq!((created.status, body(&created).as_str()), (201, "made it"));

    let thrown = call(&pool, post("/", "throw")).await;
    assert_eq!(thrown.status, 500);
    assert!(matches!(thrown.outcome, Outcome::Failed(_)));
    for text in [body(&thrown), thrown.logs.stderr.clone()] {
        assert!(
            text.contains("Error: failed on purpose") && text.contains("index.js"),
            "{text}"
        );
    }

    // Settled without an answer: a 500 at once rather than a request left hanging.
    let silent = call(&pool, post("/", "silent")).await;
    assert_eq!(silent.status, 500);
    assert!(body(&silent).contains("without calling res.send or res.json"));

    let mut scheduled = post("/", "");
    scheduled.trigger = ExecutionTrigger::Schedule;
    let value = json(&call(&pool, scheduled).await);
    assert_eq!(value["env"]["APPWRITE_FUNCTION_TRIGGER"], "schedule");
}

#[tokio::test]
async fn node_exports_may_be_sync_or_a_default_and_must_be_a_function() {
    let env = env().await;
    let dir = code(&[
        (
            "index.js",
            "module.exports = (req, res) => res.send('sync ' + req.payload);\n",
        ),
        (
            "default.js",
            "module.exports.default = (req, res) => { res.send('default', 203); };\n",
        ),
        ("object.js", "module.exports = { main: () => {} };\n"),
    ]);
    let sync = appwrite_build(RuntimeId::Node20, dir.path(), "index.js");
    build_spec(&env, sync.clone()).await.unwrap();
    let response = call(&appwrite_pool(&env, &sync), post("/", "hi")).await;
    assert_eq!(
        (response.status, body(&response).as_str()),
        (200, "sync hi")
    );

    let default = appwrite_build(RuntimeId::Node20, dir.path(), "default.js");
    build_spec(&env, default.clone()).await.unwrap();
    let response = call(&appwrite_pool(&env, &default), post("/", "")).await;
    assert_eq!(
        (response.status, body(&response).as_str()),
        (203, "default")
    );

    let object = appwrite_build(RuntimeId::Node20, dir.path(), "object.js");
    let err = build_spec(&env, object).await.unwrap_err();
    assert!(err.contains("object.js exports no function"), "{err}");
}
