//! The web console through a running server and a plain HTTP client that keeps its own
//! cookies, as a browser would: sign-in and the session cookie's flags, CSRF refusals, what a
//! read-only token sees and may do, sign-out, each page with real data, validation errors
//! beside their fields, and secrets never rendered.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use serde_json::json;

use crate::harness::{TestServer, hello_guest, spec, test_guest};

/// A browser, as far as the console can tell: cookies kept per name, redirects not followed
/// (the tests look at them).
pub struct Browser {
    http: reqwest::Client,
    base: String,
    cookies: BTreeMap<String, String>,
    /// Every `Set-Cookie` value the server sent, for the flags.
    pub set_cookies: Vec<String>,
}

pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The CSRF token the page's forms carry.
    pub fn csrf(&self) -> String {
        let marker = r#"name="_csrf" value=""#;
        let at = self.body.find(marker).expect("a form with a CSRF token") + marker.len();
        self.body[at..].split('"').next().unwrap().to_string()
    }
}

impl Browser {
    pub fn new(server: &TestServer) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: server.url.clone(),
            cookies: BTreeMap::new(),
            set_cookies: Vec::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let request = if self.cookies.is_empty() {
            request
        } else {
            request.header("cookie", self.cookie_header())
        };
        let response = request.send().await.unwrap();
        for value in response.headers().get_all(SET_COOKIE) {
            let text = value.to_str().unwrap().to_string();
            let pair = text.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || text.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
            self.set_cookies.push(text);
        }
        Page {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let request = self.http.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let request = self.http.post(format!("{}{path}", self.base)).form(form);
        self.send(request).await
    }

    /// Send a request built with [`Self::request`] (headers or a body a form cannot carry).
    pub async fn post_raw(&mut self, request: reqwest::RequestBuilder) -> Page {
        self.send(request).await
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base))
    }

    /// Sign in with `token`; panics unless the console accepts it.
    pub async fn sign_in(&mut self, token: &str) -> Page {
        let form = self.get("/console/signin").await;
        assert_eq!(form.status, StatusCode::OK);
        let csrf = form.csrf();
        let signed = self
            .post(
                "/console/signin",
                &[
                    ("_csrf", &csrf),
                    ("token", token),
                    ("next", "/console/namespaces"),
                ],
            )
            .await;
        assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
        signed
    }

    /// A browser signed in with the server's admin token, and its session's CSRF token.
    pub async fn signed_in(server: &TestServer) -> (Self, String) {
        let mut browser = Self::new(server);
        browser.sign_in(&server.token).await;
        let csrf = browser.csrf().await;
        (browser, csrf)
    }

    /// A signed-in page's CSRF token.
    pub async fn csrf(&mut self) -> String {
        self.get("/console/namespaces").await.csrf()
    }

    pub fn session_cookie(&self) -> Option<String> {
        self.cookies.get("gust_console").cloned()
    }
}

