//! Requests and errors per function over the last day, for the functions list.

use std::collections::HashMap;

use crate::ConsoleState;
use crate::session::Signed;

/// Requests and errors of the last 24 h by function id; `None` when the engine cannot say.
pub async fn last_day(
    _state: &ConsoleState,
    _signed: &Signed,
    _ns: &str,
) -> Option<HashMap<String, (u64, u64)>> {
    None
}
