//! Administration: the master key's rotation and the audit log. Admin tokens only.

use gust_core::{AuditAction, AuditEntry, AuditQuery, Page, Scope};

use crate::Engine;
use crate::audit::Audit;
use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::keys::Rotation;

impl Engine {
    /// Reseal every secret under a new master key, while the server serves (see `keys`).
    /// 409 while another rotation runs.
    pub async fn rotate_master_key(&self, caller: &Caller) -> Result<Rotation> {
        let audit = Audit::new(AuditAction::RotateKey, "master_key");
        self.audited(caller, &audit, async {
            caller.require(Scope::Admin)?;
            let _one = self
                .rotation
                .try_lock()
                .map_err(|_| Error::conflict("a master key rotation is already running"))?;
            let rotation = crate::keys::rotate(&*self.store, &self.key_file)
                .await
                .map_err(|e| Error::internal(format!("{e:#}")))?;
            audit.resolved(rotation.key_id, None);
            tracing::info!(key = rotation.key_id, retired = ?rotation.retired, resealed = rotation.resealed, "master key rotated");
            Ok(rotation)
        })
        .await
    }

    /// The audit log, newest first. Entries recorded before the call are in it.
    pub async fn list_audit(
        &self,
        caller: &Caller,
        query: &AuditQuery,
    ) -> Result<Page<AuditEntry>> {
        caller.require(Scope::Admin)?;
        query.validate()?;
        self.audit.flush().await;
        Ok(self.store.list_audit(query).await?)
    }
}

impl crate::audit::Audited for Rotation {
    fn audit_ids(&self) -> Option<(String, Option<String>)> {
        Some((self.key_id.to_string(), None))
    }
}
