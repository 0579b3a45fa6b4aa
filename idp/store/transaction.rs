//! Transactions that write, and the one that only reads ([`read_transaction`]); the advisory lock
//! that lets one node at a time do a round of shared work on PostgreSQL ([`try_lock`]).
//!
//! On SQLite one connection writes at a time. A transaction that reads, then writes, must take
//! the write lock first (`BEGIN IMMEDIATE`), or it fails when another writer commits between its
//! read and its write. And the writers of this process on one database file wait for each other
//! on a lock of that file ([`WriterTurn`]), in turn, instead of in SQLite's busy handler, which
//! sleeps in steps of up to 100 ms and lets a late writer overtake one that has waited: under a
//! load of writes that made the slowest requests wait for seconds (docs/performance.md). The busy
//! handler still arbitrates between processes (`idp serve` and a command beside it).
//!
//! The turn is one per database file, not one per process: the tests run many servers, each on
//! its own file, in one process, and one server's writers must not wait for another's.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

use parking_lot::{Mutex, MutexGuard};
use prometheus_client::metrics::counter::Counter;

use diesel::Connection;
use diesel::connection::AnsiTransactionManager;
use diesel::connection::TransactionManager;
use diesel::sqlite::SqliteConnection;

use super::instrument::Instrument;
use super::{DbConnection, Result, StoreError};

/// How long a SQLite writer waits for the write lock (SQLite's busy timeout), and for its
/// file's turn in this process to take it, before giving up with [`StoreError::Busy`].
pub(super) const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The turn of this process's writers to one SQLite file. Every connection the pool opens carries
/// its file's turn in its diesel instrumentation (`store/instrument.rs`), so that
/// [`write_transaction`] finds it from the connection alone. It counts the writers that found
/// the turn taken and waited (the metric `idp_sqlite_writer_waits_total`).
#[derive(Debug, Clone)]
pub struct WriterTurn(Arc<Mutex<()>>, Counter);

impl WriterTurn {
    /// The turn of the file at `path`, shared by every pool and connection of this process on
    /// that file (named by its canonical path).
    pub fn of_file(path: &Path) -> WriterTurn {
        type Turns = HashMap<PathBuf, (Weak<Mutex<()>>, Counter)>;
        static TURNS: Mutex<Option<Turns>> = Mutex::new(None);
        let key = std::fs::canonicalize(path)
            .or_else(|_| std::path::absolute(path))
            .unwrap_or_else(|_| path.to_path_buf());
        let mut turns = TURNS.lock();
        let turns = turns.get_or_insert_with(HashMap::new);
        if let Some((turn, waits)) = turns.get(&key)
            && let Some(turn) = turn.upgrade()
        {
            return WriterTurn(turn, waits.clone());
        }
        // Forget the files whose pools are gone.
        turns.retain(|_, (turn, _)| turn.strong_count() > 0);
        let turn = WriterTurn(Arc::new(Mutex::new(())), Counter::default());
        turns.insert(key, (Arc::downgrade(&turn.0), turn.1.clone()));
        turn
    }

    /// The writers that found this turn taken and waited for it.
    pub fn waits(&self) -> Counter {
        self.1.clone()
    }

    /// Gives `conn` this turn, in its instrumentation (`store/instrument.rs`), beside the
    /// statement counter it may carry already.
    pub fn attach(&self, conn: &mut SqliteConnection) {
        match Instrument::of(conn) {
            Some(instrument) => instrument.turn = Some(self.clone()),
            None => Instrument {
                turn: Some(self.clone()),
                statements: Counter::default(),
            }
            .attach(conn),
        }
    }

    /// The turn `conn` carries; a connection opened outside the pool (a test's, the migrations')
    /// shares one turn of the process.
    fn of(conn: &mut SqliteConnection) -> WriterTurn {
        match Instrument::<WriterTurn>::of(conn).and_then(|instrument| instrument.turn.clone()) {
            Some(turn) => turn,
            None => {
                static UNATTACHED: std::sync::LazyLock<WriterTurn> =
                    std::sync::LazyLock::new(|| {
                        WriterTurn(Arc::new(Mutex::new(())), Counter::default())
                    });
                UNATTACHED.clone()
            }
        }
    }
}

impl WriterTurn {
    /// Waits for the turn, at most the busy timeout.
    fn take(&self) -> Result<MutexGuard<'_, ()>> {
        if let Some(held) = self.0.try_lock() {
            return Ok(held);
        }
        self.1.inc();
        self.0.try_lock_for(BUSY_TIMEOUT).ok_or(StoreError::Busy)
    }
}

