//! Functions: create, read, replace or patch, delete; and the runtimes they can name. Each
//! write keeps the function's triggers (`schedule`, `events`), its live copy and its events in
//! step before it returns.

use gust_core::{
    Function, FunctionPatch, FunctionSpec, ListQuery, Page, RuntimeId, RuntimeInfo, Scope,
    TriggerKind, TriggerOrigin, TriggerSpec,
};
use gust_runtime_process::ProcessRuntime;

pub use gust_store::FunctionFilter;

use crate::Engine;
use crate::audit::Audit;
use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::jobs::events::Change;

impl Engine {
    /// A page of a namespace's functions, searched by name (or title, or description) and
    /// filtered by runtime and status.
    pub async fn list_functions(
        &self,
        caller: &Caller,
        ns: &str,
        query: &ListQuery,
        filter: &FunctionFilter,
    ) -> Result<Page<Function>> {
        caller.require(Scope::Read)?;
        caller.require_whole_namespace()?;
        query.validate()?;
        let namespace = self.namespace_for(caller, ns).await?;
        let mut page = self
            .store
            .list_functions(&namespace.id, query, filter)
            .await?;
        page.items.iter_mut().for_each(|f| self.decorate(f));
        Ok(page)
    }

    pub async fn create_function(
        &self,
        caller: &Caller,
        ns: &str,
        spec: FunctionSpec,
    ) -> Result<Function> {
        let audit = Audit::new(gust_core::AuditAction::Create, "function").within(ns);
        self.audited(caller, &audit, async {
            caller.require(Scope::Write)?;
            caller.require_whole_namespace()?;
            let namespace = self.namespace_for(caller, ns).await?;
            audit.namespace_is(&namespace.id);
            let mut function = spec.into_new_function(&namespace.id, &namespace.name)?;
            self.require_runtime(function.runtime)?;
            function.serial = self.store.create_function(&function).await?;
            if let Err(e) = self.sync_function_fields(None, &function).await {
                // Nothing half-made stays behind.
                let _ = self.store.delete_function(&function.id).await;
                return Err(e);
            }
            self.decorate(&mut function);
            self.emit_function(&function, Change::Create);
            Ok(function)
        })
        .await
    }

    pub async fn get_function(&self, caller: &Caller, ns: &str, f: &str) -> Result<Function> {
        caller.require(Scope::Read)?;
        Ok(self.function_for(caller, ns, f).await?.1)
    }

    /// Replace the function's configuration with `spec` (what `spec` leaves out goes back to
    /// its default); its state (status, active deployment) is kept.
    pub async fn replace_function(
        &self,
        caller: &Caller,
        ns: &str,
        f: &str,
        spec: FunctionSpec,
    ) -> Result<Function> {
        let audit = Audit::new(gust_core::AuditAction::Update, "function")
            .of(f)
            .within(ns);
        self.audited(caller, &audit, async {
            caller.require(Scope::Write)?;
            let (_, current) = self.function_for(caller, ns, f).await?;
            audit.namespace_is(&current.namespace_id);
            let function = spec.replace(&current)?;
            self.save_function(&current, function).await
        })
        .await
    }

    pub async fn update_function(
        &self,
        caller: &Caller,
        ns: &str,
        f: &str,
        patch: FunctionPatch,
    ) -> Result<Function> {
        let audit = Audit::new(gust_core::AuditAction::Update, "function")
            .of(f)
            .within(ns);
        self.audited(caller, &audit, async {
            caller.require(Scope::Write)?;
            let (_, current) = self.function_for(caller, ns, f).await?;
            audit.namespace_is(&current.namespace_id);
            let mut function = current.clone();
            patch.apply_to(&mut function)?;
            self.save_function(&current, function).await
        })
        .await
    }

    /// Set one secret of a function (`Some`) or remove it (`None`), leaving the others as they
    /// are: changes of different secrets made at once all hold, where a map sent whole
    /// (`update_function`) replaces them all. Removing one that is not set changes nothing.
    pub async fn set_function_secret(
        &self,
        caller: &Caller,
        ns: &str,
        f: &str,
        key: &str,
        value: Option<String>,
    ) -> Result<Function> {
        let audit = Audit::new(gust_core::AuditAction::Update, "function")
            .of(f)
            .within(ns);
        self.audited(caller, &audit, async {
            caller.require(Scope::Write)?;
            let (_, function) = self.function_for(caller, ns, f).await?;
            audit.namespace_is(&function.namespace_id);
            check_secret(key, value.as_deref())?;
            self.store
                .set_function_secret(&function.id, key, value.as_deref(), gust_core::now())
                .await?;
            self.saved_function(&function.id).await
        })
        .await
    }

    async fn save_function(&self, before: &Function, function: Function) -> Result<Function> {
        self.require_runtime(function.runtime)?;
        self.store.update_function(&function).await?;
        self.sync_function_fields(Some(before), &function).await?;
        self.saved_function(&function.id).await
    }

