//! The embedded SQLite backend, the default: one file in WAL mode, migrations (`migrations/`)
//! run at open, execution records written through rusqlite (`writer.rs`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Sqlite;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::StoreResult;
use crate::seal::Keyring;
use crate::sql::{Backend, Dialect, Exec, Tx, Value, sqlx_exec};
use crate::sql_store::SqlStore;
use crate::store::{DatabaseSize, ExecutionWriter};
use crate::writer::SqliteExecutionWriter;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

sqlx_exec!(Sqlite, SqlitePooled, value);

/// A column of a SQLite row, by the type of the value it holds (SQLite types values, not
/// columns).
fn value(row: &sqlx::sqlite::SqliteRow, i: usize) -> StoreResult<Value> {
    use sqlx::{Row as _, TypeInfo, ValueRef};
    let raw = row.try_get_raw(i)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    Ok(match raw.type_info().name() {
        "INTEGER" => Value::Int(row.try_get(i)?),
        _ => Value::Text(row.try_get(i)?),
    })
}

/// Opens the SQLite store (a [`SqlStore`] over one database file).
pub struct SqliteStore;

impl SqliteStore {
    /// Connections in the pool. SQLite runs one writer at a time; a few readers can overlap it
    /// in WAL mode. `gust serve` sets it from `GUST_SQLITE_CONNECTIONS`.
    pub const DEFAULT_CONNECTIONS: u32 = 4;

    /// Open (creating if needed) the database at `path` with a fresh master key of its own,
    /// which nothing keeps: for tests and measurements. A server opens with its key file's
    /// keyring ([`SqliteStore::open_with_keyring`]).
    pub async fn open(path: &Path) -> StoreResult<SqlStore> {
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
    ) -> StoreResult<SqlStore> {
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
        let store = SqlStore::new(
            Arc::new(SqliteDb {
                pool,
                path: path.to_path_buf(),
            }),
            keyring,
        );
        store.admit_keyring().await?;
        Ok(store)
    }
}

struct SqliteDb {
    pool: SqlitePool,
    /// The database file, for connections outside the pool (the execution writer's).
    path: PathBuf,
}

/// A transaction on a connection that zeroes what it overwrites (`secure_delete`); its commit
/// checkpoints, so what was overwritten leaves the WAL too.
struct Scrubbing {
    connection: sqlx::pool::PoolConnection<Sqlite>,
}

sqlx_exec!(@exec Scrubbing, this => &mut *this.connection);

#[async_trait]
impl Tx for Scrubbing {
    async fn commit(mut self: Box<Self>) -> StoreResult<()> {
        for statement in [
            "COMMIT",
            "PRAGMA wal_checkpoint(TRUNCATE)",
            "PRAGMA secure_delete = OFF",
        ] {
            sqlx::query(statement)
                .execute(&mut *self.connection)
                .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl Backend for SqliteDb {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn pool(&self) -> Box<dyn Exec + '_> {
        Box::new(SqlitePooled(&self.pool))
    }

    /// It takes the write lock at its start. A deferred one would take it at its first write,
    /// and fail at once (the busy timeout does not apply) if another connection, such as the
    /// execution writer's, had committed since its read began.
    async fn begin_write(&self) -> StoreResult<Box<dyn Tx>> {
        Ok(Box::new(self.pool.begin_with("BEGIN IMMEDIATE").await?))
    }

    async fn begin_scrubbing(&self) -> StoreResult<Box<dyn Tx>> {
        let mut connection = self.pool.acquire().await?;
        // Back to the pool only once the commit has turned scrubbing off again.
        connection.close_on_drop();
        for statement in ["PRAGMA secure_delete = ON", "BEGIN IMMEDIATE"] {
            sqlx::query(statement).execute(&mut *connection).await?;
        }
        Ok(Box::new(Scrubbing { connection }))
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

    /// One server: no owner is written.
    fn execution_writer(&self, _owner: Option<&str>) -> StoreResult<Box<dyn ExecutionWriter>> {
        Ok(Box::new(SqliteExecutionWriter::open(&self.path)?))
    }

    /// Deleted rows' pages go to the free list at once.
    async fn after_pruning_for_size(&self) -> StoreResult<()> {
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