/// A GET of the native API as the admin, as JSON.
async fn api(server: &TestServer, path: &str) -> serde_json::Value {
    server
        .http()
        .get(format!("{}/api/v1{path}", server.url))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn token_with(server: &TestServer, scopes: &[&str]) -> String {
    let token = server
        .client()
        .create_token(&json!({ "scopes": scopes, "description": "console test" }))
        .await
        .unwrap();
    token.token.unwrap()
}

#[tokio::test]
async fn signing_in_gives_a_strict_http_only_cookie_with_an_expiry() {
    let server = TestServer::start();
    let mut browser = Browser::new(&server);
    let before = browser.get("/console/namespaces").await;
    assert_eq!(before.status, StatusCode::SEE_OTHER);
    assert!(
        before.location() == "/console/signin?next=/console/namespaces",
        "{}",
        before.location()
    );

    let signed = browser.sign_in(&server.token).await;
    assert_eq!(signed.location(), "/console/namespaces");
    let cookie = browser
        .set_cookies
        .iter()
        .find(|c| c.starts_with("gust_console="))
        .expect("a session cookie")
        .clone();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age="] {
        assert!(cookie.contains(flag), "{flag} missing: {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    let max_age: i64 = cookie
        .split("Max-Age=")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(max_age > 0 && max_age <= 8 * 3600, "{max_age}");
    assert!(
        !cookie.contains(&server.token),
        "the token itself never goes in a cookie"
    );

    let page = browser.get("/console/namespaces").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(">default</a>"), "{}", page.body);
    assert!(
        page.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    assert_eq!(page.headers["cache-control"], "no-store");

    // Over HTTPS (here as a proxy in front says so), the cookie is `Secure` too.
    let mut behind_tls = Browser::new(&server);
    let form = behind_tls.get("/console/signin").await;
    let csrf = form.csrf();
    let request = behind_tls
        .request(reqwest::Method::POST, "/console/signin")
        .header("x-forwarded-proto", "https")
        .form(&[("_csrf", csrf.as_str()), ("token", server.token.as_str())]);
    let signed = behind_tls.post_raw(request).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER);
    let secure = behind_tls
        .set_cookies
        .iter()
        .find(|c| c.starts_with("gust_console=") && !c.contains("Max-Age=0"))
        .unwrap();
    assert!(secure.contains("; Secure"), "{secure}");

    // A cookie altered by one character is not a session.
    let mut forged = Browser::new(&server);
    let value = browser.session_cookie().unwrap();
    let last = if value.ends_with('0') { "1" } else { "0" };
    forged.cookies.insert(
        "gust_console".into(),
        format!("{}{last}", &value[..value.len() - 1]),
    );
    assert_eq!(
        forged.get("/console/namespaces").await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn a_wrong_token_is_refused_beside_the_field_and_counts_in_the_api_throttle() {
    let server = TestServer::start_with_env(&[], &[("GUST_AUTH_FAILURE_BURST", "3")]);
    let mut browser = Browser::new(&server);
    for _ in 0..3 {
        let form = browser.get("/console/signin").await;
        let refused = browser
            .post(
                "/console/signin",
                &[("_csrf", &form.csrf()), ("token", "gust_wrong")],
            )
            .await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
        assert!(refused.body.contains(r#"id="e-token""#), "{}", refused.body);
        assert!(refused.body.contains("not valid"), "{}", refused.body);
        assert!(browser.session_cookie().is_none());
    }
    let form = browser.get("/console/signin").await;
    let throttled = browser
        .post(
            "/console/signin",
            &[("_csrf", &form.csrf()), ("token", &server.token)],
        )
        .await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(throttled.headers.contains_key("retry-after"));
    // The API answers that address the same way: one throttle.
    let api = server
        .http()
        .get(format!("{}/api/v1/namespaces", server.url))
        .bearer_auth("gust_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn posts_without_the_sessions_csrf_token_are_refused() {
    let server = TestServer::start();
    let (mut browser, csrf) = Browser::signed_in(&server).await;

    let none = browser
        .post("/console/namespaces", &[("name", "no-token")])
        .await;
    assert_eq!(none.status, StatusCode::FORBIDDEN);
    let wrong = browser
        .post(
            "/console/namespaces",
            &[("_csrf", "00ff"), ("name", "wrong-token")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let header = browser
        .request(reqwest::Method::POST, "/console/namespaces")
        .header("x-csrf-token", "00ff")
        .form(&[("name", "wrong-header")]);
    assert_eq!(browser.post_raw(header).await.status, StatusCode::FORBIDDEN);
    // Another session's token does not pass for this one.
    let mut other = Browser::new(&server);
    other.sign_in(&server.token).await;
    let others = other.csrf().await;
    assert_ne!(others, csrf);
    let crossed = browser
        .post(
            "/console/namespaces",
            &[("_csrf", &others), ("name", "crossed")],
        )
        .await;
    assert_eq!(crossed.status, StatusCode::FORBIDDEN);
    // The sign-in form has its own token, bound to its cookie.
    let mut fresh = Browser::new(&server);
    let signin = fresh
        .post("/console/signin", &[("token", &server.token)])
        .await;
    assert_eq!(signin.status, StatusCode::FORBIDDEN);
    assert!(fresh.session_cookie().is_none());

    let namespaces = api(&server, "/namespaces").await;
    assert_eq!(
        namespaces["total"], 1,
        "no refused form created anything: {namespaces}"
    );
    let made = browser
        .post("/console/namespaces", &[("_csrf", &csrf), ("name", "made")])
        .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
    assert!(made.location().starts_with("/console/ns/made/settings"));
}

#[tokio::test]
async fn a_read_only_token_sees_no_edit_controls_and_a_forged_post_is_refused() {
    let server = TestServer::start();
    server.deploy_ready("hello", spec(), &hello_guest()).await;
    let reader = token_with(&server, &["read"]).await;
    let mut browser = Browser::new(&server);
    browser.sign_in(&reader).await;
    let csrf = browser.csrf().await;

    let functions = browser.get("/console/ns/default/functions").await;
    assert_eq!(functions.status, StatusCode::OK);
    assert!(functions.body.contains(">hello</a>"));
    assert!(!functions.body.contains("New function"));
    let settings = browser.get("/console/ns/default/fn/hello/settings").await;
    assert_eq!(settings.status, StatusCode::OK);
    assert!(
        !settings.body.contains("Save settings"),
        "{}",
        settings.body
    );
    assert!(!settings.body.contains("Set secret"));
    assert!(!settings.body.contains("Delete function"));
    let deployments = browser
        .get("/console/ns/default/fn/hello/deployments")
        .await;
    assert!(!deployments.body.contains("Upload and build"));
    assert!(!deployments.body.contains(">Activate"));
    let namespaces = browser.get("/console/namespaces").await;
    assert!(!namespaces.body.contains("Create namespace"));
    assert!(!namespaces.body.contains(">Tokens</a>"));
    assert_eq!(
        browser.get("/console/tokens").await.status,
        StatusCode::FORBIDDEN
    );

    // A well-formed POST (right CSRF token) the page never offered: the engine refuses it.
    let forged = browser
        .post(
            "/console/ns/default/fn/hello/settings",
            &[
                ("_csrf", &csrf),
                ("timeout_s", "5"),
                ("contract", "gust"),
                ("privacy", "public"),
                ("http_option", "enabled"),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);
    let delete = browser
        .post("/console/ns/default/fn/hello/delete", &[("_csrf", &csrf)])
        .await;
    assert_eq!(delete.status, StatusCode::FORBIDDEN);
    let f = server
        .client()
        .get_function("default", "hello")
        .await
        .unwrap();
    assert_eq!(f.timeout_s, 30, "unchanged");
}

#[tokio::test]
async fn signing_out_ends_the_session_on_the_server() {
    let server = TestServer::start();
    let (mut browser, csrf) = Browser::signed_in(&server).await;
    let cookie = browser.session_cookie().unwrap();

    let out = browser.post("/console/signout", &[("_csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location(), "/console/signin");
    assert!(browser.session_cookie().is_none(), "the cookie is cleared");

    // The old cookie, replayed, no longer opens anything: the session is gone server-side.
    let mut replay = Browser::new(&server);
    replay.cookies.insert("gust_console".into(), cookie);
    let page = replay.get("/console/namespaces").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(page.location().starts_with("/console/signin"));
    let post = replay
        .post(
            "/console/namespaces",
            &[("_csrf", &csrf), ("name", "after")],
        )
        .await;
    assert_eq!(post.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn revoking_a_token_ends_the_sessions_signed_in_with_it() {
    let server = TestServer::start();
    let writer = token_with(&server, &["read", "write"]).await;
    let mut browser = Browser::new(&server);
    browser.sign_in(&writer).await;
    assert_eq!(
        browser.get("/console/namespaces").await.status,
        StatusCode::OK
    );
    let id = server
        .client()
        .list_tokens()
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|t| t.description == "console test")
        .unwrap()
        .id;
    server.client().delete_token(&id).await.unwrap();
    assert_eq!(
        browser.get("/console/namespaces").await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn validation_errors_are_shown_beside_their_fields() {
    let server = TestServer::start();
    let (mut browser, csrf) = Browser::signed_in(&server).await;
    let form = |name: &'static str, memory: &'static str, env: &'static str| {
        vec![
            ("name", name),
            ("runtime", "wasm"),
            ("contract", "gust"),
            ("privacy", "private"),
            ("http_option", "enabled"),
            ("memory_mb", memory),
            ("env", env),
        ]
    };
    let post = |fields: Vec<(&'static str, &'static str)>| {
        let mut fields: Vec<(&str, &str)> = fields;
        fields.push(("_csrf", Box::leak(csrf.clone().into_boxed_str())));
        fields
    };
    // The engine's bound, beside memory.
    let page = browser
        .post(
            "/console/ns/default/functions",
            &post(form("ok-name", "1", "")),
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains(r#"id="e-memory_mb""#), "{}", page.body);
    assert!(
        page.body
            .contains(r#"id="f-memory_mb" name="memory_mb" type="number" value="1""#),
        "what was typed is kept"
    );
    // The form's own check, beside memory.
    let page = browser
        .post(
            "/console/ns/default/functions",
            &post(form("ok-name", "lots", "")),
        )
        .await;
    assert!(page.body.contains(r#"id="e-memory_mb""#));
    assert!(page.body.contains("whole number"));
    // A bad name, beside the name.
    let page = browser
        .post(
            "/console/ns/default/functions",
            &post(form("Bad Name", "128", "")),
        )
        .await;
    assert!(page.body.contains(r#"id="e-name""#), "{}", page.body);
    // A bad env key, beside env.
    let page = browser
        .post(
            "/console/ns/default/functions",
            &post(form("ok-name", "128", "1BAD=x")),
        )
        .await;
    assert!(page.body.contains(r#"id="e-env""#), "{}", page.body);
    assert!(
        server
            .client()
            .get_function("default", "ok-name")
            .await
            .is_err()
    );
    // And right, it is made.
    let page = browser
        .post(
            "/console/ns/default/functions",
            &post(form("ok-name", "256", "A=1")),
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let f = server
        .client()
        .get_function("default", "ok-name")
        .await
        .unwrap();
    assert_eq!(f.memory_mb, 256);
    assert_eq!(f.env["A"], "1");
}

#[tokio::test]
async fn secrets_are_set_but_never_rendered() {
    let server = TestServer::start();
    server.deploy_ready("hello", spec(), &hello_guest()).await;
    let (mut browser, csrf) = Browser::signed_in(&server).await;
    let value = "s3cr3t-value-never-shown";
    let set = browser
        .post(
            "/console/ns/default/secrets",
            &[("_csrf", &csrf), ("name", "NS_KEY"), ("value", value)],
        )
        .await;
    assert_eq!(set.status, StatusCode::SEE_OTHER, "{}", set.body);
    let set = browser
        .post(
            "/console/ns/default/fn/hello/secrets",
            &[("_csrf", &csrf), ("name", "FN_KEY"), ("value", value)],
        )
        .await;
    assert_eq!(set.status, StatusCode::SEE_OTHER, "{}", set.body);
    let ns = api(&server, "/namespaces/default").await;
    assert_eq!(ns["secrets"]["NS_KEY"], "********");
    for path in [
        "/console/ns/default/settings",
        "/console/ns/default/fn/hello/settings",
        "/console/ns/default/fn/hello",
        "/console/ns/default/functions",
        "/console/namespaces",
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(!page.body.contains(value), "{path} shows a secret");
    }
    let page = browser.get("/console/ns/default/settings").await;
    assert!(page.body.contains("NS_KEY"));
    let page = browser.get("/console/ns/default/fn/hello/settings").await;
    assert!(page.body.contains("FN_KEY"));
    // Saving the other settings keeps the secrets.
    let saved = browser
        .post(
            "/console/ns/default/settings",
            &[("_csrf", &csrf), ("description", "d"), ("env", "X=1")],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    let ns = api(&server, "/namespaces/default").await;
    assert_eq!(ns["secrets"].as_object().unwrap().len(), 1);
    assert_eq!(ns["env"]["X"], "1");
}

#[tokio::test]
async fn a_new_tokens_secret_is_shown_once() {
    let server = TestServer::start();
    let (mut browser, csrf) = Browser::signed_in(&server).await;
    let made = browser
        .post(
            "/console/tokens",
            &[
                ("_csrf", &csrf),
                ("description", "ci deploys"),
                ("scopes", "read"),
                ("scopes", "invoke"),
            ],
        )
        .await;
    assert_eq!(made.status, StatusCode::OK);
    let marker = r#"<code id="new-secret">"#;
    let at = made.body.find(marker).expect("the secret is shown") + marker.len();
    let secret = made.body[at..].split('<').next().unwrap().to_string();
    assert!(secret.starts_with("gust_"));
    assert!(made.body.contains(r#"data-copy="new-secret""#));
    let listed = browser.get("/console/tokens").await;
    assert!(listed.body.contains("ci deploys"));
    assert!(!listed.body.contains(&secret), "shown once only");
    let caller = server
        .http()
        .get(format!("{}/api/v1/namespaces", server.url))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(caller.status(), StatusCode::OK);
    let token = server
        .client()
        .list_tokens()
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|t| t.description == "ci deploys")
        .unwrap();
    assert_eq!(token.scopes.len(), 2);
    let revoked = browser
        .post(
            &format!("/console/tokens/{}/revoke", token.id),
            &[("_csrf", &csrf)],
        )
        .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    let caller = server
        .http()
        .get(format!("{}/api/v1/namespaces", server.url))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(caller.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn every_page_renders_with_real_data() {
    let server = TestServer::start();
    let deployment = server.deploy_ready("hello", spec(), &hello_guest()).await;
    let invoked = server
        .http()
        .get(format!("{}/fn/default/hello/", server.url))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(invoked.status(), StatusCode::OK);
    let execution = server.first_execution("hello").await;
    let mut browser = Browser::new(&server);
    browser.sign_in(&server.token).await;
    for (path, expect) in [
        ("/console/namespaces", "default".to_string()),
        ("/console/ns/default/settings", "Environment".into()),
        ("/console/ns/default/functions", ">hello</a>".into()),
        (
            "/console/ns/default/functions/new",
            "Create function".into(),
        ),
        ("/console/ns/default/fn/hello", execution.id.clone()),
        (
            "/console/ns/default/fn/hello/settings",
            "Save settings".into(),
        ),
        (
            "/console/ns/default/fn/hello/deployments",
            deployment.id.clone(),
        ),
        (
            &format!("/console/ns/default/fn/hello/deployments/{}", deployment.id),
            "build succeeded".into(),
        ),
        (
            "/console/ns/default/fn/hello/executions",
            execution.id.clone(),
        ),
        (
            "/console/ns/default/fn/hello/executions?status=completed&trigger=http&window=1h",
            execution.id.clone(),
        ),
        (
            &format!("/console/ns/default/fn/hello/executions/{}", execution.id),
            "Where the time went".into(),
        ),
        ("/console/tokens", "New token".into()),
        (
            "/console/ns/default/fn/hello/metrics",
            "Duration percentiles".into(),
        ),
        (
            "/console/ns/default/fn/hello/metrics?window=week",
            "<svg class=\"chart\"".into(),
        ),
        ("/console/ns/default/fn/hello/test", "Send request".into()),
        ("/console/ns/default/fn/hello/tail", execution.id.clone()),
        (
            "/console/ns/default/fn/hello/triggers",
            "New cron trigger".into(),
        ),
        (
            "/console/ns/default/fn/hello/dead-letters",
            "0 dead letters".into(),
        ),
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        assert!(page.body.contains(&expect), "{path} lacks {expect}");
        assert!(page.body.contains("<main id=\"main\">"), "{path}");
    }
    // The functions list shows the last day's requests, from the per-minute aggregates.
    let list = browser.get("/console/ns/default/functions").await;
    assert!(list.body.contains("Requests 24 h"), "{}", list.body);
    let filtered = browser
        .get("/console/ns/default/fn/hello/executions?status=failed")
        .await;
    assert!(!filtered.body.contains(&execution.id), "filtered out");
    let waterfall = browser
        .get(&format!(
            "/console/ns/default/fn/hello/executions/{}",
            execution.id
        ))
        .await;
    assert!(waterfall.body.contains("<svg class=\"waterfall\""));
    assert!(waterfall.body.contains("Instance creation") || waterfall.body.contains("Cold start"));
    // The record knows when the head was set: the handler and the body are bars of their own.
    assert!(
        waterfall.body.contains("Response body"),
        "{}",
        waterfall.body
    );

    // The assets are embedded and cacheable under their hashed URL.
    let css = waterfall
        .body
        .split("href=\"")
        .find_map(|s| s.split('"').next().filter(|u| u.contains("console.css")))
        .unwrap()
        .to_string();
    let asset = browser.get(&css).await;
    assert_eq!(asset.status, StatusCode::OK);
    assert!(
        asset.headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert!(asset.body.contains("prefers-color-scheme: dark"));
}

#[tokio::test]
async fn code_uploaded_through_the_console_builds_and_can_be_rolled_back() {
    let server = TestServer::start();
    let first = server.deploy_ready("hello", spec(), &hello_guest()).await;
    let (mut browser, csrf) = Browser::signed_in(&server).await;
    // As the page's script sends it: the file as the body, the token in a header.
    let upload = browser
        .request(
            reqwest::Method::POST,
            "/console/ns/default/fn/hello/deployments?activate=true",
        )
        .header("x-csrf-token", &csrf)
        .header("accept", "application/json")
        .header("content-type", "application/wasm")
        .body(hello_guest());
    let page = browser.post_raw(upload).await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    let body: serde_json::Value = serde_json::from_str(&page.body).unwrap();
    let location = body["location"].as_str().unwrap().to_string();
    let second = body["id"].as_str().unwrap().to_string();
    // The build's events end with its final state.
    let events = browser.get(&format!("{location}/events")).await;
    assert_eq!(events.status, StatusCode::OK);
    assert!(events.body.contains("event: end"), "{}", events.body);
    assert!(events.body.contains("\"ready\""), "{}", events.body);
    let f = server
        .client()
        .get_function("default", "hello")
        .await
        .unwrap();
    assert_eq!(f.active_deployment.as_deref(), Some(second.as_str()));
    // Roll back to the first.
    let back = browser
        .post(
            &format!(
                "/console/ns/default/fn/hello/deployments/{}/activate",
                first.id
            ),
            &[("_csrf", &csrf)],
        )
        .await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
    let f = server
        .client()
        .get_function("default", "hello")
        .await
        .unwrap();
    assert_eq!(f.active_deployment.as_deref(), Some(first.id.as_str()));
    // Without a CSRF header the upload is refused, and nothing is stored.
    let refused = browser
        .request(
            reqwest::Method::POST,
            "/console/ns/default/fn/hello/deployments",
        )
        .header("content-type", "application/wasm")
        .body(hello_guest());
    assert_eq!(
        browser.post_raw(refused).await.status,
        StatusCode::FORBIDDEN
    );
    let all = server
        .client()
        .list_deployments("default", "hello")
        .await
        .unwrap();
    assert_eq!(all.items.len(), 2);
}

#[tokio::test]
async fn the_test_panel_runs_a_request_and_links_its_execution() {
    let server = TestServer::start();
    server.deploy_ready("echo", spec(), &test_guest()).await;
    let (mut browser, csrf) = Browser::signed_in(&server).await;
    let panel = browser.get("/console/ns/default/fn/echo/test").await;
    assert_eq!(panel.status, StatusCode::OK);
    assert!(panel.body.contains("Send request"));

    let ran = browser
        .post(
            "/console/ns/default/fn/echo/test",
            &[
                ("_csrf", &csrf),
                ("method", "POST"),
                ("path", "/echo?from=panel"),
                (
                    "headers",
                    "content-type: application/json\nx-probe: console",
                ),
                ("body", r#"{"hello":"panel"}"#),
            ],
        )
        .await;
    assert_eq!(ran.status, StatusCode::OK, "{}", ran.body);
    assert!(
        ran.body.contains("Status <strong>200</strong>"),
        "{}",
        ran.body
    );
    // The echo comes back pretty-printed: one member a line.
    assert!(ran.body.contains("x-probe"), "{}", ran.body);
    let execution = server.first_execution("echo").await;
    assert!(
        ran.body.contains(&format!("/executions/{}", execution.id)),
        "links the execution it made"
    );
    assert_eq!(execution.request.headers["x-probe"], "console");

    // A retry starts from that execution's request.
    let retry = browser
        .get(&format!(
            "/console/ns/default/fn/echo/test?from={}",
            execution.id
        ))
        .await;
    assert!(retry.body.contains("/echo?from=panel"), "{}", retry.body);
    assert!(retry.body.contains("x-probe: console"));

    // The form's own errors, beside their fields.
    let refused = browser
        .post(
            "/console/ns/default/fn/echo/test",
            &[
                ("_csrf", &csrf),
                ("method", "POST"),
                ("path", "no-slash"),
                ("headers", "bad header"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains(r#"id="e-path""#));
    assert!(refused.body.contains(r#"id="e-headers""#));

    // A token without `invoke` gets no button, and a forged run is refused by the engine.
    let reader = token_with(&server, &["read"]).await;
    let mut reading = Browser::new(&server);
    reading.sign_in(&reader).await;
    let page = reading.get("/console/ns/default/fn/echo/test").await;
    assert!(!page.body.contains("Send request"));
    let reading_csrf = reading.csrf().await;
    let forged = reading
        .post(
            "/console/ns/default/fn/echo/test",
            &[
                ("_csrf", &reading_csrf),
                ("method", "GET"),
                ("path", "/echo"),
            ],
        )
        .await;
    assert!(forged.body.contains("invoke"), "{}", forged.body);
    let all = server
        .client()
        .list_executions("default", "echo", &[])
        .await
        .unwrap();
    assert_eq!(all.total, 1, "the forged run never ran");
}

#[tokio::test]
async fn the_live_tail_streams_each_execution_as_it_finishes() {
    let server = TestServer::start();
    server.deploy_ready("talker", spec(), &test_guest()).await;
    let mut browser = Browser::new(&server);
    browser.sign_in(&server.token).await;
    let page = browser.get("/console/ns/default/fn/talker/tail").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains("data-tail=\"/console/ns/default/fn/talker/tail/events\"")
    );

    let request = browser
        .request(
            reqwest::Method::GET,
            "/console/ns/default/fn/talker/tail/events",
        )
        .header(
            "cookie",
            format!("gust_console={}", browser.session_cookie().unwrap()),
        );
    let mut stream = request.send().await.unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    // An async run, printing as it goes, while the tail is open.
    let accepted = server
        .http()
        .post(format!("{}/fn/default/talker/log?n=2", server.url))
        .bearer_auth(&server.token)
        .header("x-gust-async", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while !seen.contains("event: execution") || !seen.contains("stdout line 1") {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .expect("an execution event within 20 s")
            .unwrap()
            .expect("the stream stays open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("\"status\":\"completed\""), "{seen}");
}

#[tokio::test]
async fn triggers_are_made_paused_resumed_and_deleted_from_the_page() {
    let server = TestServer::start();
    server.deploy_ready("timed", spec(), &hello_guest()).await;
    let (mut browser, csrf) = Browser::signed_in(&server).await;
    let path = "/console/ns/default/fn/timed/triggers";
    let bad = browser
        .post(
            path,
            &[
                ("_csrf", &csrf),
                ("kind", "cron"),
                ("schedule", "not a schedule"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    assert!(bad.body.contains(r#"id="e-schedule""#), "{}", bad.body);
    let made = browser
        .post(
            path,
            &[
                ("_csrf", &csrf),
                ("kind", "cron"),
                ("name", "nightly"),
                ("schedule", "0 3 * * *"),
                ("timezone", "Europe/Paris"),
            ],
        )
        .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
    let made = browser
        .post(
            path,
            &[
                ("_csrf", &csrf),
                ("kind", "event"),
                ("event_name", "on-deploy"),
                ("events", "functions.*.deployments.*.update"),
            ],
        )
        .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
    let bad_event = browser
        .post(path, &[("_csrf", &csrf), ("kind", "event"), ("events", "")])
        .await;
    assert_eq!(
        bad_event.status,
        StatusCode::BAD_REQUEST,
        "{}",
        bad_event.body
    );
    assert!(
        bad_event.body.contains(r#"id="e-events""#),
        "{}",
        bad_event.body
    );

    let page = browser.get(path).await;
    assert!(page.body.contains("nightly") && page.body.contains("on-deploy"));
    assert!(page.body.contains("Europe/Paris"));
    let triggers: serde_json::Value =
        api(&server, "/namespaces/default/functions/timed/triggers").await;
    let cron = triggers["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["kind"] == "cron")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let paused = browser
        .post(
            &format!("{path}/{cron}/status"),
            &[("_csrf", &csrf), ("status", "paused")],
        )
        .await;
    assert_eq!(paused.status, StatusCode::SEE_OTHER);
    let one = api(
        &server,
        &format!("/namespaces/default/functions/timed/triggers/{cron}"),
    )
    .await;
    assert_eq!(one["status"], "paused");
    browser
        .post(
            &format!("{path}/{cron}/status"),
            &[("_csrf", &csrf), ("status", "ready")],
        )
        .await;
    let one = api(
        &server,
        &format!("/namespaces/default/functions/timed/triggers/{cron}"),
    )
    .await;
    assert_eq!(one["status"], "ready");
    let deleted = browser
        .post(&format!("{path}/{cron}/delete"), &[("_csrf", &csrf)])
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    let triggers = api(&server, "/namespaces/default/functions/timed/triggers").await;
    assert_eq!(triggers["total"], 1);
}

#[tokio::test]
async fn dead_letters_are_listed_and_replayed_one_or_all() {
    let server = TestServer::start_with_env(&[], &[("GUST_RETRY_BASE_MS", "50")]);
    server
        .deploy_ready(
            "doomed",
            gust_core::FunctionSpec {
                max_attempts: Some(1),
                ..spec()
            },
            &test_guest(),
        )
        .await;
    let client = server.client();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let accepted = client
            .submit_execution("default", "doomed", &json!({"path": "/panic"}), None)
            .await
            .unwrap();
        let done = client
            .wait_for_execution(
                "default",
                "doomed",
                &accepted.id,
                std::time::Duration::from_secs(20),
            )
            .await
            .unwrap();
        assert!(done.dead_letter);
        ids.push(done.id);
    }
    let (mut browser, csrf) = Browser::signed_in(&server).await;
    let page = browser
        .get("/console/ns/default/fn/doomed/dead-letters")
        .await;
    assert_eq!(page.status, StatusCode::OK);
    for id in &ids {
        assert!(page.body.contains(id.as_str()), "{id} listed");
    }
    assert!(page.body.contains("Replay all"));
    let one = browser
        .post(
            &format!(
                "/console/ns/default/fn/doomed/dead-letters/{}/replay",
                ids[0]
            ),
            &[("_csrf", &csrf)],
        )
        .await;
    assert_eq!(one.status, StatusCode::SEE_OTHER, "{}", one.body);
    let all = browser
        .post(
            "/console/ns/default/fn/doomed/dead-letters/replay-all",
            &[("_csrf", &csrf)],
        )
        .await;
    assert_eq!(all.status, StatusCode::SEE_OTHER, "{}", all.body);
    let replays = api(
        &server,
        "/namespaces/default/functions/doomed/executions?limit=100",
    )
    .await;
    let replayed: Vec<&str> = replays["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["replay_of"].as_str())
        .collect();
    // The one replayed alone left the dead letters, so "replay all" did not replay it again.
    assert_eq!(replayed.iter().filter(|r| **r == ids[0]).count(), 1);
    assert_eq!(replayed.iter().filter(|r| **r == ids[1]).count(), 1);
    let original = browser
        .get(&format!(
            "/console/ns/default/fn/doomed/executions/{}",
            ids[0]
        ))
        .await;
    assert!(original.body.contains("Replayed as"), "{}", original.body);
}

/// The whole console in a real browser (Debian's Chromium driven by Playwright): sign in,
/// create a function, drop a Python folder on the page and watch its build log, run the test
/// panel, open the execution and its waterfall, tail logs while an async execution runs, add
/// a cron trigger and see its next times, see a dead letter and replay it, sign out and be
/// refused; axe-core finds nothing serious or critical on any page, and each page's
/// screenshot goes to `<target>/console-screenshots/`. The script prints each page's weight.
#[tokio::test]
async fn the_console_works_in_a_real_browser() {
    use gust_test_tools::browser;
    let server = TestServer::start();
    let chromium = browser::chromium();
    let venv = browser::playwright();
    let axe = browser::axe_core();
    let shots = browser::screenshots_dir();
    let work = gust_test_tools::ScratchDir::new("console-browser").unwrap();
    let package = work.path().join("python-hello.tar.gz");
    std::fs::write(&package, crate::harness::package("python-hello")).unwrap();
    let broken = work.path().join("broken.tar.gz");
    std::fs::write(
        &broken,
        crate::harness::tar_gz(&[(
            "main.py",
            b"def handle(event, context):\n    raise RuntimeError('broken on purpose')\n",
        )]),
    )
    .unwrap();
    let script =
        crate::harness::workspace_root().join("crates/gust/tests/clients/console/scenario.py");
    let (url, token) = (server.url.clone(), server.token.clone());
    let output = tokio::task::spawn_blocking(move || {
        venv.command("python")
            .arg(script)
            .args([&url, &token])
            .args([&chromium, &axe, &shots, &package, &broken])
            .args(browser::launch_args())
            .output()
    })
    .await
    .unwrap()
    .expect("running the browser scenario");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success() && stdout.contains("passed"),
        "the browser scenario failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    drop(server);
}

#[tokio::test]
async fn cron_schedules_are_previewed_before_they_are_saved() {
    let server = TestServer::start();
    server.deploy_ready("timed", spec(), &hello_guest()).await;
    let (mut browser, csrf) = Browser::signed_in(&server).await;
    let path = "/console/ns/default/fn/timed/triggers";
    // What the page's script asks as the schedule is typed.
    let preview = browser
        .get(&format!(
            "{path}/preview?schedule=0+3+*+*+*&timezone=Europe%2FParis"
        ))
        .await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    let body: serde_json::Value = serde_json::from_str(&preview.body).unwrap();
    let times = body["times"].as_array().unwrap();
    assert_eq!(times.len(), 5);
    for t in times {
        let at: chrono::DateTime<chrono::FixedOffset> =
            chrono::DateTime::parse_from_rfc3339(t.as_str().unwrap()).unwrap();
        let paris = at.with_timezone(&chrono_tz::Europe::Paris);
        assert_eq!(paris.format("%H:%M").to_string(), "03:00", "{t}");
    }
    let bad = browser.get(&format!("{path}/preview?schedule=nope")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("schedule"), "{}", bad.body);
    // Without the script: the Preview button renders them, and saves nothing.
    let shown = browser
        .post(
            path,
            &[
                ("_csrf", &csrf),
                ("kind", "cron"),
                ("schedule", "*/5 * * * *"),
                ("preview", "true"),
            ],
        )
        .await;
    assert_eq!(shown.status, StatusCode::OK);
    assert_eq!(shown.body.matches("<li><time").count(), 5, "{}", shown.body);
    let triggers = api(&server, "/namespaces/default/functions/timed/triggers").await;
    assert_eq!(triggers["total"], 0);
}

#[tokio::test]
async fn test_requests_are_saved_opened_and_deleted_from_the_panel() {
    let server = TestServer::start();
    server.deploy_ready("echo", spec(), &test_guest()).await;
    let (mut browser, csrf) = Browser::signed_in(&server).await;
    let panel = "/console/ns/default/fn/echo/test";
    let saved = browser
        .post(
            panel,
            &[
                ("_csrf", &csrf),
                ("save", "true"),
                ("name", "hello-json"),
                ("method", "PUT"),
                ("path", "/echo?saved=1"),
                ("headers", "x-saved: yes"),
                ("body", "{\"a\":1}"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let listed = api(&server, "/namespaces/default/functions/echo/test-requests").await;
    assert_eq!(
        listed
            .as_array()
            .map(Vec::len)
            .or(listed["items"].as_array().map(Vec::len)),
        Some(1),
        "{listed}"
    );
    let page = browser.get(panel).await;
    assert!(page.body.contains("?saved=hello-json"), "{}", page.body);
    let opened = browser.get(&format!("{panel}?saved=hello-json")).await;
    assert!(
        opened.body.contains("<option selected>PUT</option>"),
        "{}",
        opened.body
    );
    assert!(opened.body.contains("/echo?saved=1"));
    assert!(opened.body.contains("x-saved: yes"));
    // A bad name is refused beside the name.
    let bad = browser
        .post(
            panel,
            &[
                ("_csrf", &csrf),
                ("save", "true"),
                ("name", "no spaces"),
                ("method", "GET"),
                ("path", "/"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    assert!(bad.body.contains(r#"id="e-name""#), "{}", bad.body);
    let deleted = browser
        .post(
            &format!("{panel}/saved/hello-json/delete"),
            &[("_csrf", &csrf)],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    let listed = api(&server, "/namespaces/default/functions/echo/test-requests").await;
    assert!(!listed.to_string().contains("hello-json"), "{listed}");
}

#[tokio::test]
async fn a_running_executions_page_follows_its_output_until_it_ends() {
    let server = TestServer::start();
    server.deploy_ready("slow", spec(), &test_guest()).await;
    let accepted = server
        .client()
        .submit_execution(
            "default",
            "slow",
            &json!({"path": "/sleep?ms=1500&lines=3"}),
            None,
        )
        .await
        .unwrap();
    let mut browser = Browser::new(&server);
    browser.sign_in(&server.token).await;
    let path = format!("/console/ns/default/fn/slow/executions/{}", accepted.id);
    let page = browser.get(&path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains(&format!(r#"data-exec-log="{path}/events""#)),
        "{}",
        page.body
    );
    let events = browser.get(&format!("{path}/events")).await;
    assert_eq!(events.status, StatusCode::OK);
    assert!(events.body.contains("event: end"), "{}", events.body);
    assert!(events.body.contains("completed"), "{}", events.body);
    assert!(events.body.contains("event: stdout"), "{}", events.body);
    assert!(events.body.contains("tick 2"), "{}", events.body);
    let page = browser.get(&path).await;
    assert!(
        !page.body.contains("data-exec-log"),
        "ended: no live section"
    );
}

#[tokio::test]
async fn the_functions_list_is_filtered_by_runtime_and_state_in_pages() {
    let server = TestServer::start();
    let (mut browser, _) = Browser::signed_in(&server).await;
    let client = server.client();
    // More Python functions than a page holds, and one Wasm function.
    for i in 0..55 {
        client
            .create_function(
                "default",
                &gust_core::FunctionSpec {
                    name: Some(format!("py-{i:02}")),
                    runtime: Some("python3.11".into()),
                    ..gust_core::FunctionSpec::default()
                },
            )
            .await
            .unwrap();
    }
    server
        .deploy_ready(
            "hello",
            crate::harness::spec(),
            &crate::harness::hello_guest(),
        )
        .await;

    let page = browser
        .get("/console/ns/default/functions?runtime=wasm")
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(">hello</a>"), "{}", page.body);
    assert!(!page.body.contains(">py-"), "{}", page.body);

    // 55 Python functions: a full first page, and the rest on the second.
    let first = browser
        .get("/console/ns/default/functions?runtime=python3.11&status=created")
        .await;
    assert_eq!(first.body.matches(">py-").count(), 50, "{}", first.body);
    assert!(!first.body.contains(">hello</a>"));
    assert!(first.body.contains("page=1"), "a link to the next page");
    let second = browser
        .get("/console/ns/default/functions?runtime=python3.11&status=created&page=1")
        .await;
    assert_eq!(second.body.matches(">py-").count(), 5, "{}", second.body);

    let ready = browser
        .get("/console/ns/default/functions?status=ready")
        .await;
    assert!(ready.body.contains(">hello</a>"));
    assert!(!ready.body.contains(">py-"));

    // A state that is none is refused, naming it.
    let bad = browser
        .get("/console/ns/default/functions?status=asleep")
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("asleep"), "{}", bad.body);
}
