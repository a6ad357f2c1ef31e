//! Work that runs beside requests: async executions and what starts them.
//!
//! - `queue`: accepted executions wait here (durably in the store, due times in memory) and a
//!   dispatcher runs them with a per-function concurrency cap, retrying with backoff.
//! - `triggers`: the cron and event triggers in memory; `scheduler` fires the cron ones;
//!   `events` turns platform and custom events into executions of matching event triggers.
//! - `retention`: prunes finished executions past each function's retention, and chunked
//!   uploads abandoned by their clients.
//!
//! Every path into the queue goes through [`submit`]: an execution is written to the store
//! before anyone is told it was accepted.

pub mod events;
pub mod queue;
pub mod retention;
pub mod scheduler;
pub mod triggers;

use std::sync::Arc;
use std::time::Duration;

use gust_core::{Execution, ExecutionRequest, ExecutionTrigger, Function};
use gust_store::Store;
use http::HeaderMap;

use crate::error::Error;
use crate::invoke::RunRequest;
use crate::live::LiveFunction;
use crate::live::LiveFunctions;
use crate::logs::LiveLogs;
use crate::recorder::Recorder;

/// Header that makes a repeated async submit return the first execution.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// Settings of the background work. Each has a `GUST_*` variable.
#[derive(Debug, Clone)]
pub struct JobsConfig {
    /// Delay before the first retry, doubled per failed attempt (`GUST_RETRY_BASE_MS`; 1 s).
    pub retry_base: Duration,
    /// Longest delay between attempts (`GUST_RETRY_MAX_SECS`; 5 min).
    pub retry_cap: Duration,
    /// Async executions running at once across all functions (`GUST_ASYNC_WORKERS`; 256).
    /// Each function is also capped at `max_scale × concurrency`. 0: this server accepts and
    /// stores async executions but runs none (a later start, or another server, runs them).
    pub workers: usize,
    /// Queued executions held in memory (`GUST_QUEUE_MEMORY`; 100 000); the rest wait in the
    /// store and are read back as the queue drains.
    pub memory_queue: usize,
    /// How often finished executions and abandoned uploads are pruned
    /// (`GUST_RETENTION_INTERVAL_SECS`; 5 min).
    pub retention_interval: Duration,
    /// How long a chunked upload may wait for its next chunk before it is deleted
    /// (`GUST_UPLOAD_EXPIRY_SECS`; 24 h).
    pub upload_expiry: Duration,
    /// The data dir's size ceiling in bytes (`GUST_MAX_DATA_MB`; none): past it the oldest
    /// finished executions are deleted.
    pub max_data_bytes: Option<u64>,
    /// On a database shared with other servers: how long a server's heartbeat holds what it
    /// holds (`GUST_LEASE_SECS`; 15 s). Each beats every third of it; past it, the others
    /// take its async executions over.
    pub lease: Duration,
}

impl JobsConfig {
    /// How often a node beats, and claims what gone nodes held: a third of the lease.
    pub fn heartbeat_every(&self) -> Duration {
        (self.lease / 3).max(Duration::from_secs(1))
    }
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            retry_base: Duration::from_secs(1),
            retry_cap: Duration::from_secs(300),
            workers: 256,
            memory_queue: 100_000,
            retention_interval: Duration::from_secs(300),
            upload_expiry: Duration::from_secs(24 * 60 * 60),
            max_data_bytes: None,
            lease: Duration::from_secs(15),
        }
    }
}

/// The handles background work uses, wired once at start and cloned into each task.
#[derive(Clone)]
pub struct Jobs {
    pub store: Arc<dyn Store>,
    pub live: Arc<LiveFunctions>,
    pub triggers: Arc<triggers::TriggerSet>,
    pub recorder: Recorder,
    pub queue: queue::Queue,
    pub events: events::EventBus,
    pub logs: Arc<LiveLogs>,
    pub config: JobsConfig,
    /// This server's id among those sharing the store.
    pub node: Arc<str>,
}

/// What starts an async execution, besides the function and its request.
#[derive(Debug, Clone)]
pub struct Submission {
    pub trigger: ExecutionTrigger,
    pub request: ExecutionRequest,
    pub idempotency_key: Option<String>,
    /// The trigger (and event) that started it, for the record.
    pub source: Option<String>,
    pub replay_of: Option<String>,
    pub event_depth: u32,
    /// The version to run (`None`: the function's current configuration when it runs).
    pub function_version: Option<u32>,
    /// The alias it was submitted through, for the record.
    pub alias: Option<String>,
}

/// Store a new async execution of `function`, then queue it. Returns the execution and
/// whether it is new (`false`: its idempotency key was seen before; nothing was queued).
pub async fn submit(
    jobs: &Jobs,
    function: &Function,
    submission: Submission,
) -> Result<(Execution, bool), Error> {
    submit_as(jobs, function, submission, gust_core::new_id()).await
}

/// [`submit`] under an id chosen beforehand (a replay names itself on its original first).
pub async fn submit_as(
    jobs: &Jobs,
    function: &Function,
    submission: Submission,
    id: String,
) -> Result<(Execution, bool), Error> {
    let execution = Execution {
        id,
        idempotency_key: submission.idempotency_key,
        source: submission.source,
        replay_of: submission.replay_of,
        event_depth: submission.event_depth,
        function_version: submission.function_version,
        alias: submission.alias,
        ..Execution::queued(function, submission.trigger, submission.request)
    };
    let (stored, is_new) = jobs.recorder.insert(execution).await?;
    if is_new {
        jobs.queue.enqueue(stored.clone());
        jobs.events.execution(&stored, events::Change::Create);
    }
    Ok((stored, is_new))
}

/// The `Idempotency-Key` header, checked.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Error> {
    let Some(value) = headers.get(IDEMPOTENCY_HEADER) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| Error::invalid("Idempotency-Key", "must be visible ASCII"))?;
    gust_core::execution::idempotency_key(text)
        .map_err(|why| Error::invalid("Idempotency-Key", why))?;
    Ok(Some(text.to_string()))
}

/// An async execution, stored and queued.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub execution: Execution,
    /// Where its record can be read: the function's namespace and name, as the caller knows them.
    pub namespace: String,
    pub function: String,
    /// False when an earlier submit with the same idempotency key was returned instead.
    pub is_new: bool,
}

impl Accepted {
    pub fn new(function: &Function, (execution, is_new): (Execution, bool)) -> Self {
        Self {
            execution,
            namespace: function.namespace.clone(),
            function: function.name.clone(),
            is_new,
        }
    }
}

/// `POST /fn/...` with `X-Gust-Async: true`: accept and store.
pub async fn accept_http(
    jobs: &Jobs,
    live: &LiveFunction,
    alias: Option<String>,
    mut request: RunRequest,
) -> Result<Accepted, Error> {
    let idempotency_key = idempotency_key(&request.headers)?;
    // Gust's own headers are instructions to Gust, not part of the function's request.
    request.headers.remove(crate::invoke::ASYNC_HEADER);
    request.headers.remove(IDEMPOTENCY_HEADER);
    let submission = Submission {
        trigger: ExecutionTrigger::Http,
        request: request.to_record(true),
        idempotency_key,
        source: None,
        replay_of: None,
        event_depth: 0,
        function_version: live.version(),
        alias,
    };
    let submitted = submit(jobs, &live.function, submission).await?;
    Ok(Accepted::new(&live.function, submitted))
}
