//! The backend-neutral store suite against SQLite: each case on a fresh database file.

use gust_store::{SqliteStore, Store};

async fn open_sqlite() -> (Box<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("gust.db"))
        .await
        .unwrap();
    (Box::new(store), dir)
}

gust_store::conformance_tests!(open_sqlite);
