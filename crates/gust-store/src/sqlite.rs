//! The embedded SQLite store. One file in WAL mode; migrations run at open. Each resource is a
//! JSON document plus the columns used to find it (see `migrations/`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gust_core::metrics::{FunctionActivity, MinuteAggregate};
use gust_core::{
    Alias, AuditEntry, AuditQuery, Deployment, Domain, EdgeApplication, EdgeDomain, EdgeRule,
    Execution, ExecutionRetention, Function, FunctionInstance, FunctionTrigger, FunctionVersion,
    ListQuery, Namespace, Order, Page, TestRequest, Token, TriggerOrigin, Webhook,
};
use serde::de::DeserializeOwned;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite};

use crate::seal::{Keyring, MasterKey, SecretOwner};
use crate::sqlite_sealed::{open_map, seal_map};
use crate::store::{
    ConsoleSession, DatabaseSize, DomainScope, EdgeScope, ExecutionFilter, ExecutionWriter, Store,
};
use crate::writer::SqliteExecutionWriter;
use crate::{StoreError, StoreResult};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, Clone)]
pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
    /// The database file, for connections outside the pool (the execution writer's).
    path: std::path::PathBuf,
    /// Seals secrets on write and opens them on read.
    pub(crate) keyring: Arc<Keyring>,
}

/// Finished executions: the queue and runs in progress own the others.
const FINISHED: &str = "status NOT IN ('queued', 'running')";
/// The id of a function's `?2 + 1`-th newest execution: where its retention by count starts
/// pruning. Read from the `(function_id, id)` index alone, not the rows: queued and running
/// executions count among the newest kept (and are never pruned themselves), which spares
/// reading a row per execution kept each time a busy function is pruned.
pub(crate) const RETENTION_BOUNDARY: &str =
    "SELECT id FROM executions WHERE function_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2";
/// Up to `?3` of a function's finished executions older than the id `?2`, oldest first.
pub(crate) const DELETE_FINISHED_BEFORE: &str = "DELETE FROM executions WHERE seq IN \
     (SELECT seq FROM executions WHERE function_id = ?1 AND id < ?2 \
     AND status NOT IN ('queued', 'running') ORDER BY id LIMIT ?3)";

/// Where pruning `retention` of a function starts: the older of the id of its `max_count`-th
/// newest execution (`boundary`, none when it has fewer) and the oldest id its age limit keeps.
pub(crate) fn prune_before(
    boundary: Option<String>,
    retention: &ExecutionRetention,
    now: DateTime<Utc>,
) -> String {
    let cutoff =
        gust_core::id::id_floor(now - chrono::Duration::seconds(retention.max_age_s.into()));
    match boundary {
        Some(boundary) if boundary > cutoff => boundary,
        _ => cutoff,
    }
}

/// Executions deleted per statement when pruning, and the pause between statements that lets
/// the execution writer in.
const PRUNE_BATCH: i64 = 2_000;
const PRUNE_PAUSE: std::time::Duration = std::time::Duration::from_millis(5);

impl SqliteStore {
    /// Delete a function's finished executions older than the id `before`, a batch per
    /// statement with a pause between: one delete of a large backlog would hold the write lock
    /// for seconds, and every run's record waits for that lock.
    async fn delete_finished_before(&self, function_id: &str, before: &str) -> StoreResult<u64> {
        let mut deleted = 0;
        loop {
            let done = sqlx::query(DELETE_FINISHED_BEFORE)
                .bind(function_id)
                .bind(before)
                .bind(PRUNE_BATCH)
                .execute(&self.pool)
                .await?;
            deleted += done.rows_affected();
            if done.rows_affected() < PRUNE_BATCH as u64 {
                return Ok(deleted);
            }
            tokio::time::sleep(PRUNE_PAUSE).await;
        }
    }

    /// A transaction that reads, then writes: it takes the write lock at its start. A deferred
    /// one would take it at its first write, and fail at once (the busy timeout does not
    /// apply) if another connection, such as the execution writer's, had committed since its
    /// read began.
    pub(crate) async fn write_transaction(
        &self,
    ) -> StoreResult<sqlx::Transaction<'static, sqlx::Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Connections in the pool. SQLite runs one writer at a time; a few readers can overlap it
    /// in WAL mode. `gust serve` sets it from `GUST_SQLITE_CONNECTIONS`.
    pub const DEFAULT_CONNECTIONS: u32 = 4;

    /// Open (creating if needed) the database at `path` with a fresh master key of its own,
    /// which nothing keeps: for tests and measurements. A server opens with its key file's
    /// keyring ([`SqliteStore::open_with_keyring`]).
    pub async fn open(path: &Path) -> StoreResult<Self> {
        Self::open_with_keyring(
            path,
            Self::DEFAULT_CONNECTIONS,
            Arc::new(Keyring::generate()),
        )
        .await
    }

