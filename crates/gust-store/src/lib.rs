//! Gust's durable state. [`Store`] is the interface every other crate uses; [`SqliteStore`] is
//! the embedded implementation `gust serve` starts with (a PostgreSQL one can implement the same
//! trait: the schema is plain SQL and the queries use only what both engines share, through sqlx).
//! [`BlobStore`] keeps uploaded code by sha256 in a folder.
//!
//! Errors: every function here returns [`StoreError`]; `NotFound` and `Conflict` are meant for
//! the client (404, 409), the rest are server faults.

mod blob;
#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
pub mod seal;
mod sqlite;
mod sqlite_audit;
mod sqlite_console;
mod sqlite_edge;
mod sqlite_minutes;
mod sqlite_sealed;
mod sqlite_test_requests;
mod store;
mod writer;

pub use blob::{BlobStore, BlobWriter, StoredBlob};
pub use error::{StoreError, StoreResult};
pub use seal::{Keyring, MasterKey};
pub use sqlite::SqliteStore;
pub use store::{
    ConsoleSession, DatabaseSize, DomainScope, EdgeScope, ExecutionFilter, ExecutionWriter, Store,
};
pub use writer::SqliteExecutionWriter;
