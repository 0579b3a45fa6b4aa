//! Transactions that write, and the one that only reads ([`read_transaction`]); the advisory lock
//! that lets one node at a time do a round of shared work on PostgreSQL ([`try_lock`]).
//!
//! On SQLite one connection writes at a time, and with `synchronous = FULL` every commit is an
//! fsync, which costs far more than the statements before it (110–230 µs against some 15 µs a
//! statement, docs/performance.md). So the writers of this process to one database file share
//! commits (group commit), through their file's [`WriterTurn`]:
//!
//! - the turn owns the one connection that writes to the file (opened at first use, set up like
//!   the pool's), behind a lock that the writers take in turn instead of waiting in SQLite's busy
//!   handler (which sleeps in steps of up to 100 ms and lets a late writer overtake one that has
//!   waited: under a load of writes that made the slowest requests wait for seconds);
//! - the first writer of a group begins a transaction (`BEGIN IMMEDIATE`: one that reads, then
//!   writes, must take the write lock first). Each writer runs its work in a savepoint of that
//!   transaction on the turn's connection, on its own thread; work that fails rolls back to its
//!   savepoint, and only its own writes are undone;
//! - a writer whose work is done commits the group when no other writer is waiting for the turn;
//!   while one is, it lets it in and waits: the last of the group commits for all, and every writer
//!   answers only after the commit that holds its writes. A group that fails to commit fails all
//!   its writers ([`StoreError::SharedCommit`], answered 503).
//!
//! A group forms when writers arrive while another commits, which is when sharing the fsync
//! matters; a lone writer commits at once, as before. Durability is the same: nothing is answered
//! before its commit is synced. Within a group a writer sees the writes of the ones before it, as
//! it would after their commits, so the order of a group is an order the writers could have had.
//!
//! SQLite's busy handler still arbitrates between processes (`idp serve` and a command beside
//! it). The turn is one per database file, not one per process: the tests run many servers, each on
//! its own file, in one process, and one server's writers must not wait for another's.

use std::collections::{HashMap, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::{Condvar, Mutex, MutexGuard};
use prometheus_client::metrics::counter::Counter;

use diesel::connection::AnsiTransactionManager;
use diesel::connection::TransactionManager;
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, connection::SimpleConnection};

use super::instrument::Instrument;
use super::{DbConnection, Result, StoreError};

/// How long a SQLite writer waits for the write lock (SQLite's busy timeout), and for its
/// file's turn in this process to take it, before giving up with [`StoreError::Busy`].
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The most write transactions one commit holds: a steady stream of writers still gets its
/// commits.
const MOST_IN_GROUP: usize = 64;

/// How long a writer whose work is done waits for the commit of its group before it looks again
/// whether it is the one to commit (it is woken at the commit; this bounds a missed wake-up).
const RECHECK: Duration = Duration::from_millis(20);

/// The turn of this process's writers to one SQLite file, and their shared commits (module
/// comment). Every connection the pool opens carries its file's turn in its diesel
/// instrumentation (`store/instrument.rs`), so that [`write_transaction`] finds it from the
/// connection alone.
#[derive(Clone)]
pub struct WriterTurn(Arc<Turn>);

struct Turn {
    /// The file.
    path: PathBuf,
    /// The statements that set up a connection to it (busy timeout, foreign keys, synchronous,
    /// secure delete, the WAL's size limit: `store::sqlite_setup`).
    setup: String,
    /// The group being written, and the connection that writes it.
    group: Mutex<Group>,
    /// Signalled when a group ends (committed, or failed).
    ended: Condvar,
    /// Writers on their way into the turn (waiting for `group`), not counting the members of the
    /// open group that wait for its end.
    arriving: AtomicUsize,
    /// Writers that found the turn taken and waited (`idp_sqlite_writer_waits_total`).
    waits: Counter,
    /// Commits of the turn's connection (`idp_sqlite_commits_total`).
    commits: Counter,
    /// Write transactions those commits held (`idp_sqlite_committed_writes_total`).
    writes: Counter,
    /// Statements of every connection to the file, the turn's own included
    /// (`idp_db_statements_total`, `store/instrument.rs`).
    statements: Counter,
}

