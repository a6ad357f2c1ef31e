//! Edge applications, their function instances and rules, and edge domains. Each operation
//! checks the caller (namespace-scoped, as for functions), validates, writes the store, then
//! rebuilds what the invocation path reads from memory ([`crate::edge::EdgeSet`]): the
//! application's compiled entry, or the host map of edge domains.

use std::collections::BTreeMap;

use gust_core::edge::{self as model, MAX_RULES};
use gust_core::{
    EdgeApplication, EdgeApplicationPatch, EdgeApplicationSpec, EdgeDomain, EdgeDomainPatch,
    EdgeDomainSpec, EdgeRule, EdgeRulePatch, EdgeRuleSpec, Function, FunctionInstance,
    FunctionInstancePatch, FunctionInstanceSpec, FunctionRef, ListQuery, Namespace, Page, Scope,
};
use gust_store::{EdgeScope, StoreError};

use crate::Engine;
use crate::audit::Audit;
use crate::auth::Caller;
use crate::edge::EdgeApp;
use crate::error::{Error, Result};

impl Engine {
    /// Create an edge application in the namespace `ns`.
    pub async fn create_edge_application(
        &self,
        caller: &Caller,
        ns: &str,
        spec: EdgeApplicationSpec,
    ) -> Result<EdgeApplication> {
        let audit = Audit::new(gust_core::AuditAction::Create, "edge_application").within(ns);
        self.audited(caller, &audit, async {
            caller.require(Scope::Write)?;
            caller.require_whole_namespace()?;
            let namespace = self.namespace_for(caller, ns).await?;
            audit.namespace_is(&namespace.id);
            let app = spec.into_application(&namespace.id, &namespace.name)?;
            let app = self.store.create_edge_application(&app).await?;
            self.reload_edge_application(app.id).await?;
            Ok(app)
        })
        .await
    }

    /// The edge applications of a namespace (`Some`), or of the server (`None`; a token
    /// limited to one namespace sees that namespace's).
    pub async fn list_edge_applications(
        &self,
        caller: &Caller,
        ns: Option<&str>,
        query: &ListQuery,
    ) -> Result<Page<EdgeApplication>> {
        caller.require(Scope::Read)?;
        caller.require_whole_namespace()?;
        query.validate()?;
        let namespace = self.edge_scope(caller, ns).await?;
        let scope = match &namespace {
            Some(id) => EdgeScope::Namespace(id),
            None => EdgeScope::All,
        };
        Ok(self.store.list_edge_applications(scope, query).await?)
    }

    pub async fn get_edge_application(&self, caller: &Caller, id: u64) -> Result<EdgeApplication> {
        caller.require(Scope::Read)?;
        self.edge_application_for(caller, id).await
    }

    /// Change the fields `patch` holds; requests see the change at once.
    pub async fn update_edge_application(
        &self,
        caller: &Caller,
        id: u64,
        patch: EdgeApplicationPatch,
    ) -> Result<EdgeApplication> {
        let audit = Audit::new(gust_core::AuditAction::Update, "edge_application").of(id);
        self.audited(caller, &audit, async {
            caller.require(Scope::Write)?;
            let mut app = self.edge_application_for(caller, id).await?;
            patch.apply_to(&mut app)?;
            self.store.update_edge_application(&app).await?;
            self.reload_edge_application(id).await?;
            Ok(app)
        })
        .await
    }

    /// Delete an application with its instances and rules; its domains stay, bound to none.
    pub async fn delete_edge_application(&self, caller: &Caller, id: u64) -> Result<()> {
        let audit = Audit::new(gust_core::AuditAction::Delete, "edge_application").of(id);
        self.audited(caller, &audit, async {
            caller.require(Scope::Write)?;
            self.edge_application_for(caller, id).await?;
            let unbound = self.store.delete_edge_application(id).await?;
            self.live.edge.remove_app(id);
            self.live.edge.unbind_domains(&unbound);
            Ok(())
        })
        .await
    }

