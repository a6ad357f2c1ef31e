//! Events: what happened to namespaces, functions, deployments and executions (platform
//! events), plus what clients publish (custom events). Each event is matched against the event
//! triggers of its namespace; each match becomes an async execution with the event as its body.
//!
//! Names: `namespaces.{id}.{change}`, `functions.{id}.{change}`,
//! `functions.{id}.deployments.{id}.{change}`, `functions.{id}.executions.{id}.{change}`, where
//! change is `create`, `update` or `delete`. Custom events use any other first segment.
//!
//! Loops: an execution's own events never trigger its own function, and a chain of executions
//! started by each other's events stops at [`MAX_EVENT_DEPTH`] links.
//!
//! Emitting costs one atomic load while no event trigger exists; otherwise the event goes
//! through a channel to a router task, so no request waits for matching or submitting.

use std::sync::Arc;

use gust_core::execution::MAX_EVENT_DEPTH;
use gust_core::{Deployment, Event, Execution, ExecutionTrigger, TriggerKind};
use tokio::sync::mpsc;

use crate::jobs::Jobs;
use crate::jobs::triggers::TriggerSet;
use crate::jobs::{Submission, submit};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Create,
    Update,
    Delete,
}

impl Change {
    fn as_str(self) -> &'static str {
        match self {
            Change::Create => "create",
            Change::Update => "update",
            Change::Delete => "delete",
        }
    }
}

/// An event on its way to the router, with where it came from (for the loop guard).
pub struct Emitted {
    pub event: Event,
    /// The function whose execution this event reports, if it reports one.
    pub from_function: Option<String>,
    /// Links of the event chain so far (the reporting execution's `event_depth`).
    pub depth: u32,
}

#[derive(Clone)]
pub struct EventBus {
    /// Unbounded: events are small and emitting must never wait.
    tx: mpsc::UnboundedSender<Emitted>,
    triggers: Arc<TriggerSet>,
}

impl EventBus {
    pub fn channel(triggers: Arc<TriggerSet>) -> (Self, mpsc::UnboundedReceiver<Emitted>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx, triggers }, rx)
    }

    /// Emit a platform event about a resource (`path` like `functions.{id}`), unless no event
    /// trigger could care.
    pub fn resource(
        &self,
        namespace_id: &str,
        path: &str,
        change: Change,
        payload: impl FnOnce() -> serde_json::Value,
    ) {
        if !self.triggers.has_event_triggers() {
            return;
        }
        let _ = self.tx.send(Emitted {
            event: new_event(
                namespace_id,
                format!("{path}.{}", change.as_str()),
                payload(),
            ),
            from_function: None,
            depth: 0,
        });
    }

    /// Emit `functions.{fn}.deployments.{id}.{change}`, with the deployment as it is now.
    pub fn deployment(&self, namespace_id: &str, deployment: &Deployment, change: Change) {
        self.resource(
            namespace_id,
            &format!(
                "functions.{}.deployments.{}",
                deployment.function_id, deployment.id
            ),
            change,
            || serde_json::to_value(deployment).unwrap_or_default(),
        );
    }

    /// Emit `functions.{fn}.executions.{id}.{change}`. The payload is the record without its
    /// bodies and logs (fetch the execution for those), so an event stays small.
    pub fn execution(&self, execution: &Execution, change: Change) {
        if !self.triggers.has_event_triggers() {
            return;
        }
        let mut summary = execution.clone();
        summary.request.body = Default::default();
        summary.request.headers.clear();
        if let Some(response) = summary.response.as_mut() {
            response.body = Default::default();
        }
        summary.logs = Default::default();
        let name = format!(
            "functions.{}.executions.{}.{}",
            execution.function_id,
            execution.id,
            change.as_str()
        );
        let _ = self.tx.send(Emitted {
            event: new_event(
                &execution.namespace_id,
                name,
                serde_json::to_value(&summary).unwrap_or_default(),
            ),
            from_function: Some(execution.function_id.clone()),
            depth: execution.event_depth,
        });
    }
}

pub fn new_event(namespace_id: &str, name: String, payload: serde_json::Value) -> Event {
    Event {
        id: gust_core::new_id(),
        name,
        namespace_id: namespace_id.to_string(),
        payload,
        time: gust_core::now(),
    }
}

/// The router: deliver each emitted event to the triggers it matches.
pub fn spawn_router(jobs: Jobs, mut rx: mpsc::UnboundedReceiver<Emitted>) {
    tokio::spawn(async move {
        while let Some(emitted) = rx.recv().await {
            deliver(&jobs, &emitted).await;
        }
    });
}

/// Start one async execution per matching event trigger; returns their ids.
pub async fn deliver(jobs: &Jobs, emitted: &Emitted) -> Vec<String> {
    let event = &emitted.event;
    if emitted.depth >= MAX_EVENT_DEPTH {
        tracing::warn!(event = %event.name, depth = emitted.depth, "event chain too long; not delivered");
        return Vec::new();
    }
    let whole = serde_json::to_vec(event).unwrap_or_default();
    // A queue trigger's function gets the message itself, as a consumer of the queue would.
    let message = match &event.payload {
        serde_json::Value::String(text) => text.clone().into_bytes(),
        other => serde_json::to_vec(other).unwrap_or_default(),
    };
    let mut started = Vec::new();
    for trigger in jobs.triggers.hearing_events(&event.namespace_id) {
        if emitted.from_function.as_deref() == Some(trigger.function_id.as_str()) {
            continue; // a function never triggers itself through its own executions
        }
        if !trigger
            .events
            .iter()
            .any(|pattern| gust_core::trigger::event_matches(pattern, &event.name))
        {
            continue;
        }
        let Some(live) = jobs.live.get(&trigger.namespace_id, &trigger.function_id) else {
            tracing::debug!(trigger = %trigger.id, "event trigger of a function without an active deployment");
            continue;
        };
        let mut headers = std::collections::BTreeMap::new();
        headers.insert("content-type".to_string(), "application/json".to_string());
        headers.insert("x-gust-event".to_string(), event.name.clone());
        headers.insert("x-gust-trigger-id".to_string(), trigger.id.clone());
        let submission = Submission {
            trigger: ExecutionTrigger::Event,
            request: gust_core::ExecutionRequest {
                method: "POST".into(),
                path: "/".into(),
                query: String::new(),
                headers,
                body: gust_core::execution::RecordedBody::whole(
                    if trigger.kind == TriggerKind::Queue {
                        &message
                    } else {
                        &whole
                    },
                ),
            },
            // One execution per trigger per event, even if the event is delivered twice.
            idempotency_key: Some(format!("event:{}:{}", trigger.id, event.id)),
            source: Some(format!("trigger {} on event {}", trigger.id, event.name)),
            replay_of: None,
            event_depth: emitted.depth + 1,
            function_version: None,
            alias: None,
        };
        match submit(jobs, &live.function, submission).await {
            Ok((execution, _)) => started.push(execution.id),
            Err(e) => tracing::error!(trigger = %trigger.id, error = %e, "event delivery failed"),
        }
    }
    started
}
