//! Sealed secrets in the database's files themselves: what reaches the disk, which keys open a
//! database, a sealed value moved to another row, and an audit table nothing can edit; each on
//! SQLite and on PostgreSQL, reached from outside the store as an attacker with the files or a
//! connection would. Then SQLite alone: the sealing of rows an earlier version wrote in
//! plaintext.

use std::collections::BTreeMap;
use std::sync::Arc;

use gust_core::{Function, FunctionSpec, Namespace, NamespaceSpec, TestRequest, TestRequestSpec};
use gust_store::{Keyring, MasterKey, PgStore, SqlStore, SqliteStore, Store, StoreError};
use gust_test_tools::Postgres;
use sqlx::Connection;

/// One backend's database, as seen from outside the store.
trait Database {
    async fn open(&self, keys: Vec<MasterKey>) -> Result<SqlStore, StoreError>;
    /// Run `sql` on a connection of its own (the store may be closed); the error's text.
    async fn raw(&self, sql: &str) -> Result<(), String>;
    /// Every byte of the database's files, with what was committed so far in them.
    async fn files(&self) -> Vec<u8>;
}

struct Sqlite(tempfile::TempDir);

impl Database for Sqlite {
    async fn open(&self, keys: Vec<MasterKey>) -> Result<SqlStore, StoreError> {
        SqliteStore::open_with_keyring(&self.0.path().join("gust.db"), 2, keyring(keys)).await
    }

    async fn raw(&self, sql: &str) -> Result<(), String> {
        let db = rusqlite::Connection::open(self.0.path().join("gust.db")).unwrap();
        db.execute_batch(sql).map_err(|e| e.to_string())
    }

    /// The database, its WAL and its shared-memory file.
    async fn files(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        for name in ["gust.db", "gust.db-wal", "gust.db-shm"] {
            if let Ok(b) = std::fs::read(self.0.path().join(name)) {
                bytes.extend(b);
            }
        }
        bytes
    }
}

struct Pg(Postgres);

impl Database for Pg {
    async fn open(&self, keys: Vec<MasterKey>) -> Result<SqlStore, StoreError> {
        PgStore::connect(&self.0.url(), 2, keyring(keys)).await
    }

    async fn raw(&self, sql: &str) -> Result<(), String> {
        let mut connection = sqlx::PgConnection::connect(&self.0.url()).await.unwrap();
        sqlx::raw_sql(sql)
            .execute(&mut connection)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }

    /// Every file of the server's data dir, after a checkpoint has written what the log holds
    /// into the tables' files.
    async fn files(&self) -> Vec<u8> {
        self.raw("CHECKPOINT").await.unwrap();
        let mut bytes = Vec::new();
        let mut pending = vec![self.0.data_dir()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    pending.push(path);
                } else if let Ok(b) = std::fs::read(&path) {
                    bytes.extend(b);
                }
            }
        }
        bytes
    }
}

fn keyring(keys: Vec<MasterKey>) -> Arc<Keyring> {
    Arc::new(Keyring::new(keys).unwrap())
}

