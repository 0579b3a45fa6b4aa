//! How a row goes into any table, written once for every table's module: one row, one row
//! unless its key is taken, or many rows in one statement.

use diesel::pg::{Pg, PgConnection};
use diesel::prelude::*;
use diesel::query_builder::{AstPass, InsertStatement, Query, QueryFragment, QueryId};
use diesel::query_dsl::methods::ExecuteDsl;
use diesel::sqlite::SqliteConnection;

use super::{DbConnection, StoreError};

/// Inserts `values` (a row, or a tuple of column values) into `table`;
/// [`StoreError::UniqueViolation`] when a unique key is taken.
/// On the backend's own connection, so that diesel finds the prepared statement by the insert's
/// type instead of writing its SQL out each time (`connection.rs`, `on_backend!`).
pub(super) fn insert<T, V>(conn: &mut DbConnection, table: T, values: V) -> Result<(), StoreError>
where
    T: Table,
    V: Insertable<T>,
    InsertStatement<T, V::Values>: ExecuteDsl<SqliteConnection> + ExecuteDsl<PgConnection>,
{
    let insert = diesel::insert_into(table).values(values);
    match conn {
        DbConnection::Sqlite(conn) => insert.execute(conn)?,
        DbConnection::Postgres(conn) => insert.execute(conn)?,
    };
    Ok(())
}

/// Inserts `values` into `table` unless their unique key is taken; false when it was (a record
/// that must be made only once, made before).
pub(super) fn insert_new<T, V>(
    conn: &mut DbConnection,
    table: T,
    values: V,
) -> Result<bool, StoreError>
where
    T: Table,
    V: Insertable<T>,
    InsertStatement<T, V::Values>: ExecuteDsl<SqliteConnection> + ExecuteDsl<PgConnection>,
{
    match insert(conn, table, values) {
        Ok(()) => Ok(true),
        Err(StoreError::UniqueViolation(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Inserts `rows` into `table` in one statement; returns how many. A backend arm each: diesel's
/// `MultiConnection` has no multi-row `INSERT`, while each backend's own connection has.
pub(super) fn insert_all<'r, T, R>(
    conn: &mut DbConnection,
    table: T,
    rows: &'r [R],
) -> Result<usize, StoreError>
where
    T: Table,
    &'r [R]: Insertable<T>,
    InsertStatement<T, <&'r [R] as Insertable<T>>::Values>:
        ExecuteDsl<SqliteConnection> + ExecuteDsl<PgConnection>,
{
    if rows.is_empty() {
        return Ok(0);
    }
    let insert = diesel::insert_into(table).values(rows);
    Ok(match conn {
        DbConnection::Sqlite(conn) => insert.execute(conn)?,
        DbConnection::Postgres(conn) => insert.execute(conn)?,
    })
}

/// Runs two `INSERT`s (of one row each): on PostgreSQL as one statement, the first in a
/// data-modifying `WITH` of the second (one round trip instead of two); on SQLite as two, since
/// SQLite allows no `INSERT` in a `WITH` and its statements make no round trip.
pub(super) fn insert_both<A, B>(
    conn: &mut DbConnection,
    first: A,
    second: B,
) -> Result<(), StoreError>
where
    A: RunQueryDsl<SqliteConnection> + ExecuteDsl<SqliteConnection> + QueryFragment<Pg>,
    B: RunQueryDsl<SqliteConnection> + ExecuteDsl<SqliteConnection> + QueryFragment<Pg>,
{
    match conn {
        DbConnection::Sqlite(conn) => {
            first.execute(conn)?;
            second.execute(conn)?;
        }
        DbConnection::Postgres(conn) => {
            Both(first, second).execute(conn)?;
        }
    }
    Ok(())
}

/// `WITH first AS (<A>) <B>` on PostgreSQL.
struct Both<A, B>(A, B);

impl<A: QueryFragment<Pg>, B: QueryFragment<Pg>> QueryFragment<Pg> for Both<A, B> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("WITH first AS (");
        self.0.walk_ast(out.reborrow())?;
        out.push_sql(") ");
        self.1.walk_ast(out.reborrow())
    }
}

impl<A, B> QueryId for Both<A, B> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<A, B> RunQueryDsl<PgConnection> for Both<A, B> {}

/// `WITH <table> AS (<claim>) <read>` on PostgreSQL, one statement: `claim` is an `UPDATE … RETURNING`
/// every column of `table`, and `read`, a `SELECT` from `table` (joined to others), reads the rows
/// it changed under the table's own name, which the `WITH` hides the table behind. (Inside its own
/// definition a `WITH` name means the table still, so `claim` updates the table itself.) The claim
/// and the read of what hangs off the claimed row cost one round trip instead of two.
pub(super) struct Claimed<U, S> {
    /// The table `claim` updates.
    pub table: &'static str,
    /// The `UPDATE … RETURNING`.
    pub claim: U,
    /// The `SELECT` that reads the claimed rows.
    pub read: S,
}

impl<U: QueryFragment<Pg>, S: QueryFragment<Pg>> QueryFragment<Pg> for Claimed<U, S> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("WITH ");
        out.push_identifier(self.table)?;
        out.push_sql(" AS (");
        self.claim.walk_ast(out.reborrow())?;
        out.push_sql(") ");
        self.read.walk_ast(out.reborrow())
    }
}

impl<U, S: Query> Query for Claimed<U, S> {
    type SqlType = S::SqlType;
}

impl<U, S> QueryId for Claimed<U, S> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<U, S> RunQueryDsl<PgConnection> for Claimed<U, S> {}
