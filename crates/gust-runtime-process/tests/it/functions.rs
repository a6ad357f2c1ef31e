//! Python, Node and custom functions built and invoked through a pool: the handler contract.

use std::time::Duration;

use gust_core::RuntimeId;
use gust_runtime_process::Outcome;
use sha2::Digest;

use crate::{body, build, call, code, env, get, json, spec};

const PYTHON_WITH_SIX: &str = r#"
import json
import os
import six

def handle(event, context):
    print("hello from python")
    return {
        "statusCode": 201,
        "headers": {"x-six": six.__version__},
        "body": json.dumps({
            "path": event["path"],
            "query": event["queryStringParameters"],
            "method": event["httpMethod"],
            "accept": event["headers"].get("accept"),
            "body": event["body"],
            "b64": event["isBase64Encoded"],
            "function": context.function_name,
            "execution": context.execution_id,
            "memory": context.memory_limit_mb,
            "remaining_ok": 0 < context.get_remaining_time_in_millis() <= 10000,
            "greeting": os.environ.get("GREETING"),
        }),
    }
"#;

#[tokio::test]
async fn a_python_function_with_a_dependency_installed_at_build_runs_in_a_pool() {
    let env = env().await;
    let dir = code(&[("main.py", PYTHON_WITH_SIX), ("requirements.txt", "six\n")]);
    let log = build(&env, RuntimeId::Python311, dir.path()).await.unwrap();
    assert!(log.contains("six"), "build log names the package: {log}");
    assert!(
        dir.path().join("six.py").exists(),
        "installed into the code folder"
    );

    let pool = env.runtime.pool(spec(RuntimeId::Python311, dir.path()));
    let mut request = get("/hello?name=gust");
    request.method = http::Method::POST;
    request.body = "ping".into();
    let response = call(&pool, request).await;
    assert_eq!(response.outcome, Outcome::Completed, "{:?}", response.logs);
    assert_eq!(response.status, 201);
    assert!(
        response
            .headers
            .iter()
            .any(|(k, v)| k == "x-six" && v.starts_with('1'))
    );
    let value = json(&response);
    assert_eq!(value["path"], "/hello");
    assert_eq!(value["query"]["name"], "gust");
    assert_eq!(value["method"], "POST");
    assert_eq!(value["accept"], "*/*");
    assert_eq!(value["body"], "ping");
    assert_eq!(value["b64"], false);
    assert_eq!(value["function"], "test-fn");
    assert_eq!(value["execution"], "exec-1");
    assert_eq!(value["memory"], 256);
    assert_eq!(value["remaining_ok"], true);
    assert_eq!(value["greeting"], "hi");
    assert_eq!(response.logs.stdout, "hello from python\n");
    let cold = response
        .cold_start
        .expect("the first request is a cold start");
    assert!(cold.total_us > 0 && cold.interpreter_us > 0, "{cold:?}");

    let again = call(&pool, get("/again")).await;
    assert_eq!(again.outcome, Outcome::Completed);
    assert!(
        again.cold_start.is_none(),
        "the second request finds the worker warm"
    );
    assert_eq!(again.worker_pid, response.worker_pid);
}

