//! Signed URLs' tokens: what a URL grants (upload a body of exactly so many bytes to a function,
//! or read one deployment's code), until when, signed with HMAC-SHA256 under the server's key
//! (`DATA_DIR/url-key`, 32 random bytes made on first start, mode 0600). The token is all a
//! request needs: it carries its own authority, so the routes that take one need no bearer
//! token.
//!
//! Upload URLs are single use: which were used is kept in the store until they expire
//! (`Store::use_upload_token`), so a URL is used once whichever server sharing the store and
//! the key it reaches, restart or not. Every token names its issuer: for upload tokens, one
//! derived from the key (tokens of an older scheme named a random issuer per start, whose uses
//! the store never saw, and are refused); download tokens are valid whatever their issuer:
//! reading code twice does no harm.

use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::error::Error;

/// The key's file in the data dir.
pub const KEY_FILE: &str = "url-key";

/// Signed into every token before its fields, so a MAC made for anything else never verifies.
const DOMAIN: &[u8] = b"gust signed url v1\n";

/// What a token lets its holder do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// Send one body of exactly `length` bytes as a new deployment of the function.
    Upload { length: u64 },
    /// Read the code of this deployment of the function.
    Download { deployment_id: String },
}

impl Grant {
    fn kind(&self) -> &'static str {
        match self {
            Grant::Upload { .. } => "u",
            Grant::Download { .. } => "d",
        }
    }

    fn subject(&self) -> String {
        match self {
            Grant::Upload { length } => length.to_string(),
            Grant::Download { deployment_id } => deployment_id.clone(),
        }
    }
}

/// A token's fields, once its signature has been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub function_id: String,
    pub grant: Grant,
    pub expires_at: DateTime<Utc>,
    /// Unique per token: what marks an upload token used.
    pub nonce: String,
}

/// The server's signing key, and the issuer id derived from it.
pub struct UrlSigner {
    key: [u8; 32],
    issuer: String,
}

impl UrlSigner {
    /// Read the key from `DATA_DIR/url-key`, making it first if there is none.
    pub fn open(data_dir: &Path) -> anyhow::Result<Self> {
        let path = data_dir.join(KEY_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                rand::rng().fill_bytes(&mut key);
                match crate::start::write_private_new(&path, &format!("{}\n", hex::encode(key))) {
                    Ok(()) => return Ok(Self::with_key(key)),
                    // Another start made it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        std::fs::read_to_string(&path)
                            .with_context(|| format!("reading {}", path.display()))?
                    }
                    Err(e) => return Err(e).with_context(|| format!("writing {}", path.display())),
                }
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let key = hex::decode(text.trim())
            .ok()
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .with_context(|| {
                format!(
                    "{} does not hold a key (64 hex digits); delete it to make a new one \
                     (URLs signed with the old one stop working)",
                    path.display()
                )
            })?;
        Ok(Self::with_key(key))
    }

    fn with_key(key: [u8; 32]) -> Self {
        // Distinct in form from the random ids of the older scheme (16 hex digits).
        let issuer = format!("k{}", hex::encode(&derive(&key, "url issuer")[..8]));
        Self { key, issuer }
    }

    /// A token for `grant` on `function_id`, valid until `expires_at`.
    pub fn sign(&self, function_id: &str, grant: &Grant, expires_at: DateTime<Utc>) -> String {
        let mut nonce = [0u8; 16];
        rand::rng().fill_bytes(&mut nonce);
        let fields = format!(
            "{}.{function_id}.{}.{}.{}.{}",
            grant.kind(),
            grant.subject(),
            expires_at.timestamp_millis(),
            self.issuer,
            hex::encode(nonce)
        );
        let signature = hex::encode(self.mac(&fields).finalize().into_bytes());
        format!("{fields}.{signature}")
    }

    /// The claims of a token this server signed, still valid at `now`; 403 saying why not.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, Error> {
        let not_signed = || {
            Error::forbidden(
                "the URL's signature is not valid: it was altered, or not made by this server",
            )
        };
        let (fields, signature) = token.rsplit_once('.').ok_or_else(not_signed)?;
        let signature = hex::decode(signature).map_err(|_| not_signed())?;
        self.mac(fields)
            .verify_slice(&signature)
            .map_err(|_| not_signed())?;
        // Signed by this server, so well formed; parsed carefully all the same.
        let parts: Vec<&str> = fields.split('.').collect();
        let [kind, function_id, subject, expires, issuer, nonce] = parts[..] else {
            return Err(not_signed());
        };
        let grant = match kind {
            "u" => Grant::Upload {
                length: subject.parse().map_err(|_| not_signed())?,
            },
            "d" => Grant::Download {
                deployment_id: subject.to_string(),
            },
            _ => return Err(not_signed()),
        };
        let expires_at = expires
            .parse()
            .ok()
            .and_then(DateTime::from_timestamp_millis)
            .ok_or_else(not_signed)?;
        if now > expires_at {
            return Err(Error::forbidden(format!(
                "the URL expired at {}; ask for a new one",
                expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )));
        }
        if matches!(grant, Grant::Upload { .. }) && issuer != self.issuer {
            return Err(Error::forbidden(
                "the upload URL was issued before the server was upgraded; ask for a new one",
            ));
        }
        Ok(Claims {
            function_id: function_id.to_string(),
            grant,
            expires_at,
            nonce: nonce.to_string(),
        })
    }

    /// A key of its own for `purpose` (the console's cookies, say), derived from the server's
    /// key: HMAC-SHA256 under it of a label no URL token can begin with. Deleting `url-key`
    /// voids what was signed with derived keys too.
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        derive(&self.key, purpose)
    }

    fn mac(&self, fields: &str) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes a key of any length");
        mac.update(DOMAIN);
        mac.update(fields.as_bytes());
        mac
    }
}

