//! Custom events: delivered at once to the matching event triggers of their namespace.

use std::sync::Arc;

use gust_core::{Event, EventSpec, Scope};
use serde::Serialize;
use utoipa::ToSchema;

use crate::Engine;
use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::jobs::events::{Emitted, deliver, new_event};

/// First segments of platform events: a custom event may not pose as one.
const RESERVED: [&str; 2] = ["functions", "namespaces"];

/// A published event and what it started.
#[derive(Debug, Serialize, ToSchema)]
pub struct Published {
    pub event: Event,
    /// Ids of the async executions it started, one per matching trigger.
    pub executions: Vec<String>,
}

impl Engine {
    pub async fn publish_event(
        self: &Arc<Self>,
        caller: &Caller,
        ns: &str,
        spec: EventSpec,
    ) -> Result<Published> {
        let namespace = self.namespace_for(caller, ns).await?;
        caller.require_in(Scope::Invoke, &namespace.id)?;
        caller.require_whole_namespace()?;
        let name = spec
            .name
            .ok_or_else(|| Error::invalid("name", "is required, e.g. `orders.created`"))?;
        gust_core::trigger::event_name("name", &name)?;
        let first = name.split('.').next().unwrap_or_default();
        if RESERVED.contains(&first) {
            return Err(Error::invalid(
                "name",
                format!("`{first}.` events are the platform's own; pick another first segment"),
            ));
        }
        let size = serde_json::to_vec(&spec.payload)
            .map(|v| v.len())
            .unwrap_or(0);
        if size > gust_core::trigger::MAX_BODY {
            return Err(Error::invalid(
                "payload",
                format!(
                    "is {size} bytes; an event carries at most {}",
                    gust_core::trigger::MAX_BODY
                ),
            ));
        }
        let emitted = Emitted {
            event: new_event(&namespace.id, name, spec.payload),
            from_function: None,
            depth: 0,
        };
        let executions = deliver(&self.jobs, &emitted).await;
        Ok(Published {
            event: emitted.event,
            executions,
        })
    }
}