fn namespace_with_secret(value: &str) -> Namespace {
    let mut ns = NamespaceSpec {
        name: Some("shop".into()),
        ..Default::default()
    }
    .into_new_namespace()
    .unwrap();
    ns.secrets = BTreeMap::from([("API_KEY".into(), value.into())]);
    ns
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

async fn a_secret_never_reaches_the_files_in_plaintext(db: impl Database) {
    let store = db.open(vec![MasterKey::generate(1)]).await.unwrap();
    let ns = namespace_with_secret("plaintext-canary-4f1e");
    store.create_namespace(&ns).await.unwrap();
    assert_eq!(
        store.get_namespace("shop").await.unwrap().secrets,
        ns.secrets
    );
    let files = db.files().await;
    assert!(
        contains(&files, "\"name\":\"shop\""),
        "the row is in the files"
    );
    assert!(!contains(&files, "plaintext-canary-4f1e"));
    store.close().await;
    assert!(!contains(&db.files().await, "plaintext-canary-4f1e"));
}

/// A function of `shop` with a saved test request whose header and body hold credentials.
async fn saved_request_with_credentials(store: &SqlStore, token: &str) -> (Function, TestRequest) {
    let ns = namespace_with_secret("unrelated");
    store.create_namespace(&ns).await.unwrap();
    let function = FunctionSpec {
        name: Some("checkout".into()),
        runtime: Some("wasm".into()),
        ..FunctionSpec::default()
    }
    .into_new_function(&ns.id, &ns.name)
    .unwrap();
    store.create_function(&function).await.unwrap();
    let request = TestRequestSpec {
        name: Some("signed-in".into()),
        method: Some("POST".into()),
        path: Some("/orders".into()),
        headers: Some(BTreeMap::from([(
            "authorization".into(),
            format!("Bearer {token}"),
        )])),
        body: Some(format!("password={token}-body")),
    }
    .into_test_request()
    .unwrap();
    let saved = store
        .put_test_request(&function.id, &request, true, 10)
        .await
        .unwrap();
    (function, saved)
}

async fn a_saved_test_requests_credentials_never_reach_the_files(db: impl Database) {
    let store = db.open(vec![MasterKey::generate(1)]).await.unwrap();
    let (function, saved) = saved_request_with_credentials(&store, "request-canary-77ab").await;
    let read = store
        .get_test_request(&function.id, "signed-in")
        .await
        .unwrap();
    assert_eq!(read, saved);
    assert_eq!(
        store.list_test_requests(&function.id).await.unwrap(),
        vec![saved]
    );
    let files = db.files().await;
    assert!(contains(&files, "/orders"), "the row is in the files");
    assert!(!contains(&files, "request-canary-77ab"));
    store.close().await;
}

async fn another_key_or_a_missing_key_is_refused_at_open(db: impl Database) {
    let key = MasterKey::generate(1);
    let store = db.open(vec![key.clone()]).await.unwrap();
    store
        .create_namespace(&namespace_with_secret("s3cret"))
        .await
        .unwrap();
    store.close().await;

    let wrong = db.open(vec![MasterKey::generate(1)]).await.unwrap_err();
    assert!(
        matches!(&wrong, StoreError::Keys(m) if m.contains("not the ones")),
        "{wrong}"
    );
    let missing = db.open(vec![MasterKey::generate(2)]).await.unwrap_err();
    assert!(
        matches!(&missing, StoreError::Keys(m) if m.contains("lacks")),
        "{missing}"
    );
    let store = db.open(vec![key]).await.unwrap();
    assert_eq!(
        store.get_namespace("shop").await.unwrap().secrets["API_KEY"],
        "s3cret"
    );
}

async fn a_value_moved_to_another_row_does_not_open(db: impl Database) {
    let key = MasterKey::generate(1);
    let store = db.open(vec![key.clone()]).await.unwrap();
    store
        .create_namespace(&namespace_with_secret("mine"))
        .await
        .unwrap();
    let mut other = namespace_with_secret("theirs");
    other.name = "other".into();
    other.id = gust_core::new_id();
    store.create_namespace(&other).await.unwrap();
    store.close().await;
    db.raw(
        "UPDATE namespaces SET secrets = (SELECT secrets FROM namespaces WHERE name = 'shop') \
         WHERE name = 'other'",
    )
    .await
    .unwrap();
    let store = db.open(vec![key]).await.unwrap();
    assert_eq!(
        store.get_namespace("shop").await.unwrap().secrets["API_KEY"],
        "mine"
    );
    let moved = store.get_namespace("other").await.unwrap_err();
    assert!(matches!(moved, StoreError::Sealed(_)), "{moved}");
}

async fn the_audit_table_refuses_edits(db: impl Database, edits: &[&str]) {
    let store = db.open(vec![MasterKey::generate(1)]).await.unwrap();
    store
        .append_audit(&[gust_core::AuditEntry {
            id: 0,
            at: gust_core::now(),
            token_id: None,
            action: gust_core::AuditAction::Delete,
            resource_kind: "function".into(),
            resource_id: Some("f".into()),
            namespace_id: None,
            client_addr: None,
            outcome: gust_core::AuditOutcome::Ok,
            status: 204,
            error: None,
        }])
        .await
        .unwrap();
    for edit in edits {
        let refused = db.raw(edit).await.unwrap_err();
        assert!(refused.contains("append-only"), "{edit}: {refused}");
    }
    let kept = store
        .list_audit(&gust_core::AuditQuery::default())
        .await
        .unwrap();
    assert_eq!(kept.items.len(), 1);
    assert_eq!(kept.items[0].status, 204);
}

/// One test per case and backend.
macro_rules! cases {
    ($db:expr, [$($edit:literal),*]) => {
        #[tokio::test]
        async fn a_secret_never_reaches_the_files_in_plaintext() {
            super::a_secret_never_reaches_the_files_in_plaintext($db).await;
        }

        #[tokio::test]
        async fn a_saved_test_requests_credentials_never_reach_the_files() {
            super::a_saved_test_requests_credentials_never_reach_the_files($db).await;
        }

        #[tokio::test]
        async fn another_key_or_a_missing_key_is_refused_at_open() {
            super::another_key_or_a_missing_key_is_refused_at_open($db).await;
        }

        #[tokio::test]
        async fn a_value_moved_to_another_row_does_not_open() {
            super::a_value_moved_to_another_row_does_not_open($db).await;
        }

        #[tokio::test]
        async fn the_audit_table_refuses_edits() {
            super::the_audit_table_refuses_edits($db, &[$($edit),*]).await;
        }
    };
}

mod sqlite {
    cases!(
        super::Sqlite(tempfile::tempdir().unwrap()),
        ["UPDATE audit SET status = 500", "DELETE FROM audit"]
    );
}

mod postgres {
    cases!(
        super::Pg(
            tokio::task::spawn_blocking(gust_test_tools::Postgres::start)
                .await
                .unwrap()
        ),
        [
            "UPDATE audit SET status = 500",
            "DELETE FROM audit",
            "TRUNCATE audit"
        ]
    );
}

#[tokio::test]
async fn plaintext_rows_of_an_earlier_version_are_sealed_at_open() {
    let db = Sqlite(tempfile::tempdir().unwrap());
    let store = db.open(vec![MasterKey::generate(1)]).await.unwrap();
    store
        .create_namespace(&namespace_with_secret("replaced"))
        .await
        .unwrap();
    store.close().await;
    // The database as the version before sealing left it: secrets in plaintext, and no
    // trace of the migration that introduced sealing.
    db.raw(
        "UPDATE namespaces SET secrets = '{\"API_KEY\":\"legacy-plain-9d2c\"}';
         DROP TABLE store_meta; DROP TABLE sealing_keys; DROP TABLE audit;
         DELETE FROM _sqlx_migrations WHERE version = 8;",
    )
    .await
    .unwrap();
    assert!(contains(&db.files().await, "legacy-plain-9d2c"));

    let key = MasterKey::generate(1);
    let store = db.open(vec![key.clone()]).await.unwrap();
    assert_eq!(
        store.get_namespace("shop").await.unwrap().secrets["API_KEY"],
        "legacy-plain-9d2c"
    );
    assert!(
        !contains(&db.files().await, "legacy-plain-9d2c"),
        "the plaintext is gone from the files"
    );
    store.close().await;
    let store = db.open(vec![key]).await.unwrap();
    assert_eq!(
        store.get_namespace("shop").await.unwrap().secrets["API_KEY"],
        "legacy-plain-9d2c"
    );
}

#[tokio::test]
async fn test_requests_saved_in_plaintext_are_sealed_at_open() {
    let db = Sqlite(tempfile::tempdir().unwrap());
    let key = MasterKey::generate(1);
    let store = db.open(vec![key.clone()]).await.unwrap();
    let (function, saved) = saved_request_with_credentials(&store, "legacy-request-3c5d").await;
    store.close().await;
    // The row as the version before sealing them left it: everything in `data`.
    let plain = serde_json::to_string(&saved).unwrap().replace('\'', "''");
    db.raw(&format!(
        "UPDATE test_requests SET data = '{plain}', secrets = '{{}}'"
    ))
    .await
    .unwrap();
    assert!(contains(&db.files().await, "legacy-request-3c5d"));

    let store = db.open(vec![key.clone()]).await.unwrap();
    assert!(
        !contains(&db.files().await, "legacy-request-3c5d"),
        "the plaintext is gone from the files"
    );
    store.close().await;
    let store = db.open(vec![key]).await.unwrap();
    assert_eq!(
        store
            .get_test_request(&function.id, "signed-in")
            .await
            .unwrap(),
        saved
    );
}
