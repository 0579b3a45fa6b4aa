//! client_credentials, introspection, revocation, discovery and JWKS.

use openidconnect::{OAuth2TokenResponse, TokenIntrospectionResponse};
use serde_json::Value;

use crate::both_stores;
use crate::helpers::journeys::client_post as post_form;
use crate::helpers::{Backend, TestApp};
use crate::rp;

const PASSWORD: &str = "oikea hevonen patteri";
const TOKEN: &str = "/seinajoki/token";
const INTROSPECT: &str = "/seinajoki/introspect";
const REVOKE: &str = "/seinajoki/revoke";
/// The client_credentials client.
const SERVICE: (&str, &str) = ("service", "service-secret");
/// The relying party of the logins.
const RP_BASIC: (&str, &str) = ("rp-basic", "rp-basic-secret");

/// The client_credentials grant's form.
const CREDENTIALS: [(&str, &str); 1] = [("grant_type", "client_credentials")];
/// The answer of introspection for a token the client may not know of.
fn inactive() -> (u16, Value) {
    (200, serde_json::json!({"active": false}))
}

/// The status of userinfo at `tenant` for `token`.
async fn userinfo_status(app: &TestApp, tenant: &str, token: &str) -> u16 {
    let request = app.http.get(app.url(&format!("/{tenant}/userinfo")));
    request
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A server with Erkki, logged in at `rp-basic`: the client and its tokens.
async fn logged_in(backend: Backend) -> (TestApp, rp::Rp, rp::Redeemed) {
    let app = TestApp::with_user(backend, "erkki@testi.fi", PASSWORD, "Erkki").await;
    let client = rp::basic(&app).await;
    let started = rp::start(&client, &[], &[]);
    let browser = app.browser();
    let redeemed =
        rp::log_in_and_redeem(&browser, &client, started, "erkki@testi.fi", PASSWORD).await;
    (app, client, redeemed)
}

both_stores!(a_rotated_secret_works_beside_the_new_one_until_its_expiry);
/// An e-service's secret is rotated without a moment when both sides must change at once: the
/// tenant file gives the new secret's hash and, until an expiry, the old one's. Each works until
/// then (the e-service moves when it likes); after it, only the new one.
async fn a_rotated_secret_works_beside_the_new_one_until_its_expiry(backend: Backend) {
    use sha2::Digest;
    let hash = |secret: &str| hex::encode(sha2::Sha256::digest(secret));
    let (new, old) = ("uusi-salaisuus-32-tavua", "vanha-salaisuus-32-tavua");
    let now = idp::clock::Clock::now(&idp::clock::SystemClock);
    let expires = (now + chrono::Duration::days(1)).and_utc().to_rfc3339();
    let app = TestApp::builder(backend)
        .tenant_toml(&format!(
            "\n[[clients]]\nclient_id = \"rotating\"\nclient_secret_sha256 = \"{}\"\n\
             previous_client_secret_sha256 = \"{}\"\nprevious_secret_expires = \"{expires}\"\n\
             grant_types = [\"client_credentials\"]\n",
            hash(new),
            hash(old)
        ))
        .spawn()
        .await;
    let wrong = serde_json::json!({"error": "invalid_client", "error_description": "unknown client or wrong credentials"});
    for secret in [new, old] {
        let (status, body) = post_form(&app, TOKEN, ("rotating", secret), &CREDENTIALS).await;
        assert_eq!(status, 200, "{secret}: {body}");
    }
    let answer = post_form(&app, TOKEN, ("rotating", "arvaus"), &CREDENTIALS).await;
    assert_eq!(answer, (401, wrong.clone()));

    app.clock.advance(2 * 24 * 3600);
    let (status, body) = post_form(&app, TOKEN, ("rotating", new), &CREDENTIALS).await;
    assert_eq!(status, 200, "{body}");
    let answer = post_form(&app, TOKEN, ("rotating", old), &CREDENTIALS).await;
    assert_eq!(answer, (401, wrong));
    app.stop().await;
}

both_stores!(client_credentials_gives_a_service_token);
async fn client_credentials_gives_a_service_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, body) = post_form(&app, TOKEN, SERVICE, &CREDENTIALS).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 300);
    assert!(
        body.get("refresh_token").is_none() && body.get("id_token").is_none(),
        "{body}"
    );
    let token = body["access_token"].as_str().unwrap().to_string();

    let (_, info) = post_form(&app, INTROSPECT, SERVICE, &[("token", &token)]).await;
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["sub"], "service");
    assert_eq!(info["client_id"], "service");

    // No resident behind it: no userinfo, no openid scope.
    assert_eq!(userinfo_status(&app, "seinajoki", &token).await, 401);
    let form = [("grant_type", "client_credentials"), ("scope", "openid")];
    let (status, body) = post_form(&app, TOKEN, SERVICE, &form).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    // The scopes the city lists for the client, once each; any other is refused (RFC 9700 §2.3:
    // a scope of the client's choosing would reach any API that trusts idp's tokens by scope).
    let form = [
        ("grant_type", "client_credentials"),
        ("scope", "reports:read reports:read"),
    ];
    let (status, body) = post_form(&app, TOKEN, SERVICE, &form).await;
    assert_eq!(
        (status, body["scope"].as_str()),
        (200, Some("reports:read")),
        "{body}"
    );
    let token = body["access_token"].as_str().unwrap().to_string();
    let (_, info) = post_form(&app, INTROSPECT, SERVICE, &[("token", &token)]).await;
    assert_eq!(info["scope"], "reports:read", "{info}");
    for asked in [
        "payroll:admin",
        "reports:read payroll:admin",
        "reports:read\u{e4}",
    ] {
        let form = [("grant_type", "client_credentials"), ("scope", asked)];
        let (status, body) = post_form(&app, TOKEN, SERVICE, &form).await;
        assert_eq!(status, 400, "{asked}");
        assert_eq!(
            body,
            serde_json::json!({"error": "invalid_scope", "error_description": "a scope asked for is not one this client may be given (its scopes in the tenant file)"}),
            "{asked}"
        );
    }
    // A client not registered for the grant.
    let (status, body) = post_form(&app, TOKEN, RP_BASIC, &CREDENTIALS).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        serde_json::json!({"error": "unauthorized_client", "error_description": "the client may not use the client_credentials grant"})
    );
    let (status, body) = post_form(&app, TOKEN, SERVICE, &[("grant_type", "password")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    // A token of one tenant means nothing to another.
    assert_eq!(userinfo_status(&app, "kouvola", &token).await, 401);
    app.stop().await;
}

/// The rows of the tables a token could be written to: grants, audit events, revoked tokens.
async fn written_rows(app: &TestApp) -> (i64, i64, i64) {
    app.db_run(|conn| {
        use diesel::prelude::*;
        use idp::store::schema::{audit_events, grants, revoked_access_tokens};
        (
            grants::table.count().get_result(conn).unwrap(),
            audit_events::table.count().get_result(conn).unwrap(),
            revoked_access_tokens::table
                .count()
                .get_result(conn)
                .unwrap(),
        )
    })
    .await
}

both_stores!(a_machine_token_writes_nothing_and_its_revocation_holds);
async fn a_machine_token_writes_nothing_and_its_revocation_holds(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let before = written_rows(&app).await;
    let mut tokens = Vec::new();
    for _ in 0..5 {
        let (status, body) = post_form(&app, TOKEN, SERVICE, &CREDENTIALS).await;
        assert_eq!(status, 200, "{body}");
        tokens.push(body["access_token"].as_str().unwrap().to_string());
    }
    // Five tokens, no row: a machine token is its signature (RFC 9068).
    assert_eq!(written_rows(&app).await, before);
    let claims = rp::payload(&tokens[0]);
    assert!(claims.get("gid").is_none(), "{claims}");
    assert_eq!(claims["sub"], "service");
    for token in &tokens {
        let (_, info) = post_form(&app, INTROSPECT, SERVICE, &[("token", token)]).await;
        assert_eq!(info["active"], true, "{info}");
    }

    // Revoking one lists its jti until it expires; the others stand.
    let (status, _) = post_form(&app, REVOKE, SERVICE, &[("token", &tokens[0])]).await;
    assert_eq!(status, 200);
    assert_eq!(
        written_rows(&app).await,
        (before.0, before.1 + 1, before.2 + 1),
        "the jti listed, and the revocation audited"
    );
    let revoked = app.audited("seinajoki", "token.revoked").await;
    assert_eq!(
        (
            revoked[0].user_id.as_deref(),
            revoked[0].client_id.as_deref()
        ),
        (None, Some("service"))
    );
    let answer = post_form(&app, INTROSPECT, SERVICE, &[("token", &tokens[0])]).await;
    assert_eq!(answer, inactive());
    let (_, info) = post_form(&app, INTROSPECT, SERVICE, &[("token", &tokens[1])]).await;
    assert_eq!(info["active"], true, "{info}");
    // Another client can neither revoke nor see it.
    let (status, _) = post_form(&app, REVOKE, RP_BASIC, &[("token", &tokens[1])]).await;
    assert_eq!(status, 200);
    let (_, info) = post_form(&app, INTROSPECT, SERVICE, &[("token", &tokens[1])]).await;
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(
        post_form(&app, INTROSPECT, RP_BASIC, &[("token", &tokens[1])]).await,
        inactive()
    );
    // Expired: inactive, with nothing to clean up.
    app.clock.advance(301);
    assert_eq!(
        post_form(&app, INTROSPECT, SERVICE, &[("token", &tokens[1])]).await,
        inactive()
    );
    app.stop().await;
}

both_stores!(introspection_shows_a_client_only_its_own_tokens);
async fn introspection_shows_a_client_only_its_own_tokens(backend: Backend) {
    let (app, client, redeemed) = logged_in(backend).await;
    let tokens = &redeemed.tokens;
    let own = client
        .introspect(tokens.access_token())
        .request_async(&rp::http())
        .await
        .unwrap();
    assert!(own.active());
    assert_eq!(own.client_id().unwrap().as_str(), "rp-basic");
    let refresh = tokens.refresh_token().unwrap().secret().clone();
    let form = [
        ("token", refresh.as_str()),
        ("token_type_hint", "refresh_token"),
    ];
    let (_, info) = post_form(&app, INTROSPECT, RP_BASIC, &form).await;
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["token_type"], "refresh_token");

    // Another client learns nothing about it; garbage is simply inactive.
    for token in [tokens.access_token().secret(), &refresh, "x.y.z"] {
        let answer = post_form(&app, INTROSPECT, SERVICE, &[("token", token)]).await;
        assert_eq!(answer, inactive(), "{token}");
    }
    // A missing token is an error; no client is 401.
    let (status, info) = post_form(&app, INTROSPECT, SERVICE, &[]).await;
    assert_eq!(
        (status, info["error_description"].as_str()),
        (400, Some("token is required"))
    );
    let response = app
        .http
        .post(app.url(INTROSPECT))
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    app.stop().await;
}

