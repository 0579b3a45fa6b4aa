//! A password login whose password was checked before a recovery committed cannot finish after
//! it (docs/security.md, "A login checked before a recovery does not finish after it").
//!
//! The password step runs in three parts (`flows::oidc::login`): `prepare` reads the account,
//! the throttled check hashes, `finish` starts the session. The HTTP timing between them cannot be
//! controlled, so these tests drive the three parts through the flow functions themselves, on the
//! real server's store and hashing pool, with the pending request and the flow cookie of a real
//! browser, and the recovery through the real pages in between.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::NaiveDateTime;

use diesel::prelude::*;
use idp::app::Services;
use idp::crypto::hash_pool::Share;
use idp::flows::oidc::login::{self, Check, LoginResult, Prepared, Verified};
use idp::flows::oidc::logout::end_everything;
use idp::flows::oidc::session::SEEN_EVERY_SECONDS;
use idp::flows::password_check::{Attempt, Checked, PasswordCheck};
use idp::store::schema::{auth_codes, grants, sso_sessions};
use idp::store::users::UserRow;
use idp::store::{self, DbConnection, StoreError, TurnCounters};
use reqwest::cookie::{CookieStore, Jar};
use secrecy::SecretString;

use crate::both_stores;
use crate::helpers::authority::{authority_app, authority_id, code, enrolment, shown_secret};
use crate::helpers::journeys::{Login, hidden, post_with_csrf, says, sign_in};
use crate::helpers::webauthn::not_now;
use crate::helpers::{
    Backend, TestApp, TestAppBuilder, first_party_client, postgres_admin_url, tenant,
};
use crate::recovery::{EMAIL, PASSWORD, REDIRECT, Recovery, offline_client, recover};
use crate::rp;

/// The app of the recovery tests: the resident of [`EMAIL`] and the e-service `rp-offline`, which
/// may ask for refresh tokens.
async fn app(backend: Backend) -> TestApp {
    app_of(TestApp::builder(backend)).await
}

/// [`app`] from `builder`.
async fn app_of(builder: TestAppBuilder) -> TestApp {
    builder
        .tenant_toml(&first_party_client(
            "rp-offline",
            REDIRECT,
            &["grant_types = [\"authorization_code\", \"refresh_token\"]"],
        ))
        .user("seinajoki", EMAIL, PASSWORD, "Erkki")
        .spawn()
        .await
}

/// A login whose first two parts are done: the password was checked and matched.
struct CheckedLogin {
    check: Check,
    verified: Verified,
    /// The browser's flow secret (its flow cookie).
    binding: String,
}

/// Someone who knows the password of [`EMAIL`] starts a login at `rp-offline` (with
/// `offline_access`, as "remember me" would keep it) in a browser of his own, gives the
/// identifier through the pages, and the password step's first two parts run: the account read
/// (`login::prepare`) and the password checked in the throttle and the hashing pool.
async fn checked_login(app: &TestApp) -> CheckedLogin {
    checked_login_of(app, EMAIL, PASSWORD).await
}

/// [`checked_login`] of `identifier` with `password`.
async fn checked_login_of(app: &TestApp, identifier: &str, password: &str) -> CheckedLogin {
    let client = offline_client(app).await;
    let jar = Arc::new(Jar::default());
    let browser = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let started = rp::start(&client, &["offline_access"], &[("prompt", "consent")]);
    let login = Login::at(&browser, started.url.clone()).await;
    let (status, page) = login.identify(identifier).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("name=\"password\""), "{page}");
    let binding = flow_cookie(&jar, &login.tenant_url);

    let services = app.services.clone();
    let (now, request, bound) = (app.now(), login.request.clone(), binding.clone());
    let who = identifier.to_string();
    let prepared = tokio::task::spawn_blocking(move || {
        let m = services.minter("seinajoki", now).unwrap();
        let mut conn = services.store.conn().unwrap();
        login::prepare(&m, &mut conn, &request, Some(&bound), &who, None).unwrap()
    })
    .await
    .unwrap();
    let Prepared::Check(check) = prepared else {
        panic!("the pending login is there: {prepared:?}");
    };
    let tenant = app.services.config.tenant("seinajoki").unwrap();
    let attempt = Attempt {
        account: check.account.clone(),
        address: None,
        session: None,
        share: Share::Login,
        client: Some("rp-offline".into()),
        also: None,
    };
    let checked = PasswordCheck {
        store: &app.services.store,
        pool: &app.services.hashing,
        metrics: &app.services.metrics,
        tenant,
        now: app.now(),
    }
    .run(
        &attempt,
        check.stored.clone(),
        SecretString::from(password),
        Verified::after_match(check.rehash()),
    )
    .await
    .unwrap();
    let Checked::Matched(verified) = checked else {
        panic!("the password matches: {checked:?}");
    };
    CheckedLogin {
        check: *check,
        verified: verified.unwrap(),
        binding,
    }
}