/// The state behind the turn's lock.
#[derive(Default)]
struct Group {
    /// The connection that writes the file; none before the first write and after a failure.
    conn: Option<DbConnection>,
    /// The group whose transaction is open.
    open: Option<u64>,
    /// The writers in the open group.
    members: usize,
    /// Those of them whose writes stay (their work succeeded).
    kept: usize,
    /// The number of the next group.
    next: u64,
    /// The last groups that failed to commit, and why.
    failed: VecDeque<(u64, String)>,
}

impl std::fmt::Debug for WriterTurn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriterTurn")
            .field("path", &self.0.path)
            .finish_non_exhaustive()
    }
}

/// What the counters of a turn count, for the metrics.
#[derive(Debug, Clone)]
pub struct TurnCounters {
    /// Writers that waited for the turn.
    pub waits: Counter,
    /// Commits.
    pub commits: Counter,
    /// Write transactions committed (over `commits`: the writes a commit holds).
    pub writes: Counter,
}

impl WriterTurn {
    /// The turn of the file at `path`, shared by every pool and connection of this process on
    /// that file (named by its canonical path). `setup` sets up its writing connection; the first
    /// caller's is kept.
    pub fn of_file(path: &Path, setup: &str) -> WriterTurn {
        type Turns = HashMap<PathBuf, Weak<Turn>>;
        static TURNS: Mutex<Option<Turns>> = Mutex::new(None);
        let key = std::fs::canonicalize(path)
            .or_else(|_| std::path::absolute(path))
            .unwrap_or_else(|_| path.to_path_buf());
        let mut turns = TURNS.lock();
        let turns = turns.get_or_insert_with(HashMap::new);
        if let Some(turn) = turns.get(&key).and_then(Weak::upgrade) {
            return WriterTurn(turn);
        }
        // Forget the files whose pools are gone.
        turns.retain(|_, turn| turn.strong_count() > 0);
        let turn = Arc::new(Turn {
            path: path.to_path_buf(),
            setup: setup.to_string(),
            group: Mutex::new(Group::default()),
            ended: Condvar::new(),
            arriving: AtomicUsize::new(0),
            waits: Counter::default(),
            commits: Counter::default(),
            writes: Counter::default(),
            statements: Counter::default(),
        });
        turns.insert(key, Arc::downgrade(&turn));
        WriterTurn(turn)
    }

    /// The turn's counters.
    pub fn counters(&self) -> TurnCounters {
        TurnCounters {
            waits: self.0.waits.clone(),
            commits: self.0.commits.clone(),
            writes: self.0.writes.clone(),
        }
    }

    /// The statements of every connection to the file, the turn's own included.
    pub fn statements(&self) -> Counter {
        self.0.statements.clone()
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

    /// The turn `conn` carries: none for a connection opened outside the pool (a test's, the
    /// migrations'), which writes on itself.
    fn of(conn: &mut SqliteConnection) -> Option<WriterTurn> {
        Instrument::<WriterTurn>::of(conn).and_then(|instrument| instrument.turn.clone())
    }
}

impl Turn {
    /// Takes the turn, waiting at most the busy timeout.
    fn enter(&self) -> Result<MutexGuard<'_, Group>> {
        self.arriving.fetch_add(1, Ordering::SeqCst);
        let group = match self.group.try_lock() {
            Some(group) => Some(group),
            None => {
                self.waits.inc();
                self.group.try_lock_for(BUSY_TIMEOUT)
            }
        };
        self.arriving.fetch_sub(1, Ordering::SeqCst);
        group.ok_or(StoreError::Busy)
    }

