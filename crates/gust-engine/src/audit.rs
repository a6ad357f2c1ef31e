//! The audit log's writer and the wrapper every changing operation runs in.
//!
//! Operations call [`Engine::audited`](crate::Engine) with what they are about to change; the
//! entry is completed with the outcome and, when the operation resolved them, the resource's
//! and namespace's ids, then queued. One task writes what is queued in batches (one insert per
//! batch), so an operation pays a channel send, and invocations pay nothing: they are recorded
//! as executions, not here. Entries carry ids and status codes only, never what a change set:
//! no secret can reach the log.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use gust_core::{AuditAction, AuditEntry, AuditOutcome};
use gust_store::Store;
use tokio::sync::{mpsc, oneshot};

use crate::auth::Caller;
use crate::error::Result;

enum Message {
    Entry(AuditEntry),
    Flush(oneshot::Sender<()>),
}

/// The queue to the writer task.
#[derive(Clone)]
pub struct AuditLog {
    queue: mpsc::UnboundedSender<Message>,
}

/// Most entries one insert writes.
const BATCH: usize = 256;

impl AuditLog {
    /// Start the writer task.
    pub fn start(store: Arc<dyn Store>) -> Self {
        let (queue, mut rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut batch = Vec::new();
            let mut waiters = Vec::new();
            while let Some(first) = rx.recv().await {
                let mut next = Some(first);
                while let Some(message) = next.take() {
                    match message {
                        Message::Entry(entry) => batch.push(entry),
                        Message::Flush(waiter) => waiters.push(waiter),
                    }
                    if batch.len() < BATCH {
                        next = rx.try_recv().ok();
                    }
                }
                if !batch.is_empty() {
                    if let Err(e) = store.append_audit(&batch).await {
                        tracing::error!(error = %e, entries = batch.len(), "writing the audit log failed");
                    }
                    batch.clear();
                }
                for waiter in waiters.drain(..) {
                    let _ = waiter.send(());
                }
            }
        });
        Self { queue }
    }

    pub fn record(&self, entry: AuditEntry) {
        let _ = self.queue.send(Message::Entry(entry));
    }

    /// Wait until every entry queued so far is in the store.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.queue.send(Message::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

/// What an operation is about to change. The ids it resolves while it runs (a name becomes
/// an id) replace the keys the client gave.
pub struct Audit {
    action: AuditAction,
    kind: &'static str,
    ids: Mutex<(Option<String>, Option<String>)>,
}

impl Audit {
    pub fn new(action: AuditAction, kind: &'static str) -> Self {
        Self {
            action,
            kind,
            ids: Mutex::new((None, None)),
        }
    }

    /// The resource as the client named it (an id, or a name until resolved).
    pub fn of(self, resource: impl ToString) -> Self {
        self.ids.lock().unwrap_or_else(|p| p.into_inner()).0 = Some(resource.to_string());
        self
    }

    /// The namespace as the client named it.
    pub fn within(self, namespace: impl ToString) -> Self {
        self.ids.lock().unwrap_or_else(|p| p.into_inner()).1 = Some(namespace.to_string());
        self
    }

    /// The namespace's id, once resolved.
    pub fn namespace_is(&self, namespace_id: &str) {
        self.ids.lock().unwrap_or_else(|p| p.into_inner()).1 = Some(namespace_id.to_string());
    }

    /// The resource's id and its namespace's, once resolved.
    pub fn resolved(&self, resource: impl ToString, namespace: Option<&str>) {
        let mut ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        ids.0 = Some(resource.to_string());
        if let Some(namespace) = namespace {
            ids.1 = Some(namespace.to_string());
        }
    }

    fn entry(&self, caller: Option<&Caller>, client: Option<IpAddr>) -> AuditEntry {
        let (resource_id, namespace_id) =
            self.ids.lock().unwrap_or_else(|p| p.into_inner()).clone();
        AuditEntry {
            id: 0,
            at: gust_core::now(),
            token_id: caller.map(|c| c.token.id.clone()),
            action: self.action,
            resource_kind: self.kind.to_string(),
            resource_id,
            namespace_id,
            client_addr: client
                .or(caller.and_then(|c| c.client))
                .map(|ip| ip.to_string()),
            outcome: AuditOutcome::Ok,
            status: 200,
            error: None,
        }
    }
}

