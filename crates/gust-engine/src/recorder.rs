//! Execution records leave the request path through a channel; one thread writes them to the
//! store in batches (one transaction per batch), so an invocation never waits on SQLite.
//!
//! Two kinds of writes share the channel, so they reach the store in the order they were sent:
//! - `record`: a finished (or progressing) execution, fire and forget; batches linger up to
//!   10 ms to fill. Records arriving meanwhile wait in the channel without waking the writer:
//!   under load it wakes once per batch, not once per record.
//! - `insert`: a new async execution, acknowledged only once its transaction has committed
//!   (the 202 promises durability). Inserts wake the writer and never linger: whoever arrives
//!   while a transaction is being written joins the next one — group commit, so many
//!   concurrent submits share one.
//!
//! After each batch commits, the observer sees it (metrics, events, log followers).
//! `flush` lets a reader see every record sent before it.
//!
//! The writer is a thread, not a task: it writes through the store's synchronous
//! [`ExecutionWriter`], with its own connection, and keeps that work off the runtime's threads.
//! It runs at a lower priority ([`WRITER_NICE`]): records are batched and nobody waits on
//! them, so under load the requests go first and the writer takes the CPU they leave. It
//! cannot fall behind for long: HTTP invocations take one of [`QUEUE`] places before they run
//! ([`Recorder::slot`]) and give it back when the writer takes their record, so a writer that
//! falls behind holds new requests back. Inserts and flushes need no place: they never queue
//! behind requests waiting for one. Their callers wait for them, which bounds them, as the
//! dispatcher's concurrency bounds the records of queued executions.

use std::sync::Arc;
use std::thread::Thread;
use std::time::{Duration, Instant};