both_stores!(a_refresh_token_whose_session_expired_introspects_as_the_token_endpoint_takes_it);
/// A tenant whose sessions without "remember me" are shorter than its refresh tokens: a login
/// with "remember me", then one without in the same browser (which renews the session with the
/// shorter lifetime). Once the session has expired (nobody ended it), the token endpoint refuses
/// the first grant's refresh token (no `offline_access`), and introspection says it is inactive
/// too. Before, introspection answered `active: true` until the token's own expiry, hours later.
async fn a_refresh_token_whose_session_expired_introspects_as_the_token_endpoint_takes_it(
    backend: Backend,
) {
    let app = TestApp::builder(backend)
        .user("seinajoki", "erkki@testi.fi", PASSWORD, "Erkki")
        .tenant_toml("\n[sessions]\nsession_seconds = 600\n")
        .spawn()
        .await;
    let client = rp::basic(&app).await;
    let browser = app.browser();
    let mut refresh = String::new();
    for (prompt, remember) in [(&[][..], true), (&[("prompt", "login")][..], false)] {
        let started = rp::start(&client, &[], prompt);
        let login = rp::location(&browser.get(started.url.clone()).send().await.unwrap());
        let answer = rp::submit_login(&browser, &login, "erkki@testi.fi", PASSWORD, remember);
        let back = rp::location(&answer.await);
        let redeemed = rp::redeem(&client, started, &back).await;
        if remember {
            refresh = redeemed.refresh_token();
        }
    }
    let form = [
        ("token", refresh.as_str()),
        ("token_type_hint", "refresh_token"),
    ];
    let (_, info) = post_form(&app, INTROSPECT, RP_BASIC, &form).await;
    assert_eq!(info["active"], true, "{info}");
    app.clock.advance(601);
    let (status, info) = post_form(&app, INTROSPECT, RP_BASIC, &form).await;
    // Nothing but `active` (RFC 7662 §2.2): not even to its own client.
    assert_eq!((status, info), (200, serde_json::json!({"active": false})));
    let refreshing = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ];
    let (status, body) = post_form(&app, TOKEN, RP_BASIC, &refreshing).await;
    assert_eq!(
        (status, &body["error"]),
        (400, &serde_json::json!("invalid_grant"))
    );
    app.stop().await;
}

