//! The statements one request sends to the database, counted by the store's instrumentation
//! (`idp/store/instrument.rs`, the metric `idp_db_statements_total`) and held to exact numbers
//! per backend, so that a change cannot add one to the token endpoint, userinfo or an anonymous
//! `/authorize` silently. And a login with a code exchange over PostgreSQL's Unix socket.

use diesel::RunQueryDsl;

use crate::both_stores;
use crate::helpers::{Backend, TestApp};
use crate::metrics::{EMAIL, PASSWORD, with_metrics};
use crate::rp::{self, param};

/// The client_credentials client.
const SERVICE: (&str, &str) = ("service", "service-secret");

/// The statements the server has run, less the pool's tests of an idle PostgreSQL connection
/// (`SELECT 1`, before a connection unused for 500 ms: whether one runs depends on the timing).
fn statements(app: &TestApp) -> u64 {
    let counted = app.services.store.statements();
    counted.all.get() - counted.tests.get()
}

/// Waits until no statement runs any more (the workers stopped, their last round done).
async fn quiet(app: &TestApp) {
    for _ in 0..50 {
        let before = statements(app);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        if statements(app) == before {
            return;
        }
    }
    panic!("the store never went quiet");
}

/// Posts `form` to seinajoki's token endpoint as the client `auth`: the status and the JSON.
async fn token(
    app: &TestApp,
    auth: (&str, &str),
    form: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    crate::helpers::journeys::client_post(app, "/seinajoki/token", auth, form).await
}

/// The statements `request` made the server run.
async fn count<T>(app: &TestApp, request: impl std::future::Future<Output = T>) -> (u64, T) {
    let before = statements(app);
    let answer = request.await;
    (statements(app) - before, answer)
}

