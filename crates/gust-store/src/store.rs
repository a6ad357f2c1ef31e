//! The `Store` trait: every read and write of Gust's state, one method per operation, so a
//! second backend is one new file. Methods take and return `gust-core` types.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gust_core::metrics::{FunctionActivity, MinuteAggregate};
use gust_core::{
    Alias, AuditEntry, AuditQuery, Deployment, Domain, EdgeApplication, EdgeDomain, EdgeRule,
    Execution, ExecutionRetention, ExecutionStatus, ExecutionTrigger, Function, FunctionInstance,
    FunctionStatus, FunctionTrigger, FunctionVersion, ListQuery, Namespace, Node, Page, RuntimeId,
    TestRequest, Token, TriggerOrigin, Webhook,
};

use crate::StoreResult;
use crate::seal::{Keyring, MasterKey};
use crate::sql_nodes::ChangeMessage;

/// Bytes of the database on disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DatabaseSize {
    /// The database file.
    pub file: u64,
    /// Pages of it that are free, which new rows take before the file grows.
    pub free: u64,
    /// The write-ahead log beside it.
    pub wal: u64,
}

impl DatabaseSize {
    /// What the rows take: what deleting rows brings down (the log is emptied by checkpoints).
    pub fn used(&self) -> u64 {
        self.file.saturating_sub(self.free)
    }
}

/// Filters on a function list, beyond paging and the search of names.
#[derive(Debug, Clone, Copy, Default)]
pub struct FunctionFilter {
    pub runtime: Option<RuntimeId>,
    pub status: Option<FunctionStatus>,
}

/// Filters on an execution list, beyond paging.
#[derive(Debug, Clone, Default)]
pub struct ExecutionFilter {
    pub status: Option<ExecutionStatus>,
    pub trigger: Option<ExecutionTrigger>,
    /// Created at or after.
    pub since: Option<DateTime<Utc>>,
    /// Created before.
    pub until: Option<DateTime<Utc>>,
    /// Only dead letters (`true`) or only the others (`false`).
    pub dead_letter: Option<bool>,
}

