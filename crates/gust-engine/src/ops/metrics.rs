//! Charts of a function's executions over the last hour, day or week, and each function's
//! requests and errors since a time, read from the per-minute aggregates (`crate::minutes`).

use chrono::Utc;
use gust_core::Scope;
use gust_core::metrics::{self, FunctionActivity, FunctionMetrics, MetricsWindow};

use crate::Engine;
use crate::auth::Caller;
use crate::error::{Error, Result};

impl Engine {
    /// The chart of `ns/function` over `window`: a point per step, the last one still going on.
    pub async fn function_metrics(
        &self,
        caller: &Caller,
        ns: &str,
        function: &str,
        window: MetricsWindow,
    ) -> Result<FunctionMetrics> {
        caller.require(Scope::Read)?;
        let (_, function) = self.function_for(caller, ns, function).await?;
        let now = Utc::now();
        let minutes = self
            .minutes
            .read(&*self.store, &function.id, window.start(now))
            .await?;
        Ok(metrics::chart(window, now, &minutes))
    }

    /// Requests and errors of each function of `ns` over the last `since` (whole minutes, from
    /// the start of the minute it began in; at most 8 days, what is kept), by function id.
    /// Functions without requests are left out; a token bound to one function sees its own.
    pub async fn namespace_activity(
        &self,
        caller: &Caller,
        ns: &str,
        since: chrono::Duration,
    ) -> Result<Vec<FunctionActivity>> {
        caller.require(Scope::Read)?;
        if since < chrono::Duration::minutes(1) || since > metrics::RETENTION {
            return Err(Error::invalid(
                "since_s",
                format!(
                    "must be between 60 and {} seconds (8 days: what is kept)",
                    metrics::RETENTION.num_seconds()
                ),
            ));
        }
        let namespace = self.namespace_for(caller, ns).await?;
        let from = metrics::minute_of(Utc::now() - since);
        let mut activity = self
            .minutes
            .activity(&*self.store, &namespace.id, from)
            .await?;
        if let Some(only) = &caller.token.function_id {
            activity.retain(|a| &a.function_id == only);
        }
        Ok(activity)
    }
}
