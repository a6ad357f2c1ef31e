//! Moving a single node's SQLite state into an empty PostgreSQL database (`gust migrate`).
//!
//! The two schemas mirror each other table for table and column for column, and secrets are
//! sealed under the master key, not the database: rows are copied as they are, generically,
//! parents before children, a batch per statement (keyset on each table's key, so no table is
//! ever held whole in memory). The target keeps its own `sealing_keys` and `store_meta`, made
//! when it was opened with the same keyring.

use gust_core::{Deployment, DeploymentStatus};

use crate::sql::{Arg, Dialect, Query, Value, q};
use crate::{SqlStore, StoreError, StoreResult};

/// Tables the target fills itself: sqlx's bookkeeping, the keys it was opened with, its own
/// format marker and the nodes running against it.
const SKIPPED: &[&str] = &["_sqlx_migrations", "sealing_keys", "store_meta", "nodes"];

/// Tables whose rows in the target mean it is in use already.
const IN_USE: &[&str] = &["namespaces", "functions", "tokens", "executions"];

/// Rows per `INSERT`; fewer for wide tables, under PostgreSQL's 65,535 bound parameters.
const BATCH_ROWS: usize = 1000;
const MAX_PARAMETERS: usize = 60_000;

/// One table's copy: rows counted in the source and, after the copy, in the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCopy {
    pub table: String,
    pub source_rows: u64,
    pub target_rows: u64,
}

/// The tables among namespaces, functions, tokens and executions that hold rows in `store`,
/// with their counts: a target must have none.
pub async fn rows_in_use(store: &SqlStore) -> StoreResult<Vec<(String, u64)>> {
    let mut used = Vec::new();
    for table in IN_USE {
        let n = count(store, table).await?;
        if n > 0 {
            used.push((table.to_string(), n));
        }
    }
    Ok(used)
}

/// Whether another process has the SQLite database at `path` open (a server still running
/// on it): in WAL mode every open connection holds a shared lock on the file, so an
/// exclusive one is refused at once. Checked before the store is opened, by a connection
/// of its own that is closed again.
pub fn sqlite_in_use(path: &std::path::Path) -> StoreResult<bool> {
    use rusqlite::{Connection, OpenFlags, ffi::ErrorCode};
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    connection.busy_timeout(std::time::Duration::ZERO)?;
    match connection.execute_batch("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; COMMIT;") {
        Ok(()) => Ok(false),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if matches!(e.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) =>
        {
            Ok(true)
        }
        Err(e) => Err(e.into()),
    }
}

/// Copy every table of the SQLite store `from` into the PostgreSQL store `to` (whose tables
/// must be empty), then move `to`'s sequences past the ids copied. `progress` is told each
/// table's rows copied so far. Returns each table's counts on both sides, in copy order.
pub async fn copy_tables(
    from: &SqlStore,
    to: &SqlStore,
    mut progress: impl FnMut(&str, u64),
) -> StoreResult<Vec<TableCopy>> {
    if from.dialect() != Dialect::Sqlite || to.dialect() != Dialect::Postgres {
        return Err(StoreError::Conflict(
            "a migration copies a SQLite store into a PostgreSQL one".into(),
        ));
    }
    let tables = source_tables(from).await?;
    let mut copies = Vec::new();
    for table in &tables {
        let copied = copy_table(from, to, table, &mut progress).await?;
        progress(&table.name, copied);
        copies.push(TableCopy {
            table: table.name.clone(),
            source_rows: count(from, &table.name).await?,
            target_rows: count(to, &table.name).await?,
        });
    }
    reset_sequences(to, &tables).await?;
    Ok(copies)
}

/// The ready deployments of process functions whose built code is not in the blob store
/// (a single node runs it from its own folder): what a migration packs and uploads.
pub async fn deployments_without_built_code(store: &SqlStore) -> StoreResult<Vec<Deployment>> {
    let rows = store
        .rows(q(format!(
            "SELECT d.data AS data FROM deployments d JOIN functions f ON f.id = d.function_id \
             WHERE d.status = 'ready' AND {} <> 'wasm' ORDER BY d.id",
            store.dialect().json_text("f.data", "runtime")
        )))
        .await?;
    let mut deployments = Vec::new();
    for row in rows {
        let deployment: Deployment = serde_json::from_str(row.text("data")?)?;
        if deployment.status == DeploymentStatus::Ready && deployment.built_sha256.is_none() {
            deployments.push(deployment);
        }
    }
    Ok(deployments)
}

