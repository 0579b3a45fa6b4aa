//! The connection type over both backends.
#![allow(
    missing_docs,
    clippy::allow_attributes,
    reason = "diesel::MultiConnection generates undocumented public items; `expect` misfires on them"
)]

use diesel::pg::PgConnection;
use diesel::sqlite::SqliteConnection;

/// A connection to either backend; queries written once run on both.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    /// PostgreSQL.
    Postgres(PgConnection),
    /// SQLite.
    Sqlite(SqliteConnection),
}

/// Runs `$body` with `$c` bound to the backend's own connection (`SqliteConnection` or
/// `PgConnection`): the same query, compiled once per backend.
///
/// For the statements of the hot paths (a token's check, the exchange, the refresh). Through
/// [`DbConnection`] diesel must write out a query's SQL at every execution to find its prepared
/// statement (the multi-backend wrapper hides the query's type); on the backend's own
/// connection the statement is found by the query's type, and nothing is written out: a
/// fifth of userinfo's CPU went into writing out its one statement (docs/performance.md).
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::store::DbConnection::Sqlite($c) => $body,
            $crate::store::DbConnection::Postgres($c) => $body,
        }
    };
}
pub(crate) use on_backend;