    /// Bind a function of the application's namespace into it, with `args` for its code.
    pub async fn create_edge_instance(
        &self,
        caller: &Caller,
        app: u64,
        spec: FunctionInstanceSpec,
    ) -> Result<FunctionInstance> {
        let audit = Audit::new(gust_core::AuditAction::Create, "edge_instance");
        self.audited(caller, &audit, async {
            caller.require(Scope::Write)?;
            let app = self.edge_application_for(caller, app).await?;
            spec.validate(true)?;
            let function = self
                .instance_function(&app, spec.function.as_ref().expect("validated"))
                .await?;
            let now = gust_core::now();
            let instance = FunctionInstance {
                id: 0,
                edge_application_id: app.id,
                namespace_id: app.namespace_id.clone(),
                name: spec.name.unwrap_or_default(),
                function_id: function.id.clone(),
                function_serial: function.serial,
                args: spec.args.unwrap_or_else(|| function.args.clone()),
                created_at: now,
                updated_at: now,
            };
            let instance = self
                .store
                .create_edge_instance(&instance)
                .await
                .map_err(function_gone)?;
            self.reload_edge_application(app.id).await?;
            Ok(instance)
        })
        .await
    }

    pub async fn list_edge_instances(
        &self,
        caller: &Caller,
        app: u64,
        query: &ListQuery,
    ) -> Result<Page<FunctionInstance>> {
        caller.require(Scope::Read)?;
        query.validate()?;
        let app = self.edge_application_for(caller, app).await?;
        Ok(self.store.list_edge_instances(app.id, query).await?)
    }

    pub async fn get_edge_instance(
        &self,
        caller: &Caller,
        app: u64,
        id: u64,
    ) -> Result<FunctionInstance> {
        caller.require(Scope::Read)?;
        let app = self.edge_application_for(caller, app).await?;
        Ok(self.store.get_edge_instance(app.id, id).await?)
    }

    /// Change an instance's name, function or args; the next request sees them.
    pub async fn update_edge_instance(
        &self,
        caller: &Caller,
        app: u64,
        id: u64,
        patch: FunctionInstancePatch,
    ) -> Result<FunctionInstance> {
        let audit = Audit::new(gust_core::AuditAction::Update, "edge_instance").of(id);
        self.audited(caller, &audit, async {
            caller.require(Scope::Write)?;
            let app = self.edge_application_for(caller, app).await?;
            let mut instance = self.store.get_edge_instance(app.id, id).await?;
            patch.validate(false)?;
            if let Some(given) = &patch.function {
                let function = self.instance_function(&app, given).await?;
                instance.function_id = function.id;
                instance.function_serial = function.serial;
            }
            if let Some(name) = patch.name {
                instance.name = name;
            }
            if let Some(args) = patch.args {
                instance.args = args;
            }
            instance.updated_at = gust_core::now();
            self.store
                .update_edge_instance(&instance)
                .await
                .map_err(function_gone)?;
            self.reload_edge_application(app.id).await?;
            Ok(instance)
        })
        .await
    }

    /// 409 while a rule runs the instance.
    pub async fn delete_edge_instance(&self, caller: &Caller, app: u64, id: u64) -> Result<()> {
        let audit = Audit::new(gust_core::AuditAction::Delete, "edge_instance").of(id);
        self.audited(caller, &audit, async {
            caller.require(Scope::Write)?;
            let app = self.edge_application_for(caller, app).await?;
            self.store.delete_edge_instance(app.id, id).await?;
            self.reload_edge_application(app.id).await
        })
        .await
    }

    /// How many function instances run each function of the namespace, by function id.
    pub async fn edge_instance_counts(
        &self,
        caller: &Caller,
        ns: &str,
    ) -> Result<BTreeMap<String, u64>> {
        caller.require(Scope::Read)?;
        let namespace = self.namespace_for(caller, ns).await?;
        Ok(self
            .store
            .edge_instance_counts(Some(&namespace.id))
            .await?
            .into_iter()
            .collect())
    }

