//! The store both backends share: every [`Store`] method written once over the SQL layer
//! (`sql.rs`), for SQLite (`sqlite.rs`) and PostgreSQL (`postgres.rs`) alike. Each resource is
//! a JSON document plus the columns used to find it (see `migrations/` and `migrations-pg/`).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gust_core::metrics::{FunctionActivity, MinuteAggregate};
use gust_core::{
    Alias, AuditEntry, AuditQuery, Deployment, Domain, EdgeApplication, EdgeDomain, EdgeRule,
    Execution, ExecutionRetention, Function, FunctionInstance, FunctionTrigger, FunctionVersion,
    ListQuery, Namespace, Node, Order, Page, TestRequest, Token, TriggerOrigin, Webhook,
};
use serde::de::DeserializeOwned;

use crate::seal::{Keyring, MasterKey, SecretOwner};
use crate::sql::{Arg, Backend, Dialect, Exec, Query, Row, q};
use crate::sql_nodes::ChangeMessage;

/// The PostgreSQL channel change notices travel on.
const CHANGES_CHANNEL: &str = "gust_changes";
use crate::sql_sealed::{open_map, seal_map};
use crate::store::{
    ConsoleSession, DatabaseSize, DomainScope, EdgeScope, ExecutionFilter, ExecutionWriter,
    FunctionFilter, Store,
};
use crate::{StoreError, StoreResult};

/// The store over one SQL database: open one with [`SqliteStore`](crate::SqliteStore) or
/// [`PgStore`](crate::PgStore).
#[derive(Clone)]
pub struct SqlStore {
    pub(crate) db: Arc<dyn Backend>,
    /// Seals secrets on write and opens them on read.
    pub(crate) keyring: Arc<Keyring>,
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("dialect", &self.db.dialect())
            .field("keyring", &self.keyring)
            .finish()
    }
}

/// Finished executions: the queue and runs in progress own the others.
const FINISHED: &str = "status NOT IN ('queued', 'running')";
/// The id of a function's `$2 + 1`-th newest execution: where its retention by count starts
/// pruning. Read from the `(function_id, id)` index alone, not the rows: queued and running
/// executions count among the newest kept (and are never pruned themselves), which spares
/// reading a row per execution kept each time a busy function is pruned.
pub(crate) const RETENTION_BOUNDARY: &str =
    "SELECT id FROM executions WHERE function_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2";
/// Up to `$3` of a function's finished executions older than the id `$2`, oldest first.
pub(crate) const DELETE_FINISHED_BEFORE: &str = "DELETE FROM executions WHERE seq IN \
     (SELECT seq FROM executions WHERE function_id = $1 AND id < $2 \
     AND status NOT IN ('queued', 'running') ORDER BY id LIMIT $3)";

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

/// A list filter: a column or expression (which may carry its own operator, `id >=`;
/// equality otherwise) and the value it is compared with.
pub(crate) type Filter = (std::borrow::Cow<'static, str>, Arg<'static>);

pub(crate) fn text_filter(
    column: impl Into<std::borrow::Cow<'static, str>>,
    value: impl Into<String>,
) -> Filter {
    (column.into(), Arg::Text(Some(value.into().into())))
}

impl SqlStore {
    pub(crate) fn new(db: Arc<dyn Backend>, keyring: Arc<Keyring>) -> Self {
        Self { db, keyring }
    }

    pub(crate) fn dialect(&self) -> Dialect {
        self.db.dialect()
    }

    /// Run a statement on the pool; rows changed.
    pub(crate) async fn exec(&self, query: Query<'_>) -> StoreResult<u64> {
        self.db.pool().execute(query).await
    }

    pub(crate) async fn rows(&self, query: Query<'_>) -> StoreResult<Vec<Row>> {
        self.db.pool().fetch_all(query).await
    }

    pub(crate) async fn row(&self, query: Query<'_>) -> StoreResult<Option<Row>> {
        self.db.pool().fetch_optional(query).await
    }

    /// Close every connection of the pool (SQLite's last one checkpoints the WAL).
    pub async fn close(&self) {
        self.db.close().await;
    }

    /// Delete a function's finished executions older than the id `before`, a batch per
    /// statement with a pause between: one delete of a large backlog would hold the write lock
    /// for seconds, and every run's record waits for that lock.
    async fn delete_finished_before(&self, function_id: &str, before: &str) -> StoreResult<u64> {
        let mut deleted = 0;
        loop {
            let n = self
                .exec(
                    q(DELETE_FINISHED_BEFORE)
                        .text(function_id)
                        .text(before)
                        .int(PRUNE_BATCH),
                )
                .await?;
            deleted += n;
            if n < PRUNE_BATCH as u64 {
                return Ok(deleted);
            }
            tokio::time::sleep(PRUNE_PAUSE).await;
        }
    }

    pub(crate) async fn fetch_one<T: Record>(
        &self,
        query: Query<'_>,
        kind: &'static str,
        key: &str,
    ) -> StoreResult<T> {
        let row = self
            .row(query)
            .await?
            .ok_or_else(|| StoreError::not_found(kind, key))?;
        self.unsealed(&row)
    }

    /// A record read from `row`, its secrets opened.
    pub(crate) fn unsealed<T: Record>(&self, row: &Row) -> StoreResult<T> {
        let mut record = T::from_row(row)?;
        record.unseal(&self.keyring)?;
        Ok(record)
    }

    /// Every record of a query's rows, secrets opened.
    pub(crate) async fn all<T: Record>(&self, query: Query<'_>) -> StoreResult<Vec<T>> {
        let rows = self.rows(query).await?;
        rows.iter().map(|row| self.unsealed(row)).collect()
    }

