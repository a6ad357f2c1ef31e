//! The async execution queue. The store holds every queued execution (that is what makes a 202
//! durable); this dispatcher holds them in memory too, per function, with their due times, and
//! starts them as capacity frees up: at most `max_scale × concurrency` per function and
//! `GUST_ASYNC_WORKERS` in all.
//!
//! One task owns the queue; everything else talks to it through [`Queue`]. A run is a task of
//! its own: it marks the execution `running`, runs it like an API execution, then records it
//! `completed`, or `queued` again with a backoff delay, or — attempts exhausted — `failed` as a
//! dead letter. At start, executions a crash left `running` go back to `queued` and the queue
//! is read back from the store: every accepted execution runs at least once (`attempts` tells
//! how many times it started).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Utc};
use gust_core::{Execution, ExecutionStatus};
use tokio::sync::mpsc;

use crate::invoke::{RunRequest, run_to_end};
use crate::jobs::Jobs;
use crate::jobs::events::Change;

/// Header telling an async run which attempt it is (1 for the first).
pub const ATTEMPT_HEADER: &str = "x-gust-attempt";

enum Command {
    Enqueue(Box<Execution>),
    /// A run ended; `retry` is the execution when it goes back in the queue.
    Finished {
        function_id: String,
        id: String,
        retry: Option<Box<Execution>>,
    },
    /// Queued executions per function held in memory, or `None` when some are only in the
    /// store (memory overflowed) and the store must count.
    Depths(tokio::sync::oneshot::Sender<Option<Vec<(String, usize)>>>),
    /// Stop starting runs; answer once the running ones have ended.
    Drain(tokio::sync::oneshot::Sender<()>),
    /// Take over what gone nodes held (a shared store only), as capacity allows.
    Claim,
}

#[derive(Clone)]
pub struct Queue {
    /// Unbounded: an enqueue never waits, and each entry is already safe in the store.
    tx: mpsc::UnboundedSender<Command>,
    /// Executions running now (read by metrics without asking the dispatcher).
    running: Arc<AtomicUsize>,
    /// Executions waiting in memory (read by the heartbeat without asking the dispatcher).
    held: Arc<AtomicUsize>,
}

impl Queue {
    pub fn channel() -> (Self, QueueReceiver) {
        let (tx, rx) = mpsc::unbounded_channel();
        let running = Arc::new(AtomicUsize::new(0));
        let held = Arc::new(AtomicUsize::new(0));
        (
            Self {
                tx,
                running: running.clone(),
                held: held.clone(),
            },
            QueueReceiver { rx, running, held },
        )
    }

    /// Executions waiting in this node's memory (ready or delayed).
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// Queue an execution already stored as `queued`.
    pub fn enqueue(&self, execution: Execution) {
        let _ = self.tx.send(Command::Enqueue(Box::new(execution)));
    }

    pub fn running(&self) -> usize {
        self.running.load(Ordering::Relaxed)
    }

    /// Queued executions per function id.
    pub async fn depths(&self, store: &dyn gust_store::Store) -> Vec<(String, usize)> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let _ = self.tx.send(Command::Depths(tx));
        match rx.await {
            Ok(Some(in_memory)) => in_memory,
            Ok(None) => store.queued_counts().await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "counting queued executions failed");
                Vec::new()
            }),
            Err(_) => Vec::new(),
        }
    }

    /// Stop starting executions and wait for the running ones (shutdown). Those that do not
    /// end in time stay `running` in the store and run again after the next start.
    pub async fn drain(&self, grace: std::time::Duration) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let _ = self.tx.send(Command::Drain(tx));
        let _ = tokio::time::timeout(grace, rx).await;
    }
}

/// The dispatcher's end of the channel, handed to [`start`] once the state exists.
pub struct QueueReceiver {
    rx: mpsc::UnboundedReceiver<Command>,
    running: Arc<AtomicUsize>,
    held: Arc<AtomicUsize>,
}

