//! Sealed secrets in the SQLite store: sealing on write, opening on read, the check of the
//! keyring at open, the sealing of plaintext rows left by earlier versions, and the steps of a
//! key rotation. The secrets columns hold a JSON object of variable name → sealed value.

use std::collections::BTreeMap;

use sqlx::Row;

use crate::seal::{Keyring, MasterKey, SecretOwner, sealed_key_id};
use crate::sqlite::SqliteStore;
use crate::{StoreError, StoreResult};

/// The tables with a secrets column, and how a row names its owner.
#[derive(Debug, Clone, Copy)]
enum SecretTable {
    Namespaces,
    Functions,
    Versions,
}

const SECRET_TABLES: [SecretTable; 3] = [
    SecretTable::Namespaces,
    SecretTable::Functions,
    SecretTable::Versions,
];

impl SecretTable {
    fn select_all(self) -> &'static str {
        match self {
            Self::Namespaces => "SELECT id, 0 AS number, secrets FROM namespaces",
            Self::Functions => "SELECT id, 0 AS number, secrets FROM functions",
            Self::Versions => "SELECT function_id AS id, number, secrets FROM versions",
        }
    }

    fn select_one(self) -> &'static str {
        match self {
            Self::Namespaces => "SELECT secrets FROM namespaces WHERE id = ?1 AND ?2 = 0",
            Self::Functions => "SELECT secrets FROM functions WHERE id = ?1 AND ?2 = 0",
            Self::Versions => "SELECT secrets FROM versions WHERE function_id = ?1 AND number = ?2",
        }
    }

    fn update(self) -> &'static str {
        match self {
            Self::Namespaces => "UPDATE namespaces SET secrets = ?3 WHERE id = ?1 AND ?2 = 0",
            Self::Functions => "UPDATE functions SET secrets = ?3 WHERE id = ?1 AND ?2 = 0",
            Self::Versions => {
                "UPDATE versions SET secrets = ?3 WHERE function_id = ?1 AND number = ?2"
            }
        }
    }

    fn owner(self, id: &str, number: i64) -> SecretOwner<'_> {
        match self {
            Self::Namespaces => SecretOwner::Namespace(id),
            Self::Functions => SecretOwner::Function(id),
            Self::Versions => SecretOwner::Version(id, number as u32),
        }
    }
}

/// Seal every value of `secrets` for `owner`, as the JSON the secrets column holds.
pub(crate) fn seal_map(
    keyring: &Keyring,
    owner: SecretOwner<'_>,
    secrets: &BTreeMap<String, String>,
) -> StoreResult<String> {
    let sealed: BTreeMap<&str, String> = secrets
        .iter()
        .map(|(name, value)| (name.as_str(), keyring.seal(owner, name, value)))
        .collect();
    Ok(serde_json::to_string(&sealed)?)
}

/// Open every value of a secrets column.
pub(crate) fn open_map(
    keyring: &Keyring,
    owner: SecretOwner<'_>,
    sealed: BTreeMap<String, String>,
) -> StoreResult<BTreeMap<String, String>> {
    sealed
        .into_iter()
        .map(|(name, value)| {
            let plain = keyring.open(owner, &name, &value)?;
            Ok((name, plain))
        })
        .collect()
}

impl SqliteStore {
    /// Check the keyring against the keys the store holds values under, record the keys it
    /// does not know yet, and seal rows an earlier version left in plaintext.
    pub(crate) async fn admit_keyring(&self) -> StoreResult<()> {
        let rows = sqlx::query("SELECT id, check_value FROM sealing_keys ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        let mut known = Vec::new();
        let mut missing = Vec::new();
        let mut wrong = Vec::new();
        for row in &rows {
            let id: i64 = row.try_get("id")?;
            let check: String = row.try_get("check_value")?;
            let id = id as u32;
            known.push(id);
            if !self.keyring.ids().contains(&id) {
                missing.push(id);
            } else if !self.keyring.verify_check(id, &check) {
                wrong.push(id);
            }
        }
        if !wrong.is_empty() {
            return Err(StoreError::Keys(format!(
                "the master key file's key(s) {wrong:?} are not the ones this database's \
                 secrets were sealed with (the right file, or no secrets, can open it)"
            )));
        }
        if !missing.is_empty() {
            return Err(StoreError::Keys(format!(
                "this database's secrets may be sealed with master key(s) {missing:?}, which \
                 the master key file lacks"
            )));
        }
        for id in self.keyring.ids() {
            if !known.contains(&id) {
                self.record_key(id).await?;
            }
        }
        let format: Option<String> =
            sqlx::query_scalar("SELECT value FROM store_meta WHERE name = 'secrets_format'")
                .fetch_optional(&self.pool)
                .await?;
        if format.as_deref() == Some("plain") {
            self.seal_plaintext().await?;
        }
        Ok(())
    }

    async fn record_key(&self, id: u32) -> StoreResult<()> {
        let check = self
            .keyring
            .check_value(id)
            .ok_or_else(|| StoreError::Keys(format!("the keyring lacks key {id}")))?;
        sqlx::query("INSERT OR REPLACE INTO sealing_keys (id, check_value) VALUES (?, ?)")
            .bind(i64::from(id))
            .bind(check)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Seal every row written before secrets were sealed, all in one transaction with the
    /// format mark, on a connection that zeroes what it overwrites (`secure_delete`), then
    /// checkpoint, so the plaintext leaves the database file and its WAL.
    async fn seal_plaintext(&self) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await?;
        sqlx::query("PRAGMA secure_delete = ON")
            .execute(&mut *conn)
            .await?;
        let result = async {
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            let mut sealed = 0u64;
            for table in SECRET_TABLES {
                let rows = sqlx::query(table.select_all()).fetch_all(&mut *tx).await?;
                for row in &rows {
                    let (id, number, secrets) = secret_row(row)?;
                    let values: BTreeMap<String, String> = serde_json::from_str(&secrets)?;
                    if values.is_empty() {
                        continue;
                    }
                    let owner = table.owner(&id, number);
                    sqlx::query(table.update())
                        .bind(&id)
                        .bind(number)
                        .bind(seal_map(&self.keyring, owner, &values)?)
                        .execute(&mut *tx)
                        .await?;
                    sealed += 1;
                }
            }
            sqlx::query("UPDATE store_meta SET value = 'sealed' WHERE name = 'secrets_format'")
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            if sealed > 0 {
                tracing::info!(rows = sealed, "sealed secrets stored in plaintext");
            }
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&mut *conn)
                .await?;
            StoreResult::Ok(())
        }
        .await;
        sqlx::query("PRAGMA secure_delete = OFF")
            .execute(&mut *conn)
            .await?;
        result
    }

