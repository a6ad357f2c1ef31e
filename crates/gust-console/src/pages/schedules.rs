//! A schedule's next fire times, as the engine works them out.

use chrono::{DateTime, Utc};

use crate::ConsoleState;
use crate::session::Signed;

pub async fn next_times(
    _state: &ConsoleState,
    _signed: &Signed,
    schedule: &str,
    _timezone: Option<&str>,
    _count: usize,
) -> gust_engine::Result<Vec<DateTime<Utc>>> {
    if schedule.is_empty() {
        return Err(gust_engine::Error::invalid("schedule", "is required"));
    }
    Ok(Vec::new())
}
