//! The SQL layer both backends share. The store's logic ([`SqlStore`](crate::SqlStore)) is
//! written once, against [`Backend`] and [`Exec`]: queries take their arguments as [`Arg`]s
//! (text or integer, `$1`-style placeholders, which SQLite reads too) and give back [`Row`]s
//! of plain values. What the two dialects spell differently (JSON access, case-insensitive
//! `LIKE`) is one method of [`Dialect`]; everything a backend does alone (opening, sizes,
//! the execution writer) is a method of [`Backend`].
//!
//! Rows are copied out of sqlx's own into [`Value`]s: the store's queries read resources a
//! page at a time, never on the invocation path, so that copy costs nothing that counts.

use std::borrow::Cow;
use std::sync::Arc;

use async_trait::async_trait;

use crate::store::{DatabaseSize, ExecutionWriter};
use crate::{StoreError, StoreResult};

/// One bound argument.
#[derive(Debug, Clone)]
pub(crate) enum Arg<'a> {
    Text(Option<Cow<'a, str>>),
    Int(Option<i64>),
}

/// A statement and its arguments, `$1` first.
#[derive(Debug, Clone)]
pub(crate) struct Query<'a> {
    pub sql: Cow<'a, str>,
    pub args: Vec<Arg<'a>>,
}

/// A statement to bind arguments to.
pub(crate) fn q<'a>(sql: impl Into<Cow<'a, str>>) -> Query<'a> {
    Query {
        sql: sql.into(),
        args: Vec::new(),
    }
}

impl<'a> Query<'a> {
    pub fn text(mut self, value: impl Into<Cow<'a, str>>) -> Self {
        self.args.push(Arg::Text(Some(value.into())));
        self
    }

    pub fn opt_text(mut self, value: Option<impl Into<Cow<'a, str>>>) -> Self {
        self.args.push(Arg::Text(value.map(Into::into)));
        self
    }

    pub fn int(mut self, value: i64) -> Self {
        self.args.push(Arg::Int(Some(value)));
        self
    }

    pub fn opt_int(mut self, value: Option<i64>) -> Self {
        self.args.push(Arg::Int(value));
        self
    }

    pub fn arg(mut self, arg: Arg<'a>) -> Self {
        self.args.push(arg);
        self
    }

    /// The next placeholder, for statements assembled piece by piece.
    pub fn next_placeholder(&self) -> String {
        format!("${}", self.args.len() + 1)
    }

    /// Append `sql` and bind `arg` to the placeholder written where `{}` stands in it.
    pub fn push_bound(mut self, sql: &str, arg: Arg<'a>) -> Self {
        let placeholder = self.next_placeholder();
        self.sql
            .to_mut()
            .push_str(&sql.replacen("{}", &placeholder, 1));
        self.arg(arg)
    }

    pub fn push(mut self, sql: &str) -> Self {
        self.sql.to_mut().push_str(sql);
        self
    }
}

/// A column's value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Text(String),
}

/// One row of a result, its columns by name.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub columns: Arc<[String]>,
    pub values: Vec<Value>,
}

impl Row {
    fn value(&self, column: &str) -> StoreResult<&Value> {
        self.columns
            .iter()
            .position(|c| c == column)
            .map(|i| &self.values[i])
            .ok_or_else(|| StoreError::Database(sqlx::Error::ColumnNotFound(column.into())))
    }

    fn mismatch(column: &str, expected: &str) -> StoreError {
        StoreError::Database(sqlx::Error::ColumnDecode {
            index: column.into(),
            source: format!("expected {expected}").into(),
        })
    }

    pub fn text(&self, column: &str) -> StoreResult<&str> {
        self.opt_text(column)?
            .ok_or_else(|| Self::mismatch(column, "text, found NULL"))
    }

    pub fn opt_text(&self, column: &str) -> StoreResult<Option<&str>> {
        match self.value(column)? {
            Value::Text(text) => Ok(Some(text)),
            Value::Null => Ok(None),
            Value::Int(_) => Err(Self::mismatch(column, "text")),
        }
    }

    pub fn int(&self, column: &str) -> StoreResult<i64> {
        self.opt_int(column)?
            .ok_or_else(|| Self::mismatch(column, "an integer, found NULL"))
    }

    pub fn opt_int(&self, column: &str) -> StoreResult<Option<i64>> {
        match self.value(column)? {
            Value::Int(n) => Ok(Some(*n)),
            Value::Null => Ok(None),
            Value::Text(_) => Err(Self::mismatch(column, "an integer")),
        }
    }