    /// Runs `f` as one writer of the open group (beginning one if none is), and returns when the
    /// group has ended: `f`'s value once its writes are committed; `f`'s error with its writes
    /// undone; or, when the group could not commit, [`StoreError::SharedCommit`].
    fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E>,
        E: From<StoreError>,
    {
        let mut group = self.enter()?;
        let id = match group.open {
            Some(id) => id,
            None => self.begin(&mut group)?,
        };
        group.members += 1;
        let Some(conn) = group.conn.as_mut() else {
            unreachable!("an open group has its connection");
        };
        let outcome = match savepoint(conn) {
            Ok(()) => {
                let outcome = catch_unwind(AssertUnwindSafe(|| f(conn)));
                let kept = matches!(outcome, Ok(Ok(_)));
                match end_savepoint(conn, kept) {
                    Ok(()) => group.kept += usize::from(kept),
                    Err(why) => self.fail(&mut group, id, why),
                }
                outcome
            }
            Err(why) => {
                let error = StoreError::SharedCommit(why.clone());
                self.fail(&mut group, id, why);
                Ok(Err(E::from(error)))
            }
        };
        let ended = self.end(&mut group, id);
        drop(group);
        match outcome {
            Err(panic) => resume_unwind(panic),
            Ok(Err(error)) => Err(error),
            Ok(Ok(value)) => ended.map(|()| value).map_err(E::from),
        }
    }

    /// Opens the connection if need be and begins a group.
    fn begin(&self, group: &mut Group) -> Result<u64> {
        if group.conn.is_none() {
            let mut conn = SqliteConnection::establish(&self.path.to_string_lossy())?;
            conn.batch_execute(&self.setup)?;
            Instrument::<WriterTurn>::counting(self.statements.clone()).attach(&mut conn);
            group.conn = Some(DbConnection::Sqlite(conn));
        }
        let Some(DbConnection::Sqlite(conn)) = group.conn.as_mut() else {
            unreachable!("the turn's connection is SQLite");
        };
        if let Err(error) = AnsiTransactionManager::begin_transaction_sql(conn, "BEGIN IMMEDIATE") {
            // Busy (another process writes), or the connection is unusable: a new one next time.
            let error = StoreError::from(error);
            if !matches!(error, StoreError::Busy) {
                group.conn = None;
            }
            return Err(error);
        }
        let id = group.next;
        group.next += 1;
        group.open = Some(id);
        group.members = 0;
        group.kept = 0;
        Ok(id)
    }

    /// Waits, as a writer of group `id` whose work is done, for the group's end, and commits it
    /// when no other writer is on its way in (or the group is full).
    fn end(&self, group: &mut MutexGuard<'_, Group>, id: u64) -> Result<()> {
        loop {
            if group.open != Some(id) {
                return match group.failed.iter().find(|(failed, _)| *failed == id) {
                    Some((_, why)) => Err(StoreError::SharedCommit(why.clone())),
                    None => Ok(()),
                };
            }
            if self.arriving.load(Ordering::SeqCst) == 0 || group.members >= MOST_IN_GROUP {
                return self.commit(group, id);
            }
            self.ended.wait_for(group, RECHECK);
        }
    }

    /// Commits the open group `id`.
    fn commit(&self, group: &mut Group, id: u64) -> Result<()> {
        let Some(DbConnection::Sqlite(conn)) = group.conn.as_mut() else {
            unreachable!("an open group has its SQLite connection");
        };
        match AnsiTransactionManager::commit_transaction(conn) {
            Ok(()) => {
                self.commits.inc();
                self.writes.inc_by(group.kept as u64);
                group.open = None;
                group.members = 0;
                self.ended.notify_all();
                Ok(())
            }
            Err(error) => {
                let why = error.to_string();
                self.fail(group, id, why);
                Err(error.into())
            }
        }
    }

