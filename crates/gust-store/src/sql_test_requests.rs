//! Saved test requests: a JSON document per function and name.

use gust_core::TestRequest;

use crate::sql::q;
use crate::sql_store::{SqlStore, json};
use crate::{StoreError, StoreResult};

impl SqlStore {
    pub(crate) async fn test_requests_list(
        &self,
        function_id: &str,
    ) -> StoreResult<Vec<TestRequest>> {
        let rows = self
            .rows(
                q("SELECT data FROM test_requests WHERE function_id = $1 ORDER BY name")
                    .text(function_id),
            )
            .await?;
        rows.iter()
            .map(|row| Ok(serde_json::from_str(row.text("data")?)?))
            .collect()
    }

    pub(crate) async fn test_request_get(
        &self,
        function_id: &str,
        name: &str,
    ) -> StoreResult<TestRequest> {
        let row = self
            .row(
                q("SELECT data FROM test_requests WHERE function_id = $1 AND name = $2")
                    .text(function_id)
                    .text(name),
            )
            .await?
            .ok_or_else(|| StoreError::not_found("test request", name))?;
        Ok(serde_json::from_str(row.text("data")?)?)
    }

    pub(crate) async fn test_request_put(
        &self,
        function_id: &str,
        request: &TestRequest,
        create: bool,
        max: u32,
    ) -> StoreResult<TestRequest> {
        let mut tx = self.db.begin_write().await?;
        let exists = tx
            .count(q("SELECT COUNT(*) FROM functions WHERE id = $1").text(function_id))
            .await?;
        if exists == 0 {
            return Err(StoreError::not_found("function", function_id));
        }
        let stored = tx
            .fetch_optional(
                q("SELECT data FROM test_requests WHERE function_id = $1 AND name = $2")
                    .text(function_id)
                    .text(&request.name),
            )
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
                let stored: TestRequest = serde_json::from_str(stored.text("data")?)?;
                saved.created_at = stored.created_at;
            }
            None => {
                let count = tx
                    .count(
                        q("SELECT COUNT(*) FROM test_requests WHERE function_id = $1")
                            .text(function_id),
                    )
                    .await?;
                if count >= i64::from(max) {
                    return Err(StoreError::Conflict(format!(
                        "the function has {count} test requests, the most it may keep; delete one first"
                    )));
                }
            }
        }
        tx.execute(
            q(
                "INSERT INTO test_requests (function_id, name, data) VALUES ($1, $2, $3) \
               ON CONFLICT (function_id, name) DO UPDATE SET data = excluded.data",
            )
            .text(function_id)
            .text(&saved.name)
            .text(json(&saved)?),
        )
        .await?;
        tx.commit().await?;
        Ok(saved)
    }

    pub(crate) async fn test_request_delete(
        &self,
        function_id: &str,
        name: &str,
    ) -> StoreResult<()> {
        let done = self
            .exec(
                q("DELETE FROM test_requests WHERE function_id = $1 AND name = $2")
                    .text(function_id)
                    .text(name),
            )
            .await?;
        if done == 0 {
            return Err(StoreError::not_found("test request", name));
        }
        Ok(())
    }
}
