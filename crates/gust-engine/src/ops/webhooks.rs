//! Webhooks: `/hooks/{id}` starts an async execution of a function with the request's body, no
//! token needed (the random id is the credential). Managing them takes a token like any
//! resource; invoking one reads the store once, then takes the durable queue's usual path.

use bytes::Bytes;
use gust_core::{ExecutionTrigger, ListQuery, Page, Scope, Webhook, WebhookSpec};

use crate::Engine;
use crate::audit::Audit;
use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::jobs::{self, Accepted, Submission};

/// Header naming the webhook that started an execution, for the function to read.
pub const WEBHOOK_ID_HEADER: &str = "x-gust-webhook-id";

impl Engine {
    /// Add a webhook to the function `ns/f`.
    pub async fn create_webhook(
        &self,
        caller: &Caller,
        ns: &str,
        f: &str,
        spec: WebhookSpec,
    ) -> Result<Webhook> {
        let audit = Audit::new(gust_core::AuditAction::Create, "webhook").within(ns);
        self.audited(caller, &audit, async {
            caller.require(Scope::Write)?;
            let (namespace, function) = self.function_for(caller, ns, f).await?;
            audit.namespace_is(&function.namespace_id);
            let mut webhook = spec.into_webhook(&namespace.id, &function.id)?;
            self.store.create_webhook(&webhook).await?;
            self.decorate_webhook(&mut webhook);
            Ok(webhook)
        })
        .await
    }

    /// The webhooks of a namespace, or of one function of it (`function`: name or id).
    pub async fn list_webhooks(
        &self,
        caller: &Caller,
        ns: &str,
        function: Option<&str>,
        query: &ListQuery,
    ) -> Result<Page<Webhook>> {
        caller.require(Scope::Read)?;
        query.validate()?;
        let (namespace, function_id) = match function {
            Some(f) => {
                let (namespace, function) = self.function_for(caller, ns, f).await?;
                (namespace, Some(function.id))
            }
            None => {
                let namespace = self.namespace_for(caller, ns).await?;
                // A token bound to one function sees only that function's webhooks.
                (namespace, caller.token.function_id.clone())
            }
        };
        let mut page = self
            .store
            .list_webhooks(&namespace.id, function_id.as_deref(), query)
            .await?;
        page.items.iter_mut().for_each(|w| self.decorate_webhook(w));
        Ok(page)
    }

    /// A webhook by id (ids are unique on the server).
    pub async fn get_webhook(&self, caller: &Caller, id: &str) -> Result<Webhook> {
        caller.require(Scope::Read)?;
        let mut webhook = self.webhook_for(caller, id).await?;
        self.decorate_webhook(&mut webhook);
        Ok(webhook)
    }

    /// Change a webhook's description, or move it to another function of its namespace
    /// (`patch.function`, a name or id); its URL stays the same. Nothing is stored unless the
    /// whole patch is valid.
    pub async fn update_webhook(
        &self,
        caller: &Caller,
        id: &str,
        patch: WebhookSpec,
    ) -> Result<Webhook> {
        let audit = Audit::new(gust_core::AuditAction::Update, "webhook").of(id);
        self.audited(caller, &audit, async {
            caller.require(Scope::Write)?;
            let mut changed = self.webhook_for(caller, id).await?;
            if let Some(target) = &patch.function {
                let function = self
                    .store
                    .get_function(&changed.namespace_id, target)
                    .await
                    .map_err(|e| match Error::from(e) {
                        e if e.status == http::StatusCode::NOT_FOUND => Error::invalid(
                            "function",
                            format!("no function `{target}` in the webhook's namespace"),
                        ),
                        e => e,
                    })?;
                caller.require_function(&function.id)?;
                changed.function_id = function.id;
            }
            patch.apply_to(&mut changed)?;
            self.store.update_webhook(&changed).await?;
            self.decorate_webhook(&mut changed);
            Ok(changed)
        })
        .await
    }

    pub async fn delete_webhook(&self, caller: &Caller, id: &str) -> Result<()> {
        let audit = Audit::new(gust_core::AuditAction::Delete, "webhook").of(id);
        self.audited(caller, &audit, async {
            caller.require(Scope::Write)?;
            let webhook = self.webhook_for(caller, id).await?;
            self.store.delete_webhook(&webhook.id).await?;
            Ok(())
        })
        .await
    }

    /// `POST /hooks/{id}`, no token: store and queue an async execution of the webhook's
    /// function with the request's body (up to an async execution's limit), query and
    /// headers, so a sender's signature headers reach the function. An `Idempotency-Key`
    /// header makes a sender's retry return the first execution.
    pub async fn invoke_webhook<B>(&self, id: &str, request: http::Request<B>) -> Result<Accepted>
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = request.into_parts();
        let mut headers = parts.headers;
        let not_found = || Error::not_found_of("webhook", format!("no webhook {id}"));
        if !gust_core::id::looks_like_id(id) {
            return Err(not_found());
        }
        let webhook = self.store.get_webhook(id).await.map_err(|e| match e {
            gust_store::StoreError::NotFound { .. } => not_found(),
            e => e.into(),
        })?;
        let live = self
            .live
            .find(&webhook.namespace_id, &webhook.function_id)
            .await?;
        let idempotency_key = jobs::idempotency_key(&headers)?;
        // Gust's own headers, and credentials the sender may attach out of habit, are not the
        // function's: a webhook needs none.
        for name in [
            http::header::AUTHORIZATION.as_str(),
            crate::auth::AUTH_TOKEN_HEADER,
            crate::invoke::ASYNC_HEADER,
            jobs::IDEMPOTENCY_HEADER,
        ] {
            headers.remove(name);
        }
        if let Ok(value) = http::HeaderValue::from_str(&webhook.id) {
            headers.insert(WEBHOOK_ID_HEADER, value);
        }
        let request = crate::invoke::RunRequest {
            method: http::Method::POST,
            path: "/".into(),
            query: parts.uri.query().unwrap_or("").to_string(),
            headers,
            body: crate::invoke::read_body(body, gust_core::execution::ASYNC_BODY_LIMIT).await?,
            execution_id: String::new(),
            trigger: ExecutionTrigger::Webhook,
            args: None,
        };
        let submission = Submission {
            trigger: ExecutionTrigger::Webhook,
            request: request.to_record(true),
            idempotency_key,
            source: Some(format!("webhook {}", webhook.id)),
            replay_of: None,
            event_depth: 0,
            function_version: None,
            alias: None,
        };
        let submitted = jobs::submit(&self.jobs, &live.function, submission).await?;
        Ok(Accepted::new(&live.function, submitted))
    }

    /// A webhook the caller may touch, by id.
    async fn webhook_for(&self, caller: &Caller, id: &str) -> Result<Webhook> {
        let webhook = self.store.get_webhook(id).await?;
        caller.require_namespace(&webhook.namespace_id)?;
        caller.require_function(&webhook.function_id)?;
        Ok(webhook)
    }

    /// Fill the derived fields of a webhook for a response.
    pub fn decorate_webhook(&self, webhook: &mut Webhook) {
        webhook.url = format!("{}/hooks/{}", self.base_url(), webhook.id);
    }
}
