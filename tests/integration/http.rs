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
    // Its stylesheet is idp's, under the public URL (with a path in it, `/static/idp.css` of the
    // host is another site's).
    let stylesheet = format!("href=\"{}/static/idp.css\"", app.base);
    assert_has(&html, &stylesheet);
    let html = app
        .get_text("/tampere/login", 404, "text/html; charset=utf-8")
        .await;
    assert_has(&html, &stylesheet);
    app.stop().await;
}

both_stores!(a_method_a_path_does_not_serve_is_405_and_head_is_answered_where_nothing_changes);
/// A load balancer's `HEAD /healthz`, a monitor's `HEAD` of discovery or the keys: answered as
/// their `GET`, without a body. A method a path does not serve is `405` with the methods it does
/// (RFC 9110 15.5.6), not the HTML page "not found" — for JSON endpoints neither; and a page that
/// starts something (`/authorize`, `/login`) does not answer `HEAD`.
async fn a_method_a_path_does_not_serve_is_405_and_head_is_answered_where_nothing_changes(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    for path in [
        "/healthz",
        "/static/idp.css",
        "/seinajoki/.well-known/openid-configuration",
        "/seinajoki/jwks",
        "/seinajoki/theme.css",
    ] {
        let head = app.http.head(app.url(path)).send().await.unwrap();
        let get = app.get(path).await;
        assert_eq!(head.status(), 200, "{path}");
        assert_eq!(
            head.headers()["cache-control"],
            get.headers()["cache-control"]
        );
        assert_eq!(
            head.headers()["content-type"],
            get.headers()["content-type"]
        );
        assert_eq!(head.bytes().await.unwrap().len(), 0, "{path}");
    }
    let wrong = [
        (reqwest::Method::GET, "/seinajoki/token", "POST"),
        (reqwest::Method::PUT, "/seinajoki/userinfo", "GET, POST"),
        (reqwest::Method::OPTIONS, "/seinajoki/token", "POST"),
        (reqwest::Method::POST, "/seinajoki/jwks", "GET, HEAD"),
        (reqwest::Method::HEAD, "/seinajoki/authorize", "GET, POST"),
        (reqwest::Method::HEAD, "/seinajoki/login", "GET"),
        (reqwest::Method::DELETE, "/seinajoki/account", "GET"),
    ];
    for (method, path, allowed) in wrong {
        let response = app
            .http
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{method} {path}");
        let mut allow: Vec<String> = response.headers()["allow"]
            .to_str()
            .unwrap()
            .split(',')
            .map(|m| m.trim().to_string())
            .collect();
        allow.sort();
        assert_eq!(allow.join(", "), allowed, "{method} {path}");
        assert!(
            response
                .headers()
                .get("access-control-allow-origin")
                .is_none()
        );
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    }
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
