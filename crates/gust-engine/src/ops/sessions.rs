//! Sign-in sessions, for a front door that keeps a person signed in (the console): the token's
//! secret is checked once, at sign-in, counted in the same per-address throttle as every other
//! authentication; from then on the session stands for that token. The store keeps the sha256
//! of the session's random id and the token's id, never the id or any secret of the token, so
//! a copy of the database opens no session. A session ends at its expiry (never later than its
//! token's), at sign-out, or when its token is revoked.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use gust_store::{ConsoleSession, StoreError};
use rand::RngCore;

use crate::Engine;
use crate::audit::Audit;
use crate::auth::{Caller, hash_secret};
use crate::error::{Error, Result};

/// A session just opened: its id goes to the browser (the only copy), the caller it stands for
/// and when it ends.
pub struct OpenedSession {
    pub id: String,
    pub caller: Caller,
    pub expires_at: DateTime<Utc>,
}

impl crate::audit::Audited for OpenedSession {}

impl Engine {
    /// Check `secret` (sent from `client`) and open a session for its token lasting `ttl`, or
    /// until the token expires if that comes first. A wrong secret counts as a failed
    /// authentication of `client`.
    pub async fn open_session(
        &self,
        secret: &str,
        client: Option<IpAddr>,
        ttl: chrono::Duration,
    ) -> Result<OpenedSession> {
        let audit = Audit::new(gust_core::AuditAction::Create, "session");
        let caller = match self.authenticate_from(Some(secret), client) {
            Ok(caller) => caller,
            Err(e) => {
                return self
                    .audited_as(None, client, &audit, async { Err(e) })
                    .await;
            }
        };
        audit.resolved(&caller.token.id, caller.token.namespace_id.as_deref());
        self.audited(&caller, &audit, async {
            let now = gust_core::now();
            let mut expires_at = now + ttl;
            if let Some(token_ends) = caller.token.expires_at {
                expires_at = expires_at.min(token_ends);
            }
            let mut bytes = [0u8; 32];
            rand::rng().fill_bytes(&mut bytes);
            let id = hex::encode(bytes);
            // Ended sessions go as new ones come: a few rows, on a path people take by hand.
            if let Err(e) = self.store.prune_console_sessions(now).await {
                tracing::warn!(error = %e, "pruning ended console sessions failed");
            }
            self.store
                .create_console_session(&ConsoleSession {
                    id_hash: hash_secret(&id),
                    token_id: caller.token.id.clone(),
                    created_at: now,
                    expires_at,
                })
                .await?;
            Ok(OpenedSession {
                id,
                caller: caller.clone(),
                expires_at,
            })
        })
        .await
    }

    /// The caller session `id` stands for, sent from `client`; 401 once it has ended (expired,
    /// signed out, or its token revoked or expired).
    pub async fn session_caller(&self, id: &str, client: Option<IpAddr>) -> Result<Caller> {
        let ended = || Error::unauthorized("the session has ended; sign in again");
        let session = match self.store.get_console_session(&hash_secret(id)).await {
            Ok(session) => session,
            Err(StoreError::NotFound { .. }) => return Err(ended()),
            Err(e) => return Err(e.into()),
        };
        let now = gust_core::now();
        if session.expires_at <= now {
            return Err(ended());
        }
        let token = self.tokens.lookup_id(&session.token_id).ok_or_else(ended)?;
        if token.is_expired(now) {
            return Err(ended());
        }
        Ok(Caller { token, client })
    }

    /// End session `id` (sign-out). Ending one already ended is no error.
    pub async fn close_session(&self, caller: &Caller, id: &str) -> Result<()> {
        let audit = Audit::new(gust_core::AuditAction::Delete, "session").of(&caller.token.id);
        self.audited(caller, &audit, async {
            Ok(self.store.delete_console_session(&hash_secret(id)).await?)
        })
        .await
    }

    /// A key for `purpose` derived from the server's own (`DATA_DIR/url-key`): what a front
    /// door signs its cookies with.
    pub fn derived_key(&self, purpose: &str) -> [u8; 32] {
        self.signer.derive_key(purpose)
    }
}
