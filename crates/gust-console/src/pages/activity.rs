//! Requests and errors per function over the last day, for the functions list, from the
//! engine's per-minute aggregates.

use std::collections::HashMap;

use crate::ConsoleState;
use crate::session::Signed;

/// Requests and errors of the last 24 h by function id; `None` when the engine refuses (the
/// list then shows no such columns rather than failing).
pub async fn last_day(
    state: &ConsoleState,
    signed: &Signed,
    ns: &str,
) -> Option<HashMap<String, (u64, u64)>> {
    match state
        .engine
        .namespace_activity(&signed.caller, ns, chrono::Duration::hours(24))
        .await
    {
        Ok(list) => Some(
            list.into_iter()
                .map(|a| (a.function_id, (a.requests, a.errors)))
                .collect(),
        ),
        Err(e) => {
            tracing::debug!(error = %e, "no activity for the functions list");
            None
        }
    }
}
