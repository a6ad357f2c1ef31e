//! [`PgExecutionWriter`]: execution records written into PostgreSQL through a connection of
//! their own.
//!
//! The recorder calls the writer from a plain thread, synchronously, so the writer owns a
//! small current-thread tokio runtime and blocks on it: the connection's socket is driven by
//! that runtime alone, never hopping to the server's. A batch is one statement, hence one
//! transaction: every column travels as one array (`UNNEST`), so the statement is prepared
//! once and a batch of any size costs one round trip.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use chrono::{DateTime, Utc};
use gust_core::{Execution, ExecutionRetention};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection, Row};

use crate::sql_store::{RETENTION_BOUNDARY, prune_before};
use crate::store::ExecutionWriter;
use crate::writer::{RETENTION_STEP, stored_execution};
use crate::{StoreError, StoreResult};

/// `$8`, the owner of what it inserts, is the same for the whole batch: this server.
const INSERT: &str = "INSERT INTO executions \
     (id, function_id, status, trigger, data, idempotency_key, dead_letter, owner) \
     SELECT *, $8::text FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], \
     $5::text[], $6::text[], $7::int2[])";

/// As SQLite's `INSERT OR REPLACE`: a record written again replaces the row, and counts as
/// written last (a new `seq`) for the pruning of the oldest.
const UPSERT: &str = "ON CONFLICT (function_id, id) DO UPDATE SET \
     seq = nextval('executions_seq_seq'), status = excluded.status, \
     trigger = excluded.trigger, data = excluded.data, \
     idempotency_key = excluded.idempotency_key, dead_letter = excluded.dead_letter";

pub struct PgExecutionWriter {
    /// Drives the connection; shut down in the background on drop, which may happen on a
    /// thread that must not block.
    runtime: Option<tokio::runtime::Runtime>,
    connection: Option<PgConnection>,
    /// To connect again when the connection is lost.
    options: PgConnectOptions,
    /// The server whose executions these are.
    owner: Option<String>,
    /// The stored JSON of a batch's records, one after the other.
    json: Vec<u8>,
    /// Whether a size budget was refused (said once).
    warned: bool,
    /// Per function, where its last pruning stopped: everything finished before it is gone.
    /// The next pruning starts there rather than at the function's oldest row: PostgreSQL
    /// keeps the rows deleted before until a vacuum, and an index scan from the oldest would
    /// step over all of them, on every pruning (every few hundred records).
    pruned_to: std::collections::HashMap<String, String>,
}

/// [`DELETE_FINISHED_BEFORE`](crate::sql_store::DELETE_FINISHED_BEFORE) from where the previous pruning of the function stopped (`$4`;
/// `''` for the first, before every id).
const DELETE_FINISHED_FROM: &str = "DELETE FROM executions WHERE seq IN \
     (SELECT seq FROM executions WHERE function_id = $1 AND id >= $4 AND id < $2 \
     AND status NOT IN ('queued', 'running') ORDER BY id LIMIT $3)";

/// A batch as columns, borrowed from the records and the JSON buffer.
struct Columns<'a> {
    ids: Vec<&'a str>,
    function_ids: Vec<&'a str>,
    statuses: Vec<&'a str>,
    triggers: Vec<&'a str>,
    data: Vec<&'a str>,
    keys: Vec<Option<&'a str>>,
    dead_letters: Vec<i16>,
}

