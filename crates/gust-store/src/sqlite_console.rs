//! Console sessions in SQLite: one row per signed-in browser, keyed by the sha256 of the
//! session's id, with times as Unix milliseconds so expiry is an integer comparison.

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::sqlite::SqliteStore;
use crate::store::ConsoleSession;
use crate::{StoreError, StoreResult};

fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// A time read back; one out of range (never written by this code) reads as the earliest,
/// so a session with it counts as expired.
fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

impl SqliteStore {
    pub(crate) async fn console_session_create(&self, s: &ConsoleSession) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO console_sessions (id_hash, token_id, created_at, expires_at) \
             VALUES (?, ?, ?, ?)",
        )
        .bind(&s.id_hash)
        .bind(&s.token_id)
        .bind(millis(s.created_at))
        .bind(millis(s.expires_at))
        .execute(&self.pool)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound {
                kind: "token",
                key: s.token_id.clone(),
            },
            _ => e.into(),
        })?;
        Ok(())
    }

    pub(crate) async fn console_session_get(&self, id_hash: &str) -> StoreResult<ConsoleSession> {
        let row = sqlx::query(
            "SELECT token_id, created_at, expires_at FROM console_sessions WHERE id_hash = ?",
        )
        .bind(id_hash)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            kind: "session",
            key: String::new(),
        })?;
        Ok(ConsoleSession {
            id_hash: id_hash.to_string(),
            token_id: row.try_get("token_id")?,
            created_at: from_millis(row.try_get("created_at")?),
            expires_at: from_millis(row.try_get("expires_at")?),
        })
    }

    pub(crate) async fn console_session_delete(&self, id_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM console_sessions WHERE id_hash = ?")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(crate) async fn console_sessions_prune(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM console_sessions WHERE expires_at <= ?")
            .bind(millis(now))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