/// The value of the flow cookie the server set in `jar` for the tenant at `tenant_url`.
fn flow_cookie(jar: &Jar, tenant_url: &str) -> String {
    let url = reqwest::Url::parse(tenant_url).unwrap();
    let cookies = jar.cookies(&url).unwrap();
    cookies
        .to_str()
        .unwrap()
        .split("; ")
        .find_map(|c| c.strip_prefix("idp-flow-seinajoki="))
        .unwrap_or_else(|| panic!("no flow cookie: {cookies:?}"))
        .to_string()
}

/// The password step's third part, `login::finish`, of `login` (with "remember me") at `now`, on
/// `conn`.
fn finish(
    services: &Services,
    now: NaiveDateTime,
    conn: &mut DbConnection,
    login: CheckedLogin,
) -> LoginResult {
    let m = services.minter("seinajoki", now).unwrap();
    let CheckedLogin {
        check,
        verified,
        binding,
    } = login;
    login::finish(&m, conn, check, verified, true, &binding, None).unwrap()
}

/// [`finish`] of `login` on a blocking thread, at the app's time.
async fn finished(app: &TestApp, login: CheckedLogin) -> LoginResult {
    let (services, now) = (app.services.clone(), app.now());
    tokio::task::spawn_blocking(move || {
        let mut conn = services.store.conn().unwrap();
        finish(&services, now, &mut conn, login)
    })
    .await
    .unwrap()
}

/// How many sessions, grants and codes the tenant's tables hold.
async fn issued(app: &TestApp) -> (i64, i64, i64) {
    app.db_run(|conn| {
        let tenant = "seinajoki";
        (
            sso_sessions::table
                .filter(sso_sessions::tenant_id.eq(tenant))
                .count()
                .get_result(conn)
                .unwrap(),
            grants::table
                .filter(grants::tenant_id.eq(tenant))
                .count()
                .get_result(conn)
                .unwrap(),
            auth_codes::table
                .filter(auth_codes::tenant_id.eq(tenant))
                .count()
                .get_result(conn)
                .unwrap(),
        )
    })
    .await
}

/// The live sessions of the resident.
async fn live_sessions(app: &TestApp) -> usize {
    let user = app.user_id("seinajoki", EMAIL).await;
    let now = app.now();
    app.db_run(move |conn| {
        let tenant = crate::helpers::tenant("seinajoki");
        store::sessions::live_for_user(conn, tenant, &user, now)
            .unwrap()
            .len()
    })
    .await
}

/// What the refused login answers: interrupted (the password page again, 409, "log in again").
fn assert_refused(result: &LoginResult, recovery: Recovery) {
    assert!(
        matches!(result, LoginResult::Interrupted),
        "{recovery:?}: {result:?}"
    );
}

both_stores!(a_password_checked_before_a_recovery_starts_no_session_after_it);
/// The attack: someone knows the resident's password and logs in again and again; the resident
/// takes the account back (a reset, "sign out everywhere", a change of password, the undo of a
/// change of address) while one of those logins has had its password checked but has not yet
/// started its session. That login does not start it: no session, no grant, no code (which would
/// have given 30 days of refresh tokens), and the trail says why.
async fn a_password_checked_before_a_recovery_starts_no_session_after_it(backend: Backend) {
    for recovery in [
        Recovery::Reset,
        Recovery::SignOutEverywhere,
        Recovery::ChangePassword,
        Recovery::UndoAddressChange,
    ] {
        let app = app(backend).await;
        let login = checked_login(&app).await;

        recover(&app, recovery).await;

        let before = issued(&app).await;
        let result = finished(&app, login).await;
        assert_refused(&result, recovery);
        assert_eq!(issued(&app).await, before, "{recovery:?}: nothing issued");
        if !matches!(recovery, Recovery::ChangePassword) {
            // The change of password keeps the page's own session; the others end every one.
            assert_eq!(live_sessions(&app).await, 0, "{recovery:?}");
        }
        let refused = app.audit_details("seinajoki", "login.refused").await;
        assert_eq!(
            refused,
            [serde_json::json!({ "reason": "account_changed" })],
            "{recovery:?}"
        );
        app.stop().await;
    }
}