    /// Open (creating if needed) the database at `path` with a pool of `connections` (at
    /// least 1), bring its schema up to date, and check `keyring` against the keys its secrets
    /// are sealed with (`StoreError::Keys` when it cannot open them); secrets stored in
    /// plaintext by an earlier version are sealed here.
    pub async fn open_with_keyring(
        path: &Path,
        connections: u32,
        keyring: Arc<Keyring>,
    ) -> StoreResult<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // In WAL mode NORMAL survives a process crash; only power loss can drop the last commits.
            .synchronous(SqliteSynchronous::Normal)
            // Takes effect when the file is created. Execution records are appended by the
            // hundred: with 16 KiB pages the WAL and its checkpoints write them in a quarter
            // of the system calls, about 10% less CPU per record.
            .page_size(16 * 1024)
            .foreign_keys(true)
            // A checkpoint leaves the log at this size at most, rather than at the largest it
            // ever grew to under a burst.
            .pragma("journal_size_limit", (64 * 1024 * 1024).to_string())
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(connections)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        let store = Self {
            pool,
            path: path.to_path_buf(),
            keyring,
        };
        store.admit_keyring().await?;
        Ok(store)
    }

    /// Close every connection of the pool (the last one checkpoints the WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) async fn fetch_one<T: Record>(
        &self,
        sql: &str,
        binds: &[&str],
        kind: &'static str,
        key: &str,
    ) -> StoreResult<T> {
        let mut query = sqlx::query(sql);
        for b in binds {
            query = query.bind(*b);
        }
        let row = query
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::not_found(kind, key))?;
        let mut record = T::from_row(&row)?;
        record.unseal(&self.keyring)?;
        Ok(record)
    }

    /// One page of `T`, newest or oldest first, with the total count of matches.
    pub(crate) async fn list<T: Record>(
        &self,
        filters: &[(&str, String)],
        search: bool,
        query: &ListQuery,
    ) -> StoreResult<Page<T>> {
        // The API validated the query; clamp anyway so no caller can ask for an unbounded page.
        let limit = query
            .limit()
            .unwrap_or(gust_core::list::DEFAULT_LIMIT)
            .min(gust_core::list::MAX_LIMIT);
        let where_clause = |qb: &mut QueryBuilder<'_, Sqlite>| {
            qb.push(" WHERE 1=1");
            for (column, value) in filters {
                // A column may carry its own operator (`id >=`); equality otherwise.
                let op = if column.contains(' ') { " " } else { " = " };
                qb.push(format!(" AND {column}{op}"))
                    .push_bind(value.clone());
            }
            if let (true, Some(text)) = (search, query.search.as_deref().filter(|s| !s.is_empty()))
            {
                let pattern = format!(
                    "%{}%",
                    text.replace('\\', "\\\\")
                        .replace('%', "\\%")
                        .replace('_', "\\_")
                );
                qb.push(" AND (name LIKE ")
                    .push_bind(pattern.clone())
                    .push(" ESCAPE '\\' OR json_extract(data, '$.description') LIKE ")
                    .push_bind(pattern.clone())
                    .push(" ESCAPE '\\' OR json_extract(data, '$.title') LIKE ")
                    .push_bind(pattern)
                    .push(" ESCAPE '\\')");
            }
        };

        let mut count = QueryBuilder::<Sqlite>::new(format!("SELECT COUNT(*) FROM {}", T::TABLE));
        where_clause(&mut count);
        let total: i64 = count.build().fetch_one(&self.pool).await?.try_get(0)?;

        let mut page =
            QueryBuilder::<Sqlite>::new(format!("SELECT {} FROM {}", T::COLUMNS, T::TABLE));
        where_clause(&mut page);
        let desc = query.order.unwrap_or_default() == Order::Desc;
        if let Some(cursor) = &query.cursor {
            page.push(if desc { " AND id < " } else { " AND id > " })
                .push_bind(cursor.clone());
        }
        page.push(if desc {
            " ORDER BY id DESC"
        } else {
            " ORDER BY id ASC"
        });
        page.push(" LIMIT ").push_bind(i64::from(limit) + 1);
        if let Some(offset) = query.offset {
            page.push(" OFFSET ").push_bind(i64::from(offset));
        }
        let rows = page.build().fetch_all(&self.pool).await?;
        let has_more = rows.len() > limit as usize;
        let mut items = Vec::with_capacity(rows.len().min(limit as usize));
        for row in rows.iter().take(limit as usize) {
            let mut record = T::from_row(row)?;
            record.unseal(&self.keyring)?;
            items.push(record);
        }
        let next_cursor = if has_more {
            items.last().map(T::id)
        } else {
            None
        };
        Ok(Page {
            items,
            total: total as u64,
            next_cursor,
        })
    }
}

impl SqliteStore {
    /// A record read from `row`, its secrets opened.
    fn unsealed<T: Record>(&self, row: &sqlx::sqlite::SqliteRow) -> StoreResult<T> {
        let mut record = T::from_row(row)?;
        record.unseal(&self.keyring)?;
        Ok(record)
    }
}

/// A resource stored as a JSON document.
pub(crate) trait Record: DeserializeOwned + Sized {
    const TABLE: &'static str;
    const COLUMNS: &'static str = "data";
    fn id(&self) -> String;
    fn from_row(row: &sqlx::sqlite::SqliteRow) -> StoreResult<Self> {
        let data: String = row.try_get("data")?;
        Ok(serde_json::from_str(&data)?)
    }
    /// Open the secrets `from_row` read sealed (records with secrets only).
    fn unseal(&mut self, _keyring: &Keyring) -> StoreResult<()> {
        Ok(())
    }
}

/// Records whose secrets live in their own column (their JSON form masks them).
fn with_secrets<T: DeserializeOwned>(
    row: &sqlx::sqlite::SqliteRow,
    set: impl FnOnce(&mut T, BTreeMap<String, String>),
) -> StoreResult<T> {
    let data: String = row.try_get("data")?;
    let secrets: String = row.try_get("secrets")?;
    let mut value: T = serde_json::from_str(&data)?;
    set(&mut value, serde_json::from_str(&secrets)?);
    Ok(value)
}

impl Record for Namespace {
    const TABLE: &'static str = "namespaces";
    const COLUMNS: &'static str = "data, secrets";
    fn id(&self) -> String {
        self.id.clone()
    }
    fn from_row(row: &sqlx::sqlite::SqliteRow) -> StoreResult<Self> {
        with_secrets(row, |ns: &mut Namespace, s| ns.secrets = s)
    }
    fn unseal(&mut self, keyring: &Keyring) -> StoreResult<()> {
        let sealed = std::mem::take(&mut self.secrets);
        self.secrets = open_map(keyring, SecretOwner::Namespace(&self.id), sealed)?;
        Ok(())
    }
}

impl Record for Function {
    const TABLE: &'static str = "functions";
    /// The serial has a column of its own, the one source of it.
    const COLUMNS: &'static str = "data, secrets, serial";
    fn id(&self) -> String {
        self.id.clone()
    }
    fn from_row(row: &sqlx::sqlite::SqliteRow) -> StoreResult<Self> {
        let serial: Option<i64> = row.try_get("serial")?;
        with_secrets(row, |f: &mut Function, s| {
            f.secrets = s;
            f.serial = serial.unwrap_or_default().max(0) as u64;
        })
    }
    fn unseal(&mut self, keyring: &Keyring) -> StoreResult<()> {
        let sealed = std::mem::take(&mut self.secrets);
        self.secrets = open_map(keyring, SecretOwner::Function(&self.id), sealed)?;
        Ok(())
    }
}

impl Record for Deployment {
    const TABLE: &'static str = "deployments";
    fn id(&self) -> String {
        self.id.clone()
    }
}

impl Record for Execution {
    const TABLE: &'static str = "executions";
    /// The stored JSON leaves out what the row's own columns hold.
    const COLUMNS: &'static str = "id, function_id, data";
    fn id(&self) -> String {
        self.id.clone()
    }
    fn from_row(row: &sqlx::sqlite::SqliteRow) -> StoreResult<Self> {
        crate::writer::stored_execution((
            row.try_get("id")?,
            row.try_get("function_id")?,
            row.try_get("data")?,
        ))
    }
}