/// A signed-in browser session of the console, as stored: the sha256 of its id (never the id),
/// the token it acts as, and its lifetime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    pub id_hash: String,
    pub token_id: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Which custom domains a list holds: those of one function, of one namespace, or all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DomainScope<'a> {
    Function(&'a str),
    Namespace(&'a str),
    All,
}

/// Which edge applications or edge domains a list holds: those of one namespace, or all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeScope<'a> {
    Namespace(&'a str),
    All,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    // Namespaces. `key` is an id or a name.
    async fn create_namespace(&self, ns: &Namespace) -> StoreResult<()>;
    async fn get_namespace(&self, key: &str) -> StoreResult<Namespace>;
    /// `only`: restrict to one namespace id (for namespace-bound tokens).
    async fn list_namespaces(
        &self,
        query: &ListQuery,
        only: Option<&str>,
    ) -> StoreResult<Page<Namespace>>;
    async fn update_namespace(&self, ns: &Namespace) -> StoreResult<()>;
    /// Fails with `Conflict` while the namespace still holds functions.
    async fn delete_namespace(&self, id: &str) -> StoreResult<()>;

    // Functions. `key` is an id or a name within the namespace.
    /// Stores the function with a new serial, one past the highest ever given (the `serial` it
    /// carries is ignored), and returns that serial.
    async fn create_function(&self, function: &Function) -> StoreResult<u64>;
    async fn get_function_by_serial(&self, serial: u64) -> StoreResult<Function>;
    async fn get_function(&self, namespace_id: &str, key: &str) -> StoreResult<Function>;
    async fn get_function_by_id(&self, id: &str) -> StoreResult<Function>;
    async fn list_functions(
        &self,
        namespace_id: &str,
        query: &ListQuery,
        filter: &FunctionFilter,
    ) -> StoreResult<Page<Function>>;
    /// Save a function's configuration. Its state fields (status, messages, active deployment,
    /// ready_at) keep their stored values, so a settings change racing a build loses neither.
    async fn update_function(&self, function: &Function) -> StoreResult<()>;
    /// Save only a function's state fields (the builder's side of the same split).
    async fn update_function_state(&self, function: &Function) -> StoreResult<()>;
    /// Removes the function with its deployments, executions, triggers, domains, webhooks,
    /// versions, aliases, test requests and per-minute aggregates. `Conflict` while an edge function instance runs it.
    async fn delete_function(&self, id: &str) -> StoreResult<()>;
    /// Every function that has an active deployment, with it (to load at start).
    async fn active_functions(&self) -> StoreResult<Vec<(Function, Deployment)>>;

    // Deployments.
    async fn create_deployment(&self, deployment: &Deployment) -> StoreResult<()>;
    async fn get_deployment(&self, function_id: &str, id: &str) -> StoreResult<Deployment>;
    async fn list_deployments(
        &self,
        function_id: &str,
        query: &ListQuery,
    ) -> StoreResult<Page<Deployment>>;
    async fn update_deployment(&self, deployment: &Deployment) -> StoreResult<()>;
    async fn delete_deployment(&self, id: &str) -> StoreResult<()>;
    /// In one transaction: save `deployment` when given (a build that just finished), mark
    /// `deployment_id` the only active deployment of the function, and save `function` (whose
    /// `active_deployment` the caller has set). Readers never see one without the other.
    async fn activate_deployment(
        &self,
        function: &Function,
        deployment_id: &str,
        deployment: Option<&Deployment>,
    ) -> StoreResult<()>;
    /// Deployments whose build had not finished (to resume after a restart). Uploads still in
    /// progress are not among them: they cannot build yet.
    async fn unfinished_deployments(&self) -> StoreResult<Vec<Deployment>>;
    /// Deployments of every function whose chunked upload is still in progress.
    async fn uploading_deployments(&self) -> StoreResult<Vec<Deployment>>;
    /// Whether any deployment, of any function, still uses the blob `sha256`.
    async fn blob_in_use(&self, sha256: &str) -> StoreResult<bool>;

    // Executions. Records are written through an [`ExecutionWriter`]; these read them.
    /// A writer of execution records with a connection of its own, for one thread. On a
    /// shared store, the executions it inserts are held by `owner` (see `claim_executions`).
    fn execution_writer(&self, owner: Option<&str>) -> StoreResult<Box<dyn ExecutionWriter>>;
    async fn get_execution(&self, function_id: &str, id: &str) -> StoreResult<Execution>;
    async fn list_executions(
        &self,
        function_id: &str,
        query: &ListQuery,
        filter: &ExecutionFilter,
    ) -> StoreResult<Page<Execution>>;

    /// Delete a finished execution's record. One still `queued` or `running` is left in place
    /// and reported as `Conflict`: the queue or a run still owns it.
    async fn delete_execution(&self, function_id: &str, id: &str) -> StoreResult<()>;

    /// Record that a finished execution was replayed as `replay_id`: it is a dead letter no
    /// more. With `dead_letter_only`, only a dead letter is marked, so of two replays of one
    /// dead letter racing, one wins. Returns whether it was marked; `NotFound` when missing.
    async fn mark_replayed(
        &self,
        function_id: &str,
        id: &str,
        replay_id: &str,
        dead_letter_only: bool,
    ) -> StoreResult<bool>;

    /// How many executions are queued, per function id.
    async fn queued_counts(&self) -> StoreResult<Vec<(String, usize)>>;
    /// Queued executions in id (acceptance) order, after `after` when given; only those
    /// `owner` holds, when given.
    async fn queued_executions(
        &self,
        owner: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<Execution>>;
    /// Put every `running` execution back in the queue (after a crash: they never finished);
    /// only those `owner` holds, when given.
    async fn requeue_running(&self, now: DateTime<Utc>, owner: Option<&str>) -> StoreResult<u64>;
    /// Delete finished executions of a function beyond its retention; returns how many.
    async fn prune_executions(
        &self,
        function_id: &str,
        retention: &ExecutionRetention,
        now: DateTime<Utc>,
    ) -> StoreResult<u64>;

    /// Delete up to `count` of the oldest finished executions, of any function (the data dir
    /// is at its size ceiling); returns how many.
    async fn prune_oldest_executions(&self, count: u64) -> StoreResult<u64>;
    /// How much room the database takes on disk.
    async fn database_size(&self) -> StoreResult<DatabaseSize>;

    // Triggers.
    async fn create_trigger(&self, trigger: &FunctionTrigger) -> StoreResult<()>;
    async fn get_trigger(&self, function_id: &str, id: &str) -> StoreResult<FunctionTrigger>;
    async fn list_triggers(
        &self,
        function_id: &str,
        query: &ListQuery,
    ) -> StoreResult<Page<FunctionTrigger>>;
    async fn update_trigger(&self, trigger: &FunctionTrigger) -> StoreResult<()>;
    async fn delete_trigger(&self, id: &str) -> StoreResult<()>;
    /// Replace, in one transaction, the triggers of `origin` of a function with `triggers`.
    async fn replace_triggers(
        &self,
        function_id: &str,
        origin: TriggerOrigin,
        triggers: &[FunctionTrigger],
    ) -> StoreResult<()>;
    /// Every trigger (the scheduler and the event router keep them in memory).
    async fn all_triggers(&self) -> StoreResult<Vec<FunctionTrigger>>;
    /// Every function (for background passes such as pruning).
    async fn all_functions(&self) -> StoreResult<Vec<Function>>;

    // Custom domains. A host name belongs to at most one domain of the whole store.
    /// Fails with `Conflict` when the host name is taken.
    async fn create_domain(&self, domain: &Domain) -> StoreResult<()>;
    async fn get_domain(&self, id: &str) -> StoreResult<Domain>;
    async fn list_domains(
        &self,
        scope: DomainScope<'_>,
        query: &ListQuery,
    ) -> StoreResult<Page<Domain>>;
    async fn delete_domain(&self, id: &str) -> StoreResult<()>;
    /// Every domain (the invocation path routes by host name from memory).
    async fn all_domains(&self) -> StoreResult<Vec<Domain>>;

    // Versions of functions: immutable snapshots, keyed by function and number.
    /// Store `version` numbered one past the highest number its function has given (the
    /// `number` it carries is ignored) and return it so numbered. `Conflict` when the function
    /// already has `max` versions; `NotFound` when the function does not exist.
    async fn create_version(
        &self,
        version: &FunctionVersion,
        max: u32,
    ) -> StoreResult<FunctionVersion>;
    async fn get_version(&self, function_id: &str, number: u32) -> StoreResult<FunctionVersion>;
    /// Every version of a function, lowest number first.
    async fn list_versions(&self, function_id: &str) -> StoreResult<Vec<FunctionVersion>>;
    /// `Conflict` naming the alias while one points at the version.
    async fn delete_version(&self, function_id: &str, number: u32) -> StoreResult<()>;
    /// The numbers of a function's versions that run `deployment_id`, lowest first.
    async fn versions_of_deployment(
        &self,
        function_id: &str,
        deployment_id: &str,
    ) -> StoreResult<Vec<u32>>;

    // Aliases: a name per namespace, pointing at a function and (optionally) one of its versions.
    /// `Conflict` when the namespace has an alias of that name; `NotFound` when the version it
    /// points at does not exist.
    async fn create_alias(&self, alias: &Alias) -> StoreResult<()>;
    async fn get_alias(&self, namespace_id: &str, name: &str) -> StoreResult<Alias>;
    /// The aliases of a namespace, or only those pointing at `function_id`.
    async fn list_aliases(
        &self,
        namespace_id: &str,
        function_id: Option<&str>,
        query: &ListQuery,
    ) -> StoreResult<Page<Alias>>;
    /// `NotFound` when the version it now points at does not exist.
    async fn update_alias(&self, alias: &Alias) -> StoreResult<()>;
    async fn delete_alias(&self, id: &str) -> StoreResult<()>;
    /// Every alias (the invocation path resolves them from memory).
    async fn all_aliases(&self) -> StoreResult<Vec<Alias>>;

    // Webhooks.
    async fn create_webhook(&self, webhook: &Webhook) -> StoreResult<()>;
    async fn get_webhook(&self, id: &str) -> StoreResult<Webhook>;
    /// The webhooks of a namespace, or of one function of it.
    async fn list_webhooks(
        &self,
        namespace_id: &str,
        function_id: Option<&str>,
        query: &ListQuery,
    ) -> StoreResult<Page<Webhook>>;
    /// Save a webhook, its function included (a webhook may move to another function).
    async fn update_webhook(&self, webhook: &Webhook) -> StoreResult<()>;
    async fn delete_webhook(&self, id: &str) -> StoreResult<()>;

    // Per-minute aggregates of executions, a row per function and minute.
    /// Add each aggregate to its function's row for its minute (made when there is none): counts
    /// add up, histograms merge, instances keep the highest. The row's namespace is the
    /// function's; aggregates of functions that no longer exist are skipped.
    async fn add_function_minutes(&self, minutes: &[MinuteAggregate]) -> StoreResult<()>;
    /// A function's minutes from `since` on, oldest first.
    async fn function_minutes(
        &self,
        function_id: &str,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<MinuteAggregate>>;
    /// Requests and errors of each function of a namespace from `since` on (functions without
    /// requests left out), by function id.
    async fn namespace_activity(
        &self,
        namespace_id: &str,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<FunctionActivity>>;
    /// Delete every function's minutes before `before`; returns how many.
    async fn prune_function_minutes(&self, before: DateTime<Utc>) -> StoreResult<u64>;

    // Saved test requests, by name within their function.
    /// A function's test requests, by name.
    async fn list_test_requests(&self, function_id: &str) -> StoreResult<Vec<TestRequest>>;
    async fn get_test_request(&self, function_id: &str, name: &str) -> StoreResult<TestRequest>;
    /// Save `request` under its name and return it as stored. `create`: `Conflict` when the
    /// function has a request of that name; otherwise one is replaced, keeping its
    /// `created_at`. `Conflict` when a new name would take the function past `max`;
    /// `NotFound` when the function does not exist.
    async fn put_test_request(
        &self,
        function_id: &str,
        request: &TestRequest,
        create: bool,
        max: u32,
    ) -> StoreResult<TestRequest>;
    async fn delete_test_request(&self, function_id: &str, name: &str) -> StoreResult<()>;

    // Edge applications, their function instances and rules, and edge domains. Ids are
    // integers given by the store (the `id` a new resource carries is ignored), never reused.
    async fn create_edge_application(&self, app: &EdgeApplication) -> StoreResult<EdgeApplication>;
    async fn get_edge_application(&self, id: u64) -> StoreResult<EdgeApplication>;
    async fn list_edge_applications(
        &self,
        scope: EdgeScope<'_>,
        query: &ListQuery,
    ) -> StoreResult<Page<EdgeApplication>>;
    async fn update_edge_application(&self, app: &EdgeApplication) -> StoreResult<()>;
    /// Removes the application with its instances and rules, and unbinds its domains; returns
    /// the ids of the domains unbound.
    async fn delete_edge_application(&self, id: u64) -> StoreResult<Vec<u64>>;
    async fn all_edge_applications(&self) -> StoreResult<Vec<EdgeApplication>>;

    /// `NotFound` when the application or the function does not exist.
    async fn create_edge_instance(
        &self,
        instance: &FunctionInstance,
    ) -> StoreResult<FunctionInstance>;
    /// An instance of the application (`NotFound` when it belongs to another).
    async fn get_edge_instance(
        &self,
        application_id: u64,
        id: u64,
    ) -> StoreResult<FunctionInstance>;
    async fn list_edge_instances(
        &self,
        application_id: u64,
        query: &ListQuery,
    ) -> StoreResult<Page<FunctionInstance>>;
    /// Every instance of the application, by id.
    async fn all_edge_instances(&self, application_id: u64) -> StoreResult<Vec<FunctionInstance>>;
    async fn update_edge_instance(&self, instance: &FunctionInstance) -> StoreResult<()>;
    /// `Conflict` naming the rule while one runs the instance.
    async fn delete_edge_instance(&self, application_id: u64, id: u64) -> StoreResult<()>;
    /// How many instances run each function: of one namespace, or of all.
    async fn edge_instance_counts(
        &self,
        namespace_id: Option<&str>,
    ) -> StoreResult<Vec<(String, u64)>>;

    /// `Conflict` when the application already has `max` rules. Every instance the rule runs
    /// must be one of its application: `NotFound` (kind `instance`) names the first that is not.
    async fn create_edge_rule(&self, rule: &EdgeRule, max: u64) -> StoreResult<EdgeRule>;
    async fn get_edge_rule(&self, application_id: u64, id: u64) -> StoreResult<EdgeRule>;
    /// Every rule of the application, in evaluation order (`order`, then id).
    async fn list_edge_rules(&self, application_id: u64) -> StoreResult<Vec<EdgeRule>>;
    /// The same check of the instances it runs as on create.
    async fn update_edge_rule(&self, rule: &EdgeRule) -> StoreResult<()>;
    async fn delete_edge_rule(&self, application_id: u64, id: u64) -> StoreResult<()>;

    /// `Conflict` naming a cname another edge domain or a custom domain already has;
    /// `NotFound` when the application it names does not exist.
    async fn create_edge_domain(&self, domain: &EdgeDomain) -> StoreResult<EdgeDomain>;
    async fn get_edge_domain(&self, id: u64) -> StoreResult<EdgeDomain>;
    async fn list_edge_domains(
        &self,
        scope: EdgeScope<'_>,
        query: &ListQuery,
    ) -> StoreResult<Page<EdgeDomain>>;
    /// Its cnames are replaced as a whole, with the same checks as on create.
    async fn update_edge_domain(&self, domain: &EdgeDomain) -> StoreResult<()>;
    async fn delete_edge_domain(&self, id: u64) -> StoreResult<()>;
    async fn all_edge_domains(&self) -> StoreResult<Vec<EdgeDomain>>;

    // Tokens. Only the sha256 of a secret is stored.
    async fn create_token(&self, token: &Token, secret_hash: &str) -> StoreResult<()>;
    async fn get_token(&self, id: &str) -> StoreResult<Token>;
    async fn list_tokens(&self, query: &ListQuery) -> StoreResult<Page<Token>>;
    async fn delete_token(&self, id: &str) -> StoreResult<()>;
    /// Every token with its secret hash (the API keeps them in memory for fast checks).
    async fn all_tokens(&self) -> StoreResult<Vec<(Token, String)>>;
    /// Set each token's `last_used_at` (a later time than the stored one only; tokens since
    /// deleted are skipped).
    async fn record_token_use(&self, uses: &[(String, DateTime<Utc>)]) -> StoreResult<()>;

    // Sealed secrets. Namespaces', functions' and versions' secrets are sealed on every write
    // and opened on every read with this keyring; callers see plaintext.
    fn keyring(&self) -> &Keyring;
    /// The ids of the keys values may be sealed with (those a keyring must hold to open them).
    async fn sealing_key_ids(&self) -> StoreResult<Vec<u32>>;
    /// First step of a key rotation: record `key` as one values may be sealed with, then make
    /// it the keyring's active key. Values sealed before stay readable with the old keys.
    async fn begin_rotation(&self, key: MasterKey) -> StoreResult<()>;
    /// Reseal, one row per transaction, every value not sealed with the active key; returns
    /// how many rows changed.
    async fn reseal_secrets(&self) -> StoreResult<u64>;
    /// Last step of a rotation: in one transaction, reseal whatever is still sealed with
    /// another key and forget every key but the active one; then drop them from the keyring.
    /// Returns the ids retired.
    async fn retire_keys(&self) -> StoreResult<Vec<u32>>;

    // The audit log: appended to, never changed.
    async fn append_audit(&self, entries: &[AuditEntry]) -> StoreResult<()>;
    /// Newest first, filtered and paged by `query` (validated by the caller).
    async fn list_audit(&self, query: &AuditQuery) -> StoreResult<Page<AuditEntry>>;

    // Console sessions, by the sha256 of their id; deleting their token deletes them.
    async fn create_console_session(&self, session: &ConsoleSession) -> StoreResult<()>;
    /// The session whose id hashes to `id_hash`, expired or not (`NotFound`: none).
    async fn get_console_session(&self, id_hash: &str) -> StoreResult<ConsoleSession>;
    /// Delete a session; deleting one that is not there is no error (sign-out twice).
    async fn delete_console_session(&self, id_hash: &str) -> StoreResult<()>;
    /// Delete the sessions that ended before `now`; returns how many.
    async fn prune_console_sessions(&self, now: DateTime<Utc>) -> StoreResult<u64>;

    // Secrets one by one (a map replaced whole is `update_namespace`, `update_function`).
    /// Set (`Some`) or remove (`None`) the secret `key` of a namespace, leaving its others as
    /// stored: changes of different secrets made at once all hold. `Conflict` when a new one
    /// would pass the most a namespace holds; `NotFound` when it is gone.
    async fn set_namespace_secret(
        &self,
        namespace_id: &str,
        key: &str,
        value: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// [`Store::set_namespace_secret`] for a function.
    async fn set_function_secret(
        &self,
        function_id: &str,
        key: &str,
        value: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    // Signed upload URLs, which are single use.
    /// Mark the upload token `nonce` used until `expires_at`: whether this call did (false: it
    /// was used already, through this server or another). Uses expired before `now` are
    /// forgotten first.
    async fn use_upload_token(
        &self,
        nonce: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Give a use back: the upload failed and stored nothing, so the URL may be tried again.
    async fn release_upload_token(&self, nonce: &str) -> StoreResult<()>;

    // Servers sharing the store (see `sql_nodes.rs`).
    /// Whether other servers may share this store (PostgreSQL): then executions are claimed,
    /// cron ticks fired once, and changes announced.
    fn shared(&self) -> bool;
    /// Write a server's row, with its heartbeat.
    async fn put_node(&self, node: &Node) -> StoreResult<()>;
    /// The servers whose heartbeat is at or after `alive_since`, by id.
    async fn list_nodes(&self, alive_since: DateTime<Utc>) -> StoreResult<Vec<Node>>;
    /// Take up to `limit` queued or running executions that no live server holds (none, or
    /// one with no heartbeat since `alive_since`) for `node`, oldest first: they become its,
    /// and `queued` (a running one's attempt stays counted; it may run from `now`). Rows
    /// another server is claiming at the same time are skipped.
    async fn claim_executions(
        &self,
        node: &str,
        alive_since: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<Execution>>;
    /// Hold the build of an unfinished (waiting or building) deployment for `node`, unless
    /// another live server (a heartbeat since `alive_since`) holds it: whether `node` holds it
    /// now. Asked again by the holder before it saves the build's outcome.
    async fn claim_build(
        &self,
        deployment_id: &str,
        node: &str,
        alive_since: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Unfinished deployments whose build no live server holds (none yet, or one with no
    /// heartbeat since `alive_since`), `node`'s own left out, oldest first.
    async fn claimable_builds(
        &self,
        node: &str,
        alive_since: DateTime<Utc>,
    ) -> StoreResult<Vec<Deployment>>;
    /// Save a cron trigger moved past `tick`, if it is still at `tick` (no other server moved
    /// it first): whether this call moved it. `NotFound` when it is gone.
    async fn advance_trigger(
        &self,
        trigger: &FunctionTrigger,
        tick: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Send a change notice to every server sharing the store (this one included).
    async fn publish_change(&self, payload: &str) -> StoreResult<()>;
    /// The change notices, as long as the store lives; `None` when no other server shares it.
    fn listen_changes(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<ChangeMessage>>;
}

/// Writes execution records: one per invocation, so the hottest writes there are. Synchronous,
/// for a thread of its own that batches them (the recorder); each call is one transaction.
pub trait ExecutionWriter: Send {
    /// Insert or replace each execution.
    fn put(&mut self, batch: &[Execution]) -> StoreResult<()>;
    /// Store new executions before they run (async ones, before their 202). An execution
    /// whose idempotency key its function already used is not written: the first execution
    /// with that key comes back instead, with `false`.
    fn insert(&mut self, batch: &[Execution]) -> StoreResult<Vec<(Execution, bool)>>;
    /// Delete a function's finished executions past `retention` (as
    /// [`Store::prune_executions`]) on the writer's own connection, between its batches:
    /// a busy function is pruned as often as it writes, and on a connection whose cache holds
    /// what it just wrote. Returns how many went.
    fn prune(
        &mut self,
        function_id: &str,
        retention: &gust_core::ExecutionRetention,
        now: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<u64>;
    /// Keep the database within `budget` bytes (0: no limit; the owner updates it): a batch
    /// that takes it past deletes the oldest finished executions in its own transaction.
    fn limit_size(&mut self, _budget: std::sync::Arc<std::sync::atomic::AtomicU64>) {}
    /// Executions deleted to keep within the budget since the last call.
    fn take_pruned(&mut self) -> u64 {
        0
    }
}
