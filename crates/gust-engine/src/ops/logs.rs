//! Logs, read or followed live: an execution's stdout and stderr as they are printed, attempt
//! after attempt, until it ends; a function's recent executions' output, then each one as it
//! finishes. Followers get [`LogEvent`]s, named events with text data, which a front door
//! sends on as it likes (the native API as server-sent events).

use std::sync::Arc;
use std::time::Duration;

use gust_core::{Execution, ExecutionLogs, ExecutionStatus, ListQuery, Order};
use serde::Serialize;
use tokio::sync::mpsc;
use utoipa::ToSchema;

use crate::Engine;
use crate::auth::Caller;
use crate::error::Result;

/// How often a follower looks again at an execution that is not running yet.
const POLL: Duration = Duration::from_millis(100);

/// One event of a followed log: `stdout`, `stderr`, `retry` (an attempt failed; the next
/// starts over), `end` (the final status), `execution` (a function's execution finished, with
/// its output) or `lagged` (a slow follower missed some); for a build, `status` (its state
/// changed), `log` (what it wrote since) and `end`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    pub name: &'static str,
    pub data: String,
}

impl LogEvent {
    fn new(name: &'static str, data: impl Into<String>) -> Self {
        Self {
            name,
            data: data.into(),
        }
    }
}

/// One execution's output, as the function log shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExecutionOutput {
    pub id: String,
    pub status: ExecutionStatus,
    pub trigger: gust_core::ExecutionTrigger,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub error_message: Option<String>,
    #[serde(flatten)]
    pub logs: ExecutionLogs,
}

impl From<&Execution> for ExecutionOutput {
    fn from(e: &Execution) -> Self {
        Self {
            id: e.id.clone(),
            status: e.status,
            trigger: e.trigger,
            created_at: e.created_at,
            error_message: e.error_message.clone(),
            logs: e.logs.clone(),
        }
    }
}

/// A function's log: its recent executions' output, oldest first, and, when followed, the
/// executions that finish from now on.
pub struct FunctionLogs {
    pub recent: Vec<ExecutionOutput>,
    pub follow: Option<mpsc::Receiver<LogEvent>>,
}

impl Engine {
    /// An execution's output so far.
    pub async fn execution_logs(
        &self,
        caller: &Caller,
        ns: &str,
        f: &str,
        id: &str,
    ) -> Result<ExecutionLogs> {
        Ok(self.get_execution(caller, ns, f, id).await?.logs)
    }

    /// An execution's output as it comes, until it ends (then the channel closes).
    pub async fn follow_execution_logs(
        self: &Arc<Self>,
        caller: &Caller,
        ns: &str,
        f: &str,
        id: &str,
    ) -> Result<mpsc::Receiver<LogEvent>> {
        let execution = self.get_execution(caller, ns, f, id).await?;
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(follow_execution(
            self.clone(),
            execution.function_id,
            execution.id,
            tx,
        ));
        Ok(rx)
    }

    /// A deployment's build log as it is written: `status` when its state changes, `log` with
    /// the text written since the last, and `end` (the final state, as JSON) once it is ready
    /// or failed, when the channel closes.
    pub async fn follow_build_log(
        self: &Arc<Self>,
        caller: &Caller,
        ns: &str,
        f: &str,
        id: &str,
    ) -> Result<mpsc::Receiver<LogEvent>> {
        let deployment = self.get_deployment(caller, ns, f, id).await?;
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(follow_build(self.clone(), deployment, tx));
        Ok(rx)
    }