#[tokio::test]
async fn a_node_function_with_a_dependency_installed_at_build_runs_in_a_pool() {
    let env = env().await;
    let main = r#"
const isNumber = require('is-number');
exports.handle = (event, context) => {
  console.log('hello from node', event.path);
  return { statusCode: 200, headers: { 'x-fn': context.functionName }, body: JSON.stringify({
    five: isNumber(5), word: isNumber('word'), query: event.queryStringParameters,
    greeting: process.env.GREETING, remaining: context.getRemainingTimeInMillis() > 0 }) };
};
"#;
    let package = r#"{"name":"fn","version":"1.0.0","dependencies":{"is-number":"^7.0.0"},"devDependencies":{"left-pad":"1.3.0"}}"#;
    let dir = code(&[("main.js", main), ("package.json", package)]);
    let log = build(&env, RuntimeId::Node20, dir.path()).await.unwrap();
    assert!(dir.path().join("node_modules/is-number").is_dir(), "{log}");
    assert!(
        !dir.path().join("node_modules/left-pad").exists(),
        "dev dependencies are left out"
    );

    let pool = env.runtime.pool(spec(RuntimeId::Node20, dir.path()));
    let response = call(&pool, get("/n?x=1")).await;
    assert_eq!(response.outcome, Outcome::Completed, "{:?}", response.logs);
    let value = json(&response);
    assert_eq!(value["five"], true);
    assert_eq!(value["word"], false);
    assert_eq!(value["query"]["x"], "1");
    assert_eq!(value["greeting"], "hi");
    assert_eq!(value["remaining"], true);
    assert_eq!(response.logs.stdout, "hello from node /n\n");
    assert!(
        response
            .headers
            .contains(&("x-fn".into(), "test-fn".into()))
    );
}