impl Record for FunctionTrigger {
    const TABLE: &'static str = "triggers";
    fn id(&self) -> String {
        self.id.clone()
    }
}

impl Record for Domain {
    const TABLE: &'static str = "domains";
    fn id(&self) -> String {
        self.id.clone()
    }
}

impl Record for Webhook {
    const TABLE: &'static str = "webhooks";
    fn id(&self) -> String {
        self.id.clone()
    }
}

impl Record for Token {
    const TABLE: &'static str = "tokens";
    fn id(&self) -> String {
        self.id.clone()
    }
}

/// Turn a uniqueness violation into a `Conflict` the client can act on.
pub(crate) fn conflict(message: impl Into<String>) -> impl FnOnce(sqlx::Error) -> StoreError {
    let message = message.into();
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(message),
        _ => StoreError::Database(e),
    }
}

/// The fields of a function that builds and activations change (see `Store::update_function`).
const STATE_FIELDS: [&str; 6] = [
    "status",
    "error_message",
    "build_message",
    "active_deployment",
    "ready_at",
    "updated_at",
];

async fn update_state<'e>(
    executor: impl sqlx::SqliteExecutor<'e>,
    f: &Function,
) -> StoreResult<()> {
    let value = serde_json::to_value(f)?;
    let sets = STATE_FIELDS
        .iter()
        .map(|k| format!("'$.{k}', json(?)"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!("UPDATE functions SET data = json_set(data, {sets}) WHERE id = ?");
    let mut query = sqlx::query(&sql);
    for key in STATE_FIELDS {
        query = query.bind(value[key].to_string());
    }
    let done = query.bind(&f.id).execute(executor).await?;
    touched_one(done, "function", &f.id)
}

/// A write that must have touched one row, else the record is not there.
pub(crate) fn touched_one(
    done: sqlx::sqlite::SqliteQueryResult,
    kind: &'static str,
    id: &str,
) -> StoreResult<()> {
    if done.rows_affected() == 0 {
        return Err(StoreError::not_found(kind, id));
    }
    Ok(())
}

/// Delete the row `id` of a table whose rows nothing else refers to.
async fn delete_row(
    pool: &SqlitePool,
    table: &'static str,
    kind: &'static str,
    id: &str,
) -> StoreResult<()> {
    let done = sqlx::query(&format!("DELETE FROM {table} WHERE id = ?"))
        .bind(id)
        .execute(pool)
        .await?;
    touched_one(done, kind, id)
}

pub(crate) fn json<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    Ok(serde_json::to_string(value)?)
}

/// A webhook as stored: its URL depends on the server's address, so it is computed when read.
fn stored_webhook(w: &Webhook) -> Webhook {
    Webhook {
        url: String::new(),
        ..w.clone()
    }
}

fn key_column(key: &str) -> &'static str {
    if gust_core::id::looks_like_id(key) {
        "id"
    } else {
        "name"
    }
}

fn origin_str(origin: TriggerOrigin) -> &'static str {
    match origin {
        TriggerOrigin::Api => "api",
        TriggerOrigin::Function => "function",
    }
}

impl Record for FunctionVersion {
    const TABLE: &'static str = "versions";
    const COLUMNS: &'static str = "data, secrets";
    fn id(&self) -> String {
        format!("{}:{}", self.function_id, self.number)
    }
    fn from_row(row: &sqlx::sqlite::SqliteRow) -> StoreResult<Self> {
        with_secrets(row, |v: &mut FunctionVersion, s| v.config.secrets = s)
    }
    fn unseal(&mut self, keyring: &Keyring) -> StoreResult<()> {
        let sealed = std::mem::take(&mut self.config.secrets);
        let owner = SecretOwner::Version(&self.function_id, self.number);
        self.config.secrets = open_map(keyring, owner, sealed)?;
        Ok(())
    }
}

impl Record for Alias {
    const TABLE: &'static str = "aliases";
    fn id(&self) -> String {
        self.id.clone()
    }
}

/// An alias pointing at a version that does not exist: the foreign key refused it.
fn missing_version(alias: &Alias) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::not_found(
            "version",
            alias.version.map(|n| n.to_string()).unwrap_or_default(),
        ),
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(format!(
            "an alias named `{}` already exists in the namespace",
            alias.name
        )),
        _ => StoreError::Database(e),
    }
}