use gust_core::{Execution, ExecutionRetention};
use gust_store::{ExecutionWriter, StoreError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use crate::metrics::Metrics;

/// Places for request records: HTTP invocations running or whose records wait for the
/// writer. A burst beyond it slows callers slightly rather than dropping records.
const QUEUE: usize = 16 * 1024;
/// Most executions one transaction writes.
const BATCH: usize = 1024;
/// After the first record of a batch arrives, wait this long for more before writing: under
/// load a transaction then carries hundreds of records instead of one. Inserts and flushes
/// skip the wait.
const LINGER: Duration = Duration::from_millis(10);
/// The writer thread's nice value (the server's own is 0): the lowest, so a request thread that
/// wakes always takes the CPU from it. With a Node hello at 64 connections on two cores:
/// requests/s +5% at nice 10 and +8% at 19 over 0 (medians of 12 alternating rounds).
const WRITER_NICE: i32 = 19;

/// The answer to an insert: the stored execution and whether it is new (`false`: its
/// idempotency key was used before and this is the first execution with it).
pub type Inserted = Result<(Execution, bool), StoreError>;

/// Called with each committed batch of records (not inserts), on the writer's thread.
pub type Observer = Box<dyn Fn(&[Execution]) + Send + Sync>;

enum Message {
    Record(Box<Execution>),
    /// A record assembled on the writer's thread, when it is taken for a batch.
    RecordLater(Box<dyn FnOnce() -> Execution + Send>),
    Insert(Box<Execution>, oneshot::Sender<Inserted>),
    Flush(oneshot::Sender<()>),
    /// A function's executions past its retention, deleted after the batch it rides with.
    Prune(String, ExecutionRetention),
}

/// A message, with the place its record held if it took one (given back when the writer
/// takes the message).
type Queued = (Message, Option<OwnedSemaphorePermit>);

#[derive(Clone)]
pub struct Recorder {
    /// Feeds the writer, in order.
    tx: mpsc::UnboundedSender<Queued>,
    /// The places request records take (see [`slot`](Self::slot)): what bounds the queue's
    /// memory if the disk stalls.
    places: Arc<Semaphore>,
    /// Unparked by whoever must not wait out the linger.
    writer: Thread,
}

impl Recorder {
    /// Starts the writer thread on `writer` (the store's, see
    /// [`Store::execution_writer`](gust_store::Store::execution_writer)).
    pub fn start(
        writer: Box<dyn ExecutionWriter>,
        metrics: Arc<Metrics>,
        observer: Observer,
    ) -> Result<Self, StoreError> {
        Self::with_capacity(writer, metrics, observer, QUEUE)
    }

    fn with_capacity(
        writer: Box<dyn ExecutionWriter>,
        metrics: Arc<Metrics>,
        observer: Observer,
        capacity: usize,
    ) -> Result<Self, StoreError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let thread = std::thread::Builder::new()
            .name("gust-recorder".into())
            .spawn(move || {
                let tid = rustix::thread::gettid();
                if let Err(e) = rustix::process::setpriority_process(Some(tid), WRITER_NICE) {
                    tracing::debug!("the execution writer keeps the server's priority: {e}");
                }
                write_loop(writer, rx, metrics, observer)
            })
            .map_err(|e| StoreError::Unavailable(format!("starting the execution writer: {e}")))?;
        Ok(Self {
            tx,
            places: Arc::new(Semaphore::new(capacity)),
            writer: thread.thread().clone(),
        })
    }

    /// Queue a record (of a queued execution's progress: their dispatcher bounds them).
    /// Never waits, and keeps the order of records sent from one task.
    pub fn record(&self, execution: Execution) {
        send(&self.tx, Message::Record(Box::new(execution)), None);
    }

    /// A place for one request's record, waited for when all are taken: what a request takes
    /// before it runs, so that a writer that falls behind slows new requests down instead of
    /// letting records pile up in memory.
    pub async fn slot(&self) -> RecordSlot {
        let place = self.places.clone().acquire_owned().await.ok();
        RecordSlot {
            tx: self.tx.clone(),
            place,
        }
    }

    /// Sends a message someone waits on, and wakes the writer for it.
    async fn send_urgent(&self, message: Message) -> bool {
        let sent = self.tx.send((message, None)).is_ok();
        self.writer.unpark();
        sent
    }

    /// Store a new execution durably; returns once it has committed.
    pub async fn insert(&self, execution: Execution) -> Inserted {
        let (ack, done) = oneshot::channel();
        let closed = || StoreError::Unavailable("the execution writer has stopped".into());
        if !self
            .send_urgent(Message::Insert(Box::new(execution), ack))
            .await
        {
            return Err(closed());
        }
        done.await.map_err(|_| closed())?
    }

    /// Prune a function's finished executions past `retention`, on the writer's thread after
    /// the records queued before: it holds the database's write lock anyway, and its
    /// connection's cache holds the rows just written. Nobody waits for it.
    pub fn prune(&self, function_id: String, retention: ExecutionRetention) {
        send(&self.tx, Message::Prune(function_id, retention), None);
    }

    /// Wait until every record queued before this call is in the store.
    pub async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        if self.send_urgent(Message::Flush(ack)).await {
            let _ = done.await;
        }
    }
}

fn send(tx: &mpsc::UnboundedSender<Queued>, message: Message, place: Option<OwnedSemaphorePermit>) {
    if tx.send((message, place)).is_err() {
        tracing::error!("execution recorder stopped; record lost");
    }
}

/// A place in the recorder's queue, taken ahead (see [`Recorder::slot`]).
pub struct RecordSlot {
    tx: mpsc::UnboundedSender<Queued>,
    place: Option<OwnedSemaphorePermit>,
}

impl RecordSlot {
    /// Queue a record; never waits.
    pub fn record(self, execution: Execution) {
        self.send(Message::Record(Box::new(execution)));
    }

    /// Queue the record `assemble` makes, on the writer's thread: the caller only moves what
    /// the record is made of. Never waits.
    pub fn record_with(self, assemble: impl FnOnce() -> Execution + Send + 'static) {
        self.send(Message::RecordLater(Box::new(assemble)));
    }

    fn send(self, message: Message) {
        send(&self.tx, message, self.place);
    }
}

