//! A typed client for Gust's native API (`/api/v1`), used by the `gust` CLI and by the tests.
//! Each method is one request; errors keep the server's code, message and field.
//!
//! ```no_run
//! # async fn demo() -> Result<(), gust_client::ClientError> {
//! let client = gust_client::Client::new("http://127.0.0.1:8080", Some("gust_…".into()));
//! let functions = client.list_functions("default", &[]).await?;
//! println!("{} functions", functions.total);
//! # Ok(()) }
//! ```

mod edge;

use std::time::Duration;

use gust_core::metrics::{FunctionActivity, FunctionMetrics, MetricsWindow};
use gust_core::{
    Alias, AliasPatch, AliasSpec, AuditEntry, Deployment, DeploymentStatus, Domain, Execution,
    ExecutionStatus, Function, FunctionSpec, FunctionTrigger, FunctionVersion, Page, RuntimeInfo,
    SignedUrl, TestRequest, TestRequestSpec, Token, VersionSpec, Webhook,
};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error envelope.
    #[error("{message}")]
    Api {
        status: StatusCode,
        code: String,
        message: String,
        field: Option<String>,
    },
    #[error("could not reach the server at {url}")]
    Connect { url: String, source: reqwest::Error },
    #[error("request failed")]
    Http(#[from] reqwest::Error),
    #[error("the server's answer was not understood: {0}")]
    Decode(String),
    #[error("{0}")]
    Timeout(String),
}

impl ClientError {
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

pub type ClientResult<T> = Result<T, ClientError>;

/// How [`Client::upload_in_chunks`] sends an upload.
#[derive(Debug, Clone)]
pub struct ChunkedUpload {
    /// Bytes per request.
    pub chunk_size: usize,
    /// The package's content type, sent with the first chunk.
    pub content_type: String,
    /// Make the deployment active once it builds.
    pub activate: bool,
    /// The file in the package to run, sent with the first chunk.
    pub entrypoint: Option<String>,
    /// The id of an upload an earlier run left unfinished, to go on with instead of starting
    /// a new one.
    pub resume: Option<String>,
    /// Retries of one chunk in a row before giving up.
    pub attempts: u32,
    /// Wait before the first retry, longer for each next one.
    pub pause: Duration,
}

impl Default for ChunkedUpload {
    fn default() -> Self {
        Self {
            chunk_size: 5 * 1024 * 1024,
            content_type: "application/octet-stream".into(),
            activate: false,
            entrypoint: None,
            resume: None,
            attempts: 5,
            pause: Duration::from_millis(500),
        }
    }
}

/// Why a chunked upload stopped, and the deployment holding what arrived (if one was created),
/// to resume with [`ChunkedUpload::resume`].
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct ChunkedUploadError {
    pub deployment: Option<String>,
    #[source]
    pub error: ClientError,
}

/// No answer, a server fault, or a chunk the server expected elsewhere: trying again (from
/// what the server holds) may succeed.
fn worth_retrying(e: &ClientError) -> bool {
    match e {
        ClientError::Api { status, .. } => {
            status.is_server_error()
                || *status == StatusCode::RANGE_NOT_SATISFIABLE
                || *status == StatusCode::TOO_MANY_REQUESTS
        }
        ClientError::Connect { .. } | ClientError::Http(_) => true,
        ClientError::Decode(_) | ClientError::Timeout(_) => false,
    }
}

/// Longest a pooled connection waits idle before the client drops it rather than reuse it:
/// well under the server's header read timeout (`GUST_HEADER_TIMEOUT_SECS`, 10 s by default).
pub const IDLE_REUSE: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    pub fn new(base: &str, token: Option<String>) -> Self {
        // Gust closes a connection that waits 10 s (by default) for its next request's head; one
        // idle half that long is not reused, so a request never meets that close half-way (which
        // surfaces as a reset, and is not retried).
        let http = reqwest::Client::builder()
            .pool_idle_timeout(IDLE_REUSE)
            .build()
            .unwrap_or_default();
        Self::with_http(base, token, http)
    }