#[tokio::test]
async fn node_esm_and_async_handlers_and_plain_json_values_work() {
    let env = env().await;
    let main = "export async function handle(event) {\n  await new Promise((r) => setTimeout(r, 5));\n  return [1, 'two', { three: event.httpMethod }];\n}\n";
    let dir = code(&[("main.mjs", main)]);
    build(&env, RuntimeId::Node20, dir.path()).await.unwrap();
    let pool = env.runtime.pool(spec(RuntimeId::Node20, dir.path()));
    let response = call(&pool, get("/")).await;
    assert_eq!(response.status, 200);
    assert!(
        response
            .headers
            .contains(&("content-type".into(), "application/json".into()))
    );
    assert_eq!(body(&response), r#"[1,"two",{"three":"GET"}]"#);
}

#[tokio::test]
async fn a_python_json_value_is_a_200_and_binary_bodies_arrive_base64() {
    let env = env().await;
    let main = "def handle(event, context):\n    return {'b64': event['isBase64Encoded'], 'body': event['body']}\n";
    let dir = code(&[("main.py", main)]);
    build(&env, RuntimeId::Python311, dir.path()).await.unwrap();
    let pool = env.runtime.pool(spec(RuntimeId::Python311, dir.path()));
    let mut request = get("/");
    request.body = bytes::Bytes::from_static(&[0xff, 0x00, 0x01]);
    let response = call(&pool, request).await;
    assert_eq!(response.status, 200);
    assert_eq!(
        json(&response),
        serde_json::json!({"b64": true, "body": "/wAB"})
    );
}

#[tokio::test]
async fn bodies_larger_than_a_read_arrive_whole_in_both_languages() {
    let env = env().await;
    // Bodies of over a MiB cross many of the worker's reads, several requests in flight on
    // one worker: each must arrive whole and in its own request.
    for (runtime, file, main) in [
        (
            RuntimeId::Python311,
            "main.py",
            "import hashlib\ndef handle(event, context):\n    body = event['body'].encode()\n    return {'len': len(body), 'sha256': hashlib.sha256(body).hexdigest()}\n",
        ),
        (
            RuntimeId::Node20,
            "main.js",
            "const crypto = require('crypto');\nexports.handle = (event) => {\n  const body = Buffer.from(event.body);\n  return { len: body.length, sha256: crypto.createHash('sha256').update(body).digest('hex') };\n};\n",
        ),
    ] {
        let dir = code(&[(file, main)]);
        build(&env, runtime, dir.path()).await.unwrap();
        let mut spec = spec(runtime, dir.path());
        spec.max_scale = 1;
        spec.concurrency = 4;
        let pool = env.runtime.pool(spec);
        let bodies: Vec<String> = (0..4u8)
            .map(|i| {
                let size = (1 << 20) + 77_777 * usize::from(i);
                (0..size)
                    .map(|n| char::from(b'a' + ((n + usize::from(i)) % 26) as u8))
                    .collect()
            })
            .collect();
        let calls = bodies.iter().map(|body| {
            let pool = pool.clone();
            let mut request = get("/");
            request.method = http::Method::POST;
            request.body = bytes::Bytes::from(body.clone());
            async move { call(&pool, request).await }
        });
        let responses = crate::workers::futures_join_all(calls).await;
        for (body, response) in bodies.iter().zip(&responses) {
            let answer = json(response);
            assert_eq!(answer["len"], body.len(), "{runtime:?}");
            let digest = hex::encode(sha2::Sha256::digest(body.as_bytes()));
            assert_eq!(answer["sha256"], digest, "{runtime:?}");
        }
    }
}

#[tokio::test]
async fn a_handler_exception_fails_the_execution_with_its_traceback_in_the_logs() {
    let env = env().await;
    let python = code(&[(
        "main.py",
        "def handle(event, context):\n    print('before')\n    return 1 / 0\n",
    )]);
    build(&env, RuntimeId::Python311, python.path())
        .await
        .unwrap();
    let pool = env.runtime.pool(spec(RuntimeId::Python311, python.path()));
    let response = call(&pool, get("/")).await;
    assert_eq!(response.status, 500);
    assert!(
        matches!(&response.outcome, Outcome::Failed(m) if m.contains("ZeroDivisionError")),
        "{:?}",
        response.outcome
    );
    assert!(
        response
            .logs
            .stderr
            .contains("Traceback (most recent call last)")
    );
    assert!(response.logs.stderr.contains("main.py\", line 3"));
    assert_eq!(response.logs.stdout, "before\n");
    // The worker survives its handler's exception.
    assert_eq!(call(&pool, get("/")).await.worker_pid, response.worker_pid);

    let node = code(&[(
        "main.js",
        "exports.handle = async () => { throw new TypeError('bad input'); };\n",
    )]);
    build(&env, RuntimeId::Node20, node.path()).await.unwrap();
    let pool = env.runtime.pool(spec(RuntimeId::Node20, node.path()));
    let response = call(&pool, get("/")).await;
    assert_eq!(response.status, 500);
    assert!(matches!(&response.outcome, Outcome::Failed(m) if m.contains("bad input")));
    assert!(response.logs.stderr.contains("TypeError: bad input"));
    assert!(response.logs.stderr.contains("main.js:1"));
}

#[tokio::test]
async fn a_handler_that_does_not_import_fails_the_build_not_the_first_request() {
    let env = env().await;
    let broken = code(&[("main.py", "import does_not_exist\n")]);
    let error = build(&env, RuntimeId::Python311, broken.path())
        .await
        .unwrap_err();
    assert!(
        error.contains("ModuleNotFoundError") && error.contains("does_not_exist"),
        "{error}"
    );

    let missing = code(&[("main.py", "def other(event, context):\n    return 1\n")]);
    let error = build(&env, RuntimeId::Python311, missing.path())
        .await
        .unwrap_err();
    assert!(error.contains("has no function 'handle'"), "{error}");

    let node = code(&[("main.js", "exports.handle = (;\n")]);
    let error = build(&env, RuntimeId::Node20, node.path())
        .await
        .unwrap_err();
    assert!(error.contains("SyntaxError"), "{error}");
}

#[tokio::test]
async fn a_failing_install_fails_the_build_with_its_log() {
    let env = env().await;
    let dir = code(&[
        ("main.py", "def handle(e, c):\n    return 1\n"),
        (
            "requirements.txt",
            "gust-no-such-package-exists-0xdeadbeef==9.9.9\n",
        ),
    ]);
    use std::os::unix::fs::MetadataExt;
    let owner = std::fs::metadata(dir.path()).unwrap().uid();
    let error = build(&env, RuntimeId::Python311, dir.path())
        .await
        .unwrap_err();
    assert!(error.contains("the install failed"), "{error}");
    assert!(
        error.contains("gust-no-such-package-exists-0xdeadbeef"),
        "pip's output is in the log: {error}"
    );
    // The folder lent to the sandbox's user for the install is given back all the same.
    let mut stack = vec![dir.path().to_path_buf()];
    while let Some(folder) = stack.pop() {
        let meta = std::fs::symlink_metadata(&folder).unwrap();
        assert_eq!(meta.uid(), owner, "{} not given back", folder.display());
        for entry in std::fs::read_dir(&folder).unwrap().flatten() {
            let meta = entry.path().symlink_metadata().unwrap();
            assert_eq!(
                meta.uid(),
                owner,
                "{} not given back",
                entry.path().display()
            );
            if meta.is_dir() {
                stack.push(entry.path());
            }
        }
    }
}

/// A custom runtime in plain sh: the protocol needs nothing but line reads and byte counts.
const SH_BOOTSTRAP: &str = r#"#!/bin/sh
exec 4>&3
printf '{"type":"hello","protocol":1}\n' >&4
read -r load <&3
printf '{"type":"loaded"}\n' >&4
while IFS= read -r header <&3; do
  id=$(printf '%s' "$header" | sed -n 's/.*"id":\([0-9]*\).*/\1/p')
  len=$(printf '%s' "$header" | sed -n 's/.*"len":\([0-9]*\).*/\1/p')
  body=$(head -c "${len:-0}" <&3)
  echo "request $id on stdout"
  out=$(printf '%s' "$body" | tr a-z A-Z)
  n=$(printf '%s' "$out" | wc -c)
  printf '{"type":"result","id":%s,"status":200,"headers":{"content-type":"text/plain"},"len":%s}\n%s' "$id" "$n" "$out" >&4
done
"#;

#[tokio::test]
async fn a_custom_runtime_from_a_tiny_executable_speaks_the_protocol() {
    let env = env().await;
    let dir = code(&[("bootstrap", SH_BOOTSTRAP)]);
    build(&env, RuntimeId::Custom, dir.path()).await.unwrap();
    let pool = env.runtime.pool(spec(RuntimeId::Custom, dir.path()));
    for word in ["shout", "louder"] {
        let mut request = get("/");
        request.method = http::Method::POST;
        request.body = word.to_string().into();
        let response = call(&pool, request).await;
        assert_eq!(response.outcome, Outcome::Completed, "{:?}", response.logs);
        assert_eq!(body(&response), word.to_uppercase());
        assert!(
            response.logs.stdout.starts_with("request "),
            "{:?}",
            response.logs
        );
    }

    let no_bootstrap = code(&[("main.py", "")]);
    let error = build(&env, RuntimeId::Custom, no_bootstrap.path())
        .await
        .unwrap_err();
    assert!(error.contains("bootstrap"), "{error}");
    let _ = Duration::ZERO;
}

#[tokio::test]
async fn python_async_handlers_and_node_modules_by_package_type_work() {
    let env = env().await;
    let python = code(&[(
        "main.py",
        "import asyncio\n\nasync def handle(event, context):\n    await asyncio.sleep(0.01)\n    return {'async': True}\n",
    )]);
    build(&env, RuntimeId::Python311, python.path())
        .await
        .unwrap();
    let pool = env.runtime.pool(spec(RuntimeId::Python311, python.path()));
    assert_eq!(
        json(&call(&pool, get("/")).await),
        serde_json::json!({"async": true})
    );

    let node = code(&[
        (
            "main.js",
            "export const handle = async () => ({ esm: true });\n",
        ),
        ("package.json", r#"{"type":"module"}"#),
    ]);
    build(&env, RuntimeId::Node20, node.path()).await.unwrap();
    let pool = env.runtime.pool(spec(RuntimeId::Node20, node.path()));
    assert_eq!(
        json(&call(&pool, get("/")).await),
        serde_json::json!({"esm": true})
    );
}
