//! The store's one error type.

/// What can go wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `database.url` names no backend.
    #[error("database.url {0}")]
    Config(String),
    /// No connection could be made.
    #[error("cannot connect to the database: {0}")]
    Connect(#[from] diesel::ConnectionError),
    /// The pool gave no connection in time.
    #[error("the database is not answering: {0}")]
    Pool(diesel::r2d2::PoolError),
    /// A row with the same unique key exists already.
    #[error("already exists: {0}")]
    UniqueViolation(String),
    /// A row changed under a transaction that relied on it; nothing was written.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Any other query failure.
    #[error("database error: {0}")]
    Query(diesel::result::Error),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migration(String),
    /// The database file's directory could not be made.
    #[error("cannot create {path}: {source}")]
    Io {
        /// The directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The blocking task did not finish (it panicked or was cancelled).
    #[error("database task failed: {0}")]
    Task(String),
}

impl From<diesel::result::Error> for StoreError {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match error {
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                StoreError::UniqueViolation(info.message().to_string())
            }
            other => StoreError::Query(other),
        }
    }
}
