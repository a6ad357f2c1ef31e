//! Console sessions: one row per signed-in browser, keyed by the sha256 of the session's id,
//! with times as Unix milliseconds so expiry is an integer comparison.

use chrono::{DateTime, Utc};

use crate::sql::q;
use crate::sql_store::{SqlStore, is_foreign_key_violation};
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

impl SqlStore {
    pub(crate) async fn console_session_create(&self, s: &ConsoleSession) -> StoreResult<()> {
        self.exec(
            q(
                "INSERT INTO console_sessions (id_hash, token_id, created_at, expires_at) \
               VALUES ($1, $2, $3, $4)",
            )
            .text(&s.id_hash)
            .text(&s.token_id)
            .int(millis(s.created_at))
            .int(millis(s.expires_at)),
        )
        .await
        .map_err(|e| {
            if is_foreign_key_violation(&e) {
                StoreError::not_found("token", &s.token_id)
            } else {
                e
            }
        })?;
        Ok(())
    }

    pub(crate) async fn console_session_get(&self, id_hash: &str) -> StoreResult<ConsoleSession> {
        let row = self
            .row(
                q(
                    "SELECT token_id, created_at, expires_at FROM console_sessions \
                   WHERE id_hash = $1",
                )
                .text(id_hash),
            )
            .await?
            .ok_or_else(|| StoreError::not_found("session", ""))?;
        Ok(ConsoleSession {
            id_hash: id_hash.to_string(),
            token_id: row.text("token_id")?.to_string(),
            created_at: from_millis(row.int("created_at")?),
            expires_at: from_millis(row.int("expires_at")?),
        })
    }

    pub(crate) async fn console_session_delete(&self, id_hash: &str) -> StoreResult<()> {
        self.exec(q("DELETE FROM console_sessions WHERE id_hash = $1").text(id_hash))
            .await?;
        Ok(())
    }

    pub(crate) async fn console_sessions_prune(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        self.exec(q("DELETE FROM console_sessions WHERE expires_at <= $1").int(millis(now)))
            .await
    }
}
