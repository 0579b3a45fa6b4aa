//! The connection pool.
//!
//! After a PostgreSQL failover every connection of the pool is dropped by the server, as when the
//! primary changes. A connection idle for longer than the pool trusts it is tested before use;
//! one whose last use failed is tested at its next checkout. So after a failover a node serves
//! again without a restart, and at most the requests already using a dropped connection fail.
//! That test is PostgreSQL's alone (a SQLite connection is a file handle that cannot be dropped
//! this way): without `IDP_TEST_POSTGRES_URL` it is skipped (a failure under `CI=true`).
//!
//! SQLite's connections sync every commit unless `database.sqlite_synchronous` says otherwise.

use std::time::Duration;

use diesel::sql_types::BigInt;
use diesel::{Connection, QueryableByName, RunQueryDsl};
use idp::store::{Store, StoreError};

use crate::helpers::{Backend, TestDb, postgres_admin_url};

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// How many users the pool's connection sees (a statement on the pooled connection).
async fn users(store: &Store) -> Result<i64, StoreError> {
    store
        .run(|conn| {
            Ok(diesel::sql_query("SELECT count(*) AS n FROM users")
                .get_result::<Count>(conn)?
                .n)
        })
        .await
}

/// Ends every other server process of the database, as a failover does; returns how many.
fn drop_connections(url: &str) -> i64 {
    let mut admin = diesel::PgConnection::establish(url).unwrap();
    diesel::sql_query(
        "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .get_result::<Count>(&mut admin)
    .unwrap()
    .n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_is_replaced() {
    if postgres_admin_url().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(Backend::Postgres, dir.path());
    let settings: idp::config::DatabaseSettings =
        toml::from_str(&format!("url = \"{}\"\nmax_connections = 1", db.url)).unwrap();
    let store = Store::open(&settings).unwrap();
    assert_eq!(users(&store).await.unwrap(), 0);

    // Dropped while idle for longer than the pool trusts it: tested, replaced, no request fails.
    assert_eq!(drop_connections(&db.url), 1, "the pool's one connection");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(users(&store).await.unwrap(), 0);

    // Dropped just after a use: the next request, on the dead connection, fails as a lost
    // connection (answered 503, not 500, and not a hang); the one after it gets a new one.
    assert_eq!(drop_connections(&db.url), 1);
    let failed = users(&store).await.unwrap_err();
    assert!(matches!(failed, StoreError::Lost(_)), "{failed:?}");
    assert!(failed.is_unavailable());
    assert_eq!(users(&store).await.unwrap(), 0);
    assert_eq!(users(&store).await.unwrap(), 0);
}

/// The `synchronous` pragma of the pool's SQLite connections.
async fn synchronous(store: &Store) -> i64 {
    store
        .run(|conn| {
            #[derive(QueryableByName)]
            struct Pragma {
                #[diesel(sql_type = BigInt)]
                synchronous: i64,
            }
            Ok::<_, StoreError>(
                diesel::sql_query("PRAGMA synchronous")
                    .get_result::<Pragma>(conn)?
                    .synchronous,
            )
        })
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_syncs_every_commit_unless_told_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(Backend::Sqlite, dir.path());
    let open = |extra: &str| {
        let settings: idp::config::DatabaseSettings =
            toml::from_str(&format!("url = \"{}\"\n{extra}", db.url)).unwrap();
        Store::open(&settings).unwrap()
    };
    // SQLite's values: FULL = 2, NORMAL = 1.
    assert_eq!(synchronous(&open("")).await, 2);
    assert_eq!(synchronous(&open("sqlite_synchronous = \"full\"")).await, 2);
    assert_eq!(
        synchronous(&open("sqlite_synchronous = \"normal\"")).await,
        1
    );
    let refused = toml::from_str::<idp::config::DatabaseSettings>(&format!(
        "url = \"{}\"\nsqlite_synchronous = \"off\"",
        db.url
    ))
    .unwrap_err();
    assert!(
        refused.to_string().contains("unknown variant `off`"),
        "{refused}"
    );
}
