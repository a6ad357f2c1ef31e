//! Sealed secrets in the database's files themselves: what reaches the disk, which keys open a
//! database, the sealing of rows an earlier version wrote in plaintext (SQLite), and an audit
//! table nothing can edit; on SQLite, then on PostgreSQL.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use gust_core::{Namespace, NamespaceSpec};
use gust_store::{Keyring, MasterKey, SqlStore, SqliteStore, Store, StoreError};

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

/// Every byte of the database, its WAL and its shared-memory file.
fn raw_files(dir: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for name in ["gust.db", "gust.db-wal", "gust.db-shm"] {
        if let Ok(b) = std::fs::read(dir.join(name)) {
            bytes.extend(b);
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

async fn open(dir: &Path, keys: Vec<MasterKey>) -> Result<SqlStore, StoreError> {
    SqliteStore::open_with_keyring(
        &dir.join("gust.db"),
        2,
        Arc::new(Keyring::new(keys).unwrap()),
    )
    .await
}

#[tokio::test]
async fn a_secret_never_reaches_the_files_in_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate(1);
    let store = open(dir.path(), vec![key.clone()]).await.unwrap();
    let ns = namespace_with_secret("plaintext-canary-4f1e");
    store.create_namespace(&ns).await.unwrap();
    assert_eq!(
        store.get_namespace("shop").await.unwrap().secrets,
        ns.secrets
    );
    assert!(!contains(&raw_files(dir.path()), "plaintext-canary-4f1e"));
    store.close().await;
    assert!(!contains(&raw_files(dir.path()), "plaintext-canary-4f1e"));
}

#[tokio::test]
async fn another_key_or_a_missing_key_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate(1);
    let store = open(dir.path(), vec![key.clone()]).await.unwrap();
    store
        .create_namespace(&namespace_with_secret("s3cret"))
        .await
        .unwrap();
    store.close().await;

    let wrong = open(dir.path(), vec![MasterKey::generate(1)])
        .await
        .unwrap_err();
    assert!(
        matches!(&wrong, StoreError::Keys(m) if m.contains("not the ones")),
        "{wrong}"
    );
    let missing = open(dir.path(), vec![MasterKey::generate(2)])
        .await
        .unwrap_err();
    assert!(
        matches!(&missing, StoreError::Keys(m) if m.contains("lacks")),
        "{missing}"
    );
    let store = open(dir.path(), vec![key]).await.unwrap();
    assert_eq!(
        store.get_namespace("shop").await.unwrap().secrets["API_KEY"],
        "s3cret"
    );
}

#[tokio::test]
async fn a_value_moved_to_another_row_does_not_open() {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate(1);
    let store = open(dir.path(), vec![key.clone()]).await.unwrap();
    store
        .create_namespace(&namespace_with_secret("mine"))
        .await
        .unwrap();
    let mut other = namespace_with_secret("theirs");
    other.name = "other".into();
    other.id = gust_core::new_id();
    store.create_namespace(&other).await.unwrap();
    store.close().await;
    let db = rusqlite::Connection::open(dir.path().join("gust.db")).unwrap();
    db.execute(
        "UPDATE namespaces SET secrets = (SELECT secrets FROM namespaces WHERE name = 'shop') \
         WHERE name = 'other'",
        [],
    )
    .unwrap();
    drop(db);
    let store = open(dir.path(), vec![key]).await.unwrap();
    assert_eq!(
        store.get_namespace("shop").await.unwrap().secrets["API_KEY"],
        "mine"
    );
    let moved = store.get_namespace("other").await.unwrap_err();
    assert!(matches!(moved, StoreError::Sealed(_)), "{moved}");
}

#[tokio::test]
async fn plaintext_rows_of_an_earlier_version_are_sealed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), vec![MasterKey::generate(1)])
        .await
        .unwrap();
    store
        .create_namespace(&namespace_with_secret("replaced"))
        .await
        .unwrap();
    store.close().await;
    // The database as the version before sealing left it: secrets in plaintext, and no
    // trace of the migration that introduced sealing.
    let db = rusqlite::Connection::open(dir.path().join("gust.db")).unwrap();
    db.execute_batch(
        "UPDATE namespaces SET secrets = '{\"API_KEY\":\"legacy-plain-9d2c\"}';
         DROP TABLE store_meta; DROP TABLE sealing_keys; DROP TABLE audit;
         DELETE FROM _sqlx_migrations WHERE version = 8;",
    )
    .unwrap();
    drop(db);
    assert!(contains(&raw_files(dir.path()), "legacy-plain-9d2c"));

    let key = MasterKey::generate(1);
    let store = open(dir.path(), vec![key.clone()]).await.unwrap();
    assert_eq!(
        store.get_namespace("shop").await.unwrap().secrets["API_KEY"],
        "legacy-plain-9d2c"
    );
    assert!(
        !contains(&raw_files(dir.path()), "legacy-plain-9d2c"),
        "the plaintext is gone from the files"
    );
    store.close().await;
    let store = open(dir.path(), vec![key]).await.unwrap();
    assert_eq!(
        store.get_namespace("shop").await.unwrap().secrets["API_KEY"],
        "legacy-plain-9d2c"
    );
}

