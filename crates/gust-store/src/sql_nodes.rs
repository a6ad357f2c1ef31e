//! Servers sharing one database: their heartbeats (`nodes`), the executions and builds each
//! holds (`executions.owner`, `deployments.builder`), the claim of what a gone server held,
//! cron ticks fired once, and the change notices servers send each other.

use chrono::{DateTime, Utc};
use gust_core::{Deployment, Execution, FunctionTrigger, Node};

use crate::sql::{Dialect, q};
use crate::sql_store::{SqlStore, json};
use crate::{StoreError, StoreResult};

/// A notice from the change channel, or news about the channel itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeMessage {
    /// A notice another server (or this one) published.
    Notice(String),
    /// The channel was (re)connected: notices sent meanwhile may be lost, so whatever is held
    /// in memory should be read again.
    Connected,
}

impl Dialect {
    /// Rows a claim's subquery reads are locked, and those another server has locked are
    /// skipped rather than waited for. SQLite's writes take turns anyway.
    pub(crate) fn skip_locked(self) -> &'static str {
        match self {
            Self::Sqlite => "",
            Self::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }
}

impl SqlStore {
    pub(crate) async fn node_put(&self, node: &Node) -> StoreResult<()> {
        self.exec(
            q(
                "INSERT INTO nodes (id, heartbeat_at, data) VALUES ($1, $2, $3) \
               ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, \
               data = excluded.data",
            )
            .text(&node.id)
            .int(node.heartbeat_at.timestamp_millis())
            .text(json(node)?),
        )
        .await?;
        Ok(())
    }

    pub(crate) async fn node_list(&self, alive_since: DateTime<Utc>) -> StoreResult<Vec<Node>> {
        let rows = self
            .rows(
                q("SELECT data FROM nodes WHERE heartbeat_at >= $1 ORDER BY id")
                    .int(alive_since.timestamp_millis()),
            )
            .await?;
        rows.iter()
            .map(|row| Ok(serde_json::from_str(row.text("data")?)?))
            .collect()
    }

    pub(crate) async fn executions_claim(
        &self,
        node: &str,
        alive_since: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<Execution>> {
        let dialect = self.dialect();
        // A running execution claimed goes back to the queue: its holder is gone mid-run, and
        // its attempt was counted when it started.
        let requeued = dialect.json_set("data", &[("status", "'\"queued\"'"), ("run_after", "$3")]);
        let mut claimed: Vec<Execution> = self
            .all(
                q(format!(
                    "UPDATE executions SET owner = $1, status = 'queued', \
                     data = CASE WHEN status = 'running' THEN {requeued} ELSE data END \
                     WHERE id IN (SELECT id FROM executions \
                       WHERE status IN ('queued', 'running') AND (owner IS NULL OR (owner <> $1 \
                       AND owner NOT IN (SELECT id FROM nodes WHERE heartbeat_at >= $2))) \
                       ORDER BY id LIMIT $4{}) \
                     RETURNING id, function_id, data",
                    dialect.skip_locked()
                ))
                .text(node)
                .int(alive_since.timestamp_millis())
                .text(json(&now)?)
                .int(i64::from(limit)),
            )
            .await?;
        claimed.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(claimed)
    }

    pub(crate) async fn build_claim(
        &self,
        deployment_id: &str,
        node: &str,
        alive_since: DateTime<Utc>,
    ) -> StoreResult<bool> {
        // Two servers claiming at once: PostgreSQL makes the second wait for the first's row
        // and checks it again, finding it held by a live server.
        let done = self
            .exec(
                q("UPDATE deployments SET builder = $1 \
                   WHERE id = $2 AND status IN ('waiting', 'building') \
                   AND (builder IS NULL OR builder = $1 \
                     OR builder NOT IN (SELECT id FROM nodes WHERE heartbeat_at >= $3))")
                .text(node)
                .text(deployment_id)
                .int(alive_since.timestamp_millis()),
            )
            .await?;
        Ok(done == 1)
    }

    pub(crate) async fn builds_claimable(
        &self,
        node: &str,
        alive_since: DateTime<Utc>,
    ) -> StoreResult<Vec<Deployment>> {
        self.all(
            q(
                "SELECT data FROM deployments WHERE status IN ('waiting', 'building') \
               AND (builder IS NULL OR (builder <> $1 \
                 AND builder NOT IN (SELECT id FROM nodes WHERE heartbeat_at >= $2))) \
               ORDER BY id",
            )
            .text(node)
            .int(alive_since.timestamp_millis()),
        )
        .await
    }

    pub(crate) async fn trigger_advance(
        &self,
        trigger: &FunctionTrigger,
        tick: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let next_run_at = self.dialect().json_value("data", "next_run_at");
        let done = self
            .exec(
                q(format!(
                    "UPDATE triggers SET data = $1 WHERE id = $2 AND {next_run_at} = $3"
                ))
                .text(json(trigger)?)
                .text(&trigger.id)
                .text(json(&tick)?),
            )
            .await?;
        if done == 1 {
            return Ok(true);
        }
        // Gone, or moved on by another server.
        match self
            .row(q("SELECT id FROM triggers WHERE id = $1").text(&trigger.id))
            .await?
        {
            Some(_) => Ok(false),
            None => Err(StoreError::not_found("trigger", &trigger.id)),
        }
    }
}
