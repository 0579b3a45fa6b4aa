//! The expiry clean-up: nothing live is deleted; once expired, sessions, grants, tokens, links,
//! throttle counters, mail-limit counts and old mail go; on PostgreSQL one round at a time.

use diesel::prelude::*;
use idp::store::cleanup::purge_expired;
use idp::store::schema::{
    auth_codes, grants, login_throttle, mail_limit_events, mail_outbox, one_time_links,
    refresh_tokens, sso_sessions, users,
};

use crate::both_stores;
use crate::helpers::journeys::Login;
use crate::helpers::{Backend, TestApp};
use crate::rp::{self, location};

async fn counts(app: &TestApp) -> [i64; 9] {
    app.db_run(|conn| {
        [
            sso_sessions::table.count().get_result(conn).unwrap(),
            grants::table.count().get_result(conn).unwrap(),
            auth_codes::table.count().get_result(conn).unwrap(),
            refresh_tokens::table.count().get_result(conn).unwrap(),
            one_time_links::table.count().get_result(conn).unwrap(),
            mail_outbox::table.count().get_result(conn).unwrap(),
            login_throttle::table.count().get_result(conn).unwrap(),
            mail_limit_events::table.count().get_result(conn).unwrap(),
            users::table.count().get_result(conn).unwrap(),
        ]
    })
    .await
}

/// Erkki logs in to `client` (after a wrong password first, when `wrong_first`; with "remember
/// me" when `remember`), and the code is exchanged: the browser, with its session.
async fn exchanged_login(
    app: &TestApp,
    client: &rp::Rp,
    (wrong_first, remember): (bool, bool),
) -> reqwest::Client {
    let login = Login::fresh(app, client).await;
    if wrong_first {
        login.submit("erkki@testi.fi", "väärä", false).await;
    }
    let back = location(
        &login
            .submit("erkki@testi.fi", "vanha salasana", remember)
            .await,
    );
    let browser = login.browser.clone();
    login.redeem(client, &back).await;
    browser
}

/// The grants of every tenant.
async fn grant_count(app: &TestApp) -> i64 {
    app.db_run(|conn| grants::table.count().get_result::<i64>(conn).unwrap())
        .await
}

both_stores!(expired_rows_are_deleted_and_live_ones_kept);
async fn expired_rows_are_deleted_and_live_ones_kept(backend: Backend) {
    let app = TestApp::with_user(backend, "erkki@testi.fi", "vanha salasana", "Erkki").await;
    let client = rp::basic(&app).await;
    // A failed login (a throttle counter), then a login with its code exchanged (a session, a
    // grant, a used code, a refresh token).
    let browser = exchanged_login(&app, &client, (true, false)).await;
    // A reset link and its mail.
    let forgot = app.url("/seinajoki/forgot");
    rp::post_form(&browser, &forgot, &forgot, &[("email", "erkki@testi.fi")]).await;
    let before = counts(&app).await;
    assert_eq!(
        before,
        [1, 1, 1, 1, 1, 1, 2, 2, 1],
        "sessions, grants, codes, refresh tokens, links, mails, throttle (the client address's \
         and the count of the account's checks), mail limits (the recipient's and the client \
         address's), users"
    );

    let purged = app.services.purge_expired().await.unwrap();
    assert!(purged.ran);
    assert_eq!(purged.rows, 0, "nothing live is deleted");
    assert_eq!(counts(&app).await, before);

    // After 40 days everything above has expired; the user stays.
    app.clock.advance(40 * 24 * 3600);
    let purged = app.services.purge_expired().await.unwrap();
    assert!(purged.ran);
    assert_eq!(counts(&app).await, [0, 0, 0, 0, 0, 0, 0, 0, 1]);
    // And the answered authorization request, kept a few minutes for a second click; the used
    // code went with its grant (ON DELETE CASCADE, not counted).
    assert_eq!(purged.rows, 10);
    app.stop().await;
}

both_stores!(a_backlog_is_deleted_a_batch_a_transaction);
/// A backlog of 2 × `BATCH` + 1 expired rows (a start after downtime) is deleted in one round, in
/// three transactions of at most `BATCH` rows: on SQLite every other writer waits while a
/// transaction writes, and one statement over the whole backlog held them all.
async fn a_backlog_is_deleted_a_batch_a_transaction(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let quiet = app.services.purge_expired().await.unwrap();
    let backlog = 2 * idp::store::cleanup::BATCH + 1;
    let insert = format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {backlog}) \
         INSERT INTO mail_limit_events (tenant_id, limit_key, occurred_at, refused) \
         SELECT 'seinajoki', 'backlog', '2026-01-01 00:00:00', FALSE FROM n"
    );
    app.db_run(move |conn| diesel::sql_query(insert).execute(conn).unwrap())
        .await;
    let events = "SELECT count(*) AS n FROM mail_limit_events";
    assert_eq!(app.count(events).await, backlog);
    let purged = app.services.purge_expired().await.unwrap();
    assert_eq!(app.count(events).await, 0);
    assert_eq!(purged.rows, usize::try_from(backlog).unwrap());
    assert_eq!(purged.transactions, quiet.transactions + 2);
    app.stop().await;
}