/// A table of the source: its columns, and the key its rows are read in order of.
struct Table {
    name: String,
    columns: Vec<String>,
    /// `rowid`, or the primary key's columns for a table without one.
    key: Vec<String>,
}

/// The source's tables, each after the tables its foreign keys name.
async fn source_tables(from: &SqlStore) -> StoreResult<Vec<Table>> {
    let rows = from
        .rows(q(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' ORDER BY rowid",
        ))
        .await?;
    let mut pending = Vec::new();
    for row in &rows {
        let name = row.text("name")?.to_string();
        if SKIPPED.contains(&name.as_str()) {
            continue;
        }
        let without_rowid = row
            .opt_text("sql")?
            .is_some_and(|sql| sql.to_ascii_uppercase().contains("WITHOUT ROWID"));
        let info = from
            .rows(q("SELECT name, pk FROM pragma_table_info($1) ORDER BY cid").text(name.clone()))
            .await?;
        let columns = info
            .iter()
            .map(|c| c.text("name").map(str::to_string))
            .collect::<StoreResult<Vec<_>>>()?;
        let key = if without_rowid {
            let mut pk = info
                .iter()
                .filter_map(|c| match (c.int("pk"), c.text("name")) {
                    (Ok(n), Ok(name)) if n > 0 => Some((n, name.to_string())),
                    _ => None,
                })
                .collect::<Vec<_>>();
            pk.sort();
            pk.into_iter().map(|(_, name)| name).collect()
        } else {
            vec!["rowid".to_string()]
        };
        let parents = from
            .rows(
                q("SELECT DISTINCT \"table\" AS parent FROM pragma_foreign_key_list($1)")
                    .text(name.clone()),
            )
            .await?
            .iter()
            .map(|p| p.text("parent").map(str::to_string))
            .collect::<StoreResult<Vec<_>>>()?;
        pending.push((Table { name, columns, key }, parents));
    }
    // Parents first, in the order the tables were made otherwise.
    let mut ordered: Vec<Table> = Vec::new();
    while !pending.is_empty() {
        let names: Vec<String> = pending.iter().map(|(t, _)| t.name.clone()).collect();
        let Some(ready) = pending.iter().position(|(table, parents)| {
            parents
                .iter()
                .all(|p| *p == table.name || !names.contains(p))
        }) else {
            return Err(StoreError::Conflict(format!(
                "the tables {names:?} name each other in foreign keys; no order copies them"
            )));
        };
        ordered.push(pending.remove(ready).0);
    }
    Ok(ordered)
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

async fn count(store: &SqlStore, table: &str) -> StoreResult<u64> {
    let n = store
        .db
        .pool()
        .count(q(format!("SELECT COUNT(*) FROM {}", quoted(table))))
        .await?;
    Ok(n.max(0) as u64)
}

/// Whether each column of `table` in PostgreSQL holds integers.
async fn target_integer_columns(to: &SqlStore, table: &Table) -> StoreResult<Vec<bool>> {
    let rows = to
        .rows(
            q("SELECT column_name::text AS name, data_type::text AS type \
               FROM information_schema.columns \
               WHERE table_schema = current_schema() AND table_name = $1")
            .text(table.name.clone()),
        )
        .await?;
    table
        .columns
        .iter()
        .map(|column| {
            let row = rows
                .iter()
                .find(|r| r.text("name").is_ok_and(|n| n == column))
                .ok_or_else(|| {
                    StoreError::Conflict(format!(
                        "the PostgreSQL table `{}` has no column `{column}`: is the database \
                         of this version of gust?",
                        table.name
                    ))
                })?;
            Ok(matches!(
                row.text("type")?,
                "bigint" | "integer" | "smallint"
            ))
        })
        .collect()
}

/// A source value as the target column wants it (SQLite keeps the type of each value, not of
/// its column).
fn arg(value: Value, integer: bool) -> StoreResult<Arg<'static>> {
    Ok(match (value, integer) {
        (Value::Null, true) => Arg::Int(None),
        (Value::Null, false) => Arg::Text(None),
        (Value::Int(n), true) => Arg::Int(Some(n)),
        (Value::Int(n), false) => Arg::Text(Some(n.to_string().into())),
        (Value::Text(text), false) => Arg::Text(Some(text.into())),
        (Value::Text(text), true) => {
            Arg::Int(Some(text.parse().map_err(|_| {
                StoreError::Conflict(format!("`{text}` is not an integer"))
            })?))
        }
    })
}

