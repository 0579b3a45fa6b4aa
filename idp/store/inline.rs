//! Reads on the calling thread: a request that only reads (userinfo, introspection) runs its
//! statements at once on the async worker's own SQLite connection instead of handing them to the
//! blocking pool and back, which costs two thread wake-ups, more than the statement itself
//! (docs/performance.md).
//!
//! The async workers must never wait, so the connection is made unable to: `busy_timeout = 0`
//! (a lock that would make it wait fails at once instead) and `query_only` (a statement that
//! would write fails at once: a flow that turns out to write, such as a client assertion whose
//! `jti` is recorded, does not run here). When any statement fails, the caller runs the flow
//! again on the blocking pool, where it may wait and write; the first attempt wrote nothing.
//! PostgreSQL is always reached through the pool: a network round trip is a wait.

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};

use diesel::Connection;
use diesel::connection::{Instrumentation, InstrumentationEvent, SimpleConnection};
use diesel::sqlite::SqliteConnection;
use prometheus_client::metrics::counter::Counter;

use super::DbConnection;

/// Notes whether a statement of the connection failed, and counts its statements in its
/// store's count (`store/instrument.rs`).
struct Watch(Cell<bool>, Counter);

impl Instrumentation for Watch {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartQuery { .. } => {
                self.1.inc();
            }
            InstrumentationEvent::FinishQuery { error: Some(_), .. } => self.0.set(true),
            _ => {}
        }
    }
}

thread_local! {
    /// This thread's reading connection, and the file it reads.
    static READER: RefCell<Option<(PathBuf, DbConnection)>> = const { RefCell::new(None) };
}

/// Runs `f` on this thread's reading connection to the SQLite file `path` (opened at first use,
/// counting its statements in `statements`): its outcome, or `None` when a statement failed (or
/// the connection could not be opened), and the caller must run it on the pool instead.
pub(super) fn read_here<R>(
    path: &Path,
    statements: &Counter,
    f: impl FnOnce(&mut DbConnection) -> R,
) -> Option<R> {
    READER.with(|reader| {
        let mut reader = reader.try_borrow_mut().ok()?;
        if reader.as_ref().is_none_or(|(open, _)| open != path) {
            *reader = Some((path.to_path_buf(), open(path, statements)?));
        }
        let (_, conn) = reader.as_mut()?;
        let outcome = f(conn);
        let DbConnection::Sqlite(sqlite) = conn else {
            return None;
        };
        let failed = sqlite
            .instrumentation()
            .downcast_ref::<Watch>()
            .is_none_or(|watch| watch.0.replace(false));
        if failed {
            // A fresh connection next time: this one may be in a transaction the flow left.
            *reader = None;
            return None;
        }
        Some(outcome)
    })
}

/// A connection that neither waits nor writes (so it needs no `secure_delete`, which only
/// changes what a write leaves in the pages it changes or frees).
fn open(path: &Path, statements: &Counter) -> Option<DbConnection> {
    let mut conn = SqliteConnection::establish(&path.to_string_lossy()).ok()?;
    conn.batch_execute(
        "PRAGMA busy_timeout = 0; PRAGMA query_only = ON; PRAGMA foreign_keys = ON;",
    )
    .ok()?;
    conn.set_instrumentation(Watch(Cell::new(false), statements.clone()));
    Some(DbConnection::Sqlite(conn))
}

#[cfg(test)]
mod tests {
    use diesel::RunQueryDsl;

    use super::*;

    fn database() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inline.db");
        let mut conn = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
        conn.batch_execute(
            "PRAGMA journal_mode = WAL; CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (1);",
        )
        .unwrap();
        (dir, path)
    }

    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }

    #[test]
    fn a_read_runs_here_and_a_write_is_refused_for_the_pool() {
        let (_dir, path) = database();
        let counted = Counter::default();
        let read = read_here(&path, &counted, |conn| {
            diesel::sql_query("SELECT n FROM t")
                .load::<N>(conn)
                .map(|rows| rows[0].n)
        });
        assert_eq!(read.unwrap().unwrap(), 1);
        assert_eq!(counted.get(), 1, "its statements are counted");

        let wrote = read_here(&path, &counted, |conn| {
            diesel::sql_query("INSERT INTO t VALUES (2)").execute(conn)
        });
        assert!(wrote.is_none(), "a write goes to the pool");
        let mut other = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
        let rows = diesel::sql_query("SELECT n FROM t")
            .load::<N>(&mut other)
            .unwrap();
        assert_eq!(rows.len(), 1, "nothing was written");
    }

    #[test]
    fn a_locked_database_sends_the_read_to_the_pool_at_once() {
        let (_dir, path) = database();
        let mut locker = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
        // An exclusive lock: in WAL mode it keeps readers out only when the WAL is being
        // recovered or the journal mode changes, which this imitates with a rollback journal.
        locker
            .batch_execute(
                "PRAGMA journal_mode = DELETE; BEGIN EXCLUSIVE; INSERT INTO t VALUES (3);",
            )
            .unwrap();
        let started = std::time::Instant::now();
        let read = read_here(&path, &Counter::default(), |conn| {
            diesel::sql_query("SELECT n FROM t").load::<N>(conn)
        });
        assert!(read.is_none(), "busy: to the pool");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "without waiting"
        );
        locker.batch_execute("ROLLBACK").unwrap();
    }
}
