//! [`SqliteExecutionWriter`]: execution records written through a connection of their own.
//!
//! Every invocation writes a record, so this is the store's hottest path. It runs on one thread
//! (the recorder's), synchronously: prepared statements kept for the connection's life, values
//! bound straight from the record and from one reused buffer holding its stored JSON (written
//! by hand, [`gust_core::stored::write_execution`]), no hop to another thread per statement.
//! Everything else in the store goes through sqlx; both use the same SQLite library and file,
//! and SQLite orders their writes.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use gust_core::{Execution, ExecutionRetention};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::StoreResult;
use crate::sqlite::{DELETE_FINISHED_BEFORE, RETENTION_BOUNDARY, prune_before};
use crate::store::ExecutionWriter;

const COLUMNS: &str = "(id, function_id, status, trigger, data, idempotency_key, dead_letter)";
const VALUES: &str = "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

pub struct SqliteExecutionWriter {
    connection: Connection,
    /// The stored JSON of the record being bound.
    json: Vec<u8>,
    /// Bytes the database may use (0: no limit).
    budget: Option<Arc<AtomicU64>>,
    /// Executions deleted to keep within it, not yet reported.
    pruned: u64,
}

/// Within the budget, a batch that went past it prunes down to this share of it, so the
/// next batches have room.
const LOW_WATER: u64 = 90;
/// Bytes of records per transaction within a budget.
const LIMITED_CHUNK: usize = 1024 * 1024;
/// Executions deleted per statement while pruning to the budget.
const PRUNE_STEP: i64 = 256;
/// Executions deleted per statement while pruning a function to its retention.
const RETENTION_STEP: i64 = 2_000;

impl SqliteExecutionWriter {
    /// A connection to the database at `path`, which [`SqliteStore::open`](crate::SqliteStore)
    /// has already created and migrated.
    pub(crate) fn open(path: &Path) -> StoreResult<Self> {
        let connection = Connection::open(path)?;
        // Per connection: the same durability as the store's own connections (WAL is a
        // property of the file, set when the store opened it).
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        // As the store's connections: a checkpoint truncates the log to this size at most.
        connection.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
        connection.busy_timeout(Duration::from_secs(10))?;
        Ok(Self {
            connection,
            json: Vec::with_capacity(1024),
            budget: None,
            pruned: 0,
        })
    }

    /// Bytes the rows take: the file's pages but its free ones, as this transaction sees them.
    fn used_bytes(tx: &rusqlite::Transaction<'_>) -> StoreResult<u64> {
        let pragma = |name: &str| -> StoreResult<u64> {
            let value: i64 = tx.query_row(&format!("PRAGMA {name}"), [], |row| row.get(0))?;
            Ok(value.max(0) as u64)
        };
        Ok((pragma("page_count")? - pragma("freelist_count")?) * pragma("page_size")?)
    }

    /// Past `budget`, delete the oldest finished executions down to [`LOW_WATER`]% of it, in
    /// the batch's transaction: the file never grows past the budget by more than a batch.
    fn keep_within(tx: &rusqlite::Transaction<'_>, budget: u64) -> StoreResult<u64> {
        if Self::used_bytes(tx)? <= budget {
            return Ok(0);
        }
        let low_water = budget / 100 * LOW_WATER;
        let mut delete = tx.prepare_cached(
            "DELETE FROM executions WHERE seq IN (SELECT seq FROM executions \
             WHERE status NOT IN ('queued', 'running') ORDER BY seq LIMIT ?1)",
        )?;
        let mut deleted = 0;
        loop {
            let n = delete.execute([PRUNE_STEP])? as u64;
            deleted += n;
            if n < PRUNE_STEP as u64 || Self::used_bytes(tx)? <= low_water {
                return Ok(deleted);
            }
        }
    }

    /// Binds the row of `execution` to `statement`'s seven parameters.
    fn bind(
        json: &mut Vec<u8>,
        statement: &mut rusqlite::Statement<'_>,
        execution: &Execution,
    ) -> StoreResult<()> {
        json.clear();
        gust_core::stored::write_execution(json, execution);
        statement.raw_bind_parameter(1, execution.id.as_str())?;
        statement.raw_bind_parameter(2, execution.function_id.as_str())?;
        statement.raw_bind_parameter(3, execution.status.as_str())?;
        statement.raw_bind_parameter(4, execution.trigger.as_str())?;
        // Written from Rust strings, so UTF-8: bound as text without another check.
        statement.raw_bind_parameter(5, ToSqlOutput::Borrowed(ValueRef::Text(json)))?;
        statement.raw_bind_parameter(6, execution.idempotency_key.as_deref())?;
        statement.raw_bind_parameter(7, i64::from(execution.dead_letter))?;
        Ok(())
    }
}