    /// One page of `T`, newest or oldest first, with the total count of matches.
    pub(crate) async fn list<T: Record>(
        &self,
        filters: &[Filter],
        search: bool,
        query: &ListQuery,
    ) -> StoreResult<Page<T>> {
        // The API validated the query; clamp anyway so no caller can ask for an unbounded page.
        let limit = query
            .limit()
            .unwrap_or(gust_core::list::DEFAULT_LIMIT)
            .min(gust_core::list::MAX_LIMIT);
        let dialect = self.dialect();
        let where_clause = |mut sql: Query<'static>| {
            sql = sql.push(" WHERE 1=1");
            for (column, value) in filters {
                let op = if column.contains(' ') { " " } else { " = " };
                sql = match value {
                    // Integers are written in place: a partial index whose condition names the
                    // value (`dead_letter = 1`) is only used when the query names it too.
                    Arg::Int(Some(n)) => sql.push(&format!(" AND {column}{op}{n}")),
                    _ => sql.push_bound(&format!(" AND {column}{op}{{}}"), value.clone()),
                };
            }
            if let (true, Some(text)) = (search, query.search.as_deref().filter(|s| !s.is_empty()))
            {
                let pattern = format!(
                    "%{}%",
                    text.replace('\\', "\\\\")
                        .replace('%', "\\%")
                        .replace('_', "\\_")
                );
                let like = dialect.like();
                let placeholder = sql.next_placeholder();
                sql = sql
                    .push(&format!(
                        " AND (name {like} {placeholder} ESCAPE '\\' \
                         OR {} {like} {placeholder} ESCAPE '\\' \
                         OR {} {like} {placeholder} ESCAPE '\\')",
                        dialect.json_text("data", "description"),
                        dialect.json_text("data", "title"),
                    ))
                    .text(pattern);
            }
            sql
        };

        let count = where_clause(q(format!("SELECT COUNT(*) FROM {}", T::TABLE)));
        let total = self.db.pool().count(count).await?;

        let mut page = where_clause(q(format!("SELECT {} FROM {}", T::COLUMNS, T::TABLE)));
        let desc = query.order.unwrap_or_default() == Order::Desc;
        if let Some(cursor) = &query.cursor {
            let op = if desc { " AND id < {}" } else { " AND id > {}" };
            page = page.push_bound(op, Arg::Text(Some(cursor.clone().into())));
        }
        page = page.push(if desc {
            " ORDER BY id DESC"
        } else {
            " ORDER BY id ASC"
        });
        page = page.push_bound(" LIMIT {}", Arg::Int(Some(i64::from(limit) + 1)));
        if let Some(offset) = query.offset {
            page = page.push_bound(" OFFSET {}", Arg::Int(Some(i64::from(offset))));
        }
        let rows = self.rows(page).await?;
        let has_more = rows.len() > limit as usize;
        let mut items = Vec::with_capacity(rows.len().min(limit as usize));
        for row in rows.iter().take(limit as usize) {
            items.push(self.unsealed::<T>(row)?);
        }
        let next_cursor = if has_more {
            items.last().map(T::id)
        } else {
            None
        };
        Ok(Page {
            items,
            total: total.max(0) as u64,
            next_cursor,
        })
    }
}

/// A resource stored as a JSON document.
pub(crate) trait Record: DeserializeOwned + Sized {
    const TABLE: &'static str;
    const COLUMNS: &'static str = "data";
    fn id(&self) -> String;
    fn from_row(row: &Row) -> StoreResult<Self> {
        Ok(serde_json::from_str(row.text("data")?)?)
    }
    /// Open the secrets `from_row` read sealed (records with secrets only).
    fn unseal(&mut self, _keyring: &Keyring) -> StoreResult<()> {
        Ok(())
    }
}

/// Records whose secrets live in their own column (their JSON form masks them).
fn with_secrets<T: DeserializeOwned>(
    row: &Row,
    set: impl FnOnce(&mut T, BTreeMap<String, String>),
) -> StoreResult<T> {
    let mut value: T = serde_json::from_str(row.text("data")?)?;
    set(&mut value, serde_json::from_str(row.text("secrets")?)?);
    Ok(value)
}

