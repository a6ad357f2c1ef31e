//! Bearer-token authentication and scope checks. Tokens are random secrets (256 bits, or 122
//! for the UUID format); the store keeps their sha256 and this module keeps a copy of the table
//! in memory, so checking a token costs a hash and a map lookup, not a query.
//!
//! Timing: the secret is hashed before anything compares it, and the map is keyed by that
//! hash. A lookup's time can depend on how much of a candidate's *hash* matches a stored one,
//! which tells an attacker nothing about a secret: finding input whose sha256 shares a longer
//! prefix with a stored hash is a preimage search. So no comparison of secrets needs to be
//! constant-time.
//!
//! Each token's last use is kept in memory (an atomic store per request, no lock) and written
//! to the store in batches ([`TokenCache::take_uses`]). Failed attempts are counted per client
//! address ([`FailureLimiter`]), so a guessing storm from one address is slowed with 429s while
//! everyone else goes on.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use gust_core::{Scope, Token};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::Error;
pub use crate::throttle::{FailureLimiter, FailureLimits};

/// Prefix of every secret of the default format, so a leaked one is easy to recognise in logs
/// and scanners. Secrets of the `uuid` format carry none: the clients that need it (Scaleway's
/// SDKs) check that a secret is a UUID.
pub const TOKEN_PREFIX: &str = "gust_";

/// A fresh secret: `gust_` + 64 hex digits.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

/// A fresh secret shaped as a UUID (version 4: 122 random bits).
pub fn new_uuid_secret() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A token in memory, with its last use (Unix seconds; 0: none since it was loaded) and the
/// last use written to the store.
struct CachedToken {
    token: Token,
    last_used: AtomicI64,
    written: AtomicI64,
}

impl CachedToken {
    fn new(token: Token) -> Arc<Self> {
        let stored = token.last_used_at.map_or(0, |at| at.timestamp());
        Arc::new(Self {
            token,
            last_used: AtomicI64::new(stored),
            written: AtomicI64::new(stored),
        })
    }

    fn touch(&self, now: i64) {
        // Most requests find the second already recorded: a load, no write to the shared line.
        if self.last_used.load(Ordering::Relaxed) < now {
            self.last_used.fetch_max(now, Ordering::Relaxed);
        }
    }
}

/// Every token, by the hash of its secret; and the failed attempts per client address.
#[derive(Default)]
pub struct TokenCache {
    by_hash: RwLock<HashMap<String, Arc<CachedToken>>>,
    pub failures: FailureLimiter,
}

impl TokenCache {
    pub fn load(tokens: Vec<(Token, String)>) -> Self {
        Self::load_with_limits(tokens, FailureLimits::default())
    }

    pub fn load_with_limits(tokens: Vec<(Token, String)>, limits: FailureLimits) -> Self {
        Self {
            by_hash: RwLock::new(
                tokens
                    .into_iter()
                    .map(|(t, h)| (h, CachedToken::new(t)))
                    .collect(),
            ),
            failures: FailureLimiter::new(limits),
        }
    }

    /// Replace every token with `tokens` (the store's table, read again). Uses not yet
    /// written are kept.
    pub fn reload(&self, tokens: Vec<(Token, String)>) {
        let mut map = self.by_hash.write().unwrap_or_else(|p| p.into_inner());
        let old: HashMap<String, Arc<CachedToken>> =
            map.drain().map(|(_, t)| (t.token.id.clone(), t)).collect();
        *map = tokens
            .into_iter()
            .map(|(t, h)| {
                let entry = CachedToken::new(t);
                if let Some(before) = old.get(&entry.token.id) {
                    entry.touch(before.last_used.load(Ordering::Relaxed));
                }
                (h, entry)
            })
            .collect();
    }

    pub fn insert(&self, hash: String, token: Token) {
        self.by_hash
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(hash, CachedToken::new(token));
    }

