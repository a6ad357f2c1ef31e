//! Cron and event triggers. The store is written first, then the in-memory set the scheduler
//! and the event router read.

use gust_core::{
    FunctionTrigger, ListQuery, Page, Scope, TriggerOrigin, TriggerPatch, TriggerSpec,
};

use crate::Engine;
use crate::audit::Audit;
use crate::auth::Caller;
use crate::error::{Error, Result};

impl Engine {
    pub async fn list_triggers(
        &self,
        caller: &Caller,
        ns: &str,
        f: &str,
        query: &ListQuery,
    ) -> Result<Page<FunctionTrigger>> {
        caller.require(Scope::Read)?;
        query.validate()?;
        let (_, function) = self.function_for(caller, ns, f).await?;
        Ok(self.store.list_triggers(&function.id, query).await?)
    }

    pub async fn create_trigger(
        &self,
        caller: &Caller,
        ns: &str,
        f: &str,
        spec: TriggerSpec,
    ) -> Result<FunctionTrigger> {
        let audit = Audit::new(gust_core::AuditAction::Create, "trigger").within(ns);
        self.audited(caller, &audit, async {
            caller.require(Scope::Write)?;
            let (namespace, function) = self.function_for(caller, ns, f).await?;
            audit.namespace_is(&function.namespace_id);
            let trigger = spec.into_trigger(&namespace.id, &function.id, TriggerOrigin::Api)?;
            self.store.create_trigger(&trigger).await?;
            self.triggers.put(trigger.clone());
            Ok(trigger)
        })
        .await
    }

    pub async fn get_trigger(
        &self,
        caller: &Caller,
        ns: &str,
        f: &str,
        id: &str,
    ) -> Result<FunctionTrigger> {
        caller.require(Scope::Read)?;
        let (_, function) = self.function_for(caller, ns, f).await?;
        Ok(self.store.get_trigger(&function.id, id).await?)
    }

    /// Change a trigger's name, description, labels or kind-specific fields (not its kind);
    /// pause, resume or cancel a cron trigger. Triggers kept in step with a function field
    /// change through that field; a done or cancelled trigger does not change (409).
    pub async fn update_trigger(
        &self,
        caller: &Caller,
        ns: &str,
        f: &str,
        id: &str,
        patch: TriggerPatch,
    ) -> Result<FunctionTrigger> {
        let audit = Audit::new(gust_core::AuditAction::Update, "trigger")
            .of(id)
            .within(ns);
        self.audited(caller, &audit, async {
        caller.require(Scope::Write)?;
        let (_, function) = self.function_for(caller, ns, f).await?;
        audit.namespace_is(&function.namespace_id);
        let _editing = self.triggers.edits.lock().await;
        let mut trigger = self.store.get_trigger(&function.id, id).await?;
        if trigger.origin == TriggerOrigin::Function {
            return Err(Error::conflict(format!(
                "trigger {id} follows the function's `schedule` or `events` field; change that field instead"
            )));
        }
        if trigger.status.is_final() {
            return Err(Error::conflict(format!(
                "trigger {id} is {} and cannot change or resume; create a new trigger",
                trigger.status.as_str()
            )));
        }
        patch.apply_to(&mut trigger)?;
        self.store.update_trigger(&trigger).await?;
        self.triggers.put(trigger.clone());
        Ok(trigger)
    })
        .await
    }

    pub async fn delete_trigger(&self, caller: &Caller, ns: &str, f: &str, id: &str) -> Result<()> {
        let audit = Audit::new(gust_core::AuditAction::Delete, "trigger")
            .of(id)
            .within(ns);
        self.audited(caller, &audit, async {
            caller.require(Scope::Write)?;
            let (_, function) = self.function_for(caller, ns, f).await?;
            audit.namespace_is(&function.namespace_id);
            let trigger = self.store.get_trigger(&function.id, id).await?;
            if trigger.origin == TriggerOrigin::Function {
                return Err(Error::conflict(format!(
                    "trigger {id} comes from the function's `schedule` or `events` field; \
                 change that field instead (PATCH the function)"
                )));
            }
            self.store.delete_trigger(&trigger.id).await?;
            self.triggers.remove(&trigger.id);
            Ok(())
        })
        .await
    }
}
