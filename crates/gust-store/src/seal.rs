//! Secrets sealed at rest. Every value of a namespace's, function's or version's `secrets` is
//! stored as `sealed:<key id>:<base64 of nonce ‖ ciphertext>`: XChaCha20-Poly1305 under one
//! of the master keys, with a fresh random 192-bit nonce per value (random nonces that long
//! never collide in practice, so no counter has to survive restarts).
//!
//! The associated data binds a value to where it belongs — the owner's kind and id and the
//! variable's name — so a value copied to another row or another key fails to open instead of
//! handing one function's secret to another.
//!
//! A [`Keyring`] holds one or more keys by id: the *active* one seals, any of them opens. It
//! holds more than one only during a rotation (see `Store::begin_rotation`).

use std::collections::BTreeMap;
use std::sync::RwLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

use crate::{StoreError, StoreResult};

const SEALED_PREFIX: &str = "sealed:";
const NONCE_LEN: usize = 24;

/// One master key: 32 random bytes and the id sealed values name it by.
#[derive(Clone)]
pub struct MasterKey {
    pub id: u32,
    bytes: [u8; 32],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey {{ id: {}, .. }}", self.id)
    }
}

impl MasterKey {
    pub fn generate(id: u32) -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self { id, bytes }
    }

    pub fn from_hex(id: u32, text: &str) -> Result<Self, String> {
        let bytes = hex::decode(text.trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| format!("key {id} is not 64 hex digits (32 bytes)"))?;
        Ok(Self { id, bytes })
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.bytes)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.bytes.into())
    }
}

/// Whose secret a value is: the first half of its associated data.
#[derive(Debug, Clone, Copy)]
pub enum SecretOwner<'a> {
    Namespace(&'a str),
    Function(&'a str),
    /// A version's snapshot: the function's id and the version's number.
    Version(&'a str, u32),
    /// A saved test request: `<function id>/<name>`.
    TestRequest(&'a str),
}

impl SecretOwner<'_> {
    /// `gust-secret\0<kind>\0<owner>\0<name>`: NUL cannot occur in ids or variable names, so
    /// no two owners or names share an encoding.
    fn associated_data(&self, name: &str) -> Vec<u8> {
        let owner = match self {
            Self::Namespace(id) => format!("namespace\0{id}"),
            Self::Function(id) => format!("function\0{id}"),
            Self::Version(function_id, number) => format!("version\0{function_id}/{number}"),
            Self::TestRequest(id) => format!("test-request\0{id}"),
        };
        format!("gust-secret\0{owner}\0{name}").into_bytes()
    }
}

/// The id of the key a stored value is sealed with; `None` when it is not a sealed value.
pub fn sealed_key_id(stored: &str) -> Option<u32> {
    let rest = stored.strip_prefix(SEALED_PREFIX)?;
    rest.split_once(':')?.0.parse().ok()
}

struct Keys {
    active: u32,
    by_id: BTreeMap<u32, MasterKey>,
}

/// The master keys in memory. Shared by the store (which seals and opens) and the server
/// (which reads and writes the key file).
pub struct Keyring {
    keys: RwLock<Keys>,
    /// Held (shared) by every store write that seals, from sealing to commit; a rotation takes
    /// it exclusively to switch the active key, so once the switch is done no write sealed
    /// under the old key is still on its way to the store.
    pub(crate) writes: tokio::sync::RwLock<()>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Keyring {{ active: {}, ids: {:?} }}",
            self.active_id(),
            self.ids()
        )
    }
}

impl Keyring {
    /// A keyring of `keys` (at least one), sealing with the first.
    pub fn new(keys: Vec<MasterKey>) -> Result<Self, String> {
        let active = keys.first().ok_or("a keyring needs a key")?.id;
        let mut by_id = BTreeMap::new();
        for key in keys {
            if by_id.insert(key.id, key).is_some() {
                return Err("two keys have the same id".into());
            }
        }
        Ok(Self {
            keys: RwLock::new(Keys { active, by_id }),
            writes: tokio::sync::RwLock::new(()),
        })
    }

