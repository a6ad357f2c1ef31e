//! The PostgreSQL backend, for servers that share one database: `gust serve --database-url
//! postgres://…`. Migrations (`migrations-pg/`) run at connect, under sqlx's advisory lock, so
//! nodes starting together migrate once. Execution records go through `pg_writer.rs`.

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::Postgres;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::pg_writer::PgExecutionWriter;
use crate::seal::Keyring;
use crate::sql::{Backend, Dialect, Exec, Tx, Value, sqlx_exec};
use crate::sql_nodes::ChangeMessage;
use crate::sql_store::SqlStore;
use crate::store::{DatabaseSize, ExecutionWriter};
use crate::{StoreError, StoreResult};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations-pg");

sqlx_exec!(Postgres, PgPooled, value);

/// A column of a PostgreSQL row, by its type: integers of any width, booleans as 0 or 1,
/// anything else as text.
fn value(row: &sqlx::postgres::PgRow, i: usize) -> StoreResult<Value> {
    use sqlx::{Row as _, TypeInfo, ValueRef};
    let raw = row.try_get_raw(i)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    Ok(match raw.type_info().name() {
        "INT8" => Value::Int(row.try_get(i)?),
        "INT4" => Value::Int(row.try_get::<i32, _>(i)?.into()),
        "INT2" => Value::Int(row.try_get::<i16, _>(i)?.into()),
        "BOOL" => Value::Int(row.try_get::<bool, _>(i)?.into()),
        _ => Value::Text(row.try_get(i)?),
    })
}

/// The key of the advisory lock write transactions take: SQLite runs them one at a time, and
/// the store's checks across tables (a host name is a custom domain or an edge domain's cname,
/// never both) rely on that.
const WRITE_LOCK: i64 = 0x6775_7374_7772_6974; // "gustwrit"

/// Opens the PostgreSQL store (a [`SqlStore`] over one database).
pub struct PgStore;

impl PgStore {
    /// Connections in the pool when `gust serve` is not told otherwise
    /// (`GUST_DATABASE_CONNECTIONS`).
    pub const DEFAULT_CONNECTIONS: u32 = 8;

    /// Connect to the database at `url` (`postgres://user:password@host:port/database`) with
    /// a pool of `connections`, bring its schema up to date, and check `keyring` against the
    /// keys its secrets are sealed with (`StoreError::Keys` when it cannot open them).
    pub async fn connect(
        url: &str,
        connections: u32,
        keyring: Arc<Keyring>,
    ) -> StoreResult<SqlStore> {
        let options = PgConnectOptions::from_str(url)?.application_name("gust");
        let pool = PgPoolOptions::new()
            .max_connections(connections.max(1))
            .connect_with(options.clone())
            .await?;
        MIGRATOR.run(&pool).await?;
        let store = SqlStore::new(Arc::new(PgDb { pool, options }), keyring);
        store.admit_keyring().await?;
        Ok(store)
    }

    /// The server's version string, from a connection of its own: whether `url` reaches a
    /// database at all (`gust doctor`).
    pub async fn server_version(url: &str) -> StoreResult<String> {
        use sqlx::Connection;
        let options = PgConnectOptions::from_str(url)?.application_name("gust doctor");
        let mut connection = sqlx::PgConnection::connect_with(&options).await?;
        let version: String = sqlx::query_scalar("SELECT version()")
            .fetch_one(&mut connection)
            .await?;
        connection.close().await?;
        Ok(version)
    }

    /// `url` with its password masked, for logs and messages.
    pub fn redacted(url: &str) -> String {
        let Some((scheme, rest)) = url.split_once("://") else {
            return url.to_string();
        };
        let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
        let authority = match authority.rsplit_once('@') {
            Some((user, host)) => match user.split_once(':') {
                Some((name, _)) => format!("{name}:***@{host}"),
                None => authority.to_string(),
            },
            None => authority.to_string(),
        };
        let tail: Vec<String> = tail
            .split('&')
            .map(|part| match part.split_once("password=") {
                Some((before, _)) => format!("{before}password=***"),
                None => part.to_string(),
            })
            .collect();
        format!("{scheme}://{authority}{}", tail.join("&"))
    }

    /// As [`PgStore::connect`], with a fresh master key nothing keeps: for tests.
    pub async fn connect_new_key(url: &str) -> StoreResult<SqlStore> {
        Self::connect(
            url,
            Self::DEFAULT_CONNECTIONS,
            Arc::new(Keyring::generate()),
        )
        .await
    }
}

struct PgDb {
    pool: PgPool,
    /// For connections outside the pool (the execution writer's).
    options: PgConnectOptions,
}