impl PgExecutionWriter {
    /// Its own connection, made on a thread of its own: the caller may be on a runtime's
    /// thread, where blocking on another runtime is refused.
    pub(crate) fn connect(options: PgConnectOptions, owner: Option<String>) -> StoreResult<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(StoreError::io("starting the execution writer's runtime"))?;
        let connection = std::thread::scope(|scope| {
            scope
                .spawn(|| runtime.block_on(PgConnection::connect_with(&options)))
                .join()
                .unwrap_or_else(|_| {
                    Err(sqlx::Error::Protocol(
                        "the connecting thread panicked".into(),
                    ))
                })
        })?;
        Ok(Self {
            runtime: Some(runtime),
            connection: Some(connection),
            options,
            owner,
            json: Vec::with_capacity(64 * 1024),
            warned: false,
            pruned_to: std::collections::HashMap::new(),
        })
    }

    /// Run `work` on the connection, blocking this thread until it is done. When it fails
    /// because the connection is lost (the database restarted, the connection was killed),
    /// connect again, as long as it takes, and run it again: every statement here may run
    /// twice (upserts, and inserts that tell their own earlier row), and a record given to the
    /// writer is not dropped for an outage.
    fn run<T>(
        &mut self,
        work: impl AsyncFn(&mut PgConnection) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let Some(runtime) = &self.runtime else {
            return Err(StoreError::Unavailable(
                "the execution writer is closed".into(),
            ));
        };
        let mut pause = std::time::Duration::from_millis(50);
        loop {
            if let Some(connection) = &mut self.connection {
                let result = runtime.block_on(work(connection));
                let error = match result {
                    Ok(value) => return Ok(value),
                    Err(error) => error,
                };
                let alive = runtime.block_on(async {
                    tokio::time::timeout(std::time::Duration::from_secs(5), connection.ping())
                        .await
                        .is_ok_and(|pinged| pinged.is_ok())
                });
                if alive {
                    return Err(error);
                }
                tracing::warn!(error = %error, "the execution writer lost its connection; connecting again");
                self.connection = None;
            }
            match runtime.block_on(PgConnection::connect_with(&self.options)) {
                Ok(connection) => {
                    tracing::info!("the execution writer is connected again");
                    self.connection = Some(connection);
                    pause = std::time::Duration::from_millis(50);
                }
                Err(e) => {
                    tracing::debug!(error = %e, "the execution writer cannot connect yet");
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(std::time::Duration::from_secs(2));
                }
            }
        }
    }

    /// The batch's columns, each record's JSON written into `json`. A record that appears more
    /// than once counts in its last form only: one statement may not change a row twice.
    fn columns<'a>(json: &'a mut Vec<u8>, batch: &'a [Execution]) -> StoreResult<Columns<'a>> {
        let mut seen = HashSet::with_capacity(batch.len());
        let mut last: Vec<&Execution> = batch
            .iter()
            .rev()
            .filter(|e| seen.insert((e.function_id.as_str(), e.id.as_str())))
            .collect();
        last.reverse();
        json.clear();
        let mut ends = Vec::with_capacity(last.len());
        for execution in &last {
            gust_core::stored::write_execution(json, execution);
            ends.push(json.len());
        }
        let text = std::str::from_utf8(json).map_err(|e| {
            StoreError::Corrupt(serde::de::Error::custom(format!("record JSON: {e}")))
        })?;
        let mut start = 0;
        let data = ends
            .iter()
            .map(|&end| {
                let piece = &text[start..end];
                start = end;
                piece
            })
            .collect();
        Ok(Columns {
            ids: last.iter().map(|e| e.id.as_str()).collect(),
            function_ids: last.iter().map(|e| e.function_id.as_str()).collect(),
            statuses: last.iter().map(|e| e.status.as_str()).collect(),
            triggers: last.iter().map(|e| e.trigger.as_str()).collect(),
            data,
            keys: last.iter().map(|e| e.idempotency_key.as_deref()).collect(),
            dead_letters: last.iter().map(|e| i16::from(e.dead_letter)).collect(),
        })
    }
}

impl Columns<'_> {
    fn bind<'q>(
        &'q self,
        sql: &'q str,
        owner: Option<&'q str>,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        sqlx::query(sql)
            .bind(&self.ids)
            .bind(&self.function_ids)
            .bind(&self.statuses)
            .bind(&self.triggers)
            .bind(&self.data)
            .bind(&self.keys)
            .bind(&self.dead_letters)
            .bind(owner)
    }
}