both_stores!(a_refresh_narrowed_once_keeps_the_refresh_tokens_scope);
/// An e-service asks a refresh for a narrower access token once (`scope=openid`): that access
/// token and ID token are narrowed, but the new refresh token keeps the scope of the one
/// presented (RFC 6749 §6), so the next refresh without `scope` gets the whole grant again.
/// Before, the narrowing stuck to the grant for good: the e-service lost `email` until the
/// resident logged in again.
async fn a_refresh_narrowed_once_keeps_the_refresh_tokens_scope(backend: Backend) {
    use openidconnect::OAuth2TokenResponse;
    let app = TestApp::with_user(backend, "erkki@testi.fi", PASSWORD, "Erkki").await;
    let client = rp::basic(&app).await;
    let started = rp::start(&client, &["email"], &[]);
    let browser = app.browser();
    let redeemed =
        rp::log_in_and_redeem(&browser, &client, started, "erkki@testi.fi", PASSWORD).await;
    let refresh = async |token: &str, scope: Option<&str>| {
        let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
        form.extend(scope.map(|scope| ("scope", scope)));
        let (status, body) = post_form(&app, TOKEN, RP_BASIC, &form).await;
        assert_eq!(status, 200, "{body}");
        body
    };
    let narrowed = refresh(&redeemed.refresh_token(), Some("openid")).await;
    assert_eq!(narrowed["scope"], "openid");
    let access = narrowed["access_token"].as_str().unwrap();
    let info = rp::userinfo(&app, "seinajoki", access).await;
    assert_eq!(info.get("email"), None, "{info}");
    let again = refresh(narrowed["refresh_token"].as_str().unwrap(), None).await;
    let whole = redeemed.tokens.scopes().unwrap();
    let whole: Vec<&str> = whole.iter().map(|s| s.as_str()).collect();
    assert_eq!(again["scope"], whole.join(" "));
    assert!(whole.contains(&"email"), "{whole:?}");
    let access = again["access_token"].as_str().unwrap();
    let info = rp::userinfo(&app, "seinajoki", access).await;
    assert_eq!(info["email"], "erkki@testi.fi", "{info}");
    app.stop().await;
}

