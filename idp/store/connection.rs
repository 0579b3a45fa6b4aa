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
