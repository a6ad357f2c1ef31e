//! Gust as a bench target: starting `gust serve` and setting functions up
//! through its native admin API, timing deploy → first response.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::process::Command;
use tokio::time::{Instant, sleep};

use crate::child::{self, ServerProcess};

const NAMESPACE: &str = "default";
/// Give up waiting for a deployment to serve after this long.
const DEPLOY_TIMEOUT: Duration = Duration::from_secs(60);
/// How often the deployment status is checked while polling the function.
const STATUS_EVERY: Duration = Duration::from_millis(100);

/// Starts `gust serve` on an ephemeral port. stderr goes to `log` so the
/// table stays readable; RUST_LOG=warn keeps logging off the hot path.
pub async fn spawn(
    bin: &Path,
    data_dir: &Path,
    log: &Path,
    env: &[(&str, &str)],
) -> anyhow::Result<ServerProcess> {
    spawn_with(bin, data_dir, log, env, &[]).await
}

/// [`spawn`] with more arguments for `gust serve`.
pub async fn spawn_with(
    bin: &Path,
    data_dir: &Path,
    log: &Path,
    env: &[(&str, &str)],
    args: &[std::ffi::OsString],
) -> anyhow::Result<ServerProcess> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    let mut cmd = Command::new(bin);
    cmd.envs(env.iter().copied());
    cmd.arg("serve")
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stderr(log);
    child::spawn("gust", cmd).await
}

/// The public URL path of a function (what the load generator hits).
pub fn function_path(name: &str) -> String {
    format!("/fn/{NAMESPACE}/{name}/")
}

/// A client for Gust's native API, authenticated with the admin token.
#[derive(Clone)]
pub struct Api {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
    token: String,
}

impl Api {
    /// Reads the admin token Gust wrote into its data dir.
    pub async fn new(addr: SocketAddr, data_dir: &Path) -> anyhow::Result<Api> {
        let path = data_dir.join("admin-token");
        // The token is written at startup; allow a moment in case it lands
        // just after the listening line.
        let deadline = Instant::now() + Duration::from_secs(5);
        let token = loop {
            match tokio::fs::read_to_string(&path).await {
                Ok(t) if !t.trim().is_empty() => break t.trim().to_owned(),
                _ if Instant::now() < deadline => sleep(Duration::from_millis(20)).await,
                Ok(_) => bail!("{} is empty", path.display()),
                Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
            }
        };
        Ok(Api {
            client: Client::builder(TokioExecutor::new()).build_http(),
            base: format!("http://{addr}"),
            token,
        })
    }

