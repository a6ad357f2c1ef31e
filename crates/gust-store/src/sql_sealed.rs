//! Sealed secrets in the SQL store: sealing on write, opening on read, the check of the
//! keyring at open, the sealing of plaintext rows left by earlier versions, and the steps of a
//! key rotation. The secrets columns hold a JSON object of variable name → sealed value.

use std::collections::BTreeMap;

use crate::seal::{Keyring, MasterKey, SecretOwner, sealed_key_id};
use crate::sql::{Dialect, Exec, Row, q};
use crate::sql_store::SqlStore;
use crate::{StoreError, StoreResult};

/// The tables with a secrets column, and how a row names its owner.
#[derive(Debug, Clone, Copy)]
enum SecretTable {
    Namespaces,
    Functions,
    Versions,
    /// Saved test requests: their headers and body, one sealed value (`sql_test_requests.rs`).
    TestRequests,
}

const SECRET_TABLES: [SecretTable; 4] = [
    SecretTable::Namespaces,
    SecretTable::Functions,
    SecretTable::Versions,
    SecretTable::TestRequests,
];

impl SecretTable {
    fn select_all(self) -> &'static str {
        match self {
            Self::Namespaces => "SELECT id, CAST(0 AS BIGINT) AS number, secrets FROM namespaces",
            Self::Functions => "SELECT id, CAST(0 AS BIGINT) AS number, secrets FROM functions",
            Self::Versions => "SELECT function_id AS id, number, secrets FROM versions",
            Self::TestRequests => {
                "SELECT function_id || '/' || name AS id, CAST(0 AS BIGINT) AS number, secrets \
                 FROM test_requests"
            }
        }
    }

    fn select_one(self) -> &'static str {
        match self {
            Self::Namespaces => "SELECT secrets FROM namespaces WHERE id = $1 AND $2 = 0",
            Self::Functions => "SELECT secrets FROM functions WHERE id = $1 AND $2 = 0",
            Self::Versions => "SELECT secrets FROM versions WHERE function_id = $1 AND number = $2",
            Self::TestRequests => {
                "SELECT secrets FROM test_requests \
                 WHERE function_id || '/' || name = $1 AND $2 = 0"
            }
        }
    }

    fn update(self) -> &'static str {
        match self {
            Self::Namespaces => "UPDATE namespaces SET secrets = $3 WHERE id = $1 AND $2 = 0",
            Self::Functions => "UPDATE functions SET secrets = $3 WHERE id = $1 AND $2 = 0",
            Self::Versions => {
                "UPDATE versions SET secrets = $3 WHERE function_id = $1 AND number = $2"
            }
            Self::TestRequests => {
                "UPDATE test_requests SET secrets = $3 \
                 WHERE function_id || '/' || name = $1 AND $2 = 0"
            }
        }
    }

    fn owner(self, id: &str, number: i64) -> SecretOwner<'_> {
        match self {
            Self::Namespaces => SecretOwner::Namespace(id),
            Self::Functions => SecretOwner::Function(id),
            Self::Versions => SecretOwner::Version(id, number as u32),
            Self::TestRequests => SecretOwner::TestRequest(id),
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

/// In `tx`, seal every row of every secrets table afresh under the active key: all rows
/// (`Reseal::All`, values in plaintext), or those with a value under another key
/// (`Reseal::Stale`). Returns how many rows changed.
async fn reseal_rows(tx: &mut dyn Exec, keyring: &Keyring, which: Reseal) -> StoreResult<u64> {
    let active = keyring.active_id();
    let mut changed = 0;
    for table in SECRET_TABLES {
        let rows = tx.fetch_all(q(table.select_all())).await?;
        for row in &rows {
            let (id, number, values) = secret_row(row)?;
            let owner = table.owner(&id, number);
            let plain = match which {
                Reseal::All if values.is_empty() => continue,
                Reseal::All => values,
                Reseal::Stale if values.values().all(|v| sealed_key_id(v) == Some(active)) => {
                    continue;
                }
                Reseal::Stale => open_map(keyring, owner, values)?,
            };
            tx.execute(
                q(table.update())
                    .text(&id)
                    .int(number)
                    .text(seal_map(keyring, owner, &plain)?),
            )
            .await?;
            changed += 1;
        }
    }
    Ok(changed)
}

#[derive(Debug, Clone, Copy)]
enum Reseal {
    All,
    Stale,
}

impl SqlStore {
    /// Check the keyring against the keys the store holds values under, record the keys it
    /// does not know yet, and seal rows an earlier version left in plaintext.
    pub(crate) async fn admit_keyring(&self) -> StoreResult<()> {
        let rows = self
            .rows(q("SELECT id, check_value FROM sealing_keys ORDER BY id"))
            .await?;
        let mut known = Vec::new();
        let mut missing = Vec::new();
        let mut wrong = Vec::new();
        for row in &rows {
            let id = row.int("id")? as u32;
            let check = row.text("check_value")?;
            known.push(id);
            if !self.keyring.ids().contains(&id) {
                missing.push(id);
            } else if !self.keyring.verify_check(id, check) {
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
                let check = self
                    .keyring
                    .check_value(id)
                    .ok_or_else(|| StoreError::Keys(format!("the keyring lacks key {id}")))?;
                self.record_key(id, check).await?;
            }
        }
        let format = self
            .row(q(
                "SELECT value FROM store_meta WHERE name = 'secrets_format'",
            ))
            .await?;
        if let Some(format) = format
            && format.text("value")? == "plain"
        {
            self.seal_plaintext().await?;
        }
        self.seal_plain_test_requests().await?;
        Ok(())
    }

    async fn record_key(&self, id: u32, check: String) -> StoreResult<()> {
        self.exec(
            q(
                "INSERT INTO sealing_keys (id, check_value) VALUES ($1, $2) \
               ON CONFLICT (id) DO UPDATE SET check_value = excluded.check_value",
            )
            .int(i64::from(id))
            .text(check),
        )
        .await?;
        Ok(())
    }

    /// Seal every row written before secrets were sealed, all in one transaction with the
    /// format mark, in a transaction that scrubs what it overwrites from the files.
    async fn seal_plaintext(&self) -> StoreResult<()> {
        let mut tx = self.db.begin_scrubbing().await?;
        let sealed = reseal_rows(&mut *tx, &self.keyring, Reseal::All).await?;
        tx.execute(q(
            "UPDATE store_meta SET value = 'sealed' WHERE name = 'secrets_format'",
        ))
        .await?;
        tx.commit().await?;
        if sealed > 0 {
            tracing::info!(rows = sealed, "sealed secrets stored in plaintext");
        }
        Ok(())
    }

    /// Reseal one row's values under the active key, in a transaction of its own; whether it
    /// changed.
    async fn reseal_row(&self, table: SecretTable, id: &str, number: i64) -> StoreResult<bool> {
        let _sealing = self.keyring.writes.read().await;
        let active = self.keyring.active_id();
        let mut tx = self.db.begin_write().await?;
        let Some(row) = tx
            .fetch_optional(q(table.select_one()).text(id).int(number))
            .await?
        else {
            return Ok(false);
        };
        let values: BTreeMap<String, String> = serde_json::from_str(row.text("secrets")?)?;
        if values.values().all(|v| sealed_key_id(v) == Some(active)) {
            return Ok(false);
        }
        let owner = table.owner(id, number);
        let plain = open_map(&self.keyring, owner, values)?;
        tx.execute(q(table.update()).text(id).int(number).text(seal_map(
            &self.keyring,
            owner,
            &plain,
        )?))
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
        let rows = self.rows(q(table.select_all())).await?;
        let mut stale = Vec::new();
        for row in &rows {
            let (id, number, values) = secret_row(row)?;
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
        self.exec(
            q("INSERT INTO sealing_keys (id, check_value) VALUES ($1, $2)")
                .int(i64::from(id))
                .text(check),
        )
        .await?;
        self.keyring.add_active(key).await;
        Ok(())
    }

    pub(crate) async fn sealed_key_ids(&self) -> StoreResult<Vec<u32>> {
        let rows = self
            .rows(q("SELECT id FROM sealing_keys ORDER BY id"))
            .await?;
        rows.iter().map(|row| Ok(row.int("id")? as u32)).collect()
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
        let mut tx = self.db.begin_write().await?;
        reseal_rows(&mut *tx, &self.keyring, Reseal::Stale).await?;
        let retired = tx
            .fetch_all(
                q("DELETE FROM sealing_keys WHERE id != $1 RETURNING id").int(i64::from(active)),
            )
            .await?;
        tx.commit().await?;
        self.keyring.retain_active();
        let mut retired = retired
            .iter()
            .map(|row| Ok(row.int("id")? as u32))
            .collect::<StoreResult<Vec<u32>>>()?;
        retired.sort_unstable();
        Ok(retired)
    }
}

/// A secrets row: its owner's id, version number (0 but for versions) and sealed values.
fn secret_row(row: &Row) -> StoreResult<(String, i64, BTreeMap<String, String>)> {
    Ok((
        row.text("id")?.to_string(),
        row.int("number")?,
        serde_json::from_str(row.text("secrets")?)?,
    ))
}

impl SqlStore {
    /// Set (`Some`) or remove (`None`) the secret `key` of a namespace or function in one
    /// statement, leaving its other secrets as stored: two changes of different secrets made at
    /// once both hold. Each value is sealed on its own (bound to its owner and name), so one
    /// is written without opening the others. `Conflict` when a new one would pass the most a
    /// map holds; `NotFound` when the owner is gone.
    pub(crate) async fn secret_set(
        &self,
        owner: SecretOwner<'_>,
        key: &str,
        value: Option<&str>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<()> {
        let max = gust_core::validate::MAX_ENV_VARS;
        let (table, id, kind) = match owner {
            SecretOwner::Namespace(id) => ("namespaces", id, "namespace"),
            SecretOwner::Function(id) => ("functions", id, "function"),
            _ => {
                return Err(StoreError::Conflict(
                    "only namespaces and functions have secrets set one by one".into(),
                ));
            }
        };
        let dialect = self.dialect();
        let touched = dialect.json_set("data", &[("updated_at", "$2")]);
        // `$1`, the key, is bound, never spliced: the callers check it, and the store needs
        // not trust them. `$3` is the owner's id; a set adds the sealed value (`$4`) and the
        // most secrets a map holds (`$5`).
        let statement = match (dialect, value) {
            (Dialect::Sqlite, Some(_)) => format!(
                "UPDATE {table} SET secrets = json_set(secrets, '$.' || $1, $4), data = {touched} \
                 WHERE id = $3 AND (json_extract(secrets, '$.' || $1) IS NOT NULL \
                   OR (SELECT COUNT(*) FROM json_each({table}.secrets)) < $5)"
            ),
            (Dialect::Postgres, Some(_)) => format!(
                "UPDATE {table} SET secrets = jsonb_set(secrets::jsonb, ARRAY[$1::text], \
                   to_jsonb($4::text))::text, data = {touched} \
                 WHERE id = $3 AND (jsonb_exists(secrets::jsonb, $1::text) \
                   OR (SELECT COUNT(*) FROM jsonb_object_keys(secrets::jsonb)) < $5)"
            ),
            (Dialect::Sqlite, None) => format!(
                "UPDATE {table} SET secrets = json_remove(secrets, '$.' || $1), \
                 data = {touched} WHERE id = $3"
            ),
            (Dialect::Postgres, None) => format!(
                "UPDATE {table} SET secrets = (secrets::jsonb - $1::text)::text, \
                 data = {touched} WHERE id = $3"
            ),
        };
        // A rotation reseals every row: it waits for this write, or this for it.
        let _sealing = self.keyring.writes.read().await;
        let mut query = q(statement)
            .text(key)
            .text(serde_json::to_string(&now)?)
            .text(id);
        if let Some(value) = value {
            query = query
                .text(self.keyring.seal(owner, key, value))
                .int(max as i64);
        }
        let done = self.exec(query).await?;
        if done == 1 {
            return Ok(());
        }
        let exists = self
            .row(q(format!("SELECT id FROM {table} WHERE id = $1")).text(id))
            .await?
            .is_some();
        if exists {
            Err(StoreError::Conflict(format!(
                "a {kind} has at most {max} secrets; remove one first"
            )))
        } else {
            Err(StoreError::not_found(kind, id))
        }
    }
}
