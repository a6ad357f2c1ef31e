//! Per-minute aggregates of executions: a row per function and minute, counts in columns and
//! the duration histogram as JSON. Adding to a minute already stored merges in Rust, in the
//! transaction that reads the row: histograms do not add up in SQL.

use chrono::{DateTime, Utc};
use gust_core::metrics::{DurationHistogram, FunctionActivity, MinuteAggregate};

use crate::StoreResult;
use crate::sql::{Row, q};
use crate::sql_store::{SqlStore, json};

fn aggregate(row: &Row) -> StoreResult<MinuteAggregate> {
    Ok(MinuteAggregate {
        function_id: row.text("function_id")?.to_string(),
        namespace_id: row.text("namespace_id")?.to_string(),
        minute: DateTime::from_timestamp(row.int("minute")?, 0).unwrap_or_default(),
        requests: row.int("requests")? as u64,
        errors: row.int("errors")? as u64,
        cold_starts: row.int("cold_starts")? as u64,
        instances: row.int("instances")? as u32,
        durations: serde_json::from_str::<DurationHistogram>(row.text("durations")?)?,
    })
}

const COLUMNS: &str =
    "function_id, namespace_id, minute, requests, errors, cold_starts, instances, durations";

impl SqlStore {
    pub(crate) async fn minutes_add(&self, minutes: &[MinuteAggregate]) -> StoreResult<()> {
        if minutes.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin_write().await?;
        for added in minutes {
            let at = added.minute.timestamp();
            let stored = tx
                .fetch_optional(
                    q(format!(
                        "SELECT {COLUMNS} FROM function_minutes \
                         WHERE function_id = $1 AND minute = $2"
                    ))
                    .text(&added.function_id)
                    .int(at),
                )
                .await?;
            let mut total = match stored {
                Some(row) => aggregate(&row)?,
                None => MinuteAggregate {
                    function_id: added.function_id.clone(),
                    minute: added.minute,
                    ..Default::default()
                },
            };
            total.merge(added);
            // The namespace is the function's; a function deleted since adds nothing.
            tx.execute(
                q(
                    "INSERT INTO function_minutes (function_id, namespace_id, minute, \
                   requests, errors, cold_starts, instances, durations) \
                   SELECT id, namespace_id, $1, $2, $3, $4, $5, $6 FROM functions WHERE id = $7 \
                   ON CONFLICT (function_id, minute) DO UPDATE SET \
                   namespace_id = excluded.namespace_id, requests = excluded.requests, \
                   errors = excluded.errors, cold_starts = excluded.cold_starts, \
                   instances = excluded.instances, durations = excluded.durations",
                )
                .int(at)
                .int(total.requests as i64)
                .int(total.errors as i64)
                .int(total.cold_starts as i64)
                .int(i64::from(total.instances))
                .text(json(&total.durations)?)
                .text(&added.function_id),
            )
            .await?;
        }
        tx.commit().await
    }

    pub(crate) async fn minutes_of_function(
        &self,
        function_id: &str,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<MinuteAggregate>> {
        let rows = self
            .rows(
                q(format!(
                    "SELECT {COLUMNS} FROM function_minutes \
                     WHERE function_id = $1 AND minute >= $2 ORDER BY minute"
                ))
                .text(function_id)
                .int(since.timestamp()),
            )
            .await?;
        rows.iter().map(aggregate).collect()
    }

    pub(crate) async fn minutes_activity(
        &self,
        namespace_id: &str,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<FunctionActivity>> {
        // Sums cast back to integers: PostgreSQL sums `bigint`s as `numeric`.
        let rows = self
            .rows(
                q(
                    "SELECT function_id, CAST(SUM(requests) AS BIGINT) AS requests, \
                   CAST(SUM(errors) AS BIGINT) AS errors \
                   FROM function_minutes WHERE namespace_id = $1 AND minute >= $2 \
                   GROUP BY function_id HAVING SUM(requests) > 0 ORDER BY function_id",
                )
                .text(namespace_id)
                .int(since.timestamp()),
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(FunctionActivity {
                    function_id: row.text("function_id")?.to_string(),
                    requests: row.int("requests")? as u64,
                    errors: row.int("errors")? as u64,
                })
            })
            .collect()
    }

    pub(crate) async fn minutes_prune(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.exec(q("DELETE FROM function_minutes WHERE minute < $1").int(before.timestamp()))
            .await
    }
}
