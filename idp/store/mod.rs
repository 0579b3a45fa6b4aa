//! Storage: diesel over an embedded SQLite file or PostgreSQL, through one code path.
//!
//! The backend is chosen from `database.url`. Migrations for both are embedded in the binary and run
//! before the pool is built. All SQL of the service lives in this module's files, as functions that
//! take `&mut DbConnection` so that a flow can run several of them in one transaction.
//!
//! A look-up by a unique key reads its row with `get_result`, not `first`: `first` adds
//! `LIMIT ?`, and SQLite (3.47 and later) plans a bound LIMIT by its value, so it re-prepares such
//! a cached statement at every execution. That re-parsing was 40 % of the server's CPU under the
//! userinfo load (`perf`, docs/performance.md).

pub mod access;
pub mod audit;
pub mod audit_chain;
pub mod auth_requests;
pub mod backup;
pub mod ceremonies;
pub mod cleanup;
mod connection;
pub mod deletions;
pub mod deliveries;
pub mod epochs;
pub mod erasure;
mod error;
pub mod export;
pub mod gate;
pub mod grants;
mod inline;
mod instrument;
pub mod keys;
pub mod lease_queue;
pub mod legacy;
pub mod legacy_import;
pub mod links;
pub mod mail_limits;
pub mod outbox;
pub mod passkeys;
mod rows;
pub mod schema;
pub mod second_factors;
pub mod sessions;
mod tenant;
pub mod tenants;
pub mod throttle;
mod transaction;
pub mod usernames;
pub mod users;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::config::{DatabaseBackend, DatabaseSettings, SqliteSynchronous};
use crate::telemetry::metrics::SecondsCounter;
use prometheus_client::metrics::counter::Counter;

pub use connection::DbConnection;
/// The backend of [`DbConnection`] (either database), for boxed queries and expressions.
pub use connection::MultiBackend as Backend;
pub use error::{Result, StoreError};
use instrument::Instrument;
pub use instrument::Statements;
pub use tenant::Tenant;
use transaction::BUSY_TIMEOUT;
pub use transaction::{TurnCounters, WriterTurn, read_transaction, write_alone, write_transaction};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Serialises concurrent migrations of several nodes on one PostgreSQL (an arbitrary constant).
const MIGRATION_LOCK: i64 = 0x1d9_0001;

/// A pooled connection.
pub type PooledConnection = r2d2::PooledConnection<Manager>;

/// How long after its last use a pooled PostgreSQL connection is handed out untested (the bypass
/// window of HikariCP, whose default this is). One used longer ago, or whose last use ended in an
/// error, is tested with `SELECT 1` first, so that one left dead by a failover is replaced instead
/// of failing a request.
const TRUSTED_FOR: Duration = Duration::from_millis(500);

/// How long a request waits for a connection of the pool at most, then is answered 503.
const CONNECTION_WAIT: Duration = Duration::from_secs(10);

/// How long a request waits for a connection while the database is known unreachable (the last
/// attempt to connect failed), then is answered 503: not [`CONNECTION_WAIT`], so that during an
/// outage every request is answered quickly instead of holding a worker for 10 s.
const UNREACHABLE_WAIT: Duration = Duration::from_millis(500);

/// A connection of the pool, with what the pool needs to know of its last use.
pub struct Pooled {
    conn: DbConnection,
    /// When it was last returned to the pool, or tested.
    last_good: std::time::Instant,
    /// Whether its last use ended in an error (which may have been a lost connection).
    suspect: bool,
}

impl Pooled {
    /// The connection, unpooled (tests and one-off commands).
    pub fn into_inner(self) -> DbConnection {
        self.conn
    }
}

impl std::ops::Deref for Pooled {
    type Target = DbConnection;

    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.conn
    }
}

