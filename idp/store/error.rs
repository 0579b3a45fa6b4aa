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
    /// SQLite: the write lock, or this process's turn to take it, did not come within the busy
    /// timeout (another process, or a long writer, held it).
    #[error("the database is busy")]
    Busy,
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
            // SQLite's SQLITE_BUSY after the busy timeout: another process held the write lock.
            Error::DatabaseError(DatabaseErrorKind::Unknown, info)
                if info.message() == "database is locked" =>
            {
                StoreError::Busy
            }
            other => StoreError::Query(other),
        }
    }
}