    /// A client sending through `http` (for a server whose certificate only a custom root
    /// vouches for, say).
    pub fn with_http(base: &str, token: Option<String>, http: reqwest::Client) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            token,
            http,
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// A request to `path` (starting with `/`) with the bearer token set.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut builder = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(token) = &self.token {
            builder = builder.bearer_auth(token);
        }
        builder
    }

    /// A failure to talk to the server at all: unreachable servers get their own variant (and hint).
    fn transport_error(&self, e: reqwest::Error) -> ClientError {
        if e.is_connect() {
            ClientError::Connect {
                url: self.base.clone(),
                source: e,
            }
        } else {
            ClientError::Http(e)
        }
    }

    /// Send and decode a JSON answer, or turn the error envelope into `ClientError::Api`.
    pub async fn send<T: DeserializeOwned>(
        &self,
        builder: reqwest::RequestBuilder,
    ) -> ClientResult<T> {
        let response = self.execute(builder).await?;
        let bytes = response.bytes().await?;
        let bytes: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
        serde_json::from_slice(bytes).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// Send, returning the raw response when it is a success.
    pub async fn execute(
        &self,
        builder: reqwest::RequestBuilder,
    ) -> ClientResult<reqwest::Response> {
        let response = builder.send().await.map_err(|e| self.transport_error(e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(api_error(response).await)
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> ClientResult<T> {
        let mut builder = self.request(method, path);
        if let Some(body) = body {
            builder = builder.json(body);
        }
        self.send(builder).await
    }

    pub async fn runtimes(&self) -> ClientResult<Vec<RuntimeInfo>> {
        self.json(Method::GET, "/api/v1/runtimes", None::<&()>)
            .await
    }

    pub async fn create_function(&self, ns: &str, spec: &FunctionSpec) -> ClientResult<Function> {
        self.json(
            Method::POST,
            &format!("/api/v1/namespaces/{ns}/functions"),
            Some(spec),
        )
        .await
    }

    /// `query`: extra list parameters such as `("limit", "10")`.
    pub async fn list_functions(
        &self,
        ns: &str,
        query: &[(&str, &str)],
    ) -> ClientResult<Page<Function>> {
        self.send(
            self.request(Method::GET, &format!("/api/v1/namespaces/{ns}/functions"))
                .query(query),
        )
        .await
    }

    /// Set one secret of a function, leaving its others as they are.
    pub async fn set_function_secret(
        &self,
        ns: &str,
        f: &str,
        key: &str,
        value: &str,
    ) -> ClientResult<Function> {
        self.json(
            Method::PUT,
            &format!("/api/v1/namespaces/{ns}/functions/{f}/secrets/{key}"),
            Some(&serde_json::json!({ "value": value })),
        )
        .await
    }

    /// Remove one secret of a function.
    pub async fn delete_function_secret(
        &self,
        ns: &str,
        f: &str,
        key: &str,
    ) -> ClientResult<Function> {
        self.json(
            Method::DELETE,
            &format!("/api/v1/namespaces/{ns}/functions/{f}/secrets/{key}"),
            None::<&()>,
        )
        .await
    }

    pub async fn get_function(&self, ns: &str, f: &str) -> ClientResult<Function> {
        self.json(
            Method::GET,
            &format!("/api/v1/namespaces/{ns}/functions/{f}"),
            None::<&()>,
        )
        .await
    }

    pub async fn update_function(
        &self,
        ns: &str,
        f: &str,
        patch: &FunctionSpec,
    ) -> ClientResult<Function> {
        self.json(
            Method::PATCH,
            &format!("/api/v1/namespaces/{ns}/functions/{f}"),
            Some(patch),
        )
        .await
    }

    pub async fn delete_function(&self, ns: &str, f: &str) -> ClientResult<()> {
        self.execute(self.request(
            Method::DELETE,
            &format!("/api/v1/namespaces/{ns}/functions/{f}"),
        ))
        .await?;
        Ok(())
    }

    /// Upload code. `body` may be a stream (for progress reporting).
    pub async fn create_deployment(
        &self,
        ns: &str,
        f: &str,
        body: impl Into<reqwest::Body>,
        content_type: &str,
        activate: bool,
    ) -> ClientResult<Deployment> {
        self.create_deployment_at(ns, f, body, content_type, activate, None)
            .await
    }

    /// Upload code naming the file in the package to run (`entrypoint`), when given.
    pub async fn create_deployment_at(
        &self,
        ns: &str,
        f: &str,
        body: impl Into<reqwest::Body>,
        content_type: &str,
        activate: bool,
        entrypoint: Option<&str>,
    ) -> ClientResult<Deployment> {
        let mut builder = self
            .request(
                Method::POST,
                &format!("/api/v1/namespaces/{ns}/functions/{f}/deployments"),
            )
            .query(&[("activate", if activate { "true" } else { "false" })]);
        if let Some(entrypoint) = entrypoint {
            builder = builder.query(&[("entrypoint", entrypoint)]);
        }
        let builder = builder.header("content-type", content_type).body(body);
        self.send(builder).await
    }

    /// Send `chunk` as bytes `start..` of an upload of `total` bytes (`Content-Range`): with
    /// `deployment` None the first chunk, which creates the deployment (with the content type
    /// and `activate` of `options`), else a later chunk of it.
    pub async fn upload_chunk(
        &self,
        ns: &str,
        f: &str,
        deployment: Option<&str>,
        chunk: bytes::Bytes,
        (start, total): (u64, u64),
        options: &ChunkedUpload,
    ) -> ClientResult<Deployment> {
        let range = format!(
            "bytes {start}-{}/{total}",
            (start + chunk.len() as u64).saturating_sub(1)
        );
        let collection = format!("/api/v1/namespaces/{ns}/functions/{f}/deployments");
        let builder = match deployment {
            None => {
                let mut first = self
                    .request(Method::POST, &collection)
                    .query(&[("activate", options.activate.to_string())]);
                if let Some(entrypoint) = &options.entrypoint {
                    first = first.query(&[("entrypoint", entrypoint)]);
                }
                first.header("content-type", &options.content_type)
            }
            Some(id) => self
                .request(Method::PUT, &format!("{collection}/{id}/code"))
                .header("content-type", "application/octet-stream"),
        };
        self.send(builder.header("content-range", range).body(chunk))
            .await
    }

    /// Upload `code` in chunks of `options.chunk_size` bytes, resuming after a failure: a
    /// chunk that fails for a reason worth retrying (no answer, a server fault, a chunk out of
    /// place) is retried from where the server says the upload stands, up to
    /// `options.attempts` times in a row. `progress` gets the bytes the server holds after each
    /// chunk. On a failure that ends it, [`ChunkedUpload::deployment`] says which upload to
    /// resume.
    pub async fn upload_in_chunks(
        &self,
        ns: &str,
        f: &str,
        code: bytes::Bytes,
        options: &ChunkedUpload,
        mut progress: impl FnMut(u64),
    ) -> Result<Deployment, ChunkedUploadError> {
        let total = code.len() as u64;
        let chunk_size = options.chunk_size.max(1) as u64;
        let fail = |deployment: Option<&Deployment>, error| ChunkedUploadError {
            deployment: deployment.map(|d| d.id.clone()),
            error,
        };
        let mut deployment = None;
        if let Some(id) = &options.resume {
            let resumed = self
                .get_deployment(ns, f, id)
                .await
                .map_err(|e| fail(None, e))?;
            if resumed.size != total {
                return Err(fail(
                    None,
                    ClientError::Decode(format!(
                        "deployment {id} is an upload of {} bytes, not of these {total}",
                        resumed.size
                    )),
                ));
            }
            deployment = Some(resumed);
        }
        let mut failures = 0;
        loop {
            let held = match &deployment {
                Some(d) if d.status != DeploymentStatus::Uploading => return Ok(d.clone()),
                Some(d) => d.received,
                None => 0,
            };
            progress(held);
            let end = (held + chunk_size).min(total);
            let sent = self
                .upload_chunk(
                    ns,
                    f,
                    deployment.as_ref().map(|d| d.id.as_str()),
                    code.slice(held as usize..end as usize),
                    (held, total),
                    options,
                )
                .await;
            match sent {
                Ok(d) => {
                    failures = 0;
                    deployment = Some(d);
                }
                Err(e) if worth_retrying(&e) && failures < options.attempts => {
                    failures += 1;
                    tokio::time::sleep(options.pause * failures).await;
                    // The chunk may have arrived with only its answer lost: go on from what
                    // the server holds. A first chunk that failed is sent again whole.
                    if let Some(d) = &deployment
                        && let Ok(now) = self.get_deployment(ns, f, &d.id).await
                    {
                        deployment = Some(now);
                    }
                }
                Err(e) => return Err(fail(deployment.as_ref(), e)),
            }
        }
    }

    pub async fn get_deployment(&self, ns: &str, f: &str, id: &str) -> ClientResult<Deployment> {
        self.json(
            Method::GET,
            &format!("/api/v1/namespaces/{ns}/functions/{f}/deployments/{id}"),
            None::<&()>,
        )
        .await
    }

    pub async fn list_deployments(&self, ns: &str, f: &str) -> ClientResult<Page<Deployment>> {
        self.json(
            Method::GET,
            &format!("/api/v1/namespaces/{ns}/functions/{f}/deployments"),
            None::<&()>,
        )
        .await
    }

    /// A URL to upload a package of exactly `content_length` bytes to, once, without a token.
    pub async fn create_upload_url(
        &self,
        ns: &str,
        f: &str,
        content_length: u64,
    ) -> ClientResult<SignedUrl> {
        self.json(
            Method::POST,
            &format!("/api/v1/namespaces/{ns}/functions/{f}/upload-url"),
            Some(&serde_json::json!({ "content_length": content_length })),
        )
        .await
    }

    /// Send `code` to an upload URL as it says (no bearer token: the URL is the credential).
    /// The deployment waits, `uploaded`, for [`Client::deploy_function`].
    pub async fn put_to_upload_url(
        &self,
        url: &SignedUrl,
        code: impl Into<reqwest::Body>,
    ) -> ClientResult<Deployment> {
        let method = Method::from_bytes(url.method.as_bytes())
            .map_err(|_| ClientError::Decode(format!("`{}` is not a method", url.method)))?;
        let mut builder = self.http.request(method, &url.url);
        for (name, value) in &url.headers {
            builder = builder.header(name, value);
        }
        self.send(builder.body(code)).await
    }

    /// A URL that serves a deployment's code (by default the active one) without a token.
    pub async fn create_download_url(
        &self,
        ns: &str,
        f: &str,
        deployment: Option<&str>,
    ) -> ClientResult<SignedUrl> {
        self.json(
            Method::POST,
            &format!("/api/v1/namespaces/{ns}/functions/{f}/download-url"),
            Some(&serde_json::json!({ "deployment": deployment })),
        )
        .await
    }

    /// Fetch a download URL's bytes (no bearer token).
    pub async fn download(&self, url: &SignedUrl) -> ClientResult<bytes::Bytes> {
        let response = self.execute(self.http.get(&url.url)).await?;
        Ok(response.bytes().await?)
    }

    /// Build and activate the function's newest `uploaded` deployment, or with none, its
    /// current code again; returns the deployment queued.
    pub async fn deploy_function(&self, ns: &str, f: &str) -> ClientResult<Deployment> {
        self.json(
            Method::POST,
            &format!("/api/v1/namespaces/{ns}/functions/{f}/deploy"),
            None::<&()>,
        )
        .await
    }

    /// Poll a deployment until its build is over.
    pub async fn wait_for_build(
        &self,
        ns: &str,
        f: &str,
        id: &str,
        timeout: Duration,
    ) -> ClientResult<Deployment> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut pause = Duration::from_millis(20);
        loop {
            let deployment = self.get_deployment(ns, f, id).await?;
            if matches!(
                deployment.status,
                DeploymentStatus::Ready | DeploymentStatus::Failed
            ) {
                return Ok(deployment);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ClientError::Timeout(format!(
                    "the build of {id} did not finish within {} s",
                    timeout.as_secs()
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }

    pub async fn create_execution(
        &self,
        ns: &str,
        f: &str,
        input: &serde_json::Value,
    ) -> ClientResult<Execution> {
        self.json(
            Method::POST,
            &format!("/api/v1/namespaces/{ns}/functions/{f}/executions"),
            Some(input),
        )
        .await
    }

    pub async fn list_executions(
        &self,
        ns: &str,
        f: &str,
        query: &[(&str, &str)],
    ) -> ClientResult<Page<Execution>> {
        self.send(
            self.request(
                Method::GET,
                &format!("/api/v1/namespaces/{ns}/functions/{f}/executions"),
            )
            .query(query),
        )
        .await
    }

    pub async fn get_execution(&self, ns: &str, f: &str, id: &str) -> ClientResult<Execution> {
        self.json(
            Method::GET,
            &format!("/api/v1/namespaces/{ns}/functions/{f}/executions/{id}"),
            None::<&()>,
        )
        .await
    }

    /// An execution of any function of namespace `ns`, by its id alone.
    pub async fn find_execution(&self, ns: &str, id: &str) -> ClientResult<Execution> {
        self.json(
            Method::GET,
            &format!("/api/v1/namespaces/{ns}/executions/{id}"),
            None::<&()>,
        )
        .await
    }

    /// Delete a finished execution's record.
    pub async fn delete_execution(&self, ns: &str, f: &str, id: &str) -> ClientResult<()> {
        self.execute(self.request(
            Method::DELETE,
            &format!("/api/v1/namespaces/{ns}/functions/{f}/executions/{id}"),
        ))
        .await?;
        Ok(())
    }

    /// Queue an async execution (`async: true` is set here); `idempotency_key` makes a repeat
    /// return the first execution.
    pub async fn submit_execution(
        &self,
        ns: &str,
        f: &str,
        input: &serde_json::Value,
        idempotency_key: Option<&str>,
    ) -> ClientResult<Execution> {
        let mut input = input.clone();
        input["async"] = serde_json::Value::Bool(true);
        let mut builder = self
            .request(
                Method::POST,
                &format!("/api/v1/namespaces/{ns}/functions/{f}/executions"),
            )
            .json(&input);
        if let Some(key) = idempotency_key {
            builder = builder.header("idempotency-key", key);
        }
        self.send(builder).await
    }

    /// Run an execution's request again, as a new async execution.
    pub async fn replay_execution(&self, ns: &str, f: &str, id: &str) -> ClientResult<Execution> {
        self.json(
            Method::POST,
            &format!("/api/v1/namespaces/{ns}/functions/{f}/executions/{id}/replay"),
            None::<&()>,
        )
        .await
    }

    /// Replay up to `limit` of a function's dead letters, newest first; returns the replays.
    pub async fn replay_dead_letters(
        &self,
        ns: &str,
        f: &str,
        limit: u32,
    ) -> ClientResult<Vec<Execution>> {
        #[derive(serde::Deserialize)]
        struct Replayed {
            replays: Vec<Execution>,
        }
        let replayed: Replayed = self
            .json(
                Method::POST,
                &format!("/api/v1/namespaces/{ns}/functions/{f}/dead-letters/replay?limit={limit}"),
                None::<&()>,
            )
            .await?;
        Ok(replayed.replays)
    }

    /// Poll an execution until it has ended for good (not queued, not running).
    pub async fn wait_for_execution(
        &self,
        ns: &str,
        f: &str,
        id: &str,
        timeout: Duration,
    ) -> ClientResult<Execution> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let execution = self.get_execution(ns, f, id).await?;
            if !matches!(
                execution.status,
                ExecutionStatus::Queued | ExecutionStatus::Running
            ) {
                return Ok(execution);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ClientError::Timeout(format!(
                    "execution {id} was still {} after {} s",
                    execution.status.as_str(),
                    timeout.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn create_trigger(
        &self,
        ns: &str,
        f: &str,
        spec: &serde_json::Value,
    ) -> ClientResult<FunctionTrigger> {
        self.json(
            Method::POST,
            &format!("/api/v1/namespaces/{ns}/functions/{f}/triggers"),
            Some(spec),
        )
        .await
    }

    pub async fn get_trigger(&self, ns: &str, f: &str, id: &str) -> ClientResult<FunctionTrigger> {
        self.json(
            Method::GET,
            &format!("/api/v1/namespaces/{ns}/functions/{f}/triggers/{id}"),
            None::<&()>,
        )
        .await
    }

    pub async fn update_trigger(
        &self,
        ns: &str,
        f: &str,
        id: &str,
        patch: &serde_json::Value,
    ) -> ClientResult<FunctionTrigger> {
        self.json(
            Method::PATCH,
            &format!("/api/v1/namespaces/{ns}/functions/{f}/triggers/{id}"),
            Some(patch),
        )
        .await
    }

    pub async fn list_triggers(&self, ns: &str, f: &str) -> ClientResult<Page<FunctionTrigger>> {
        self.json(
            Method::GET,
            &format!("/api/v1/namespaces/{ns}/functions/{f}/triggers"),
            None::<&()>,
        )
        .await
    }

    pub async fn delete_trigger(&self, ns: &str, f: &str, id: &str) -> ClientResult<()> {
        self.execute(self.request(
            Method::DELETE,
            &format!("/api/v1/namespaces/{ns}/functions/{f}/triggers/{id}"),
        ))
        .await?;
        Ok(())
    }

    /// Add a custom domain: requests whose host is `hostname` run the function.
    pub async fn create_domain(&self, ns: &str, f: &str, hostname: &str) -> ClientResult<Domain> {
        self.json(
            Method::POST,
            &format!("/api/v1/namespaces/{ns}/functions/{f}/domains"),
            Some(&serde_json::json!({ "hostname": hostname })),
        )
        .await
    }

    /// `query`: extra list parameters such as `("limit", "10")`.
    pub async fn list_domains(
        &self,
        ns: &str,
        f: &str,
        query: &[(&str, &str)],
    ) -> ClientResult<Page<Domain>> {
        self.send(
            self.request(
                Method::GET,
                &format!("/api/v1/namespaces/{ns}/functions/{f}/domains"),
            )
            .query(query),
        )
        .await
    }

    pub async fn get_domain(&self, ns: &str, f: &str, id: &str) -> ClientResult<Domain> {
        self.json(
            Method::GET,
            &format!("/api/v1/namespaces/{ns}/functions/{f}/domains/{id}"),
            None::<&()>,
        )
        .await
    }

    pub async fn delete_domain(&self, ns: &str, f: &str, id: &str) -> ClientResult<()> {
        self.execute(self.request(
            Method::DELETE,
            &format!("/api/v1/namespaces/{ns}/functions/{f}/domains/{id}"),
        ))
        .await?;
        Ok(())
    }

    /// Start `delta` warm workers (positive) or stop `-delta` idle ones (negative); the answer
    /// is `{started, stopped, instances}`.
    pub async fn scale_instances(
        &self,
        ns: &str,
        f: &str,
        delta: i32,
        version: Option<u32>,
    ) -> ClientResult<serde_json::Value> {
        self.json(
            Method::POST,
            &format!("/api/v1/namespaces/{ns}/functions/{f}/instances/scale"),
            Some(&serde_json::json!({ "count": delta, "version": version })),
        )
        .await
    }

    /// Add a webhook to function `f`; POSTs to its `url` start async executions of it.
    pub async fn create_webhook(
        &self,
        ns: &str,
        f: &str,
        description: Option<&str>,
    ) -> ClientResult<Webhook> {
        self.json(
            Method::POST,
            &format!("/api/v1/namespaces/{ns}/webhooks"),
            Some(&serde_json::json!({ "function": f, "description": description })),
        )
        .await
    }

    /// The webhooks of a namespace, or of one function of it.
    pub async fn list_webhooks(&self, ns: &str, f: Option<&str>) -> ClientResult<Page<Webhook>> {
        let limit = gust_core::list::MAX_LIMIT.to_string();
        let mut query = vec![("limit", limit.as_str())];
        if let Some(f) = f {
            query.push(("function", f));
        }
        self.send(
            self.request(Method::GET, &format!("/api/v1/namespaces/{ns}/webhooks"))
                .query(&query),
        )
        .await
    }

    pub async fn get_webhook(&self, ns: &str, id: &str) -> ClientResult<Webhook> {
        self.json(
            Method::GET,
            &format!("/api/v1/namespaces/{ns}/webhooks/{id}"),
            None::<&()>,
        )
        .await
    }

    /// `patch`: `{"description": ..., "function": ...}`.
    pub async fn update_webhook(
        &self,
        ns: &str,
        id: &str,
        patch: &serde_json::Value,
    ) -> ClientResult<Webhook> {
        self.json(
            Method::PATCH,
            &format!("/api/v1/namespaces/{ns}/webhooks/{id}"),
            Some(patch),
        )
        .await
    }

    pub async fn delete_webhook(&self, ns: &str, id: &str) -> ClientResult<()> {
        self.execute(self.request(
            Method::DELETE,
            &format!("/api/v1/namespaces/{ns}/webhooks/{id}"),
        ))
        .await?;
        Ok(())
    }

    /// A function's chart over the last hour, day or week.
    pub async fn function_metrics(
        &self,
        ns: &str,
        f: &str,
        window: MetricsWindow,
    ) -> ClientResult<FunctionMetrics> {
        self.send(
            self.request(
                Method::GET,
                &format!("/api/v1/namespaces/{ns}/functions/{f}/metrics"),
            )
            .query(&[("window", window)]),
        )
        .await
    }

    /// Requests and errors of each function of a namespace over the last `since_s` seconds.
    pub async fn namespace_activity(
        &self,
        ns: &str,
        since_s: u32,
    ) -> ClientResult<Vec<FunctionActivity>> {
        self.send(
            self.request(Method::GET, &format!("/api/v1/namespaces/{ns}/activity"))
                .query(&[("since_s", since_s)]),
        )
        .await
    }

    /// When a cron schedule fires next (`count` times), read in `timezone` (UTC when `None`).
    pub async fn next_fire_times(
        &self,
        schedule: &str,
        timezone: Option<&str>,
        count: u32,
    ) -> ClientResult<Vec<chrono::DateTime<chrono::Utc>>> {
        let count = count.to_string();
        let mut query = vec![("schedule", schedule), ("count", &count)];
        if let Some(timezone) = timezone {
            query.push(("timezone", timezone));
        }
        #[derive(serde::Deserialize)]
        struct FireTimes {
            times: Vec<chrono::DateTime<chrono::Utc>>,
        }
        let answer: FireTimes = self
            .send(
                self.request(Method::GET, "/api/v1/schedules/next")
                    .query(&query),
            )
            .await?;
        Ok(answer.times)
    }

    /// A function's saved test requests, by name.
    pub async fn list_test_requests(&self, ns: &str, f: &str) -> ClientResult<Vec<TestRequest>> {
        self.json(
            Method::GET,
            &format!("/api/v1/namespaces/{ns}/functions/{f}/test-requests"),
            None::<&()>,
        )
        .await
    }

    pub async fn get_test_request(
        &self,
        ns: &str,
        f: &str,
        name: &str,
    ) -> ClientResult<TestRequest> {
        self.json(
            Method::GET,
            &format!("/api/v1/namespaces/{ns}/functions/{f}/test-requests/{name}"),
            None::<&()>,
        )
        .await
    }

    /// Save a test request under `name`, creating or replacing it.
    pub async fn put_test_request(
        &self,
        ns: &str,
        f: &str,
        name: &str,
        spec: &TestRequestSpec,
    ) -> ClientResult<TestRequest> {
        self.json(
            Method::PUT,
            &format!("/api/v1/namespaces/{ns}/functions/{f}/test-requests/{name}"),
            Some(spec),
        )
        .await
    }

    pub async fn delete_test_request(&self, ns: &str, f: &str, name: &str) -> ClientResult<()> {
        self.execute(self.request(
            Method::DELETE,
            &format!("/api/v1/namespaces/{ns}/functions/{f}/test-requests/{name}"),
        ))
        .await?;
        Ok(())
    }

    /// Invoke `f` with a saved test request's method, path, headers and body; any status is
    /// returned, not turned into an error.
    pub async fn run_test_request(
        &self,
        ns: &str,
        f: &str,
        request: &TestRequest,
    ) -> ClientResult<reqwest::Response> {
        let method = Method::from_bytes(request.method.as_bytes())
            .map_err(|e| ClientError::Decode(format!("method `{}`: {e}", request.method)))?;
        let mut builder = self
            .request(method, &format!("/fn/{ns}/{f}{}", request.path))
            .body(request.body.clone());
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        builder.send().await.map_err(|e| self.transport_error(e))
    }

    /// Publish a custom event; the answer lists the executions it started.
    pub async fn publish_event(
        &self,
        ns: &str,
        name: &str,
        payload: &serde_json::Value,
    ) -> ClientResult<serde_json::Value> {
        self.json(
            Method::POST,
            &format!("/api/v1/namespaces/{ns}/events"),
            Some(&serde_json::json!({ "name": name, "payload": payload })),
        )
        .await
    }

    /// Read a server-sent event stream at `path` (with `query`), calling `on_event` for each
    /// event until it returns `false` or the stream ends.
    pub async fn follow(
        &self,
        path: &str,
        query: &[(&str, &str)],
        mut on_event: impl FnMut(SseEvent) -> bool,
    ) -> ClientResult<()> {
        use futures_util::StreamExt as _;
        let response = self
            .execute(
                self.request(Method::GET, path)
                    .query(query)
                    .header("accept", "text/event-stream"),
            )
            .await?;
        let mut stream = response.bytes_stream();
        let mut parser = SseParser::default();
        while let Some(chunk) = stream.next().await {
            for event in parser.push(&chunk?) {
                if !on_event(event) {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    pub async fn create_token(&self, spec: &serde_json::Value) -> ClientResult<Token> {
        self.json(Method::POST, "/api/v1/tokens", Some(spec)).await
    }

    pub async fn list_tokens(&self) -> ClientResult<Page<Token>> {
        self.json(Method::GET, "/api/v1/tokens", None::<&()>).await
    }

    pub async fn get_token(&self, id: &str) -> ClientResult<Token> {
        self.json(Method::GET, &format!("/api/v1/tokens/{id}"), None::<&()>)
            .await
    }

    /// Reseal every secret under a new master key: `{key_id, retired, resealed}`.
    pub async fn rotate_key(&self) -> ClientResult<serde_json::Value> {
        self.json(Method::POST, "/api/v1/admin/rotate-key", None::<&()>)
            .await
    }

    /// `query`: `("resource_kind", "function")`, `("resource_id", …)`, `("token_id", …)`,
    /// `("limit", …)`, `("cursor", …)`.
    pub async fn list_audit(&self, query: &[(&str, &str)]) -> ClientResult<Page<AuditEntry>> {
        self.send(self.request(Method::GET, "/api/v1/audit").query(query))
            .await
    }

    /// The servers sharing the store that are alive now, by id.
    pub async fn list_nodes(&self) -> ClientResult<Vec<gust_core::Node>> {
        self.json(Method::GET, "/api/v1/nodes", None::<&()>).await
    }

    pub async fn delete_token(&self, id: &str) -> ClientResult<()> {
        self.execute(self.request(Method::DELETE, &format!("/api/v1/tokens/{id}")))
            .await?;
        Ok(())
    }

    /// Snapshot the function's active deployment and configuration as its next version.
    pub async fn create_version(
        &self,
        ns: &str,
        f: &str,
        spec: &VersionSpec,
    ) -> ClientResult<FunctionVersion> {
        self.json(
            Method::POST,
            &format!("/api/v1/namespaces/{ns}/functions/{f}/versions"),
            Some(spec),
        )
        .await
    }

    pub async fn list_versions(&self, ns: &str, f: &str) -> ClientResult<Page<FunctionVersion>> {
        self.json(
            Method::GET,
            &format!("/api/v1/namespaces/{ns}/functions/{f}/versions"),
            None::<&()>,
        )
        .await
    }

    pub async fn get_version(
        &self,
        ns: &str,
        f: &str,
        number: u32,
    ) -> ClientResult<FunctionVersion> {
        self.json(
            Method::GET,
            &format!("/api/v1/namespaces/{ns}/functions/{f}/versions/{number}"),
            None::<&()>,
        )
        .await
    }

    pub async fn delete_version(&self, ns: &str, f: &str, number: u32) -> ClientResult<()> {
        self.execute(self.request(
            Method::DELETE,
            &format!("/api/v1/namespaces/{ns}/functions/{f}/versions/{number}"),
        ))
        .await?;
        Ok(())
    }

    /// A version's package, byte for byte as uploaded.
    pub async fn version_code(&self, ns: &str, f: &str, number: u32) -> ClientResult<bytes::Bytes> {
        let response = self
            .execute(self.request(
                Method::GET,
                &format!("/api/v1/namespaces/{ns}/functions/{f}/versions/{number}/code"),
            ))
            .await?;
        Ok(response.bytes().await?)
    }

    /// The live workers of a function, or of one of its versions.
    pub async fn list_instances(
        &self,
        ns: &str,
        f: &str,
        version: Option<u32>,
    ) -> ClientResult<serde_json::Value> {
        let mut builder = self.request(
            Method::GET,
            &format!("/api/v1/namespaces/{ns}/functions/{f}/instances"),
        );
        if let Some(version) = version {
            builder = builder.query(&[("version", version)]);
        }
        self.send(builder).await
    }

    /// Stop the workers of a function, or of one of its versions; answers how many stopped.
    pub async fn detach_instances(
        &self,
        ns: &str,
        f: &str,
        version: Option<u32>,
    ) -> ClientResult<serde_json::Value> {
        let mut builder = self.request(
            Method::DELETE,
            &format!("/api/v1/namespaces/{ns}/functions/{f}/instances"),
        );
        if let Some(version) = version {
            builder = builder.query(&[("version", version)]);
        }
        self.send(builder).await
    }

    pub async fn create_alias(&self, ns: &str, spec: &AliasSpec) -> ClientResult<Alias> {
        self.json(
            Method::POST,
            &format!("/api/v1/namespaces/{ns}/aliases"),
            Some(spec),
        )
        .await
    }

    /// The aliases of a namespace, or of one function.
    pub async fn list_aliases(
        &self,
        ns: &str,
        function: Option<&str>,
    ) -> ClientResult<Page<Alias>> {
        let limit = gust_core::list::MAX_LIMIT.to_string();
        let mut query = vec![("limit", limit.as_str())];
        if let Some(function) = function {
            query.push(("function", function));
        }
        self.send(
            self.request(Method::GET, &format!("/api/v1/namespaces/{ns}/aliases"))
                .query(&query),
        )
        .await
    }

    pub async fn get_alias(&self, ns: &str, name: &str) -> ClientResult<Alias> {
        self.json(
            Method::GET,
            &format!("/api/v1/namespaces/{ns}/aliases/{name}"),
            None::<&()>,
        )
        .await
    }

    pub async fn update_alias(
        &self,
        ns: &str,
        name: &str,
        patch: &AliasPatch,
    ) -> ClientResult<Alias> {
        self.json(
            Method::PATCH,
            &format!("/api/v1/namespaces/{ns}/aliases/{name}"),
            Some(patch),
        )
        .await
    }

    pub async fn delete_alias(&self, ns: &str, name: &str) -> ClientResult<()> {
        self.execute(self.request(
            Method::DELETE,
            &format!("/api/v1/namespaces/{ns}/aliases/{name}"),
        ))
        .await?;
        Ok(())
    }

    /// Invoke over HTTP (`/fn/{ns}/{f}{path}`; `f` may be `name:version` or `name:alias`); any
    /// status is returned, not turned into an error.
    pub async fn invoke(
        &self,
        method: Method,
        ns: &str,
        f: &str,
        path: &str,
        body: Vec<u8>,
    ) -> ClientResult<reqwest::Response> {
        let path = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        let builder = self
            .request(method, &format!("/fn/{ns}/{f}{path}"))
            .body(body);
        builder.send().await.map_err(|e| self.transport_error(e))
    }
}

/// One server-sent event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SseEvent {
    /// The `event:` field (`message` when absent).
    pub event: String,
    /// The `data:` lines, joined with newlines.
    pub data: String,
}

/// Splits a byte stream into server-sent events (comments and keep-alives are skipped).
#[derive(Default)]
struct SseParser {
    pending: Vec<u8>,
    event: Option<String>,
    data: Vec<String>,
}

impl SseParser {
    fn push(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        self.pending.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if !self.data.is_empty() || self.event.is_some() {
                    events.push(SseEvent {
                        event: self.event.take().unwrap_or_else(|| "message".into()),
                        data: std::mem::take(&mut self.data).join("\n"),
                    });
                }
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => self.event = Some(value.to_string()),
                "data" => self.data.push(value.to_string()),
                _ => {}
            }
        }
        events
    }
}

async fn api_error(response: reqwest::Response) -> ClientError {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    #[derive(serde::Deserialize)]
    struct Envelope {
        error: Detail,
    }
    #[derive(serde::Deserialize)]
    struct Detail {
        code: String,
        message: String,
        field: Option<String>,
    }
    match serde_json::from_str::<Envelope>(&text) {
        Ok(Envelope { error }) => ClientError::Api {
            status,
            code: error.code,
            message: error.message,
            field: error.field,
        },
        Err(_) => ClientError::Api {
            status,
            code: "http".into(),
            message: if text.is_empty() {
                format!("the server answered {status}")
            } else {
                text
            },
            field: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_split_across_chunks() {
        let mut parser = SseParser::default();
        assert!(parser.push(b"event: stdout\ndata: one\nda").is_empty());
        let events = parser.push(b"ta: two\n\n: keep-alive\n\ndata: x\n\n");
        assert_eq!(
            events,
            [
                SseEvent {
                    event: "stdout".into(),
                    data: "one\ntwo".into()
                },
                SseEvent {
                    event: "message".into(),
                    data: "x".into()
                }
            ]
        );
    }
}