    /// The first column, as an integer (`COUNT(*)` and the like).
    pub fn first_int(&self) -> StoreResult<i64> {
        match self.values.first() {
            Some(Value::Int(n)) => Ok(*n),
            _ => Err(Self::mismatch("0", "an integer")),
        }
    }
}

/// Where statements run: the pool (each statement on its own) or a transaction.
#[async_trait]
pub(crate) trait Exec: Send {
    /// Rows changed.
    async fn execute(&mut self, query: Query<'_>) -> StoreResult<u64>;
    async fn fetch_all(&mut self, query: Query<'_>) -> StoreResult<Vec<Row>>;

    async fn fetch_optional(&mut self, query: Query<'_>) -> StoreResult<Option<Row>> {
        Ok(self.fetch_all(query).await?.into_iter().next())
    }

    /// The first column of the first row, as an integer; `None` with no row.
    async fn int(&mut self, query: Query<'_>) -> StoreResult<Option<i64>> {
        match self.fetch_optional(query).await? {
            Some(row) => Ok(Some(row.first_int()?)),
            None => Ok(None),
        }
    }

    /// `SELECT COUNT(*) …`.
    async fn count(&mut self, query: Query<'_>) -> StoreResult<i64> {
        Ok(self.int(query).await?.unwrap_or(0))
    }
}

/// A transaction: rolled back when dropped uncommitted.
#[async_trait]
pub(crate) trait Tx: Exec {
    async fn commit(self: Box<Self>) -> StoreResult<()>;
}

/// One database engine under the store.
#[async_trait]
pub(crate) trait Backend: Send + Sync + 'static {
    fn dialect(&self) -> Dialect;
    /// Statements on the pool, each its own transaction.
    fn pool(&self) -> Box<dyn Exec + '_>;
    /// A transaction that reads, then writes, and must not fail for the writes of others
    /// between the two (SQLite takes its write lock at the start).
    async fn begin_write(&self) -> StoreResult<Box<dyn Tx>>;
    /// A transaction whose overwritten bytes leave the database's files (sealing plaintext
    /// secrets), made durable on commit.
    async fn begin_scrubbing(&self) -> StoreResult<Box<dyn Tx>>;
    async fn database_size(&self) -> StoreResult<DatabaseSize>;
    fn execution_writer(&self, owner: Option<&str>) -> StoreResult<Box<dyn ExecutionWriter>>;
    /// After the oldest executions were deleted to make room: what makes their room reusable.
    async fn after_pruning_for_size(&self) -> StoreResult<()>;
    async fn close(&self);
    /// Whether other servers may share the database.
    fn shared(&self) -> bool {
        false
    }
    /// Send `payload` to every server listening on `channel` (none but this one on SQLite).
    async fn notify(&self, _channel: &str, _payload: &str) -> StoreResult<()> {
        Ok(())
    }
    /// What is sent on `channel`, as long as the store lives; `None` where no other server
    /// can send anything.
    fn listen(
        &self,
        _channel: &'static str,
    ) -> Option<tokio::sync::mpsc::UnboundedReceiver<crate::sql_nodes::ChangeMessage>> {
        None
    }
}

/// What the two SQL dialects spell differently. The JSON documents are `TEXT` in both (see
/// `migrations-pg/`), so PostgreSQL casts them to `jsonb` where a query looks inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The text (or number) at `key` of the JSON document `column`; NULL when absent.
    pub fn json_text(self, column: &str, key: &str) -> String {
        match self {
            Self::Sqlite => format!("json_extract({column}, '$.{key}')"),
            Self::Postgres => format!("({column}::jsonb ->> '{key}')"),
        }
    }

    /// The JSON text of the value at `key` of the document `column`; NULL when absent.
    pub fn json_value(self, column: &str, key: &str) -> String {
        match self {
            Self::Sqlite => format!("({column} -> '$.{key}')"),
            Self::Postgres => format!("({column}::jsonb -> '{key}')::text"),
        }
    }

