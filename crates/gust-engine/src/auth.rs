//! Bearer-token authentication and scope checks. Tokens are random 256-bit secrets; the store
//! keeps their sha256 and this module keeps a copy of the table in memory, so checking a token
//! costs a hash and a map lookup, not a query.

use std::collections::HashMap;
use std::sync::RwLock;

use gust_core::{Scope, Token};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::Error;

/// Prefix of every secret, so a leaked one is easy to recognise in logs and scanners.
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

/// Every token, by the hash of its secret.
#[derive(Default)]
pub struct TokenCache {
    by_hash: RwLock<HashMap<String, Token>>,
}

impl TokenCache {
    pub fn load(tokens: Vec<(Token, String)>) -> Self {
        Self {
            by_hash: RwLock::new(tokens.into_iter().map(|(t, h)| (h, t)).collect()),
        }
    }

    /// Replace every token with `tokens` (the store's table, read again).
    pub fn reload(&self, tokens: Vec<(Token, String)>) {
        *self.by_hash.write().unwrap_or_else(|p| p.into_inner()) =
            tokens.into_iter().map(|(t, h)| (h, t)).collect();
    }

    pub fn insert(&self, hash: String, token: Token) {
        self.by_hash
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(hash, token);
    }

    pub fn remove(&self, id: &str) {
        self.by_hash
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, t| t.id != id);
    }

    pub fn lookup(&self, secret: &str) -> Option<Token> {
        self.by_hash
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&hash_secret(secret))
            .cloned()
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token: Token,
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

/// Resolve a secret to a live token, or say why not.
pub fn authenticate(tokens: &TokenCache, secret: Option<&str>) -> Result<Caller, Error> {
    let secret = secret
        .ok_or_else(|| Error::unauthorized("missing `Authorization: Bearer <token>` header"))?;
    let token = tokens
        .lookup(secret)
        .ok_or_else(|| Error::unauthorized("the token is not valid"))?;
    if token.is_expired(gust_core::now()) {
        return Err(Error::unauthorized("the token has expired"));
    }
    Ok(Caller { token })
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