#[tokio::test]
async fn the_audit_table_refuses_edits() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), vec![MasterKey::generate(1)])
        .await
        .unwrap();
    store.append_audit(&[audit_entry()]).await.unwrap();
    store.close().await;
    let db = rusqlite::Connection::open(dir.path().join("gust.db")).unwrap();
    let update = db.execute("UPDATE audit SET status = 500", []).unwrap_err();
    assert!(update.to_string().contains("append-only"), "{update}");
    assert!(db.execute("DELETE FROM audit", []).is_err());
}

fn audit_entry() -> gust_core::AuditEntry {
    gust_core::AuditEntry {
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
    }
}

/// The same on PostgreSQL: its files, its keys, and its audit table.
mod postgres {
    use std::path::Path;
    use std::sync::Arc;

    use gust_store::{Keyring, MasterKey, PgStore, SqlStore, Store, StoreError};
    use gust_test_tools::Postgres;
    use sqlx::Connection;

    use super::{contains, namespace_with_secret};

    async fn server() -> Postgres {
        tokio::task::spawn_blocking(Postgres::start).await.unwrap()
    }

    async fn open(server: &Postgres, keys: Vec<MasterKey>) -> Result<SqlStore, StoreError> {
        PgStore::connect(&server.url(), 2, Arc::new(Keyring::new(keys).unwrap())).await
    }

    /// Run `sql` on a connection of its own, as anything but the store might.
    async fn raw(server: &Postgres, sql: &str) -> Result<(), sqlx::Error> {
        let mut connection = sqlx::PgConnection::connect(&server.url()).await?;
        sqlx::raw_sql(sql).execute(&mut connection).await?;
        Ok(())
    }

    /// Every byte of every file of the server's data dir.
    fn raw_files(dir: &Path) -> Vec<u8> {
        let mut bytes = Vec::new();
        let mut pending = vec![dir.to_path_buf()];
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

    #[tokio::test]
    async fn a_secret_never_reaches_the_files_in_plaintext() {
        let server = server().await;
        let store = open(&server, vec![MasterKey::generate(1)]).await.unwrap();
        let ns = namespace_with_secret("plaintext-canary-7a3b");
        store.create_namespace(&ns).await.unwrap();
        assert_eq!(
            store.get_namespace("shop").await.unwrap().secrets,
            ns.secrets
        );
        // Everything written so far reaches the table files, not just the log.
        raw(&server, "CHECKPOINT").await.unwrap();
        let files = raw_files(&server.data_dir());
        assert!(contains(&files, "\"name\":\"shop\""), "the rows are there");
        assert!(!contains(&files, "plaintext-canary-7a3b"));
    }

    #[tokio::test]
    async fn another_key_or_a_missing_key_is_refused_at_open() {
        let server = server().await;
        let key = MasterKey::generate(1);
        let store = open(&server, vec![key.clone()]).await.unwrap();
        store
            .create_namespace(&namespace_with_secret("s3cret"))
            .await
            .unwrap();
        store.close().await;

        let wrong = open(&server, vec![MasterKey::generate(1)])
            .await
            .unwrap_err();
        assert!(
            matches!(&wrong, StoreError::Keys(m) if m.contains("not the ones")),
            "{wrong}"
        );
        let missing = open(&server, vec![MasterKey::generate(2)])
            .await
            .unwrap_err();
        assert!(
            matches!(&missing, StoreError::Keys(m) if m.contains("lacks")),
            "{missing}"
        );
        let store = open(&server, vec![key]).await.unwrap();
        assert_eq!(
            store.get_namespace("shop").await.unwrap().secrets["API_KEY"],
            "s3cret"
        );
    }

    #[tokio::test]
    async fn a_value_moved_to_another_row_does_not_open() {
        let server = server().await;
        let store = open(&server, vec![MasterKey::generate(1)]).await.unwrap();
        store
            .create_namespace(&namespace_with_secret("mine"))
            .await
            .unwrap();
        let mut other = namespace_with_secret("theirs");
        other.name = "other".into();
        other.id = gust_core::new_id();
        store.create_namespace(&other).await.unwrap();
        raw(
            &server,
            "UPDATE namespaces SET secrets = (SELECT secrets FROM namespaces WHERE name = 'shop') \
             WHERE name = 'other'",
        )
        .await
        .unwrap();
        assert_eq!(
            store.get_namespace("shop").await.unwrap().secrets["API_KEY"],
            "mine"
        );
        let moved = store.get_namespace("other").await.unwrap_err();
        assert!(matches!(moved, StoreError::Sealed(_)), "{moved}");
    }

    #[tokio::test]
    async fn the_audit_table_refuses_edits() {
        let server = server().await;
        let store = open(&server, vec![MasterKey::generate(1)]).await.unwrap();
        store.append_audit(&[super::audit_entry()]).await.unwrap();
        for edit in [
            "UPDATE audit SET status = 500",
            "DELETE FROM audit",
            "TRUNCATE audit",
        ] {
            let refused = raw(&server, edit).await.unwrap_err();
            assert!(refused.to_string().contains("append-only"), "{edit}: {refused}");
        }
        let kept = store
            .list_audit(&gust_core::AuditQuery::default())
            .await
            .unwrap();
        assert_eq!(kept.items.len(), 1);
        assert_eq!(kept.items[0].status, 204);
    }
}