/// What one transaction writes. One is kept for the writer's life and emptied after each
/// write, so its vectors keep the room they grew to (at most [`BATCH`] records): growing a
/// vector of records to hundreds on every batch copied each record several times and faulted
/// fresh pages in.
#[derive(Default)]
struct Batch {
    records: Vec<Execution>,
    inserts: Vec<Execution>,
    insert_acks: Vec<oneshot::Sender<Inserted>>,
    flush_acks: Vec<oneshot::Sender<()>>,
    prunes: Vec<(String, ExecutionRetention)>,
}

impl Batch {
    /// Takes `message` from the queue; its place, if it held one, is free again.
    fn add(&mut self, (message, _place): Queued) {
        match message {
            Message::Record(e) => self.records.push(*e),
            Message::RecordLater(assemble) => self.records.push(assemble()),
            Message::Insert(e, ack) => {
                self.inserts.push(*e);
                self.insert_acks.push(ack);
            }
            Message::Flush(ack) => self.flush_acks.push(ack),
            Message::Prune(function_id, retention) => {
                if !self.prunes.iter().any(|(id, _)| *id == function_id) {
                    self.prunes.push((function_id, retention));
                }
            }
        }
    }

    fn len(&self) -> usize {
        self.records.len() + self.inserts.len()
    }

    /// Empty, with the room it had; also what drops the acks of a batch a panic cut short.
    fn clear(&mut self) {
        self.records.clear();
        self.inserts.clear();
        self.insert_acks.clear();
        self.flush_acks.clear();
        self.prunes.clear();
    }

    /// Someone is waiting on this batch: write it now.
    fn urgent(&self) -> bool {
        !self.inserts.is_empty() || !self.flush_acks.is_empty()
    }
}

fn write_loop(
    mut writer: Box<dyn ExecutionWriter>,
    mut rx: mpsc::UnboundedReceiver<Queued>,
    metrics: Arc<Metrics>,
    observer: Observer,
) {
    let mut batch = Batch::default();
    while let Some(first) = rx.blocking_recv() {
        // A panic (assembling a record, in the store, in the observer) costs its batch, not
        // the writer: a dead writer would refuse every insert and drop every later record.
        // The batch's waiters see their acks dropped (below): an insert fails, a flush returns.
        let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            batch.add(first);
            let deadline = Instant::now() + LINGER;
            loop {
                while batch.len() < BATCH {
                    match rx.try_recv() {
                        Ok(message) => batch.add(message),
                        Err(_) => break,
                    }
                }
                let now = Instant::now();
                if batch.urgent() || batch.len() >= BATCH || now >= deadline {
                    break;
                }
                // Woken early only by an insert or a flush (see `send_urgent`).
                std::thread::park_timeout(deadline - now);
            }
            write(&mut *writer, &mut batch, &metrics, &observer);
        }));
        if written.is_err() {
            tracing::error!("the execution writer panicked; the records of its batch are lost");
        }
        batch.clear();
    }
}