    /// Add a rule to an application: after its last unless it names an `order`.
    pub async fn create_edge_rule(
        &self,
        caller: &Caller,
        app: u64,
        spec: EdgeRuleSpec,
    ) -> Result<EdgeRule> {
        let audit = Audit::new(gust_core::AuditAction::Create, "edge_rule");
        self.audited(caller, &audit, async {
            caller.require(Scope::Write)?;
            let app = self.edge_application_for(caller, app).await?;
            let last = self
                .store
                .list_edge_rules(app.id)
                .await?
                .iter()
                .map(|r| r.order)
                .max();
            let order = last.map_or(0, |o| o.saturating_add(1));
            let rule = spec.into_rule(app.id, order)?;
            let rule = self
                .store
                .create_edge_rule(&rule, MAX_RULES)
                .await
                .map_err(|e| missing_target(e, &rule))?;
            self.reload_edge_application(app.id).await?;
            Ok(rule)
        })
        .await
    }

    /// Every rule of an application, in evaluation order.
    pub async fn list_edge_rules(&self, caller: &Caller, app: u64) -> Result<Page<EdgeRule>> {
        caller.require(Scope::Read)?;
        let app = self.edge_application_for(caller, app).await?;
        let items = self.store.list_edge_rules(app.id).await?;
        Ok(Page {
            total: items.len() as u64,
            items,
            next_cursor: None,
        })
    }

    pub async fn get_edge_rule(&self, caller: &Caller, app: u64, id: u64) -> Result<EdgeRule> {
        caller.require(Scope::Read)?;
        let app = self.edge_application_for(caller, app).await?;
        Ok(self.store.get_edge_rule(app.id, id).await?)
    }

    /// Change the fields `patch` holds (a new `order` moves the rule); the next request sees it.
    pub async fn update_edge_rule(
        &self,
        caller: &Caller,
        app: u64,
        id: u64,
        patch: EdgeRulePatch,
    ) -> Result<EdgeRule> {
        let audit = Audit::new(gust_core::AuditAction::Update, "edge_rule").of(id);
        self.audited(caller, &audit, async {
            caller.require(Scope::Write)?;
            let app = self.edge_application_for(caller, app).await?;
            let mut rule = self.store.get_edge_rule(app.id, id).await?;
            patch.apply_to(&mut rule)?;
            self.store
                .update_edge_rule(&rule)
                .await
                .map_err(|e| missing_target(e, &rule))?;
            self.reload_edge_application(app.id).await?;
            Ok(rule)
        })
        .await
    }

    pub async fn delete_edge_rule(&self, caller: &Caller, app: u64, id: u64) -> Result<()> {
        let audit = Audit::new(gust_core::AuditAction::Delete, "edge_rule").of(id);
        self.audited(caller, &audit, async {
            caller.require(Scope::Write)?;
            let app = self.edge_application_for(caller, app).await?;
            self.store.delete_edge_rule(app.id, id).await?;
            self.reload_edge_application(app.id).await
        })
        .await
    }

    /// Create an edge domain in the namespace `ns`: its cnames route at once.
    pub async fn create_edge_domain(
        &self,
        caller: &Caller,
        ns: &str,
        spec: EdgeDomainSpec,
    ) -> Result<EdgeDomain> {
        let audit = Audit::new(gust_core::AuditAction::Create, "edge_domain").within(ns);
        self.audited(caller, &audit, async {
            caller.require(Scope::Write)?;
            caller.require_whole_namespace()?;
            let namespace = self.namespace_for(caller, ns).await?;
            audit.namespace_is(&namespace.id);
            let domain = spec.into_domain(&namespace.id)?;
            self.check_edge_domain(caller, &domain).await?;
            let mut domain = self
                .store
                .create_edge_domain(&domain)
                .await
                .map_err(cname_taken)?;
            self.live.edge.put_domain(&domain);
            self.decorate_edge_domain(&mut domain);
            Ok(domain)
        })
        .await
    }

    pub async fn list_edge_domains(
        &self,
        caller: &Caller,
        ns: Option<&str>,
        query: &ListQuery,
    ) -> Result<Page<EdgeDomain>> {
        caller.require(Scope::Read)?;
        caller.require_whole_namespace()?;
        query.validate()?;
        let namespace = self.edge_scope(caller, ns).await?;
        let scope = match &namespace {
            Some(id) => EdgeScope::Namespace(id),
            None => EdgeScope::All,
        };
        let mut page = self.store.list_edge_domains(scope, query).await?;
        page.items
            .iter_mut()
            .for_each(|d| self.decorate_edge_domain(d));
        Ok(page)
    }

