//! `/readyz`, the readiness check a load balancer asks: ready only with the database answering,
//! every migration applied and every tenant's signing keys in the ring; otherwise 503 with the
//! reason, while `/healthz` (liveness) stays 200 as long as the database answers.

use diesel::prelude::*;
use serde_json::{Value, json};

use crate::both_stores;
use crate::helpers::{Backend, TestApp, header, project_root};

/// `/readyz`'s status, `Retry-After` header and body.
async fn ready(app: &TestApp) -> (u16, Option<String>, Value) {
    let response = app.get("/readyz").await;
    let retry = header(&response, "retry-after");
    (
        response.status().as_u16(),
        retry,
        response.json().await.unwrap(),
    )
}

both_stores!(a_started_node_is_ready);
async fn a_started_node_is_ready(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, retry, body) = ready(&app).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(retry, None);
    let database = if backend == Backend::Postgres {
        "postgres"
    } else {
        "sqlite"
    };
    assert_eq!(body, json!({"status": "ready", "database": database}));
    app.stop().await;
}

both_stores!(a_database_that_lacks_a_migration_is_not_ready);
async fn a_database_that_lacks_a_migration_is_not_ready(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // As after a restore of a backup older than the last upgrade: the newest migration is not
    // recorded as applied.
    let version = app
        .db_run(|conn| {
            #[derive(QueryableByName)]
            struct Newest {
                #[diesel(sql_type = diesel::sql_types::Text)]
                version: String,
            }
            let newest: Newest =
                diesel::sql_query("SELECT MAX(version) AS version FROM __diesel_schema_migrations")
                    .get_result(conn)
                    .unwrap();
            diesel::sql_query(format!(
                "DELETE FROM __diesel_schema_migrations WHERE version = '{}'",
                newest.version
            ))
            .execute(conn)
            .unwrap();
            newest.version
        })
        .await;
    assert_eq!(crate::helpers::migration_versions().pop().unwrap(), version);
    let mut names: Vec<String> = std::fs::read_dir(project_root().join("migrations/sqlite"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let newest = names.pop().unwrap();

    let (status, retry, body) = ready(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(retry.as_deref(), Some("5"));
    assert_eq!(body["status"], "not_ready");
    assert_eq!(
        body["reason"],
        format!("migrations not applied: {newest}"),
        "{body}"
    );
    // Alive all the same: the load balancer stops sending, the orchestrator does not restart it.
    assert_eq!(app.get("/healthz").await.status(), 200);
    app.stop().await;
}

/// Deletes seinajoki's ES256 keys and reloads the key ring without them.
pub(crate) async fn without_seinajokis_es256_keys(app: &TestApp) {
    app.db_run(|conn| {
        use idp::store::schema::signing_keys;
        diesel::delete(
            signing_keys::table
                .filter(signing_keys::tenant_id.eq("seinajoki"))
                .filter(signing_keys::alg.eq("ES256")),
        )
        .execute(conn)
        .unwrap();
    })
    .await;
    let services = app.services.clone();
    tokio::task::spawn_blocking(move || services.reload_keys())
        .await
        .unwrap()
        .unwrap();
}

both_stores!(a_ring_without_a_tenants_key_is_not_ready);
async fn a_ring_without_a_tenants_key_is_not_ready(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    without_seinajokis_es256_keys(&app).await;

    let (status, _, body) = ready(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        body["reason"], "signing keys missing: seinajoki: no ES256 key",
        "{body}"
    );
    app.stop().await;
}

/// PostgreSQL only: an open SQLite file cannot be taken away from the process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_database_is_gone_is_not_ready() {
    let Some(app) = TestApp::on_postgres().await else {
        return;
    };
    app.db.drop_now();
    let (status, retry, body) = ready(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(retry.as_deref(), Some("5"));
    assert_eq!(body["status"], "not_ready");
    // In idp's words only: the driver's error (hosts, addresses, the database user) is logged.
    assert_eq!(body["reason"], "the database does not answer", "{body}");
    // Alive all the same: a supervisor that restarted it would get a node that cannot start
    // until the database is back (the health check, for monitoring, says the database is away).
    let live = app.get("/livez").await;
    assert_eq!(live.status(), 200);
    assert_eq!(app.get("/healthz").await.status(), 503);
    app.stop().await;
}
