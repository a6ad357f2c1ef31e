//! Execution records leave the request path through a channel; one task writes them to the
//! store in batches (one transaction per batch), so an invocation never waits on SQLite.
//!
//! Two kinds of writes share the channel, so they reach the store in the order they were sent:
//! - `record`: a finished (or progressing) execution, fire and forget; batches linger up to
//!   10 ms to fill.
//! - `insert`: a new async execution, acknowledged only once its transaction has committed
//!   (the 202 promises durability). Inserts never linger: whoever arrives while a transaction
//!   is being written joins the next one — group commit, so many concurrent submits share one.
//!
//! After each batch commits, the observer sees it (metrics, events, log followers).
//! `flush` lets a reader see every record sent before it.

use std::sync::Arc;

use gust_core::Execution;
use gust_store::{Store, StoreError};
use tokio::sync::{mpsc, oneshot};

use crate::metrics::Metrics;

/// Records in flight before senders wait. A burst beyond it slows callers slightly rather
/// than dropping records.
const QUEUE: usize = 16 * 1024;
/// Most executions one transaction writes.
const BATCH: usize = 512;
/// After the first record of a batch arrives, wait this long for more before writing: under
/// load a transaction then carries hundreds of records instead of one. Inserts and flushes
/// skip the wait.
const LINGER: std::time::Duration = std::time::Duration::from_millis(10);

/// The answer to an insert: the stored execution and whether it is new (`false`: its
/// idempotency key was used before and this is the first execution with it).
pub type Inserted = Result<(Execution, bool), StoreError>;

/// Called with each committed batch of records (not inserts).
pub type Observer = Box<dyn Fn(&[Execution]) + Send + Sync>;

enum Message {
    Record(Box<Execution>),
    Insert(Box<Execution>, oneshot::Sender<Inserted>),
    Flush(oneshot::Sender<()>),
}

#[derive(Clone)]
pub struct Recorder {
    /// Feeds the writer task; bounded so memory stays bounded if the disk stalls.
    tx: mpsc::Sender<Message>,
}

impl Recorder {
    pub fn start(store: Arc<dyn Store>, metrics: Arc<Metrics>, observer: Observer) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(write_loop(store, rx, metrics, observer));
        Self { tx }
    }

    /// Queue a record. Never blocks the caller: when the queue is full, a task waits for room.
    pub fn record(&self, execution: Execution) {
        match self.tx.try_send(Message::Record(Box::new(execution))) {
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

    /// Store a new execution durably; returns once it has committed.
    pub async fn insert(&self, execution: Execution) -> Inserted {
        let (ack, done) = oneshot::channel();
        let closed = || StoreError::Unavailable("the execution writer has stopped".into());
        self.tx
            .send(Message::Insert(Box::new(execution), ack))
            .await
            .map_err(|_| closed())?;
        done.await.map_err(|_| closed())?
    }

    /// Wait until every record queued before this call is in the store.
    pub async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Message::Flush(ack)).await.is_ok() {
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

async fn write_loop(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<Message>,
    metrics: Arc<Metrics>,
    observer: Observer,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = Batch::default();
        batch.add(first);
        let deadline = tokio::time::Instant::now() + LINGER;
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(message) => batch.add(message),
                Err(_) if batch.urgent() => break,
                Err(_) => match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(message)) => batch.add(message),
                    _ => break,
                },
            }
        }
        write(&*store, batch, &metrics, &observer).await;
    }
}

async fn write(store: &dyn Store, batch: Batch, metrics: &Metrics, observer: &Observer) {
    // Inserts first: a record of an execution is only ever sent after its insert was acknowledged.
    if !batch.inserts.is_empty() {
        let started = std::time::Instant::now();
        let inserted = store.insert_executions(&batch.inserts).await;
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
        let written = store.put_executions(&batch.records).await;
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