    /// Ends the open group `id` without its writes: rolls it back, drops the connection (a new
    /// one is opened for the next group), and fails every writer of the group with `why`.
    fn fail(&self, group: &mut Group, id: u64, why: String) {
        // Once, here: each writer of the group is answered "busy" (503) with no more than
        // `SharedCommit`, and the reason would be in no log.
        tracing::warn!(
            why,
            writers = group.members,
            "a shared SQLite commit failed"
        );
        if let Some(DbConnection::Sqlite(mut conn)) = group.conn.take() {
            let _ = conn.batch_execute("ROLLBACK");
        }
        group.open = None;
        group.members = 0;
        if group.failed.len() >= MOST_IN_GROUP {
            group.failed.pop_front();
        }
        group.failed.push_back((id, why));
        self.ended.notify_all();
    }
}

/// Begins a writer's savepoint in the open group's transaction.
fn savepoint(conn: &mut DbConnection) -> std::result::Result<(), String> {
    let DbConnection::Sqlite(sqlite) = conn else {
        unreachable!("the turn's connection is SQLite");
    };
    AnsiTransactionManager::begin_transaction(sqlite).map_err(|e| e.to_string())
}

/// Ends a writer's savepoint: releases it (`kept`), or rolls back to it, with any savepoint the
/// work left open (a panic inside a nested transaction). Err when the group's transaction is
/// no longer what it was.
fn end_savepoint(conn: &mut DbConnection, kept: bool) -> std::result::Result<(), String> {
    let DbConnection::Sqlite(sqlite) = conn else {
        unreachable!("the turn's connection is SQLite");
    };
    let depth = |sqlite: &mut SqliteConnection| {
        AnsiTransactionManager::transaction_manager_status_mut(sqlite)
            .transaction_depth()
            .map(|depth| depth.map_or(0, |d| d.get()))
            .map_err(|e| e.to_string())
    };
    // The group's transaction is depth 1, the writer's savepoint 2.
    while depth(sqlite)? > 2 {
        AnsiTransactionManager::rollback_transaction(sqlite).map_err(|e| e.to_string())?;
    }
    if depth(sqlite)? != 2 {
        return Err("a write left the transaction it shared".to_string());
    }
    if kept {
        AnsiTransactionManager::commit_transaction(sqlite).map_err(|e| e.to_string())
    } else {
        AnsiTransactionManager::rollback_transaction(sqlite).map_err(|e| e.to_string())
    }
}

/// Runs `f` in a transaction that writes, and commits when it returns `Ok`. On SQLite it is a
/// savepoint in a group of writers that share one `BEGIN IMMEDIATE` transaction and its commit
/// (module comment), on the file's writing connection, not on `conn`; on PostgreSQL a plain
/// transaction (its row locks order concurrent writers). Inside another transaction it is a
/// savepoint of that one.
pub fn write_transaction<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<StoreError>,
{
    // PostgreSQL, and a transaction inside another, take diesel's (a savepoint when nested).
    let outermost = match conn {
        DbConnection::Sqlite(sqlite) => {
            AnsiTransactionManager::transaction_manager_status_mut(sqlite)
                .transaction_depth()
                .map_err(|e| E::from(e.into()))?
                .is_none()
        }
        DbConnection::Postgres(_) => false,
    };
    if !outermost {
        return conn
            .transaction(|conn| f(conn).map_err(Wrapped::Inner))
            .map_err(Wrapped::into_inner);
    }
    let DbConnection::Sqlite(sqlite) = conn else {
        unreachable!("PostgreSQL took diesel's transaction");
    };
    match WriterTurn::of(sqlite) {
        Some(turn) => turn.0.write(f),
        None => alone(conn, f),
    }
}