#[async_trait]
impl Backend for PgDb {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn pool(&self) -> Box<dyn Exec + '_> {
        Box::new(PgPooled(&self.pool))
    }

    async fn begin_write(&self) -> StoreResult<Box<dyn Tx>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(WRITE_LOCK)
            .execute(&mut *tx)
            .await?;
        Ok(Box::new(tx))
    }

    /// The database was created sealing secrets: no plaintext to scrub. PostgreSQL frees
    /// what a row overwrote only when it vacuums; the write lock is enough here.
    async fn begin_scrubbing(&self) -> StoreResult<Box<dyn Tx>> {
        self.begin_write().await
    }

    /// The tables of the store's schema with their indexes, and of that what their rows do
    /// not fill. PostgreSQL counts no free bytes without an extension, so they are estimated
    /// from what its last `VACUUM`/`ANALYZE` counted: each table's pages less its live rows
    /// at their average width (0 for a table never analyzed). The write-ahead log is the
    /// server's, not the store's.
    async fn database_size(&self) -> StoreResult<DatabaseSize> {
        let (file, free): (i64, i64) = sqlx::query_as(
            "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint, \
             COALESCE(SUM(CASE WHEN c.reltuples < 0 OR s.width IS NULL THEN 0 \
               ELSE GREATEST(0, pg_relation_size(c.oid) - c.reltuples * (28 + s.width)) END), \
             0)::bigint \
             FROM pg_class c \
             LEFT JOIN (SELECT tablename, SUM(avg_width) AS width FROM pg_stats \
               WHERE schemaname = current_schema() GROUP BY tablename) s \
               ON s.tablename = c.relname \
             WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(DatabaseSize {
            file: file.max(0) as u64,
            free: free.max(0) as u64,
            wal: 0,
        })
    }

    fn execution_writer(&self, owner: Option<&str>) -> StoreResult<Box<dyn ExecutionWriter>> {
        Ok(Box::new(PgExecutionWriter::connect(
            self.options.clone(),
            owner.map(str::to_string),
        )?))
    }

    /// Deleted rows take room until a vacuum marks it reusable; this one also counts what is
    /// left, for [`Backend::database_size`].
    async fn after_pruning_for_size(&self) -> StoreResult<()> {
        sqlx::raw_sql("VACUUM (ANALYZE) executions")
            .execute(&self.pool)
            .await
            .map_err(StoreError::from)?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    fn shared(&self) -> bool {
        true
    }

    async fn notify(&self, channel: &str, payload: &str) -> StoreResult<()> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(payload)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A connection of its own (a pool of one, outside the store's), listening; when it is
    /// lost it is made again, and the receiver told ([`ChangeMessage::Connected`]), since
    /// what was sent meanwhile is gone.
    fn listen(
        &self,
        channel: &'static str,
    ) -> Option<tokio::sync::mpsc::UnboundedReceiver<ChangeMessage>> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy_with(self.options.clone());
        tokio::spawn(async move {
            let mut connected = false;
            loop {
                if tx.is_closed() {
                    return;
                }
                let listener = async {
                    let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await?;
                    listener.listen(channel).await?;
                    Ok::<_, sqlx::Error>(listener)
                };
                let mut listener = match listener.await {
                    Ok(listener) => listener,
                    Err(e) => {
                        if std::mem::take(&mut connected) {
                            tracing::warn!(error = %e, "listening for changes: reconnecting");
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                        continue;
                    }
                };
                connected = true;
                if tx.send(ChangeMessage::Connected).is_err() {
                    return;
                }
                // `None`, or an error: the connection was lost; listen again on a new one.
                while let Ok(Some(notification)) = listener.try_recv().await {
                    let notice = ChangeMessage::Notice(notification.payload().to_string());
                    if tx.send(notice).is_err() {
                        return;
                    }
                }
            }
        });
        Some(rx)
    }
}

#[cfg(test)]
mod tests {
    use super::PgStore;

    #[test]
    fn a_redacted_url_keeps_all_but_the_password() {
        assert_eq!(
            PgStore::redacted("postgres://gust:s3cret@db.internal:5432/gust?sslmode=require"),
            "postgres://gust:***@db.internal:5432/gust?sslmode=require"
        );
        assert_eq!(
            PgStore::redacted("postgresql://db/gust?user=gust&password=s3cret"),
            "postgresql://db/gust?user=gust&password=***"
        );
        assert_eq!(
            PgStore::redacted("postgres://gust@127.0.0.1/gust"),
            "postgres://gust@127.0.0.1/gust"
        );
    }
}
