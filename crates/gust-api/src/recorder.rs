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

use std::sync::Arc;
use std::thread::Thread;
use std::time::{Duration, Instant};

use gust_core::Execution;
use gust_store::{ExecutionWriter, Store, StoreError};
use tokio::sync::{mpsc, oneshot};

use crate::metrics::Metrics;

/// Records in flight before senders wait. A burst beyond it slows callers slightly rather
/// than dropping records.
const QUEUE: usize = 16 * 1024;
/// Most executions one transaction writes.
const BATCH: usize = 1024;
/// After the first record of a batch arrives, wait this long for more before writing: under
/// load a transaction then carries hundreds of records instead of one. Inserts and flushes
/// skip the wait.
const LINGER: Duration = Duration::from_millis(10);

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
}

#[derive(Clone)]
pub struct Recorder {
    /// Feeds the writer; bounded so memory stays bounded if the disk stalls.
    tx: mpsc::Sender<Message>,
    /// Unparked by whoever must not wait out the linger.
    writer: Thread,
}

impl Recorder {
    pub fn start(
        store: &dyn Store,
        metrics: Arc<Metrics>,
        observer: Observer,
    ) -> Result<Self, StoreError> {
        let writer = store.execution_writer()?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let thread = std::thread::Builder::new()
            .name("gust-recorder".into())
            .spawn(move || write_loop(writer, rx, metrics, observer))
            .map_err(|e| StoreError::Unavailable(format!("starting the execution writer: {e}")))?;
        Ok(Self {
            tx,
            writer: thread.thread().clone(),
        })
    }

    /// Queue a record. Never blocks the caller: when the queue is full, a task waits for room.
    pub fn record(&self, execution: Execution) {
        self.send_record(Message::Record(Box::new(execution)));
    }

    /// Queue the record `assemble` makes, on the writer's thread: the caller only moves what
    /// the record is made of.
    pub fn record_with(&self, assemble: impl FnOnce() -> Execution + Send + 'static) {
        self.send_record(Message::RecordLater(Box::new(assemble)));
    }

    fn send_record(&self, message: Message) {
        match self.tx.try_send(message) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(message)) => {
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let _ = tx.send(message).await;
                });
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::error!("execution recorder stopped; record lost")
            }
        }
    }

    /// Sends a message someone waits on, and wakes the writer for it.
    async fn send_urgent(&self, message: Message) -> bool {
        let sent = self.tx.send(message).await.is_ok();
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

    /// Wait until every record queued before this call is in the store.
    pub async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        if self.send_urgent(Message::Flush(ack)).await {
            let _ = done.await;
        }
    }
}

#[derive(Default)]
struct Batch {
    records: Vec<Execution>,
    inserts: Vec<Execution>,
    insert_acks: Vec<oneshot::Sender<Inserted>>,
    flush_acks: Vec<oneshot::Sender<()>>,
}

impl Batch {
    fn add(&mut self, message: Message) {
        match message {
            Message::Record(e) => self.records.push(*e),
            Message::RecordLater(assemble) => self.records.push(assemble()),
            Message::Insert(e, ack) => {
                self.inserts.push(*e);
                self.insert_acks.push(ack);
            }
            Message::Flush(ack) => self.flush_acks.push(ack),
        }
    }

    fn len(&self) -> usize {
        self.records.len() + self.inserts.len()
    }

    /// Someone is waiting on this batch: write it now.
    fn urgent(&self) -> bool {
        !self.inserts.is_empty() || !self.flush_acks.is_empty()
    }
}

fn write_loop(
    mut writer: Box<dyn ExecutionWriter>,
    mut rx: mpsc::Receiver<Message>,
    metrics: Arc<Metrics>,
    observer: Observer,
) {
    while let Some(first) = rx.blocking_recv() {
        let mut batch = Batch::default();
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
        write(&mut *writer, batch, &metrics, &observer);
    }
}

fn write(writer: &mut dyn ExecutionWriter, batch: Batch, metrics: &Metrics, observer: &Observer) {
    // Inserts first: a record of an execution is only ever sent after its insert was acknowledged.
    if !batch.inserts.is_empty() {
        let started = std::time::Instant::now();
        let inserted = writer.insert(&batch.inserts);
        metrics.observe_store("insert_executions", started.elapsed());
        match inserted {
            Ok(results) => {
                for (ack, result) in batch.insert_acks.into_iter().zip(results) {
                    let _ = ack.send(Ok(result));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, count = batch.inserts.len(), "storing new executions failed");
                let message = e.to_string();
                for ack in batch.insert_acks {
                    let _ = ack.send(Err(StoreError::Unavailable(message.clone())));
                }
            }
        }
    }
    if !batch.records.is_empty() {
        let started = std::time::Instant::now();
        let written = writer.put(&batch.records);
        metrics.observe_store("put_executions", started.elapsed());
        match written {
            Ok(()) => observer(&batch.records),
            Err(e) => {
                tracing::error!(error = %e, count = batch.records.len(), "writing execution records failed")
            }
        }
    }
    for ack in batch.flush_acks {
        let _ = ack.send(());
    }
}
