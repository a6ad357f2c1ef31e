//! Edge applications, function instances, rules and edge domains (`migrations/0007_edge.sql`,
//! `migrations-pg/`). Ids are given by the tables (SQLite's `AUTOINCREMENT`, PostgreSQL's
//! identity columns), so one is never given twice; the JSON document holds it too.

use gust_core::{EdgeApplication, EdgeDomain, EdgeRule, FunctionInstance, ListQuery, Page};

use crate::sql::{Query, Tx, q};
use crate::sql_store::{
    Filter, Record, SqlStore, is_foreign_key_violation, json, text_filter, touched_one,
};
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

/// An id as the database holds it.
fn key(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

impl SqlStore {
    /// Insert a row whose id the table gives (`insert` ends in `RETURNING id`), then write
    /// that id into its JSON too.
    async fn insert_numbered(
        &self,
        tx: &mut dyn Tx,
        insert: Query<'_>,
        table: &str,
    ) -> StoreResult<u64> {
        let id = tx.int(insert).await?.unwrap_or_default();
        tx.execute(
            q(format!(
                "UPDATE {table} SET data = {} WHERE id = $1",
                self.dialect().json_set("data", &[("id", "id")])
            ))
            .int(id),
        )
        .await?;
        Ok(id as u64)
    }
}

/// `NotFound` naming the first instance a rule runs that is not one of its application.
async fn check_rule_targets(tx: &mut dyn Tx, rule: &EdgeRule) -> StoreResult<()> {
    for (_, instance) in rule.instance_targets() {
        let found = tx
            .int(
                q("SELECT id FROM edge_instances WHERE id = $1 AND application_id = $2")
                    .int(key(instance))
                    .int(key(rule.edge_application_id)),
            )
            .await?;
        if found.is_none() {
            return Err(StoreError::not_found("instance", instance.to_string()));
        }
    }
    Ok(())
}

/// Claim `cnames` for the edge domain `id`: `Conflict` naming the first another edge domain or a
/// custom domain has.
async fn claim_hostnames(tx: &mut dyn Tx, id: u64, cnames: &[String]) -> StoreResult<()> {
    tx.execute(q("DELETE FROM edge_hostnames WHERE domain_id = $1").int(key(id)))
        .await?;
    for host in cnames {
        let custom = tx
            .count(q("SELECT COUNT(*) FROM domains WHERE hostname = $1").text(host))
            .await?;
        if custom > 0 {
            return Err(StoreError::Conflict(format!(
                "the host name `{host}` is a custom domain of a function"
            )));
        }
        let holder = tx
            .int(q("SELECT domain_id FROM edge_hostnames WHERE hostname = $1").text(host))
            .await?;
        if let Some(holder) = holder {
            return Err(StoreError::Conflict(format!(
                "the host name `{host}` is a cname of edge domain {holder}"
            )));
        }
        tx.execute(
            q("INSERT INTO edge_hostnames (hostname, domain_id) VALUES ($1, $2)")
                .text(host)
                .int(key(id)),
        )
        .await?;
    }
    Ok(())
}

/// `NotFound` when a domain names an application that does not exist.
async fn check_application(tx: &mut dyn Tx, application: Option<u64>) -> StoreResult<()> {
    if let Some(app) = application {
        let found = tx
            .int(q("SELECT id FROM edge_applications WHERE id = $1").int(key(app)))
            .await?;
        if found.is_none() {
            return Err(StoreError::not_found("edge application", app.to_string()));
        }
    }
    Ok(())
}

fn scope_filter(scope: EdgeScope<'_>) -> Vec<Filter> {
    match scope {
        EdgeScope::Namespace(id) => vec![text_filter("namespace_id", id)],
        EdgeScope::All => Vec::new(),
    }
}

impl SqlStore {
    pub(crate) async fn edge_create_application(
        &self,
        app: &EdgeApplication,
    ) -> StoreResult<EdgeApplication> {
        let mut tx = self.db.begin_write().await?;
        let insert = q("INSERT INTO edge_applications (namespace_id, name, data) \
                        VALUES ($1, $2, $3) RETURNING id")
        .text(&app.namespace_id)
        .text(&app.name)
        .text(json(app)?);
        let id = self
            .insert_numbered(&mut *tx, insert, "edge_applications")
            .await?;
        tx.commit().await?;
        Ok(EdgeApplication { id, ..app.clone() })
    }

    pub(crate) async fn edge_get_application(&self, id: u64) -> StoreResult<EdgeApplication> {
        self.fetch_one(
            q("SELECT data FROM edge_applications WHERE id = $1").int(key(id)),
            "edge application",
            &id.to_string(),
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
        let done = self
            .exec(
                q("UPDATE edge_applications SET name = $1, data = $2 WHERE id = $3")
                    .text(&app.name)
                    .text(json(app)?)
                    .int(key(app.id)),
            )
            .await?;
        touched_one(done, "edge application", &app.id.to_string())
    }

    pub(crate) async fn edge_delete_application(&self, id: u64) -> StoreResult<Vec<u64>> {
        let mut tx = self.db.begin_write().await?;
        let unbound = tx
            .fetch_all(
                q(format!(
                    "UPDATE edge_domains SET application_id = NULL, data = {} \
                     WHERE application_id = $1 RETURNING id",
                    self.dialect()
                        .json_set("data", &[("edge_application_id", "'null'")])
                ))
                .int(key(id)),
            )
            .await?;
        for table in ["edge_rules", "edge_instances"] {
            tx.execute(q(format!("DELETE FROM {table} WHERE application_id = $1")).int(key(id)))
                .await?;
        }
        let done = tx
            .execute(q("DELETE FROM edge_applications WHERE id = $1").int(key(id)))
            .await?;
        touched_one(done, "edge application", &id.to_string())?;
        tx.commit().await?;
        unbound
            .iter()
            .map(|row| Ok(row.int("id")? as u64))
            .collect()
    }

    pub(crate) async fn edge_all_applications(&self) -> StoreResult<Vec<EdgeApplication>> {
        self.all(q("SELECT data FROM edge_applications ORDER BY id"))
            .await
    }

    pub(crate) async fn edge_create_instance(
        &self,
        instance: &FunctionInstance,
    ) -> StoreResult<FunctionInstance> {
        let mut tx = self.db.begin_write().await?;
        let insert = q(
            "INSERT INTO edge_instances (application_id, function_id, name, data) \
                        VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .int(key(instance.edge_application_id))
        .text(&instance.function_id)
        .text(&instance.name)
        .text(json(instance)?);
        let id = self
            .insert_numbered(&mut *tx, insert, "edge_instances")
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
        self.fetch_one(
            q("SELECT data FROM edge_instances WHERE application_id = $1 AND id = $2")
                .int(key(application_id))
                .int(key(id)),
            "instance",
            &id.to_string(),
        )
        .await
    }

    pub(crate) async fn edge_list_instances(
        &self,
        application_id: u64,
        query: &ListQuery,
    ) -> StoreResult<Page<FunctionInstance>> {
        let filter = (
            "application_id".into(),
            crate::sql::Arg::Int(Some(key(application_id))),
        );
        self.list(&[filter], true, query).await
    }

    pub(crate) async fn edge_all_instances(
        &self,
        application_id: u64,
    ) -> StoreResult<Vec<FunctionInstance>> {
        self.all(
            q("SELECT data FROM edge_instances WHERE application_id = $1 ORDER BY id")
                .int(key(application_id)),
        )
        .await
    }

    pub(crate) async fn edge_update_instance(
        &self,
        instance: &FunctionInstance,
    ) -> StoreResult<()> {
        let done = self
            .exec(
                q(
                    "UPDATE edge_instances SET function_id = $1, name = $2, data = $3 \
                   WHERE id = $4 AND application_id = $5",
                )
                .text(&instance.function_id)
                .text(&instance.name)
                .text(json(instance)?)
                .int(key(instance.id))
                .int(key(instance.edge_application_id)),
            )
            .await
            .map_err(|e| foreign_key_missing(e, instance))?;
        touched_one(done, "instance", &instance.id.to_string())
    }

    pub(crate) async fn edge_delete_instance(
        &self,
        application_id: u64,
        id: u64,
    ) -> StoreResult<()> {
        let mut tx = self.db.begin_write().await?;
        let running = tx
            .fetch_optional(
                q(self.dialect().rule_running_instance())
                    .int(key(application_id))
                    .int(key(id)),
            )
            .await?;
        if let Some(rule) = running {
            return Err(StoreError::Conflict(format!(
                "the rule `{}` runs instance {id}; change or delete it first",
                rule.text("name")?
            )));
        }
        let done = tx
            .execute(
                q("DELETE FROM edge_instances WHERE id = $1 AND application_id = $2")
                    .int(key(id))
                    .int(key(application_id)),
            )
            .await?;
        touched_one(done, "instance", &id.to_string())?;
        tx.commit().await
    }

    pub(crate) async fn edge_instance_counts(
        &self,
        namespace_id: Option<&str>,
    ) -> StoreResult<Vec<(String, u64)>> {
        let rows = self
            .rows(
                q(
                    "SELECT i.function_id AS function_id, COUNT(*) AS n FROM edge_instances i \
                   JOIN edge_applications a ON a.id = i.application_id \
                   WHERE $1 IS NULL OR a.namespace_id = $1 GROUP BY i.function_id",
                )
                .opt_text(namespace_id),
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.text("function_id")?.to_string(),
                    row.int("n")?.max(0) as u64,
                ))
            })
            .collect()
    }

    pub(crate) async fn edge_create_rule(
        &self,
        rule: &EdgeRule,
        max: u64,
    ) -> StoreResult<EdgeRule> {
        let mut tx = self.db.begin_write().await?;
        check_rule_targets(&mut *tx, rule).await?;
        let held = tx
            .count(
                q("SELECT COUNT(*) FROM edge_rules WHERE application_id = $1")
                    .int(key(rule.edge_application_id)),
            )
            .await?;
        if held as u64 >= max {
            return Err(StoreError::Conflict(format!(
                "the application already has {held} rules, the most it may have; delete one first"
            )));
        }
        let insert = q(
            "INSERT INTO edge_rules (application_id, position, name, data) \
                        VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .int(key(rule.edge_application_id))
        .int(i64::from(rule.order))
        .text(&rule.name)
        .text(json(rule)?);
        let id = self
            .insert_numbered(&mut *tx, insert, "edge_rules")
            .await
            .map_err(|e| {
                if is_foreign_key_violation(&e) {
                    StoreError::not_found("edge application", rule.edge_application_id.to_string())
                } else {
                    e
                }
            })?;
        tx.commit().await?;
        Ok(EdgeRule { id, ..rule.clone() })
    }

    pub(crate) async fn edge_get_rule(
        &self,
        application_id: u64,
        id: u64,
    ) -> StoreResult<EdgeRule> {
        self.fetch_one(
            q("SELECT data FROM edge_rules WHERE application_id = $1 AND id = $2")
                .int(key(application_id))
                .int(key(id)),
            "rule",
            &id.to_string(),
        )
        .await
    }

    pub(crate) async fn edge_list_rules(&self, application_id: u64) -> StoreResult<Vec<EdgeRule>> {
        self.all(
            q("SELECT data FROM edge_rules WHERE application_id = $1 ORDER BY position, id")
                .int(key(application_id)),
        )
        .await
    }

    pub(crate) async fn edge_update_rule(&self, rule: &EdgeRule) -> StoreResult<()> {
        let mut tx = self.db.begin_write().await?;
        check_rule_targets(&mut *tx, rule).await?;
        let done = tx
            .execute(
                q("UPDATE edge_rules SET position = $1, name = $2, data = $3 \
                   WHERE id = $4 AND application_id = $5")
                .int(i64::from(rule.order))
                .text(&rule.name)
                .text(json(rule)?)
                .int(key(rule.id))
                .int(key(rule.edge_application_id)),
            )
            .await?;
        touched_one(done, "rule", &rule.id.to_string())?;
        tx.commit().await
    }

    pub(crate) async fn edge_delete_rule(&self, application_id: u64, id: u64) -> StoreResult<()> {
        let done = self
            .exec(
                q("DELETE FROM edge_rules WHERE id = $1 AND application_id = $2")
                    .int(key(id))
                    .int(key(application_id)),
            )
            .await?;
        touched_one(done, "rule", &id.to_string())
    }

    pub(crate) async fn edge_create_domain(&self, domain: &EdgeDomain) -> StoreResult<EdgeDomain> {
        let mut tx = self.db.begin_write().await?;
        check_application(&mut *tx, domain.edge_application_id).await?;
        let stored = EdgeDomain {
            domain_name: String::new(),
            ..domain.clone()
        };
        let insert = q(
            "INSERT INTO edge_domains (namespace_id, application_id, name, data) \
                        VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .text(&domain.namespace_id)
        .opt_int(domain.edge_application_id.map(key))
        .text(&domain.name)
        .text(json(&stored)?);
        let id = self
            .insert_numbered(&mut *tx, insert, "edge_domains")
            .await?;
        claim_hostnames(&mut *tx, id, &domain.cnames).await?;
        tx.commit().await?;
        Ok(EdgeDomain {
            id,
            ..domain.clone()
        })
    }

    pub(crate) async fn edge_get_domain(&self, id: u64) -> StoreResult<EdgeDomain> {
        self.fetch_one(
            q("SELECT data FROM edge_domains WHERE id = $1").int(key(id)),
            "edge domain",
            &id.to_string(),
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
        let mut tx = self.db.begin_write().await?;
        check_application(&mut *tx, domain.edge_application_id).await?;
        let stored = EdgeDomain {
            domain_name: String::new(),
            ..domain.clone()
        };
        let done = tx
            .execute(
                q(
                    "UPDATE edge_domains SET application_id = $1, name = $2, data = $3 \
                   WHERE id = $4",
                )
                .opt_int(domain.edge_application_id.map(key))
                .text(&domain.name)
                .text(json(&stored)?)
                .int(key(domain.id)),
            )
            .await?;
        touched_one(done, "edge domain", &domain.id.to_string())?;
        claim_hostnames(&mut *tx, domain.id, &domain.cnames).await?;
        tx.commit().await
    }

    pub(crate) async fn edge_delete_domain(&self, id: u64) -> StoreResult<()> {
        let done = self
            .exec(q("DELETE FROM edge_domains WHERE id = $1").int(key(id)))
            .await?;
        touched_one(done, "edge domain", &id.to_string())
    }

    pub(crate) async fn edge_all_domains(&self) -> StoreResult<Vec<EdgeDomain>> {
        self.all(q("SELECT data FROM edge_domains ORDER BY id"))
            .await
    }
}

/// An instance naming an application or a function that does not exist: the foreign key refused it.
fn foreign_key_missing(e: StoreError, instance: &FunctionInstance) -> StoreError {
    if is_foreign_key_violation(&e) {
        // Which key failed is not said; the application is checked by every caller first.
        StoreError::not_found("function", instance.function_id.clone())
    } else {
        e
    }
}