    pub fn remove(&self, id: &str) {
        self.by_hash
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, t| t.token.id != id);
    }

    /// The token a secret stands for, its use recorded.
    pub fn lookup(&self, secret: &str) -> Option<Token> {
        let map = self.by_hash.read().unwrap_or_else(|p| p.into_inner());
        let entry = map.get(&hash_secret(secret))?;
        entry.touch(gust_core::now().timestamp());
        Some(entry.token.clone())
    }

    /// The token `id`, its use recorded: for a session that stands for a token it checked at
    /// sign-in. A scan, not a second map: sessions are for people at a browser, not on the
    /// invocation path.
    pub fn lookup_id(&self, id: &str) -> Option<Token> {
        let map = self.by_hash.read().unwrap_or_else(|p| p.into_inner());
        let entry = map.values().find(|t| t.token.id == id)?;
        entry.touch(gust_core::now().timestamp());
        Some(entry.token.clone())
    }

    /// When the token `id` was last used, as this server saw it (None: not since it loaded
    /// the token, or never).
    pub fn last_used(&self, id: &str) -> Option<DateTime<Utc>> {
        let map = self.by_hash.read().unwrap_or_else(|p| p.into_inner());
        let secs = map
            .values()
            .find(|t| t.token.id == id)?
            .last_used
            .load(Ordering::Relaxed);
        (secs > 0)
            .then(|| DateTime::from_timestamp(secs, 0))
            .flatten()
    }

    /// Uses not yet written to the store, marked written.
    pub fn take_uses(&self) -> Vec<(String, DateTime<Utc>)> {
        let map = self.by_hash.read().unwrap_or_else(|p| p.into_inner());
        map.values()
            .filter_map(|t| {
                let used = t.last_used.load(Ordering::Relaxed);
                let written = t.written.swap(used, Ordering::Relaxed);
                (used > written)
                    .then(|| DateTime::from_timestamp(used, 0))
                    .flatten()
                    .map(|at| (t.token.id.clone(), at))
            })
            .collect()
    }

    /// Put back uses whose write failed, to go with the next batch.
    pub fn untake_uses(&self, uses: &[(String, DateTime<Utc>)]) {
        let map = self.by_hash.read().unwrap_or_else(|p| p.into_inner());
        for t in map.values() {
            if uses.iter().any(|(id, _)| *id == t.token.id) {
                t.written.store(0, Ordering::Relaxed);
            }
        }
    }
}

/// A client's IP address, as the front door that received the request knows it. Put in a
/// request's extensions for the invocation path, which sees no framework's types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token: Token,
    /// The address the request came from, when the front door knew it.
    pub client: Option<IpAddr>,
}

impl Caller {
    /// 403 unless the token has `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), Error> {
        if self.token.allows(scope) {
            Ok(())
        } else {
            let name = serde_json::to_value(scope)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            Err(Error::forbidden(format!(
                "this token lacks the `{name}` scope"
            )))
        }
    }

    /// 403 unless the token may act on the namespace `namespace_id`.
    pub fn require_namespace(&self, namespace_id: &str) -> Result<(), Error> {
        if self.token.covers_namespace(namespace_id) {
            Ok(())
        } else {
            Err(Error::forbidden(
                "this token is limited to another namespace",
            ))
        }
    }

    /// 403 unless the token may act on the function `function_id`.
    pub fn require_function(&self, function_id: &str) -> Result<(), Error> {
        if self.token.covers_function(function_id) {
            Ok(())
        } else {
            Err(Error::forbidden(
                "this token is limited to another function",
            ))
        }
    }

    /// 403 for a token limited to one function: the action concerns the whole namespace.
    pub fn require_whole_namespace(&self) -> Result<(), Error> {
        match self.token.function_id {
            None => Ok(()),
            Some(_) => Err(Error::forbidden(
                "this token is limited to one function; the action concerns its whole namespace",
            )),
        }
    }

    /// Both checks at once.
    pub fn require_in(&self, scope: Scope, namespace_id: &str) -> Result<(), Error> {
        self.require(scope)?;
        self.require_namespace(namespace_id)
    }
}

/// The bearer secret of a request, if it carries one.
pub fn bearer(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, secret) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| secret.trim())
}

/// Scaleway's header for a token, which its clients send to functions and its API alike.
pub const AUTH_TOKEN_HEADER: &str = "x-auth-token";

/// The secret an invocation carries: a bearer token, else an `X-Auth-Token` header.
pub fn invocation_secret(headers: &http::HeaderMap) -> Option<&str> {
    bearer(headers).or_else(|| {
        headers
            .get(AUTH_TOKEN_HEADER)?
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|s| !s.is_empty())
    })
}

/// Resolve a secret sent from `client` to a live token, or say why not. An address that has
/// failed too often lately is refused (429) before its secret is looked at, so it cannot go
/// on guessing; a missing secret is not a failed guess.
pub fn authenticate(
    tokens: &TokenCache,
    secret: Option<&str>,
    client: Option<IpAddr>,
) -> Result<Caller, Error> {
    let secret = secret
        .ok_or_else(|| Error::unauthorized("missing `Authorization: Bearer <token>` header"))?;
    if let Some(ip) = client {
        tokens.failures.check(ip)?;
    }
    let refused = |message: &str| {
        if let Some(ip) = client {
            tokens.failures.failed(ip);
        }
        Error::unauthorized(message)
    };
    let token = tokens
        .lookup(secret)
        .ok_or_else(|| refused("the token is not valid"))?;
    if token.is_expired(gust_core::now()) {
        return Err(refused("the token has expired"));
    }
    Ok(Caller { token, client })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_unique_and_hashed() {
        let a = new_secret();
        let b = new_secret();
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() == TOKEN_PREFIX.len() + 64);
        let u = new_uuid_secret();
        assert_eq!(uuid::Uuid::parse_str(&u).unwrap().get_version_num(), 4);
        assert_ne!(u, new_uuid_secret());
        assert_eq!(hash_secret(&a).len(), 64);
        assert_ne!(hash_secret(&a), a);
    }
}