both_stores!(revocation_ends_access_and_refresh_tokens);
async fn revocation_ends_access_and_refresh_tokens(backend: Backend) {
    let (app, client, redeemed) = logged_in(backend).await;
    let access = redeemed.access_token();
    let userinfo = async |token: &str| userinfo_status(&app, "seinajoki", token).await;
    assert_eq!(userinfo(&access).await, 200);

    // Another client cannot revoke it.
    let (status, _) = post_form(&app, REVOKE, SERVICE, &[("token", &access)]).await;
    assert_eq!(status, 200);
    assert_eq!(userinfo(&access).await, 200);

    // (openidconnect's revoke_token insists on https, so the RP's request is made by hand.)
    let form = [
        ("token", access.as_str()),
        ("token_type_hint", "access_token"),
    ];
    let (status, _) = post_form(&app, REVOKE, RP_BASIC, &form).await;
    assert_eq!(status, 200);
    assert_eq!(userinfo(&access).await, 401);
    // Again: the same answer, nothing more written (one event; on PostgreSQL the refused listing
    // no longer aborted the transaction and its event, a 500).
    let (status, body) = post_form(&app, REVOKE, RP_BASIC, &form).await;
    assert_eq!(status, 200, "{body}");
    // The refresh token still works; revoking it ends the grant.
    let refreshed = client
        .exchange_refresh_token(redeemed.tokens.refresh_token().unwrap())
        .unwrap()
        .request_async(&rp::http())
        .await
        .unwrap();
    let new_access = refreshed.access_token().secret().clone();
    assert_eq!(userinfo(&new_access).await, 200);
    // A hint is a hint: an unknown one is ignored (RFC 7009 §2.2.1), the token still revoked.
    let form = [
        (
            "token",
            refreshed.refresh_token().unwrap().secret().as_str(),
        ),
        ("token_type_hint", "id_token"),
    ];
    let (status, body) = post_form(&app, REVOKE, RP_BASIC, &form).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        userinfo(&new_access).await,
        401,
        "revoking the refresh token revokes its grant"
    );
    assert_eq!(post_form(&app, REVOKE, RP_BASIC, &form).await.0, 200);
    // Unknown tokens are accepted silently (RFC 7009 §2.2).
    let (status, _) = post_form(&app, REVOKE, RP_BASIC, &[("token", "nothing")]).await;
    assert_eq!(status, 200);
    // Each revocation audited, with the resident and the e-service; the refused ones not.
    let erkki = app.user_id("seinajoki", "erkki@testi.fi").await;
    let revoked: Vec<_> = app
        .audited("seinajoki", "token.revoked")
        .await
        .into_iter()
        .map(|e| (e.user_id, e.client_id, e.detail))
        .collect();
    let event = |token: &str| {
        let detail = format!("{{\"token\":\"{token}\"}}");
        (
            Some(erkki.clone()),
            Some("rp-basic".to_string()),
            Some(detail),
        )
    };
    assert_eq!(revoked, [event("access_token"), event("refresh_token")]);
    app.stop().await;
}

