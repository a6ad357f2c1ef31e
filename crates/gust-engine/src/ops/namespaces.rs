//! Namespaces: a function's home, with the env and secrets its functions share.

use gust_core::{ListQuery, Namespace, NamespacePatch, NamespaceSpec, Page, Scope};

use crate::Engine;
use crate::audit::Audit;
use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::jobs::events::Change;

impl Engine {
    pub async fn list_namespaces(
        &self,
        caller: &Caller,
        query: &ListQuery,
    ) -> Result<Page<Namespace>> {
        caller.require(Scope::Read)?;
        query.validate()?;
        Ok(self
            .store
            .list_namespaces(query, caller.token.namespace_id.as_deref())
            .await?)
    }

    pub async fn create_namespace(
        &self,
        caller: &Caller,
        spec: NamespaceSpec,
    ) -> Result<Namespace> {
        let audit = Audit::new(gust_core::AuditAction::Create, "namespace");
        self.audited(caller, &audit, async {
            caller.require(Scope::Admin)?;
            let ns = spec.into_new_namespace()?;
            self.store.create_namespace(&ns).await?;
            self.emit_namespace(&ns, Change::Create);
            Ok(ns)
        })
        .await
    }

    pub async fn get_namespace(&self, caller: &Caller, key: &str) -> Result<Namespace> {
        caller.require(Scope::Read)?;
        self.namespace_for(caller, key).await
    }

    /// Apply `patch`; the functions of the namespace pick up its new env and secrets.
    pub async fn update_namespace(
        &self,
        caller: &Caller,
        key: &str,
        patch: NamespacePatch,
    ) -> Result<Namespace> {
        let audit = Audit::new(gust_core::AuditAction::Update, "namespace").of(key);
        self.audited(caller, &audit, async {
            caller.require(Scope::Write)?;
            caller.require_whole_namespace()?;
            let mut namespace = self.namespace_for(caller, key).await?;
            audit.namespace_is(&namespace.id);
            patch.apply_to(&mut namespace)?;
            self.store.update_namespace(&namespace).await?;
            self.live.sync_namespace(&namespace).await?;
            self.emit_namespace(&namespace, Change::Update);
            Ok(namespace)
        })
        .await
    }

    /// Set one secret of a namespace (`Some`) or remove it (`None`), leaving the others as
    /// they are (see [`Engine::set_function_secret`]).
    pub async fn set_namespace_secret(
        &self,
        caller: &Caller,
        ns: &str,
        key: &str,
        value: Option<String>,
    ) -> Result<Namespace> {
        let audit = Audit::new(gust_core::AuditAction::Update, "namespace").of(ns);
        self.audited(caller, &audit, async {
            caller.require(Scope::Write)?;
            caller.require_whole_namespace()?;
            let namespace = self.namespace_for(caller, ns).await?;
            audit.namespace_is(&namespace.id);
            super::functions::check_secret(key, value.as_deref())?;
            self.store
                .set_namespace_secret(&namespace.id, key, value.as_deref(), gust_core::now())
                .await?;
            let namespace = self.store.get_namespace(&namespace.id).await?;
            self.live.sync_namespace(&namespace).await?;
            self.emit_namespace(&namespace, Change::Update);
            Ok(namespace)
        })
        .await
    }

    pub async fn delete_namespace(&self, caller: &Caller, key: &str) -> Result<()> {
        let audit = Audit::new(gust_core::AuditAction::Delete, "namespace").of(key);
        self.audited(caller, &audit, async {
            caller.require(Scope::Admin)?;
            let namespace = self.namespace_for(caller, key).await?;
            audit.resolved(&namespace.id, Some(&namespace.id));
            if namespace.name == gust_core::DEFAULT_NAMESPACE {
                return Err(Error::conflict("the default namespace cannot be deleted"));
            }
            self.store.delete_namespace(&namespace.id).await?;
            // Its edge applications and domains went with it.
            self.live.edge.remove_namespace(&namespace.id);
            self.reload_edge_domains().await?;
            self.emit_namespace(&namespace, Change::Delete);
            Ok(())
        })
        .await
    }

    /// `namespaces.{id}.{change}`, with the namespace as it is now (secrets masked).
    fn emit_namespace(&self, namespace: &Namespace, change: Change) {
        self.events.resource(
            &namespace.id,
            &format!("namespaces.{}", namespace.id),
            change,
            || serde_json::to_value(namespace).unwrap_or_default(),
        );
    }
}
