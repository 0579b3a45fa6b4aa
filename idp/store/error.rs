//! The store's one error type.

/// What a store call returns: its value, or what went wrong talking to the database.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

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
    /// timeout (another process, or a long writer, held it). PostgreSQL: the transaction was a
    /// deadlock's victim (SQLSTATE 40P01) or could not be serialised (40001); nothing of it was
    /// written, and the same request again succeeds.
    #[error("the database is busy")]
    Busy,
    /// Two requests of this node wait already for a lock of the database a client can name (a
    /// mail's recipient, a password check's counter: `gate.rs`); this one is not let in.
    #[error("too many requests for one lock at once")]
    Crowded,
    /// A row with the same unique key exists already.
    #[error("already exists: {0}")]
    UniqueViolation(String),
    /// A row changed under a transaction that relied on it; nothing was written.
    #[error("conflict: {0}")]
    Conflict(String),
    /// PostgreSQL: the connection was lost under the statement (the server stopped, restarted or
    /// ended the session, as in a failover); the pool replaces the connection.
    #[error("the connection to the database was lost: {0}")]
    Lost(diesel::result::Error),
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
    /// A backup could not be made.
    #[error("backup: {0}")]
    Backup(String),
    /// SQLite: the commit that this write shared with other writers of the process failed, or
    /// another write of its group broke the transaction; nothing of the group was written.
    #[error("the commit this write shared failed: {0}")]
    SharedCommit(String),
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
            // PostgreSQL ended the transaction to break a deadlock, or to keep it serialisable.
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => StoreError::Busy,
            Error::DatabaseError(DatabaseErrorKind::Unknown, info)
                if info.message().starts_with("deadlock detected") =>
            {
                StoreError::Busy
            }
            other if connection_lost(&other) => {
                // Answered 503 like a busy database, so no 5xx line names it: this one does.
                tracing::warn!(error = %other, "the database connection was lost");
                StoreError::Lost(other)
            }
            other => StoreError::Query(other),
        }
    }
}

impl StoreError {
    /// Whether the database is unavailable for now (no connection in time, SQLite's write lock
    /// held too long, the connection lost, a shared commit failed): the request is answered 503 with `Retry-After`,
    /// never 500.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Pool(_)
                | StoreError::Busy
                | StoreError::Crowded
                | StoreError::Lost(_)
                | StoreError::SharedCommit(_)
        )
    }
}

/// What libpq and PostgreSQL say when a connection goes under a statement: the server shutting
/// down or restarting (SQLSTATE class 57P), the session ended by an administrator or a
/// failover, the socket closed.
const LOST: [&str; 10] = [
    "terminating connection",
    "server closed the connection",
    "no connection to the server",
    "could not receive data from server",
    "could not send data to server",
    "connection to server",
    "the database system is shutting down",
    "the database system is starting up",
    "the database system is in recovery mode",
    "SSL connection has been closed unexpectedly",
];

/// Whether `error` is a connection lost under a statement rather than the statement's fault.
fn connection_lost(error: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match error {
        Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => true,
        Error::DatabaseError(_, info) => LOST.iter().any(|m| info.message().contains(m)),
        // The rollback after a failure could not be sent: the connection is gone.
        Error::BrokenTransactionManager => true,
        Error::RollbackErrorOnCommit { commit_error, .. } => connection_lost(commit_error),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use diesel::result::{DatabaseErrorKind, Error};

    use super::StoreError;

    fn database(kind: DatabaseErrorKind, message: &str) -> StoreError {
        StoreError::from(Error::DatabaseError(kind, Box::new(message.to_string())))
    }

    #[test]
    fn a_lost_connection_is_unavailable_and_a_bad_statement_is_not() {
        for message in [
            "terminating connection due to administrator command",
            "server closed the connection unexpectedly\n\tThis probably means the server terminated abnormally",
            "no connection to the server\n",
            "the database system is shutting down",
        ] {
            let error = database(DatabaseErrorKind::Unknown, message);
            assert!(matches!(error, StoreError::Lost(_)), "{message}: {error:?}");
            assert!(error.is_unavailable());
        }
        let closed = database(DatabaseErrorKind::ClosedConnection, "anything");
        assert!(matches!(closed, StoreError::Lost(_)));
        assert!(StoreError::from(Error::BrokenTransactionManager).is_unavailable());

        let bad = database(
            DatabaseErrorKind::Unknown,
            "syntax error at or near \"SELEC\"",
        );
        assert!(matches!(bad, StoreError::Query(_)) && !bad.is_unavailable());
        let unique = database(DatabaseErrorKind::UniqueViolation, "duplicate key");
        assert!(matches!(unique, StoreError::UniqueViolation(_)) && !unique.is_unavailable());
        assert!(StoreError::Busy.is_unavailable());
        // A request a node did not let wait for a lock (`gate.rs`): 503, never 500.
        assert!(StoreError::Crowded.is_unavailable());
    }

    /// A transaction PostgreSQL ended to break a deadlock or to keep it serialisable wrote
    /// nothing and succeeds when asked again: 503 with `Retry-After`, not 500.
    #[test]
    fn a_deadlock_victim_is_busy() {
        let deadlock = database(DatabaseErrorKind::Unknown, "deadlock detected");
        assert!(matches!(deadlock, StoreError::Busy), "{deadlock:?}");
        let serialization = database(
            DatabaseErrorKind::SerializationFailure,
            "could not serialize access due to concurrent update",
        );
        assert!(
            matches!(serialization, StoreError::Busy),
            "{serialization:?}"
        );
    }
}