/// How a test sees that a request waits for its open write transaction: on PostgreSQL a backend
/// of the test's database waiting for a lock (`pg_stat_activity`), on SQLite a writer that found
/// the writers' turn taken (`idp_sqlite_writer_waits_total`, counted from when this was made).
enum Waits {
    Lock,
    Turn(TurnCounters, u64),
}

impl Waits {
    /// Counting from now, on the store of `services`.
    fn from_now(services: &Services) -> Waits {
        match services.store.writer_turn() {
            Some(turn) => {
                let since = turn.waits.get();
                Waits::Turn(turn, since)
            }
            None => Waits::Lock,
        }
    }

    /// Whether something waits, polled until it does or `done` says the work that might wait
    /// has ended (at most 30 s); `watcher` is a connection of the test's own (PostgreSQL's).
    fn seen(&self, watcher: &mut DbConnection, done: impl Fn() -> bool) -> bool {
        #[derive(QueryableByName)]
        struct Waiting {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        for _ in 0..3000 {
            let waiting = match self {
                Waits::Turn(turn, since) => turn.waits.get() > *since,
                Waits::Lock => {
                    let waiting: Waiting = diesel::sql_query(
                        "SELECT count(*) AS n FROM pg_stat_activity \
                         WHERE datname = current_database() AND wait_event_type = 'Lock'",
                    )
                    .get_result(watcher)
                    .unwrap();
                    waiting.n > 0
                }
            };
            if waiting {
                return true;
            }
            if done() {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        false
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
/// PostgreSQL runs transactions side by side (READ COMMITTED): a recovery's `end_everything` ends
/// the sessions its statements see, and a login's session not yet committed is not among them. So
/// both hold the user's row: a login's last part that comes while a recovery's transaction is
/// open waits for it, then finds the account changed. (SQLite's writers take turns: there the
/// recovery and the login's last part cannot overlap.)
async fn postgres_a_login_waits_for_a_recovery_in_progress() {
    if postgres_admin_url().is_none() {
        return;
    }
    let app = app(Backend::Postgres).await;
    // A recovery before: the account's epoch has its row, which the next one only updates (a
    // first row's insert would hold the user's row through its foreign key, an update does not).
    recover(&app, Recovery::SignOutEverywhere).await;
    let login = checked_login(&app).await;
    let user = app.user_by_email("seinajoki", EMAIL).await;

    let (services, now) = (app.services.clone(), app.now());
    let (waited, result) = tokio::task::spawn_blocking(move || {
        let mut recovery = services.store.conn().unwrap();
        let mut watcher = services.store.conn().unwrap();
        let m = services.minter("seinajoki", now).unwrap();
        let (finishing, waited) = store::write_transaction(&mut recovery, |conn| {
            // "Sign out everywhere", not yet committed.
            end_everything(&m, conn, &user)?;
            let services = services.clone();
            let finishing = std::thread::spawn(move || {
                let mut conn = services.store.conn().unwrap();
                finish(&services, now, &mut conn, login)
            });
            let waited = Waits::Lock.seen(&mut watcher, || finishing.is_finished());
            Ok::<_, StoreError>((finishing, waited))
        })
        .unwrap();
        (waited, finishing.join().unwrap())
    })
    .await
    .unwrap();
    assert!(waited, "the login's last part waits for the recovery");
    assert_refused(&result, Recovery::SignOutEverywhere);
    assert_eq!(live_sessions(&app).await, 0);
    app.stop().await;
}

/// Imports (or imports again) the old account `vanha.anna` of seinajoki with the md5-crypt hash
/// of `password`, through the real import.
async fn import_old(app: &TestApp, password: &str) {
    let (_, hash) = crate::linker::vectors(password)
        .into_iter()
        .find(|(format, _)| format == "md5-crypt")
        .unwrap();
    let export = format!(
        "username,subject,email,password_hash,name,authority\n\
         vanha.anna,SJK-77,{OLD_EMAIL},{hash},,\n"
    );
    let summary = app.import_csv("seinajoki", "old.csv", export).await;
    assert_eq!(summary.rejected, 0, "{summary:?}");
}

/// The address of the old account of [`import_old`].
const OLD_EMAIL: &str = "anna@testi.fi";

both_stores!(an_old_hash_replaced_by_a_re_import_binds_nothing_by_the_old_password);
/// The keep-password first login of an old account: its old password checked against the old
/// hash, then the city imports the account again with a new hash before the login binds it. The
/// binding is refused (the old hash is no longer the account's): no user, the old account still
/// unbound, nothing issued, the answer a wrong password's. The new password then binds it.
async fn an_old_hash_replaced_by_a_re_import_binds_nothing_by_the_old_password(backend: Backend) {
    let (old, new) = ("salasana123", "correct horse battery staple");
    let app = app(backend).await;
    import_old(&app, old).await;
    let login = checked_login_of(&app, OLD_EMAIL, old).await;

    import_old(&app, new).await;

    let before = issued(&app).await;
    let result = finished(&app, login).await;
    assert!(matches!(result, LoginResult::Failed), "{result:?}");
    assert_eq!(issued(&app).await, before);
    let bound = app
        .db_run(|conn| {
            let tenant = crate::helpers::tenant("seinajoki");
            let account = store::legacy::find_by_username(conn, tenant, "vanha.anna")
                .unwrap()
                .unwrap();
            let user = store::users::find_by_email(conn, tenant, OLD_EMAIL).unwrap();
            (account.linked_user_id, user.map(|u| u.id))
        })
        .await;
    assert_eq!(bound, (None, None));

    let client = rp::basic(&app).await;
    let back = rp::log_in_at(&app.browser(), &client, OLD_EMAIL, new).await;
    assert!(rp::param(&back, "code").is_some(), "{back}");
    app.stop().await;
}

/// Sends `request` while a recovery of the resident [`EMAIL`] ("sign out everywhere",
/// `end_everything`) is under way, and returns its answer once the recovery committed. The
/// recovery is the test's own write transaction on the app's store: it holds the resident's row
/// first, as every recovery does; then `request` is sent, and only when it waits for that
/// transaction ([`Waits`]: a row lock on PostgreSQL, the writers' turn on SQLite) does the
/// recovery end everything and commit. What the request read before it waited it read before
/// the recovery, what it writes after it writes after. The app's workers must be stopped: on
/// SQLite a worker's write would pass for the request's wait.
async fn during_a_recovery<T, F>(app: &TestApp, request: F) -> T
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let user = app.user_by_email("seinajoki", EMAIL).await;
    during_a_recovery_of(app, user, request).await
}

/// [`during_a_recovery`] of `user`.
async fn during_a_recovery_of<T, F>(app: &TestApp, user: UserRow, request: F) -> T
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let (services, now) = (app.services.clone(), app.now());
    let id = user.id.clone();
    let hold = move |conn: &mut DbConnection| {
        store::users::lock(conn, tenant("seinajoki"), &id).map(|_| ())
    };
    let recover = move |conn: &mut DbConnection| {
        let m = services.minter("seinajoki", now).unwrap();
        end_everything(&m, conn, &user)
    };
    while_held(app, (hold, recover), request).await
}

/// Sends `request` while the test's own write transaction on the app's store has done `hold`,
/// and returns its answer once that transaction, after `then`, committed: `then` runs only
/// when the request waits for the transaction ([`Waits`]: a row lock on PostgreSQL, the writers'
/// turn on SQLite), so what the request read before it waited it read before, what it writes
/// after it writes after. Asserts that it waited. The app's workers must be stopped: on SQLite a
/// worker's write would pass for the request's wait.
pub(crate) async fn while_held<T, F, H, G>(app: &TestApp, (hold, then): (H, G), request: F) -> T
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
    H: FnOnce(&mut DbConnection) -> Result<(), StoreError> + Send + 'static,
    G: FnOnce(&mut DbConnection) -> Result<(), StoreError> + Send + 'static,
{
    let services = app.services.clone();
    let (held, holding) = tokio::sync::oneshot::channel();
    let answered = Arc::new(AtomicBool::new(false));
    let done = answered.clone();
    let writer = tokio::task::spawn_blocking(move || {
        let mut conn = services.store.conn().unwrap();
        let mut watcher = services.store.conn().unwrap();
        store::write_transaction(&mut conn, |conn| {
            hold(conn)?;
            let waits = Waits::from_now(&services);
            held.send(()).unwrap();
            let waited = waits.seen(&mut watcher, || done.load(Ordering::SeqCst));
            then(conn)?;
            Ok::<_, StoreError>(waited)
        })
        .unwrap()
    });
    holding.await.unwrap();
    let sent = tokio::spawn(async move {
        let answer = request.await;
        answered.store(true, Ordering::SeqCst);
        answer
    });
    assert!(writer.await.unwrap(), "the request waits for the writer");
    sent.await.unwrap()
}

/// The grants of the resident not revoked.
async fn live_grants(app: &TestApp) -> i64 {
    let user = app.user_id("seinajoki", EMAIL).await;
    app.db_run(move |conn| {
        grants::table
            .filter(grants::user_id.eq(user))
            .filter(grants::revoked_at.is_null())
            .count()
            .get_result(conn)
            .unwrap()
    })
    .await
}

/// A browser signed in as [`EMAIL`] by a login at `rp-offline` (as whoever holds its session
/// cookie has it).
async fn signed_in_browser(app: &TestApp, client: &rp::Rp) -> reqwest::Client {
    let browser = app.browser();
    let started = rp::start(client, &["offline_access"], &[]);
    let back = rp::log_in(&browser, &started.url, EMAIL, PASSWORD).await;
    assert!(rp::param(&back, "code").is_some(), "{back}");
    browser
}

both_stores!(a_code_asked_for_in_a_session_a_recovery_ends_is_not_issued);
/// The attack: someone holding the resident's session cookie asks `rp-offline` for a code with
/// `offline_access` by single sign-on while the resident resets the password. The request read
/// the session before the reset committed and writes its grant after, so the reset did not see
/// the grant to revoke it: the code gave tokens, and the refresh token 30 days of access after
/// the reset. Now the session is read with the resident's row held, in the transaction that
/// writes the grant: the request waits for the recovery, finds the session ended and answers as
/// without a session — the login page, or `login_required` for `prompt=none` — and no grant
/// outlives the recovery. Also when the session's use is due to be recorded (its last use five
/// minutes old): that write comes after the row is held, or it and the recovery would deadlock.
async fn a_code_asked_for_in_a_session_a_recovery_ends_is_not_issued(backend: Backend) {
    let app = app(backend).await;
    app.stop_workers();
    let client = offline_client(&app).await;
    for (case, prompt) in [
        ("sso", None),
        ("prompt=none", Some("none")),
        ("last use", None),
    ] {
        let browser = signed_in_browser(&app, &client).await;
        if case == "last use" {
            app.clock.advance(SEEN_EVERY_SECONDS);
        }
        let extra: Vec<(&str, &str)> = prompt.map(|p| ("prompt", p)).into_iter().collect();
        let started = rp::start(&client, &["offline_access"], &extra);
        let answer =
            during_a_recovery(&app, async move { browser.get(started.url).send().await }).await;

        let to = rp::location(&answer.unwrap());
        assert_eq!(rp::param(&to, "code"), None, "{case}: {to}");
        match prompt {
            Some(_) => assert_eq!(
                rp::param(&to, "error").as_deref(),
                Some("login_required"),
                "{case}: {to}"
            ),
            None => assert_eq!(to.path(), "/seinajoki/login", "{case}: {to}"),
        }
        assert_eq!(live_grants(&app).await, 0, "{case}");
    }
    app.stop().await;
}

both_stores!(a_change_posted_from_a_session_a_recovery_ends_does_not_land_after_it);
/// Someone signed in on the account page (with the password, or a stolen cookie) posts a change
/// while the resident takes the account back. The page read the session before the recovery
/// committed; the change — his own password (hashed first), his own address, a name — ran after,
/// and would have handed him the account again. Now every change of the page runs only while its
/// session is live, read again with the resident's row held: it waits for the recovery and
/// answers with the way to the login, and nothing is changed.
async fn a_change_posted_from_a_session_a_recovery_ends_does_not_land_after_it(backend: Backend) {
    let app = app(backend).await;
    app.stop_workers();
    let before = app.user_by_email("seinajoki", EMAIL).await;
    let theirs = "varkaan salasana";
    let changes: [(&str, &[(&str, &str)]); 3] = [
        (
            "/seinajoki/account/password",
            &[
                ("current", PASSWORD),
                ("password", theirs),
                ("password2", theirs),
            ],
        ),
        (
            "/seinajoki/account/email",
            &[("email", THEIRS), ("password", PASSWORD)],
        ),
        ("/seinajoki/account/name", &[("name", "Varas")]),
    ];
    for (path, fields) in changes {
        let intruder = sign_in(&app, "seinajoki", EMAIL, PASSWORD).await;
        let url = app.url(path);
        let fields: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let answer = during_a_recovery(&app, async move {
            let fields: Vec<(&str, &str)> = fields
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            post_with_csrf(&intruder.browser, url, &intruder.page, &fields).await
        })
        .await;

        let to = rp::location(&answer);
        assert_eq!(to.path(), "/seinajoki/login", "{path}");
        assert!(rp::param(&to, "request").is_some(), "{path}: {to}");
    }
    let after = app.user_by_email("seinajoki", EMAIL).await;
    assert_eq!(after.password_hash, before.password_hash);
    assert_eq!(after.email.as_deref(), Some(EMAIL));
    assert_eq!(after.name.as_deref(), Some("Erkki"));
    assert_eq!(
        app.mails_to(THEIRS),
        Vec::<String>::new(),
        "no link to his address"
    );
    app.stop().await;
}

/// The intruder's address.
const THEIRS: &str = "varas@testi.fi";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
/// The answers to the passkey offer and to the consent page write a code in the browser's
/// session. They hold the resident's row before anything else, as a recovery does: a recovery
/// under way is waited for, and the answer finds the session ended ("the login request has
/// expired", 400). Taken the other way round — the pending request deleted first, the row
/// wanted when the grant is written — the answer and the recovery (which deletes the pending
/// request too) waited for each other, and PostgreSQL broke the deadlock by failing one of them.
/// (On SQLite the writers take turns: there the two never overlap.)
async fn postgres_an_offer_or_a_consent_answered_during_a_recovery_waits_for_it() {
    if postgres_admin_url().is_none() {
        return;
    }
    // Passkeys are on with a host name: the passkey offer comes after a password login.
    let app = app_of(TestApp::builder(Backend::Postgres).localhost()).await;
    app.stop_workers();
    let client = rp::third(&app).await;

    // The first login is offered a passkey: "not now" while the recovery is under way.
    let browser = app.browser();
    let started = rp::start(&client, &["email"], &[]);
    let offer = rp::log_in(&browser, &started.url, EMAIL, PASSWORD).await;
    assert_eq!(offer.path(), "/seinajoki/passkey-offer");
    let answer = during_a_recovery(&app, async move { not_now(&browser, &offer).await }).await;
    says(answer, 400, "Kirjautumispyyntö on vanhentunut").await;
    assert_eq!(live_grants(&app).await, 0);

    // The next one, offered nothing within the interval, asks for consent: approved while the
    // recovery is under way.
    let browser = app.browser();
    let started = rp::start(&client, &["email"], &[]);
    let consent = rp::log_in(&browser, &started.url, EMAIL, PASSWORD).await;
    assert_eq!(consent.path(), "/seinajoki/consent");
    let html = crate::helpers::journeys::page(&browser, consent.clone()).await;
    let request = rp::param(&consent, "request").unwrap();
    let url = app.url("/seinajoki/consent");
    let answer = during_a_recovery(&app, async move {
        let fields = [("request", request.as_str()), ("decision", "approve")];
        post_with_csrf(&browser, url, &html, &fields).await
    })
    .await;
    says(answer, 400, "Kirjautumispyyntö on vanhentunut").await;
    assert_eq!(live_grants(&app).await, 0);
    app.stop().await;
}

both_stores!(a_code_whose_session_ended_unseen_gives_no_tokens);
/// Defence in depth at the token endpoint: a code whose grant ends with its session (no
/// `offline_access`) gives no tokens once the session has ended, even when whatever ended it did
/// not revoke the grant (a logout holds the account's row since, and waits for a grant being
/// written: `postgres_a_logout_waits_for_a_writer_of_the_residents_grants`). The session is ended here as such a logout leaves it. A
/// code of an offline grant, which outlives its session by design, still gives tokens.
async fn a_code_whose_session_ended_unseen_gives_no_tokens(backend: Backend) {
    let app = app(backend).await;
    let client = offline_client(&app).await;
    for offline in [false, true] {
        let scopes: &[&str] = if offline { &["offline_access"] } else { &[] };
        let started = rp::start(&client, scopes, &[]);
        let back = rp::log_in(&app.browser(), &started.url, EMAIL, PASSWORD).await;
        let code = rp::param(&back, "code").unwrap();
        let now = app.now();
        app.db_run(move |conn| {
            diesel::update(sso_sessions::table.filter(sso_sessions::ended_at.is_null()))
                .set(sso_sessions::ended_at.eq(now))
                .execute(conn)
                .unwrap()
        })
        .await;

        let exchanged = rp::exchange(&client, &code, started.verifier).await;
        if offline {
            assert!(exchanged.is_ok(), "{:?}", exchanged.err());
        } else {
            assert_eq!(
                exchanged.err().as_deref(),
                Some("invalid_grant: the code is invalid, expired or used")
            );
        }
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
/// A login that enrols an authority user's one-time code (the tenant requires one) writes the
/// factor only while the half-done login is still there, with the user's row held as a recovery
/// holds it: a code confirmed while a recovery is under way waits for it and finds the login
/// ended ("the login request has expired", 400); no factor is left for whoever was logging in.
/// (On SQLite the writers take turns: there the two never overlap.)
async fn postgres_an_enrolment_confirmed_during_a_recovery_writes_no_factor() {
    if postgres_admin_url().is_none() {
        return;
    }
    let app = authority_app(Backend::Postgres, "required").await;
    app.stop_workers();
    let client = rp::basic(&app).await;
    let (login, enrol) = enrolment(&app, &client).await;
    let secret = shown_secret(&enrol);
    let fields = [
        ("ceremony", hidden(&enrol, "ceremony")),
        ("code", code(&app, &secret, 0)),
    ];
    let user_id = authority_id(&app).await;
    let user = app
        .db_run(move |conn| store::users::find(conn, tenant("seinajoki"), &user_id))
        .await
        .unwrap()
        .unwrap();
    let user_id = user.id.clone();
    let answer = during_a_recovery_of(&app, user, async move {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        login
            .post("/login/second-factor/enrol", &enrol, &fields)
            .await
    })
    .await;
    says(answer, 400, "Kirjautumispyyntö on vanhentunut").await;
    let factor = app
        .db_run(move |conn| store::second_factors::totp(conn, tenant("seinajoki"), &user_id))
        .await
        .unwrap();
    assert!(factor.is_none(), "{factor:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
/// A logout holds the resident's row before it ends the session, as every writer of a grant in
/// the session does (single sign-on, the consent, the passkey offer, a step-up): a grant being
/// written meanwhile commits first and is revoked, and its e-service told, with the session.
/// Shown here by a transaction that holds the row (as a recovery does): the logout waits for it.
/// Before, the logout took no row and went on at once, and on PostgreSQL (READ COMMITTED) a
/// grant written meanwhile was neither revoked nor told: an `offline_access` e-service kept its
/// session of the resident after the logout. (SQLite's writers take turns.)
async fn postgres_a_logout_waits_for_a_writer_of_the_residents_grants() {
    if postgres_admin_url().is_none() {
        return;
    }
    let app = app(Backend::Postgres).await;
    app.stop_workers();
    let client = rp::basic(&app).await;
    let browser = app.browser();
    let redeemed = rp::redeem_login(&browser, &client, &[], EMAIL, PASSWORD).await;
    let hint = openidconnect::TokenResponse::id_token(&redeemed.tokens)
        .unwrap()
        .to_string();
    let mut url = url::Url::parse(&app.url("/seinajoki/logout")).unwrap();
    url.query_pairs_mut().append_pair("id_token_hint", &hint);
    let out = during_a_recovery(&app, async move { browser.get(url).send().await.unwrap() }).await;
    assert_eq!(out.status(), 200);
    assert_eq!(live_grants(&app).await, 0);
    app.stop().await;
}