    pub async fn get_edge_domain(&self, caller: &Caller, id: u64) -> Result<EdgeDomain> {
        caller.require(Scope::Read)?;
        let mut domain = self.edge_domain_for(caller, id).await?;
        self.decorate_edge_domain(&mut domain);
        Ok(domain)
    }

    /// Change the fields `patch` holds (cnames replaced as a whole); routing follows at once.
    pub async fn update_edge_domain(
        &self,
        caller: &Caller,
        id: u64,
        patch: EdgeDomainPatch,
    ) -> Result<EdgeDomain> {
        let audit = Audit::new(gust_core::AuditAction::Update, "edge_domain").of(id);
        self.audited(caller, &audit, async {
            caller.require(Scope::Write)?;
            let mut domain = self.edge_domain_for(caller, id).await?;
            patch.apply_to(&mut domain)?;
            self.check_edge_domain(caller, &domain).await?;
            self.store
                .update_edge_domain(&domain)
                .await
                .map_err(cname_taken)?;
            self.live.edge.put_domain(&domain);
            self.decorate_edge_domain(&mut domain);
            Ok(domain)
        })
        .await
    }

    pub async fn delete_edge_domain(&self, caller: &Caller, id: u64) -> Result<()> {
        let audit = Audit::new(gust_core::AuditAction::Delete, "edge_domain").of(id);
        self.audited(caller, &audit, async {
            caller.require(Scope::Write)?;
            self.edge_domain_for(caller, id).await?;
            self.store.delete_edge_domain(id).await?;
            self.live.edge.remove_domain(id);
            Ok(())
        })
        .await
    }

    /// A function by its integer serial, checking the caller may touch it.
    pub async fn function_by_serial(
        &self,
        caller: &Caller,
        serial: u64,
    ) -> Result<(Namespace, Function)> {
        let function = self.store.get_function_by_serial(serial).await?;
        self.function_for(caller, &function.namespace_id, &function.id)
            .await
    }

    /// 409 while an edge function instance runs the function.
    pub(crate) async fn refuse_if_edge_instances_run(&self, function: &Function) -> Result<()> {
        let counts = self
            .store
            .edge_instance_counts(Some(&function.namespace_id))
            .await?;
        match counts.iter().find(|(id, _)| *id == function.id) {
            Some((_, n)) if *n > 0 => Err(Error::conflict(format!(
                "{n} edge function instance(s) run function `{}`; delete them first",
                function.name
            ))),
            _ => Ok(()),
        }
    }

    /// Load every edge application and domain (at start).
    pub(crate) async fn load_edge(&self) -> Result<()> {
        for app in self.store.all_edge_applications().await? {
            self.reload_edge_application(app.id).await?;
        }
        self.reload_edge_domains().await
    }

    /// Route every stored edge domain, replacing what was routed.
    pub(crate) async fn reload_edge_domains(&self) -> Result<()> {
        let _one_at_a_time = self.live.edge.reloading.lock().await;
        let domains = self.store.all_edge_domains().await?;
        self.live.edge.clear_domains();
        for domain in &domains {
            self.live.edge.put_domain(domain);
        }
        Ok(())
    }

