//! What a change of the configuration between two starts does to what was stored under the
//! old one: a login waiting for an e-service that was removed meanwhile, or for a redirect URI
//! no longer registered, ends on a page in the resident's language (never a 500, never a
//! redirect to an unregistered URI).

use std::path::Path;

use crate::both_stores;
use crate::helpers::journeys::{Login, says};
use crate::helpers::{Backend, TestApp, first_party_client};
use crate::rp;

/// The resident's password.
const PASSWORD: &str = "oikea hevonen";

/// A server with Erkki and the first-party client `rp-gone`, whose redirect URIs are
/// `…/gone-a` and `…/gone-b`.
async fn app(backend: Backend) -> TestApp {
    let both = "http://127.0.0.1:9/gone-a\", \"http://127.0.0.1:9/gone-b";
    TestApp::builder(backend)
        .tenant_toml(&first_party_client("rp-gone", both, &[]))
        .user("seinajoki", "erkki@testi.fi", PASSWORD, "Erkki")
        .spawn()
        .await
}

/// `rp-gone` as its e-service's OIDC client, returning to `redirect`.
async fn gone(app: &TestApp, redirect: &str) -> rp::Rp {
    rp::client(
        app,
        "seinajoki",
        "rp-gone",
        Some("rp-gone-secret"),
        redirect,
    )
    .await
}

/// Replaces `from` with `to` in seinajoki's tenant file under `dir`.
fn edit_tenant(dir: &Path, from: &str, to: &str) {
    let path = dir.join("tenants/seinajoki.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{text}");
    std::fs::write(&path, text.replace(from, to)).unwrap();
}

/// Erkki's login of `rp-gone` back to `redirect`, begun, then the server restarted after
/// `from` became `to` in the tenant file, then his password posted: the answer.
async fn login_across_a_change(
    backend: Backend,
    redirect: &str,
    (from, to): (&str, &str),
) -> reqwest::Response {
    let app = app(backend).await;
    let client = gone(&app, redirect).await;
    let browser = app.browser();
    let login = Login::start(&browser, &client, &[], &[]).await;
    let app = app.restart_with(|dir| edit_tenant(dir, from, to)).await;
    let answer = login.submit("erkki@testi.fi", PASSWORD, false).await;
    app.stop().await;
    answer
}

both_stores!(a_login_waiting_for_an_e_service_removed_meanwhile_ends_on_a_page);
/// A resident opens the login of `rp-gone`; the city removes the e-service and restarts; the
/// resident then logs in. The page says the e-service is not known (400), in Finnish. Before,
/// the code's client was looked up after the password and not found: a 500 after a right
/// password.
async fn a_login_waiting_for_an_e_service_removed_meanwhile_ends_on_a_page(backend: Backend) {
    let renamed = ("client_id = \"rp-gone\"", "client_id = \"rp-renamed\"");
    let answer = login_across_a_change(backend, "http://127.0.0.1:9/gone-a", renamed).await;
    says(
        answer,
        400,
        "Kirjautumispyynnön asiointipalvelua ei tunneta.",
    )
    .await;
}

both_stores!(a_login_waiting_for_a_redirect_uri_removed_meanwhile_goes_nowhere);
/// The same when the e-service stays but the redirect URI the request named is removed: no
/// redirect to it (with a code or an error), but the page of an unregistered redirect URI.
async fn a_login_waiting_for_a_redirect_uri_removed_meanwhile_goes_nowhere(backend: Backend) {
    let removed = (", \"http://127.0.0.1:9/gone-b\"", "");
    let answer = login_across_a_change(backend, "http://127.0.0.1:9/gone-b", removed).await;
    assert_eq!(answer.headers().get("location"), None);
    says(answer, 400, "Kirjautumispyynnön paluuosoite puuttuu").await;
}

both_stores!(a_removed_e_services_access_tokens_end_with_it);
/// The city removes an e-service and restarts: the access tokens it was given stop working at
/// userinfo at once (401 `invalid_token`), as its refresh tokens stop at the token endpoint,
/// however long `tokens.access_token_seconds` makes them.
async fn a_removed_e_services_access_tokens_end_with_it(backend: Backend) {
    let app = app(backend).await;
    let client = gone(&app, "http://127.0.0.1:9/gone-a").await;
    let started = rp::start(&client, &[], &[]);
    let browser = app.browser();
    let redeemed =
        rp::log_in_and_redeem(&browser, &client, started, "erkki@testi.fi", PASSWORD).await;
    let token = redeemed.access_token();
    assert_eq!(userinfo(&app, &token).await, 200);
    let renamed = ("client_id = \"rp-gone\"", "client_id = \"rp-renamed\"");
    let app = app
        .restart_with(|dir| edit_tenant(dir, renamed.0, renamed.1))
        .await;
    assert_eq!(userinfo(&app, &token).await, 401);
    app.stop().await;
}

