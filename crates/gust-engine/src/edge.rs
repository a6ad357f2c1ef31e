//! Edge applications ready to answer requests, in memory, so an edge request reads no store:
//! each application with its active rules compiled (regular expressions built once) in
//! evaluation order, and its function instances with their arguments already written as JSON
//! text. The edge operations rebuild an application's entry from the store after each change
//! to it, its instances or its rules; edge domains keep a host map in step the same way.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use gust_core::edge::{CompiledRule, EdgeRequest, RuleAction};
use gust_core::{EdgeApplication, EdgeDomain, EdgeRule, FunctionInstance};

/// An edge application as the invocation path reads it.
#[derive(Debug)]
pub struct EdgeApp {
    pub id: u64,
    pub namespace_id: String,
    pub active: bool,
    /// Whether its rules may run function instances.
    pub edge_functions: bool,
    /// Active rules in evaluation order.
    pub rules: Vec<CompiledRule>,
    pub instances: HashMap<u64, EdgeInstance>,
}

/// A function instance as the invocation path reads it.
#[derive(Debug)]
pub struct EdgeInstance {
    pub id: u64,
    pub function_id: String,
    /// The instance's `args`, as JSON text: shared by every request, never serialized again.
    pub args: Arc<str>,
}

/// How the first matching rule of an application answers a request.
pub struct Decision<'a> {
    pub rule: &'a CompiledRule,
    pub action: &'a RuleAction,
}

impl EdgeApp {
    /// Build the entry of `app` from what the store holds. A rule that no longer compiles
    /// (it was stored by another version) is left out and logged.
    pub fn compile(
        app: &EdgeApplication,
        instances: &[FunctionInstance],
        rules: &[EdgeRule],
    ) -> Self {
        let mut ordered: Vec<&EdgeRule> = rules.iter().filter(|r| r.active).collect();
        ordered.sort_by_key(|r| (r.order, r.id));
        let rules = ordered
            .into_iter()
            .filter_map(|rule| match rule.compile() {
                Ok(compiled) => Some(compiled),
                Err(e) => {
                    tracing::error!(application = app.id, rule = rule.id, error = %e, "edge rule left out");
                    None
                }
            })
            .collect();
        let instances = instances
            .iter()
            .map(|i| {
                let args = serde_json::to_string(&i.args).unwrap_or_else(|_| "{}".into());
                (
                    i.id,
                    EdgeInstance {
                        id: i.id,
                        function_id: i.function_id.clone(),
                        args: args.into(),
                    },
                )
            })
            .collect();
        Self {
            id: app.id,
            namespace_id: app.namespace_id.clone(),
            active: app.active,
            edge_functions: app.edge_functions,
            rules,
            instances,
        }
    }

    /// The first active rule, in order, whose criteria match; it answers with its action.
    pub fn decide(&self, request: &EdgeRequest<'_>) -> Option<Decision<'_>> {
        self.rules
            .iter()
            .find(|rule| rule.matches(request))
            .map(|rule| Decision {
                rule,
                action: &rule.action,
            })
    }
}

/// Where a host name of an edge domain leads.
#[derive(Clone)]
pub enum EdgeRoute {
    App(Arc<EdgeApp>),
    /// The domain is inactive, bound to no application, or its application is gone: why.
    Nowhere {
        host: String,
        why: String,
    },
}

/// What an edge domain routes, by its id.
#[derive(Debug, Clone)]
struct DomainRoute {
    cnames: Vec<String>,
    application: Option<u64>,
    active: bool,
}

#[derive(Default)]
struct Hosts {
    /// cname → domain id.
    by_name: HashMap<String, u64>,
    by_domain: HashMap<u64, DomainRoute>,
}

#[derive(Default)]
pub struct EdgeSet {
    apps: RwLock<HashMap<u64, Arc<EdgeApp>>>,
    hosts: RwLock<Hosts>,
    /// Whether any cname is routed, so a server without edge domains never takes `hosts`' lock.
    any_cnames: AtomicBool,
    /// Held while an entry is rebuilt from the store, so an older read never replaces a newer.
    pub(crate) reloading: tokio::sync::Mutex<()>,
}

impl EdgeSet {
    pub fn app(&self, id: u64) -> Option<Arc<EdgeApp>> {
        self.apps
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
    }

