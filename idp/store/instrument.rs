//! What every pooled connection carries as its diesel instrumentation ([`Instrument`]): the
//! store's count of statements (the metric `idp_db_statements_total`; on SQLite the count of its
//! file's turn, which the turn's own writing connection adds to), and on SQLite its file's turn
//! of writers (`store/transaction.rs`), found again from the connection alone.
//!
//! A statement is counted when diesel starts it (`InstrumentationEvent::StartQuery`). diesel
//! sends `BEGIN`, `COMMIT`, `ROLLBACK` and the savepoints through the same path
//! (`batch_execute`), so they are counted too: on PostgreSQL each is a round trip like any other.
//! `tests/integration/statements.rs` holds the count of a code exchange and a refresh to exact
//! numbers, so that a change cannot add a statement to them silently.

use diesel::connection::{Connection, Instrumentation, InstrumentationEvent};
use prometheus_client::metrics::counter::Counter;

/// The statements of a store's connections: the metrics `idp_db_statements_total` and, of those,
/// `idp_db_connection_tests_total`. Cheap to clone (the clones count together).
#[derive(Debug, Clone, Default)]
pub struct Statements {
    /// Every statement started, the pool's tests included.
    pub all: Counter,
    /// The pool's tests of a PostgreSQL connection (`SELECT 1`) before handing it out.
    pub tests: Counter,
}

/// A connection's instrumentation: the statement counter of its store, and on SQLite its file's
/// writers' turn `T` (`store::WriterTurn`, which this file does not name, so that the turn's file
/// can use this one).
#[derive(Debug, Clone)]
pub struct Instrument<T> {
    /// Statements started on the store's connections (shared by all of them).
    pub(super) statements: Counter,
    /// The turn of the SQLite file's writers (`None` on PostgreSQL).
    pub(super) turn: Option<T>,
}

impl<T: Send + 'static> Instrument<T> {
    /// An instrumentation that counts in `statements`.
    pub fn counting(statements: Counter) -> Instrument<T> {
        Instrument {
            statements,
            turn: None,
        }
    }

    /// The instrumentation `conn` carries, when it is one of these (a connection opened outside
    /// the pool carries none).
    pub(super) fn of<C: Connection>(conn: &mut C) -> Option<&mut Instrument<T>> {
        conn.instrumentation().downcast_mut::<Instrument<T>>()
    }

    /// Gives `conn` this instrumentation.
    pub fn attach<C: Connection>(self, conn: &mut C) {
        conn.set_instrumentation(self);
    }
}

impl<T: Send + 'static> Instrumentation for Instrument<T> {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if matches!(event, InstrumentationEvent::StartQuery { .. }) {
            self.statements.inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;
    use diesel::sqlite::SqliteConnection;
    use diesel::{Connection, RunQueryDsl};

    use super::*;

    #[test]
    fn every_statement_and_the_transactions_statements_are_counted() {
        let statements = Counter::<u64>::default();
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        conn.batch_execute("CREATE TABLE t (x INTEGER)").unwrap();
        Instrument::<()>::counting(statements.clone()).attach(&mut conn);
        assert_eq!(statements.get(), 0, "what ran before is not counted");

        diesel::sql_query("INSERT INTO t VALUES (1)")
            .execute(&mut conn)
            .unwrap();
        assert_eq!(statements.get(), 1);
        // BEGIN, a savepoint, its release, two statements, COMMIT.
        conn.transaction(|conn| {
            diesel::sql_query("INSERT INTO t VALUES (2)").execute(conn)?;
            conn.transaction(|conn| diesel::sql_query("DELETE FROM t").execute(conn))
        })
        .unwrap();
        assert_eq!(statements.get(), 1 + 6);
        assert!(Instrument::<()>::of(&mut conn).is_some());
    }
}