both_stores!(the_token_endpoint_and_userinfo_run_a_known_number_of_statements);
async fn the_token_endpoint_and_userinfo_run_a_known_number_of_statements(backend: Backend) {
    let app = with_metrics(backend).await;
    app.stop_workers();
    let client = rp::basic(&app).await;
    let started = rp::start(&client, &[], &[]);
    let browser = app.browser();
    let back = rp::log_in(&browser, &started.url, EMAIL, PASSWORD).await;
    let code = param(&back, "code").unwrap();
    quiet(&app).await;
    let sqlite = backend == Backend::Sqlite;

    // On SQLite a request's writes are a savepoint in a transaction that writers arriving
    // together share (group commit, `store/transaction.rs`): alone, its SAVEPOINT and RELEASE
    // come on top of BEGIN IMMEDIATE and COMMIT.
    //
    // The code exchange: BEGIN (IMMEDIATE on SQLite); claim the code (UPDATE … RETURNING) and
    // read its grant with the grant's user (one statement on PostgreSQL, the claim in a WITH;
    // two on SQLite, which allows no UPDATE in a WITH); the refresh token and the `token.issued`
    // event (one statement on PostgreSQL, the INSERT in a WITH; two on SQLite); COMMIT. Before
    // the claim it was 7 on both (9 on SQLite with the savepoint): the code was read, then
    // marked used, and the event written alone.
    let (exchange, tokens) = count(&app, rp::exchange(&client, &code, started.verifier)).await;
    let tokens = tokens.unwrap();
    assert_eq!(exchange, if sqlite { 6 + 2 } else { 4 }, "code exchange");
    let kinds = app.audit_kinds("seinajoki").await;
    assert_eq!(kinds.last().map(String::as_str), Some("token.issued"));

    // A refresh: BEGIN; claim the refresh token (UPDATE … RETURNING, its grant's client checked
    // in the same statement) and read its grant with the grant's user and SSO session (one
    // statement on PostgreSQL, two on SQLite, as for a code); the new refresh token (written over
    // the old one's row: its family's handle tells the old one if presented again); COMMIT.
    // It was 7 on both (9 on SQLite with the savepoint): the token read, then marked, and the
    // session read apart.
    let refresh = {
        use openidconnect::OAuth2TokenResponse;
        tokens.refresh_token().unwrap().secret().clone()
    };
    let form = [("grant_type", "refresh_token"), ("refresh_token", &refresh)];
    let (refreshed, answer) =
        count(&app, token(&app, ("rp-basic", "rp-basic-secret"), &form)).await;
    assert_eq!(answer.0, 200, "{}", answer.1);
    assert_eq!(refreshed, if sqlite { 5 + 2 } else { 4 }, "refresh");

    // Userinfo: the grant, its revocation and the user in one statement.
    let access = answer.1["access_token"].as_str().unwrap().to_string();
    let (userinfo, claims) = count(&app, rp::userinfo(&app, "seinajoki", &access)).await;
    assert_eq!(claims["sub"], tokens_subject(&tokens));
    assert_eq!(userinfo, 1, "userinfo");

    // Single sign-on, a code for a browser with a live session: BEGIN (IMMEDIATE on SQLite);
    // the session's user held (`SELECT … FOR UPDATE` on PostgreSQL, the session found in a
    // subquery) and the session read after it, so that a recovery ending the session is seen
    // (`session::held`); the grant; the code; COMMIT. The same number as when the session and
    // its user were read before the transaction, unheld.
    let (sso, back) = count(&app, rp::authorize(&browser, &client, &[])).await;
    assert!(param(&back, "code").is_some(), "{back}");
    assert_eq!(sso, if sqlite { 6 + 2 } else { 6 }, "single sign-on");

    // A machine token writes and reads nothing.
    let form = [("grant_type", "client_credentials")];
    let (machine, answer) = count(&app, token(&app, SERVICE, &form)).await;
    assert_eq!(answer.0, 200, "{}", answer.1);
    assert_eq!(machine, 0, "client_credentials");

    // An anonymous authorization request: one INSERT of its waiting row, on both. The limit of
    // requests its client address may keep waiting (`limits.waiting_requests_per_address`) added
    // no statement: the count is inside the INSERT (`INSERT … SELECT … WHERE (SELECT count(*)
    // …) < limit`).
    let anonymous = rp::start(&client, &[], &[]);
    let (authorize, answer) = count(&app, app.browser().get(anonymous.url).send()).await;
    assert_eq!(rp::location(&answer.unwrap()).path(), "/seinajoki/login");
    assert_eq!(authorize, 1, "anonymous authorize");

    // The count is the node's metric.
    let (_, _, text) = app.scrape().await;
    let exported: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("idp_db_statements_total "))
        .unwrap_or_else(|| panic!("no idp_db_statements_total in\n{text}"))
        .parse()
        .unwrap();
    assert!(
        exported >= statements(&app) && exported > 0,
        "{exported}\n{text}"
    );
    app.stop().await;
}

/// The subject of the ID token in `tokens`.
fn tokens_subject(tokens: &openidconnect::core::CoreTokenResponse) -> serde_json::Value {
    use openidconnect::TokenResponse;
    rp::payload(&tokens.id_token().unwrap().to_string())["sub"].clone()
}

#[derive(diesel::QueryableByName)]
struct Local {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    local: bool,
}

/// A node whose `database.url` names PostgreSQL's socket directory
/// (`postgresql:///DB?host=/dir`) logs a resident in and exchanges the code over it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_and_code_exchange_over_postgresqls_unix_socket() {
    if crate::helpers::postgres_admin_url().is_none()
        || crate::helpers::postgres_socket_url().is_none()
    {
        return;
    }
    let app = TestApp::builder(Backend::Postgres)
        .unix_socket()
        .user("seinajoki", EMAIL, PASSWORD, "Erkki")
        .spawn()
        .await;
    let client = rp::basic(&app).await;
    let started = rp::start(&client, &[], &[]);
    let redeemed = rp::log_in_and_redeem(&app.browser(), &client, started, EMAIL, PASSWORD).await;
    assert_eq!(
        rp::userinfo(&app, "seinajoki", &redeemed.access_token()).await["sub"],
        redeemed.payload()["sub"]
    );
    // The server's own connections came through the socket: no server address.
    let local = app
        .db_run(|conn| {
            diesel::sql_query("SELECT inet_server_addr() IS NULL AS local")
                .get_result::<Local>(conn)
                .unwrap()
                .local
        })
        .await;
    assert!(local, "the node's connections are TCP");
    app.stop().await;
}