/// Opens connections of the configured backend for the pool (diesel's own manager would try every
/// backend in turn, and SQLite accepts any string as a file name).
#[derive(Debug, Clone)]
pub struct Manager {
    backend: DatabaseBackend,
    synchronous: SqliteSynchronous,
    /// Whether the last attempt to connect failed (shared with the [`Store`]).
    unreachable: Arc<AtomicBool>,
    /// The writers' turn of the SQLite file, which every connection carries.
    turn: Option<WriterTurn>,
    /// The statements of every connection it opens (shared with the [`Store`]).
    statements: Statements,
}

impl Manager {
    /// A manager for `backend` (SQLite commits synced in full).
    pub fn new(backend: DatabaseBackend) -> Self {
        Self::with_synchronous(backend, SqliteSynchronous::default())
    }

    /// A manager for `backend` with SQLite's commits synced as `synchronous` says.
    pub fn with_synchronous(backend: DatabaseBackend, synchronous: SqliteSynchronous) -> Self {
        let turn = match &backend {
            DatabaseBackend::Sqlite(path) => {
                Some(WriterTurn::of_file(path, &sqlite_setup(synchronous)))
            }
            DatabaseBackend::Postgres(_) => None,
        };
        // On SQLite the turn counts, for its own writing connection too.
        let statements = Statements {
            all: turn
                .as_ref()
                .map(WriterTurn::statements)
                .unwrap_or_default(),
            tests: Counter::default(),
        };
        Self {
            backend,
            synchronous,
            unreachable: Arc::new(AtomicBool::new(false)),
            turn,
            statements,
        }
    }

    /// A new connection, set up for idp.
    fn open(&self) -> Result<DbConnection, r2d2::Error> {
        match &self.backend {
            DatabaseBackend::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(&path.to_string_lossy())
                    .map_err(r2d2::Error::ConnectionError)?;
                conn.batch_execute(&sqlite_setup(self.synchronous))
                    .map_err(r2d2::Error::QueryError)?;
                Instrument::<WriterTurn>::counting(self.statements.all.clone()).attach(&mut conn);
                if let Some(turn) = &self.turn {
                    turn.attach(&mut conn);
                }
                Ok(DbConnection::Sqlite(conn))
            }
            DatabaseBackend::Postgres(url) => {
                let conn = PgConnection::establish(url);
                self.unreachable.store(conn.is_err(), Ordering::Relaxed);
                let mut conn = conn.map_err(r2d2::Error::ConnectionError)?;
                conn.batch_execute(POSTGRES_SETUP)
                    .map_err(r2d2::Error::QueryError)?;
                Instrument::<WriterTurn>::counting(self.statements.all.clone()).attach(&mut conn);
                Ok(DbConnection::Postgres(conn))
            }
        }
    }
}

/// The size the SQLite WAL file is cut back to when it is reset after a checkpoint
/// (`journal_size_limit`). Ordinary use keeps the WAL near 4 MiB (the automatic checkpoint every
/// 1000 pages of 4 KiB), and reuses it from its start after each checkpoint, overwriting old
/// frames; it grows past that only while a long reader holds the checkpoints back (`idp backup`
/// of a large file, an export, a legacy import). Without a limit the file then keeps its peak
/// size for good, and the frames past what ordinary use overwrites keep old pages, with data
/// deleted since, indefinitely. 64 MiB is 16 times the ordinary size, so that a reset does not
/// truncate and regrow the file under load, and bounds those old frames; an erasure empties the
/// WAL at once (`erasure::clear_wal`).
const WAL_SIZE_LIMIT: u64 = 64 * 1024 * 1024;

/// What sets up a SQLite connection: it waits for a writer instead of failing at once; foreign
/// keys are off by default; FULL (the default) syncs every commit, so a power loss cannot lose a
/// committed reset link; `secure_delete` overwrites what a statement deletes or clears with zeros
/// (in the page, and in pages it frees), so that an erased address or a purged mail's link is not
/// left readable in the file's free space (the bundled SQLite is not built with
/// `SQLITE_SECURE_DELETE`); the WAL is cut back to [`WAL_SIZE_LIMIT`].
fn sqlite_setup(synchronous: SqliteSynchronous) -> String {
    format!(
        "PRAGMA busy_timeout = {}; PRAGMA foreign_keys = ON; PRAGMA synchronous = {}; \
         PRAGMA secure_delete = ON; PRAGMA journal_size_limit = {WAL_SIZE_LIMIT};",
        BUSY_TIMEOUT.as_millis(),
        synchronous.pragma()
    )
}