async fn insert_trigger<'e>(
    executor: impl sqlx::SqliteExecutor<'e>,
    t: &FunctionTrigger,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO triggers (id, namespace_id, function_id, kind, origin, data) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(&t.id)
    .bind(&t.namespace_id)
    .bind(&t.function_id)
    .bind(t.kind.as_str())
    .bind(origin_str(t.origin))
    .bind(json(t)?)
    .execute(executor)
    .await?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_namespace(&self, ns: &Namespace) -> StoreResult<()> {
        let _sealing = self.keyring.writes.read().await;
        sqlx::query("INSERT INTO namespaces (id, name, data, secrets) VALUES (?, ?, ?, ?)")
            .bind(&ns.id)
            .bind(&ns.name)
            .bind(json(ns)?)
            .bind(seal_map(
                &self.keyring,
                SecretOwner::Namespace(&ns.id),
                &ns.secrets,
            )?)
            .execute(&self.pool)
            .await
            .map_err(conflict(format!(
                "a namespace named `{}` already exists",
                ns.name
            )))?;
        Ok(())
    }

    async fn get_namespace(&self, key: &str) -> StoreResult<Namespace> {
        let sql = format!(
            "SELECT data, secrets FROM namespaces WHERE {} = ?",
            key_column(key)
        );
        self.fetch_one(&sql, &[key], "namespace", key).await
    }

    async fn list_namespaces(
        &self,
        query: &ListQuery,
        only: Option<&str>,
    ) -> StoreResult<Page<Namespace>> {
        let filters: Vec<(&str, String)> =
            only.map(|id| ("id", id.to_string())).into_iter().collect();
        self.list(&filters, true, query).await
    }

    async fn update_namespace(&self, ns: &Namespace) -> StoreResult<()> {
        let _sealing = self.keyring.writes.read().await;
        let done = sqlx::query("UPDATE namespaces SET data = ?, secrets = ? WHERE id = ?")
            .bind(json(ns)?)
            .bind(seal_map(
                &self.keyring,
                SecretOwner::Namespace(&ns.id),
                &ns.secrets,
            )?)
            .bind(&ns.id)
            .execute(&self.pool)
            .await?;
        touched_one(done, "namespace", &ns.id)
    }

    async fn delete_namespace(&self, id: &str) -> StoreResult<()> {
        let mut tx = self.write_transaction().await?;
        let functions: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM functions WHERE namespace_id = ?")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        if functions > 0 {
            return Err(StoreError::Conflict(format!(
                "the namespace still holds {functions} function(s); delete them first"
            )));
        }
        let done = sqlx::query("DELETE FROM namespaces WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        touched_one(done, "namespace", id)?;
        tx.commit().await?;
        Ok(())
    }

    async fn create_function(&self, f: &Function) -> StoreResult<u64> {
        let _sealing = self.keyring.writes.read().await;
        let mut tx = self.write_transaction().await?;
        let serial: i64 = sqlx::query_scalar(
            "INSERT INTO serials (name, latest) VALUES ('functions', 1) \
             ON CONFLICT (name) DO UPDATE SET latest = latest + 1 RETURNING latest",
        )
        .fetch_one(&mut *tx)
        .await?;
        let stored = Function {
            serial: serial as u64,
            ..f.clone()
        };
        sqlx::query(
            "INSERT INTO functions (id, namespace_id, name, data, secrets, serial) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&f.id)
        .bind(&f.namespace_id)
        .bind(&f.name)
        .bind(json(&stored)?)
        .bind(seal_map(
            &self.keyring,
            SecretOwner::Function(&f.id),
            &f.secrets,
        )?)
        .bind(serial)
        .execute(&mut *tx)
        .await
        .map_err(|e| match &e {
            // The primary key's violation names `functions.id`; the name's names its columns.
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(if db.message().ends_with("functions.id") {
                    format!("a function with id `{}` already exists", f.id)
                } else {
                    format!(
                        "a function named `{}` already exists in namespace `{}`",
                        f.name, f.namespace
                    )
                })
            }
            _ => StoreError::Database(e),
        })?;
        tx.commit().await?;
        Ok(serial as u64)
    }

    async fn get_function_by_serial(&self, serial: u64) -> StoreResult<Function> {
        let row = sqlx::query("SELECT data, secrets, serial FROM functions WHERE serial = ?")
            .bind(i64::try_from(serial).unwrap_or(i64::MAX))
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::not_found("function", serial.to_string()))?;
        let mut function = Function::from_row(&row)?;
        function.unseal(&self.keyring)?;
        Ok(function)
    }

    async fn get_function(&self, namespace_id: &str, key: &str) -> StoreResult<Function> {
        // Ids may be chosen by clients, so any key may be an id: the id wins over a name.
        self.fetch_one(
            "SELECT data, secrets, serial FROM functions WHERE namespace_id = ?1 AND (id = ?2 OR name = ?2) \
             ORDER BY id = ?2 DESC LIMIT 1",
            &[namespace_id, key],
            "function",
            key,
        )
        .await
    }

    async fn get_function_by_id(&self, id: &str) -> StoreResult<Function> {
        self.fetch_one(
            "SELECT data, secrets, serial FROM functions WHERE id = ?",
            &[id],
            "function",
            id,
        )
        .await
    }

    async fn list_functions(
        &self,
        namespace_id: &str,
        query: &ListQuery,
    ) -> StoreResult<Page<Function>> {
        self.list(&[("namespace_id", namespace_id.to_string())], true, query)
            .await
    }

    async fn update_function(&self, f: &Function) -> StoreResult<()> {
        let keep_state = STATE_FIELDS
            .iter()
            .filter(|k| **k != "updated_at")
            .map(|k| format!("'$.{k}', json_extract(data, '$.{k}')"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "UPDATE functions SET data = json_set(?, {keep_state}), secrets = ? WHERE id = ?"
        );
        let _sealing = self.keyring.writes.read().await;
        let done = sqlx::query(&sql)
            .bind(json(f)?)
            .bind(seal_map(
                &self.keyring,
                SecretOwner::Function(&f.id),
                &f.secrets,
            )?)
            .bind(&f.id)
            .execute(&self.pool)
            .await?;
        touched_one(done, "function", &f.id)
    }

    async fn update_function_state(&self, f: &Function) -> StoreResult<()> {
        update_state(&self.pool, f).await
    }

    async fn delete_function(&self, id: &str) -> StoreResult<()> {
        let mut tx = self.write_transaction().await?;
        let instances: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM edge_instances WHERE function_id = ?")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        if instances > 0 {
            return Err(StoreError::Conflict(format!(
                "{instances} edge function instance(s) run the function; delete them first"
            )));
        }
        for table in [
            "executions",
            "triggers",
            "domains",
            "webhooks",
            "test_requests",
            "function_minutes",
        ] {
            sqlx::query(&format!("DELETE FROM {table} WHERE function_id = ?"))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM deployments WHERE function_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM functions WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        touched_one(done, "function", id)?;
        tx.commit().await?;
        Ok(())
    }

    async fn active_functions(&self) -> StoreResult<Vec<(Function, Deployment)>> {
        let rows = sqlx::query(
            "SELECT f.data AS data, f.secrets AS secrets, f.serial AS serial, d.data AS deployment FROM functions f \
             JOIN deployments d ON d.id = json_extract(f.data, '$.active_deployment')",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let mut function = Function::from_row(row)?;
                function.unseal(&self.keyring)?;
                let deployment: String = row.try_get("deployment")?;
                Ok((function, serde_json::from_str(&deployment)?))
            })
            .collect()
    }

    async fn create_deployment(&self, d: &Deployment) -> StoreResult<()> {
        sqlx::query("INSERT INTO deployments (id, function_id, status, data) VALUES (?, ?, ?, ?)")
            .bind(&d.id)
            .bind(&d.function_id)
            .bind(d.status.as_str())
            .bind(json(d)?)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn get_deployment(&self, function_id: &str, id: &str) -> StoreResult<Deployment> {
        self.fetch_one(
            "SELECT data FROM deployments WHERE function_id = ? AND id = ?",
            &[function_id, id],
            "deployment",
            id,
        )
        .await
    }

    async fn list_deployments(
        &self,
        function_id: &str,
        query: &ListQuery,
    ) -> StoreResult<Page<Deployment>> {
        self.list(&[("function_id", function_id.to_string())], false, query)
            .await
    }

    async fn update_deployment(&self, d: &Deployment) -> StoreResult<()> {
        let done = sqlx::query("UPDATE deployments SET status = ?, data = ? WHERE id = ?")
            .bind(d.status.as_str())
            .bind(json(d)?)
            .bind(&d.id)
            .execute(&self.pool)
            .await?;
        touched_one(done, "deployment", &d.id)
    }

    async fn delete_deployment(&self, id: &str) -> StoreResult<()> {
        delete_row(&self.pool, "deployments", "deployment", id).await
    }

    async fn activate_deployment(
        &self,
        function: &Function,
        deployment_id: &str,
        deployment: Option<&Deployment>,
    ) -> StoreResult<()> {
        let mut tx = self.write_transaction().await?;
        if let Some(d) = deployment {
            sqlx::query("UPDATE deployments SET status = ?, data = ? WHERE id = ?")
                .bind(d.status.as_str())
                .bind(json(d)?)
                .bind(&d.id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "UPDATE deployments SET data = json_set(data, '$.active', json(CASE WHEN id = ? THEN 'true' ELSE 'false' END)) \
             WHERE function_id = ?",
        )
        .bind(deployment_id)
        .bind(&function.id)
        .execute(&mut *tx)
        .await?;
        update_state(&mut *tx, function).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn unfinished_deployments(&self) -> StoreResult<Vec<Deployment>> {
        let rows = sqlx::query(
            "SELECT data FROM deployments WHERE status IN ('waiting', 'building') ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Deployment::from_row).collect()
    }

    async fn uploading_deployments(&self) -> StoreResult<Vec<Deployment>> {
        let rows =
            sqlx::query("SELECT data FROM deployments WHERE status = 'uploading' ORDER BY id")
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(Deployment::from_row).collect()
    }

    async fn blob_in_use(&self, sha256: &str) -> StoreResult<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM deployments WHERE json_extract(data, '$.sha256') = ?1 OR json_extract(data, '$.wasm_sha256') = ?1")
            .bind(sha256)
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    fn execution_writer(&self) -> StoreResult<Box<dyn ExecutionWriter>> {
        Ok(Box::new(SqliteExecutionWriter::open(&self.path)?))
    }

    async fn queued_counts(&self) -> StoreResult<Vec<(String, usize)>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT function_id, COUNT(*) FROM executions WHERE status = 'queued' \
             GROUP BY function_id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(function_id, n)| (function_id, n.max(0) as usize))
            .collect())
    }

    async fn queued_executions(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<Execution>> {
        let rows = sqlx::query(
            "SELECT id, function_id, data FROM executions WHERE status = 'queued' AND id > ? ORDER BY id LIMIT ?",
        )
        .bind(after.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Execution::from_row).collect()
    }

    async fn requeue_running(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let at = json(&now)?;
        let done = sqlx::query(
            "UPDATE executions SET status = 'queued', \
             data = json_set(data, '$.status', 'queued', '$.run_after', json(?)) \
             WHERE status = 'running'",
        )
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn prune_executions(
        &self,
        function_id: &str,
        retention: &ExecutionRetention,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let boundary: Option<String> = sqlx::query_scalar(RETENTION_BOUNDARY)
            .bind(function_id)
            .bind(i64::from(retention.max_count) - 1)
            .fetch_optional(&self.pool)
            .await?;
        let before = prune_before(boundary, retention, now);
        self.delete_finished_before(function_id, &before).await
    }

    async fn prune_oldest_executions(&self, count: u64) -> StoreResult<u64> {
        let mut deleted = 0;
        while deleted < count {
            let batch = (count - deleted).min(PRUNE_BATCH as u64) as i64;
            let done = sqlx::query(&format!(
                "DELETE FROM executions WHERE seq IN (SELECT seq FROM executions \
                 WHERE {FINISHED} ORDER BY seq LIMIT ?)"
            ))
            .bind(batch)
            .execute(&self.pool)
            .await?;
            deleted += done.rows_affected();
            if done.rows_affected() < batch as u64 {
                break;
            }
            tokio::time::sleep(PRUNE_PAUSE).await;
        }
        Ok(deleted)
    }

    async fn database_size(&self) -> StoreResult<DatabaseSize> {
        let mut connection = self.pool.acquire().await?;
        let mut pragma = async |name: &str| -> StoreResult<u64> {
            let value: i64 = sqlx::query_scalar(&format!("PRAGMA {name}"))
                .fetch_one(&mut *connection)
                .await?;
            Ok(value.max(0) as u64)
        };
        let page = pragma("page_size").await?;
        let pages = pragma("page_count").await?;
        let free = pragma("freelist_count").await?;
        let mut wal = self.path.as_os_str().to_owned();
        wal.push("-wal");
        let wal = std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0);
        Ok(DatabaseSize {
            file: page * pages,
            free: page * free,
            wal,
        })
    }

    async fn create_trigger(&self, t: &FunctionTrigger) -> StoreResult<()> {
        insert_trigger(&self.pool, t).await
    }

    async fn get_trigger(&self, function_id: &str, id: &str) -> StoreResult<FunctionTrigger> {
        self.fetch_one(
            "SELECT data FROM triggers WHERE function_id = ? AND id = ?",
            &[function_id, id],
            "trigger",
            id,
        )
        .await
    }

    async fn list_triggers(
        &self,
        function_id: &str,
        query: &ListQuery,
    ) -> StoreResult<Page<FunctionTrigger>> {
        self.list(&[("function_id", function_id.to_string())], false, query)
            .await
    }

    async fn update_trigger(&self, t: &FunctionTrigger) -> StoreResult<()> {
        let done = sqlx::query("UPDATE triggers SET data = ? WHERE id = ?")
            .bind(json(t)?)
            .bind(&t.id)
            .execute(&self.pool)
            .await?;
        touched_one(done, "trigger", &t.id)
    }

    async fn delete_trigger(&self, id: &str) -> StoreResult<()> {
        delete_row(&self.pool, "triggers", "trigger", id).await
    }

    async fn replace_triggers(
        &self,
        function_id: &str,
        origin: TriggerOrigin,
        triggers: &[FunctionTrigger],
    ) -> StoreResult<()> {
        let mut tx = self.write_transaction().await?;
        sqlx::query("DELETE FROM triggers WHERE function_id = ? AND origin = ?")
            .bind(function_id)
            .bind(origin_str(origin))
            .execute(&mut *tx)
            .await?;
        for t in triggers {
            insert_trigger(&mut *tx, t).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn all_triggers(&self) -> StoreResult<Vec<FunctionTrigger>> {
        let rows = sqlx::query("SELECT data FROM triggers")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(FunctionTrigger::from_row).collect()
    }

    async fn all_functions(&self) -> StoreResult<Vec<Function>> {
        let rows = sqlx::query("SELECT data, secrets, serial FROM functions")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|row| self.unsealed(row)).collect()
    }

    async fn get_execution(&self, function_id: &str, id: &str) -> StoreResult<Execution> {
        self.fetch_one(
            "SELECT id, function_id, data FROM executions WHERE function_id = ? AND id = ?",
            &[function_id, id],
            "execution",
            id,
        )
        .await
    }

    async fn delete_execution(&self, function_id: &str, id: &str) -> StoreResult<()> {
        let done = sqlx::query(
            "DELETE FROM executions WHERE function_id = ? AND id = ? \
             AND status NOT IN ('queued', 'running')",
        )
        .bind(function_id)
        .bind(id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            return Ok(());
        }
        // Not deleted: say whether it is missing or still owned by the queue or a run.
        let execution = self.get_execution(function_id, id).await?;
        Err(StoreError::Conflict(format!(
            "execution {id} is still {}; it can be deleted once it ends",
            execution.status.as_str()
        )))
    }

    async fn list_executions(
        &self,
        function_id: &str,
        query: &ListQuery,
        filter: &ExecutionFilter,
    ) -> StoreResult<Page<Execution>> {
        let mut filters = vec![("function_id", function_id.to_string())];
        if let Some(status) = filter.status {
            filters.push(("status", status.as_str().to_string()));
        }
        if let Some(trigger) = filter.trigger {
            filters.push(("trigger", trigger.as_str().to_string()));
        }
        if let Some(since) = filter.since {
            filters.push(("id >=", gust_core::id::id_floor(since)));
        }
        if let Some(until) = filter.until {
            filters.push(("id <", gust_core::id::id_floor(until)));
        }
        if let Some(dead) = filter.dead_letter {
            filters.push(("dead_letter", i64::from(dead).to_string()));
        }
        self.list(&filters, false, query).await
    }

    async fn create_domain(&self, d: &Domain) -> StoreResult<()> {
        let mut tx = self.write_transaction().await?;
        // Host names are unique across custom and edge domains alike.
        let edge: Option<i64> =
            sqlx::query_scalar("SELECT domain_id FROM edge_hostnames WHERE hostname = ?")
                .bind(&d.hostname)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(edge) = edge {
            return Err(StoreError::Conflict(format!(
                "the host name `{}` is a cname of edge domain {edge}",
                d.hostname
            )));
        }
        sqlx::query(
            "INSERT INTO domains (id, hostname, namespace_id, function_id, data) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&d.id)
        .bind(&d.hostname)
        .bind(&d.namespace_id)
        .bind(&d.function_id)
        .bind(json(&Domain {
            url: String::new(),
            ..d.clone()
        })?)
        .execute(&mut *tx)
        .await
        .map_err(conflict(format!(
            "the host name `{}` is already in use",
            d.hostname
        )))?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_domain(&self, id: &str) -> StoreResult<Domain> {
        self.fetch_one("SELECT data FROM domains WHERE id = ?", &[id], "domain", id)
            .await
    }

    async fn list_domains(
        &self,
        scope: DomainScope<'_>,
        query: &ListQuery,
    ) -> StoreResult<Page<Domain>> {
        let filters: Vec<(&str, String)> = match scope {
            DomainScope::Function(id) => vec![("function_id", id.to_string())],
            DomainScope::Namespace(id) => vec![("namespace_id", id.to_string())],
            DomainScope::All => Vec::new(),
        };
        self.list(&filters, false, query).await
    }

    async fn delete_domain(&self, id: &str) -> StoreResult<()> {
        delete_row(&self.pool, "domains", "domain", id).await
    }

    async fn all_domains(&self) -> StoreResult<Vec<Domain>> {
        let rows = sqlx::query("SELECT data FROM domains")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(Domain::from_row).collect()
    }

    async fn create_version(
        &self,
        version: &FunctionVersion,
        max: u32,
    ) -> StoreResult<FunctionVersion> {
        let function_id = &version.function_id;
        let _sealing = self.keyring.writes.read().await;
        let mut tx = self.write_transaction().await?;
        // The write comes first, so the transaction holds the write lock before it counts.
        let latest: i64 = sqlx::query_scalar(
            "INSERT INTO version_numbers (function_id, latest) VALUES (?, 1) \
             ON CONFLICT (function_id) DO UPDATE SET latest = latest + 1 RETURNING latest",
        )
        .bind(function_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                StoreError::not_found("function", function_id)
            }
            _ => StoreError::Database(e),
        })?;
        let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM versions WHERE function_id = ?")
            .bind(function_id)
            .fetch_one(&mut *tx)
            .await?;
        if held >= i64::from(max) {
            return Err(StoreError::Conflict(format!(
                "the function already has {held} versions, the most it may have ({max}); \
                 delete one first"
            )));
        }
        let numbered = FunctionVersion {
            number: u32::try_from(latest)
                .map_err(|_| StoreError::Conflict("version numbers are used up".into()))?,
            ..version.clone()
        };
        sqlx::query(
            "INSERT INTO versions (function_id, number, namespace_id, deployment_id, data, secrets) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(function_id)
        .bind(latest)
        .bind(&numbered.namespace_id)
        .bind(&numbered.deployment_id)
        .bind(json(&numbered)?)
        .bind(seal_map(
            &self.keyring,
            SecretOwner::Version(function_id, numbered.number),
            &numbered.config.secrets,
        )?)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(numbered)
    }

    async fn get_version(&self, function_id: &str, number: u32) -> StoreResult<FunctionVersion> {
        let row =
            sqlx::query("SELECT data, secrets FROM versions WHERE function_id = ? AND number = ?")
                .bind(function_id)
                .bind(i64::from(number))
                .fetch_optional(&self.pool)
                .await?
                .ok_or_else(|| StoreError::not_found("version", number.to_string()))?;
        self.unsealed(&row)
    }

    async fn list_versions(&self, function_id: &str) -> StoreResult<Vec<FunctionVersion>> {
        let rows =
            sqlx::query("SELECT data, secrets FROM versions WHERE function_id = ? ORDER BY number")
                .bind(function_id)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(|row| self.unsealed(row)).collect()
    }

    async fn delete_version(&self, function_id: &str, number: u32) -> StoreResult<()> {
        let mut tx = self.write_transaction().await?;
        let pointing: Option<String> = sqlx::query_scalar(
            "SELECT name FROM aliases WHERE function_id = ? AND version = ? ORDER BY name LIMIT 1",
        )
        .bind(function_id)
        .bind(i64::from(number))
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(alias) = pointing {
            return Err(StoreError::Conflict(format!(
                "the alias `{alias}` points at version {number}; move or delete it first"
            )));
        }
        let done = sqlx::query("DELETE FROM versions WHERE function_id = ? AND number = ?")
            .bind(function_id)
            .bind(i64::from(number))
            .execute(&mut *tx)
            .await?;
        touched_one(done, "version", &number.to_string())?;
        tx.commit().await?;
        Ok(())
    }

    async fn versions_of_deployment(
        &self,
        function_id: &str,
        deployment_id: &str,
    ) -> StoreResult<Vec<u32>> {
        let numbers: Vec<i64> = sqlx::query_scalar(
            "SELECT number FROM versions WHERE function_id = ? AND deployment_id = ? ORDER BY number",
        )
        .bind(function_id)
        .bind(deployment_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(numbers
            .into_iter()
            .filter_map(|n| u32::try_from(n).ok())
            .collect())
    }

    async fn create_alias(&self, alias: &Alias) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO aliases (id, namespace_id, name, function_id, version, data) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&alias.id)
        .bind(&alias.namespace_id)
        .bind(&alias.name)
        .bind(&alias.function_id)
        .bind(alias.version.map(i64::from))
        .bind(json(alias)?)
        .execute(&self.pool)
        .await
        .map_err(missing_version(alias))?;
        Ok(())
    }

    async fn get_alias(&self, namespace_id: &str, name: &str) -> StoreResult<Alias> {
        self.fetch_one(
            "SELECT data FROM aliases WHERE namespace_id = ? AND name = ?",
            &[namespace_id, name],
            "alias",
            name,
        )
        .await
    }

    async fn list_aliases(
        &self,
        namespace_id: &str,
        function_id: Option<&str>,
        query: &ListQuery,
    ) -> StoreResult<Page<Alias>> {
        let mut filters = vec![("namespace_id", namespace_id.to_string())];
        if let Some(function_id) = function_id {
            filters.push(("function_id", function_id.to_string()));
        }
        self.list(&filters, true, query).await
    }

    async fn update_alias(&self, alias: &Alias) -> StoreResult<()> {
        let done =
            sqlx::query("UPDATE aliases SET function_id = ?, version = ?, data = ? WHERE id = ?")
                .bind(&alias.function_id)
                .bind(alias.version.map(i64::from))
                .bind(json(alias)?)
                .bind(&alias.id)
                .execute(&self.pool)
                .await
                .map_err(missing_version(alias))?;
        touched_one(done, "alias", &alias.name)
    }

    async fn delete_alias(&self, id: &str) -> StoreResult<()> {
        delete_row(&self.pool, "aliases", "alias", id).await
    }

    async fn all_aliases(&self) -> StoreResult<Vec<Alias>> {
        let rows = sqlx::query("SELECT data FROM aliases")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(Alias::from_row).collect()
    }

    async fn create_webhook(&self, w: &Webhook) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO webhooks (id, namespace_id, function_id, data) VALUES (?, ?, ?, ?)",
        )
        .bind(&w.id)
        .bind(&w.namespace_id)
        .bind(&w.function_id)
        .bind(json(&stored_webhook(w))?)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_webhook(&self, id: &str) -> StoreResult<Webhook> {
        self.fetch_one(
            "SELECT data FROM webhooks WHERE id = ?",
            &[id],
            "webhook",
            id,
        )
        .await
    }

    async fn list_webhooks(
        &self,
        namespace_id: &str,
        function_id: Option<&str>,
        query: &ListQuery,
    ) -> StoreResult<Page<Webhook>> {
        let mut filters = vec![("namespace_id", namespace_id.to_string())];
        if let Some(function_id) = function_id {
            filters.push(("function_id", function_id.to_string()));
        }
        self.list(&filters, false, query).await
    }

    async fn update_webhook(&self, w: &Webhook) -> StoreResult<()> {
        let done = sqlx::query("UPDATE webhooks SET function_id = ?, data = ? WHERE id = ?")
            .bind(&w.function_id)
            .bind(json(&stored_webhook(w))?)
            .bind(&w.id)
            .execute(&self.pool)
            .await?;
        touched_one(done, "webhook", &w.id)
    }

    async fn delete_webhook(&self, id: &str) -> StoreResult<()> {
        delete_row(&self.pool, "webhooks", "webhook", id).await
    }

    async fn add_function_minutes(&self, minutes: &[MinuteAggregate]) -> StoreResult<()> {
        self.minutes_add(minutes).await
    }

    async fn function_minutes(
        &self,
        function_id: &str,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<MinuteAggregate>> {
        self.minutes_of_function(function_id, since).await
    }

    async fn namespace_activity(
        &self,
        namespace_id: &str,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<FunctionActivity>> {
        self.minutes_activity(namespace_id, since).await
    }

    async fn prune_function_minutes(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.minutes_prune(before).await
    }

    async fn list_test_requests(&self, function_id: &str) -> StoreResult<Vec<TestRequest>> {
        self.test_requests_list(function_id).await
    }

    async fn get_test_request(&self, function_id: &str, name: &str) -> StoreResult<TestRequest> {
        self.test_request_get(function_id, name).await
    }

    async fn put_test_request(
        &self,
        function_id: &str,
        request: &TestRequest,
        create: bool,
        max: u32,
    ) -> StoreResult<TestRequest> {
        self.test_request_put(function_id, request, create, max)
            .await
    }

    async fn delete_test_request(&self, function_id: &str, name: &str) -> StoreResult<()> {
        self.test_request_delete(function_id, name).await
    }

    async fn create_edge_application(&self, app: &EdgeApplication) -> StoreResult<EdgeApplication> {
        self.edge_create_application(app).await
    }

    async fn get_edge_application(&self, id: u64) -> StoreResult<EdgeApplication> {
        self.edge_get_application(id).await
    }

    async fn list_edge_applications(
        &self,
        scope: EdgeScope<'_>,
        query: &ListQuery,
    ) -> StoreResult<Page<EdgeApplication>> {
        self.edge_list_applications(scope, query).await
    }

    async fn update_edge_application(&self, app: &EdgeApplication) -> StoreResult<()> {
        self.edge_update_application(app).await
    }

    async fn delete_edge_application(&self, id: u64) -> StoreResult<Vec<u64>> {
        self.edge_delete_application(id).await
    }

    async fn all_edge_applications(&self) -> StoreResult<Vec<EdgeApplication>> {
        self.edge_all_applications().await
    }

    async fn create_edge_instance(
        &self,
        instance: &FunctionInstance,
    ) -> StoreResult<FunctionInstance> {
        self.edge_create_instance(instance).await
    }

    async fn get_edge_instance(
        &self,
        application_id: u64,
        id: u64,
    ) -> StoreResult<FunctionInstance> {
        self.edge_get_instance(application_id, id).await
    }

    async fn list_edge_instances(
        &self,
        application_id: u64,
        query: &ListQuery,
    ) -> StoreResult<Page<FunctionInstance>> {
        self.edge_list_instances(application_id, query).await
    }

    async fn all_edge_instances(&self, application_id: u64) -> StoreResult<Vec<FunctionInstance>> {
        self.edge_all_instances(application_id).await
    }

    async fn update_edge_instance(&self, instance: &FunctionInstance) -> StoreResult<()> {
        self.edge_update_instance(instance).await
    }

    async fn delete_edge_instance(&self, application_id: u64, id: u64) -> StoreResult<()> {
        self.edge_delete_instance(application_id, id).await
    }

    async fn edge_instance_counts(
        &self,
        namespace_id: Option<&str>,
    ) -> StoreResult<Vec<(String, u64)>> {
        SqliteStore::edge_instance_counts(self, namespace_id).await
    }

    async fn create_edge_rule(&self, rule: &EdgeRule, max: u64) -> StoreResult<EdgeRule> {
        self.edge_create_rule(rule, max).await
    }

    async fn get_edge_rule(&self, application_id: u64, id: u64) -> StoreResult<EdgeRule> {
        self.edge_get_rule(application_id, id).await
    }

    async fn list_edge_rules(&self, application_id: u64) -> StoreResult<Vec<EdgeRule>> {
        self.edge_list_rules(application_id).await
    }

    async fn update_edge_rule(&self, rule: &EdgeRule) -> StoreResult<()> {
        self.edge_update_rule(rule).await
    }

    async fn delete_edge_rule(&self, application_id: u64, id: u64) -> StoreResult<()> {
        self.edge_delete_rule(application_id, id).await
    }

    async fn create_edge_domain(&self, domain: &EdgeDomain) -> StoreResult<EdgeDomain> {
        self.edge_create_domain(domain).await
    }

    async fn get_edge_domain(&self, id: u64) -> StoreResult<EdgeDomain> {
        self.edge_get_domain(id).await
    }

    async fn list_edge_domains(
        &self,
        scope: EdgeScope<'_>,
        query: &ListQuery,
    ) -> StoreResult<Page<EdgeDomain>> {
        self.edge_list_domains(scope, query).await
    }

    async fn update_edge_domain(&self, domain: &EdgeDomain) -> StoreResult<()> {
        self.edge_update_domain(domain).await
    }

    async fn delete_edge_domain(&self, id: u64) -> StoreResult<()> {
        self.edge_delete_domain(id).await
    }

    async fn all_edge_domains(&self) -> StoreResult<Vec<EdgeDomain>> {
        self.edge_all_domains().await
    }

    async fn create_token(&self, token: &Token, secret_hash: &str) -> StoreResult<()> {
        sqlx::query("INSERT INTO tokens (id, hash, data) VALUES (?, ?, ?)")
            .bind(&token.id)
            .bind(secret_hash)
            .bind(json(&Token {
                token: None,
                ..token.clone()
            })?)
            .execute(&self.pool)
            .await
            .map_err(conflict("token already exists"))?;
        Ok(())
    }

    async fn get_token(&self, id: &str) -> StoreResult<Token> {
        self.fetch_one("SELECT data FROM tokens WHERE id = ?", &[id], "token", id)
            .await
    }

    async fn list_tokens(&self, query: &ListQuery) -> StoreResult<Page<Token>> {
        // Tokens have no name column; search is not offered for them.
        let query = ListQuery {
            search: None,
            ..query.clone()
        };
        self.list(&[], false, &query).await
    }

    async fn delete_token(&self, id: &str) -> StoreResult<()> {
        delete_row(&self.pool, "tokens", "token", id).await
    }

    async fn all_tokens(&self) -> StoreResult<Vec<(Token, String)>> {
        let rows = sqlx::query("SELECT data, hash FROM tokens")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let hash: String = row.try_get("hash")?;
                Ok((Token::from_row(row)?, hash))
            })
            .collect()
    }

    async fn record_token_use(&self, uses: &[(String, DateTime<Utc>)]) -> StoreResult<()> {
        if uses.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for (id, at) in uses {
            // RFC 3339 in UTC with a fixed precision, as serde writes it, so text order is
            // time order.
            let at = json(at)?;
            sqlx::query(
                "UPDATE tokens SET data = json_set(data, '$.last_used_at', json(?1)) \
                 WHERE id = ?2 AND (json_extract(data, '$.last_used_at') IS NULL \
                 OR json_extract(data, '$.last_used_at') < json_extract(?1, '$'))",
            )
            .bind(at)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    async fn sealing_key_ids(&self) -> StoreResult<Vec<u32>> {
        self.sealed_key_ids().await
    }

    async fn begin_rotation(&self, key: MasterKey) -> StoreResult<()> {
        self.sealed_begin_rotation(key).await
    }

    async fn reseal_secrets(&self) -> StoreResult<u64> {
        self.sealed_reseal().await
    }

    async fn retire_keys(&self) -> StoreResult<Vec<u32>> {
        self.sealed_retire().await
    }

    async fn append_audit(&self, entries: &[AuditEntry]) -> StoreResult<()> {
        self.audit_append(entries).await
    }

    async fn list_audit(&self, query: &AuditQuery) -> StoreResult<Page<AuditEntry>> {
        self.audit_list(query).await
    }

    async fn create_console_session(&self, session: &ConsoleSession) -> StoreResult<()> {
        self.console_session_create(session).await
    }

    async fn get_console_session(&self, id_hash: &str) -> StoreResult<ConsoleSession> {
        self.console_session_get(id_hash).await
    }

    async fn delete_console_session(&self, id_hash: &str) -> StoreResult<()> {
        self.console_session_delete(id_hash).await
    }

    async fn prune_console_sessions(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        self.console_sessions_prune(now).await
    }
}