/// Re-queue what a crash interrupted, load the queue from the store and start dispatching.
/// On a store shared with other nodes, only what this node holds: the others' runs are
/// theirs, and what a gone node held is claimed once its lease has run out.
pub async fn start(jobs: Jobs, receiver: QueueReceiver) -> anyhow::Result<()> {
    let owner = jobs.store.shared().then(|| jobs.node.to_string());
    let requeued = jobs
        .store
        .requeue_running(gust_core::now(), owner.as_deref())
        .await?;
    if requeued > 0 {
        tracing::warn!(
            count = requeued,
            "async executions were running when the server stopped; they run again"
        );
    }
    if jobs.config.workers == 0 {
        tracing::warn!(
            "GUST_ASYNC_WORKERS=0: async executions are accepted and stored, but this server runs none"
        );
    }
    if owner.is_some() {
        // Claims come at the pace of heartbeats: a gone node is noticed within a lease and
        // a third of one.
        let tx = jobs.queue.tx.clone();
        let every = jobs.config.heartbeat_every();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if tx.send(Command::Claim).is_err() {
                    return;
                }
            }
        });
    }
    let mut dispatcher = Dispatcher {
        memory_limit: jobs.config.memory_queue,
        workers: jobs.config.workers,
        running_total: receiver.running.clone(),
        held_total: receiver.held.clone(),
        owner,
        jobs,
        functions: HashMap::new(),
        pending: VecDeque::new(),
        delayed: BinaryHeap::new(),
        known: HashSet::new(),
        delayed_executions: HashMap::new(),
        in_memory: 0,
        spilled: false,
        reload_after: None,
        draining: false,
        drained: None,
    };
    dispatcher.load_from_store().await;
    tokio::spawn(dispatcher.run(receiver.rx));
    Ok(())
}

#[derive(Default)]
struct FunctionQueue {
    namespace_id: String,
    ready: VecDeque<Execution>,
    running: usize,
    /// Listed in `pending` (has ready work).
    listed: bool,
}

struct Dispatcher {
    jobs: Jobs,
    functions: HashMap<String, FunctionQueue>,
    /// Functions with ready executions, served round-robin.
    pending: VecDeque<String>,
    /// Due times of executions waiting for a retry, earliest first.
    delayed: BinaryHeap<Reverse<(DateTime<Utc>, String)>>,
    /// Those executions, by id.
    delayed_executions: HashMap<String, Execution>,
    /// Every execution in memory (ready, delayed or running), so a read-back from the store
    /// does not queue one twice.
    known: HashSet<String>,
    /// Ready and delayed executions held in memory.
    in_memory: usize,
    memory_limit: usize,
    /// Some queued executions are only in the store (memory was full): read them back as
    /// the queue drains.
    spilled: bool,
    /// Every execution queued in the store with an id up to this one has been read into
    /// memory (`None`: read from the start).
    reload_after: Option<String>,
    workers: usize,
    running_total: Arc<AtomicUsize>,
    held_total: Arc<AtomicUsize>,
    /// This node, when the store is shared: it reads back only what it holds.
    owner: Option<String>,
    /// Shutting down: start nothing new.
    draining: bool,
    /// Told when the last run ends while draining.
    drained: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Dispatcher {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>) {
        loop {
            self.promote_due();
            if !self.draining {
                self.dispatch();
            }
            if self.spilled && self.in_memory < self.memory_limit / 2 {
                self.load_from_store().await;
            }
            self.held_total.store(self.in_memory, Ordering::Relaxed);
            let next_due = self.delayed.peek().map(|Reverse((at, _))| *at);
            let command = match next_due {
                Some(at) => {
                    let wait = (at - gust_core::now()).to_std().unwrap_or_default();
                    match tokio::time::timeout(wait, rx.recv()).await {
                        Ok(command) => command,
                        Err(_) => continue, // a retry came due
                    }
                }
                None => rx.recv().await,
            };
            let Some(command) = command else { return };
            match command {
                Command::Enqueue(execution) => self.admit(*execution),
                Command::Finished {
                    function_id,
                    id,
                    retry,
                } => {
                    self.known.remove(&id);
                    self.running_total.fetch_sub(1, Ordering::Relaxed);
                    if let Some(queue) = self.functions.get_mut(&function_id) {
                        queue.running -= 1;
                        self.list(&function_id);
                    }
                    // A retry was in memory while it ran: keep it there. Spilled to the store, it
                    // could be missed by a read-back that runs before its record commits.
                    if let Some(execution) = retry {
                        self.hold(*execution);
                    }
                    if self.running_total.load(Ordering::Relaxed) == 0
                        && let Some(done) = self.drained.take()
                    {
                        let _ = done.send(());
                    }
                }
                Command::Depths(reply) if self.spilled => {
                    let _ = reply.send(None);
                }
                Command::Depths(reply) => {
                    let mut depths: HashMap<String, usize> = self
                        .functions
                        .iter()
                        .map(|(id, q)| (id.clone(), q.ready.len()))
                        .collect();
                    for e in self.delayed_executions.values() {
                        *depths.entry(e.function_id.clone()).or_default() += 1;
                    }
                    let _ = reply.send(Some(depths.into_iter().collect()));
                }
                Command::Claim => self.claim().await,
                Command::Drain(done) => {
                    self.draining = true;
                    if self.running_total.load(Ordering::Relaxed) == 0 {
                        let _ = done.send(());
                    } else {
                        self.drained = Some(done);
                    }
                }
            }
        }
    }