    /// The admin token, for load that calls the API.
    pub fn token(&self) -> &str {
        &self.token
    }

    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Bytes)>,
        auth: bool,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        let mut req = Request::builder()
            .method(method.clone())
            .uri(format!("{}{path}", self.base));
        if auth {
            req = req.header(AUTHORIZATION, format!("Bearer {}", self.token));
        }
        let body = match body {
            Some((content_type, bytes)) => {
                req = req.header(CONTENT_TYPE, content_type);
                bytes
            }
            None => Bytes::new(),
        };
        let resp = self
            .client
            .request(req.body(Full::new(body))?)
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = resp.status();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    /// `POST /api/v1/namespaces/default/functions`: a public function.
    pub async fn create_function(&self, name: &str, runtime: &str) -> anyhow::Result<()> {
        self.create_function_with(
            &serde_json::json!({ "name": name, "runtime": runtime, "privacy": "public" }),
        )
        .await
    }

    /// `POST /api/v1/namespaces/default/functions` with a full spec.
    pub async fn create_function_with(&self, spec: &serde_json::Value) -> anyhow::Result<()> {
        let path = format!("/api/v1/namespaces/{NAMESPACE}/functions");
        let (status, body) = self
            .request(
                Method::POST,
                &path,
                Some(("application/json", spec.to_string().into())),
                true,
            )
            .await?;
        ensure!(
            status.is_success(),
            "creating function {spec}: HTTP {status}: {}",
            String::from_utf8_lossy(&body)
        );
        Ok(())
    }

    /// `PATCH` a function's settings.
    pub async fn update_function(
        &self,
        name: &str,
        patch: &serde_json::Value,
    ) -> anyhow::Result<()> {
        let path = format!("/api/v1/namespaces/{NAMESPACE}/functions/{name}");
        let (status, body) = self
            .request(
                Method::PATCH,
                &path,
                Some(("application/json", patch.to_string().into())),
                true,
            )
            .await?;
        ensure!(
            status.is_success(),
            "updating {name}: HTTP {status}: {}",
            String::from_utf8_lossy(&body)
        );
        Ok(())
    }

    /// A text field of a function: `domain_name` (the host name that routes to it), `id`, ….
    pub async fn function_field(&self, name: &str, field: &str) -> anyhow::Result<String> {
        let path = format!("/api/v1/namespaces/{NAMESPACE}/functions/{name}");
        let (status, body) = self.request(Method::GET, &path, None, true).await?;
        ensure!(
            status.is_success(),
            "reading {name}: HTTP {status}: {}",
            String::from_utf8_lossy(&body)
        );
        let function: serde_json::Value = serde_json::from_slice(&body)?;
        function[field]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("the function has no {field}"))
    }

    /// An edge application whose one rule runs an instance of `function` for every request
    /// (module on, args `{}`), through the native API; its id.
    pub async fn edge_application_running(&self, function: &str) -> anyhow::Result<u64> {
        let app = self
            .post_json(
                &format!("/api/v1/namespaces/{NAMESPACE}/edge-applications"),
                serde_json::json!({"name": "bench", "edge_functions": true}),
            )
            .await?;
        let app = app["id"].as_u64().context("the application has no id")?;
        let instance = self
            .post_json(
                &format!("/api/v1/edge-applications/{app}/function-instances"),
                serde_json::json!({"name": function, "function": function}),
            )
            .await?;
        let instance = instance["id"].as_u64().context("the instance has no id")?;
        self.post_json(
            &format!("/api/v1/edge-applications/{app}/rules"),
            serde_json::json!({
                "name": "all",
                "behaviors": [{"name": "run_function", "target": instance}],
            }),
        )
        .await?;
        Ok(app)
    }

    /// `POST` a JSON body to the native API; the JSON answered, which must be a success.
    async fn post_json(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> anyhow::Result<serde_json::Value> {
        let (status, answer) = self
            .request(
                Method::POST,
                path,
                Some(("application/json", body.to_string().into())),
                true,
            )
            .await?;
        ensure!(
            status.is_success(),
            "POST {path}: HTTP {status}: {}",
            String::from_utf8_lossy(&answer)
        );
        Ok(serde_json::from_slice(&answer)?)
    }

    /// Stop every worker of a function (`DELETE …/instances`).
    pub async fn detach(&self, name: &str) -> anyhow::Result<()> {
        let path = format!("/api/v1/namespaces/{NAMESPACE}/functions/{name}/instances");
        let (status, body) = self.request(Method::DELETE, &path, None, true).await?;
        ensure!(
            status.is_success(),
            "detaching {name}: HTTP {status}: {}",
            String::from_utf8_lossy(&body)
        );
        Ok(())
    }

    /// One request to a public function, which must answer 200.
    pub async fn get_function_path(&self, name: &str) -> anyhow::Result<Bytes> {
        let (status, body) = self
            .request(Method::GET, &function_path(name), None, false)
            .await?;
        ensure!(
            status == StatusCode::OK,
            "{name}: HTTP {status}: {}",
            String::from_utf8_lossy(&body)
        );
        Ok(body)
    }

    /// Uploads a deployment and polls the function every 1 ms until it
    /// answers 200. Returns the time from upload start to that first 200 and
    /// the body it returned.
    pub async fn deploy_and_wait(
        &self,
        name: &str,
        artifact: Bytes,
        content_type: &str,
        server: &mut ServerProcess,
    ) -> anyhow::Result<(Duration, Bytes)> {
        let deployments = format!("/api/v1/namespaces/{NAMESPACE}/functions/{name}/deployments");
        let fn_path = function_path(name);

        let start = Instant::now();
        let (status, body) = self
            .request(
                Method::POST,
                &deployments,
                Some((content_type, artifact)),
                true,
            )
            .await?;
        ensure!(
            status.is_success(),
            "deploying {name}: HTTP {status}: {}",
            String::from_utf8_lossy(&body)
        );
        let id = deployment_id(&body)
            .with_context(|| format!("deployment response: {}", String::from_utf8_lossy(&body)))?;

        let deadline = start + DEPLOY_TIMEOUT;
        let mut next_check = Instant::now() + STATUS_EVERY;
        loop {
            // Public function: no token, as a real caller would send.
            let (status, body) = self.request(Method::GET, &fn_path, None, false).await?;
            if status == StatusCode::OK {
                return Ok((start.elapsed(), body));
            }
            let last = format!("HTTP {status}: {}", String::from_utf8_lossy(&body).trim());

            let now = Instant::now();
            if now >= next_check {
                next_check = now + STATUS_EVERY;
                server.ensure_running()?;
                self.fail_if_deployment_failed(&deployments, &id).await?;
            }
            if now >= deadline {
                bail!("{name} did not answer 200 within {DEPLOY_TIMEOUT:?}; last: {last}");
            }
            sleep(Duration::from_millis(1)).await;
        }
    }

    /// Uploads a deployment without waiting for its build; its id.
    pub async fn deploy(
        &self,
        name: &str,
        artifact: Bytes,
        content_type: &str,
    ) -> anyhow::Result<String> {
        let path = format!("/api/v1/namespaces/{NAMESPACE}/functions/{name}/deployments");
        let (status, body) = self
            .request(Method::POST, &path, Some((content_type, artifact)), true)
            .await?;
        ensure!(
            status.is_success(),
            "deploying {name}: HTTP {status}: {}",
            String::from_utf8_lossy(&body)
        );
        deployment_id(&body)
    }

    /// `GET` an API path with the token; its status and body.
    pub async fn get(&self, path: &str) -> anyhow::Result<(StatusCode, Bytes)> {
        self.request(Method::GET, path, None, true).await
    }

    /// One public function's answer: its status (no token, as a real caller).
    pub async fn call(&self, name: &str) -> anyhow::Result<StatusCode> {
        let (status, _) = self
            .request(Method::GET, &function_path(name), None, false)
            .await?;
        Ok(status)
    }

    /// A gauge or counter of `/metrics` with no labels; `None` when the server has none.
    pub async fn metric(&self, name: &str) -> anyhow::Result<Option<f64>> {
        let (status, body) = self.request(Method::GET, "/metrics", None, false).await?;
        ensure!(status.is_success(), "GET /metrics: HTTP {status}");
        let text = String::from_utf8_lossy(&body);
        Ok(text.lines().find_map(|line| {
            let value = line.strip_prefix(name)?.strip_prefix(' ')?;
            value.trim().parse().ok()
        }))
    }

    /// Async executions queued or running, read from `/metrics`.
    pub async fn async_backlog(&self) -> anyhow::Result<u64> {
        let (status, body) = self.request(Method::GET, "/metrics", None, false).await?;
        ensure!(status.is_success(), "GET /metrics: HTTP {status}");
        let text = String::from_utf8_lossy(&body);
        let backlog = text
            .lines()
            .filter(|l| l.starts_with("gust_queue_depth{") || l.starts_with("gust_async_running "))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>();
        Ok(backlog as u64)
    }

    async fn fail_if_deployment_failed(&self, deployments: &str, id: &str) -> anyhow::Result<()> {
        let (status, body) = self
            .request(Method::GET, &format!("{deployments}/{id}"), None, true)
            .await?;
        if !status.is_success() {
            // Not fatal by itself: the function poll is the real signal.
            return Ok(());
        }
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if v["status"] == "failed" {
            let why = ["error", "message", "status_message", "reason"]
                .iter()
                .find_map(|k| v[k].as_str())
                .map(str::to_owned)
                .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
            bail!("deployment {id} failed: {why}");
        }
        Ok(())
    }
}

fn deployment_id(body: &[u8]) -> anyhow::Result<String> {
    let v: serde_json::Value = serde_json::from_slice(body)?;
    match &v["id"] {
        serde_json::Value::String(s) => Ok(s.clone()),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        _ => bail!("no \"id\" field"),
    }
}
