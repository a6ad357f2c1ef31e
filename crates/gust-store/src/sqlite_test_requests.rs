//! Saved test requests in SQLite: a JSON document per function and name.

use gust_core::TestRequest;
use sqlx::Row;

use crate::sqlite::{SqliteStore, json};
use crate::{StoreError, StoreResult};

impl SqliteStore {
    pub(crate) async fn test_requests_list(
        &self,
        function_id: &str,
    ) -> StoreResult<Vec<TestRequest>> {
        let rows =
            sqlx::query("SELECT data FROM test_requests WHERE function_id = ? ORDER BY name")
                .bind(function_id)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|row| Ok(serde_json::from_str(row.try_get::<&str, _>("data")?)?))
            .collect()
    }

    pub(crate) async fn test_request_get(
        &self,
        function_id: &str,
        name: &str,
    ) -> StoreResult<TestRequest> {
        let row = sqlx::query("SELECT data FROM test_requests WHERE function_id = ? AND name = ?")
            .bind(function_id)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::not_found("test request", name))?;
        Ok(serde_json::from_str(row.try_get::<&str, _>("data")?)?)
    }

    pub(crate) async fn test_request_put(
        &self,
        function_id: &str,
        request: &TestRequest,
        create: bool,
        max: u32,
    ) -> StoreResult<TestRequest> {
        let mut tx = self.write_transaction().await?;
        let exists: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM functions WHERE id = ?")
            .bind(function_id)
            .fetch_one(&mut *tx)
            .await?;
        if exists == 0 {
            return Err(StoreError::not_found("function", function_id));
        }
        let stored: Option<String> =
            sqlx::query_scalar("SELECT data FROM test_requests WHERE function_id = ? AND name = ?")
                .bind(function_id)
                .bind(&request.name)
                .fetch_optional(&mut *tx)
                .await?;
        let mut saved = request.clone();
        match stored {
            Some(_) if create => {
                return Err(StoreError::Conflict(format!(
                    "the function already has a test request named `{}`; PUT it to replace it",
                    request.name
                )));
            }
            Some(stored) => {
                let stored: TestRequest = serde_json::from_str(&stored)?;
                saved.created_at = stored.created_at;
            }
            None => {
                let count: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM test_requests WHERE function_id = ?")
                        .bind(function_id)
                        .fetch_one(&mut *tx)
                        .await?;
                if count >= i64::from(max) {
                    return Err(StoreError::Conflict(format!(
                        "the function has {count} test requests, the most it may keep; delete one first"
                    )));
                }
            }
        }
        sqlx::query(
            "INSERT OR REPLACE INTO test_requests (function_id, name, data) VALUES (?, ?, ?)",
        )
        .bind(function_id)
        .bind(&saved.name)
        .bind(json(&saved)?)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(saved)
    }

    pub(crate) async fn test_request_delete(
        &self,
        function_id: &str,
        name: &str,
    ) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM test_requests WHERE function_id = ? AND name = ?")
            .bind(function_id)
            .bind(name)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("test request", name));
        }
        Ok(())
    }
}
