//! A schedule's next fire times, as the engine works them out (a 400 names `schedule` or
//! `timezone`).

use chrono::{DateTime, Utc};

use crate::ConsoleState;
use crate::session::Signed;

pub async fn next_times(
    state: &ConsoleState,
    signed: &Signed,
    schedule: &str,
    timezone: Option<&str>,
    count: usize,
) -> gust_engine::Result<Vec<DateTime<Utc>>> {
    state
        .engine
        .next_fire_times(&signed.caller, schedule, timezone, count)
        .await
}
