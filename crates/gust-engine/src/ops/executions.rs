//! Executions: run a function from the API (to its end, or queued with `async`), read the
//! records (every finished run is visible: the recorder is flushed first), replay one.

use std::sync::Arc;

use gust_core::{Execution, ExecutionTrigger, ListQuery, Page, Scope};

use crate::Engine;
use crate::audit::Audit;
use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::invoke::{self, RunRequest};
use crate::jobs::{self, Accepted, Submission};
use crate::live::LiveFunction;

pub use crate::invoke::ExecutionInput;
pub use gust_store::ExecutionFilter;

/// What an API execution came to.
pub enum Executed {
    /// It ran to its end; here is its record.
    Ran(Execution),
    /// It was stored and queued (`async`).
    Accepted(Accepted),
}

impl Engine {
    pub async fn list_executions(
        &self,
        caller: &Caller,
        ns: &str,
        f: &str,
        query: &ListQuery,
        filter: &ExecutionFilter,
    ) -> Result<Page<Execution>> {
        caller.require(Scope::Read)?;
        query.validate()?;
        if let (Some(since), Some(until)) = (filter.since, filter.until)
            && since >= until
        {
            return Err(Error::invalid("until", "must be later than `since`"));
        }
        let (_, function) = self.function_for(caller, ns, f).await?;
        // Records are written off the request path: make sure every finished one is visible.
        self.recorder.flush().await;
        Ok(self
            .store
            .list_executions(&function.id, query, filter)
            .await?)
    }

    pub async fn get_execution(
        &self,
        caller: &Caller,
        ns: &str,
        f: &str,
        id: &str,
    ) -> Result<Execution> {
        caller.require(Scope::Read)?;
        let (_, function) = self.function_for(caller, ns, f).await?;
        self.recorder.flush().await;
        Ok(self.store.get_execution(&function.id, id).await?)
    }

    /// Delete a finished execution's record (409 while it is queued or running).
    pub async fn delete_execution(
        &self,
        caller: &Caller,
        ns: &str,
        f: &str,
        id: &str,
    ) -> Result<()> {
        let audit = Audit::new(gust_core::AuditAction::Delete, "execution")
            .of(id)
            .within(ns);
        self.audited(caller, &audit, async {
            caller.require(Scope::Write)?;
            let (_, function) = self.function_for(caller, ns, f).await?;
            audit.namespace_is(&function.namespace_id);
            self.recorder.flush().await;
            Ok(self.store.delete_execution(&function.id, id).await?)
        })
        .await
    }