/// A write transaction on a connection opened outside the pool, which has no turn: on itself,
/// `BEGIN IMMEDIATE`, ordered against other writers by SQLite's busy handler.
fn alone<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<StoreError>,
{
    let DbConnection::Sqlite(sqlite) = conn else {
        unreachable!("PostgreSQL takes diesel's transaction");
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

/// Runs `f`, a single write statement: on SQLite as one writer of its file's group of writers
/// (as [`write_transaction`]), on PostgreSQL as it is.
pub fn write_alone<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<StoreError>,
{
    match conn {
        DbConnection::Sqlite(_) => write_transaction(conn, f),
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
    use std::sync::mpsc;
    use std::time::Instant;

    use diesel::RunQueryDsl;
    use diesel::r2d2::ManageConnection;

    use super::*;
    use crate::config::DatabaseBackend;
    use crate::store::Manager;

    const SETUP: &str = "PRAGMA busy_timeout = 5000;";

    #[test]
    fn one_file_one_turn_whatever_its_spelling() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.db");
        std::fs::write(&a, b"").unwrap();
        let b = dir.path().join("b.db");
        std::fs::write(&b, b"").unwrap();
        let first = WriterTurn::of_file(&a, SETUP);
        let again = WriterTurn::of_file(&dir.path().join(".").join("a.db"), SETUP);
        let other = WriterTurn::of_file(&b, SETUP);
        assert!(Arc::ptr_eq(&first.0, &again.0));
        assert!(!Arc::ptr_eq(&first.0, &other.0));

        let _held = first.0.enter().unwrap();
        assert!(
            again.0.group.try_lock().is_none(),
            "the same file's turn is taken"
        );
        assert!(
            other.0.group.try_lock().is_some(),
            "another file's turn is free"
        );
    }

    #[test]
    fn a_connection_carries_its_files_turn() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        std::fs::write(&path, b"").unwrap();
        let turn = WriterTurn::of_file(&path, SETUP);
        let mut conn = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
        assert!(WriterTurn::of(&mut conn).is_none(), "not attached yet");
        turn.attach(&mut conn);
        assert!(Arc::ptr_eq(&WriterTurn::of(&mut conn).unwrap().0, &turn.0));
    }

    /// A database file with a table `t (n INTEGER PRIMARY KEY)`, and a manager of connections
    /// to it as the pool makes them.
    fn database() -> (tempfile::TempDir, PathBuf, Manager) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("group.db");
        let mut conn = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
        conn.batch_execute("PRAGMA journal_mode = WAL; CREATE TABLE t (n INTEGER PRIMARY KEY);")
            .unwrap();
        let manager = Manager::new(DatabaseBackend::Sqlite(path.clone()));
        (dir, path, manager)
    }

    fn insert(conn: &mut DbConnection, n: i64) -> Result<()> {
        diesel::sql_query(format!("INSERT INTO t (n) VALUES ({n})")).execute(conn)?;
        Ok(())
    }

    /// The rows of `t` as another connection sees them: what is committed.
    fn committed(path: &Path) -> Vec<i64> {
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
        diesel::sql_query("SELECT n FROM t ORDER BY n")
            .load::<N>(&mut conn)
            .unwrap()
            .into_iter()
            .map(|row| row.n)
            .collect()
    }

    /// Waits until `count` writers are on their way into `turn` (at most 10 s).
    fn until_arriving(turn: &WriterTurn, count: usize) {
        let started = Instant::now();
        while turn.0.arriving.load(Ordering::SeqCst) < count {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "writers did not arrive"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Seven writers that arrive while the first writes share its commit: one commit for all. The
    /// one whose work fails has only its own write undone, as has the one whose work panics; each
    /// of the others finds its write committed when it returns.
    #[test]
    fn writers_that_arrive_during_a_write_share_its_commit() {
        let (_dir, path, manager) = database();
        let turn = manager.turn.clone().unwrap();
        let counters = turn.counters();
        let (inside_tx, inside_rx) = mpsc::channel();
        let holder = {
            let (manager, path, turn) = (manager.clone(), path.clone(), turn.clone());
            std::thread::spawn(move || {
                let mut conn = manager.connect().unwrap();
                write_transaction(&mut conn, |conn| {
                    insert(conn, 0)?;
                    inside_tx.send(()).unwrap();
                    until_arriving(&turn, 7);
                    Ok::<_, StoreError>(())
                })
                .unwrap();
                assert!(committed(&path).contains(&0), "answered before its commit");
            })
        };
        inside_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let writers: Vec<_> = (1..=7)
            .map(|n| {
                let (manager, path) = (manager.clone(), path.clone());
                std::thread::spawn(move || {
                    let mut conn = manager.connect().unwrap();
                    let outcome = write_transaction(&mut conn, |conn| {
                        insert(conn, n)?;
                        match n {
                            3 => Err(StoreError::Conflict("its own failure".into())),
                            5 => panic!("a write that panics"),
                            _ => Ok(()),
                        }
                    });
                    if outcome.is_ok() {
                        assert!(committed(&path).contains(&n), "answered before its commit");
                    }
                    outcome
                })
            })
            .collect();
        holder.join().unwrap();
        let outcomes: Vec<_> = writers.into_iter().map(|w| w.join()).collect();
        for (n, outcome) in (1..=7).zip(&outcomes) {
            match n {
                3 => assert!(
                    matches!(outcome, Ok(Err(StoreError::Conflict(why))) if why == "its own failure"),
                    "{outcome:?}"
                ),
                5 => assert!(outcome.is_err(), "the panic goes on in its thread"),
                _ => assert!(matches!(outcome, Ok(Ok(()))), "{n}: {outcome:?}"),
            }
        }
        assert_eq!(committed(&path), vec![0, 1, 2, 4, 6, 7]);
        assert_eq!(counters.commits.get(), 1, "one commit for the group");
        assert_eq!(counters.writes.get(), 6);

        // A lone writer afterwards commits at once, in a group of its own.
        let mut conn = manager.connect().unwrap();
        write_transaction(&mut conn, |conn| insert(conn, 8)).unwrap();
        assert_eq!(counters.commits.get(), 2);
        assert!(committed(&path).contains(&8));
    }

    /// A write that breaks the transaction it shares (here by rolling it back under the group)
    /// fails the whole group: every writer of it gets `SharedCommit`, nothing of the group is
    /// written, and the next write, on a new connection, succeeds.
    #[test]
    fn a_group_whose_transaction_breaks_fails_all_its_writers() {
        let (_dir, path, manager) = database();
        let turn = manager.turn.clone().unwrap();
        let (inside_tx, inside_rx) = mpsc::channel();
        let holder = {
            let (manager, turn) = (manager.clone(), turn.clone());
            std::thread::spawn(move || {
                let mut conn = manager.connect().unwrap();
                write_transaction(&mut conn, |conn| {
                    insert(conn, 1)?;
                    inside_tx.send(()).unwrap();
                    until_arriving(&turn, 1);
                    Ok::<_, StoreError>(())
                })
            })
        };
        inside_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let mut conn = manager.connect().unwrap();
        let breaker = write_transaction(&mut conn, |conn| {
            insert(conn, 2)?;
            conn.batch_execute("ROLLBACK")?;
            Ok::<_, StoreError>(())
        });
        let held = holder.join().unwrap();
        assert!(
            matches!(breaker, Err(StoreError::SharedCommit(_))),
            "{breaker:?}"
        );
        assert!(matches!(held, Err(StoreError::SharedCommit(_))), "{held:?}");
        assert!(held.unwrap_err().is_unavailable(), "answered 503, not 500");
        assert_eq!(committed(&path), Vec::<i64>::new());

        write_transaction(&mut conn, |conn| insert(conn, 3)).unwrap();
        assert_eq!(committed(&path), vec![3]);
    }

    /// A write inside another is a savepoint of the outer one, in the same group.
    #[test]
    fn a_write_inside_a_write_is_its_savepoint() {
        let (_dir, path, manager) = database();
        let mut conn = manager.connect().unwrap();
        write_transaction(&mut conn, |conn| {
            insert(conn, 1)?;
            let inner = write_transaction(conn, |conn| {
                insert(conn, 2)?;
                Err::<(), _>(StoreError::Conflict("inner".into()))
            });
            assert!(inner.is_err());
            write_alone(conn, |conn| insert(conn, 3))
        })
        .unwrap();
        assert_eq!(committed(&path), vec![1, 3]);
    }
}
