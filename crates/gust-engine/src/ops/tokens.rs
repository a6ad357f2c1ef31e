//! Tokens: admin only. The secret appears once, in what `create_token` returns.

use gust_core::{ListQuery, Page, Scope, Token, TokenFormat, TokenSpec};

use crate::Engine;
use crate::audit::Audit;
use crate::auth::{self, Caller};
use crate::error::{Error, Result};

impl Engine {
    pub async fn list_tokens(&self, caller: &Caller, query: &ListQuery) -> Result<Page<Token>> {
        caller.require(Scope::Admin)?;
        query.validate()?;
        let mut page = self.store.list_tokens(query).await?;
        page.items.iter_mut().for_each(|t| self.with_last_use(t));
        Ok(page)
    }

    /// The latest use this server has seen, which the store gets within `token_use_flush`.
    fn with_last_use(&self, token: &mut Token) {
        if let Some(seen) = self.tokens.last_used(&token.id) {
            token.last_used_at = token.last_used_at.max(Some(seen));
        }
    }

    /// A new token; the returned copy carries its secret, which is stored only as a hash.
    pub async fn create_token(&self, caller: &Caller, spec: TokenSpec) -> Result<Token> {
        let audit = Audit::new(gust_core::AuditAction::Create, "token");
        self.audited(caller, &audit, async {
            caller.require(Scope::Admin)?;
            let description = spec.description.unwrap_or_default();
            gust_core::validate::text("description", &description, 256)?;
            let scopes = spec
                .scopes
                .unwrap_or_else(|| vec![Scope::Read, Scope::Write, Scope::Invoke]);
            if scopes.is_empty() {
                return Err(Error::invalid("scopes", "must name at least one scope"));
            }
            let namespace_id = match spec.namespace {
                Some(key) => Some(
                    self.store
                        .get_namespace(&key)
                        .await
                        .map_err(|_| Error::invalid("namespace", format!("no namespace `{key}`")))?
                        .id,
                ),
                None => None,
            };
            let function_id = match (spec.function, &namespace_id) {
                (Some(key), Some(namespace_id)) => Some(
                    self.store
                        .get_function(namespace_id, &key)
                        .await
                        .map_err(|_| {
                            Error::invalid(
                                "function",
                                format!("no function `{key}` in the namespace"),
                            )
                        })?
                        .id,
                ),
                (Some(_), None) => {
                    return Err(Error::invalid(
                        "function",
                        "needs `namespace`: the function's namespace",
                    ));
                }
                (None, _) => None,
            };
            if spec.expires_at.is_some_and(|at| at <= gust_core::now()) {
                return Err(Error::invalid("expires_at", "must be in the future"));
            }
            let secret = match spec.format.unwrap_or_default() {
                TokenFormat::Gust => auth::new_secret(),
                TokenFormat::Uuid => auth::new_uuid_secret(),
            };
            let hash = auth::hash_secret(&secret);
            let token = Token {
                id: gust_core::new_id(),
                description,
                scopes,
                namespace_id,
                function_id,
                expires_at: spec.expires_at,
                created_at: gust_core::now(),
                last_used_at: None,
                token: None,
            };
            self.store.create_token(&token, &hash).await?;
            self.tokens.insert(hash, token.clone());
            Ok(Token {
                token: Some(secret),
                ..token
            })
        })
        .await
    }

    pub async fn get_token(&self, caller: &Caller, id: &str) -> Result<Token> {
        caller.require(Scope::Admin)?;
        let mut token = self.store.get_token(id).await?;
        self.with_last_use(&mut token);
        Ok(token)
    }

    pub async fn delete_token(&self, caller: &Caller, id: &str) -> Result<()> {
        let audit = Audit::new(gust_core::AuditAction::Delete, "token").of(id);
        self.audited(caller, &audit, async {
            caller.require(Scope::Admin)?;
            if caller.token.id == id {
                return Err(Error::conflict("a token cannot delete itself"));
            }
            self.store.delete_token(id).await?;
            self.tokens.remove(id);
            Ok(())
        })
        .await
    }
}
