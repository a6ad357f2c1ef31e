//! Saved test requests of a function: a small resource of the function (a name unique per
//! function, at most [`MAX_TEST_REQUESTS`]), deleted with it. Saving and deleting are
//! audited like any change. Running one is invoking the
//! function with it, through any front door.

use gust_core::{MAX_TEST_REQUESTS, Scope, TestRequest, TestRequestSpec};

use crate::Engine;
use crate::audit::Audit;
use crate::auth::Caller;
use crate::error::Result;

impl Engine {
    /// The test requests of `ns/function`, by name.
    pub async fn list_test_requests(
        &self,
        caller: &Caller,
        ns: &str,
        function: &str,
    ) -> Result<Vec<TestRequest>> {
        caller.require(Scope::Read)?;
        let (_, function) = self.function_for(caller, ns, function).await?;
        Ok(self.store.list_test_requests(&function.id).await?)
    }

    pub async fn get_test_request(
        &self,
        caller: &Caller,
        ns: &str,
        function: &str,
        name: &str,
    ) -> Result<TestRequest> {
        caller.require(Scope::Read)?;
        let (_, function) = self.function_for(caller, ns, function).await?;
        Ok(self.store.get_test_request(&function.id, name).await?)
    }

    /// Save a test request under its name, replacing one of that name (which keeps its
    /// `created_at`). 409 when a new name would take the function past 50.
    pub async fn put_test_request(
        &self,
        caller: &Caller,
        ns: &str,
        function: &str,
        spec: TestRequestSpec,
    ) -> Result<TestRequest> {
        self.save_test_request(caller, ns, function, spec, false)
            .await
    }

    /// Save a test request under a name the function does not have yet (409 when it has).
    pub async fn create_test_request(
        &self,
        caller: &Caller,
        ns: &str,
        function: &str,
        spec: TestRequestSpec,
    ) -> Result<TestRequest> {
        self.save_test_request(caller, ns, function, spec, true)
            .await
    }

    async fn save_test_request(
        &self,
        caller: &Caller,
        ns: &str,
        function: &str,
        spec: TestRequestSpec,
        create: bool,
    ) -> Result<TestRequest> {
        let action = if create {
            gust_core::AuditAction::Create
        } else {
            gust_core::AuditAction::Update
        };
        let name = spec.name.clone().unwrap_or_default();
        let audit = Audit::new(action, "test_request")
            .of(format!("{function}/{name}"))
            .within(ns);
        self.audited(caller, &audit, async {
            caller.require(Scope::Write)?;
            let (_, function) = self.function_for(caller, ns, function).await?;
            audit.resolved(
                format!("{}/{name}", function.id),
                Some(&function.namespace_id),
            );
            let request = spec.into_test_request()?;
            Ok(self
                .store
                .put_test_request(&function.id, &request, create, MAX_TEST_REQUESTS)
                .await?)
        })
        .await
    }

    pub async fn delete_test_request(
        &self,
        caller: &Caller,
        ns: &str,
        function: &str,
        name: &str,
    ) -> Result<()> {
        let audit = Audit::new(gust_core::AuditAction::Delete, "test_request")
            .of(format!("{function}/{name}"))
            .within(ns);
        self.audited(caller, &audit, async {
            caller.require(Scope::Write)?;
            let (_, function) = self.function_for(caller, ns, function).await?;
            audit.resolved(
                format!("{}/{name}", function.id),
                Some(&function.namespace_id),
            );
            Ok(self.store.delete_test_request(&function.id, name).await?)
        })
        .await
    }
}