/// What sets up a PostgreSQL connection: PostgreSQL ends a session of idp that sits idle inside a
/// transaction for a minute, and rolls the transaction back. No transaction of idp waits between
/// its statements for anything but the node's own work (hashing and calls to other servers are
/// outside them), so a session idle that long is a node that froze, lost power or lost its
/// network in the middle: without the limit its locks (a client address's throttle counter, a
/// user's row, a recipient's mail limit) were held until the server's TCP keepalive gave up, two
/// hours by default, and the other nodes' requests waiting on them took their connections one by
/// one. (The one transaction that waits for someone else, an audit export's read for its
/// reader, lifts the limit for itself: [`reader_may_pause`].)
pub const POSTGRES_SETUP: &str = "SET idle_in_transaction_session_timeout = '60s'";

/// Inside a read transaction whose rows go to a reader that may pause (`idp audit export`
/// written to a pipe that `less` or a log shipper empties at its own pace): lifts
/// [`POSTGRES_SETUP`]'s limit for this transaction alone, which would otherwise end the export
/// half-way. A read-only snapshot holds no lock that anything waits on (it holds back only the
/// clean-up of old row versions while it lasts). Nothing on SQLite.
pub fn reader_may_pause(conn: &mut DbConnection) -> Result<()> {
    if let DbConnection::Postgres(pg) = conn {
        pg.batch_execute("SET LOCAL idle_in_transaction_session_timeout = 0")?;
    }
    Ok(())
}

/// A new PostgreSQL connection, set up for idp ([`POSTGRES_SETUP`]).
fn postgres(url: &str) -> Result<PgConnection> {
    let mut conn = PgConnection::establish(url)?;
    conn.batch_execute(POSTGRES_SETUP)?;
    Ok(conn)
}

impl ManageConnection for Manager {
    type Connection = Pooled;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<Pooled, r2d2::Error> {
        let conn = self.open()?;
        Ok(Pooled {
            conn,
            last_good: std::time::Instant::now(),
            suspect: false,
        })
    }

    /// Called at checkout for PostgreSQL only (SQLite's connections are file handles that a
    /// failover cannot break; testing them would be a statement per request).
    fn is_valid(&self, pooled: &mut Pooled) -> Result<(), r2d2::Error> {
        if !pooled.suspect && pooled.last_good.elapsed() < TRUSTED_FOR {
            return Ok(());
        }
        self.statements.tests.inc();
        diesel::sql_query("SELECT 1")
            .execute(&mut pooled.conn)
            .map_err(r2d2::Error::QueryError)?;
        pooled.suspect = false;
        pooled.last_good = std::time::Instant::now();
        Ok(())
    }

    fn has_broken(&self, pooled: &mut Pooled) -> bool {
        if pooled.conn.is_broken() {
            return true;
        }
        if !pooled.suspect {
            pooled.last_good = std::time::Instant::now();
        }
        false
    }
}

/// The connection pool and what it connects to; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: r2d2::Pool<Manager>,
    backend: DatabaseBackend,
    /// Whether the pool's last attempt to connect failed.
    unreachable: Arc<AtomicBool>,
    /// How often, and how long, requests waited for a connection.
    waits: PoolWaits,
    /// The SQLite writers' waits for their turn, and their commits.
    writer_turn: Option<TurnCounters>,
    /// The statements of the pool's connections.
    statements: Statements,
    /// The locks a client can name that a request of this node is waiting for (`gate.rs`).
    gate: Arc<gate::Gate>,
    /// The turns of this node's requests at such locks, waited for without a connection.
    turns: Arc<gate::Turns>,
}

