//! The `appwrite` handler contract through a running server: code written for Appwrite 0.15,
//! deployed unchanged, run through the executions API and `/fn/`, from cron and event
//! triggers, and created with the CLI's flag.

use std::time::Duration;

use gust_core::{
    Deployment, DeploymentStatus, Execution, ExecutionStatus, FunctionSpec, HandlerContract,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{TestServer, cli, cli_stdout, spec, tar_gz};

/// The Python example of Appwrite 0.15's documentation, as written there.
const PYTHON_EXAMPLE: &str = "import json
def main(req, res):
    p = json.loads(req.payload or '{}')
    return res.json({'hello': p.get('name', 'world')}, 200)
";

/// The Node example of Appwrite 0.15's documentation, as written there.
const NODE_EXAMPLE: &str = "module.exports = async (req, res) => {
  const p = req.payload ? JSON.parse(req.payload) : {};
  res.json({ hello: p.name || 'world', trigger: req.env.APPWRITE_FUNCTION_TRIGGER });
};
";

/// Appwrite code in a subfolder: echoes what it was given with a 201, prints, and raises
/// when asked.
const PYTHON_PROBE: &str = "import json
def main(req, res):
    print('payload was ' + req.payload)
    if req.payload == 'boom':
        raise RuntimeError('boom on purpose')
    return res.send(json.dumps({
        'payload': req.payload,
        'env': req.env,
        'same': req.variables is req.env,
        'headers': req.headers,
    }), 201)
";

const NODE_PROBE: &str = "module.exports = async (req, res) => {
  console.log('payload was ' + req.payload);
  if (req.payload === 'boom') throw new Error('boom on purpose');
  res.send(JSON.stringify({ payload: req.payload, env: req.env,
    same: req.variables === req.env, headers: req.headers }), 201);
};
";

/// An appwrite function of `runtime` with the id, title, env and secret the tests check.
fn appwrite_spec(id: &str, runtime: &str) -> FunctionSpec {
    FunctionSpec {
        id: Some(id.into()),
        title: Some(format!("Appwrite on {runtime}")),
        runtime: Some(runtime.into()),
        contract: Some(HandlerContract::Appwrite),
        env: Some(
            [
                ("GREETING".to_string(), "hej".to_string()),
                // The platform's keys win over the function's own.
                ("APPWRITE_FUNCTION_ID".to_string(), "spoofed".to_string()),
            ]
            .into(),
        ),
        secrets: Some([("TOKEN".to_string(), "s3cret".to_string())].into()),
        ..spec()
    }
}

/// Creates the function and deploys `files` with `entrypoint` (the default when `None`),
/// waiting for the build.
async fn deploy(
    server: &TestServer,
    spec: FunctionSpec,
    files: &[(&str, &str)],
    entrypoint: Option<&str>,
) -> Deployment {
    let client = server.client();
    let function = client.create_function("default", &spec).await.unwrap();
    let entries: Vec<(&str, &[u8])> = files.iter().map(|(p, c)| (*p, c.as_bytes())).collect();
    let deployment = client
        .create_deployment_at(
            "default",
            &function.name,
            tar_gz(&entries),
            "application/gzip",
            false,
            entrypoint,
        )
        .await
        .unwrap();
    client
        .wait_for_build(
            "default",
            &function.name,
            &deployment.id,
            Duration::from_secs(120),
        )
        .await
        .unwrap()
}

async fn deploy_ready(
    server: &TestServer,
    spec: FunctionSpec,
    files: &[(&str, &str)],
    entrypoint: Option<&str>,
) -> Deployment {
    let deployment = deploy(server, spec, files, entrypoint).await;
    assert_eq!(
        deployment.status,
        DeploymentStatus::Ready,
        "{}",
        deployment.build_log
    );
    deployment
}

/// An API execution with `payload` as its body.
async fn execute(server: &TestServer, function: &str, payload: &str) -> Execution {
    server
        .client()
        .create_execution("default", function, &json!({"body": payload}))
        .await
        .unwrap()
}

/// POST `payload` to `/fn/default/{function}/`.
async fn post(server: &TestServer, function: &str, payload: &str) -> reqwest::Response {
    server
        .http()
        .post(format!("{}/fn/default/{function}/", server.url))
        .bearer_auth(&server.token)
        .header("x-custom", "Yes")
        .body(payload.to_string())
        .send()
        .await
        .unwrap()
}