/// A result an operation returns that names what it changed.
pub trait Audited {
    /// The resource's id and its namespace's id, when the result holds them.
    fn audit_ids(&self) -> Option<(String, Option<String>)> {
        None
    }
}

impl crate::Engine {
    /// Run `op`, then record it in the audit log with its outcome.
    pub(crate) async fn audited<T: Audited>(
        &self,
        caller: &Caller,
        audit: &Audit,
        op: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        self.audited_as(Some(caller), None, audit, op).await
    }

    /// Run `op`, the first step of a change whose success a later operation records: only a
    /// refusal is recorded here.
    pub(crate) async fn audited_refusal<T>(
        &self,
        caller: &Caller,
        audit: &Audit,
        op: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let result = op.await;
        if let Err(error) = &result {
            let mut entry = audit.entry(Some(caller), None);
            entry.outcome = AuditOutcome::Error;
            entry.status = error.status.as_u16();
            entry.error = Some(error.code.to_string());
            self.audit.record(entry);
        }
        result
    }

    /// [`Engine::audited`] for a change made with another credential than a token (a signed
    /// URL), or none known.
    pub(crate) async fn audited_as<T: Audited>(
        &self,
        caller: Option<&Caller>,
        client: Option<IpAddr>,
        audit: &Audit,
        op: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let result = op.await;
        let mut entry = audit.entry(caller, client);
        match &result {
            Ok(value) => {
                if let Some((id, namespace)) = value.audit_ids() {
                    entry.resource_id = Some(id);
                    if namespace.is_some() {
                        entry.namespace_id = namespace;
                    }
                }
            }
            Err(error) => {
                entry.outcome = AuditOutcome::Error;
                entry.status = error.status.as_u16();
                entry.error = Some(error.code.to_string());
            }
        }
        if entry.outcome == AuditOutcome::Ok {
            // Other nodes sharing the store bring their in-memory sets in line.
            self.announcer.announce(
                &entry.resource_kind,
                entry.action,
                entry.resource_id.clone(),
                entry.namespace_id.clone(),
            );
        }
        self.audit.record(entry);
        result
    }
}

impl Audited for () {}

/// Holds no ids of its own: the operation resolves its function's (`Audit::resolved`).
impl Audited for gust_core::TestRequest {}

macro_rules! audited_by_id {
    ($($type:ty => |$v:ident| $ids:expr),* $(,)?) => {
        $(impl Audited for $type {
            fn audit_ids(&self) -> Option<(String, Option<String>)> {
                let $v = self;
                Some($ids)
            }
        })*
    };
}

audited_by_id! {
    gust_core::Namespace => |n| (n.id.clone(), Some(n.id.clone())),
    gust_core::Function => |f| (f.id.clone(), Some(f.namespace_id.clone())),
    gust_core::Token => |t| (t.id.clone(), t.namespace_id.clone()),
    gust_core::Domain => |d| (d.id.clone(), Some(d.namespace_id.clone())),
    gust_core::Webhook => |w| (w.id.clone(), Some(w.namespace_id.clone())),
    gust_core::FunctionTrigger => |t| (t.id.clone(), Some(t.namespace_id.clone())),
    gust_core::FunctionVersion => |v| (format!("{}:{}", v.function_id, v.number), Some(v.namespace_id.clone())),
    gust_core::Alias => |a| (a.id.clone(), Some(a.namespace_id.clone())),
    gust_core::EdgeApplication => |a| (a.id.to_string(), Some(a.namespace_id.clone())),
    gust_core::EdgeDomain => |d| (d.id.to_string(), Some(d.namespace_id.clone())),
    gust_core::FunctionInstance => |i| (i.id.to_string(), Some(i.namespace_id.clone())),
    gust_core::EdgeRule => |r| (r.id.to_string(), None),
    gust_core::Deployment => |d| (d.id.clone(), None),
}