    /// Take an execution into memory: ready now, or delayed until its `run_after`.
    fn admit(&mut self, execution: Execution) {
        if self.known.contains(&execution.id) {
            return;
        }
        if self.in_memory >= self.memory_limit {
            // It is safe in the store; it comes back when the queue has drained. The read-back
            // resumes past `reload_after`: should this one sort before that (a replay, a race
            // with an earlier read), the next read-back starts over from the beginning.
            self.spilled = true;
            if self
                .reload_after
                .as_deref()
                .is_some_and(|after| execution.id.as_str() <= after)
            {
                self.reload_after = None;
            }
            return;
        }
        self.hold(execution);
    }

    /// Keep an execution in memory, past the limit if need be.
    fn hold(&mut self, execution: Execution) {
        self.known.insert(execution.id.clone());
        self.in_memory += 1;
        match execution.run_after {
            Some(at) if at > gust_core::now() => {
                self.delayed.push(Reverse((at, execution.id.clone())));
                self.delayed_executions
                    .insert(execution.id.clone(), execution);
            }
            _ => self.make_ready(execution),
        }
    }

    fn make_ready(&mut self, execution: Execution) {
        let function_id = execution.function_id.clone();
        let queue = self.functions.entry(function_id.clone()).or_default();
        queue.namespace_id.clone_from(&execution.namespace_id);
        queue.ready.push_back(execution);
        self.list(&function_id);
    }

