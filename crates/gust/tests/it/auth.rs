//! Authentication and authorisation: 401 without a valid token, 403 without the right scope or
//! namespace.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::TestServer;

async fn status(request: reqwest::RequestBuilder) -> StatusCode {
    request.send().await.unwrap().status()
}

#[tokio::test]
async fn every_api_route_needs_a_valid_token() {
    let server = TestServer::start();
    let http = server.http();
    let url = |p: &str| format!("{}{p}", server.url);
    assert_eq!(
        status(http.get(url("/api/v1/namespaces"))).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(http.get(url("/api/v1/runtimes"))).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(
            http.get(url("/api/v1/namespaces"))
                .bearer_auth("gust_wrong")
        )
        .await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(
            http.get(url("/api/v1/namespaces"))
                .header("authorization", "Basic abc")
        )
        .await,
        StatusCode::UNAUTHORIZED
    );
    let body: serde_json::Value = http
        .get(url("/api/v1/namespaces"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    assert_eq!(
        status(
            http.get(url("/api/v1/namespaces"))
                .bearer_auth(&server.token)
        )
        .await,
        StatusCode::OK
    );
    // Health and the API description are public.
    assert_eq!(status(http.get(url("/healthz"))).await, StatusCode::OK);
    assert_eq!(
        status(http.get(url("/api/v1/openapi.json"))).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn scopes_and_namespaces_limit_tokens() {
    let server = TestServer::start();
    let admin = server.client();
    let reader = admin
        .create_token(&json!({"description": "ci reader", "scopes": ["read"]}))
        .await
        .unwrap();
    let secret = reader.token.clone().unwrap();
    assert!(secret.starts_with("gust_"));
    let http = server.http();
    let url = |p: &str| format!("{}{p}", server.url);

    assert_eq!(
        status(
            http.get(url("/api/v1/namespaces/default/functions"))
                .bearer_auth(&secret)
        )
        .await,
        StatusCode::OK
    );
    let create = http
        .post(url("/api/v1/namespaces/default/functions"))
        .bearer_auth(&secret)
        .json(&json!({"name": "x", "runtime": "wasm"}));
    assert_eq!(status(create).await, StatusCode::FORBIDDEN);
    assert_eq!(
        status(http.get(url("/api/v1/tokens")).bearer_auth(&secret)).await,
        StatusCode::FORBIDDEN
    );
    // The secret is never listed again.
    let listed: serde_json::Value = http
        .get(url("/api/v1/tokens"))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!listed.to_string().contains(&secret));

    // A token bound to one namespace cannot touch another.
    admin
        .execute(
            admin
                .request(reqwest::Method::POST, "/api/v1/namespaces")
                .json(&json!({"name": "team-a"})),
        )
        .await
        .unwrap();
    let scoped = admin
        .create_token(&json!({"scopes": ["read", "write"], "namespace": "team-a"}))
        .await
        .unwrap()
        .token
        .unwrap();
    let in_ns = http
        .post(url("/api/v1/namespaces/team-a/functions"))
        .bearer_auth(&scoped)
        .json(&json!({"name": "x", "runtime": "wasm"}));
    assert_eq!(status(in_ns).await, StatusCode::CREATED);
    assert_eq!(
        status(
            http.get(url("/api/v1/namespaces/default/functions"))
                .bearer_auth(&scoped)
        )
        .await,
        StatusCode::FORBIDDEN
    );
    let visible: serde_json::Value = http
        .get(url("/api/v1/namespaces"))
        .bearer_auth(&scoped)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(visible["total"], 1);

    // Deleting a token revokes it at once.
    let id = reader.id.clone();
    admin
        .execute(admin.request(reqwest::Method::DELETE, &format!("/api/v1/tokens/{id}")))
        .await
        .unwrap();
    assert_eq!(
        status(
            http.get(url("/api/v1/namespaces/default/functions"))
                .bearer_auth(&secret)
        )
        .await,
        StatusCode::UNAUTHORIZED
    );

    // Expired tokens are refused.
    let past = admin
        .create_token(&json!({"expires_at": "2000-01-01T00:00:00Z"}))
        .await
        .unwrap_err();
    assert_eq!(past.status(), Some(StatusCode::BAD_REQUEST));
}

#[tokio::test]
async fn invoking_a_private_function_needs_the_invoke_scope() {
    let server = TestServer::start();
    server
        .deploy_ready(
            "private",
            crate::harness::spec(),
            &crate::harness::hello_guest(),
        )
        .await;
    let admin = server.client();
    let reader = admin
        .create_token(&json!({"scopes": ["read"]}))
        .await
        .unwrap()
        .token
        .unwrap();
    let invoker = admin
        .create_token(&json!({"scopes": ["invoke"]}))
        .await
        .unwrap()
        .token
        .unwrap();
    let http = server.http();
    let url = format!("{}/fn/default/private/", server.url);
    assert_eq!(status(http.get(&url)).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        status(http.get(&url).bearer_auth("gust_nope")).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(http.get(&url).bearer_auth(&reader)).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(http.get(&url).bearer_auth(&invoker)).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn tokens_can_have_uuid_shaped_secrets_that_work_like_any_other() {
    let server = TestServer::start();
    let http = server.http();
    let created: serde_json::Value = http
        .post(format!("{}/api/v1/tokens", server.url))
        .bearer_auth(&server.token)
        .json(
            &json!({"description": "for a UUID-only client", "scopes": ["read"], "format": "uuid"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = created["token"].as_str().unwrap();
    assert_eq!(secret.len(), 36, "{created}");
    assert_eq!(
        secret.split('-').map(str::len).collect::<Vec<_>>(),
        [8, 4, 4, 4, 12],
        "{secret}"
    );
    let functions = format!("{}/api/v1/namespaces/default/functions", server.url);
    assert_eq!(
        status(http.get(&functions).bearer_auth(secret)).await,
        StatusCode::OK
    );
    // Its scopes hold as for any token; the secret is never shown again.
    assert_eq!(
        status(
            http.post(&functions)
                .bearer_auth(secret)
                .json(&json!({"name": "x", "runtime": "wasm"}))
        )
        .await,
        StatusCode::FORBIDDEN
    );
    let listed = http
        .get(format!("{}/api/v1/tokens", server.url))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!listed.contains(secret));

    let refused = http
        .post(format!("{}/api/v1/tokens", server.url))
        .bearer_auth(&server.token)
        .json(&json!({"format": "base64"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(refused.text().await.unwrap().contains("format"));
}

#[tokio::test]
async fn a_token_limited_to_one_function_reaches_only_that_function() {
    let server = TestServer::start();
    for name in ["mine", "other"] {
        server
            .deploy_ready(name, crate::harness::spec(), &crate::harness::hello_guest())
            .await;
    }
    let admin = server.client();
    let created = admin
        .create_token(&json!({
            "scopes": ["read", "write", "invoke"], "namespace": "default", "function": "mine"
        }))
        .await
        .unwrap();
    assert!(created.function_id.is_some());
    let secret = created.token.unwrap();
    let http = server.http();
    let url = |p: &str| format!("{}{p}", server.url);
    assert_eq!(
        status(http.get(url("/fn/default/mine/")).bearer_auth(&secret)).await,
        StatusCode::OK
    );
    assert_eq!(
        status(http.get(url("/fn/default/other/")).bearer_auth(&secret)).await,
        StatusCode::FORBIDDEN
    );
    // Scaleway's clients send the token as `X-Auth-Token`.
    assert_eq!(
        status(
            http.get(url("/fn/default/mine/"))
                .header("x-auth-token", &secret)
        )
        .await,
        StatusCode::OK
    );
    assert_eq!(
        status(
            http.get(url("/fn/default/other/"))
                .header("x-auth-token", &secret)
        )
        .await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(
            http.get(url("/api/v1/namespaces/default/functions/mine"))
                .bearer_auth(&secret)
        )
        .await,
        StatusCode::OK
    );
    for refused in [
        http.get(url("/api/v1/namespaces/default/functions/other")),
        http.get(url("/api/v1/namespaces/default/functions")),
        http.post(url("/api/v1/namespaces/default/functions"))
            .json(&json!({"name": "third", "runtime": "wasm"})),
        http.post(url("/api/v1/namespaces/default/functions/other/executions"))
            .json(&json!({})),
    ] {
        let response = refused.bearer_auth(&secret).send().await.unwrap();
        let code = response.status();
        let text = response.text().await.unwrap();
        assert!(
            code == StatusCode::FORBIDDEN || code == StatusCode::NOT_FOUND,
            "{code} {text}"
        );
        if code == StatusCode::FORBIDDEN {
            assert!(text.contains("function"), "{text}");
        }
    }

    // The function must exist, in the namespace the token names.
    for (spec, field) in [
        (
            json!({"namespace": "default", "function": "nope"}),
            "function",
        ),
        (json!({"function": "mine"}), "function"),
    ] {
        let refused = http
            .post(url("/api/v1/tokens"))
            .bearer_auth(&server.token)
            .json(&spec)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        assert!(refused.text().await.unwrap().contains(field));
    }
}
