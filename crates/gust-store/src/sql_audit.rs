//! The audit log in SQL: plain columns (the entry's shape is fixed), appended in batches,
//! read newest first by `seq`. The table refuses updates and deletions (SQLite's triggers,
//! PostgreSQL's trigger function).

use crate::sql::{Arg, Query, Row, q};
use crate::sql_store::SqlStore;
use crate::{StoreError, StoreResult};
use chrono::{DateTime, Utc};
use gust_core::{AuditAction, AuditEntry, AuditOutcome, AuditQuery, Page};

impl SqlStore {
    pub(crate) async fn audit_append(&self, entries: &[AuditEntry]) -> StoreResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut insert = q(
            "INSERT INTO audit (at, token_id, action, resource_kind, resource_id, \
             namespace_id, client_addr, outcome, status, error_code) VALUES ",
        );
        for (i, e) in entries.iter().enumerate() {
            let n = i * 10;
            let row: Vec<String> = (1..=10).map(|k| format!("${}", n + k)).collect();
            insert = insert
                .push(&format!(
                    "{}({})",
                    if i > 0 { ", " } else { "" },
                    row.join(", ")
                ))
                .text(e.at.to_rfc3339())
                .opt_text(e.token_id.as_deref())
                .text(e.action.as_str())
                .text(e.resource_kind.as_str())
                .opt_text(e.resource_id.as_deref())
                .opt_text(e.namespace_id.as_deref())
                .opt_text(e.client_addr.as_deref())
                .text(match e.outcome {
                    AuditOutcome::Ok => "ok",
                    AuditOutcome::Error => "error",
                })
                .int(i64::from(e.status))
                .opt_text(e.error.as_deref());
        }
        self.exec(insert).await?;
        Ok(())
    }

    pub(crate) async fn audit_list<'a>(
        &self,
        query: &'a AuditQuery,
    ) -> StoreResult<Page<AuditEntry>> {
        let limit = query
            .limit()
            .unwrap_or(gust_core::list::DEFAULT_LIMIT)
            .min(gust_core::list::MAX_LIMIT);
        let filters = |mut sql: Query<'a>| {
            sql = sql.push(" WHERE 1=1");
            for (column, value) in [
                ("resource_kind", &query.resource_kind),
                ("resource_id", &query.resource_id),
                ("token_id", &query.token_id),
            ] {
                if let Some(value) = value {
                    sql = sql.push_bound(
                        &format!(" AND {column} = {{}}"),
                        Arg::Text(Some(value.as_str().into())),
                    );
                }
            }
            sql
        };
        let total = self
            .db
            .pool()
            .count(filters(q("SELECT COUNT(*) FROM audit")))
            .await?;

        let mut page = filters(q(
            "SELECT seq, at, token_id, action, resource_kind, resource_id, namespace_id, \
             client_addr, outcome, status, error_code FROM audit",
        ));
        if let Ok(Some(cursor)) = query.cursor() {
            page = page.push_bound(
                " AND seq < {}",
                Arg::Int(Some(i64::try_from(cursor).unwrap_or(i64::MAX))),
            );
        }
        page = page
            .push(" ORDER BY seq DESC")
            .push_bound(" LIMIT {}", Arg::Int(Some(i64::from(limit) + 1)));
        let rows = self.rows(page).await?;
        let has_more = rows.len() > limit as usize;
        let items = rows
            .iter()
            .take(limit as usize)
            .map(audit_entry)
            .collect::<StoreResult<Vec<_>>>()?;
        let next_cursor = if has_more {
            items.last().map(|e| e.id.to_string())
        } else {
            None
        };
        Ok(Page {
            items,
            total: total as u64,
            next_cursor,
        })
    }
}

fn audit_entry(row: &Row) -> StoreResult<AuditEntry> {
    let corrupt = |what: &str| {
        StoreError::Corrupt(serde::de::Error::custom(format!(
            "audit entry with a bad {what}"
        )))
    };
    let opt = |column: &str| -> StoreResult<Option<String>> {
        Ok(row.opt_text(column)?.map(str::to_string))
    };
    Ok(AuditEntry {
        id: row.int("seq")? as u64,
        at: DateTime::parse_from_rfc3339(row.text("at")?)
            .map_err(|_| corrupt("time"))?
            .with_timezone(&Utc),
        token_id: opt("token_id")?,
        action: AuditAction::parse(row.text("action")?).ok_or_else(|| corrupt("action"))?,
        resource_kind: row.text("resource_kind")?.to_string(),
        resource_id: opt("resource_id")?,
        namespace_id: opt("namespace_id")?,
        client_addr: opt("client_addr")?,
        outcome: if row.text("outcome")? == "ok" {
            AuditOutcome::Ok
        } else {
            AuditOutcome::Error
        },
        status: row.int("status")? as u16,
        error: opt("error_code")?,
    })
}