/// How often a checkout found no idle connection and waited (for one to come back, or to be
/// opened), and how long in all: the metrics `idp_db_pool_waits_total` and
/// `idp_db_pool_wait_seconds_total`.
#[derive(Debug, Clone, Default)]
pub struct PoolWaits {
    /// Checkouts that waited.
    pub waits: Counter,
    /// Seconds waited.
    pub seconds: SecondsCounter,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend_name())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Runs pending migrations, then builds the pool. Creates a SQLite file (and its directory)
    /// when there is none.
    pub fn open(settings: &DatabaseSettings) -> Result<Store> {
        let backend = settings.backend().map_err(StoreError::Config)?;
        for version in migrate(&backend)? {
            tracing::info!(%version, "migration applied");
        }
        let unknown = unknown_migrations(&backend)?;
        if !unknown.is_empty() {
            tracing::warn!(
                versions = %unknown.join(", "),
                "the database has migrations this build does not know: a newer version of idp \
                 migrated it (docs/deployment.md, rolling upgrades)"
            );
        }
        // A PostgreSQL connection idle for a while, or whose last use failed, is tested when taken
        // from the pool (`Manager::is_valid`).
        let test_on_check_out = matches!(backend, DatabaseBackend::Postgres(_));
        let manager = Manager::with_synchronous(backend.clone(), settings.sqlite_synchronous);
        let unreachable = manager.unreachable.clone();
        let writer_turn = manager.turn.as_ref().map(WriterTurn::counters);
        let statements = manager.statements.clone();
        let pool = r2d2::Pool::builder()
            .max_size(settings.max_connections)
            .test_on_check_out(test_on_check_out)
            .min_idle(Some(1))
            .connection_timeout(CONNECTION_WAIT)
            .build(manager)
            .map_err(StoreError::Pool)?;
        Ok(Store {
            pool,
            backend,
            unreachable,
            waits: PoolWaits::default(),
            writer_turn,
            statements,
            gate: Arc::default(),
            turns: Arc::default(),
        })
    }

    /// `sqlite` or `postgres`, for logs.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            DatabaseBackend::Sqlite(_) => "sqlite",
            DatabaseBackend::Postgres(_) => "postgres",
        }
    }

    /// A connection from the pool, for synchronous callers (the CLI, blocking tasks).
    pub fn conn(&self) -> Result<PooledConnection> {
        checkout(&self.pool, &self.unreachable, &self.waits)
    }

    /// The pool's connections: in use, and idle.
    pub fn connections(&self) -> (u32, u32) {
        let state = self.pool.state();
        (
            state.connections.saturating_sub(state.idle_connections),
            state.idle_connections,
        )
    }

    /// The pool's waits (shared: the metrics read what checkouts count).
    pub fn pool_waits(&self) -> &PoolWaits {
        &self.waits
    }

    /// The SQLite writers' waits for their turn and their shared commits (`None` on PostgreSQL).
    pub fn writer_turn(&self) -> Option<TurnCounters> {
        self.writer_turn.clone()
    }

    /// The statements the pool's connections ran (shared: the metrics read what they count).
    pub fn statements(&self) -> &Statements {
        &self.statements
    }

    /// Runs `f` with a pooled connection on the blocking thread pool, off the async executor.
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (pool, unreachable) = (self.pool.clone(), self.unreachable.clone());
        let (waits, gate) = (self.waits.clone(), self.gate.clone());
        // A child of the request's span: the wait for a connection and the work, on its thread.
        let span = db_span(self.backend_name());
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let mut pooled = checkout(&pool, &unreachable, &waits)?;
            // The keys it enters are left once its work is done, its transactions ended.
            let result = gate.within(|| f(&mut pooled.conn));
            pooled.suspect = result.is_err();
            result
        })
        .await
        .map_err(|e| E::from(StoreError::Task(e.to_string())))?
    }

    /// [`Store::run`] once this node's other requests of `keys` have run theirs (waited for without
    /// a connection, at most as long as for a connection; then [`StoreError::Crowded`]): for work
    /// that waits for a lock of the database a client can name, many times at once (`gate.rs`).
    /// On PostgreSQL: on SQLite it is [`Store::run`].
    pub async fn run_in_turn<T, E, F>(&self, keys: &[String], f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        // SQLite's writers take their turns whatever they write (`transaction.rs`).
        if let DatabaseBackend::Sqlite(_) = self.backend {
            return self.run(f).await;
        }
        let Ok(turn) = tokio::time::timeout(CONNECTION_WAIT, self.turns.take(keys)).await else {
            return Err(E::from(StoreError::Crowded));
        };
        // Given up when the work is done, on its thread: a request whose client left (its future
        // dropped) keeps its turn until its work, which goes on, has ended.
        self.run(move |conn| {
            let _turn = turn;
            f(conn)
        })
        .await
    }

    /// Runs `f`, which only reads, at once on the calling thread (an async worker), when the
    /// store is SQLite: its outcome, or `None` when it must run on the pool with [`Store::run`]
    /// instead (PostgreSQL, or a statement of `f` failed: it would have waited, or it writes).
    /// `f` wrote nothing then. See `store/inline.rs`.
    pub fn read_here<R>(&self, f: impl FnOnce(&mut DbConnection) -> R) -> Option<R> {
        match &self.backend {
            DatabaseBackend::Sqlite(path) => {
                let _span = db_span("sqlite").entered();
                inline::read_here(path, &self.statements.all, f)
            }
            DatabaseBackend::Postgres(_) => None,
        }
    }

    /// The migrations of this build that the database lacks (their names), waiting at most
    /// `timeout` for a connection: none after `idp migrate`; some after a restore of an older
    /// backup or a failover to a database that missed an upgrade.
    pub async fn pending_migrations(&self, timeout: Duration) -> Result<Vec<String>> {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get_timeout(timeout).map_err(StoreError::Pool)?;
            let names = match &mut conn.conn {
                DbConnection::Sqlite(conn) => conn
                    .pending_migrations(SQLITE_MIGRATIONS)
                    .map(|pending| pending.iter().map(|m| m.name().to_string()).collect()),
                DbConnection::Postgres(conn) => conn
                    .pending_migrations(POSTGRES_MIGRATIONS)
                    .map(|pending| pending.iter().map(|m| m.name().to_string()).collect()),
            };
            names.map_err(|e| StoreError::Migration(e.to_string()))
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// Whether the database answers a read of the schema, waiting at most `timeout` for a
    /// connection (a database without our tables is not healthy either).
    pub async fn ping(&self, timeout: Duration) -> Result<()> {
        use diesel::prelude::*;
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get_timeout(timeout).map_err(StoreError::Pool)?;
            schema::users::table
                .select(schema::users::id)
                .limit(1)
                .load::<String>(&mut **conn)?;
            Ok(())
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }
}