    /// Reseal one row's values under the active key, in a transaction of its own; whether it
    /// changed.
    async fn reseal_row(&self, table: SecretTable, id: &str, number: i64) -> StoreResult<bool> {
        let _sealing = self.keyring.writes.read().await;
        let active = self.keyring.active_id();
        let mut tx = self.write_transaction().await?;
        let Some(secrets): Option<String> = sqlx::query_scalar(table.select_one())
            .bind(id)
            .bind(number)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(false);
        };
        let values: BTreeMap<String, String> = serde_json::from_str(&secrets)?;
        if values.values().all(|v| sealed_key_id(v) == Some(active)) {
            return Ok(false);
        }
        let owner = table.owner(id, number);
        let plain = open_map(&self.keyring, owner, values)?;
        sqlx::query(table.update())
            .bind(id)
            .bind(number)
            .bind(seal_map(&self.keyring, owner, &plain)?)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Rows holding a value sealed under a key other than `active`.
    async fn rows_not_under(
        &self,
        table: SecretTable,
        active: u32,
    ) -> StoreResult<Vec<(String, i64)>> {
        let rows = sqlx::query(table.select_all())
            .fetch_all(&self.pool)
            .await?;
        let mut stale = Vec::new();
        for row in &rows {
            let (id, number, secrets) = secret_row(row)?;
            let values: BTreeMap<String, String> = serde_json::from_str(&secrets)?;
            if values.values().any(|v| sealed_key_id(v) != Some(active)) {
                stale.push((id, number));
            }
        }
        Ok(stale)
    }

    pub(crate) async fn sealed_begin_rotation(&self, key: MasterKey) -> StoreResult<()> {
        let id = key.id;
        if self.sealed_key_ids().await?.contains(&id) || self.keyring.ids().contains(&id) {
            return Err(StoreError::Keys(format!("master key {id} exists already")));
        }
        // Recorded before anything is sealed with it, so a crash from here on leaves a
        // database whose every key is listed.
        let check = Keyring::new(vec![key.clone()])
            .map_err(StoreError::Keys)?
            .check_value(id)
            .expect("the key is there");
        sqlx::query("INSERT INTO sealing_keys (id, check_value) VALUES (?, ?)")
            .bind(i64::from(id))
            .bind(check)
            .execute(&self.pool)
            .await?;
        self.keyring.add_active(key).await;
        Ok(())
    }

    pub(crate) async fn sealed_key_ids(&self) -> StoreResult<Vec<u32>> {
        let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM sealing_keys ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        Ok(ids.into_iter().map(|id| id as u32).collect())
    }

    pub(crate) async fn sealed_reseal(&self) -> StoreResult<u64> {
        let active = self.keyring.active_id();
        let mut changed = 0;
        for table in SECRET_TABLES {
            for (id, number) in self.rows_not_under(table, active).await? {
                if self.reseal_row(table, &id, number).await? {
                    changed += 1;
                }
            }
        }
        Ok(changed)
    }

    pub(crate) async fn sealed_retire(&self) -> StoreResult<Vec<u32>> {
        let _sealing = self.keyring.writes.read().await;
        let active = self.keyring.active_id();
        let mut tx = self.write_transaction().await?;
        for table in SECRET_TABLES {
            let rows = sqlx::query(table.select_all()).fetch_all(&mut *tx).await?;
            for row in &rows {
                let (id, number, secrets) = secret_row(row)?;
                let values: BTreeMap<String, String> = serde_json::from_str(&secrets)?;
                if values.values().all(|v| sealed_key_id(v) == Some(active)) {
                    continue;
                }
                let owner = table.owner(&id, number);
                let plain = open_map(&self.keyring, owner, values)?;
                sqlx::query(table.update())
                    .bind(&id)
                    .bind(number)
                    .bind(seal_map(&self.keyring, owner, &plain)?)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let retired: Vec<i64> =
            sqlx::query_scalar("DELETE FROM sealing_keys WHERE id != ? RETURNING id")
                .bind(i64::from(active))
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;
        self.keyring.retain_active();
        let mut retired: Vec<u32> = retired.into_iter().map(|id| id as u32).collect();
        retired.sort_unstable();
        Ok(retired)
    }
}

fn secret_row(row: &sqlx::sqlite::SqliteRow) -> StoreResult<(String, i64, String)> {
    Ok((
        row.try_get("id")?,
        row.try_get("number")?,
        row.try_get("secrets")?,
    ))
}
