//! Custom domains: host names that run a function, beside its generated domain name. The store
//! is written first (its unique index decides who gets a host name), then the host map the
//! invocation path reads.

use gust_core::domain::{self, MAX_DOMAINS_PER_FUNCTION};
use gust_core::{Domain, DomainSpec, ListQuery, Page, Scope};
use gust_store::DomainScope;

use crate::Engine;
use crate::audit::Audit;
use crate::auth::Caller;
use crate::error::{Error, Result};

impl Engine {
    /// Add a custom domain to a function; requests whose host is `spec.hostname` run it.
    pub async fn create_domain(
        &self,
        caller: &Caller,
        ns: &str,
        f: &str,
        spec: DomainSpec,
    ) -> Result<Domain> {
        let audit = Audit::new(gust_core::AuditAction::Create, "domain").within(ns);
        self.audited(caller, &audit, async {
            caller.require(Scope::Write)?;
            let (namespace, function) = self.function_for(caller, ns, f).await?;
            audit.namespace_is(&function.namespace_id);
            let mut domain = spec.into_domain(&namespace.id, &function.id)?;
            self.check_hostname_is_free_to_claim("hostname", &domain.hostname)?;
            let held = self
                .store
                .list_domains(DomainScope::Function(&function.id), &one_item())
                .await?
                .total;
            if held >= u64::from(MAX_DOMAINS_PER_FUNCTION) {
                return Err(Error::invalid(
                    "hostname",
                    format!(
                        "function `{}` already has {MAX_DOMAINS_PER_FUNCTION} custom domains, \
                     the most it may have; delete one first",
                        function.name
                    ),
                ));
            }
            self.store.create_domain(&domain).await.map_err(|e| {
                let e = Error::from(e);
                // The unique index refused the host name: say which field that was.
                if e.status == http::StatusCode::CONFLICT {
                    Error {
                        field: Some("hostname".into()),
                        ..e
                    }
                } else {
                    e
                }
            })?;
            self.live.put_domain(&domain);
            self.decorate_domain(&mut domain);
            Ok(domain)
        })
        .await
    }

    /// The custom domains of a function.
    pub async fn list_domains(
        &self,
        caller: &Caller,
        ns: &str,
        f: &str,
        query: &ListQuery,
    ) -> Result<Page<Domain>> {
        caller.require(Scope::Read)?;
        query.validate()?;
        let (_, function) = self.function_for(caller, ns, f).await?;
        let page = self
            .store
            .list_domains(DomainScope::Function(&function.id), query)
            .await?;
        Ok(self.decorate_domains(page))
    }

    /// The custom domains of every function of a namespace (`Some`), or of the server (`None`;
    /// a token limited to one namespace sees that namespace's).
    pub async fn list_all_domains(
        &self,
        caller: &Caller,
        ns: Option<&str>,
        query: &ListQuery,
    ) -> Result<Page<Domain>> {
        caller.require(Scope::Read)?;
        query.validate()?;
        let namespace = match (ns, caller.token.namespace_id.as_deref()) {
            (Some(ns), _) => Some(self.namespace_for(caller, ns).await?.id),
            (None, only) => only.map(str::to_string),
        };
        let scope = match &namespace {
            Some(id) => DomainScope::Namespace(id),
            None => DomainScope::All,
        };
        let page = self.store.list_domains(scope, query).await?;
        Ok(self.decorate_domains(page))
    }

    /// A custom domain by id, whichever function it belongs to.
    pub async fn get_domain(&self, caller: &Caller, id: &str) -> Result<Domain> {
        caller.require(Scope::Read)?;
        let mut domain = self.store.get_domain(id).await?;
        caller.require_namespace(&domain.namespace_id)?;
        self.decorate_domain(&mut domain);
        Ok(domain)
    }

    /// Remove a custom domain by id: its host name stops routing at once.
    pub async fn delete_domain(&self, caller: &Caller, id: &str) -> Result<()> {
        let audit = Audit::new(gust_core::AuditAction::Delete, "domain").of(id);
        self.audited(caller, &audit, async {
            caller.require(Scope::Write)?;
            let domain = self.store.get_domain(id).await?;
            caller.require_namespace(&domain.namespace_id)?;
            self.remove_domain(&domain).await
        })
        .await
    }