/// A connection of `pool` within [`CONNECTION_WAIT`], or within [`UNREACHABLE_WAIT`] while the
/// database is unreachable (`StoreError::Pool`, answered 503 with `Retry-After`). A checkout
/// that finds no idle connection is counted in `waits`, with the time it waited.
fn checkout(
    pool: &r2d2::Pool<Manager>,
    unreachable: &AtomicBool,
    waits: &PoolWaits,
) -> Result<PooledConnection> {
    if let Some(conn) = pool.try_get() {
        return Ok(conn);
    }
    waits.waits.inc();
    let started = std::time::Instant::now();
    let waited = || waits.seconds.inc_by(started.elapsed().as_secs_f64());
    loop {
        match pool.get_timeout(UNREACHABLE_WAIT) {
            Ok(conn) => {
                waited();
                return Ok(conn);
            }
            Err(error)
                if unreachable.load(Ordering::Relaxed)
                    || started.elapsed() + UNREACHABLE_WAIT > CONNECTION_WAIT =>
            {
                waited();
                return Err(StoreError::Pool(error));
            }
            Err(_) => {}
        }
    }
}

/// A new row id: a UUIDv7 from `now`, so ids sort by creation time.
pub fn new_id(now: chrono::NaiveDateTime) -> String {
    let utc = now.and_utc();
    let nanos = utc.timestamp_subsec_nanos();
    let seconds = u64::try_from(utc.timestamp()).unwrap_or(0);
    uuid::Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, seconds, nanos)).to_string()
}