/// Runs `f` in a transaction that writes, and commits when it returns `Ok`. On SQLite it is
/// `BEGIN IMMEDIATE`, taken in this process's turn of writers; on PostgreSQL a plain transaction
/// (its row locks order concurrent writers). Inside another transaction it is a savepoint.
pub fn write_transaction<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<StoreError>,
{
    // PostgreSQL, and a transaction inside another, take diesel's (a savepoint when nested).
    let plain = match conn {
        DbConnection::Sqlite(sqlite) => {
            AnsiTransactionManager::transaction_manager_status_mut(sqlite)
                .transaction_depth()
                .map_err(|e| E::from(e.into()))?
                .is_some()
        }
        DbConnection::Postgres(_) => true,
    };
    if plain {
        return conn
            .transaction(|conn| f(conn).map_err(Wrapped::Inner))
            .map_err(Wrapped::into_inner);
    }
    let DbConnection::Sqlite(sqlite) = conn else {
        unreachable!("PostgreSQL took the branch above");
    };
    let turn = WriterTurn::of(sqlite);
    let _held = turn.take()?;
    AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")
        .map_err(|e| E::from(e.into()))?;
    let outcome = f(conn);
    let DbConnection::Sqlite(sqlite) = conn else {
        return outcome;
    };
    match outcome {
        Ok(value) => {
            AnsiTransactionManager::commit_transaction(sqlite).map_err(|e| E::from(e.into()))?;
            Ok(value)
        }
        Err(error) => {
            // The error that made us roll back is the one to report.
            let _ = AnsiTransactionManager::rollback_transaction(sqlite);
            Err(error)
        }
    }
}

/// Runs `f` in a transaction that only reads, so that all it reads is of one moment: on SQLite a
/// deferred `BEGIN` (its first read takes a snapshot that later commits do not change), on
/// PostgreSQL `REPEATABLE READ, READ ONLY` (one snapshot for every statement, where the default
/// `READ COMMITTED` takes one per statement). Inside another transaction it is a savepoint of
/// that one, and sees what that one sees.
pub fn read_transaction<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<StoreError>,
{
    let nested = match conn {
        DbConnection::Sqlite(sqlite) => {
            AnsiTransactionManager::transaction_manager_status_mut(sqlite).transaction_depth()
        }
        DbConnection::Postgres(pg) => {
            AnsiTransactionManager::transaction_manager_status_mut(pg).transaction_depth()
        }
    }
    .map_err(|e| E::from(e.into()))?
    .is_some();
    let snapshot = !nested && matches!(conn, DbConnection::Postgres(_));
    conn.transaction(|conn| {
        if snapshot {
            diesel::RunQueryDsl::execute(
                diesel::sql_query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"),
                conn,
            )?;
        }
        f(conn).map_err(Wrapped::Inner)
    })
    .map_err(Wrapped::into_inner)
}

/// Runs `f`, a single write statement outside a transaction, in its file's turn of SQLite
/// writers (on PostgreSQL as it is).
pub fn write_alone<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<StoreError>,
{
    match conn {
        DbConnection::Sqlite(sqlite) => {
            let turn = WriterTurn::of(sqlite);
            let _held = turn.take()?;
            f(conn)
        }
        DbConnection::Postgres(_) => f(conn),
    }
}

/// The error of a closure run by diesel's `transaction`, which wants `From<diesel::result::Error>`.
enum Wrapped<E> {
    Inner(E),
    Diesel(diesel::result::Error),
}

impl<E> From<diesel::result::Error> for Wrapped<E> {
    fn from(error: diesel::result::Error) -> Self {
        Wrapped::Diesel(error)
    }
}

impl<E: From<StoreError>> Wrapped<E> {
    fn into_inner(self) -> E {
        match self {
            Wrapped::Inner(error) => error,
            Wrapped::Diesel(error) => E::from(error.into()),
        }
    }
}

#[derive(diesel::QueryableByName)]
struct Locked {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    locked: bool,
}

/// On PostgreSQL, takes the advisory lock `lock` until the end of the transaction, unless another
/// node holds it: false then, and the caller skips its round (the expiry clean-up, the audit
/// sealer). Always true on SQLite, whose one writer at a time is the lock.
pub(super) fn try_lock(conn: &mut DbConnection, lock: i64) -> Result<bool> {
    let DbConnection::Postgres(pg) = conn else {
        return Ok(true);
    };
    let lock = diesel::RunQueryDsl::get_result::<Locked>(
        diesel::sql_query(format!(
            "SELECT pg_try_advisory_xact_lock({lock}) AS locked"
        )),
        pg,
    )?;
    Ok(lock.locked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_file_one_turn_whatever_its_spelling() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.db");
        std::fs::write(&a, b"").unwrap();
        let b = dir.path().join("b.db");
        std::fs::write(&b, b"").unwrap();
        let first = WriterTurn::of_file(&a);
        let again = WriterTurn::of_file(&dir.path().join(".").join("a.db"));
        let other = WriterTurn::of_file(&b);
        assert!(Arc::ptr_eq(&first.0, &again.0));
        assert!(!Arc::ptr_eq(&first.0, &other.0));

        let _held = first.take().unwrap();
        assert!(
            again.0.try_lock().is_none(),
            "the same file's turn is taken"
        );
        assert!(other.0.try_lock().is_some(), "another file's turn is free");
    }

    #[test]
    fn a_connection_carries_its_files_turn() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        std::fs::write(&path, b"").unwrap();
        let turn = WriterTurn::of_file(&path);
        let mut conn = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
        turn.attach(&mut conn);
        assert!(Arc::ptr_eq(&WriterTurn::of(&mut conn).0, &turn.0));
    }
}
