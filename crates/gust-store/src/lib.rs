//! Gust's durable state. [`Store`] is the interface every other crate uses; [`SqlStore`]
//! implements it once over SQL, on SQLite (the embedded default, opened by [`SqliteStore`]) or
//! PostgreSQL (shared by several servers, opened by [`PgStore`]); the differences between the
//! two are in `sql.rs`, `sqlite.rs` and `postgres.rs`. [`BlobStore`] keeps uploaded code by
//! sha256 in a folder.
//!
//! Errors: every function here returns [`StoreError`]; `NotFound` and `Conflict` are meant for
//! the client (404, 409), the rest are server faults.

mod blob;
#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
pub mod migrate;
mod pg_writer;
mod postgres;
pub mod seal;
mod sql;
mod sql_audit;
mod sql_console;
mod sql_edge;
mod sql_minutes;
mod sql_nodes;
mod sql_sealed;
mod sql_store;
mod sql_test_requests;
mod sqlite;
mod store;
mod writer;

pub use blob::{BlobStore, BlobUrl, BlobUrlError, BlobWriter, StoredBlob, file_sha256};
pub use error::{StoreError, StoreResult};
pub use pg_writer::PgExecutionWriter;
pub use postgres::PgStore;
pub use seal::{Keyring, MasterKey};
pub use sql_nodes::ChangeMessage;
pub use sql_store::SqlStore;
pub use sqlite::SqliteStore;
pub use store::{
    ConsoleSession, DatabaseSize, DomainScope, EdgeScope, ExecutionFilter, ExecutionWriter,
    FunctionFilter, Store,
};
pub use writer::SqliteExecutionWriter;