    /// The last `tail` executions' output (at most 100), and with `follow` every execution
    /// that finishes from now on, as `execution` events, until the receiver is dropped.
    pub async fn function_logs(
        &self,
        caller: &Caller,
        ns: &str,
        f: &str,
        tail: u32,
        follow: bool,
    ) -> Result<FunctionLogs> {
        let function = self.get_function(caller, ns, f).await?;
        let tail = tail.min(100);
        // Subscribe before reading the recent ones, so nothing falls between the two.
        let live = follow.then(|| self.logs.subscribe(&function.id));
        self.flush_records().await;
        let mut recent = if tail == 0 {
            Vec::new()
        } else {
            let query = ListQuery {
                limit: Some(tail),
                order: Some(Order::Desc),
                ..Default::default()
            };
            self.store
                .list_executions(&function.id, &query, &Default::default())
                .await?
                .items
        };
        recent.retain(crate::metrics::ended_attempt);
        recent.reverse();
        let Some(mut live) = live else {
            return Ok(FunctionLogs {
                recent: recent.iter().map(ExecutionOutput::from).collect(),
                follow: None,
            });
        };
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            // By attempt, not by execution: a retried execution's later attempts are new output.
            let mut seen: std::collections::HashSet<(String, u32)> =
                recent.iter().map(|e| (e.id.clone(), e.attempts)).collect();
            for e in &recent {
                if tx.send(output_event(e)).await.is_err() {
                    return;
                }
            }
            loop {
                let next = tokio::select! {
                    next = live.recv() => next,
                    _ = tx.closed() => return,
                };
                match next {
                    Ok(e) => {
                        // A record read as recent may arrive again through the subscription.
                        if seen.remove(&(e.id.clone(), e.attempts)) {
                            continue;
                        }
                        if tx.send(output_event(&e)).await.is_err() {
                            return;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                        let note = serde_json::json!({ "missed": missed });
                        let _ = tx.send(LogEvent::new("lagged", note.to_string())).await;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        Ok(FunctionLogs {
            recent: Vec::new(),
            follow: Some(rx),
        })
    }
}

fn output_event(execution: &Execution) -> LogEvent {
    let data = serde_json::to_string(&ExecutionOutput::from(execution)).unwrap_or_default();
    LogEvent::new("execution", data)
}

/// One execution's output as it comes, attempt after attempt, until it ends.
async fn follow_execution(
    engine: Arc<Engine>,
    function_id: String,
    id: String,
    tx: mpsc::Sender<LogEvent>,
) {
    // Bytes of stdout and stderr already sent, and the attempt they belong to.
    let mut sent = (0usize, 0usize);
    let mut attempt: Option<u64> = None;
    loop {
        if let Some((running_attempt, watch)) = engine.logs.get(&id) {
            if attempt != Some(running_attempt) {
                attempt = Some(running_attempt);
                sent = (0, 0);
            }
            let changed = watch.changed();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let (out, err) = watch.read_from(sent);
            if !send_output(&tx, &mut sent, &out, &err).await {
                return;
            }
            tokio::select! {
                _ = changed => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = tx.closed() => return,
            }
            continue;
        }
        // Not running: ended, between attempts, or not started yet.
        engine.flush_records().await;
        let Ok(execution) = engine.store.get_execution(&function_id, &id).await else {
            return;
        };
        let ended_attempt = crate::metrics::ended_attempt(&execution);
        if ended_attempt && attempt.is_some() {
            // The rest of the attempt we were following, from its record.
            let logs = &execution.logs;
            let out = tail_from(&logs.stdout, sent.0);
            let err = tail_from(&logs.stderr, sent.1);
            if !send_output(&tx, &mut sent, out.as_bytes(), err.as_bytes()).await {
                return;
            }
        } else if ended_attempt && execution.status != ExecutionStatus::Queued {
            // It ended before we looked: everything at once.
            let logs = &execution.logs;
            sent = (0, 0);
            if !send_output(
                &tx,
                &mut sent,
                logs.stdout.as_bytes(),
                logs.stderr.as_bytes(),
            )
            .await
            {
                return;
            }
        }
        match execution.status {
            ExecutionStatus::Completed | ExecutionStatus::Failed | ExecutionStatus::Timeout => {
                let end = serde_json::json!({
                    "status": execution.status,
                    "error_message": execution.error_message,
                    "attempts": execution.attempts,
                });
                let _ = tx.send(LogEvent::new("end", end.to_string())).await;
                return;
            }
            ExecutionStatus::Queued if attempt.take().is_some() => {
                let retry = serde_json::json!({
                    "attempts": execution.attempts,
                    "next_attempt_at": execution.run_after,
                    "error_message": execution.error_message,
                });
                if tx
                    .send(LogEvent::new("retry", retry.to_string()))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            _ => {}
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = tx.closed() => return,
        }
    }
}

/// A build as it goes, until it is final or the follower leaves.
async fn follow_build(
    engine: Arc<Engine>,
    mut deployment: gust_core::Deployment,
    tx: mpsc::Sender<LogEvent>,
) {
    let mut status = None;
    let mut sent = 0usize;
    loop {
        if status != Some(deployment.status) {
            status = Some(deployment.status);
            let event = LogEvent::new("status", deployment.status.as_str());
            if tx.send(event).await.is_err() {
                return;
            }
        }
        // While it builds, the live log; once final, the stored one (the same text, whole).
        let mut live = (!deployment.status.is_final())
            .then(|| engine.build_logs.watch(&deployment.id))
            .flatten();
        let text = match &mut live {
            Some(watch) => watch.borrow_and_update().clone(),
            None => deployment.build_log.clone(),
        };
        if text.len() < sent {
            // A rebuild started over.
            sent = 0;
        }
        if text.len() > sent {
            let new = tail_from(&text, sent).to_string();
            sent = text.len();
            if tx.send(LogEvent::new("log", new)).await.is_err() {
                return;
            }
        }
        if deployment.status.is_final() {
            let end = serde_json::json!({
                "status": deployment.status,
                "error_message": deployment.error_message,
                "active": deployment.active,
            });
            let _ = tx.send(LogEvent::new("end", end.to_string())).await;
            return;
        }
        match live {
            Some(mut watch) => {
                tokio::select! {
                    _ = watch.changed() => {}
                    _ = tokio::time::sleep(POLL) => {}
                    _ = tx.closed() => return,
                }
            }
            None => tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = tx.closed() => return,
            },
        }
        match engine
            .store
            .get_deployment(&deployment.function_id, &deployment.id)
            .await
        {
            Ok(now) => deployment = now,
            Err(_) => return,
        }
    }
}

/// Send new stdout and stderr bytes as events; `false` once the client has gone.
async fn send_output(
    tx: &mpsc::Sender<LogEvent>,
    sent: &mut (usize, usize),
    stdout: &[u8],
    stderr: &[u8],
) -> bool {
    for (name, bytes, counter) in [
        ("stdout", stdout, &mut sent.0),
        ("stderr", stderr, &mut sent.1),
    ] {
        if bytes.is_empty() {
            continue;
        }
        *counter += bytes.len();
        let text = String::from_utf8_lossy(bytes).into_owned();
        if tx.send(LogEvent::new(name, text)).await.is_err() {
            return false;
        }
    }
    true
}

/// `text` past `offset` bytes (moved back to a character boundary).
fn tail_from(text: &str, offset: usize) -> &str {
    let mut at = offset.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    &text[at..]
}