both_stores!(discovery_and_jwks_publish_what_the_code_does);
async fn discovery_and_jwks_publish_what_the_code_does(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let text = app
        .get("/seinajoki/.well-known/openid-configuration")
        .await
        .text()
        .await
        .unwrap();
    let document: Value =
        serde_json::from_str(&text.replace(&app.base, "http://idp.test")).unwrap();
    insta::assert_json_snapshot!("discovery_seinajoki", document);

    let response = app.get("/seinajoki/jwks").await;
    assert_eq!(
        response.headers()["content-type"],
        "application/jwk-set+json"
    );
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    let jwks: Value = response.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    let mut algs: Vec<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    algs.sort_unstable();
    assert_eq!(algs, ["ES256", "EdDSA", "RS256"]);
    for key in keys {
        assert_eq!(key["use"], "sig");
        let parsed: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.clone()).unwrap();
        assert_eq!(
            key["kid"].as_str().unwrap(),
            parsed
                .thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
                .unwrap(),
            "kid is the RFC 7638 thumbprint"
        );
        assert!(key.get("d").is_none(), "no private part");
    }
    // Each tenant has its own keys.
    let other: Value = app.get("/kouvola/jwks").await.json().await.unwrap();
    for key in other["keys"].as_array().unwrap() {
        assert!(!keys.iter().any(|k| k["kid"] == key["kid"]));
    }
    app.stop().await;
}