impl Record for Namespace {
    const TABLE: &'static str = "namespaces";
    const COLUMNS: &'static str = "data, secrets";
    fn id(&self) -> String {
        self.id.clone()
    }
    fn from_row(row: &Row) -> StoreResult<Self> {
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
    fn from_row(row: &Row) -> StoreResult<Self> {
        let serial = row.opt_int("serial")?;
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
    fn from_row(row: &Row) -> StoreResult<Self> {
        crate::writer::stored_execution(
            row.text("id")?,
            row.text("function_id")?,
            row.text("data")?,
        )
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
pub(crate) fn conflict(message: impl Into<String>) -> impl FnOnce(StoreError) -> StoreError {
    let message = message.into();
    move |e| match &e {
        StoreError::Database(sqlx::Error::Database(db)) if db.is_unique_violation() => {
            StoreError::Conflict(message)
        }
        _ => e,
    }
}

/// Whether `e` is a violation of a foreign key.
pub(crate) fn is_foreign_key_violation(e: &StoreError) -> bool {
    matches!(e, StoreError::Database(sqlx::Error::Database(db)) if db.is_foreign_key_violation())
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

async fn update_state(exec: &mut dyn Exec, dialect: Dialect, f: &Function) -> StoreResult<()> {
    let value = serde_json::to_value(f)?;
    let placeholders: Vec<String> = (1..=STATE_FIELDS.len()).map(|i| format!("${i}")).collect();
    let sets: Vec<(&str, &str)> = STATE_FIELDS
        .iter()
        .zip(&placeholders)
        .map(|(k, p)| (*k, p.as_str()))
        .collect();
    let sql = format!(
        "UPDATE functions SET data = {} WHERE id = ${}",
        dialect.json_set("data", &sets),
        STATE_FIELDS.len() + 1
    );
    let mut query = q(sql);
    for key in STATE_FIELDS {
        query = query.text(value[key].to_string());
    }
    let done = exec.execute(query.text(&f.id)).await?;
    touched_one(done, "function", &f.id)
}

/// A write that must have touched one row, else the record is not there.
pub(crate) fn touched_one(rows: u64, kind: &'static str, id: &str) -> StoreResult<()> {
    if rows == 0 {
        return Err(StoreError::not_found(kind, id));
    }
    Ok(())
}

impl SqlStore {
    /// Delete the row `id` of a table whose rows nothing else refers to.
    async fn delete_row(
        &self,
        table: &'static str,
        kind: &'static str,
        id: &str,
    ) -> StoreResult<()> {
        let done = self
            .exec(q(format!("DELETE FROM {table} WHERE id = $1")).text(id))
            .await?;
        touched_one(done, kind, id)
    }
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
    fn from_row(row: &Row) -> StoreResult<Self> {
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
fn missing_version(alias: &Alias) -> impl FnOnce(StoreError) -> StoreError + '_ {
    move |e| match &e {
        StoreError::Database(sqlx::Error::Database(db)) if db.is_foreign_key_violation() => {
            StoreError::not_found(
                "version",
                alias.version.map(|n| n.to_string()).unwrap_or_default(),
            )
        }
        StoreError::Database(sqlx::Error::Database(db)) if db.is_unique_violation() => {
            StoreError::Conflict(format!(
                "an alias named `{}` already exists in the namespace",
                alias.name
            ))
        }
        _ => e,
    }
}

async fn insert_trigger(exec: &mut dyn Exec, t: &FunctionTrigger) -> StoreResult<()> {
    exec.execute(
        q(
            "INSERT INTO triggers (id, namespace_id, function_id, kind, origin, data) \
           VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .text(&t.id)
        .text(&t.namespace_id)
        .text(&t.function_id)
        .text(t.kind.as_str())
        .text(origin_str(t.origin))
        .text(json(t)?),
    )
    .await?;
    Ok(())
}

#[async_trait]
impl Store for SqlStore {
    async fn create_namespace(&self, ns: &Namespace) -> StoreResult<()> {
        let _sealing = self.keyring.writes.read().await;
        self.exec(
            q("INSERT INTO namespaces (id, name, data, secrets) VALUES ($1, $2, $3, $4)")
                .text(&ns.id)
                .text(&ns.name)
                .text(json(ns)?)
                .text(seal_map(
                    &self.keyring,
                    SecretOwner::Namespace(&ns.id),
                    &ns.secrets,
                )?),
        )
        .await
        .map_err(conflict(format!(
            "a namespace named `{}` already exists",
            ns.name
        )))?;
        Ok(())
    }

    async fn get_namespace(&self, key: &str) -> StoreResult<Namespace> {
        let sql = format!(
            "SELECT data, secrets FROM namespaces WHERE {} = $1",
            key_column(key)
        );
        self.fetch_one(q(sql).text(key), "namespace", key).await
    }

    async fn list_namespaces(
        &self,
        query: &ListQuery,
        only: Option<&str>,
    ) -> StoreResult<Page<Namespace>> {
        let filters: Vec<Filter> = only.map(|id| text_filter("id", id)).into_iter().collect();
        self.list(&filters, true, query).await
    }

    async fn update_namespace(&self, ns: &Namespace) -> StoreResult<()> {
        let _sealing = self.keyring.writes.read().await;
        let done = self
            .exec(
                q("UPDATE namespaces SET data = $1, secrets = $2 WHERE id = $3")
                    .text(json(ns)?)
                    .text(seal_map(
                        &self.keyring,
                        SecretOwner::Namespace(&ns.id),
                        &ns.secrets,
                    )?)
                    .text(&ns.id),
            )
            .await?;
        touched_one(done, "namespace", &ns.id)
    }

    async fn delete_namespace(&self, id: &str) -> StoreResult<()> {
        let mut tx = self.db.begin_write().await?;
        let functions = tx
            .count(q("SELECT COUNT(*) FROM functions WHERE namespace_id = $1").text(id))
            .await?;
        if functions > 0 {
            return Err(StoreError::Conflict(format!(
                "the namespace still holds {functions} function(s); delete them first"
            )));
        }
        let done = tx
            .execute(q("DELETE FROM namespaces WHERE id = $1").text(id))
            .await?;
        touched_one(done, "namespace", id)?;
        tx.commit().await
    }

    async fn create_function(&self, f: &Function) -> StoreResult<u64> {
        let _sealing = self.keyring.writes.read().await;
        let mut tx = self.db.begin_write().await?;
        let serial = tx
            .int(q(
                "INSERT INTO serials (name, latest) VALUES ('functions', 1) \
                 ON CONFLICT (name) DO UPDATE SET latest = serials.latest + 1 RETURNING latest",
            ))
            .await?
            .unwrap_or_default();
        let stored = Function {
            serial: serial as u64,
            ..f.clone()
        };
        tx.execute(
            q(
                "INSERT INTO functions (id, namespace_id, name, data, secrets, serial) \
               VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .text(&f.id)
            .text(&f.namespace_id)
            .text(&f.name)
            .text(json(&stored)?)
            .text(seal_map(
                &self.keyring,
                SecretOwner::Function(&f.id),
                &f.secrets,
            )?)
            .int(serial),
        )
        .await
        .map_err(|e| match &e {
            StoreError::Database(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                // The primary key's violation names `functions.id` (SQLite) or
                // `functions_pkey` (PostgreSQL); the name's names its columns.
                let on_id = db.message().ends_with("functions.id")
                    || db.constraint() == Some("functions_pkey");
                StoreError::Conflict(if on_id {
                    format!("a function with id `{}` already exists", f.id)
                } else {
                    format!(
                        "a function named `{}` already exists in namespace `{}`",
                        f.name, f.namespace
                    )
                })
            }
            _ => e,
        })?;
        tx.commit().await?;
        Ok(serial as u64)
    }

    async fn get_function_by_serial(&self, serial: u64) -> StoreResult<Function> {
        self.fetch_one(
            q("SELECT data, secrets, serial FROM functions WHERE serial = $1")
                .int(i64::try_from(serial).unwrap_or(i64::MAX)),
            "function",
            &serial.to_string(),
        )
        .await
    }

    async fn get_function(&self, namespace_id: &str, key: &str) -> StoreResult<Function> {
        // Ids may be chosen by clients, so any key may be an id: the id wins over a name.
        self.fetch_one(
            q("SELECT data, secrets, serial FROM functions \
               WHERE namespace_id = $1 AND (id = $2 OR name = $2) \
               ORDER BY id = $2 DESC LIMIT 1")
            .text(namespace_id)
            .text(key),
            "function",
            key,
        )
        .await
    }

    async fn get_function_by_id(&self, id: &str) -> StoreResult<Function> {
        self.fetch_one(
            q("SELECT data, secrets, serial FROM functions WHERE id = $1").text(id),
            "function",
            id,
        )
        .await
    }

    async fn list_functions(
        &self,
        namespace_id: &str,
        query: &ListQuery,
        filter: &FunctionFilter,
    ) -> StoreResult<Page<Function>> {
        let dialect = self.dialect();
        let mut filters = vec![text_filter("namespace_id", namespace_id)];
        if let Some(runtime) = filter.runtime {
            let column = format!("{} =", dialect.json_text("data", "runtime"));
            filters.push(text_filter(column, runtime.as_str()));
        }
        if let Some(status) = filter.status {
            let column = format!("{} =", dialect.json_text("data", "status"));
            filters.push(text_filter(column, status.as_str()));
        }
        self.list(&filters, true, query).await
    }

    async fn update_function(&self, f: &Function) -> StoreResult<()> {
        let dialect = self.dialect();
        let kept: Vec<(&str, String)> = STATE_FIELDS
            .iter()
            .filter(|k| **k != "updated_at")
            .map(|k| (*k, dialect.json_value("data", k)))
            .collect();
        let kept: Vec<(&str, &str)> = kept.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let sql = format!(
            "UPDATE functions SET data = {}, secrets = $2 WHERE id = $3",
            dialect.json_set("$1", &kept)
        );
        let _sealing = self.keyring.writes.read().await;
        let done = self
            .exec(
                q(sql)
                    .text(json(f)?)
                    .text(seal_map(
                        &self.keyring,
                        SecretOwner::Function(&f.id),
                        &f.secrets,
                    )?)
                    .text(&f.id),
            )
            .await?;
        touched_one(done, "function", &f.id)
    }

    async fn update_function_state(&self, f: &Function) -> StoreResult<()> {
        update_state(&mut *self.db.pool(), self.dialect(), f).await
    }

    async fn delete_function(&self, id: &str) -> StoreResult<()> {
        let mut tx = self.db.begin_write().await?;
        let instances = tx
            .count(q("SELECT COUNT(*) FROM edge_instances WHERE function_id = $1").text(id))
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
            "deployments",
        ] {
            tx.execute(q(format!("DELETE FROM {table} WHERE function_id = $1")).text(id))
                .await?;
        }
        let done = tx
            .execute(q("DELETE FROM functions WHERE id = $1").text(id))
            .await?;
        touched_one(done, "function", id)?;
        tx.commit().await
    }

    async fn active_functions(&self) -> StoreResult<Vec<(Function, Deployment)>> {
        let rows = self
            .rows(q(format!(
                "SELECT f.data AS data, f.secrets AS secrets, f.serial AS serial, \
                 d.data AS deployment FROM functions f JOIN deployments d ON d.id = {}",
                self.dialect().json_text("f.data", "active_deployment")
            )))
            .await?;
        rows.iter()
            .map(|row| {
                let function = self.unsealed::<Function>(row)?;
                Ok((function, serde_json::from_str(row.text("deployment")?)?))
            })
            .collect()
    }

    async fn create_deployment(&self, d: &Deployment) -> StoreResult<()> {
        self.exec(
            q("INSERT INTO deployments (id, function_id, status, data) VALUES ($1, $2, $3, $4)")
                .text(&d.id)
                .text(&d.function_id)
                .text(d.status.as_str())
                .text(json(d)?),
        )
        .await?;
        Ok(())
    }

    async fn get_deployment(&self, function_id: &str, id: &str) -> StoreResult<Deployment> {
        self.fetch_one(
            q("SELECT data FROM deployments WHERE function_id = $1 AND id = $2")
                .text(function_id)
                .text(id),
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
        self.list(&[text_filter("function_id", function_id)], false, query)
            .await
    }

    async fn update_deployment(&self, d: &Deployment) -> StoreResult<()> {
        let done = save_deployment(&mut *self.db.pool(), d).await?;
        touched_one(done, "deployment", &d.id)
    }

    async fn delete_deployment(&self, id: &str) -> StoreResult<()> {
        self.delete_row("deployments", "deployment", id).await
    }

    async fn activate_deployment(
        &self,
        function: &Function,
        deployment_id: &str,
        deployment: Option<&Deployment>,
    ) -> StoreResult<()> {
        let dialect = self.dialect();
        let mut tx = self.db.begin_write().await?;
        if let Some(d) = deployment {
            save_deployment(&mut *tx, d).await?;
        }
        let active = [("active", "CASE WHEN id = $1 THEN 'true' ELSE 'false' END")];
        tx.execute(
            q(format!(
                "UPDATE deployments SET data = {} WHERE function_id = $2",
                dialect.json_set("data", &active)
            ))
            .text(deployment_id)
            .text(&function.id),
        )
        .await?;
        update_state(&mut *tx, dialect, function).await?;
        tx.commit().await
    }

    async fn unfinished_deployments(&self) -> StoreResult<Vec<Deployment>> {
        self.all(q(
            "SELECT data FROM deployments WHERE status IN ('waiting', 'building') ORDER BY id",
        ))
        .await
    }

    async fn uploading_deployments(&self) -> StoreResult<Vec<Deployment>> {
        self.all(q(
            "SELECT data FROM deployments WHERE status = 'uploading' ORDER BY id",
        ))
        .await
    }

    async fn blob_in_use(&self, sha256: &str) -> StoreResult<bool> {
        let dialect = self.dialect();
        let n = self
            .db
            .pool()
            .count(
                q(format!(
                    "SELECT COUNT(*) FROM deployments WHERE {} = $1 OR {} = $1 OR {} = $1",
                    dialect.json_text("data", "sha256"),
                    dialect.json_text("data", "wasm_sha256"),
                    dialect.json_text("data", "built_sha256")
                ))
                .text(sha256),
            )
            .await?;
        Ok(n > 0)
    }

    fn execution_writer(&self, owner: Option<&str>) -> StoreResult<Box<dyn ExecutionWriter>> {
        self.db.execution_writer(owner)
    }

    async fn queued_counts(&self) -> StoreResult<Vec<(String, usize)>> {
        let rows = self
            .rows(q(
                "SELECT function_id, COUNT(*) AS n FROM executions WHERE status = 'queued' \
                 GROUP BY function_id",
            ))
            .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.text("function_id")?.to_string(),
                    row.int("n")?.max(0) as usize,
                ))
            })
            .collect()
    }

    async fn queued_executions(
        &self,
        owner: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<Execution>> {
        let mut query = q("SELECT id, function_id, data FROM executions \
               WHERE status = 'queued' AND id > $1")
        .text(after.unwrap_or(""));
        if let Some(owner) = owner {
            query = query.push_bound(" AND owner = {}", Arg::Text(Some(owner.into())));
        }
        let query = query.push_bound(" ORDER BY id LIMIT {}", Arg::Int(Some(i64::from(limit))));
        self.all(query).await
    }

    async fn requeue_running(&self, now: DateTime<Utc>, owner: Option<&str>) -> StoreResult<u64> {
        let fields = [("status", "'\"queued\"'"), ("run_after", "$1")];
        let mut query = q(format!(
            "UPDATE executions SET status = 'queued', data = {} WHERE status = 'running'",
            self.dialect().json_set("data", &fields)
        ))
        .text(json(&now)?);
        if let Some(owner) = owner {
            query = query.push_bound(" AND owner = {}", Arg::Text(Some(owner.into())));
        }
        self.exec(query).await
    }

    async fn prune_executions(
        &self,
        function_id: &str,
        retention: &ExecutionRetention,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let boundary = self
            .row(
                q(RETENTION_BOUNDARY)
                    .text(function_id)
                    .int(i64::from(retention.max_count) - 1),
            )
            .await?
            .map(|row| row.text("id").map(str::to_string))
            .transpose()?;
        let before = prune_before(boundary, retention, now);
        self.delete_finished_before(function_id, &before).await
    }

    async fn prune_oldest_executions(&self, count: u64) -> StoreResult<u64> {
        let mut deleted = 0;
        while deleted < count {
            let batch = (count - deleted).min(PRUNE_BATCH as u64) as i64;
            let n = self
                .exec(
                    q(format!(
                        "DELETE FROM executions WHERE seq IN (SELECT seq FROM executions \
                         WHERE {FINISHED} ORDER BY seq LIMIT $1)"
                    ))
                    .int(batch),
                )
                .await?;
            deleted += n;
            if n < batch as u64 {
                break;
            }
            tokio::time::sleep(PRUNE_PAUSE).await;
        }
        if deleted > 0 {
            self.db.after_pruning_for_size().await?;
        }
        Ok(deleted)
    }

    async fn database_size(&self) -> StoreResult<DatabaseSize> {
        self.db.database_size().await
    }

    async fn create_trigger(&self, t: &FunctionTrigger) -> StoreResult<()> {
        insert_trigger(&mut *self.db.pool(), t).await
    }

    async fn get_trigger(&self, function_id: &str, id: &str) -> StoreResult<FunctionTrigger> {
        self.fetch_one(
            q("SELECT data FROM triggers WHERE function_id = $1 AND id = $2")
                .text(function_id)
                .text(id),
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
        self.list(&[text_filter("function_id", function_id)], false, query)
            .await
    }

    async fn update_trigger(&self, t: &FunctionTrigger) -> StoreResult<()> {
        let done = self
            .exec(
                q("UPDATE triggers SET data = $1 WHERE id = $2")
                    .text(json(t)?)
                    .text(&t.id),
            )
            .await?;
        touched_one(done, "trigger", &t.id)
    }

    async fn delete_trigger(&self, id: &str) -> StoreResult<()> {
        self.delete_row("triggers", "trigger", id).await
    }

    async fn replace_triggers(
        &self,
        function_id: &str,
        origin: TriggerOrigin,
        triggers: &[FunctionTrigger],
    ) -> StoreResult<()> {
        let mut tx = self.db.begin_write().await?;
        tx.execute(
            q("DELETE FROM triggers WHERE function_id = $1 AND origin = $2")
                .text(function_id)
                .text(origin_str(origin)),
        )
        .await?;
        for t in triggers {
            insert_trigger(&mut *tx, t).await?;
        }
        tx.commit().await
    }

    async fn all_triggers(&self) -> StoreResult<Vec<FunctionTrigger>> {
        self.all(q("SELECT data FROM triggers")).await
    }

    async fn all_functions(&self) -> StoreResult<Vec<Function>> {
        self.all(q("SELECT data, secrets, serial FROM functions"))
            .await
    }

    async fn get_execution(&self, function_id: &str, id: &str) -> StoreResult<Execution> {
        self.fetch_one(
            q("SELECT id, function_id, data FROM executions WHERE function_id = $1 AND id = $2")
                .text(function_id)
                .text(id),
            "execution",
            id,
        )
        .await
    }

    async fn delete_execution(&self, function_id: &str, id: &str) -> StoreResult<()> {
        let done = self
            .exec(
                q(format!(
                    "DELETE FROM executions WHERE function_id = $1 AND id = $2 AND {FINISHED}"
                ))
                .text(function_id)
                .text(id),
            )
            .await?;
        if done == 1 {
            return Ok(());
        }
        // Not deleted: say whether it is missing or still owned by the queue or a run.
        let execution = self.get_execution(function_id, id).await?;
        Err(StoreError::Conflict(format!(
            "execution {id} is still {}; it can be deleted once it ends",
            execution.status.as_str()
        )))
    }

    async fn mark_replayed(
        &self,
        function_id: &str,
        id: &str,
        replay_id: &str,
        dead_letter_only: bool,
    ) -> StoreResult<bool> {
        let set = self
            .dialect()
            .json_set("data", &[("dead_letter", "'false'"), ("replayed_by", "$3")]);
        let only = if dead_letter_only {
            " AND dead_letter = 1"
        } else {
            ""
        };
        let done = self
            .exec(
                q(format!(
                    "UPDATE executions SET dead_letter = 0, data = {set} \
                     WHERE function_id = $1 AND id = $2 AND {FINISHED}{only}"
                ))
                .text(function_id)
                .text(id)
                .text(serde_json::Value::from(replay_id).to_string()),
            )
            .await?;
        if done == 1 {
            return Ok(true);
        }
        // Unchanged: missing (an error), or not a dead letter (any more).
        self.get_execution(function_id, id).await?;
        Ok(false)
    }

    async fn list_executions(
        &self,
        function_id: &str,
        query: &ListQuery,
        filter: &ExecutionFilter,
    ) -> StoreResult<Page<Execution>> {
        let mut filters = vec![text_filter("function_id", function_id)];
        if let Some(status) = filter.status {
            filters.push(text_filter("status", status.as_str()));
        }
        if let Some(trigger) = filter.trigger {
            filters.push(text_filter("trigger", trigger.as_str()));
        }
        if let Some(since) = filter.since {
            filters.push(text_filter("id >=", gust_core::id::id_floor(since)));
        }
        if let Some(until) = filter.until {
            filters.push(text_filter("id <", gust_core::id::id_floor(until)));
        }
        if let Some(dead) = filter.dead_letter {
            filters.push(("dead_letter".into(), Arg::Int(Some(i64::from(dead)))));
        }
        self.list(&filters, false, query).await
    }

    async fn create_domain(&self, d: &Domain) -> StoreResult<()> {
        let mut tx = self.db.begin_write().await?;
        // Host names are unique across custom and edge domains alike.
        let edge = tx
            .int(q("SELECT domain_id FROM edge_hostnames WHERE hostname = $1").text(&d.hostname))
            .await?;
        if let Some(edge) = edge {
            return Err(StoreError::Conflict(format!(
                "the host name `{}` is a cname of edge domain {edge}",
                d.hostname
            )));
        }
        tx.execute(
            q(
                "INSERT INTO domains (id, hostname, namespace_id, function_id, data) \
               VALUES ($1, $2, $3, $4, $5)",
            )
            .text(&d.id)
            .text(&d.hostname)
            .text(&d.namespace_id)
            .text(&d.function_id)
            .text(json(&Domain {
                url: String::new(),
                ..d.clone()
            })?),
        )
        .await
        .map_err(conflict(format!(
            "the host name `{}` is already in use",
            d.hostname
        )))?;
        tx.commit().await
    }

    async fn get_domain(&self, id: &str) -> StoreResult<Domain> {
        self.fetch_one(
            q("SELECT data FROM domains WHERE id = $1").text(id),
            "domain",
            id,
        )
        .await
    }

    async fn list_domains(
        &self,
        scope: DomainScope<'_>,
        query: &ListQuery,
    ) -> StoreResult<Page<Domain>> {
        let filters: Vec<Filter> = match scope {
            DomainScope::Function(id) => vec![text_filter("function_id", id)],
            DomainScope::Namespace(id) => vec![text_filter("namespace_id", id)],
            DomainScope::All => Vec::new(),
        };
        self.list(&filters, false, query).await
    }

    async fn delete_domain(&self, id: &str) -> StoreResult<()> {
        self.delete_row("domains", "domain", id).await
    }

    async fn all_domains(&self) -> StoreResult<Vec<Domain>> {
        self.all(q("SELECT data FROM domains")).await
    }

    async fn create_version(
        &self,
        version: &FunctionVersion,
        max: u32,
    ) -> StoreResult<FunctionVersion> {
        let function_id = &version.function_id;
        let _sealing = self.keyring.writes.read().await;
        let mut tx = self.db.begin_write().await?;
        // The write comes first, so the transaction holds the write lock (SQLite) or the
        // function's row of `version_numbers` (PostgreSQL) before it counts.
        let latest = tx
            .int(
                q(
                    "INSERT INTO version_numbers (function_id, latest) VALUES ($1, 1) \
                   ON CONFLICT (function_id) DO UPDATE SET latest = version_numbers.latest + 1 \
                   RETURNING latest",
                )
                .text(function_id),
            )
            .await
            .map_err(|e| {
                if is_foreign_key_violation(&e) {
                    StoreError::not_found("function", function_id)
                } else {
                    e
                }
            })?
            .unwrap_or_default();
        let held = tx
            .count(q("SELECT COUNT(*) FROM versions WHERE function_id = $1").text(function_id))
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
        tx.execute(
            q("INSERT INTO versions \
               (function_id, number, namespace_id, deployment_id, data, secrets) \
               VALUES ($1, $2, $3, $4, $5, $6)")
            .text(function_id)
            .int(latest)
            .text(&numbered.namespace_id)
            .text(&numbered.deployment_id)
            .text(json(&numbered)?)
            .text(seal_map(
                &self.keyring,
                SecretOwner::Version(function_id, numbered.number),
                &numbered.config.secrets,
            )?),
        )
        .await?;
        tx.commit().await?;
        Ok(numbered)
    }

    async fn get_version(&self, function_id: &str, number: u32) -> StoreResult<FunctionVersion> {
        self.fetch_one(
            q("SELECT data, secrets FROM versions WHERE function_id = $1 AND number = $2")
                .text(function_id)
                .int(i64::from(number)),
            "version",
            &number.to_string(),
        )
        .await
    }

    async fn list_versions(&self, function_id: &str) -> StoreResult<Vec<FunctionVersion>> {
        self.all(
            q("SELECT data, secrets FROM versions WHERE function_id = $1 ORDER BY number")
                .text(function_id),
        )
        .await
    }

    async fn delete_version(&self, function_id: &str, number: u32) -> StoreResult<()> {
        let mut tx = self.db.begin_write().await?;
        let pointing = tx
            .fetch_optional(
                q(
                    "SELECT name FROM aliases WHERE function_id = $1 AND version = $2 \
                   ORDER BY name LIMIT 1",
                )
                .text(function_id)
                .int(i64::from(number)),
            )
            .await?;
        if let Some(alias) = pointing {
            return Err(StoreError::Conflict(format!(
                "the alias `{}` points at version {number}; move or delete it first",
                alias.text("name")?
            )));
        }
        let done = tx
            .execute(
                q("DELETE FROM versions WHERE function_id = $1 AND number = $2")
                    .text(function_id)
                    .int(i64::from(number)),
            )
            .await?;
        touched_one(done, "version", &number.to_string())?;
        tx.commit().await
    }

    async fn versions_of_deployment(
        &self,
        function_id: &str,
        deployment_id: &str,
    ) -> StoreResult<Vec<u32>> {
        let rows = self
            .rows(
                q(
                    "SELECT number FROM versions WHERE function_id = $1 AND deployment_id = $2 \
                   ORDER BY number",
                )
                .text(function_id)
                .text(deployment_id),
            )
            .await?;
        let mut numbers = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Ok(n) = u32::try_from(row.int("number")?) {
                numbers.push(n);
            }
        }
        Ok(numbers)
    }

    async fn create_alias(&self, alias: &Alias) -> StoreResult<()> {
        self.exec(
            q(
                "INSERT INTO aliases (id, namespace_id, name, function_id, version, data) \
               VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .text(&alias.id)
            .text(&alias.namespace_id)
            .text(&alias.name)
            .text(&alias.function_id)
            .opt_int(alias.version.map(i64::from))
            .text(json(alias)?),
        )
        .await
        .map_err(missing_version(alias))?;
        Ok(())
    }

    async fn get_alias(&self, namespace_id: &str, name: &str) -> StoreResult<Alias> {
        self.fetch_one(
            q("SELECT data FROM aliases WHERE namespace_id = $1 AND name = $2")
                .text(namespace_id)
                .text(name),
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
        let mut filters = vec![text_filter("namespace_id", namespace_id)];
        if let Some(function_id) = function_id {
            filters.push(text_filter("function_id", function_id));
        }
        self.list(&filters, true, query).await
    }

    async fn update_alias(&self, alias: &Alias) -> StoreResult<()> {
        let done = self
            .exec(
                q("UPDATE aliases SET function_id = $1, version = $2, data = $3 WHERE id = $4")
                    .text(&alias.function_id)
                    .opt_int(alias.version.map(i64::from))
                    .text(json(alias)?)
                    .text(&alias.id),
            )
            .await
            .map_err(missing_version(alias))?;
        touched_one(done, "alias", &alias.name)
    }

    async fn delete_alias(&self, id: &str) -> StoreResult<()> {
        self.delete_row("aliases", "alias", id).await
    }

    async fn all_aliases(&self) -> StoreResult<Vec<Alias>> {
        self.all(q("SELECT data FROM aliases")).await
    }

    async fn create_webhook(&self, w: &Webhook) -> StoreResult<()> {
        self.exec(
            q("INSERT INTO webhooks (id, namespace_id, function_id, data) VALUES ($1, $2, $3, $4)")
                .text(&w.id)
                .text(&w.namespace_id)
                .text(&w.function_id)
                .text(json(&stored_webhook(w))?),
        )
        .await?;
        Ok(())
    }

    async fn get_webhook(&self, id: &str) -> StoreResult<Webhook> {
        self.fetch_one(
            q("SELECT data FROM webhooks WHERE id = $1").text(id),
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
        let mut filters = vec![text_filter("namespace_id", namespace_id)];
        if let Some(function_id) = function_id {
            filters.push(text_filter("function_id", function_id));
        }
        self.list(&filters, false, query).await
    }

    async fn update_webhook(&self, w: &Webhook) -> StoreResult<()> {
        let done = self
            .exec(
                q("UPDATE webhooks SET function_id = $1, data = $2 WHERE id = $3")
                    .text(&w.function_id)
                    .text(json(&stored_webhook(w))?)
                    .text(&w.id),
            )
            .await?;
        touched_one(done, "webhook", &w.id)
    }

    async fn delete_webhook(&self, id: &str) -> StoreResult<()> {
        self.delete_row("webhooks", "webhook", id).await
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
        SqlStore::edge_instance_counts(self, namespace_id).await
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
        self.exec(
            q("INSERT INTO tokens (id, hash, data) VALUES ($1, $2, $3)")
                .text(&token.id)
                .text(secret_hash)
                .text(json(&Token {
                    token: None,
                    ..token.clone()
                })?),
        )
        .await
        .map_err(conflict("token already exists"))?;
        Ok(())
    }

    async fn get_token(&self, id: &str) -> StoreResult<Token> {
        self.fetch_one(
            q("SELECT data FROM tokens WHERE id = $1").text(id),
            "token",
            id,
        )
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
        self.delete_row("tokens", "token", id).await
    }

    async fn all_tokens(&self) -> StoreResult<Vec<(Token, String)>> {
        let rows = self.rows(q("SELECT data, hash FROM tokens")).await?;
        rows.iter()
            .map(|row| Ok((Token::from_row(row)?, row.text("hash")?.to_string())))
            .collect()
    }

    async fn record_token_use(&self, uses: &[(String, DateTime<Utc>)]) -> StoreResult<()> {
        if uses.is_empty() {
            return Ok(());
        }
        let dialect = self.dialect();
        let last_used = dialect.json_text("data", "last_used_at");
        // RFC 3339 in UTC with a fixed precision, as serde writes it, so text order is time
        // order: `$1` is the time's JSON, `$2` its text.
        let sql = format!(
            "UPDATE tokens SET data = {} WHERE id = $3 AND ({last_used} IS NULL OR {last_used} < $2)",
            dialect.json_set("data", &[("last_used_at", "$1")])
        );
        let mut tx = self.db.begin_write().await?;
        for (id, at) in uses {
            let at = json(at)?;
            let text = at.trim_matches('"').to_string();
            tx.execute(q(sql.as_str()).text(at).text(text).text(id))
                .await?;
        }
        tx.commit().await
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

    async fn set_namespace_secret(
        &self,
        namespace_id: &str,
        key: &str,
        value: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.secret_set(SecretOwner::Namespace(namespace_id), key, value, now)
            .await
    }

    async fn set_function_secret(
        &self,
        function_id: &str,
        key: &str,
        value: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.secret_set(SecretOwner::Function(function_id), key, value, now)
            .await
    }

    async fn use_upload_token(
        &self,
        nonce: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.exec(
            q("DELETE FROM used_upload_tokens WHERE expires_at < $1").int(now.timestamp_millis()),
        )
        .await?;
        let done = self
            .exec(
                q(
                    "INSERT INTO used_upload_tokens (nonce, expires_at) VALUES ($1, $2) \
                   ON CONFLICT (nonce) DO NOTHING",
                )
                .text(nonce)
                .int(expires_at.timestamp_millis()),
            )
            .await?;
        Ok(done == 1)
    }

    async fn release_upload_token(&self, nonce: &str) -> StoreResult<()> {
        self.exec(q("DELETE FROM used_upload_tokens WHERE nonce = $1").text(nonce))
            .await?;
        Ok(())
    }

    fn shared(&self) -> bool {
        self.db.shared()
    }

    async fn put_node(&self, node: &Node) -> StoreResult<()> {
        self.node_put(node).await
    }

    async fn list_nodes(&self, alive_since: DateTime<Utc>) -> StoreResult<Vec<Node>> {
        self.node_list(alive_since).await
    }

    async fn claim_executions(
        &self,
        node: &str,
        alive_since: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<Execution>> {
        self.executions_claim(node, alive_since, now, limit).await
    }

    async fn claim_build(
        &self,
        deployment_id: &str,
        node: &str,
        alive_since: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.build_claim(deployment_id, node, alive_since).await
    }

    async fn claimable_builds(
        &self,
        node: &str,
        alive_since: DateTime<Utc>,
    ) -> StoreResult<Vec<Deployment>> {
        self.builds_claimable(node, alive_since).await
    }

    async fn advance_trigger(
        &self,
        trigger: &FunctionTrigger,
        tick: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.trigger_advance(trigger, tick).await
    }

    async fn publish_change(&self, payload: &str) -> StoreResult<()> {
        self.db.notify(CHANGES_CHANNEL, payload).await
    }

    fn listen_changes(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<ChangeMessage>> {
        self.db.listen(CHANGES_CHANNEL)
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

/// Save a deployment's status and document; rows changed.
/// A deployment saved in a status other than waiting or building is held by no node: built
/// again, any node may claim it.
async fn save_deployment(exec: &mut dyn Exec, d: &Deployment) -> StoreResult<u64> {
    exec.execute(
        q("UPDATE deployments SET status = $1, data = $2, \
           builder = CASE WHEN $1 IN ('waiting', 'building') THEN builder END WHERE id = $3")
        .text(d.status.as_str())
        .text(json(d)?)
        .text(&d.id),
    )
    .await
}