fn response_json(execution: &Execution) -> Value {
    let response = execution.response.as_ref().expect("a response");
    serde_json::from_str(&response.body.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {execution:?}"))
}

/// The runtime a probe runs on, as its function and Appwrite's variables name it.
struct Runtime {
    id: &'static str,
    name: &'static str,
    version: &'static str,
}

/// What the probe saw, checked against the function it ran as.
fn check_probe(
    seen: &Value,
    payload: &str,
    function: &str,
    deployment: &Deployment,
    runtime: &Runtime,
) {
    assert_eq!(seen["payload"], payload, "the payload arrives unparsed");
    assert_eq!(seen["same"], true, "req.variables is req.env");
    let env = &seen["env"];
    assert_eq!(env["GREETING"], "hej");
    assert_eq!(env["TOKEN"], "s3cret");
    assert_eq!(env["APPWRITE_FUNCTION_ID"], function);
    assert_eq!(
        env["APPWRITE_FUNCTION_NAME"],
        format!("Appwrite on {}", runtime.id)
    );
    assert_eq!(env["APPWRITE_FUNCTION_DEPLOYMENT"], deployment.id.as_str());
    assert_eq!(env["APPWRITE_FUNCTION_TRIGGER"], "http");
    assert_eq!(env["APPWRITE_FUNCTION_PROJECT_ID"], "default");
    assert_eq!(env["APPWRITE_FUNCTION_RUNTIME_NAME"], runtime.name);
    assert_eq!(env["APPWRITE_FUNCTION_RUNTIME_VERSION"], runtime.version);
    assert_eq!(env["APPWRITE_FUNCTION_DATA"], payload);
    assert_eq!(env["APPWRITE_FUNCTION_USER_ID"], "");
    assert_eq!(env["APPWRITE_FUNCTION_JWT"], "");
}

/// The same checks for both runtimes: the documentation's example at the default entrypoint,
/// then the probe from `src/` through the API and `/fn/`, and its failure.
async fn code_written_for_appwrite_runs_unchanged(
    runtime: Runtime,
    example: (&str, &str),
    probe: (&str, &str),
) {
    let server = TestServer::start();
    let example_id = format!("example-{}", &runtime.id[..4]);
    let built = deploy_ready(
        &server,
        appwrite_spec(&example_id, runtime.id),
        &[example],
        None,
    )
    .await;
    assert_eq!(built.entrypoint.as_deref(), Some(example.0));
    let hello = execute(&server, &example_id, r#"{"name":"gust"}"#).await;
    assert_eq!(hello.status, ExecutionStatus::Completed, "{hello:?}");
    let response = hello.response.as_ref().unwrap();
    assert_eq!(response.status_code, 200);
    assert_eq!(response.headers["content-type"], "application/json");
    let answer = response_json(&hello);
    assert_eq!(answer["hello"], "gust");
    if let Some(trigger) = answer.get("trigger") {
        assert_eq!(
            trigger, "http",
            "an API execution is an http run to Appwrite code"
        );
    }
    let world = post(&server, &example_id, "").await;
    assert_eq!(world.status(), StatusCode::OK);
    let world: Value = world.json().await.unwrap();
    assert_eq!(world["hello"], "world");
    if let Some(trigger) = world.get("trigger") {
        assert_eq!(trigger, "http");
    }

    let probe_id = format!("probe-{}", &runtime.id[..4]);
    let deployment = deploy_ready(
        &server,
        appwrite_spec(&probe_id, runtime.id),
        &[probe],
        Some(&format!("./{}", probe.0)),
    )
    .await;
    assert_eq!(deployment.entrypoint.as_deref(), Some(probe.0));

    // Through the executions API: the status passes through, the output is in the logs.
    let payload = r#"{"name": "gust", "n": [1, 2]}"#;
    let execution = execute(&server, &probe_id, payload).await;
    assert_eq!(
        execution.status,
        ExecutionStatus::Completed,
        "{execution:?}"
    );
    assert_eq!(execution.response.as_ref().unwrap().status_code, 201);
    assert_eq!(execution.logs.stdout, format!("payload was {payload}\n"));
    let seen = response_json(&execution);
    check_probe(&seen, payload, &probe_id, &deployment, &runtime);

    // Through /fn/: the same, with the request's headers (lower-cased names).
    let response = post(&server, &probe_id, "plain text, not JSON").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let id = response.headers()["x-gust-execution-id"]
        .to_str()
        .unwrap()
        .to_string();
    let seen: Value = response.json().await.unwrap();
    check_probe(
        &seen,
        "plain text, not JSON",
        &probe_id,
        &deployment,
        &runtime,
    );
    assert_eq!(seen["headers"]["x-custom"], "Yes");
    let recorded = server
        .client()
        .get_execution("default", &probe_id, &id)
        .await
        .unwrap();
    assert_eq!(recorded.logs.stdout, "payload was plain text, not JSON\n");

    // A raise or throw: a 500 whose body is the trace, a failed execution with it in stderr.
    let response = post(&server, &probe_id, "boom").await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let trace = response.text().await.unwrap();
    assert!(trace.contains("boom on purpose"), "{trace}");
    assert!(
        trace.contains(probe.0.rsplit('/').next().unwrap()),
        "the trace names the file: {trace}"
    );
    let failed = execute(&server, &probe_id, "boom").await;
    assert_eq!(failed.status, ExecutionStatus::Failed, "{failed:?}");
    let response = failed.response.as_ref().unwrap();
    assert_eq!(response.status_code, 500);
    assert!(response.body.body.contains("boom on purpose"));
    assert!(failed.logs.stderr.contains("boom on purpose"), "{failed:?}");
    assert!(failed.logs.stdout.contains("payload was boom"));
}

#[tokio::test]
async fn python_code_written_for_appwrite_runs_unchanged() {
    let runtime = Runtime {
        id: "python3.11",
        name: "Python",
        version: "3.11",
    };
    code_written_for_appwrite_runs_unchanged(
        runtime,
        ("main.py", PYTHON_EXAMPLE),
        ("src/index.py", PYTHON_PROBE),
    )
    .await;
}

#[tokio::test]
async fn node_code_written_for_appwrite_runs_unchanged() {
    let runtime = Runtime {
        id: "node20",
        name: "Node.js",
        version: "20.0",
    };
    code_written_for_appwrite_runs_unchanged(
        runtime,
        ("index.js", NODE_EXAMPLE),
        ("src/index.js", NODE_PROBE),
    )
    .await;
}

#[tokio::test]
async fn appwrite_builds_fail_without_main_or_the_entrypoint_file() {
    let server = TestServer::start();
    let no_main = deploy(
        &server,
        appwrite_spec("no-main", "python3.11"),
        &[(
            "main.py",
            "def handle(req, res):\n    return res.send('hi')\n",
        )],
        None,
    )
    .await;
    assert_eq!(no_main.status, DeploymentStatus::Failed);
    assert!(
        no_main
            .build_log
            .contains("main.py defines no function `main`"),
        "{}",
        no_main.build_log
    );
    assert!(
        no_main
            .error_message
            .as_deref()
            .is_some_and(|m| m.contains("main")),
        "{no_main:?}"
    );

    let elsewhere = deploy(
        &server,
        appwrite_spec("elsewhere", "node20"),
        &[("src/index.js", NODE_EXAMPLE)],
        None,
    )
    .await;
    assert_eq!(elsewhere.status, DeploymentStatus::Failed);
    assert!(
        elsewhere
            .error_message
            .as_deref()
            .is_some_and(|m| m.contains("`index.js` is not a file in the package")),
        "{elsewhere:?}"
    );
}

/// Waits up to 10 s for a completed execution of `function` started by `trigger`.
async fn triggered(server: &TestServer, function: &str, trigger: &str) -> Execution {
    for _ in 0..200 {
        let page = server
            .client()
            .list_executions("default", function, &[("trigger", trigger)])
            .await
            .unwrap();
        if let Some(done) = page
            .items
            .into_iter()
            .find(|e| e.status == ExecutionStatus::Completed)
        {
            return done;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no completed {trigger} execution of {function} in 10 s");
}

#[tokio::test]
async fn scheduled_and_event_runs_tell_the_code_their_trigger() {
    let server = TestServer::start();
    let spec = FunctionSpec {
        events: Some(vec!["orders.*".into()]),
        ..appwrite_spec("triggered", "node20")
    };
    deploy_ready(&server, spec, &[("index.js", NODE_PROBE)], None).await;
    let client = server.client();
    client
        .create_trigger(
            "default",
            "triggered",
            &json!({"kind": "cron", "schedule": "@every 1s", "body": "tick"}),
        )
        .await
        .unwrap();
    let tick = triggered(&server, "triggered", "schedule").await;
    let seen = response_json(&tick);
    assert_eq!(seen["payload"], "tick");
    assert_eq!(seen["env"]["APPWRITE_FUNCTION_TRIGGER"], "schedule");

    client
        .publish_event("default", "orders.created", &json!({"order": 42}))
        .await
        .unwrap();
    let event = triggered(&server, "triggered", "event").await;
    let seen = response_json(&event);
    let env = &seen["env"];
    assert_eq!(env["APPWRITE_FUNCTION_TRIGGER"], "event");
    assert_eq!(env["APPWRITE_FUNCTION_EVENT"], "orders.created");
    let data: Value = serde_json::from_str(env["APPWRITE_FUNCTION_EVENT_DATA"].as_str().unwrap())
        .expect("the event's JSON");
    assert_eq!(data["name"], "orders.created");
    assert_eq!(data["payload"]["order"], 42);
}

#[tokio::test]
async fn the_cli_creates_and_shows_appwrite_functions() {
    let server = TestServer::start();
    let home = tempfile::tempdir().unwrap();
    let out = cli(
        &server,
        home.path(),
        &[
            "fn",
            "create",
            "aw",
            "--runtime",
            "python3.11",
            "--contract",
            "appwrite",
            "--json",
        ],
    );
    let created: Value = serde_json::from_str(&cli_stdout(&out)).unwrap();
    assert_eq!(created["contract"], "appwrite");
    let out = cli(&server, home.path(), &["fn", "get", "aw"]);
    assert!(cli_stdout(&out).contains("appwrite"));

    let code = home.path().join("code");
    std::fs::create_dir_all(code.join("src")).unwrap();
    std::fs::write(code.join("src/main.py"), PYTHON_EXAMPLE).unwrap();
    let out = cli(
        &server,
        home.path(),
        &[
            "deploy",
            code.to_str().unwrap(),
            "--name",
            "aw",
            "--entrypoint",
            "src/main.py",
        ],
    );
    cli_stdout(&out);
    let out = cli(
        &server,
        home.path(),
        &["invoke", "aw", "--data", r#"{"name":"cli"}"#],
    );
    assert_eq!(cli_stdout(&out).trim(), r#"{"hello":"cli"}"#);

    let out = cli(
        &server,
        home.path(),
        &[
            "fn",
            "create",
            "bad",
            "--runtime",
            "node20",
            "--contract",
            "lambda",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("`gust`, `appwrite` or `qinling`"));
}

/// Python written for Scaleway: a handler in a subfolder, a dependency vendored in
/// `package/`, the context read as a dict, a string, an object and a response object.
const SCALEWAY_PYTHON: &str = "import os
import vendored

def my_handler(event, context):
    path = event['path']
    if path == '/text':
        return 'plain ' + vendored.WORD
    if path == '/object':
        return {'n': 1}
    if path == '/boom':
        raise RuntimeError('boom on purpose')
    return {
        'statusCode': 202,
        'headers': {'Content-Type': ['application/json']},
        'body': {
            'memory': context['memoryLimitInMb'],
            'name': context.get('functionName'),
            'version': context.get('functionVersion'),
            'method': event['requestContext']['httpMethod'],
            'stage': event['stageVariables'],
            'multi': event['multiValueHeaders'],
            'query': event['queryStringParameters'],
            'body': event['body'],
            'env': {k: os.environ.get(k) for k in ('NS_VAR', 'NS_SECRET', 'FN_VAR')},
        },
    }
";

/// Node written for Scaleway: `module.exports.handle` with the callback style.
const SCALEWAY_NODE: &str = "module.exports.handle = (event, context, callback) => {
  if (event.path === '/text') return callback(null, 'plain node');
  if (event.path === '/boom') return callback(new Error('boom on purpose'));
  callback(null, { statusCode: 202, headers: { 'Content-Type': ['application/json'] },
    body: JSON.stringify({ memory: context.memoryLimitInMb, name: context.functionName,
      version: context.functionVersion, method: event.requestContext.httpMethod,
      stage: event.stageVariables, multi: event.multiValueHeaders,
      query: event.queryStringParameters, body: event.body,
      env: { NS_VAR: process.env.NS_VAR, NS_SECRET: process.env.NS_SECRET, FN_VAR: process.env.FN_VAR } }) });
};
";

/// Code written for Scaleway's `handle(event, context)` runs on the native contract: the
/// event and context fields its documentation lists, folder handlers, namespace env and
/// secrets beside the function's own, strings answered as text.
#[tokio::test]
async fn code_written_for_scaleway_runs_unchanged() {
    let server = TestServer::start();
    let client = server.client();
    let made = server
        .http()
        .post(format!("{}/api/v1/namespaces", server.url))
        .bearer_auth(&server.token)
        .json(&json!({
            "name": "scw", "env": {"NS_VAR": "from-namespace"}, "secrets": {"NS_SECRET": "ns-s3cret"}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), StatusCode::CREATED);
    /// Runtime, handler, files, and what `/text` answers.
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, &'a str);
    let cases: [Case; 2] = [
        (
            "python3.11",
            "src/handlers/first.my_handler",
            vec![
                ("src/handlers/first.py", SCALEWAY_PYTHON),
                ("package/vendored.py", "WORD = 'python'\n"),
            ],
            "plain python",
        ),
        (
            "node20",
            "handler.handle",
            vec![("handler.js", SCALEWAY_NODE)],
            "plain node",
        ),
    ];
    for (runtime, handler, files, text) in cases {
        let name = format!("scw-{}", &runtime[..4]);
        let spec = FunctionSpec {
            name: Some(name.clone()),
            runtime: Some(runtime.into()),
            handler: Some(handler.into()),
            memory_mb: Some(256),
            env: Some([("FN_VAR".to_string(), "from-function".to_string())].into()),
            ..spec()
        };
        client.create_function("scw", &spec).await.unwrap();
        let entries: Vec<(&str, &[u8])> = files.iter().map(|(p, c)| (*p, c.as_bytes())).collect();
        let deployment = client
            .create_deployment("scw", &name, tar_gz(&entries), "application/gzip", true)
            .await
            .unwrap();
        let deployment = client
            .wait_for_build("scw", &name, &deployment.id, Duration::from_secs(120))
            .await
            .unwrap();
        assert_eq!(
            deployment.status,
            DeploymentStatus::Ready,
            "{}",
            deployment.build_log
        );
        let url = |path: &str| format!("{}/fn/scw/{name}{path}", server.url);
        let http = server.http();

        let plain = http
            .get(url("/text"))
            .bearer_auth(&server.token)
            .send()
            .await
            .unwrap();
        assert_eq!(plain.status(), StatusCode::OK);
        assert!(
            plain.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        assert_eq!(plain.text().await.unwrap(), text, "{runtime}");

        let answer = http
            .post(url("/probe?a=1&a=2"))
            .bearer_auth(&server.token)
            .body("hi")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::ACCEPTED, "{runtime}");
        let seen: Value = answer.json().await.unwrap();
        assert_eq!(seen["memory"], 256, "{runtime}: {seen}");
        assert_eq!(seen["name"], name.as_str());
        assert_eq!(seen["version"], deployment.id.as_str());
        assert_eq!(seen["method"], "POST");
        assert_eq!(seen["stage"], json!({}));
        assert!(seen["multi"].is_null());
        assert_eq!(seen["query"], json!({"a": "2"}), "the last value wins");
        assert_eq!(seen["body"], "hi");
        assert_eq!(
            seen["env"],
            json!({"NS_VAR": "from-namespace", "NS_SECRET": "ns-s3cret", "FN_VAR": "from-function"})
        );

        let failed = http
            .get(url("/boom"))
            .bearer_auth(&server.token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            failed.status(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "{runtime}"
        );
    }
    // Any other object is JSON.
    let object = server
        .http()
        .get(format!("{}/fn/scw/scw-pyth/object", server.url))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(object.json::<Value>().await.unwrap(), json!({"n": 1}));
}

/// Qinling's Python example, as its documentation writes it.
const QINLING_PYTHON: &str = "def main(name='World', context=None, **kwargs):
    print('hello from', name)
    if name == 'boom':
        raise ValueError('boom on purpose')
    return 'Hello, %s' % name
";

/// Qinling's Node example, as its documentation writes it.
const QINLING_NODE: &str = "exports.main = async function (context, input) {
  return { hello: (input && input.name) || 'World', context, input };
};
";

/// Code written for Qinling runs unchanged under the `qinling` contract: Python gets the input
/// object's keys as keyword arguments (or the raw input as one argument) and `context`; Node
/// gets `(context, input)`; the return value is the answer, as JSON; prints are the logs.
#[tokio::test]
async fn code_written_for_qinling_runs_unchanged() {
    let server = TestServer::start();
    for (runtime, name, code) in [
        ("python3.11", "qin-py", QINLING_PYTHON),
        ("node20", "qin-js", QINLING_NODE),
    ] {
        let file = if runtime == "node20" {
            "main.js"
        } else {
            "main.py"
        };
        let spec = FunctionSpec {
            name: Some(name.into()),
            runtime: Some(runtime.into()),
            contract: Some(HandlerContract::Qinling),
            ..spec()
        };
        let function = server
            .client()
            .create_function("default", &spec)
            .await
            .unwrap();
        assert_eq!(
            function.handler.as_deref(),
            Some("main.main"),
            "Qinling's default entry"
        );
        let built = server
            .client()
            .create_deployment(
                "default",
                name,
                tar_gz(&[(file, code.as_bytes())]),
                "application/gzip",
                true,
            )
            .await
            .unwrap();
        let built = server
            .client()
            .wait_for_build("default", name, &built.id, Duration::from_secs(120))
            .await
            .unwrap();
        assert_eq!(built.status, DeploymentStatus::Ready, "{}", built.build_log);
    }

    let object = execute(&server, "qin-py", r#"{"name": "foo"}"#).await;
    assert_eq!(object.status, ExecutionStatus::Completed, "{object:?}");
    assert_eq!(response_json(&object), json!("Hello, foo"));
    assert_eq!(object.logs.stdout, "hello from foo\n");
    let positional = execute(&server, "qin-py", "6").await;
    assert_eq!(response_json(&positional), json!("Hello, 6"));
    let none = execute(&server, "qin-py", "").await;
    assert_eq!(response_json(&none), json!("Hello, World"));
    let failed = execute(&server, "qin-py", r#"{"name": "boom"}"#).await;
    assert_eq!(failed.status, ExecutionStatus::Failed, "{failed:?}");
    assert!(failed.logs.stderr.contains("boom on purpose"), "{failed:?}");

    let node = execute(&server, "qin-js", r#"{"name": "bar"}"#).await;
    assert_eq!(node.status, ExecutionStatus::Completed, "{node:?}");
    let seen = response_json(&node);
    assert_eq!(seen["hello"], "bar");
    assert_eq!(seen["context"], json!({}));
    let raw = execute(&server, "qin-js", "hi").await;
    assert_eq!(
        response_json(&raw)["input"],
        json!({"__function_input": "hi"})
    );
    let empty = execute(&server, "qin-js", "").await;
    assert_eq!(response_json(&empty)["input"], Value::Null);

    // The contract needs a process runtime.
    let refused = server
        .client()
        .create_function(
            "default",
            &FunctionSpec {
                name: Some("qin-wasm".into()),
                runtime: Some("wasm".into()),
                contract: Some(HandlerContract::Qinling),
                ..spec()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(refused.status(), Some(StatusCode::BAD_REQUEST));
}

fn azion_spec() -> FunctionSpec {
    FunctionSpec {
        contract: Some(HandlerContract::Azion),
        privacy: Some(gust_core::Privacy::Public),
        ..spec()
    }
}

/// The newest execution of `function` whose request path is `path` (within 10 s).
async fn run_of(server: &TestServer, function: &str, path: &str) -> Execution {
    for _ in 0..100 {
        let page = server
            .client()
            .list_executions("default", function, &[])
            .await
            .unwrap();
        if let Some(run) = page.items.into_iter().find(|e| e.request.path == path) {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no execution of {function} at {path}");
}

#[tokio::test]
async fn azion_fetch_listeners_run_unchanged_with_logs_and_errors() {
    let server = TestServer::start();
    server
        .deploy_folder("listener", "node20", azion_spec(), "azion-worker")
        .await;
    let function = server
        .client()
        .get_function("default", "listener")
        .await
        .unwrap();
    assert_eq!(function.handler.as_deref(), Some("main.default"));
    let url = |path: &str| format!("{}/fn/default/listener{path}", server.url);

    // A plain invocation: a standard Request with the full URL, args `{}`.
    let response = server
        .http()
        .get(url("/greet?name=eve"))
        .header("x-test", "t")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-edge"], "worker");
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["greeting"], "hello eve");
    assert_eq!(answer["args"], json!({}));
    assert_eq!(answer["called"], Value::Null);
    assert_eq!(answer["header"], "t");
    assert!(
        answer["url"].as_str().unwrap().ends_with("/greet?name=eve"),
        "{answer}"
    );
    let run = run_of(&server, "listener", "/greet").await;
    assert_eq!(run.status, ExecutionStatus::Completed);
    assert!(run.logs.stdout.contains("serving /greet"), "{:?}", run.logs);

    // A listener that throws, and a response promise that rejects: 500, the error recorded.
    for (path, message) in [
        ("/throw", "thrown on purpose"),
        ("/boom", "rejected on purpose"),
    ] {
        let response = server.http().get(url(path)).send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "{path}"
        );
        let run = run_of(&server, "listener", path).await;
        assert_eq!(run.status, ExecutionStatus::Failed, "{path}");
        assert!(
            run.error_message
                .as_deref()
                .is_some_and(|m| m.contains(message)),
            "{path}: {run:?}"
        );
        assert!(run.logs.stderr.contains(message), "{path}: {:?}", run.logs);
    }
}

#[tokio::test]
async fn azion_modules_run_unchanged_and_read_their_args_from_ctx() {
    let server = TestServer::start();
    server
        .deploy_folder("module", "node20", azion_spec(), "azion-module")
        .await;
    let response = server
        .http()
        .get(format!("{}/fn/default/module/page?q=1", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["set-cookie"], "a=1");
    let answer: Value = response.json().await.unwrap();
    assert_eq!(
        answer,
        json!({"args": {}, "path": "/page", "query": "?q=1"})
    );
    let run = run_of(&server, "module", "/page").await;
    assert!(
        run.logs.stdout.contains("module serving /page"),
        "{:?}",
        run.logs
    );

    let response = server
        .http()
        .get(format!("{}/fn/default/module/boom", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let run = run_of(&server, "module", "/boom").await;
    assert_eq!(run.status, ExecutionStatus::Failed);
    assert!(
        run.logs.stderr.contains("module failed on purpose"),
        "{:?}",
        run.logs
    );

    // Through an edge application, `ctx.args` holds the instance's args.
    let client = server.client();
    let app = client
        .create_edge_application(
            "default",
            &serde_json::from_value(json!({"name": "m", "edge_functions": true})).unwrap(),
        )
        .await
        .unwrap();
    let instance = client
        .create_edge_instance(
            app.id,
            &serde_json::from_value(
                json!({"name": "i", "function": "module", "args": {"site": "docs"}}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    client
        .create_edge_rule(
            app.id,
            &serde_json::from_value(json!({"name": "r", "behaviors": [{"name": "run_function", "target": instance.id}]}))
                .unwrap(),
        )
        .await
        .unwrap();
    let answer: Value = server
        .http()
        .get(format!("{}/edge/{}/docs", server.url, app.id))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        answer,
        json!({"args": {"site": "docs"}, "path": "/docs", "query": ""})
    );
}

#[tokio::test]
async fn azion_code_without_a_fetch_handler_fails_its_build() {
    let server = TestServer::start();
    let failed = deploy(
        &server,
        FunctionSpec {
            id: Some("nothing".into()),
            runtime: Some("node20".into()),
            ..azion_spec()
        },
        &[("main.js", "export const x = 1;\n")],
        None,
    )
    .await;
    assert_eq!(failed.status, DeploymentStatus::Failed);
    assert!(
        failed.build_log.contains("addEventListener"),
        "{}",
        failed.build_log
    );
}