    /// A custom domain of the function `ns/f` (404 when it belongs to another).
    pub async fn get_function_domain(
        &self,
        caller: &Caller,
        ns: &str,
        f: &str,
        id: &str,
    ) -> Result<Domain> {
        caller.require(Scope::Read)?;
        let mut domain = self.domain_of(caller, ns, f, id).await?;
        self.decorate_domain(&mut domain);
        Ok(domain)
    }

    /// Remove a custom domain of the function `ns/f` (404 when it belongs to another).
    pub async fn delete_function_domain(
        &self,
        caller: &Caller,
        ns: &str,
        f: &str,
        id: &str,
    ) -> Result<()> {
        let audit = Audit::new(gust_core::AuditAction::Delete, "domain")
            .of(id)
            .within(ns);
        self.audited(caller, &audit, async {
            caller.require(Scope::Write)?;
            let domain = self.domain_of(caller, ns, f, id).await?;
            self.remove_domain(&domain).await
        })
        .await
    }

    async fn domain_of(&self, caller: &Caller, ns: &str, f: &str, id: &str) -> Result<Domain> {
        let (_, function) = self.function_for(caller, ns, f).await?;
        let domain = self.store.get_domain(id).await?;
        if domain.function_id != function.id {
            return Err(Error {
                resource: Some("domain"),
                ..Error::not_found(format!("domain `{id}` not found"))
            });
        }
        Ok(domain)
    }

    async fn remove_domain(&self, domain: &Domain) -> Result<()> {
        self.store.delete_domain(&domain.id).await?;
        self.live.remove_domain(&domain.hostname);
        Ok(())
    }

    /// Reload the host map's entries of one function from the store.
    pub(crate) async fn reload_domains(&self, function_id: &str) -> Result<()> {
        let query = ListQuery {
            limit: Some(gust_core::list::MAX_LIMIT),
            ..Default::default()
        };
        let domains = self
            .store
            .list_domains(DomainScope::Function(function_id), &query)
            .await?
            .items;
        self.live.replace_domains(function_id, &domains);
        Ok(())
    }

    /// 400 on a host name this server already answers to by itself: a generated name (under
    /// the functions domain) or the host of its own URL.
    pub(crate) fn check_hostname_is_free_to_claim(
        &self,
        field: &str,
        hostname: &str,
    ) -> Result<()> {
        let base = self.live.functions_domain();
        if domain::is_under(hostname, base) {
            return Err(Error::invalid(
                field,
                format!(
                    "`{hostname}` is under the functions domain `{base}`, whose names are \
                     generated (<function>.<namespace>.{base}); choose a name outside it"
                ),
            ));
        }
        if own_host(self.base_url()).is_some_and(|own| own.eq_ignore_ascii_case(hostname)) {
            return Err(Error::invalid(
                field,
                format!("`{hostname}` is this server's own address"),
            ));
        }
        Ok(())
    }

    /// Fill the derived fields of a domain for a response.
    pub fn decorate_domain(&self, domain: &mut Domain) {
        domain.url = match self.listen_port.get() {
            Some(port) if *port != 80 => format!("http://{}:{port}", domain.hostname),
            _ => format!("http://{}", domain.hostname),
        };
    }

    fn decorate_domains(&self, mut page: Page<Domain>) -> Page<Domain> {
        page.items.iter_mut().for_each(|d| self.decorate_domain(d));
        page
    }
}

/// A page of one: only its total is read.
fn one_item() -> ListQuery {
    ListQuery {
        limit: Some(1),
        ..Default::default()
    }
}

/// The host of a URL such as `https://fn.example.com:8443/base`.
fn own_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    };
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_own_host_is_read_from_the_url() {
        assert_eq!(
            super::own_host("https://fn.example.com:8443/x"),
            Some("fn.example.com")
        );
        assert_eq!(super::own_host("http://127.0.0.1:8080"), Some("127.0.0.1"));
        assert_eq!(super::own_host(""), None);
    }
}
