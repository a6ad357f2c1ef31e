//! The triggers of every function, in memory: the scheduler reads the cron ones, the event
//! router the event ones, and neither queries the store to do it. Writers (the triggers API,
//! function create/update/delete) change the store first, then this set.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};

use gust_core::{FunctionTrigger, TriggerKind, TriggerOrigin};
use tokio::sync::Notify;

#[derive(Default)]
pub struct TriggerSet {
    by_id: RwLock<HashMap<String, FunctionTrigger>>,
    /// Any event trigger at all: when not, emitting an event costs one atomic load.
    has_event_triggers: AtomicBool,
    /// Wakes the scheduler when a cron trigger is added, changed or removed.
    pub changed: Notify,
    /// Taken around every read-modify-write of a stored trigger (a tick, a client's change),
    /// so a tick's used run is not undone by a change read before it, nor a pause by a tick.
    pub edits: tokio::sync::Mutex<()>,
}

impl TriggerSet {
    pub fn load(&self, triggers: Vec<FunctionTrigger>) {
        let mut map = self.by_id.write().unwrap_or_else(|p| p.into_inner());
        map.extend(triggers.into_iter().map(|t| (t.id.clone(), t)));
        self.settle(&map);
    }

    /// Replace every trigger with `triggers` (a resync with the store).
    pub fn reset(&self, triggers: Vec<FunctionTrigger>) {
        let mut map = self.by_id.write().unwrap_or_else(|p| p.into_inner());
        map.clear();
        map.extend(triggers.into_iter().map(|t| (t.id.clone(), t)));
        self.settle(&map);
    }

    /// A copy of the trigger `id`, if there is one.
    pub fn get(&self, id: &str) -> Option<FunctionTrigger> {
        let map = self.by_id.read().unwrap_or_else(|p| p.into_inner());
        map.get(id).cloned()
    }

    pub fn put(&self, trigger: FunctionTrigger) {
        let mut map = self.by_id.write().unwrap_or_else(|p| p.into_inner());
        map.insert(trigger.id.clone(), trigger);
        self.settle(&map);
    }

    pub fn remove(&self, id: &str) {
        let mut map = self.by_id.write().unwrap_or_else(|p| p.into_inner());
        map.remove(id);
        self.settle(&map);
    }

    /// Replace the triggers a function has of one origin.
    pub fn replace(&self, function_id: &str, origin: TriggerOrigin, with: &[FunctionTrigger]) {
        let mut map = self.by_id.write().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, t| !(t.function_id == function_id && t.origin == origin));
        map.extend(with.iter().map(|t| (t.id.clone(), t.clone())));
        self.settle(&map);
    }

    pub fn remove_function(&self, function_id: &str) {
        let mut map = self.by_id.write().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, t| t.function_id != function_id);
        self.settle(&map);
    }

    pub fn has_event_triggers(&self) -> bool {
        self.has_event_triggers.load(Ordering::Relaxed)
    }

    /// Copies of the triggers that fire on Gust events (event and queue triggers) in a namespace.
    pub fn hearing_events(&self, namespace_id: &str) -> Vec<FunctionTrigger> {
        let map = self.by_id.read().unwrap_or_else(|p| p.into_inner());
        map.values()
            .filter(|t| t.kind.hears_events() && t.namespace_id == namespace_id)
            .cloned()
            .collect()
    }

    /// Copies of the triggers of one kind (the cron ones, or the event ones of a namespace).
    pub fn of_kind(&self, kind: TriggerKind, namespace_id: Option<&str>) -> Vec<FunctionTrigger> {
        let map = self.by_id.read().unwrap_or_else(|p| p.into_inner());
        map.values()
            .filter(|t| t.kind == kind && namespace_id.is_none_or(|ns| t.namespace_id == ns))
            .cloned()
            .collect()
    }

    fn settle(&self, map: &HashMap<String, FunctionTrigger>) {
        let any_event = map.values().any(|t| t.kind.hears_events());
        self.has_event_triggers.store(any_event, Ordering::Relaxed);
        self.changed.notify_one();
    }
}
