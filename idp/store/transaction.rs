//! Transactions that write.
//!
//! On SQLite one connection writes at a time. A transaction that reads, then writes, must take
//! the write lock first (`BEGIN IMMEDIATE`), or it fails when another writer commits between its
//! read and its write. And the writers of this process wait for each other on a lock of the
//! process, in turn, instead of in SQLite's busy handler, which sleeps in steps of up to 100 ms
//! and lets a late writer overtake one that has waited: under a load of writes that made the
//! slowest requests wait for seconds (docs/performance.md). The busy handler still arbitrates
//! between processes (`idp serve` and a command beside it).

use parking_lot::{Mutex, MutexGuard};

use diesel::Connection;
use diesel::connection::{AnsiTransactionManager, TransactionManager};

use super::{DbConnection, StoreError};

/// The turn of this process's SQLite writers. One for the process: a process serves one
/// database (the tests, which run many servers in one process, share it harmlessly).
static SQLITE_WRITER: Mutex<()> = Mutex::new(());

/// This process's turn to write to SQLite.
fn sqlite_turn() -> Result<MutexGuard<'static, ()>, StoreError> {
    SQLITE_WRITER
        .try_lock_for(super::BUSY_TIMEOUT)
        .ok_or(StoreError::Busy)
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
    let _turn = sqlite_turn()?;
    let DbConnection::Sqlite(sqlite) = conn else {
        unreachable!("PostgreSQL took the branch above");
    };
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

/// Runs `f`, a single write statement outside a transaction, in this process's turn of SQLite
/// writers (on PostgreSQL as it is).
pub fn write_alone<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<StoreError>,
{
    let _turn = match conn {
        DbConnection::Sqlite(_) => Some(sqlite_turn()?),
        DbConnection::Postgres(_) => None,
    };
    f(conn)
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