    fn promote_due(&mut self) {
        let now = gust_core::now();
        while let Some(Reverse((at, _))) = self.delayed.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((_, id))) = self.delayed.pop() else {
                break;
            };
            if let Some(execution) = self.delayed_executions.remove(&id) {
                self.make_ready(execution);
            }
        }
    }

    /// Put a function on the round-robin list if it has ready work.
    fn list(&mut self, function_id: &str) {
        if let Some(queue) = self.functions.get_mut(function_id)
            && !queue.listed
            && !queue.ready.is_empty()
        {
            queue.listed = true;
            self.pending.push_back(function_id.to_string());
        }
    }

    /// Start what capacity allows, one execution per function per turn.
    fn dispatch(&mut self) {
        while !self.pending.is_empty() && self.running_total.load(Ordering::Relaxed) < self.workers
        {
            let Some(function_id) = self.pending.pop_front() else {
                break;
            };
            let Some(queue) = self.functions.get_mut(&function_id) else {
                continue;
            };
            let cap = function_cap(&self.jobs, &queue.namespace_id, &function_id);
            if queue.running >= cap {
                // Full: it is listed again when one of its runs ends.
                queue.listed = false;
                continue;
            }
            let Some(execution) = queue.ready.pop_front() else {
                queue.listed = false;
                continue;
            };
            queue.running += 1;
            self.in_memory -= 1;
            self.running_total.fetch_add(1, Ordering::Relaxed);
            if queue.ready.is_empty() {
                queue.listed = false;
            } else {
                self.pending.push_back(function_id);
            }
            tokio::spawn(run(self.jobs.clone(), execution));
        }
        // Drop emptied functions so the map does not grow with every function ever queued.
        if self.functions.len() > 1024 {
            self.functions
                .retain(|_, q| !q.ready.is_empty() || q.running > 0);
        }
    }

    /// Read queued executions back from the store (at start, and after memory overflowed).
    async fn load_from_store(&mut self) {
        const PAGE: u32 = 1000;
        // Ids grow with time, and everything queued up to `reload_after` has been read: start
        // past it, so each read-back reads only what spilled, not the whole queue again.
        let mut after = self.reload_after.clone();
        self.spilled = false;
        loop {
            let page = match self
                .jobs
                .store
                .queued_executions(self.owner.as_deref(), after.as_deref(), PAGE)
                .await
            {
                Ok(page) => page,
                Err(e) => {
                    tracing::error!(error = %e, "reading the queue from the store failed");
                    self.spilled = true;
                    return;
                }
            };
            let done = page.len() < PAGE as usize;
            for execution in page {
                if self.in_memory >= self.memory_limit {
                    self.spilled = true;
                    self.reload_after = after;
                    return;
                }
                after = Some(execution.id.clone());
                self.admit(execution);
            }
            if done {
                break;
            }
        }
        self.reload_after = after;
    }
}

impl Dispatcher {
    /// Take over executions no live node holds, up to what this node has room for: a few
    /// rounds of its workers, and what its memory holds. Those past memory stay in the store,
    /// held by this node, and are read back as the queue drains.
    async fn claim(&mut self) {
        let Some(node) = self.owner.clone() else {
            return;
        };
        if self.draining || self.workers == 0 {
            return;
        }
        loop {
            let room = (self.workers * 4)
                .min(self.memory_limit)
                .saturating_sub(self.in_memory + self.running_total.load(Ordering::Relaxed))
                .min(1000);
            if room == 0 {
                return;
            }
            let now = gust_core::now();
            let claimed = match self
                .jobs
                .store
                .claim_executions(
                    &node,
                    crate::cluster::alive_since(self.jobs.config.lease, now),
                    now,
                    room as u32,
                )
                .await
            {
                Ok(claimed) => claimed,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming executions of gone nodes failed");
                    return;
                }
            };
            let full = claimed.len() == room;
            if !claimed.is_empty() {
                tracing::info!(
                    count = claimed.len(),
                    "took over async executions no live node held"
                );
            }
            for execution in claimed {
                self.admit(execution);
            }
            if !full {
                return;
            }
            self.dispatch();
        }
    }
}

/// Runs of one function at once: the same ceiling as its synchronous traffic.
fn function_cap(jobs: &Jobs, namespace_id: &str, function_id: &str) -> usize {
    match jobs.live.get(namespace_id, function_id) {
        Some(live) => (live.function.max_scale * live.function.concurrency).max(1) as usize,
        None => 1,
    }
}

