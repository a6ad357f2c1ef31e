//! The audit log in SQLite: plain columns (the entry's shape is fixed), appended in batches,
//! read newest first by `seq`. The table's triggers refuse updates and deletions.

use chrono::{DateTime, Utc};
use gust_core::{AuditAction, AuditEntry, AuditOutcome, AuditQuery, Page};
use sqlx::{QueryBuilder, Row, Sqlite};

use crate::sqlite::SqliteStore;
use crate::{StoreError, StoreResult};

impl SqliteStore {
    pub(crate) async fn audit_append(&self, entries: &[AuditEntry]) -> StoreResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut insert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO audit (at, token_id, action, resource_kind, resource_id, namespace_id, \
             client_addr, outcome, status, error_code) ",
        );
        insert.push_values(entries, |mut row, e| {
            row.push_bind(e.at.to_rfc3339())
                .push_bind(e.token_id.clone())
                .push_bind(e.action.as_str())
                .push_bind(e.resource_kind.clone())
                .push_bind(e.resource_id.clone())
                .push_bind(e.namespace_id.clone())
                .push_bind(e.client_addr.clone())
                .push_bind(match e.outcome {
                    AuditOutcome::Ok => "ok",
                    AuditOutcome::Error => "error",
                })
                .push_bind(i64::from(e.status))
                .push_bind(e.error.clone());
        });
        insert.build().execute(&self.pool).await?;
        Ok(())
    }

    pub(crate) async fn audit_list(&self, query: &AuditQuery) -> StoreResult<Page<AuditEntry>> {
        let limit = query
            .limit()
            .unwrap_or(gust_core::list::DEFAULT_LIMIT)
            .min(gust_core::list::MAX_LIMIT);
        let filters = |qb: &mut QueryBuilder<'_, Sqlite>| {
            qb.push(" WHERE 1=1");
            for (column, value) in [
                ("resource_kind", &query.resource_kind),
                ("resource_id", &query.resource_id),
                ("token_id", &query.token_id),
            ] {
                if let Some(value) = value {
                    qb.push(format!(" AND {column} = "))
                        .push_bind(value.clone());
                }
            }
        };
        let mut count = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM audit");
        filters(&mut count);
        let total: i64 = count.build().fetch_one(&self.pool).await?.try_get(0)?;

        let mut page = QueryBuilder::<Sqlite>::new(
            "SELECT seq, at, token_id, action, resource_kind, resource_id, namespace_id, \
             client_addr, outcome, status, error_code FROM audit",
        );
        filters(&mut page);
        if let Ok(Some(cursor)) = query.cursor() {
            page.push(" AND seq < ")
                .push_bind(i64::try_from(cursor).unwrap_or(i64::MAX));
        }
        page.push(" ORDER BY seq DESC LIMIT ")
            .push_bind(i64::from(limit) + 1);
        let rows = page.build().fetch_all(&self.pool).await?;
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

fn audit_entry(row: &sqlx::sqlite::SqliteRow) -> StoreResult<AuditEntry> {
    let corrupt = |what: &str| {
        StoreError::Corrupt(serde::de::Error::custom(format!(
            "audit entry with a bad {what}"
        )))
    };
    let at: String = row.try_get("at")?;
    let action: String = row.try_get("action")?;
    let outcome: String = row.try_get("outcome")?;
    let seq: i64 = row.try_get("seq")?;
    let status: i64 = row.try_get("status")?;
    Ok(AuditEntry {
        id: seq as u64,
        at: DateTime::parse_from_rfc3339(&at)
            .map_err(|_| corrupt("time"))?
            .with_timezone(&Utc),
        token_id: row.try_get("token_id")?,
        action: AuditAction::parse(&action).ok_or_else(|| corrupt("action"))?,
        resource_kind: row.try_get("resource_kind")?,
        resource_id: row.try_get("resource_id")?,
        namespace_id: row.try_get("namespace_id")?,
        client_addr: row.try_get("client_addr")?,
        outcome: if outcome == "ok" {
            AuditOutcome::Ok
        } else {
            AuditOutcome::Error
        },
        status: status as u16,
        error: row.try_get("error_code")?,
    })
}