/// The status of userinfo with the access token `token`.
async fn userinfo(app: &TestApp, token: &str) -> u16 {
    let url = app.url("/seinajoki/userinfo");
    let answer = app.http.get(url).bearer_auth(token).send().await.unwrap();
    answer.status().as_u16()
}

/// How many rows of every table with a tenant hold `tenant`.
async fn rows_of(app: &TestApp, tenant: &str) -> i64 {
    let mut total = 0;
    for table in idp::store::tenants::TABLES {
        let sql = format!("SELECT count(*) AS n FROM {table} WHERE tenant_id = '{tenant}'");
        total += app.count(&sql).await;
    }
    total
}

both_stores!(a_removed_tenant_is_listed_and_purged_on_demand_and_the_others_stay);
/// A city leaves: its tenant file is removed and the nodes restarted. Its residents, old
/// accounts, sessions, audit trail and keys stayed for good before (and its pending deletions
/// were never erased). `idp tenants list` names it as not configured; `idp tenants purge`
/// refuses a configured tenant, counts without `--yes`, and with it deletes every row of the
/// removed tenant and nothing of the others, whose residents still log in and whose audit chain
/// still verifies.
async fn a_removed_tenant_is_listed_and_purged_on_demand_and_the_others_stay(backend: Backend) {
    let app = TestApp::with_user(backend, "erkki@testi.fi", PASSWORD, "Erkki").await;
    app.add_user("kouvola", "kaija@testi.fi", PASSWORD, "Kaija")
        .await;
    app.import(crate::helpers::Old::new("kouvola", "kaija.k", "KVL-9").email("vanha@testi.fi"))
        .await;
    let kouvola = rp::basic_of(&app, "kouvola").await;
    crate::linker::logged_in(&app.browser(), &kouvola, "kaija@testi.fi", PASSWORD).await;
    let before = rows_of(&app, "kouvola").await;
    assert!(before > 5, "{before}");
    let seinajoki_rows = rows_of(&app, "seinajoki").await;

    let app = app
        .restart_with(|dir| std::fs::remove_file(dir.join("tenants/kouvola.toml")).unwrap())
        .await;
    let text = |out: &std::process::Output| String::from_utf8_lossy(&out.stdout).to_string();
    let listed = app.cli(&["tenants", "list"]).await;
    assert!(listed.status.success());
    assert!(
        text(&listed).contains("\nkouvola\tNO\t1\t1\t"),
        "{}",
        text(&listed)
    );
    assert!(
        text(&listed).contains("\nseinajoki\tyes\t1\t0\t"),
        "{}",
        text(&listed)
    );
    assert!(text(&listed).contains("not configured: kouvola ("));

    let configured = app
        .cli(&["tenants", "purge", "--tenant", "seinajoki", "--yes"])
        .await;
    assert_eq!(configured.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&configured.stderr),
        "error: tenant \"seinajoki\" is configured: remove its file from the configuration of \
         every node and restart them before purging it\n"
    );
    let counted = app.cli(&["tenants", "purge", "--tenant", "kouvola"]).await;
    assert!(counted.status.success());
    let would = format!("would delete {before} rows of tenant kouvola; nothing deleted");
    assert!(text(&counted).contains(&would), "{}", text(&counted));
    assert_eq!(rows_of(&app, "kouvola").await, before);

    // The tenant wrote audit events within a day: a node may still serve it.
    let purge = ["tenants", "purge", "--tenant", "kouvola", "--yes"];
    let recent = app.cli(&purge).await;
    assert_eq!(recent.status.code(), Some(1));
    let said = String::from_utf8_lossy(&recent.stderr);
    let active = "error: tenant \"kouvola\" wrote audit events in the last 24 hours";
    assert!(said.starts_with(active), "{said}");
    assert_eq!(rows_of(&app, "kouvola").await, before);
    let purged = app.cli(&[&purge[..], &["--force"]].concat()).await;
    assert!(purged.status.success(), "{purged:?}");
    let done = format!("purged tenant kouvola: {before} rows deleted\n");
    assert!(text(&purged).ends_with(&done), "{}", text(&purged));
    assert_eq!(rows_of(&app, "kouvola").await, 0);
    assert_eq!(rows_of(&app, "seinajoki").await, seinajoki_rows);
    let again = app.cli(&purge).await;
    assert_eq!(
        text(&again),
        "the database holds no rows of tenant kouvola\n"
    );

    let verified = app.cli(&["audit", "verify", "--tenant", "seinajoki"]).await;
    assert!(verified.status.success(), "{verified:?}");
    let seinajoki = rp::basic_of(&app, "seinajoki").await;
    crate::linker::logged_in(&app.browser(), &seinajoki, "erkki@testi.fi", PASSWORD).await;
    app.stop().await;
}
