//! The backend-neutral store suite against PostgreSQL: each case on a server of its own,
//! started from the cached template cluster (`gust_test_tools::Postgres`).

use gust_store::{PgStore, Store};
use gust_test_tools::Postgres;

async fn open_postgres() -> (Box<dyn Store>, Postgres) {
    let server = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let store = PgStore::connect_new_key(&server.url()).await.unwrap();
    (Box::new(store), server)
}

gust_store::conformance_tests!(open_postgres);