fn write(
    writer: &mut dyn ExecutionWriter,
    batch: &mut Batch,
    metrics: &Metrics,
    observer: &Observer,
) {
    // Inserts first: a record of an execution is only ever sent after its insert was acknowledged.
    if !batch.inserts.is_empty() {
        let started = std::time::Instant::now();
        let inserted = writer.insert(&batch.inserts);
        metrics.observe_store("insert_executions", started.elapsed());
        match inserted {
            Ok(results) => {
                for (ack, result) in batch.insert_acks.drain(..).zip(results) {
                    let _ = ack.send(Ok(result));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, count = batch.inserts.len(), "storing new executions failed");
                let message = e.to_string();
                for ack in batch.insert_acks.drain(..) {
                    let _ = ack.send(Err(StoreError::Unavailable(message.clone())));
                }
            }
        }
    }
    if !batch.records.is_empty() {
        let started = std::time::Instant::now();
        let written = writer.put(&batch.records);
        metrics.observe_store("put_executions", started.elapsed());
        let pruned = writer.take_pruned();
        if pruned > 0 {
            metrics
                .executions_pruned_for_size
                .fetch_add(pruned, std::sync::atomic::Ordering::Relaxed);
        }
        match written {
            Ok(()) => observer(&batch.records),
            Err(e) => {
                tracing::error!(error = %e, count = batch.records.len(), "writing execution records failed")
            }
        }
    }
    if !batch.prunes.is_empty() {
        let started = std::time::Instant::now();
        let now = gust_core::now();
        for (function_id, retention) in batch.prunes.drain(..) {
            if let Err(e) = writer.prune(&function_id, &retention, now) {
                tracing::warn!(function = %function_id, error = %e, "pruning executions failed");
            }
        }
        metrics.observe_store("prune_executions", started.elapsed());
    }
    for ack in batch.flush_acks.drain(..) {
        let _ = ack.send(());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Condvar, Mutex};
    use std::time::Duration;

    use gust_store::StoreResult;

    use super::*;

    /// What a fake writer was given, and a gate that holds it inside `put` while shut.
    #[derive(Default)]
    struct Shared {
        written: Mutex<Vec<String>>,
        shut: Mutex<bool>,
        opened: Condvar,
        entered: tokio::sync::Notify,
    }

    struct FakeWriter(Arc<Shared>);

    impl FakeWriter {
        fn pass(&self, batch: &[Execution]) {
            self.0.entered.notify_one();
            let mut shut = self.0.shut.lock().unwrap();
            while *shut {
                shut = self.0.opened.wait(shut).unwrap();
            }
            drop(shut);
            let mut written = self.0.written.lock().unwrap();
            written.extend(batch.iter().map(|e| e.id.clone()));
        }
    }

    /// The id of a record the fake store panics on.
    const STORE_PANICS: &str = "the store panics on this one";

    impl ExecutionWriter for FakeWriter {
        fn put(&mut self, batch: &[Execution]) -> StoreResult<()> {
            assert!(batch.iter().all(|e| e.id != STORE_PANICS), "store panicked");
            self.pass(batch);
            Ok(())
        }

        fn insert(&mut self, batch: &[Execution]) -> StoreResult<Vec<(Execution, bool)>> {
            self.pass(batch);
            Ok(batch.iter().map(|e| (e.clone(), true)).collect())
        }

        fn prune(
            &mut self,
            function_id: &str,
            _: &ExecutionRetention,
            _: chrono::DateTime<chrono::Utc>,
        ) -> StoreResult<u64> {
            let mut written = self.0.written.lock().unwrap();
            written.push(format!("prune {function_id}"));
            Ok(0)
        }
    }

    fn recorder(capacity: usize) -> (Recorder, Arc<Shared>) {
        let shared = Arc::new(Shared::default());
        let recorder = Recorder::with_capacity(
            Box::new(FakeWriter(shared.clone())),
            Arc::new(Metrics::default()),
            Box::new(|_| {}),
            capacity,
        )
        .unwrap();
        (recorder, shared)
    }

    fn execution(id: &str) -> Execution {
        serde_json::from_value(serde_json::json!({
            "id": id, "namespace_id": "ns", "function_id": "f", "trigger": "http",
            "status": "completed", "request": {"method": "GET", "path": "/"},
            "created_at": "2026-01-01T00:00:00Z",
        }))
        .unwrap()
    }

    fn written(shared: &Shared) -> Vec<String> {
        shared.written.lock().unwrap().clone()
    }

    #[tokio::test]
    async fn records_reach_the_store_in_order_and_a_flush_waits_for_them() {
        let (recorder, shared) = recorder(16);
        recorder.record(execution("a"));
        recorder.slot().await.record_with(|| execution("b"));
        recorder.slot().await.record(execution("c"));
        recorder.flush().await;
        assert_eq!(written(&shared), ["a", "b", "c"]);
        let (stored, new) = recorder.insert(execution("d")).await.unwrap();
        assert_eq!((stored.id.as_str(), new), ("d", true));
        assert_eq!(written(&shared), ["a", "b", "c", "d"]);
    }

    #[tokio::test]
    async fn a_prune_runs_after_the_records_sent_before_it_once_per_batch() {
        let (recorder, shared) = recorder(16);
        let retention = ExecutionRetention::default();
        recorder.record(execution("a"));
        recorder.prune("f".into(), retention);
        recorder.prune("f".into(), retention);
        recorder.prune("g".into(), retention);
        recorder.flush().await;
        assert_eq!(written(&shared), ["a", "prune f", "prune g"]);
    }

    #[tokio::test]
    async fn a_full_queue_holds_new_requests_back_until_the_writer_catches_up() {
        let (recorder, shared) = recorder(2);
        *shared.shut.lock().unwrap() = true;
        let entered = shared.entered.notified();
        recorder.slot().await.record(execution("1"));
        // The writer holds record 1 inside the store: the queue's two places are free.
        entered.await;
        recorder.slot().await.record(execution("2"));
        recorder.slot().await.record(execution("3"));
        let waiting = tokio::spawn({
            let recorder = recorder.clone();
            async move { recorder.slot().await.record(execution("4")) }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !waiting.is_finished(),
            "a place was handed out past the bound"
        );
        *shared.shut.lock().unwrap() = false;
        shared.opened.notify_all();
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the waiting request got its place once the writer caught up")
            .unwrap();
        recorder.flush().await;
        assert_eq!(written(&shared), ["1", "2", "3", "4"]);
    }

    #[tokio::test]
    async fn inserts_and_flushes_do_not_wait_behind_requests_waiting_for_a_place() {
        let (recorder, shared) = recorder(1);
        let held = recorder.slot().await;
        let waiting = tokio::spawn({
            let recorder = recorder.clone();
            async move { recorder.slot().await.record(execution("2")) }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "the only place is held");
        tokio::time::timeout(Duration::from_secs(5), async {
            recorder.insert(execution("1")).await.unwrap();
            recorder.flush().await;
        })
        .await
        .expect("an insert and a flush went past the request waiting for a place");
        held.record(execution("3"));
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
        recorder.flush().await;
        assert_eq!(written(&shared), ["1", "3", "2"]);
    }

    #[tokio::test]
    async fn a_record_that_panics_costs_its_batch_not_the_writer() {
        let (recorder, shared) = recorder(16);
        recorder
            .slot()
            .await
            .record_with(|| panic!("a record that cannot be assembled"));
        recorder.flush().await;
        recorder.record(execution("after"));
        recorder.flush().await;
        let (stored, _) = recorder.insert(execution("inserted")).await.unwrap();
        assert_eq!(stored.id, "inserted");
        recorder.flush().await;
        assert_eq!(written(&shared), ["after", "inserted"]);
    }

    #[tokio::test]
    async fn a_flush_in_a_batch_the_store_panics_on_returns_and_the_writer_goes_on() {
        let (recorder, shared) = recorder(16);
        recorder.record(execution(STORE_PANICS));
        // Sent right behind that record, the flush is written in its batch: its ack must be
        // dropped with the batch, not kept for a next one that may never come.
        tokio::time::timeout(Duration::from_secs(5), recorder.flush())
            .await
            .expect("the flush returned");
        recorder.record(execution("after"));
        recorder.flush().await;
        assert_eq!(written(&shared), ["after"]);
    }

    #[tokio::test]
    async fn the_writer_gives_way_to_request_threads() {
        let (recorder, _shared) = recorder(4);
        recorder.flush().await;
        let nice_of_writers: Vec<i32> = std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|task| {
                let dir = task.ok()?.path();
                let name = std::fs::read_to_string(dir.join("comm")).ok()?;
                (name.trim() == "gust-recorder").then_some(())?;
                let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
                // Field 19 is the nice value; fields count from after the parenthesized name.
                let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
                fields.get(16)?.parse().ok()
            })
            .collect();
        // Other tests' writers may not have set theirs yet; this one has, before its flush.
        assert!(
            nice_of_writers.contains(&WRITER_NICE),
            "writer threads' nice values: {nice_of_writers:?}"
        );
    }
}