    /// One fresh key, id 1: a new data dir's, or a test's.
    pub fn generate() -> Self {
        Self::new(vec![MasterKey::generate(1)]).expect("one key")
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Keys> {
        self.keys.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Keys> {
        self.keys.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn active_id(&self) -> u32 {
        self.read().active
    }

    /// Every key's id, lowest first.
    pub fn ids(&self) -> Vec<u32> {
        self.read().by_id.keys().copied().collect()
    }

    /// The keys, the active one first (the order of the key file).
    pub fn keys(&self) -> Vec<MasterKey> {
        let keys = self.read();
        let mut all = vec![keys.by_id[&keys.active].clone()];
        all.extend(keys.by_id.values().filter(|k| k.id != keys.active).cloned());
        all
    }

    /// Add `key` and seal with it from now on. Waits for writes sealing under the old key to
    /// commit first.
    pub async fn add_active(&self, key: MasterKey) {
        let _no_writes = self.writes.write().await;
        let mut keys = self.write();
        keys.active = key.id;
        keys.by_id.insert(key.id, key);
    }

    /// Drop every key but the active one.
    pub fn retain_active(&self) {
        let mut keys = self.write();
        let active = keys.active;
        keys.by_id.retain(|id, _| *id == active);
    }

    /// Seal `value` under the active key for `owner`'s variable `name`.
    pub fn seal(&self, owner: SecretOwner<'_>, name: &str, value: &str) -> String {
        let keys = self.read();
        let key = &keys.by_id[&keys.active];
        seal_with(key, &owner.associated_data(name), value.as_bytes())
    }

    /// Open a stored value of `owner`'s variable `name`.
    pub fn open(&self, owner: SecretOwner<'_>, name: &str, stored: &str) -> StoreResult<String> {
        let plain = self.open_bytes(stored, &owner.associated_data(name))?;
        String::from_utf8(plain).map_err(|_| StoreError::Sealed(format!("{owner:?} {name}")))
    }

    fn open_bytes(&self, stored: &str, associated_data: &[u8]) -> StoreResult<Vec<u8>> {
        let what = || {
            String::from_utf8_lossy(associated_data)
                .replace('\0', " ")
                .to_string()
        };
        let rest = stored
            .strip_prefix(SEALED_PREFIX)
            .ok_or_else(|| StoreError::Sealed(format!("{} is not sealed", what())))?;
        let (id, encoded) = rest
            .split_once(':')
            .ok_or_else(|| StoreError::Sealed(format!("{} is malformed", what())))?;
        let id: u32 = id
            .parse()
            .map_err(|_| StoreError::Sealed(format!("{} is malformed", what())))?;
        let keys = self.read();
        let key = keys.by_id.get(&id).ok_or_else(|| {
            StoreError::Sealed(format!(
                "{} is sealed with master key {id}, which the keyring lacks",
                what()
            ))
        })?;
        let bytes = STANDARD_NO_PAD
            .decode(encoded)
            .ok()
            .filter(|b| b.len() >= NONCE_LEN)
            .ok_or_else(|| StoreError::Sealed(format!("{} is malformed", what())))?;
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).expect("nonce length checked");
        key.cipher()
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad: associated_data,
                },
            )
            .map_err(|_| {
                StoreError::Sealed(format!(
                    "{} does not open with master key {id}: the key is not the one it was \
                     sealed with, or the value was moved or altered",
                    what()
                ))
            })
    }

    /// A value sealed under key `id` alone, that only that key opens: the store keeps one per
    /// key it holds values under, so a wrong key is refused at start even before any secret
    /// is read.
    pub(crate) fn check_value(&self, id: u32) -> Option<String> {
        let keys = self.read();
        let key = keys.by_id.get(&id)?;
        Some(seal_with(
            key,
            &check_associated_data(id),
            b"gust master key",
        ))
    }

    /// Whether `check` (from [`Keyring::check_value`]) opens under this keyring's key `id`.
    pub(crate) fn verify_check(&self, id: u32, check: &str) -> bool {
        sealed_key_id(check) == Some(id)
            && self
                .open_bytes(check, &check_associated_data(id))
                .is_ok_and(|plain| plain == b"gust master key")
    }
}

fn check_associated_data(id: u32) -> Vec<u8> {
    format!("gust-key-check\0{id}").into_bytes()
}

fn seal_with(key: &MasterKey, associated_data: &[u8], plain: &[u8]) -> String {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    let nonce = XNonce::from(nonce);
    let ciphertext = key
        .cipher()
        .encrypt(
            &nonce,
            Payload {
                msg: plain,
                aad: associated_data,
            },
        )
        .expect("XChaCha20-Poly1305 seals any length a secret can have");
    let mut bytes = Vec::with_capacity(NONCE_LEN + ciphertext.len());
    bytes.extend_from_slice(&nonce);
    bytes.extend_from_slice(&ciphertext);
    format!(
        "{SEALED_PREFIX}{}:{}",
        key.id,
        STANDARD_NO_PAD.encode(bytes)
    )
}