/// One attempt of an async execution, and what follows it.
async fn run(jobs: Jobs, mut execution: Execution) {
    if execution.attempts >= execution.max_attempts.max(1) {
        // Its last attempt started and never ended (its node stopped mid-run): it has had
        // every attempt it may.
        execution.status = ExecutionStatus::Failed;
        execution.dead_letter = true;
        execution.finished_at = Some(gust_core::now());
        execution.run_after = None;
        execution.error_message = Some(format!(
            "gave up after {} attempt{}: the last one was interrupted (its server stopped)",
            execution.attempts,
            if execution.attempts == 1 { "" } else { "s" }
        ));
        jobs.events.execution(&execution, Change::Update);
        let function_id = execution.function_id.clone();
        let id = execution.id.clone();
        jobs.recorder.record(execution);
        let _ = jobs.queue.tx.send(Command::Finished {
            function_id,
            id,
            retry: None,
        });
        return;
    }
    execution.status = ExecutionStatus::Running;
    execution.attempts += 1;
    execution.started_at = Some(gust_core::now());
    execution.run_after = None;
    jobs.recorder.record(execution.clone());

    let live = match execution.function_version {
        None => jobs
            .live
            .get(&execution.namespace_id, &execution.function_id),
        // A version is loaded on its first run; a deleted one fails the attempt.
        Some(number) => jobs
            .live
            .find_version(&execution.namespace_id, &execution.function_id, number)
            .await
            .ok(),
    };
    let request = RunRequest::from_record(&execution.request).map(|mut request| {
        // The function can tell a retry from a first run, and which execution it serves.
        for (name, value) in [
            (ATTEMPT_HEADER, execution.attempts.to_string()),
            (crate::invoke::EXECUTION_ID_HEADER, execution.id.clone()),
        ] {
            if let Ok(value) = http::HeaderValue::from_str(&value) {
                request.headers.insert(name, value);
            }
        }
        request
    });
    let result = match (&live, request) {
        (Some(live), Ok(request)) => run_to_end(
            live,
            execution.id.clone(),
            execution.trigger,
            request,
            |watch| jobs.logs.watch(&execution.id, watch),
        )
        .await
        .map_err(|not_run| not_run.message),
        (None, _) => Err(match execution.function_version {
            None => "the function has no active deployment".to_string(),
            Some(number) => format!("version {number} of the function cannot be run"),
        }),
        (_, Err(why)) => Err(why),
    };
    match result {
        Ok(ran) => {
            execution.deployment_id = ran.deployment_id;
            execution.status = ran.status;
            execution.response = ran.response;
            execution.logs = ran.logs;
            execution.error_message = ran.error_message;
            execution.duration_us = ran.duration_us;
            execution.cold_start = ran.cold_start;
            execution.startup = ran.startup;
        }
        Err(why) => {
            execution.status = ExecutionStatus::Failed;
            execution.error_message = Some(why);
        }
    }
    execution.finished_at = Some(gust_core::now());

    let failed = execution.status != ExecutionStatus::Completed;
    let mut retry = None;
    if failed && execution.attempts < execution.max_attempts {
        let delay = gust_core::execution::retry_delay(
            execution.attempts,
            jobs.config.retry_base,
            jobs.config.retry_cap,
        );
        let at = gust_core::now() + chrono::Duration::from_std(delay).unwrap_or_default();
        let reason = execution.error_message.take().unwrap_or_default();
        execution.error_message = Some(format!(
            "attempt {} of {} failed: {reason}; next attempt at {}",
            execution.attempts,
            execution.max_attempts,
            at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        ));
        execution.status = ExecutionStatus::Queued;
        execution.run_after = Some(at);
        retry = Some(Box::new(execution.clone()));
    } else if failed {
        let reason = execution.error_message.take().unwrap_or_default();
        execution.error_message = Some(format!(
            "gave up after {} attempt{}: {reason}",
            execution.attempts,
            if execution.attempts == 1 { "" } else { "s" }
        ));
        execution.status = ExecutionStatus::Failed;
        execution.dead_letter = true;
    }
    if retry.is_none() {
        jobs.events.execution(&execution, Change::Update);
    }
    let function_id = execution.function_id.clone();
    let id = execution.id.clone();
    jobs.recorder.record(execution);
    // After the record is queued: a follower woken here reads the attempt's final output.
    jobs.logs.unwatch(&id);
    let _ = jobs.queue.tx.send(Command::Finished {
        function_id,
        id,
        retry,
    });
}