    pub fn install(&self, app: EdgeApp) {
        self.apps
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(app.id, Arc::new(app));
    }

    pub fn remove_app(&self, id: u64) {
        self.apps
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }

    /// Drop every application and domain of a namespace (it was deleted).
    pub fn remove_namespace(&self, namespace_id: &str) {
        self.apps
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, app| app.namespace_id != namespace_id);
    }

    /// Route an edge domain's cnames and generated name as it says (replacing what it had).
    pub fn put_domain(&self, domain: &EdgeDomain) {
        let mut hosts = self.hosts.write().unwrap_or_else(|p| p.into_inner());
        remove_domain_from(&mut hosts, domain.id);
        for cname in &domain.cnames {
            hosts.by_name.insert(cname.clone(), domain.id);
        }
        hosts.by_domain.insert(
            domain.id,
            DomainRoute {
                cnames: domain.cnames.clone(),
                application: domain.edge_application_id,
                active: domain.active,
            },
        );
        self.any_cnames
            .store(!hosts.by_name.is_empty(), Ordering::Release);
    }

    /// Forget every edge domain (before routing them all again).
    pub fn clear_domains(&self) {
        let mut hosts = self.hosts.write().unwrap_or_else(|p| p.into_inner());
        *hosts = Hosts::default();
        self.any_cnames.store(false, Ordering::Release);
    }

    pub fn remove_domain(&self, id: u64) {
        let mut hosts = self.hosts.write().unwrap_or_else(|p| p.into_inner());
        remove_domain_from(&mut hosts, id);
        self.any_cnames
            .store(!hosts.by_name.is_empty(), Ordering::Release);
    }

    /// Unbind domains from an application that was deleted.
    pub fn unbind_domains(&self, ids: &[u64]) {
        let mut hosts = self.hosts.write().unwrap_or_else(|p| p.into_inner());
        for id in ids {
            if let Some(route) = hosts.by_domain.get_mut(id) {
                route.application = None;
            }
        }
    }

    /// Where a host name leads when it is a cname of an edge domain (`None`: it is not).
    /// Costs one atomic load while no cname exists.
    pub fn route_cname(&self, host: &str) -> Option<EdgeRoute> {
        if !self.any_cnames.load(Ordering::Acquire) {
            return None;
        }
        let hosts = self.hosts.read().unwrap_or_else(|p| p.into_inner());
        let id = *hosts.by_name.get(host)?;
        Some(self.route_domain(&hosts, id, host))
    }

    /// Where the generated name of edge domain `id` leads (`None`: no such domain).
    pub fn route_generated(&self, id: u64, host: &str) -> Option<EdgeRoute> {
        let hosts = self.hosts.read().unwrap_or_else(|p| p.into_inner());
        hosts
            .by_domain
            .contains_key(&id)
            .then(|| self.route_domain(&hosts, id, host))
    }

    fn route_domain(&self, hosts: &Hosts, id: u64, host: &str) -> EdgeRoute {
        let nowhere = |why: String| EdgeRoute::Nowhere {
            host: host.to_string(),
            why,
        };
        let Some(route) = hosts.by_domain.get(&id) else {
            return nowhere(format!("edge domain {id} does not exist"));
        };
        if !route.active {
            return nowhere(format!("edge domain {id} is inactive"));
        }
        let Some(app) = route.application else {
            return nowhere(format!("edge domain {id} is bound to no edge application"));
        };
        match self.app(app) {
            Some(app) => EdgeRoute::App(app),
            None => nowhere(format!("edge application {app} does not exist")),
        }
    }
}

fn remove_domain_from(hosts: &mut Hosts, id: u64) {
    if let Some(old) = hosts.by_domain.remove(&id) {
        for cname in old.cnames {
            if hosts.by_name.get(&cname) == Some(&id) {
                hosts.by_name.remove(&cname);
            }
        }
    }
}