    /// An execution of any function of namespace `ns` the caller may see, by its id alone,
    /// with its function. Records are keyed by function: each function of the namespace is
    /// asked in turn (an index on the id alone would cost every run's record a second write).
    pub async fn find_execution(
        &self,
        caller: &Caller,
        ns: &str,
        id: &str,
    ) -> Result<(gust_core::Function, Execution)> {
        caller.require(Scope::Read)?;
        let namespace = self.namespace_for(caller, ns).await?;
        let not_found = || Error::not_found_of("execution", format!("no execution {id}"));
        if !gust_core::id::looks_like_id(id) {
            return Err(not_found());
        }
        self.recorder.flush().await;
        let mut cursor = None;
        loop {
            let page = self
                .store
                .list_functions(
                    &namespace.id,
                    &ListQuery {
                        limit: Some(gust_core::list::MAX_LIMIT),
                        cursor: cursor.take(),
                        ..ListQuery::default()
                    },
                    &gust_store::FunctionFilter::default(),
                )
                .await?;
            for mut function in page.items {
                if caller.require_function(&function.id).is_err() {
                    continue;
                }
                match self.store.get_execution(&function.id, id).await {
                    Ok(execution) => {
                        self.decorate(&mut function);
                        return Ok((function, execution));
                    }
                    Err(gust_store::StoreError::NotFound { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Err(not_found()),
            }
        }
    }

    /// Run the function with `input`: to its end, or, with `async`, stored and queued
    /// (`idempotency_key`: a repeat with the same key returns the first execution). Without a
    /// caller only a public function runs, as over `/fn/`.
    pub async fn create_execution(
        self: &Arc<Self>,
        caller: Option<&Caller>,
        ns: &str,
        f: &str,
        input: &ExecutionInput,
        idempotency_key: Option<String>,
    ) -> Result<Executed> {
        let (namespace, function) = match caller {
            Some(caller) => {
                let found = self.function_for(caller, ns, f).await?;
                caller.require_in(Scope::Invoke, &found.0.id)?;
                found
            }
            None => {
                let namespace = self.store.get_namespace(ns).await?;
                let function = self.store.get_function(&namespace.id, f).await?;
                if function.privacy != gust_core::Privacy::Public {
                    return Err(Error::unauthorized(
                        "the function is private: a token with the `invoke` scope is needed",
                    ));
                }
                (namespace, function)
            }
        };
        let request: RunRequest = invoke::request_from_input(input)?;
        let (live, alias) = self
            .live_for_input(&namespace.id, &function.id, input)
            .await?;
        if !input.r#async {
            let ids = invoke::record_ids(&live, alias);
            return Ok(Executed::Ran(
                invoke::execute(&self.recorder, &self.logs, live, ids, request).await?,
            ));
        }
        let limit = gust_core::execution::ASYNC_BODY_LIMIT;
        if request.body.len() > limit {
            return Err(Error::too_large(format!(
                "`body` is {} bytes; an async execution takes at most {limit}",
                request.body.len()
            )));
        }
        let submission = Submission {
            trigger: ExecutionTrigger::Api,
            request: request.to_record(true),
            idempotency_key,
            source: None,
            replay_of: None,
            event_depth: 0,
            function_version: live.version(),
            alias,
        };
        let submitted = jobs::submit(&self.jobs, &live.function, submission).await?;
        Ok(Executed::Accepted(Accepted::new(&live.function, submitted)))
    }

    /// What an API execution runs: the function's current configuration, the `version` it
    /// names, or what its `alias` points at (with the alias's name).
    async fn live_for_input(
        &self,
        namespace_id: &str,
        function_id: &str,
        input: &ExecutionInput,
    ) -> Result<(Arc<LiveFunction>, Option<String>)> {
        let version = gust_core::version::version_number(input.version);
        match (version, input.alias.as_deref()) {
            (Some(_), Some(_)) => Err(Error::invalid(
                "alias",
                "give either `version` or `alias`, not both",
            )),
            (None, None) => Ok((self.live.find(namespace_id, function_id).await?, None)),
            (Some(number), None) => Ok((
                self.live
                    .find_version(namespace_id, function_id, number)
                    .await?,
                None,
            )),
            (None, Some(alias)) => {
                gust_core::version::alias_name("alias", alias)?;
                let qualified = format!(
                    "{function_id}{}{alias}",
                    gust_core::version::QUALIFIER_SEPARATOR
                );
                self.live.find_qualified(namespace_id, &qualified).await
            }
        }
    }

    /// Store and queue an invocation over HTTP that asked for async (`X-Gust-Async: true`),
    /// with the alias it named, if any.
    pub async fn accept_async(
        &self,
        live: &LiveFunction,
        alias: Option<String>,
        request: RunRequest,
    ) -> Result<Accepted> {
        jobs::accept_http(&self.jobs, live, alias, request).await
    }

    /// Queue a new async execution with the same request as execution `id`. The original
    /// records the replay (`replayed_by`) and is a dead letter no more.
    pub async fn replay_execution(
        self: &Arc<Self>,
        caller: &Caller,
        ns: &str,
        f: &str,
        id: &str,
    ) -> Result<Accepted> {
        let (namespace, function) = self.function_for(caller, ns, f).await?;
        caller.require_in(Scope::Invoke, &namespace.id)?;
        self.recorder.flush().await;
        let original = self.store.get_execution(&function.id, id).await?;
        let replayed = self.replay(&namespace.id, original, false).await?;
        Ok(replayed.expect("a replay not limited to dead letters always runs"))
    }

    /// Replay up to `limit` of a function's dead letters, newest first. Each is marked before
    /// its replay is queued, and only while it is still a dead letter: replaying them again,
    /// or twice at once, queues each no more than once.
    pub async fn replay_dead_letters(
        self: &Arc<Self>,
        caller: &Caller,
        ns: &str,
        f: &str,
        limit: u32,
    ) -> Result<Vec<Accepted>> {
        let (namespace, function) = self.function_for(caller, ns, f).await?;
        caller.require_in(Scope::Invoke, &namespace.id)?;
        self.recorder.flush().await;
        let dead = self
            .store
            .list_executions(
                &function.id,
                &ListQuery {
                    limit: Some(limit.clamp(1, gust_core::list::MAX_LIMIT)),
                    ..ListQuery::default()
                },
                &ExecutionFilter {
                    dead_letter: Some(true),
                    ..ExecutionFilter::default()
                },
            )
            .await?;
        let mut accepted = Vec::with_capacity(dead.items.len());
        for original in dead.items {
            if let Some(replayed) = self.replay(&namespace.id, original, true).await? {
                accepted.push(replayed);
            }
        }
        Ok(accepted)
    }

    /// Mark `original` as replayed, then queue its replay; `None` when `dead_letter_only` and
    /// it is not (any more) a dead letter.
    async fn replay(
        self: &Arc<Self>,
        namespace_id: &str,
        original: Execution,
        dead_letter_only: bool,
    ) -> Result<Option<Accepted>> {
        let id = &original.id;
        if original.request.body.truncated {
            return Err(Error::conflict(format!(
                "execution {id} kept only {} of its {} request bytes, so it cannot be replayed exactly",
                original.request.body.body.len(),
                original.request.body.size
            )));
        }
        // A replay runs what the original ran: the same version, when it named one.
        let live = match original.function_version {
            None => self.live.find(namespace_id, &original.function_id).await?,
            Some(number) => {
                self.live
                    .find_version(namespace_id, &original.function_id, number)
                    .await?
            }
        };
        let replay_id = gust_core::new_id();
        let marked = self
            .store
            .mark_replayed(&original.function_id, id, &replay_id, dead_letter_only)
            .await?;
        if !marked && dead_letter_only {
            return Ok(None);
        }
        let submission = Submission {
            trigger: original.trigger,
            request: original.request,
            idempotency_key: None,
            source: original.source,
            replay_of: Some(original.id),
            event_depth: original.event_depth,
            function_version: original.function_version,
            alias: original.alias,
        };
        let submitted = jobs::submit_as(&self.jobs, &live.function, submission, replay_id).await?;
        Ok(Some(Accepted::new(&live.function, submitted)))
    }
}