/// Copy one table a batch at a time; the rows copied.
async fn copy_table(
    from: &SqlStore,
    to: &SqlStore,
    table: &Table,
    progress: &mut impl FnMut(&str, u64),
) -> StoreResult<u64> {
    let integer = target_integer_columns(to, table).await?;
    let batch = BATCH_ROWS.min(MAX_PARAMETERS / table.columns.len().max(1));
    let keys = table.key.len();
    let key_list = table
        .key
        .iter()
        .map(|k| quoted(k))
        .collect::<Vec<_>>()
        .join(", ");
    let select_keys = table
        .key
        .iter()
        .enumerate()
        .map(|(i, k)| format!("{} AS \"__key{i}\"", quoted(k)))
        .collect::<Vec<_>>()
        .join(", ");
    let columns = table
        .columns
        .iter()
        .map(|c| quoted(c))
        .collect::<Vec<_>>()
        .join(", ");
    let mut last: Option<Vec<Value>> = None;
    let mut copied = 0;
    loop {
        let mut select = q(format!(
            "SELECT {select_keys}, {columns} FROM {}",
            quoted(&table.name)
        ));
        if let Some(last) = &last {
            let placeholders = (1..=keys).map(|i| format!("${i}")).collect::<Vec<_>>();
            select = select.push(&format!(
                " WHERE ({key_list}) > ({})",
                placeholders.join(", ")
            ));
            for value in last {
                select = select.arg(match value {
                    Value::Null => Arg::Text(None),
                    Value::Int(n) => Arg::Int(Some(*n)),
                    Value::Text(text) => Arg::Text(Some(text.clone().into())),
                });
            }
        }
        let select = select.push(&format!(" ORDER BY {key_list} LIMIT {batch}"));
        let rows = from.rows(select).await?;
        let Some(final_row) = rows.last() else {
            return Ok(copied);
        };
        last = Some(final_row.values[..keys].to_vec());
        let n = rows.len();
        let mut insert: Query<'static> = q(format!(
            "INSERT INTO {} ({columns}) VALUES ",
            quoted(&table.name)
        ));
        for (r, row) in rows.into_iter().enumerate() {
            insert = insert.push(if r == 0 { "(" } else { ", (" });
            for (c, value) in row.values.into_iter().skip(keys).enumerate() {
                let sql = if c == 0 { "{}" } else { ", {}" };
                insert = insert.push_bound(sql, arg(value, integer[c])?);
            }
            insert = insert.push(")");
        }
        to.exec(insert).await?;
        copied += n as u64;
        progress(&table.name, copied);
        if n < batch {
            return Ok(copied);
        }
    }
}