impl ExecutionWriter for SqliteExecutionWriter {
    fn put(&mut self, batch: &[Execution]) -> StoreResult<()> {
        let budget = self
            .budget
            .as_ref()
            .map_or(0, |budget| budget.load(Ordering::Relaxed));
        // Within a budget, a transaction per MiB of records, each pruning before it commits:
        // neither the file nor the log then passes the budget by more than that.
        let chunk = if budget > 0 {
            LIMITED_CHUNK
        } else {
            usize::MAX
        };
        let mut rest = batch;
        while !rest.is_empty() {
            let tx = self
                .connection
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut written = 0;
            let mut bytes = 0;
            {
                let mut insert = tx.prepare_cached(&format!(
                    "INSERT OR REPLACE INTO executions {COLUMNS} {VALUES}"
                ))?;
                for execution in rest {
                    Self::bind(&mut self.json, &mut insert, execution)?;
                    insert.raw_execute()?;
                    written += 1;
                    bytes += self.json.len();
                    if bytes >= chunk {
                        break;
                    }
                }
            }
            if budget > 0 {
                self.pruned += Self::keep_within(&tx, budget)?;
            }
            tx.commit()?;
            rest = &rest[written..];
        }
        Ok(())
    }

    fn prune(
        &mut self,
        function_id: &str,
        retention: &ExecutionRetention,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let boundary: Option<String> = self
            .connection
            .prepare_cached(RETENTION_BOUNDARY)?
            .query_row(
                params![function_id, i64::from(retention.max_count) - 1],
                |row| row.get(0),
            )
            .optional()?;
        let before = prune_before(boundary, retention, now);
        // A statement per step, each its own transaction: a large backlog never holds the
        // database's write lock for long.
        let mut deleted = 0;
        loop {
            let n = self
                .connection
                .prepare_cached(DELETE_FINISHED_BEFORE)?
                .execute(params![function_id, before, RETENTION_STEP])? as u64;
            deleted += n;
            if n < RETENTION_STEP as u64 {
                return Ok(deleted);
            }
        }
    }

    fn limit_size(&mut self, budget: Arc<AtomicU64>) {
        // A checkpoint every 64 pages (1 MiB) rather than 1000, and the log truncated to
        // 1 MiB after it: the log then stays small beside a small budget.
        let _ = self
            .connection
            .pragma_update(None, "wal_autocheckpoint", 64);
        let _ = self
            .connection
            .pragma_update(None, "journal_size_limit", 1024 * 1024);
        self.budget = Some(budget);
    }

    fn take_pruned(&mut self) -> u64 {
        std::mem::take(&mut self.pruned)
    }

    fn insert(&mut self, batch: &[Execution]) -> StoreResult<Vec<(Execution, bool)>> {
        let tx = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut results = Vec::with_capacity(batch.len());
        {
            // A repeated idempotency key conflicts with the first execution's row: not written,
            // and that first execution is the answer.
            let mut insert = tx.prepare_cached(&format!(
                "INSERT INTO executions {COLUMNS} {VALUES} ON CONFLICT DO NOTHING"
            ))?;
            let mut first = tx.prepare_cached(
                "SELECT id, function_id, data FROM executions \
                 WHERE function_id = ?1 AND idempotency_key = ?2",
            )?;
            for execution in batch {
                Self::bind(&mut self.json, &mut insert, execution)?;
                if insert.raw_execute()? == 1 {
                    results.push((execution.clone(), true));
                    continue;
                }
                let key = execution.idempotency_key.as_deref().unwrap_or_default();
                let stored = first
                    .query_row(params![execution.function_id, key], |row| {
                        Ok((
                            row.get::<_, String>(0)?,
                            row.get::<_, String>(1)?,
                            row.get::<_, String>(2)?,
                        ))
                    })
                    .optional()?
                    .ok_or_else(|| crate::StoreError::not_found("execution", &execution.id))?;
                results.push((stored_execution(stored)?, false));
            }
        }
        tx.commit()?;
        Ok(results)
    }
}

/// A row's `(id, function_id, data)` as the execution it holds.
pub(crate) fn stored_execution(
    (id, function_id, data): (String, String, String),
) -> StoreResult<Execution> {
    let mut execution: Execution = serde_json::from_str(&data)?;
    execution.id = id;
    execution.function_id = function_id;
    Ok(execution)
}
