//! End to end through the CLI: `gust deploy`, `invoke`, `fn`, `exec`, `login`, and errors
//! that come with hints.

use std::process::Command;

use crate::harness::{TestServer, cli as gust, cli_stdout, gust_bin, hello_guest};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn deploy_invoke_and_inspect_through_the_cli() {
    let server = TestServer::start();
    let home = tempfile::tempdir().unwrap();
    let wasm = home.path().join("hello.wasm");
    std::fs::write(&wasm, hello_guest()).unwrap();

    let out = gust(&server, home.path(), &["deploy", wasm.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("created function hello"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        text(&out.stdout).trim(),
        format!("{}/fn/default/hello", server.url)
    );

    let out = gust(&server, home.path(), &["invoke", "hello", "--path", "/cli"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "hello from gust\nmethod: GET\npath: /cli\n"
    );

    let out = gust(&server, home.path(), &["invoke", "hello", "--data", "x"]);
    assert_eq!(
        text(&out.stdout),
        "hello from gust\nmethod: POST\npath: /\n"
    );

    let out = gust(&server, home.path(), &["fn", "list", "--json"]);
    let page: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["name"], "hello");

    let out = gust(&server, home.path(), &["fn", "list"]);
    let table = text(&out.stdout);
    assert!(
        table.contains("NAME") && table.contains("hello") && table.contains("ready"),
        "{table}"
    );

    let out = gust(&server, home.path(), &["exec", "list", "hello", "--json"]);
    let page: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(page["total"], 2);
    let id = page["items"][0]["id"].as_str().unwrap().to_string();
    let out = gust(&server, home.path(), &["exec", "get", "hello", &id]);
    assert!(
        text(&out.stdout).contains("completed"),
        "{}",
        text(&out.stdout)
    );

    let out = gust(
        &server,
        home.path(),
        &[
            "fn", "update", "hello", "--memory", "64", "--env", "A=1", "--json",
        ],
    );
    let function: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(function["memory_mb"], 64);
    assert_eq!(function["env"]["A"], "1");

    // A folder is packed as .tar.gz; its one .wasm is the component.
    let folder = home.path().join("site");
    std::fs::create_dir_all(folder.join("bin")).unwrap();
    std::fs::write(folder.join("bin/app.wasm"), hello_guest()).unwrap();
    std::fs::write(folder.join("notes.txt"), "not code").unwrap();
    let out = gust(
        &server,
        home.path(),
        &["deploy", folder.to_str().unwrap(), "--public"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let url = format!("{}/fn/default/site/folder", server.url);
    let body = server
        .http()
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "hello from gust\nmethod: GET\npath: /folder\n");

    let out = gust(
        &server,
        home.path(),
        &["fn", "create", "second", "--public", "--timeout", "5"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("public"));
    let out = gust(&server, home.path(), &["fn", "delete", "second"]);
    assert!(out.status.success());
}

#[tokio::test]
async fn a_python_folder_deploys_and_answers_through_the_cli() {
    let server = TestServer::start();
    let home = tempfile::tempdir().unwrap();
    let folder = crate::harness::workspace_root().join("tests/functions/python-hello");
    let folder = folder.to_str().unwrap();
    cli_stdout(&gust(
        &server,
        home.path(),
        &[
            "deploy",
            folder,
            "--name",
            "hello-py",
            "--runtime",
            "python3.11",
        ],
    ));
    let answer = cli_stdout(&gust(&server, home.path(), &["invoke", "hello-py"]));
    assert_eq!(answer, "hello from python, six 1.17.0");
    let doctor = cli_stdout(&gust(&server, home.path(), &["doctor"]));
    assert!(
        doctor.contains("seccomp filter") && doctor.contains("python3.11"),
        "{doctor}"
    );
}

#[tokio::test]
async fn cli_errors_carry_hints() {
    let server = TestServer::start();
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(gust_bin())
        .args(["fn", "list"])
        .env("GUST_URL", &server.url)
        .env_remove("GUST_TOKEN")
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("error: missing `Authorization: Bearer <token>` header"),
        "{stderr}"
    );
    assert!(
        stderr.contains("\nhint: pass a token with --token or GUST_TOKEN"),
        "{stderr}"
    );

    let out = gust(&server, home.path(), &["fn", "create", "Bad_Name"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("hint: fix the value of `name`"),
        "{}",
        text(&out.stderr)
    );

    let out = Command::new(gust_bin())
        .args(["fn", "list", "--url", "http://127.0.0.1:9"])
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert!(
        text(&out.stderr).contains("hint: is `gust serve` running at http://127.0.0.1:9?"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn login_saves_url_and_token() {
    let server = TestServer::start();
    let home = tempfile::tempdir().unwrap();
    let token_file = server.data_dir.join("admin-token");
    let out = Command::new(gust_bin())
        .args([
            "login",
            "--url",
            &server.url,
            "--token-file",
            token_file.to_str().unwrap(),
        ])
        .env("HOME", home.path())
        .env_remove("GUST_TOKEN")
        .env_remove("GUST_URL")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let saved = home.path().join(".config/gust/config.json");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&saved).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    // Later commands need neither flag nor variable.
    let out = Command::new(gust_bin())
        .args(["fn", "list", "--json"])
        .env("HOME", home.path())
        .env_remove("GUST_TOKEN")
        .env_remove("GUST_URL")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[tokio::test]
async fn tokens_are_made_listed_and_revoked_from_the_cli() {
    let server = TestServer::start();
    let home = tempfile::tempdir().unwrap();
    let made = gust(
        &server,
        home.path(),
        &[
            "token",
            "create",
            "--format",
            "uuid",
            "--scope",
            "read",
            "--description",
            "ci",
        ],
    );
    let secret = cli_stdout(&made).trim().to_string();
    assert_eq!(secret.len(), 36, "{secret}");
    let stderr = text(&made.stderr);
    let id = stderr
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("{stderr}"))
        .to_string();
    let client = gust_client::Client::new(&server.url, Some(secret.clone()));
    assert!(client.list_functions("default", &[]).await.is_ok());

    let listed = cli_stdout(&gust(&server, home.path(), &["token", "list"]));
    assert!(listed.contains(&id) && listed.contains("read"), "{listed}");
    assert!(!listed.contains(&secret));

    cli_stdout(&gust(&server, home.path(), &["token", "delete", &id]));
    assert!(client.list_functions("default", &[]).await.is_err());

    // Limited to one function: the namespace's list is out of its reach.
    server
        .deploy_ready(
            "only",
            crate::harness::spec(),
            &crate::harness::hello_guest(),
        )
        .await;
    let limited = cli_stdout(&gust(
        &server,
        home.path(),
        &[
            "token",
            "create",
            "--only-namespace",
            "default",
            "--only-function",
            "only",
        ],
    ))
    .trim()
    .to_string();
    let client = gust_client::Client::new(&server.url, Some(limited));
    assert!(client.get_function("default", "only").await.is_ok());
    assert!(client.list_functions("default", &[]).await.is_err());

    let bad = gust(
        &server,
        home.path(),
        &["token", "create", "--format", "hex"],
    );
    assert!(!bad.status.success());
    assert!(
        text(&bad.stderr).contains("format"),
        "{}",
        text(&bad.stderr)
    );
}

#[tokio::test]
async fn functions_are_listed_by_runtime_and_status() {
    let server = TestServer::start();
    let home = tempfile::tempdir().unwrap();
    server
        .deploy_ready("hello", crate::harness::spec(), &hello_guest())
        .await;
    let client = server.client();
    for (name, runtime) in [("idle-wasm", "wasm"), ("py", "python3.11")] {
        client
            .create_function(
                "default",
                &gust_core::FunctionSpec {
                    name: Some(name.into()),
                    runtime: Some(runtime.into()),
                    ..gust_core::FunctionSpec::default()
                },
            )
            .await
            .unwrap();
    }
    let names = async |query: &[(&str, &str)]| {
        let page = client.list_functions("default", query).await.unwrap();
        let mut names: Vec<String> = page.items.into_iter().map(|f| f.name).collect();
        names.sort();
        (names, page.total)
    };
    assert_eq!(
        names(&[("runtime", "wasm")]).await,
        (vec!["hello".into(), "idle-wasm".into()], 2)
    );
    assert_eq!(
        names(&[("status", "ready")]).await,
        (vec!["hello".into()], 1)
    );
    assert_eq!(
        names(&[("runtime", "wasm"), ("status", "created")]).await,
        (vec!["idle-wasm".into()], 1)
    );
    assert_eq!(
        names(&[("runtime", "python3.11"), ("search", "py")]).await,
        (vec!["py".into()], 1)
    );
    // A value that is no runtime or state is a 400 naming the parameter.
    for (param, value) in [("runtime", "cobol"), ("status", "sleeping")] {
        let answer = server
            .http()
            .get(format!(
                "{}/api/v1/namespaces/default/functions",
                server.url
            ))
            .query(&[(param, value)])
            .bearer_auth(&server.token)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), reqwest::StatusCode::BAD_REQUEST);
        let body: serde_json::Value = answer.json().await.unwrap();
        assert_eq!(body["error"]["field"], param, "{body}");
    }

    // The CLI passes its flags through, and shows the server's refusal.
    let out = gust(
        &server,
        home.path(),
        &[
            "fn",
            "list",
            "--runtime",
            "wasm",
            "--status",
            "ready",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let page: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["name"], "hello");
    let out = gust(&server, home.path(), &["fn", "list", "--status", "asleep"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("status"),
        "{}",
        text(&out.stderr)
    );
}