    /// The document `column` with each key set to a value given as JSON text (an SQL
    /// expression: a placeholder, a literal, another column).
    pub fn json_set(self, column: &str, fields: &[(&str, &str)]) -> String {
        match self {
            Self::Sqlite => {
                let sets: Vec<String> = fields
                    .iter()
                    .map(|(key, value)| format!("'$.{key}', json({value})"))
                    .collect();
                format!("json_set({column}, {})", sets.join(", "))
            }
            Self::Postgres => {
                let sets: Vec<String> = fields
                    .iter()
                    .map(|(key, value)| format!("'{key}', ({value})::text::jsonb"))
                    .collect();
                format!(
                    "({column}::jsonb || jsonb_build_object({}))::text",
                    sets.join(", ")
                )
            }
        }
    }

    /// Pattern matching that ignores case (SQLite's `LIKE` does, for ASCII).
    pub fn like(self) -> &'static str {
        match self {
            Self::Sqlite => "LIKE",
            Self::Postgres => "ILIKE",
        }
    }

    /// The name of the first rule of application `$1` with a `run_function` behaviour
    /// targeting instance `$2`.
    pub fn rule_running_instance(self) -> &'static str {
        match self {
            Self::Sqlite => {
                "SELECT r.name AS name FROM edge_rules r, json_each(r.data, '$.behaviors') b \
                 WHERE r.application_id = $1 AND json_extract(b.value, '$.name') = 'run_function' \
                 AND json_extract(b.value, '$.target') = $2 ORDER BY r.id LIMIT 1"
            }
            Self::Postgres => {
                "SELECT r.name AS name FROM edge_rules r, \
                 jsonb_array_elements(r.data::jsonb -> 'behaviors') b \
                 WHERE r.application_id = $1 AND b ->> 'name' = 'run_function' \
                 AND b -> 'target' = to_jsonb($2::bigint) ORDER BY r.id LIMIT 1"
            }
        }
    }
}

/// Bridges sqlx's typed statements to [`Query`] and [`Row`] for one database: the pool and
/// transaction types implement [`Exec`] (and [`Tx`]) the same way, whatever the database.
macro_rules! sqlx_exec {
    (@exec $type:ty, $this:ident => $executor:expr) => {
        #[async_trait::async_trait]
        impl $crate::sql::Exec for $type {
            async fn execute(&mut self, query: $crate::sql::Query<'_>) -> $crate::StoreResult<u64> {
                let $this = self;
                let done = bind(sqlx::query(&query.sql), &query.args)
                    .execute($executor)
                    .await?;
                Ok(done.rows_affected())
            }

            async fn fetch_all(
                &mut self,
                query: $crate::sql::Query<'_>,
            ) -> $crate::StoreResult<Vec<$crate::sql::Row>> {
                let $this = self;
                rows(bind(sqlx::query(&query.sql), &query.args)
                    .fetch_all($executor)
                    .await?)
            }
        }
    };
    ($db:ty, $pool:ident, $value:path) => {
        /// Statements run on the pool.
        pub(crate) struct $pool<'a>(pub &'a sqlx::Pool<$db>);

        fn bind<'q>(
            mut query: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>,
            args: &'q [$crate::sql::Arg<'_>],
        ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>> {
            for arg in args {
                query = match arg {
                    $crate::sql::Arg::Text(text) => query.bind(text.as_deref()),
                    $crate::sql::Arg::Int(n) => query.bind(*n),
                };
            }
            query
        }

        fn rows(rows: Vec<<$db as sqlx::Database>::Row>) -> $crate::StoreResult<Vec<$crate::sql::Row>> {
            use sqlx::{Column, Row};
            let Some(first) = rows.first() else {
                return Ok(Vec::new());
            };
            let columns: std::sync::Arc<[String]> =
                first.columns().iter().map(|c| c.name().to_string()).collect();
            rows.iter()
                .map(|row| {
                    let values = (0..columns.len())
                        .map(|i| $value(row, i))
                        .collect::<$crate::StoreResult<Vec<_>>>()?;
                    Ok($crate::sql::Row {
                        columns: columns.clone(),
                        values,
                    })
                })
                .collect()
        }

        $crate::sql::sqlx_exec!(@exec $pool<'_>, this => this.0);
        $crate::sql::sqlx_exec!(@exec sqlx::Transaction<'static, $db>, this => &mut **this);

        #[async_trait::async_trait]
        impl $crate::sql::Tx for sqlx::Transaction<'static, $db> {
            async fn commit(self: Box<Self>) -> $crate::StoreResult<()> {
                (*self).commit().await?;
                Ok(())
            }
        }
    };
}

pub(crate) use sqlx_exec;
