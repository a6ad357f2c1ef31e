//! Per-minute aggregates of executions in SQLite: a row per function and minute, counts in
//! columns and the duration histogram as JSON. Adding to a minute already stored merges in
//! Rust, in the transaction that reads the row: histograms do not add up in SQL.

use chrono::{DateTime, Utc};
use gust_core::metrics::{DurationHistogram, FunctionActivity, MinuteAggregate};
use sqlx::Row;

use crate::StoreResult;
use crate::sqlite::{SqliteStore, json};

fn aggregate(row: &sqlx::sqlite::SqliteRow) -> StoreResult<MinuteAggregate> {
    let minute: i64 = row.try_get("minute")?;
    let durations: String = row.try_get("durations")?;
    Ok(MinuteAggregate {
        function_id: row.try_get("function_id")?,
        namespace_id: row.try_get("namespace_id")?,
        minute: DateTime::from_timestamp(minute, 0).unwrap_or_default(),
        requests: row.try_get::<i64, _>("requests")? as u64,
        errors: row.try_get::<i64, _>("errors")? as u64,
        cold_starts: row.try_get::<i64, _>("cold_starts")? as u64,
        instances: row.try_get::<i64, _>("instances")? as u32,
        durations: serde_json::from_str::<DurationHistogram>(&durations)?,
    })
}

const COLUMNS: &str =
    "function_id, namespace_id, minute, requests, errors, cold_starts, instances, durations";

impl SqliteStore {
    pub(crate) async fn minutes_add(&self, minutes: &[MinuteAggregate]) -> StoreResult<()> {
        if minutes.is_empty() {
            return Ok(());
        }
        let mut tx = self.write_transaction().await?;
        for added in minutes {
            let at = added.minute.timestamp();
            let stored = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM function_minutes WHERE function_id = ? AND minute = ?"
            ))
            .bind(&added.function_id)
            .bind(at)
            .fetch_optional(&mut *tx)
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
            sqlx::query(
                "INSERT OR REPLACE INTO function_minutes (function_id, namespace_id, minute, \
                 requests, errors, cold_starts, instances, durations) \
                 SELECT id, namespace_id, ?, ?, ?, ?, ?, ? FROM functions WHERE id = ?",
            )
            .bind(at)
            .bind(total.requests as i64)
            .bind(total.errors as i64)
            .bind(total.cold_starts as i64)
            .bind(i64::from(total.instances))
            .bind(json(&total.durations)?)
            .bind(&added.function_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn minutes_of_function(
        &self,
        function_id: &str,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<MinuteAggregate>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM function_minutes WHERE function_id = ? AND minute >= ? \
             ORDER BY minute"
        ))
        .bind(function_id)
        .bind(since.timestamp())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(aggregate).collect()
    }

    pub(crate) async fn minutes_activity(
        &self,
        namespace_id: &str,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<FunctionActivity>> {
        let rows = sqlx::query(
            "SELECT function_id, SUM(requests) AS requests, SUM(errors) AS errors \
             FROM function_minutes WHERE namespace_id = ? AND minute >= ? \
             GROUP BY function_id HAVING SUM(requests) > 0 ORDER BY function_id",
        )
        .bind(namespace_id)
        .bind(since.timestamp())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(FunctionActivity {
                    function_id: row.try_get("function_id")?,
                    requests: row.try_get::<i64, _>("requests")? as u64,
                    errors: row.try_get::<i64, _>("errors")? as u64,
                })
            })
            .collect()
    }

    pub(crate) async fn minutes_prune(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM function_minutes WHERE minute < ?")
            .bind(before.timestamp())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
