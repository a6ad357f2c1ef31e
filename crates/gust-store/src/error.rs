//! The store's error type.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{kind} `{key}` not found")]
    NotFound { kind: &'static str, key: String },
    #[error("{0}")]
    Conflict(String),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// From the execution writer's own connection.
    #[error("database error: {0}")]
    Writer(#[from] rusqlite::Error),
    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored record is not readable")]
    Corrupt(#[from] serde_json::Error),
    /// The store cannot take writes now (its writer stopped or a batch failed).
    #[error("{0}")]
    Unavailable(String),
    /// A sealed secret that does not open (wrong key, or moved or altered in the database).
    #[error("sealed secret: {0}")]
    Sealed(String),
    /// The keyring does not match the keys the store's secrets are sealed with.
    #[error("{0}")]
    Keys(String),
    #[error("{context}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

impl StoreError {
    pub fn not_found(kind: &'static str, key: impl Into<String>) -> Self {
        Self::NotFound {
            kind,
            key: key.into(),
        }
    }

    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| Self::Io { context, source }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;
