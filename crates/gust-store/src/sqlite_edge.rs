//! The SQLite side of edge applications, function instances, rules and edge domains
//! (`migrations/0007_edge.sql`). Ids are the tables' `INTEGER PRIMARY KEY AUTOINCREMENT`, so
//! one is never given twice; the JSON document holds it too.

use gust_core::{EdgeApplication, EdgeDomain, EdgeRule, FunctionInstance, ListQuery, Page};
use sqlx::Row;

use crate::sqlite::{Record, SqliteStore, json, touched_one};
use crate::store::EdgeScope;
use crate::{StoreError, StoreResult};

impl Record for EdgeApplication {
    const TABLE: &'static str = "edge_applications";
    fn id(&self) -> String {
        self.id.to_string()
    }
}

impl Record for FunctionInstance {
    const TABLE: &'static str = "edge_instances";
    fn id(&self) -> String {
        self.id.to_string()
    }
}

impl Record for EdgeRule {
    const TABLE: &'static str = "edge_rules";
    fn id(&self) -> String {
        self.id.to_string()
    }
}

impl Record for EdgeDomain {
    const TABLE: &'static str = "edge_domains";
    fn id(&self) -> String {
        self.id.to_string()
    }
}

/// An id as SQLite holds it.
fn key(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

type Tx = sqlx::Transaction<'static, sqlx::Sqlite>;

/// Insert a row whose id the table gives, then write that id into its JSON too.
async fn insert_numbered<'q>(
    tx: &mut Tx,
    insert: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    table: &str,
) -> StoreResult<u64> {
    let id = insert.execute(&mut **tx).await?.last_insert_rowid();
    sqlx::query(&format!(
        "UPDATE {table} SET data = json_set(data, '$.id', id) WHERE id = ?"
    ))
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(id as u64)
}

/// `NotFound` naming the first instance a rule runs that is not one of its application.
async fn check_rule_targets(tx: &mut Tx, rule: &EdgeRule) -> StoreResult<()> {
    for (_, instance) in rule.instance_targets() {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT id FROM edge_instances WHERE id = ? AND application_id = ?")
                .bind(key(instance))
                .bind(key(rule.edge_application_id))
                .fetch_optional(&mut **tx)
                .await?;
        if found.is_none() {
            return Err(StoreError::not_found("instance", instance.to_string()));
        }
    }
    Ok(())
}