/// The text of a key file: a comment, then `<id> <64 hex digits>` a line, the active key first.
pub fn key_file_text(keys: &[MasterKey]) -> String {
    let mut text = String::from(
        "# Gust master keys: `<id> <64 hex digits>`, one a line. The first seals new secrets;\n\
         # any other only opens secrets sealed before a key rotation finished.\n",
    );
    for key in keys {
        text.push_str(&format!("{} {}\n", key.id, key.to_hex()));
    }
    text
}

/// Read a key file: lines `<id> <hex>` (the first seals), or a single bare `<hex>` (key 1),
/// as `openssl rand -hex 32` writes. Blank lines and `#` comments are skipped.
pub fn parse_key_file(text: &str) -> Result<Vec<MasterKey>, String> {
    let mut keys = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = match line.split_once(char::is_whitespace) {
            Some((id, hex)) => {
                let id: u32 =
                    id.parse().ok().filter(|id| *id > 0).ok_or_else(|| {
                        format!("line {}: `{id}` is not a key id (1, 2, …)", n + 1)
                    })?;
                MasterKey::from_hex(id, hex).map_err(|e| format!("line {}: {e}", n + 1))?
            }
            None => MasterKey::from_hex(1, line).map_err(|e| format!("line {}: {e}", n + 1))?,
        };
        keys.push(key);
    }
    if keys.is_empty() {
        return Err("it holds no key".into());
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_for_its_owner_and_name() {
        let ring = Keyring::generate();
        let owner = SecretOwner::Function("f1");
        let sealed = ring.seal(owner, "API_KEY", "hunter2");
        assert!(!sealed.contains("hunter2"));
        assert_eq!(sealed_key_id(&sealed), Some(1));
        assert_eq!(ring.open(owner, "API_KEY", &sealed).unwrap(), "hunter2");
        assert_ne!(
            sealed,
            ring.seal(owner, "API_KEY", "hunter2"),
            "fresh nonce"
        );
        assert!(
            ring.open(SecretOwner::Function("f2"), "API_KEY", &sealed)
                .is_err()
        );
        assert!(ring.open(owner, "OTHER", &sealed).is_err());
        assert!(
            ring.open(SecretOwner::Namespace("f1"), "API_KEY", &sealed)
                .is_err()
        );
        assert!(ring.open(owner, "API_KEY", "hunter2").is_err());
    }

    #[tokio::test]
    async fn another_key_does_not_open_and_a_rotated_ring_opens_both() {
        let ring = Keyring::generate();
        let sealed = ring.seal(SecretOwner::Namespace("n"), "K", "v");
        let other = Keyring::generate();
        assert!(
            other
                .open(SecretOwner::Namespace("n"), "K", &sealed)
                .is_err()
        );
        assert!(!other.verify_check(1, &ring.check_value(1).unwrap()));
        ring.add_active(MasterKey::generate(2)).await;
        let newer = ring.seal(SecretOwner::Namespace("n"), "K", "w");
        assert_eq!(sealed_key_id(&newer), Some(2));
        assert_eq!(
            ring.open(SecretOwner::Namespace("n"), "K", &sealed)
                .unwrap(),
            "v"
        );
        ring.retain_active();
        assert_eq!(ring.ids(), vec![2]);
        assert!(
            ring.open(SecretOwner::Namespace("n"), "K", &sealed)
                .is_err()
        );
    }

    #[test]
    fn key_files_round_trip_and_take_a_bare_hex_key() {
        let keys = vec![MasterKey::generate(3), MasterKey::generate(2)];
        let parsed = parse_key_file(&key_file_text(&keys)).unwrap();
        assert_eq!(parsed.iter().map(|k| k.id).collect::<Vec<_>>(), [3, 2]);
        assert_eq!(parsed[0].to_hex(), keys[0].to_hex());
        let bare = parse_key_file(&format!("{}\n", "ab".repeat(32))).unwrap();
        assert_eq!(bare[0].id, 1);
        assert!(parse_key_file("# nothing\n").is_err());
        assert!(parse_key_file("1 abcd\n").unwrap_err().contains("64 hex"));
    }
}