/// Runs the pending migrations of `backend`, each in a transaction of its own with the Rust step
/// of those that need one ([`RUST_STEPS`]); returns the versions applied. A failed migration
/// leaves nothing of itself, on either store, and a long one holds its locks for itself only,
/// not for the migrations around it.
pub fn migrate(backend: &DatabaseBackend) -> Result<Vec<String>> {
    let mut conn = match backend {
        DatabaseBackend::Sqlite(path) => {
            create_private_file(path)?;
            let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
            // WAL is a property of the file: readers never wait for the writer. A migration that
            // deletes or rebuilds a table leaves no old rows in free space either. The busy
            // timeout first: setting the journal mode takes a lock, and without it a start (or a
            // command of the CLI) beside a node writing, or closing its last connection, failed
            // at once with "database is locked".
            conn.batch_execute(&format!(
                "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; PRAGMA secure_delete = ON;",
                BUSY_TIMEOUT.as_millis()
            ))?;
            DbConnection::Sqlite(conn)
        }
        DatabaseBackend::Postgres(url) => DbConnection::Postgres(postgres(url)?),
    };
    let mut applied = Vec::new();
    let began = std::time::Instant::now();
    loop {
        match conn.transaction(migrate_next) {
            Ok(Some(version)) => applied.push(version),
            Ok(None) => return Ok(applied),
            // SQLite answers "database is locked" at once, without its busy handler, in a few
            // cases: the last connection of a node that stops checkpoints and removes the WAL
            // under an exclusive lock, and a transaction that read before another connection
            // wrote cannot write. The migration's transaction was rolled back: try again, for as
            // long as a writer would wait.
            Err(error)
                if matches!(conn, DbConnection::Sqlite(_))
                    && error.to_string().contains("database is locked")
                    && began.elapsed() < BUSY_TIMEOUT =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(error) => return Err(error),
        }
    }
}