    /// A function just saved, read again (the state fields may have moved on, a build
    /// finishing, since the request read them), made live as it is now and announced.
    async fn saved_function(&self, id: &str) -> Result<Function> {
        let mut function = self.store.get_function_by_id(id).await?;
        self.live.sync(&function).await?;
        self.decorate(&mut function);
        self.emit_function(&function, Change::Update);
        Ok(function)
    }

    /// Delete the function, its triggers, domains, versions and deployments, and what only
    /// they used. Refused (409) while an alias points at it.
    pub async fn delete_function(&self, caller: &Caller, ns: &str, f: &str) -> Result<()> {
        let audit = Audit::new(gust_core::AuditAction::Delete, "function")
            .of(f)
            .within(ns);
        self.audited(caller, &audit, async {
            caller.require(Scope::Write)?;
            let (_, function) = self.function_for(caller, ns, f).await?;
            audit.resolved(&function.id, Some(&function.namespace_id));
            self.refuse_if_aliased(&function).await?;
            self.refuse_if_edge_instances_run(&function).await?;
            let deployments = self
                .store
                .list_deployments(
                    &function.id,
                    &ListQuery {
                        limit: Some(gust_core::list::MAX_LIMIT),
                        ..Default::default()
                    },
                )
                .await?;
            self.live.remove(&function.id);
            if let Err(e) = self.store.delete_function(&function.id).await {
                // Refused (an instance was made meanwhile): the function serves on.
                let _ = self.live.sync(&function).await;
                return Err(e.into());
            }
            self.live.remove_versions(&function.id).await;
            self.triggers.remove_function(&function.id);
            self.live.replace_domains(&function.id, &[]);
            self.emit_function(&function, Change::Delete);
            for deployment in deployments.items {
                self.release_deployment(&deployment).await;
            }
            Ok(())
        })
        .await
    }

    /// `functions.{id}.{change}`, with the function as it is now.
    fn emit_function(&self, function: &Function, change: Change) {
        self.events.resource(
            &function.namespace_id,
            &format!("functions.{}", function.id),
            change,
            || serde_json::to_value(function).unwrap_or_default(),
        );
    }

    /// What this server can run.
    pub fn runtimes(&self) -> Vec<RuntimeInfo> {
        let mut all = vec![RuntimeInfo {
            id: RuntimeId::Wasm,
            name: "WebAssembly (wasi:http/proxy component)".into(),
            available: true,
            version: self.wasm.version().into(),
            reason: None,
        }];
        all.extend(match &self.process {
            Ok(runtime) => runtime.runtimes(),
            Err(reason) => ProcessRuntime::unavailable(reason),
        });
        all
    }

    /// 400 on `runtime` unless this server can run it.
    pub fn require_runtime(&self, runtime: RuntimeId) -> Result<()> {
        match self.runtimes().into_iter().find(|r| r.id == runtime) {
            Some(info) if info.available => Ok(()),
            Some(info) => Err(Error::invalid(
                "runtime",
                format!(
                    "runtime `{runtime}` is not available on this server: {}",
                    info.reason.unwrap_or_default()
                ),
            )),
            None => Err(Error::invalid(
                "runtime",
                format!("unknown runtime `{runtime}`"),
            )),
        }
    }

    /// Keep a function's `schedule` and `events` fields (Appwrite's shape) in step with its
    /// triggers of origin `function`. `before` is the function as it was (`None`: just created);
    /// nothing is rewritten when neither field changed, so a cron trigger keeps its next run.
    async fn sync_function_fields(
        &self,
        before: Option<&Function>,
        function: &Function,
    ) -> Result<(), Error> {
        if let Some(before) = before
            && before.schedule == function.schedule
            && before.events == function.events
        {
            return Ok(());
        }
        let mut triggers = Vec::new();
        if let Some(schedule) = &function.schedule {
            let spec = TriggerSpec {
                kind: Some(TriggerKind::Cron),
                schedule: Some(schedule.clone()),
                ..Default::default()
            };
            triggers.push(spec.into_trigger(
                &function.namespace_id,
                &function.id,
                TriggerOrigin::Function,
            )?);
        }
        if !function.events.is_empty() {
            let spec = TriggerSpec {
                kind: Some(TriggerKind::Event),
                events: Some(function.events.clone()),
                ..Default::default()
            };
            triggers.push(spec.into_trigger(
                &function.namespace_id,
                &function.id,
                TriggerOrigin::Function,
            )?);
        }
        self.store
            .replace_triggers(&function.id, TriggerOrigin::Function, &triggers)
            .await?;
        self.triggers
            .replace(&function.id, TriggerOrigin::Function, &triggers);
        Ok(())
    }
}

/// A secret's name and value, checked as a map of secrets is (`secrets.KEY` names a bad one).
pub(crate) fn check_secret(key: &str, value: Option<&str>) -> Result<()> {
    let one = std::collections::BTreeMap::from([(
        key.to_string(),
        value.unwrap_or_default().to_string(),
    )]);
    gust_core::validate::env_map("secrets", &one)?;
    Ok(())
}