impl ExecutionWriter for PgExecutionWriter {
    fn put(&mut self, batch: &[Execution]) -> StoreResult<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut json = std::mem::take(&mut self.json);
        let owner = self.owner.clone();
        let result = Self::columns(&mut json, batch).and_then(|columns| {
            let sql = format!("{INSERT} {UPSERT}");
            self.run(async |connection| {
                columns
                    .bind(&sql, owner.as_deref())
                    .execute(&mut *connection)
                    .await?;
                Ok(())
            })
        });
        self.json = json;
        result
    }

    fn insert(&mut self, batch: &[Execution]) -> StoreResult<Vec<(Execution, bool)>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let mut json = std::mem::take(&mut self.json);
        let owner = self.owner.clone();
        let result = Self::columns(&mut json, batch).and_then(|columns| {
            self.run(async |connection| {
                let mut tx = connection.begin().await?;
                // A repeated idempotency key conflicts with the first execution's row: not
                // written, and that first execution is the answer.
                let sql = format!("{INSERT} ON CONFLICT DO NOTHING RETURNING function_id, id");
                let written: HashSet<(String, String)> = columns
                    .bind(&sql, owner.as_deref())
                    .fetch_all(&mut *tx)
                    .await?
                    .iter()
                    .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                    .collect::<Result<_, sqlx::Error>>()?;
                let mut results = Vec::with_capacity(batch.len());
                for execution in batch {
                    let key = (execution.function_id.clone(), execution.id.clone());
                    let Some(idempotency_key) = execution.idempotency_key.as_deref() else {
                        // Not written with no key to conflict on: its own row, written by
                        // an attempt whose answer the lost connection took.
                        results.push((execution.clone(), true));
                        continue;
                    };
                    if written.contains(&key) {
                        results.push((execution.clone(), true));
                        continue;
                    }
                    let first = sqlx::query(
                        "SELECT id, function_id, data FROM executions \
                         WHERE function_id = $1 AND idempotency_key = $2",
                    )
                    .bind(&execution.function_id)
                    .bind(idempotency_key)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or_else(|| StoreError::not_found("execution", &execution.id))?;
                    let stored =
                        stored_execution(first.try_get(0)?, first.try_get(1)?, first.try_get(2)?)?;
                    // Its own row (an attempt whose answer was lost) is new all the same.
                    let is_new = stored.id == execution.id;
                    results.push((stored, is_new));
                }
                tx.commit().await?;
                Ok(results)
            })
        });
        self.json = json;
        result
    }

    fn prune(
        &mut self,
        function_id: &str,
        retention: &ExecutionRetention,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        // Runs not finished when a pruning passed them stay behind its mark: the retention
        // task's pruning, from the oldest, takes them later.
        let from = self.pruned_to.get(function_id).cloned().unwrap_or_default();
        let (deleted, before) = self.run(async |connection| {
            let boundary: Option<String> = sqlx::query_scalar(RETENTION_BOUNDARY)
                .bind(function_id)
                .bind(i64::from(retention.max_count) - 1)
                .fetch_optional(&mut *connection)
                .await?;
            let before = prune_before(boundary, retention, now);
            // A statement per step, each its own transaction: a large backlog never holds
            // its rows' locks for long.
            let mut deleted = 0;
            loop {
                let n = sqlx::query(DELETE_FINISHED_FROM)
                    .bind(function_id)
                    .bind(&before)
                    .bind(RETENTION_STEP)
                    .bind(&from)
                    .execute(&mut *connection)
                    .await?
                    .rows_affected();
                deleted += n;
                if n < RETENTION_STEP as u64 {
                    return Ok((deleted, before));
                }
            }
        })?;
        self.pruned_to.insert(function_id.to_string(), before);
        Ok(deleted)
    }

    /// The database is not in the data dir, and PostgreSQL reuses what deleted rows took only
    /// after a vacuum: the writer does not prune to a budget (the retention task still prunes
    /// the oldest executions when the data dir passes its ceiling).
    fn limit_size(&mut self, _budget: Arc<AtomicU64>) {
        if !std::mem::replace(&mut self.warned, true) {
            tracing::warn!(
                "GUST_MAX_DATA_MB: the PostgreSQL execution writer does not prune to the \
                 data dir's budget as it writes; the retention task prunes every second"
            );
        }
    }
}

impl Drop for PgExecutionWriter {
    fn drop(&mut self) {
        drop(self.connection.take());
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