/// Runs the next pending migration and its Rust step, if any: its version.
fn migrate_next(conn: &mut DbConnection) -> Result<Option<String>> {
    let next = match conn {
        DbConnection::Sqlite(conn) => next_migration(conn, || SQLITE_MIGRATIONS),
        DbConnection::Postgres(conn) => {
            // Under a transaction-scoped lock: nodes starting together migrate one after another,
            // and the lock cannot outlive the migration (as a session lock can behind PgBouncer's
            // transaction pooling).
            diesel::sql_query(format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
                .execute(conn)?;
            next_migration(conn, || POSTGRES_MIGRATIONS)
        }
    }
    .map_err(|e| StoreError::Migration(e.to_string()))?;
    if let Some(version) = &next {
        for (_, step) in RUST_STEPS.iter().filter(|(v, _)| v == version) {
            step(conn)?;
        }
    }
    Ok(next)
}

/// The migrations `backend`'s database has that this build does not know, by version: a newer
/// version of idp migrated it. This build still serves on it while those migrations only add
/// (a rolling upgrade, docs/deployment.md), but it is not the schema this build was tested on.
pub fn unknown_migrations(backend: &DatabaseBackend) -> Result<Vec<String>> {
    fn unknown<C: MigrationHarness<C::Backend> + Connection>(
        conn: &mut C,
        migrations: EmbeddedMigrations,
    ) -> diesel::migration::Result<Vec<String>> {
        let known: Vec<String> =
            diesel::migration::MigrationSource::<C::Backend>::migrations(&migrations)?
                .iter()
                .map(|m| m.name().version().to_string())
                .collect();
        Ok(conn
            .applied_migrations()?
            .iter()
            .map(ToString::to_string)
            .filter(|version| !known.contains(version))
            .collect())
    }
    match backend {
        DatabaseBackend::Sqlite(path) => {
            let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
            unknown(&mut conn, SQLITE_MIGRATIONS)
        }
        DatabaseBackend::Postgres(url) => {
            let mut conn = postgres(url)?;
            unknown(&mut conn, POSTGRES_MIGRATIONS)
        }
    }
    .map_err(|e| StoreError::Migration(e.to_string()))
}

/// Runs the first of `migrations` that `conn`'s database lacks: its version; none when it lacks
/// none.
fn next_migration<C: MigrationHarness<C::Backend> + Connection>(
    conn: &mut C,
    migrations: fn() -> EmbeddedMigrations,
) -> diesel::migration::Result<Option<String>> {
    if !conn.has_pending_migration(migrations())? {
        return Ok(None);
    }
    Ok(Some(conn.run_next_migration(migrations())?.to_string()))
}

/// The migrations whose work SQL cannot do on both stores, by version, and the step that does it
/// right after the migration's SQL, in its transaction.
const RUST_STEPS: [(&str, RustStep); 2] = [
    ("20261215000001", fold_usernames),
    ("20261218000001", key_domains_in_ascii),
];

/// The Rust step of a migration: it runs in the migration's transaction.
type RustStep = fn(&mut DbConnection) -> Result<()>;

/// The step of `2026-12-15-000001_usernames_folded` ([`usernames::fold_all`]).
fn fold_usernames(conn: &mut DbConnection) -> Result<()> {
    let folded = usernames::fold_all(conn)?;
    tracing::info!(changed = folded.changed, "usernames' keys folded (NFKC)");
    for (table, id) in &folded.left {
        tracing::warn!(
            table,
            id,
            "a username's folded key is another account's: left as it was (docs/migration.md)"
        );
    }
    Ok(())
}

/// The step of `2026-12-18-000001_addresses_ascii_domains` ([`usernames::key_domains_in_ascii`]).
fn key_domains_in_ascii(conn: &mut DbConnection) -> Result<()> {
    let keyed = usernames::key_domains_in_ascii(conn)?;
    tracing::info!(
        changed = keyed.changed,
        "addresses' and usernames' keys written with ASCII domains"
    );
    for (table, id) in &keyed.left {
        tracing::warn!(
            table,
            id,
            "an address's or username's new key is another account's: left as it was (docs/migration.md)"
        );
    }
    Ok(())
}

/// Reverts every migration of `backend` (the migration tests use it).
pub fn revert_all(backend: &DatabaseBackend) -> Result<()> {
    match backend {
        DatabaseBackend::Sqlite(path) => {
            let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
            conn.revert_all_migrations(SQLITE_MIGRATIONS)
                .map_err(|e| StoreError::Migration(e.to_string()))?;
        }
        DatabaseBackend::Postgres(url) => {
            let mut conn = postgres(url)?;
            conn.revert_all_migrations(POSTGRES_MIGRATIONS)
                .map_err(|e| StoreError::Migration(e.to_string()))?;
        }
    }
    Ok(())
}

/// Creates the SQLite file's directory, and the file readable by its owner only (it holds
/// password hashes), unless it exists.
fn create_private_file(path: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source, at: &Path| StoreError::Io {
        path: at.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|e| io(e, dir))?;
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io(e, path)),
    }
}

/// The span of a database call on `system`, with the ids of the request it serves (none for a
/// background worker's).
fn db_span(system: &str) -> tracing::Span {
    let ids = crate::telemetry::request_ids();
    tracing::info_span!(
        "db",
        db.system = system,
        request_id = ids.as_ref().map(|ids| ids.request.as_str()),
        trace_id = ids.as_ref().and_then(|ids| ids.trace.as_deref())
    )
}
