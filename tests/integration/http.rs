//! The server over HTTP: health, discovery, unknown paths, headers.

use serde_json::Value;

use crate::both_stores;
use crate::helpers::{Backend, TestApp, assert_has};

both_stores!(healthz_answers_when_the_database_does);
async fn healthz_answers_when_the_database_does(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    let expected = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(
        body,
        serde_json::json!({"status": "ok", "database": expected})
    );
    app.stop().await;
}

both_stores!(discovery_names_each_tenants_issuer);
async fn discovery_names_each_tenants_issuer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for tenant in ["seinajoki", "kouvola"] {
        let response = app
            .get(&format!("/{tenant}/.well-known/openid-configuration"))
            .await;
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["issuer"], format!("{}/{tenant}", app.base));
    }
    app.stop().await;
}

both_stores!(unknown_tenant_and_path_are_404);
async fn unknown_tenant_and_path_are_404(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.get("/tampere/.well-known/openid-configuration").await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"error": "not_found", "error_description": "no such tenant"})
    );

    let html = app
        .get_text("/no/such/page", 404, "text/html; charset=utf-8")
        .await;
    assert_has(&html, "<html lang=\"fi\">");
    assert_has(&html, "<h1>Sivua ei löydy</h1>");
    assert_has(&html, "<h2 lang=\"sv\">Sidan hittades inte</h2>");
    assert_has(&html, "<h2 lang=\"en\">Page not found</h2>");
    app.stop().await;
}

both_stores!(every_response_has_security_headers);
async fn every_response_has_security_headers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for path in [
        "/healthz",
        "/seinajoki/.well-known/openid-configuration",
        "/nothing",
    ] {
        let response = app.get(path).await;
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        assert!(
            headers["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'"),
            "{path}"
        );
    }
    app.stop().await;
}

/// An outage: the database disappears under a running server. PostgreSQL only — an open SQLite
/// file cannot be taken away from the process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_is_503_when_postgres_is_gone() {
    let Some(app) = TestApp::on_postgres().await else {
        return;
    };
    assert_eq!(app.get("/healthz").await.status(), 200);
    app.db.drop_now();
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "5");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"status": "unavailable", "database": "postgres"})
    );
    app.stop().await;
}
