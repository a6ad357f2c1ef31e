//! Saved test requests: a JSON document per function and name. Their headers and body may
//! hold credentials (an `Authorization` header, a password in a form), so they are sealed as
//! secrets are: the `secrets` column maps `request` to one sealed value of both, for the owner
//! `<function id>/<name>`, and `data` holds the rest. Rows written before that (`secrets` still
//! `{}`) are sealed when the store opens.

use std::collections::BTreeMap;

use gust_core::TestRequest;
use serde::{Deserialize, Serialize};

use crate::seal::SecretOwner;
use crate::sql::{Row, q};
use crate::sql_sealed::{open_map, seal_map};
use crate::sql_store::{SqlStore, json};
use crate::{StoreError, StoreResult};

/// The sealed part of a test request.
#[derive(Serialize, Deserialize)]
struct SealedPart {
    headers: BTreeMap<String, String>,
    body: String,
}

/// The one entry of the `secrets` column.
const SEALED_ENTRY: &str = "request";

fn owner_id(function_id: &str, name: &str) -> String {
    format!("{function_id}/{name}")
}

impl SqlStore {
    /// The `data` and `secrets` columns of `request`.
    fn seal_test_request(
        &self,
        function_id: &str,
        request: &TestRequest,
    ) -> StoreResult<(String, String)> {
        let id = owner_id(function_id, &request.name);
        let part = serde_json::to_string(&SealedPart {
            headers: request.headers.clone(),
            body: request.body.clone(),
        })?;
        let secrets = seal_map(
            &self.keyring,
            SecretOwner::TestRequest(&id),
            &BTreeMap::from([(SEALED_ENTRY.to_string(), part)]),
        )?;
        let data = json(&TestRequest {
            headers: BTreeMap::new(),
            body: String::new(),
            ..request.clone()
        })?;
        Ok((data, secrets))
    }

    /// A row's request, its sealed part opened.
    fn open_test_request(&self, function_id: &str, row: &Row) -> StoreResult<TestRequest> {
        let mut request: TestRequest = serde_json::from_str(row.text("data")?)?;
        let sealed: BTreeMap<String, String> = serde_json::from_str(row.text("secrets")?)?;
        if sealed.is_empty() {
            return Ok(request);
        }
        let id = owner_id(function_id, &request.name);
        let mut open = open_map(&self.keyring, SecretOwner::TestRequest(&id), sealed)?;
        if let Some(part) = open.remove(SEALED_ENTRY) {
            let part: SealedPart = serde_json::from_str(&part)?;
            request.headers = part.headers;
            request.body = part.body;
        }
        Ok(request)
    }

    /// Seal the rows written before test requests were sealed, in one transaction that
    /// scrubs what it overwrites from the files.
    pub(crate) async fn seal_plain_test_requests(&self) -> StoreResult<()> {
        let rows = self
            .rows(q(
                "SELECT function_id, data, secrets FROM test_requests WHERE secrets = '{}'",
            ))
            .await?;
        let mut plain = Vec::new();
        for row in &rows {
            let function_id = row.text("function_id")?;
            let request = self.open_test_request(function_id, row)?;
            if !request.headers.is_empty() || !request.body.is_empty() {
                plain.push((function_id.to_string(), request));
            }
        }
        if plain.is_empty() {
            return Ok(());
        }
        let _sealing = self.keyring.writes.read().await;
        let mut tx = self.db.begin_scrubbing().await?;
        for (function_id, request) in &plain {
            let (data, secrets) = self.seal_test_request(function_id, request)?;
            tx.execute(
                q("UPDATE test_requests SET data = $3, secrets = $4 \
                   WHERE function_id = $1 AND name = $2")
                .text(function_id)
                .text(&request.name)
                .text(data)
                .text(secrets),
            )
            .await?;
        }
        tx.commit().await?;
        tracing::info!(
            rows = plain.len(),
            "sealed saved test requests stored in plaintext"
        );
        Ok(())
    }
}

impl SqlStore {
    pub(crate) async fn test_requests_list(
        &self,
        function_id: &str,
    ) -> StoreResult<Vec<TestRequest>> {
        let rows = self
            .rows(
                q("SELECT data, secrets FROM test_requests WHERE function_id = $1 ORDER BY name")
                    .text(function_id),
            )
            .await?;
        rows.iter()
            .map(|row| self.open_test_request(function_id, row))
            .collect()
    }

    pub(crate) async fn test_request_get(
        &self,
        function_id: &str,
        name: &str,
    ) -> StoreResult<TestRequest> {
        let row = self
            .row(
                q("SELECT data, secrets FROM test_requests WHERE function_id = $1 AND name = $2")
                    .text(function_id)
                    .text(name),
            )
            .await?
            .ok_or_else(|| StoreError::not_found("test request", name))?;
        self.open_test_request(function_id, &row)
    }

    pub(crate) async fn test_request_put(
        &self,
        function_id: &str,
        request: &TestRequest,
        create: bool,
        max: u32,
    ) -> StoreResult<TestRequest> {
        // Held from sealing to commit, so a key rotation never misses this row.
        let _sealing = self.keyring.writes.read().await;
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
        let (data, secrets) = self.seal_test_request(function_id, &saved)?;
        tx.execute(
            q(
                "INSERT INTO test_requests (function_id, name, data, secrets) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (function_id, name) \
                 DO UPDATE SET data = excluded.data, secrets = excluded.secrets",
            )
            .text(function_id)
            .text(&saved.name)
            .text(data)
            .text(secrets),
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