/// Two nodes' rounds at once on PostgreSQL: while one round's transaction holds the lock, another
/// connection's round (another node's) skips, and runs once the first has committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_round_at_a_time_on_postgres() {
    let Some(app) = TestApp::on_postgres().await else {
        return;
    };
    let store = app.services.store.clone();
    let now = app.now();
    tokio::task::spawn_blocking(move || {
        let mut first = store.conn().unwrap();
        let mut second = store.conn().unwrap();
        (*first)
            .transaction(|first| {
                assert!(purge_expired(first, now)?.ran);
                assert!(
                    !purge_expired(&mut second, now)?.ran,
                    "a second round at once"
                );
                Ok::<_, idp::store::StoreError>(())
            })
            .unwrap();
        assert!(purge_expired(&mut second, now).unwrap().ran);
    })
    .await
    .unwrap();
    app.stop().await;
}

both_stores!(a_tenants_audit_trail_is_kept_for_its_retention);
async fn a_tenants_audit_trail_is_kept_for_its_retention(backend: Backend) {
    let app = TestApp::with_tenant_toml(backend, "\n[audit]\nretention_days = 30\n").await;
    app.add_user("seinajoki", "erkki@testi.fi", "vanha salasana", "Erkki")
        .await;
    app.add_user("kouvola", "kaisa@testi.fi", "vanha salasana", "Kaisa")
        .await;
    let seinajoki = app.audit_kinds("seinajoki").await;
    assert!(!seinajoki.is_empty());
    let kouvola = app.audit_kinds("kouvola").await;
    // Within the retention nothing goes (only sealed events ever go: tests/integration/audit_chain.rs).
    app.services.seal_audit().await.unwrap();
    app.clock.advance(29 * 24 * 3600);
    app.services.purge_expired().await.unwrap();
    assert_eq!(app.audit_kinds("seinajoki").await, seinajoki);
    // Past it, seinajoki's old events go; kouvola, which names no retention, keeps its own.
    app.clock.advance(2 * 24 * 3600);
    app.add_user("seinajoki", "maija@testi.fi", "toinen salasana", "Maija")
        .await;
    app.services.seal_audit().await.unwrap();
    app.services.purge_expired().await.unwrap();
    assert_eq!(
        app.audit_kinds("seinajoki").await,
        ["user.created", "audit.purged"]
    );
    assert_eq!(app.audit_kinds("kouvola").await, kouvola);
    app.stop().await;
}

/// Erkki's login to `rp-basic` exchanged (with "remember me" when `remember`), then `later`
/// seconds later `count` single sign-on answers to it whose codes are never exchanged.
async fn with_codes_never_exchanged(
    backend: Backend,
    (remember, later): (bool, i64),
    count: usize,
) -> TestApp {
    let app = TestApp::with_user(backend, "erkki@testi.fi", "vanha salasana", "Erkki").await;
    let client = rp::basic(&app).await;
    let browser = exchanged_login(&app, &client, (false, remember)).await;
    app.clock.advance(later);
    for _ in 0..count {
        let back = rp::prompt_none(&browser, &client).await;
        assert!(rp::param(&back, "code").is_some(), "{back}");
    }
    app
}

both_stores!(a_grant_whose_code_was_never_exchanged_goes_with_the_code);
/// A signed-in browser's `/authorize` is answered at once by single sign-on, each time with a
/// grant and a code, and no waiting request to count: a script looping on it with its own
/// session left a grant a call for the grant's lifetime (30 days with `offline_access`). A grant
/// whose code was never exchanged now goes with the code at its expiry; the one exchanged stays.
async fn a_grant_whose_code_was_never_exchanged_goes_with_the_code(backend: Backend) {
    let app = with_codes_never_exchanged(backend, (false, 0), 20).await;
    let grants = async || grant_count(&app).await;
    assert_eq!(grants().await, 21);
    // Nothing live goes: the codes have their minute, and the clocks' margin after it.
    app.services.purge_expired().await.unwrap();
    app.clock.advance(120);
    app.services.purge_expired().await.unwrap();
    assert_eq!(grants().await, 21);
    app.clock.advance(600);
    app.services.purge_expired().await.unwrap();
    assert_eq!(grants().await, 1);
    app.stop().await;
}

both_stores!(a_grant_never_exchanged_never_takes_the_place_of_the_one_exchanged);
/// A live session's expired grant of an e-service goes once a newer one of the same e-service
/// exists, as the newer one tells it of the logout: a newer one never exchanged (a closed tab, a
/// `prompt=none` the e-service dropped, a page that sent the browser to `/authorize`) goes
/// itself a round later, and had it taken the place of the exchanged one, the e-service holding
/// that ID token would never hear of the logout.
async fn a_grant_never_exchanged_never_takes_the_place_of_the_one_exchanged(backend: Backend) {
    // "Remember me": the session outlives its grants (8 hours).
    let app = with_codes_never_exchanged(backend, (true, 9 * 3600), 1).await;
    let grants = async || grant_count(&app).await;
    assert_eq!(grants().await, 2);
    // A round while the new code lives, and one after it: the exchanged grant stays, the one
    // never exchanged goes.
    app.services.purge_expired().await.unwrap();
    assert_eq!(grants().await, 2);
    app.clock.advance(720);
    app.services.purge_expired().await.unwrap();
    let used = app
        .db_run(|conn| {
            auth_codes::table
                .filter(auth_codes::used_at.is_not_null())
                .count()
                .get_result::<i64>(conn)
                .unwrap()
        })
        .await;
    assert_eq!((grants().await, used), (1, 1));
    app.stop().await;
}