/// Move each serial or identity column's sequence of the copied tables past the largest id
/// copied, so the target's next row does not collide with one.
async fn reset_sequences(to: &SqlStore, tables: &[Table]) -> StoreResult<()> {
    let rows = to
        .rows(q(
            "SELECT table_name::text AS table_name, column_name::text AS column_name \
             FROM information_schema.columns WHERE table_schema = current_schema() \
             AND (is_identity = 'YES' OR column_default LIKE 'nextval(%')",
        ))
        .await?;
    for row in rows {
        let table = row.text("table_name")?;
        let column = row.text("column_name")?;
        if !tables.iter().any(|t| t.name == table) {
            continue;
        }
        to.rows(
            q(format!(
                "SELECT setval(pg_get_serial_sequence($1, $2), \
                 COALESCE((SELECT MAX({}) FROM {}), 0) + 1, false)",
                quoted(column),
                quoted(table)
            ))
            .text(quoted(table))
            .text(column.to_string()),
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{Keyring, PgStore, SqliteStore};

    /// More rows than a batch, in a table with a rowid (executions, whose `seq` is the target's
    /// serial) and one without (function minutes, keyed by two columns).
    #[tokio::test]
    async fn tables_copy_in_batches_and_sequences_move_past_the_copied_keys() {
        let server = tokio::task::spawn_blocking(gust_test_tools::Postgres::start)
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let keyring = Arc::new(Keyring::generate());
        let from = SqliteStore::open_with_keyring(&dir.path().join("gust.db"), 1, keyring.clone())
            .await
            .unwrap();
        let to = PgStore::connect(&server.url(), 2, keyring).await.unwrap();
        from.exec(q(
            "INSERT INTO namespaces (id, name, data) VALUES ('n1', 'default', '{}')",
        ))
        .await
        .unwrap();
        from.exec(q(
            "INSERT INTO functions (id, namespace_id, name, data, serial) \
             VALUES ('f1', 'n1', 'f', '{}', 7)",
        ))
        .await
        .unwrap();
        // Gaps in `seq`, as pruning leaves them; an idempotency key NULL on most rows.
        for i in 0..2_500i64 {
            from.exec(
                q(
                    "INSERT INTO executions (seq, id, function_id, status, trigger, data, \
                   idempotency_key) VALUES ($1, $2, 'f1', 'succeeded', 'http', '{}', $3)",
                )
                .int(i * 3 + 1)
                .text(format!("e{i:05}"))
                .opt_text((i % 100 == 0).then(|| format!("k{i}"))),
            )
            .await
            .unwrap();
        }
        for minute in 0..1_200i64 {
            from.exec(
                q(
                    "INSERT INTO function_minutes (function_id, namespace_id, minute, requests, \
                   errors, cold_starts, instances, durations) \
                   VALUES ('f1', 'n1', $1, 1, 0, 0, 1, '[]')",
                )
                .int(minute * 60),
            )
            .await
            .unwrap();
        }

        assert!(rows_in_use(&to).await.unwrap().is_empty());
        let mut seen = Vec::new();
        let copies = copy_tables(&from, &to, |table, n| seen.push((table.to_string(), n)))
            .await
            .unwrap();
        let of = |table: &str| copies.iter().find(|c| c.table == table).unwrap().clone();
        assert_eq!(of("executions").source_rows, 2_500);
        assert_eq!(of("executions").target_rows, 2_500);
        assert_eq!(of("function_minutes").target_rows, 1_200);
        assert!(copies.iter().all(|c| c.source_rows == c.target_rows));
        // Parents before children.
        let at = |table: &str| copies.iter().position(|c| c.table == table).unwrap();
        assert!(at("namespaces") < at("functions"));
        assert!(at("functions") < at("function_minutes"));
        assert!(!copies.iter().any(|c| SKIPPED.contains(&c.table.as_str())));
        // Three batches of executions reported as they went.
        let batches: Vec<u64> = seen
            .iter()
            .filter(|(t, _)| t == "executions")
            .map(|(_, n)| *n)
            .collect();
        assert_eq!(batches, [1_000, 2_000, 2_500, 2_500]);

        let copied = to
            .row(q(
                "SELECT seq, idempotency_key FROM executions WHERE id = 'e02400'",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(copied.int("seq").unwrap(), 2_400 * 3 + 1);
        assert_eq!(copied.opt_text("idempotency_key").unwrap(), Some("k2400"));
        // The next row the target numbers itself comes after the largest copied.
        let next = to
            .row(q(
                "INSERT INTO executions (id, function_id, status, trigger, data) \
                 VALUES ('new', 'f1', 'queued', 'http', '{}') RETURNING seq",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(next.int("seq").unwrap(), 2_499 * 3 + 2);
        assert_eq!(
            rows_in_use(&to).await.unwrap(),
            [
                ("namespaces".to_string(), 1),
                ("functions".to_string(), 1),
                ("executions".to_string(), 2_501)
            ]
        );
    }
}
