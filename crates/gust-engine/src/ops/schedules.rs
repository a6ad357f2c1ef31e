//! The next fire times of a cron schedule, from the parser and tick rule the cron triggers use
//! (`gust_core::schedule`), so a preview and the scheduler never disagree.

use chrono::{DateTime, Utc};
use gust_core::Scope;

use crate::Engine;
use crate::auth::Caller;
use crate::error::{Error, Result};

/// Most fire times one preview lists.
pub const MAX_FIRE_TIMES: usize = 20;

impl Engine {
    /// The next `count` (1 to 20) times `schedule` fires after now, read in `timezone` (UTC
    /// when `None`); fewer when it stops firing. A 400 names `schedule`, `timezone` or
    /// `count`.
    pub async fn next_fire_times(
        &self,
        caller: &Caller,
        schedule: &str,
        timezone: Option<&str>,
        count: usize,
    ) -> Result<Vec<DateTime<Utc>>> {
        caller.require(Scope::Read)?;
        if !(1..=MAX_FIRE_TIMES).contains(&count) {
            return Err(Error::invalid(
                "count",
                format!("must be between 1 and {MAX_FIRE_TIMES}, got {count}"),
            ));
        }
        let schedule = gust_core::trigger::parse_schedule(schedule, timezone)?;
        Ok(schedule.next_ticks(Utc::now(), count))
    }
}
