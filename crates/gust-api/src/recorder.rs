//! Execution records leave the request path through a channel; one task writes them to the
//! store in batches (one transaction per batch), so an invocation never waits on SQLite.
//! `flush` lets a reader see every record sent before it.

use std::sync::Arc;

use gust_core::Execution;
use gust_store::Store;
use tokio::sync::{mpsc, oneshot};

/// Records in flight before senders wait. A burst beyond it slows callers slightly rather
/// than dropping records.
const QUEUE: usize = 16 * 1024;
/// Most records one transaction writes.
const BATCH: usize = 512;
/// After the first record of a batch arrives, wait this long for more before writing: under
/// load a transaction then carries hundreds of records instead of one. A flush skips the wait.
const LINGER: std::time::Duration = std::time::Duration::from_millis(10);

enum Message {
    Record(Box<Execution>),
    Flush(oneshot::Sender<()>),
}

#[derive(Clone)]
pub struct Recorder {
    /// Feeds the writer task; bounded so memory stays bounded if the disk stalls.
    tx: mpsc::Sender<Message>,
}

impl Recorder {
    pub fn start(store: Arc<dyn Store>) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(write_loop(store, rx));
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

    /// Wait until every record queued before this call is in the store.
    pub async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Message::Flush(ack)).await.is_ok() {
            let _ = done.await;
        }
    }
}

async fn write_loop(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Message>) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut acks = Vec::new();
    while let Some(first) = rx.recv().await {
        let deadline = tokio::time::Instant::now() + LINGER;
        let mut next = Some(first);
        loop {
            match next.take() {
                Some(Message::Record(e)) => batch.push(*e),
                Some(Message::Flush(ack)) => acks.push(ack),
                None => {}
            }
            if batch.len() >= BATCH || !acks.is_empty() {
                break;
            }
            next = match rx.try_recv() {
                Ok(message) => Some(message),
                Err(_) => match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(message)) => Some(message),
                    _ => break,
                },
            };
        }
        if let Err(e) = store.put_executions(&batch).await {
            tracing::error!(error = %e, count = batch.len(), "writing execution records failed");
        }
        batch.clear();
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
    }
}