    /// Rebuild the in-memory entry of an application from the store (gone: dropped).
    pub(crate) async fn reload_edge_application(&self, id: u64) -> Result<()> {
        let _one_at_a_time = self.live.edge.reloading.lock().await;
        let app = match self.store.get_edge_application(id).await {
            Ok(app) => app,
            Err(StoreError::NotFound { .. }) => {
                self.live.edge.remove_app(id);
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let instances = self.store.all_edge_instances(id).await?;
        let rules = self.store.list_edge_rules(id).await?;
        self.live
            .edge
            .install(EdgeApp::compile(&app, &instances, &rules));
        Ok(())
    }

    /// The application `id`, checking the caller may touch its namespace (404 otherwise, as
    /// for a missing one).
    async fn edge_application_for(&self, caller: &Caller, id: u64) -> Result<EdgeApplication> {
        caller.require_whole_namespace()?;
        let app = self.store.get_edge_application(id).await?;
        caller.require_namespace(&app.namespace_id)?;
        Ok(app)
    }

    async fn edge_domain_for(&self, caller: &Caller, id: u64) -> Result<EdgeDomain> {
        caller.require_whole_namespace()?;
        let domain = self.store.get_edge_domain(id).await?;
        caller.require_namespace(&domain.namespace_id)?;
        Ok(domain)
    }

    /// The namespace a list is limited to: the one named, else the caller's own, else none.
    async fn edge_scope(&self, caller: &Caller, ns: Option<&str>) -> Result<Option<String>> {
        Ok(match (ns, caller.token.namespace_id.as_deref()) {
            (Some(ns), _) => Some(self.namespace_for(caller, ns).await?.id),
            (None, only) => only.map(str::to_string),
        })
    }

    /// The function an instance names: of the application's namespace, else 400 naming
    /// `function`.
    async fn instance_function(
        &self,
        app: &EdgeApplication,
        given: &FunctionRef,
    ) -> Result<Function> {
        let found = match given {
            FunctionRef::Serial(serial) => self
                .store
                .get_function_by_serial(*serial)
                .await
                .ok()
                .filter(|f| f.namespace_id == app.namespace_id),
            FunctionRef::Key(key) => self.store.get_function(&app.namespace_id, key).await.ok(),
        };
        found.ok_or_else(|| {
            let named = match given {
                FunctionRef::Serial(serial) => format!("serial {serial}"),
                FunctionRef::Key(key) => format!("`{key}`"),
            };
            Error::invalid(
                "function",
                format!(
                    "no function {named} in namespace `{}`, the application's",
                    app.namespace
                ),
            )
        })
    }

    /// The cnames are names this server does not answer to by itself, and the application
    /// is one the caller may touch, in the domain's namespace.
    async fn check_edge_domain(&self, caller: &Caller, domain: &EdgeDomain) -> Result<()> {
        for (i, cname) in domain.cnames.iter().enumerate() {
            self.check_hostname_is_free_to_claim(&format!("cnames[{i}]"), cname)?;
        }
        if let Some(app) = domain.edge_application_id {
            let found = self.store.get_edge_application(app).await.ok();
            let same_namespace = found.as_ref().is_some_and(|a| {
                a.namespace_id == domain.namespace_id
                    && caller.require_namespace(&a.namespace_id).is_ok()
            });
            if !same_namespace {
                return Err(Error::invalid(
                    "edge_application_id",
                    format!("no edge application {app} in the domain's namespace"),
                ));
            }
        }
        Ok(())
    }

    /// Fill the derived fields of an edge domain for a response.
    pub fn decorate_edge_domain(&self, domain: &mut EdgeDomain) {
        domain.domain_name = model::edge_domain_name(domain.id, self.live.functions_domain());
    }
}

/// The function of an instance was deleted meanwhile: the same 400 as when it never existed.
fn function_gone(e: StoreError) -> Error {
    match e {
        StoreError::NotFound {
            kind: "function",
            key,
        } => Error::invalid(
            "function",
            format!("no function `{key}` in the application's namespace"),
        ),
        other => other.into(),
    }
}

/// A rule naming an instance its application does not have: 400 naming that behavior's target.
fn missing_target(e: StoreError, rule: &EdgeRule) -> Error {
    match e {
        StoreError::NotFound {
            kind: "instance",
            key,
        } => {
            let field = rule
                .instance_targets()
                .into_iter()
                .find(|(_, id)| id.to_string() == key)
                .map_or_else(|| "behaviors".to_string(), |(field, _)| field);
            Error::invalid(
                field,
                format!(
                    "edge application {} has no function instance {key}",
                    rule.edge_application_id
                ),
            )
        }
        other => other.into(),
    }
}

/// A cname another domain holds: 409 naming `cnames`.
fn cname_taken(e: StoreError) -> Error {
    match e {
        StoreError::Conflict(message) => Error {
            field: Some("cnames".into()),
            ..Error::conflict(message)
        },
        StoreError::NotFound {
            kind: "edge application",
            key,
        } => Error::invalid(
            "edge_application_id",
            format!("no edge application {key} in the domain's namespace"),
        ),
        other => other.into(),
    }
}