both_stores!(error_bodies_are_pinned);
async fn error_bodies_are_pinned(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let basic = RP_BASIC;
    let mut bodies = serde_json::Map::new();
    for (name, path, auth, form) in [
        (
            "token_wrong_secret",
            TOKEN,
            ("rp-basic", "wrong"),
            vec![("grant_type", "authorization_code")],
        ),
        (
            "token_bad_code",
            TOKEN,
            basic,
            vec![
                ("grant_type", "authorization_code"),
                ("code", "x"),
                ("redirect_uri", "http://127.0.0.1:9/callback"),
            ],
        ),
        ("token_no_grant_type", TOKEN, basic, vec![]),
        (
            "token_unknown_grant",
            TOKEN,
            basic,
            vec![("grant_type", "password")],
        ),
        (
            "token_bad_refresh",
            TOKEN,
            basic,
            vec![("grant_type", "refresh_token"), ("refresh_token", "x")],
        ),
        ("introspect_no_token", INTROSPECT, basic, vec![]),
        ("revoke_no_token", REVOKE, basic, vec![]),
    ] {
        let (status, body) = post_form(&app, path, auth, &form).await;
        bodies.insert(
            name.into(),
            serde_json::json!({"status": status, "body": body}),
        );
    }
    let response = app
        .http
        .get(app.url("/seinajoki/userinfo"))
        .bearer_auth("x.y.z")
        .send()
        .await
        .unwrap();
    bodies.insert(
        "userinfo_bad_token".into(),
        serde_json::json!({
            "status": response.status().as_u16(),
            "www-authenticate": response.headers()["www-authenticate"].to_str().unwrap(),
            "body": response.json::<Value>().await.unwrap(),
        }),
    );
    insta::assert_json_snapshot!("error_bodies", Value::Object(bodies));
    app.stop().await;
}

/// SQLite: while another process holds the write lock for longer than the busy timeout (5 s), a
/// request that writes answers 503 `temporarily_unavailable` with `Retry-After`, not a 500; once
/// the lock is released the same request succeeds. (SQLite alone: PostgreSQL locks rows, not
/// the database.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_sqlite_database_answers_503() {
    use diesel::Connection;
    use diesel::connection::SimpleConnection;

    let app = TestApp::spawn(Backend::Sqlite).await;
    let idp::config::DatabaseBackend::Sqlite(path) = &app.db.backend else {
        unreachable!("a SQLite test database");
    };
    // A machine token writes nothing when it is issued; its revocation writes (the revoked list).
    let (status, body) = post_form(&app, TOKEN, SERVICE, &CREDENTIALS).await;
    assert_eq!(status, 200, "{body}");
    let access = body["access_token"].as_str().unwrap().to_string();
    let mut other = diesel::SqliteConnection::establish(&path.to_string_lossy()).unwrap();
    other.batch_execute("BEGIN IMMEDIATE").unwrap();

    let token = || {
        app.http
            .post(app.url(REVOKE))
            .basic_auth("service", Some("service-secret"))
            .form(&[("token", access.as_str())])
            .send()
    };
    let started = std::time::Instant::now();
    let response = token().await.unwrap();
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(response.headers()["retry-after"], "5");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(4),
        "it waited for the lock"
    );

    other.batch_execute("ROLLBACK").unwrap();
    let response = token().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
}
