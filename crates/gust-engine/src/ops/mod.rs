//! The platform's operations, one module per resource, as methods of [`Engine`]. Every front
//! door calls these and only translates: each operation checks the caller's token, validates,
//! writes the store, and keeps the in-memory sets (live functions, host names, tokens,
//! triggers) and the platform's events in step before it returns. Reads of executions see every record written
//! before they were asked (the recorder is flushed first).

mod admin;
mod changes;
mod chunks;
mod deployments;
mod domains;
mod edge;
mod events;
mod executions;
mod functions;
mod instances;
mod logs;
mod metrics;
mod namespaces;
mod schedules;
mod sessions;
mod signed;
mod test_requests;
mod tokens;
mod triggers;
mod versions;
mod webhooks;

pub use crate::keys::Rotation;
pub use changes::ChangeNotice;
pub use chunks::{CONTENT_RANGE, ChunkRange, ChunkUpload};
pub use deployments::{Upload, UploadOptions, upload_too_large};
pub use events::Published;
pub use executions::{Executed, ExecutionFilter, ExecutionInput};
pub use functions::FunctionFilter;
pub use instances::{Detached, Instance, Instances, ScaleInput, ScaledInstances};
pub use logs::{ExecutionOutput, FunctionLogs, LogEvent};
pub use schedules::MAX_FIRE_TIMES;
pub use sessions::OpenedSession;
pub use signed::{CONTENT_LENGTH, NO_CODE, SignedUrl};
pub use webhooks::WEBHOOK_ID_HEADER;

use gust_core::{Function, Namespace};

use crate::Engine;
use crate::auth::{self, Caller};
use crate::error::{Error, Result};

impl Engine {
    /// Make every execution record taken so far readable from the store.
    pub async fn flush_records(&self) {
        self.recorder.flush().await;
    }

    /// `/metrics` in Prometheus' text format.
    pub async fn metrics_text(&self) -> String {
        let depths = self.queue.depths(&*self.store).await;
        let instances: Vec<(String, &'static str, usize)> = self
            .live
            .pools()
            .into_iter()
            .map(|(id, pool)| (id, pool.spec().runtime.as_str(), pool.instance_count()))
            .collect();
        let mut text = self
            .metrics
            .render(&depths, self.queue.running(), &instances);
        // Which node these series are from, when several share a store: Prometheus' `info`
        // idiom, to join on the scrape's `instance`.
        text.push_str(&format!(
            "# HELP gust_node_info The node serving these metrics.
             # TYPE gust_node_info gauge
             gust_node_info{{node=\"{}\",version=\"{}\"}} 1
",
            self.node_id(),
            env!("CARGO_PKG_VERSION")
        ));
        text
    }

    /// The base of function URLs when the configuration names none: the listener's address.
    pub fn set_default_base_url(&self, url: &str) {
        let _ = self.public_url.set(url.trim_end_matches('/').to_string());
    }

    /// The port requests reach this server on, for the URLs of custom domains.
    pub fn set_listen_port(&self, port: u16) {
        let _ = self.listen_port.set(port);
    }

    /// Stop: async executions that are running get up to `grace` to finish (the rest run
    /// after the next start), and every record taken, with the per-minute aggregates counted
    /// from them, reaches the store.
    pub async fn stop(&self, grace: std::time::Duration) {
        self.queue.drain(grace).await;
        self.recorder.flush().await;
        if let Err(e) = self.minutes.flush(&*self.store).await {
            tracing::warn!(error = %e, "writing per-minute metrics at shutdown failed");
        }
        self.write_token_uses().await;
        self.audit.flush().await;
    }

    /// Write tokens' uses since the last write (a failed write is retried with the next).
    pub async fn write_token_uses(&self) {
        let uses = self.tokens.take_uses();
        if let Err(e) = self.store.record_token_use(&uses).await {
            tracing::warn!(error = %e, "writing tokens' last uses failed; retrying later");
            self.tokens.untake_uses(&uses);
        }
    }

    /// The caller a bearer secret stands for, or why it is refused (401), for a request whose
    /// address is unknown.
    pub fn authenticate(&self, secret: Option<&str>) -> Result<Caller> {
        auth::authenticate(&self.tokens, secret, None)
    }

    /// The caller a secret sent from `client` stands for; 401 when it stands for none, 429
    /// when that address has failed too often lately.
    pub fn authenticate_from(
        &self,
        secret: Option<&str>,
        client: Option<std::net::IpAddr>,
    ) -> Result<Caller> {
        auth::authenticate(&self.tokens, secret, client)
    }

    /// Resolve a namespace (name or id), checking the caller may touch it.
    pub async fn namespace_for(&self, caller: &Caller, key: &str) -> Result<Namespace> {
        let ns = self.store.get_namespace(key).await?;
        caller.require_namespace(&ns.id)?;
        Ok(ns)
    }

    /// Resolve a function (names or ids), checking the caller may touch its namespace.
    pub async fn function_for(
        &self,
        caller: &Caller,
        ns: &str,
        function: &str,
    ) -> Result<(Namespace, Function)> {
        let ns = self.namespace_for(caller, ns).await?;
        let mut function = self.store.get_function(&ns.id, function).await?;
        caller.require_function(&function.id)?;
        self.decorate(&mut function);
        Ok((ns, function))
    }

    /// Resolve a function by its id alone (ids are unique across namespaces), checking the
    /// caller may touch it.
    pub async fn function_by_id(&self, caller: &Caller, id: &str) -> Result<(Namespace, Function)> {
        let function = self.store.get_function_by_id(id).await?;
        self.function_for(caller, &function.namespace_id, &function.id)
            .await
    }

    /// Resolve a trigger by its id alone, with its function, checking the caller may touch it.
    pub async fn trigger_by_id(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<(Namespace, Function, gust_core::FunctionTrigger)> {
        let trigger = self
            .triggers
            .get(id)
            .ok_or_else(|| Error::not_found_of("trigger", format!("no trigger {id}")))?;
        let (namespace, function) = self
            .function_for(caller, &trigger.namespace_id, &trigger.function_id)
            .await?;
        Ok((namespace, function, trigger))
    }

    /// Fill the derived fields of a function for a response.
    pub fn decorate(&self, function: &mut Function) {
        if function.title.is_empty() {
            // Stored before functions had titles.
            function.title.clone_from(&function.name);
        }
        function.url = format!(
            "{}/fn/{}/{}",
            self.base_url(),
            function.namespace,
            function.name
        );
        function.domain_name = gust_core::domain::function_domain_name(
            &function.name,
            &function.namespace,
            self.live.functions_domain(),
        );
    }
}
