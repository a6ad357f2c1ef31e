//! Webhooks: a POST to `/hooks/{id}`, with no token, starts an async execution of the
//! webhook's function with the request's body; managing webhooks takes a token.

use std::time::Duration;

use gust_core::{ExecutionStatus, ExecutionTrigger, Webhook};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{TestServer, cli, cli_stdout, hello_guest, spec, test_guest};

#[tokio::test]
async fn a_post_without_a_token_runs_the_function_with_its_body() {
    let server = TestServer::start();
    // Private (the default): the webhook's URL is its own credential.
    server.deploy_ready("hooked", spec(), &test_guest()).await;
    let client = server.client();
    let webhook = client
        .create_webhook("default", "hooked", Some("git pushes"))
        .await
        .unwrap();
    assert_eq!(webhook.url, format!("{}/hooks/{}", server.url, webhook.id));
    assert_eq!(webhook.description, "git pushes");

    let anonymous = reqwest::Client::new();
    let sent = anonymous
        .post(&webhook.url)
        .header("content-type", "application/json")
        .header("x-sender-signature", "sha256=abc")
        .body(r#"{"ref":"main"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::ACCEPTED);
    let answer: Value = sent.json().await.unwrap();
    let id = answer["execution_id"].as_str().unwrap().to_string();
    let run = client
        .wait_for_execution("default", "hooked", &id, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(run.status, ExecutionStatus::Completed);
    assert_eq!(run.trigger, ExecutionTrigger::Webhook);
    assert_eq!(run.request.body.body, r#"{"ref":"main"}"#);
    let echo: Value = serde_json::from_str(&run.response.unwrap().body.body).unwrap();
    assert_eq!(echo["body"], r#"{"ref":"main"}"#);
    assert_eq!(echo["headers"]["x-sender-signature"], "sha256=abc");
    assert_eq!(echo["headers"]["x-gust-webhook-id"], webhook.id.as_str());
    let listed = client
        .list_executions("default", "hooked", &[("trigger", "webhook")])
        .await
        .unwrap();
    assert_eq!(listed.total, 1);

    // Unknown ids, and other methods, start nothing.
    for url in [
        format!("{}/hooks/{}", server.url, gust_core::new_id()),
        format!("{}/hooks/not-an-id", server.url),
        format!("{}/hooks/", server.url),
    ] {
        let r = anonymous.post(&url).body("x").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{url}");
    }
    let r = anonymous.get(&webhook.url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        client
            .list_executions("default", "hooked", &[])
            .await
            .unwrap()
            .total,
        1
    );
}

#[tokio::test]
async fn webhooks_are_managed_per_namespace_and_go_with_their_function() {
    let server = TestServer::start();
    server.deploy_ready("first", spec(), &hello_guest()).await;
    server.deploy_ready("second", spec(), &test_guest()).await;
    let client = server.client();
    let webhook = client
        .create_webhook("default", "first", None)
        .await
        .unwrap();
    client
        .create_webhook("default", "second", None)
        .await
        .unwrap();
    assert_eq!(
        client.list_webhooks("default", None).await.unwrap().total,
        2
    );
    let of_first = client
        .list_webhooks("default", Some("first"))
        .await
        .unwrap();
    assert_eq!(of_first.items, std::slice::from_ref(&webhook));
    assert_eq!(
        client.get_webhook("default", &webhook.id).await.unwrap(),
        webhook
    );

    // Moved to another function: same URL, the other function runs.
    let second = client.get_function("default", "second").await.unwrap();
    let moved: Webhook = client
        .update_webhook(
            "default",
            &webhook.id,
            &json!({"function": "second", "description": "moved"}),
        )
        .await
        .unwrap();
    assert_eq!(moved.function_id, second.id);
    assert_eq!(moved.url, webhook.url);
    assert_eq!(moved.description, "moved");
    let answer: Value = reqwest::Client::new()
        .post(&webhook.url)
        .body("to second")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let run = client
        .wait_for_execution(
            "default",
            "second",
            answer["execution_id"].as_str().unwrap(),
            Duration::from_secs(20),
        )
        .await
        .unwrap();
    assert_eq!(run.request.body.body, "to second");

    // Bad input names the field and changes nothing.
    let http = server.http();
    let base = format!("{}/api/v1/namespaces/default/webhooks", server.url);
    for (body, field) in [
        (json!({}), "function"),
        (
            json!({"function": "first", "description": "x".repeat(2000)}),
            "description",
        ),
        (json!({"function": "first", "colour": "red"}), "colour"),
    ] {
        let r = http
            .post(&base)
            .bearer_auth(&server.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        let err: Value = r.json().await.unwrap();
        assert!(
            err["error"]["field"]
                .as_str()
                .unwrap_or_default()
                .contains(field)
                || err["error"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains(field),
            "{body} → {err}"
        );
    }
    let r = http
        .patch(format!("{base}/{}", webhook.id))
        .bearer_auth(&server.token)
        .json(&json!({"function": "nowhere"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let err: Value = r.json().await.unwrap();
    assert_eq!(err["error"]["field"], "function", "{err}");
    assert_eq!(
        client.get_webhook("default", &webhook.id).await.unwrap(),
        moved
    );
    // Managing them takes a token.
    let r = reqwest::Client::new().get(&base).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Deleting the function deletes its webhooks; their URLs answer 404.
    client.delete_function("default", "second").await.unwrap();
    let err = client
        .get_webhook("default", &webhook.id)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::NOT_FOUND));
    let r = reqwest::Client::new()
        .post(&webhook.url)
        .body("gone")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        client.list_webhooks("default", None).await.unwrap().total,
        0
    );
}

#[tokio::test]
async fn webhooks_through_the_cli() {
    let server = TestServer::start();
    server.deploy_ready("clihook", spec(), &test_guest()).await;
    let home = tempfile::tempdir().unwrap();
    let out = cli(
        &server,
        home.path(),
        &[
            "webhook",
            "create",
            "clihook",
            "--description",
            "from the cli",
        ],
    );
    let id = cli_stdout(&out).trim().to_string();
    let url = format!("{}/hooks/{id}", server.url);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&url),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = cli_stdout(&cli(&server, home.path(), &["webhook", "list"]));
    assert!(
        table.contains(&id) && table.contains("from the cli"),
        "{table}"
    );
    let page: Value = serde_json::from_str(&cli_stdout(&cli(
        &server,
        home.path(),
        &["webhook", "list", "clihook", "--json"],
    )))
    .unwrap();
    assert_eq!(page["total"], 1);
    let r = reqwest::Client::new()
        .post(&url)
        .body("hi")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    cli_stdout(&cli(&server, home.path(), &["webhook", "delete", &id]));
    let r = reqwest::Client::new()
        .post(&url)
        .body("hi")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
