//! Versions and aliases of functions. A version snapshots a function's active deployment and
//! configuration (at most [`MAX_VERSIONS`] per function, and only when the code changed since
//! the latest one); an alias names a function and one of its versions within a namespace. The
//! store is written first, then the live set: a deleted version stops serving at once, an
//! alias routes as soon as it exists.

use std::path::PathBuf;

use gust_core::version::{self, MAX_VERSIONS};
use gust_core::{
    Alias, AliasPatch, AliasSpec, Deployment, Function, FunctionVersion, ListQuery, Page, Scope,
    VersionSpec,
};
use gust_store::StoreError;

use crate::Engine;
use crate::audit::Audit;
use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::jobs::events::Change;
use crate::ops::NO_CODE;

/// The 404 of a version a function does not have.
fn no_such_version(function: &Function, number: u32) -> Error {
    Error::not_found_of(
        "version",
        format!("function `{}` has no version {number}", function.name),
    )
}

/// The 404 of an alias a namespace does not have.
fn no_such_alias(namespace: &str, name: &str) -> Error {
    Error::not_found_of(
        "alias",
        format!("no alias `{name}` in namespace `{namespace}`"),
    )
}

impl Engine {
    /// Snapshot the function's active deployment and configuration as its next version.
    /// 409 `no_code` without an active deployment; 409 when the code is the latest version's,
    /// or the function already has [`MAX_VERSIONS`].
    pub async fn create_version(
        &self,
        caller: &Caller,
        ns: &str,
        f: &str,
        spec: VersionSpec,
    ) -> Result<FunctionVersion> {
        let audit = Audit::new(gust_core::AuditAction::Create, "version").within(ns);
        self.audited(caller, &audit, async {
        caller.require(Scope::Write)?;
        let (_, function) = self.function_for(caller, ns, f).await?;
        audit.namespace_is(&function.namespace_id);
        let Some(active) = function.active_deployment.as_deref() else {
            return Err(Error::new(
                http::StatusCode::CONFLICT,
                NO_CODE,
                format!(
                    "function `{}` has no active deployment to make a version of; deploy code first",
                    function.name
                ),
            ));
        };
        let deployment = self.store.get_deployment(&function.id, active).await?;
        let versions = self.store.list_versions(&function.id).await?;
        if let Some(latest) = versions.last()
            && latest.sha256 == deployment.sha256
        {
            return Err(Error::conflict(format!(
                "the code of function `{}` is unchanged since version {}; deploy new code \
                 before making a version",
                function.name, latest.number
            )));
        }
        let new = spec.into_version(&function, 0, &deployment.id, &deployment.sha256)?;
        let made = self
            .store
            .create_version(&new, MAX_VERSIONS)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => Error::conflict(format!(
                    "function `{}` already has {MAX_VERSIONS} versions, the most a function may \
                     have; delete one first",
                    function.name
                )),
                other => other.into(),
            })?;
        self.emit_version(&made, Change::Create);
        Ok(made)
    })
        .await
    }

    /// Every version of a function, lowest number first (at most [`MAX_VERSIONS`], one page).
    pub async fn list_versions(
        &self,
        caller: &Caller,
        ns: &str,
        f: &str,
    ) -> Result<Page<FunctionVersion>> {
        caller.require(Scope::Read)?;
        let (_, function) = self.function_for(caller, ns, f).await?;
        let items = self.store.list_versions(&function.id).await?;
        Ok(Page {
            total: items.len() as u64,
            items,
            next_cursor: None,
        })
    }

    pub async fn get_version(
        &self,
        caller: &Caller,
        ns: &str,
        f: &str,
        number: u32,
    ) -> Result<FunctionVersion> {
        caller.require(Scope::Read)?;
        let (_, function) = self.function_for(caller, ns, f).await?;
        self.version_of(&function, number).await
    }

    /// A version's package and the file holding it, byte for byte as uploaded.
    pub async fn version_code(
        &self,
        caller: &Caller,
        ns: &str,
        f: &str,
        number: u32,
    ) -> Result<(Deployment, PathBuf)> {
        let version = self.get_version(caller, ns, f, number).await?;
        self.deployment_code(caller, ns, f, &version.deployment_id)
            .await
    }

    /// Delete a version (409 naming the alias while one points at it); it stops serving at
    /// once, its workers finishing what they run.
    pub async fn delete_version(
        &self,
        caller: &Caller,
        ns: &str,
        f: &str,
        number: u32,
    ) -> Result<()> {
        let audit = Audit::new(gust_core::AuditAction::Delete, "version")
            .of(format!("{f}:{number}"))
            .within(ns);
        self.audited(caller, &audit, async {
            caller.require(Scope::Write)?;
            let (_, function) = self.function_for(caller, ns, f).await?;
            audit.namespace_is(&function.namespace_id);
            let version = self.version_of(&function, number).await?;
            self.store.delete_version(&function.id, number).await?;
            self.live.remove_version(&function.id, number).await;
            self.emit_version(&version, Change::Delete);
            Ok(())
        })
        .await
    }

    async fn version_of(&self, function: &Function, number: u32) -> Result<FunctionVersion> {
        match self.store.get_version(&function.id, number).await {
            Ok(version) => Ok(version),
            Err(StoreError::NotFound { .. }) => Err(no_such_version(function, number)),
            Err(e) => Err(e.into()),
        }
    }

    /// `functions.{id}.versions.{number}.{change}`.
    fn emit_version(&self, version: &FunctionVersion, change: Change) {
        self.events.resource(
            &version.namespace_id,
            &format!(
                "functions.{}.versions.{}",
                version.function_id, version.number
            ),
            change,
            || serde_json::to_value(version).unwrap_or_default(),
        );
    }

    /// Name a function and one of its versions (none: its current configuration) in a
    /// namespace; `/fn/{ns}/{fn}:{alias}/…` runs it from now on.
    pub async fn create_alias(&self, caller: &Caller, ns: &str, spec: AliasSpec) -> Result<Alias> {
        let audit = Audit::new(gust_core::AuditAction::Create, "alias").within(ns);
        self.audited(caller, &audit, async {
            caller.require(Scope::Write)?;
            // The name first: a bad one is refused whatever else is wrong.
            let name = spec
                .name
                .as_deref()
                .ok_or_else(|| Error::invalid("name", "is required"))?;
            version::alias_name("name", name)?;
            let function_key = spec
                .function
                .clone()
                .ok_or_else(|| Error::invalid("function", "is required: the function it runs"))?;
            let (namespace, function) = self.function_for(caller, ns, &function_key).await?;
            if let Some(number) = version::version_number(spec.version) {
                self.version_of(&function, number).await?;
            }
            let alias = spec.into_alias(&function)?;
            self.store
                .create_alias(&alias)
                .await
                .map_err(|e| alias_write_error(e, &function, alias.version))?;
            self.live.put_alias(&alias, &namespace.name, &function.name);
            Ok(alias)
        })
        .await
    }

    /// The aliases of a namespace, or of one function (`function`: its name or id).
    pub async fn list_aliases(
        &self,
        caller: &Caller,
        ns: &str,
        function: Option<&str>,
        query: &ListQuery,
    ) -> Result<Page<Alias>> {
        caller.require(Scope::Read)?;
        query.validate()?;
        let (namespace, function_id) = match function {
            Some(f) => {
                let (namespace, function) = self.function_for(caller, ns, f).await?;
                (namespace, Some(function.id))
            }
            None => {
                caller.require_whole_namespace()?;
                (self.namespace_for(caller, ns).await?, None)
            }
        };
        Ok(self
            .store
            .list_aliases(&namespace.id, function_id.as_deref(), query)
            .await?)
    }

    pub async fn get_alias(&self, caller: &Caller, ns: &str, name: &str) -> Result<Alias> {
        caller.require(Scope::Read)?;
        self.alias_for(caller, ns, name).await
    }

    /// Change an alias's description, or move it to another version or function (`version`
    /// 0: the function's current configuration).
    pub async fn update_alias(
        &self,
        caller: &Caller,
        ns: &str,
        name: &str,
        patch: AliasPatch,
    ) -> Result<Alias> {
        let audit = Audit::new(gust_core::AuditAction::Update, "alias")
            .of(name)
            .within(ns);
        self.audited(caller, &audit, async {
            caller.require(Scope::Write)?;
            let mut alias = self.alias_for(caller, ns, name).await?;
            let (namespace, function) = match &patch.function {
                Some(f) => self.function_for(caller, ns, f).await?,
                None => {
                    self.function_for(caller, &alias.namespace_id, &alias.function_id)
                        .await?
                }
            };
            let moved_to = patch.function.is_some().then_some(&function);
            patch.apply_to(&mut alias, moved_to)?;
            if let Some(number) = alias.version {
                self.version_of(&function, number).await?;
            }
            self.store
                .update_alias(&alias)
                .await
                .map_err(|e| alias_write_error(e, &function, alias.version))?;
            self.live.put_alias(&alias, &namespace.name, &function.name);
            Ok(alias)
        })
        .await
    }

    /// Delete an alias: its name stops routing at once.
    pub async fn delete_alias(&self, caller: &Caller, ns: &str, name: &str) -> Result<()> {
        let audit = Audit::new(gust_core::AuditAction::Delete, "alias")
            .of(name)
            .within(ns);
        self.audited(caller, &audit, async {
            caller.require(Scope::Write)?;
            let alias = self.alias_for(caller, ns, name).await?;
            self.store.delete_alias(&alias.id).await?;
            self.live.remove_alias(&alias.namespace_id, &alias.name);
            Ok(())
        })
        .await
    }

    async fn alias_for(&self, caller: &Caller, ns: &str, name: &str) -> Result<Alias> {
        let namespace = self.namespace_for(caller, ns).await?;
        let alias = match self.store.get_alias(&namespace.id, name).await {
            Ok(alias) => alias,
            Err(StoreError::NotFound { .. }) => return Err(no_such_alias(&namespace.name, name)),
            Err(e) => return Err(e.into()),
        };
        caller.require_function(&alias.function_id)?;
        Ok(alias)
    }

    /// 409 naming the alias while one points at the function (it would point at nothing).
    pub(crate) async fn refuse_if_aliased(&self, function: &Function) -> Result<()> {
        let one = ListQuery {
            limit: Some(1),
            ..Default::default()
        };
        let page = self
            .store
            .list_aliases(&function.namespace_id, Some(&function.id), &one)
            .await?;
        if let Some(alias) = page.items.first() {
            return Err(Error::conflict(format!(
                "the alias `{}` points at function `{}`{}; move or delete it first",
                alias.name,
                function.name,
                match page.total {
                    1 => String::new(),
                    n => format!(" (and {} more)", n - 1),
                }
            )));
        }
        Ok(())
    }

    /// 409 naming the version while one runs the deployment.
    pub(crate) async fn refuse_if_versioned(
        &self,
        function: &Function,
        deployment_id: &str,
    ) -> Result<()> {
        let numbers = self
            .store
            .versions_of_deployment(&function.id, deployment_id)
            .await?;
        if let Some(first) = numbers.first() {
            let more = match numbers.len() {
                1 => String::new(),
                n => format!(" (and {} more)", n - 1),
            };
            return Err(Error::conflict(format!(
                "version {first}{more} of function `{}` runs this deployment; delete the \
                 version first",
                function.name
            )));
        }
        Ok(())
    }
}

/// A store refusal of an alias write, in a client's terms: the name taken (409 on `name`), or
/// the version gone meanwhile (404).
fn alias_write_error(e: StoreError, function: &Function, version: Option<u32>) -> Error {
    match e {
        StoreError::Conflict(message) => Error {
            field: Some("name".into()),
            ..Error::conflict(message)
        },
        StoreError::NotFound {
            kind: "version", ..
        } => no_such_version(function, version.unwrap_or_default()),
        other => other.into(),
    }
}