/// Claim `cnames` for the edge domain `id`: `Conflict` naming the first another edge domain or a
/// custom domain has.
async fn claim_hostnames(tx: &mut Tx, id: u64, cnames: &[String]) -> StoreResult<()> {
    sqlx::query("DELETE FROM edge_hostnames WHERE domain_id = ?")
        .bind(key(id))
        .execute(&mut **tx)
        .await?;
    for host in cnames {
        let custom: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM domains WHERE hostname = ?")
            .bind(host)
            .fetch_one(&mut **tx)
            .await?;
        if custom > 0 {
            return Err(StoreError::Conflict(format!(
                "the host name `{host}` is a custom domain of a function"
            )));
        }
        let holder: Option<i64> =
            sqlx::query_scalar("SELECT domain_id FROM edge_hostnames WHERE hostname = ?")
                .bind(host)
                .fetch_optional(&mut **tx)
                .await?;
        if let Some(holder) = holder {
            return Err(StoreError::Conflict(format!(
                "the host name `{host}` is a cname of edge domain {holder}"
            )));
        }
        sqlx::query("INSERT INTO edge_hostnames (hostname, domain_id) VALUES (?, ?)")
            .bind(host)
            .bind(key(id))
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// `NotFound` when a domain names an application that does not exist.
async fn check_application(tx: &mut Tx, application: Option<u64>) -> StoreResult<()> {
    if let Some(app) = application {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT id FROM edge_applications WHERE id = ?")
                .bind(key(app))
                .fetch_optional(&mut **tx)
                .await?;
        if found.is_none() {
            return Err(StoreError::not_found("edge application", app.to_string()));
        }
    }
    Ok(())
}

fn scope_filter(scope: EdgeScope<'_>) -> Vec<(&'static str, String)> {
    match scope {
        EdgeScope::Namespace(id) => vec![("namespace_id", id.to_string())],
        EdgeScope::All => Vec::new(),
    }
}

async fn all_of<T: Record>(
    store: &SqliteStore,
    sql: &str,
    bind: Option<i64>,
) -> StoreResult<Vec<T>> {
    let mut query = sqlx::query(sql);
    if let Some(bind) = bind {
        query = query.bind(bind);
    }
    let rows = query.fetch_all(&store.pool).await?;
    rows.iter().map(T::from_row).collect()
}

impl SqliteStore {
    pub(crate) async fn edge_create_application(
        &self,
        app: &EdgeApplication,
    ) -> StoreResult<EdgeApplication> {
        let mut tx = self.write_transaction().await?;
        let insert = sqlx::query(
            "INSERT INTO edge_applications (namespace_id, name, data) VALUES (?, ?, ?)",
        )
        .bind(&app.namespace_id)
        .bind(&app.name)
        .bind(json(app)?);
        let id = insert_numbered(&mut tx, insert, "edge_applications").await?;
        tx.commit().await?;
        Ok(EdgeApplication { id, ..app.clone() })
    }

    pub(crate) async fn edge_get_application(&self, id: u64) -> StoreResult<EdgeApplication> {
        let id = id.to_string();
        self.fetch_one(
            "SELECT data FROM edge_applications WHERE id = ?",
            &[&id],
            "edge application",
            &id,
        )
        .await
    }

    pub(crate) async fn edge_list_applications(
        &self,
        scope: EdgeScope<'_>,
        query: &ListQuery,
    ) -> StoreResult<Page<EdgeApplication>> {
        self.list(&scope_filter(scope), true, query).await
    }

    pub(crate) async fn edge_update_application(&self, app: &EdgeApplication) -> StoreResult<()> {
        let done = sqlx::query("UPDATE edge_applications SET name = ?, data = ? WHERE id = ?")
            .bind(&app.name)
            .bind(json(app)?)
            .bind(key(app.id))
            .execute(&self.pool)
            .await?;
        touched_one(done, "edge application", &app.id.to_string())
    }

    pub(crate) async fn edge_delete_application(&self, id: u64) -> StoreResult<Vec<u64>> {
        let mut tx = self.write_transaction().await?;
        let unbound: Vec<i64> = sqlx::query_scalar(
            "UPDATE edge_domains SET application_id = NULL, \
             data = json_set(data, '$.edge_application_id', json('null')) \
             WHERE application_id = ? RETURNING id",
        )
        .bind(key(id))
        .fetch_all(&mut *tx)
        .await?;
        for table in ["edge_rules", "edge_instances"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE application_id = ?"))
                .bind(key(id))
                .execute(&mut *tx)
                .await?;
        }
        let done = sqlx::query("DELETE FROM edge_applications WHERE id = ?")
            .bind(key(id))
            .execute(&mut *tx)
            .await?;
        touched_one(done, "edge application", &id.to_string())?;
        tx.commit().await?;
        Ok(unbound.into_iter().map(|id| id as u64).collect())
    }

    pub(crate) async fn edge_all_applications(&self) -> StoreResult<Vec<EdgeApplication>> {
        all_of(self, "SELECT data FROM edge_applications ORDER BY id", None).await
    }

    pub(crate) async fn edge_create_instance(
        &self,
        instance: &FunctionInstance,
    ) -> StoreResult<FunctionInstance> {
        let mut tx = self.write_transaction().await?;
        let insert = sqlx::query(
            "INSERT INTO edge_instances (application_id, function_id, name, data) \
             VALUES (?, ?, ?, ?)",
        )
        .bind(key(instance.edge_application_id))
        .bind(&instance.function_id)
        .bind(&instance.name)
        .bind(json(instance)?);
        let id = insert_numbered(&mut tx, insert, "edge_instances")
            .await
            .map_err(|e| foreign_key_missing(e, instance))?;
        tx.commit().await?;
        Ok(FunctionInstance {
            id,
            ..instance.clone()
        })
    }

    pub(crate) async fn edge_get_instance(
        &self,
        application_id: u64,
        id: u64,
    ) -> StoreResult<FunctionInstance> {
        let (app, id) = (application_id.to_string(), id.to_string());
        self.fetch_one(
            "SELECT data FROM edge_instances WHERE application_id = ? AND id = ?",
            &[&app, &id],
            "instance",
            &id,
        )
        .await
    }

    pub(crate) async fn edge_list_instances(
        &self,
        application_id: u64,
        query: &ListQuery,
    ) -> StoreResult<Page<FunctionInstance>> {
        self.list(
            &[("application_id", application_id.to_string())],
            true,
            query,
        )
        .await
    }

    pub(crate) async fn edge_all_instances(
        &self,
        application_id: u64,
    ) -> StoreResult<Vec<FunctionInstance>> {
        all_of(
            self,
            "SELECT data FROM edge_instances WHERE application_id = ? ORDER BY id",
            Some(key(application_id)),
        )
        .await
    }

    pub(crate) async fn edge_update_instance(
        &self,
        instance: &FunctionInstance,
    ) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE edge_instances SET function_id = ?, name = ?, data = ? \
             WHERE id = ? AND application_id = ?",
        )
        .bind(&instance.function_id)
        .bind(&instance.name)
        .bind(json(instance)?)
        .bind(key(instance.id))
        .bind(key(instance.edge_application_id))
        .execute(&self.pool)
        .await
        .map_err(|e| foreign_key_missing(StoreError::Database(e), instance))?;
        touched_one(done, "instance", &instance.id.to_string())
    }

    pub(crate) async fn edge_delete_instance(
        &self,
        application_id: u64,
        id: u64,
    ) -> StoreResult<()> {
        let mut tx = self.write_transaction().await?;
        let running: Option<String> = sqlx::query_scalar(
            "SELECT r.name FROM edge_rules r, json_each(r.data, '$.behaviors') b \
             WHERE r.application_id = ? AND json_extract(b.value, '$.name') = 'run_function' \
             AND json_extract(b.value, '$.target') = ? ORDER BY r.id LIMIT 1",
        )
        .bind(key(application_id))
        .bind(key(id))
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(rule) = running {
            return Err(StoreError::Conflict(format!(
                "the rule `{rule}` runs instance {id}; change or delete it first"
            )));
        }
        let done = sqlx::query("DELETE FROM edge_instances WHERE id = ? AND application_id = ?")
            .bind(key(id))
            .bind(key(application_id))
            .execute(&mut *tx)
            .await?;
        touched_one(done, "instance", &id.to_string())?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn edge_instance_counts(
        &self,
        namespace_id: Option<&str>,
    ) -> StoreResult<Vec<(String, u64)>> {
        let rows = sqlx::query(
            "SELECT i.function_id AS function_id, COUNT(*) AS n FROM edge_instances i \
             JOIN edge_applications a ON a.id = i.application_id \
             WHERE ?1 IS NULL OR a.namespace_id = ?1 GROUP BY i.function_id",
        )
        .bind(namespace_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let n: i64 = row.try_get("n")?;
                Ok((row.try_get("function_id")?, n.max(0) as u64))
            })
            .collect()
    }

    pub(crate) async fn edge_create_rule(
        &self,
        rule: &EdgeRule,
        max: u64,
    ) -> StoreResult<EdgeRule> {
        let mut tx = self.write_transaction().await?;
        check_rule_targets(&mut tx, rule).await?;
        let held: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM edge_rules WHERE application_id = ?")
                .bind(key(rule.edge_application_id))
                .fetch_one(&mut *tx)
                .await?;
        if held as u64 >= max {
            return Err(StoreError::Conflict(format!(
                "the application already has {held} rules, the most it may have; delete one first"
            )));
        }
        let insert = sqlx::query(
            "INSERT INTO edge_rules (application_id, position, name, data) VALUES (?, ?, ?, ?)",
        )
        .bind(key(rule.edge_application_id))
        .bind(i64::from(rule.order))
        .bind(&rule.name)
        .bind(json(rule)?);
        let id = insert_numbered(&mut tx, insert, "edge_rules")
            .await
            .map_err(|e| match e {
                StoreError::Database(sqlx::Error::Database(db))
                    if db.is_foreign_key_violation() =>
                {
                    StoreError::not_found("edge application", rule.edge_application_id.to_string())
                }
                other => other,
            })?;
        tx.commit().await?;
        Ok(EdgeRule { id, ..rule.clone() })
    }

    pub(crate) async fn edge_get_rule(
        &self,
        application_id: u64,
        id: u64,
    ) -> StoreResult<EdgeRule> {
        let (app, id) = (application_id.to_string(), id.to_string());
        self.fetch_one(
            "SELECT data FROM edge_rules WHERE application_id = ? AND id = ?",
            &[&app, &id],
            "rule",
            &id,
        )
        .await
    }

    pub(crate) async fn edge_list_rules(&self, application_id: u64) -> StoreResult<Vec<EdgeRule>> {
        all_of(
            self,
            "SELECT data FROM edge_rules WHERE application_id = ? ORDER BY position, id",
            Some(key(application_id)),
        )
        .await
    }

    pub(crate) async fn edge_update_rule(&self, rule: &EdgeRule) -> StoreResult<()> {
        let mut tx = self.write_transaction().await?;
        check_rule_targets(&mut tx, rule).await?;
        let done = sqlx::query(
            "UPDATE edge_rules SET position = ?, name = ?, data = ? WHERE id = ? AND application_id = ?",
        )
        .bind(i64::from(rule.order))
        .bind(&rule.name)
        .bind(json(rule)?)
        .bind(key(rule.id))
        .bind(key(rule.edge_application_id))
        .execute(&mut *tx)
        .await?;
        touched_one(done, "rule", &rule.id.to_string())?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn edge_delete_rule(&self, application_id: u64, id: u64) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM edge_rules WHERE id = ? AND application_id = ?")
            .bind(key(id))
            .bind(key(application_id))
            .execute(&self.pool)
            .await?;
        touched_one(done, "rule", &id.to_string())
    }

    pub(crate) async fn edge_create_domain(&self, domain: &EdgeDomain) -> StoreResult<EdgeDomain> {
        let mut tx = self.write_transaction().await?;
        check_application(&mut tx, domain.edge_application_id).await?;
        let stored = EdgeDomain {
            domain_name: String::new(),
            ..domain.clone()
        };
        let insert = sqlx::query(
            "INSERT INTO edge_domains (namespace_id, application_id, name, data) VALUES (?, ?, ?, ?)",
        )
        .bind(&domain.namespace_id)
        .bind(domain.edge_application_id.map(key))
        .bind(&domain.name)
        .bind(json(&stored)?);
        let id = insert_numbered(&mut tx, insert, "edge_domains").await?;
        claim_hostnames(&mut tx, id, &domain.cnames).await?;
        tx.commit().await?;
        Ok(EdgeDomain {
            id,
            ..domain.clone()
        })
    }

    pub(crate) async fn edge_get_domain(&self, id: u64) -> StoreResult<EdgeDomain> {
        let id = id.to_string();
        self.fetch_one(
            "SELECT data FROM edge_domains WHERE id = ?",
            &[&id],
            "edge domain",
            &id,
        )
        .await
    }

    pub(crate) async fn edge_list_domains(
        &self,
        scope: EdgeScope<'_>,
        query: &ListQuery,
    ) -> StoreResult<Page<EdgeDomain>> {
        self.list(&scope_filter(scope), true, query).await
    }

    pub(crate) async fn edge_update_domain(&self, domain: &EdgeDomain) -> StoreResult<()> {
        let mut tx = self.write_transaction().await?;
        check_application(&mut tx, domain.edge_application_id).await?;
        let stored = EdgeDomain {
            domain_name: String::new(),
            ..domain.clone()
        };
        let done = sqlx::query(
            "UPDATE edge_domains SET application_id = ?, name = ?, data = ? WHERE id = ?",
        )
        .bind(domain.edge_application_id.map(key))
        .bind(&domain.name)
        .bind(json(&stored)?)
        .bind(key(domain.id))
        .execute(&mut *tx)
        .await?;
        touched_one(done, "edge domain", &domain.id.to_string())?;
        claim_hostnames(&mut tx, domain.id, &domain.cnames).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn edge_delete_domain(&self, id: u64) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM edge_domains WHERE id = ?")
            .bind(key(id))
            .execute(&self.pool)
            .await?;
        touched_one(done, "edge domain", &id.to_string())
    }

    pub(crate) async fn edge_all_domains(&self) -> StoreResult<Vec<EdgeDomain>> {
        all_of(self, "SELECT data FROM edge_domains ORDER BY id", None).await
    }
}

/// An instance naming an application or a function that does not exist: the foreign key refused it.
fn foreign_key_missing(e: StoreError, instance: &FunctionInstance) -> StoreError {
    match e {
        StoreError::Database(sqlx::Error::Database(db)) if db.is_foreign_key_violation() => {
            // Which key failed is not said; the application is checked by every caller first.
            StoreError::not_found("function", instance.function_id.clone())
        }
        other => other,
    }
}
