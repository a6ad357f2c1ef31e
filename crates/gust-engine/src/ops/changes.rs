//! Change notices: bring the in-memory sets (live functions and versions, aliases, tokens,
//! triggers, custom domains, edge applications and domains) in line with the store for one resource, named by id, when the
//! change was made somewhere else (another node, a tool writing the store) and no operation
//! of this engine saw it.

use gust_core::{ListQuery, TriggerOrigin};
use gust_store::StoreError;

use crate::Engine;
use crate::error::Result;

/// What changed in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeNotice {
    /// A namespace's env or secrets: its functions are loaded again.
    Namespace { id: String },
    /// A function's configuration or state (active deployment), or its removal.
    Function { id: String },
    /// The triggers of a function.
    Triggers { function_id: String },
    /// The custom domains of a function.
    Domains { function_id: String },
    /// Any token.
    Tokens,
    /// The versions of a function: those loaded are dropped, to load again on their next use.
    Versions { function_id: String },
    /// Any alias.
    Aliases,
    /// An edge application, its instances or its rules (gone: dropped).
    EdgeApplication { id: u64 },
    /// Any edge domain.
    EdgeDomains,
}

impl Engine {
    /// Refresh what this engine holds in memory about the resource a notice names.
    pub async fn apply_change(&self, notice: &ChangeNotice) -> Result<()> {
        match notice {
            ChangeNotice::Namespace { id } => match self.store.get_namespace(id).await {
                Ok(namespace) => self.live.sync_namespace(&namespace).await,
                // Its functions went with it; their own notices remove them.
                Err(StoreError::NotFound { .. }) => Ok(()),
                Err(e) => Err(e.into()),
            },
            ChangeNotice::Function { id } => match self.store.get_function_by_id(id).await {
                Ok(function) => {
                    self.live.sync(&function).await?;
                    self.reload_triggers(id).await
                }
                Err(StoreError::NotFound { .. }) => {
                    self.live.remove(id);
                    self.live.remove_versions(id).await;
                    self.triggers.remove_function(id);
                    self.live.replace_domains(id, &[]);
                    Ok(())
                }
                Err(e) => Err(e.into()),
            },
            ChangeNotice::Triggers { function_id } => self.reload_triggers(function_id).await,
            ChangeNotice::Domains { function_id } => self.reload_domains(function_id).await,
            ChangeNotice::Tokens => {
                self.tokens.reload(self.store.all_tokens().await?);
                Ok(())
            }
            ChangeNotice::Versions { function_id } => {
                self.live.remove_versions(function_id).await;
                Ok(())
            }
            ChangeNotice::EdgeApplication { id } => self.reload_edge_application(*id).await,
            ChangeNotice::EdgeDomains => self.reload_edge_domains().await,
            ChangeNotice::Aliases => {
                self.live
                    .load_aliases(&self.store.all_aliases().await?)
                    .await;
                Ok(())
            }
        }
    }

    async fn reload_triggers(&self, function_id: &str) -> Result<()> {
        let query = ListQuery {
            limit: Some(gust_core::list::MAX_LIMIT),
            ..Default::default()
        };
        let stored = self.store.list_triggers(function_id, &query).await?.items;
        for origin in [TriggerOrigin::Api, TriggerOrigin::Function] {
            let of_origin: Vec<_> = stored
                .iter()
                .filter(|t| t.origin == origin)
                .cloned()
                .collect();
            self.triggers.replace(function_id, origin, &of_origin);
        }
        Ok(())
    }
}