/// HMAC-SHA256 under `key` of a label no URL token can begin with, and `purpose`.
fn derive(key: &[u8; 32], purpose: &str) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(b"gust derived key v1\n");
    mac.update(purpose.as_bytes());
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    fn signer() -> UrlSigner {
        UrlSigner::with_key([7; 32])
    }

    #[test]
    fn a_token_verifies_until_it_expires_and_not_once_altered() {
        let signer = signer();
        let now = gust_core::now();
        let expires = now + chrono::Duration::seconds(60);
        let grant = Grant::Upload { length: 42 };
        let token = signer.sign("f1", &grant, expires);
        let claims = signer.verify(&token, now).unwrap();
        assert_eq!((claims.function_id.as_str(), &claims.grant), ("f1", &grant));
        assert_eq!(
            claims.expires_at.timestamp_millis(),
            expires.timestamp_millis()
        );

        let late = signer
            .verify(&token, expires + chrono::Duration::milliseconds(1))
            .unwrap_err();
        assert!(late.message.contains("expired"), "{}", late.message);
        for altered in [
            token.replacen("f1", "f2", 1),
            token.replacen(".42.", ".43.", 1),
            token.replacen("u.", "d.", 1),
            // The last digit changed (to one it is not).
            format!(
                "{}{}",
                &token[..token.len() - 1],
                if token.ends_with('0') { '1' } else { '0' }
            ),
            "garbage".into(),
            String::new(),
        ] {
            let e = signer.verify(&altered, now).unwrap_err();
            assert_eq!(e.status, StatusCode::FORBIDDEN);
            assert!(e.message.contains("signature"), "{altered}: {}", e.message);
        }
        let other_key = UrlSigner::with_key([8; 32]);
        assert!(other_key.verify(&token, now).is_err());
    }

    #[test]
    fn derived_keys_differ_by_purpose_and_by_server_key() {
        let signer = signer();
        let cookie = signer.derive_key("console cookie");
        assert_eq!(cookie, signer.derive_key("console cookie"));
        assert_ne!(cookie, signer.derive_key("console csrf"));
        assert_ne!(
            cookie,
            UrlSigner::with_key([8; 32]).derive_key("console cookie")
        );
        assert_ne!(cookie, [7; 32], "never the server's key itself");
    }

    #[test]
    fn upload_tokens_hold_across_restarts_and_servers_sharing_the_key() {
        let signer = signer();
        let now = gust_core::now();
        let expires = now + chrono::Duration::seconds(60);
        let token = signer.sign("f1", &Grant::Upload { length: 1 }, expires);
        let restarted = UrlSigner::with_key([7; 32]);
        assert!(restarted.verify(&token, now).is_ok());
        assert!(UrlSigner::with_key([8; 32]).verify(&token, now).is_err());

        // A token of the older scheme (a random issuer per start): its uses were never
        // stored, so it is refused.
        let fields = format!(
            "u.f1.1.{}.0123456789abcdef.{}",
            expires.timestamp_millis(),
            "00".repeat(16)
        );
        let old = format!(
            "{fields}.{}",
            hex::encode(signer.mac(&fields).finalize().into_bytes())
        );
        let e = signer.verify(&old, now).unwrap_err();
        assert!(e.message.contains("upgraded"), "{}", e.message);
        let download = format!(
            "d.f1.d1.{}.0123456789abcdef.{}",
            expires.timestamp_millis(),
            "00".repeat(16)
        );
        let download = format!(
            "{download}.{}",
            hex::encode(signer.mac(&download).finalize().into_bytes())
        );
        assert!(signer.verify(&download, now).is_ok());
    }

    #[test]
    fn the_key_is_made_once_and_kept_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let first = UrlSigner::open(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = UrlSigner::open(dir.path()).unwrap();
        assert_eq!(first.key, again.key);
        std::fs::write(dir.path().join(KEY_FILE), "not a key").unwrap();
        assert!(UrlSigner::open(dir.path()).is_err());
    }
}
