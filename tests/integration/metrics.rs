//! The Prometheus metrics: `/metrics` on the listener of `[metrics] bind` only (404 on the public
//! port, and every other path of the metrics listener a 404), in the OpenMetrics text format; a
//! scrape after real logins and a mailed link shows the counters moved: requests by route
//! template, logins by outcome, mail sent; and the gauges of the queues, pools and keys.

use crate::both_stores;
use crate::helpers::journeys::{Login, client_post, page, post_with_csrf};
use crate::helpers::{Backend, TestApp};
use crate::rp::{self, location, param};

pub(crate) const EMAIL: &str = "erkki@testi.fi";
pub(crate) const PASSWORD: &str = "oikea hevonen patteri";

/// The server with its metrics listener ([`TestAppBuilder::metrics`]) and the resident Erkki
/// ([`EMAIL`], [`PASSWORD`]).
///
/// [`TestAppBuilder::metrics`]: crate::helpers::TestAppBuilder::metrics
pub(crate) async fn with_metrics(backend: Backend) -> TestApp {
    TestApp::builder(backend)
        .metrics()
        .user("seinajoki", EMAIL, PASSWORD, "Erkki")
        .spawn()
        .await
}

/// The value of the sample `line` (the metric with its labels) in `text`, if there is one.
pub(crate) fn sample(text: &str, line: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(line)?.strip_prefix(' '))
        .map(|value| value.parse().unwrap())
}

/// The value of `line` in `text`, which must have it.
fn value(text: &str, line: &str) -> f64 {
    sample(text, line).unwrap_or_else(|| panic!("no {line} in\n{text}"))
}

both_stores!(a_scrape_after_a_login_shows_the_counters_moved);
async fn a_scrape_after_a_login_shows_the_counters_moved(backend: Backend) {
    let app = with_metrics(backend).await;

    let (status, content_type, before) = app.scrape().await;
    assert_eq!(status, 200);
    assert_eq!(
        content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(before.ends_with("# EOF\n"), "{before}");
    let login = "idp_logins_total{tenant=\"seinajoki\",outcome=\"succeeded\"}";
    assert_eq!(sample(&before, login), None, "no login yet");
    // The gauges, set at the scrape.
    assert_eq!(
        value(&before, "idp_mail_outbox_waiting{tenant=\"seinajoki\"}"),
        0.0
    );
    assert_eq!(
        value(
            &before,
            "idp_mail_outbox_oldest_age_seconds{tenant=\"kouvola\"}"
        ),
        0.0
    );
    assert_eq!(
        value(
            &before,
            "idp_backchannel_logouts_waiting{tenant=\"seinajoki\"}"
        ),
        0.0
    );
    for alg in ["RS256", "ES256", "EdDSA"] {
        let labels = format!("{{tenant=\"seinajoki\",alg=\"{alg}\"}}");
        let age = value(&before, &format!("idp_signing_key_age_seconds{labels}"));
        let due = value(
            &before,
            &format!("idp_signing_key_rotation_due_seconds{labels}"),
        );
        assert!((0.0..60.0).contains(&age), "{alg}: {age}");
        // Planned 90 days after the key began to sign.
        assert!((due + age - 90.0 * 86_400.0).abs() < 1.0, "{alg}: {due}");
    }
    assert_eq!(value(&before, "idp_hashing_queue"), 0.0);
    assert_eq!(value(&before, "idp_hashing_in_flight"), 0.0);
    assert!(value(&before, "idp_db_connections{kind=\"idle\"}") >= 1.0);
    let pool_waits = value(&before, "idp_db_pool_waits_total");
    assert!(before.contains("# TYPE idp_db_pool_wait_seconds counter\n"));
    let writer_waits = sample(&before, "idp_sqlite_writer_waits_total");
    assert_eq!(writer_waits.is_some(), backend == Backend::Sqlite);
    let commits = sample(&before, "idp_sqlite_commits_total");
    let committed = sample(&before, "idp_sqlite_committed_writes_total");
    assert_eq!(commits.is_some(), backend == Backend::Sqlite);
    assert_eq!(committed.is_some(), backend == Backend::Sqlite);

    // A wrong password, an unknown address, then a login that succeeds.
    let client = rp::basic(&app).await;
    let wrong = Login::fresh(&app, &client).await;
    assert_eq!(
        wrong.submit(EMAIL, "väärä salasana", false).await.status(),
        401
    );
    let unknown = Login::fresh(&app, &client).await;
    let refused = unknown.submit("nobody@testi.fi", PASSWORD, false).await;
    assert_eq!(refused.status(), 401);
    let good = Login::fresh(&app, &client).await;
    let back = location(&good.submit(EMAIL, PASSWORD, false).await);
    assert!(param(&back, "code").is_some(), "{back}");

    // A reset link asked: a mail queued and sent by the worker.
    let reset = Login::fresh(&app, &client).await;
    let request = reset.request.as_str();
    let forgot = app.url(&format!("/seinajoki/forgot?request={request}"));
    let form = page(&reset.browser, forgot).await;
    let fields = [("request", request), ("email", EMAIL)];
    let asked = post_with_csrf(&reset.browser, app.url("/seinajoki/forgot"), &form, &fields).await;
    assert_eq!(asked.status(), 200);
    let sent = "idp_mail_total{tenant=\"seinajoki\",outcome=\"sent\"}";
    let mut after = String::new();
    for _ in 0..100 {
        after = app.scrape().await.2;
        if sample(&after, sent) == Some(1.0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let outcome = |o: &str| format!("idp_logins_total{{tenant=\"seinajoki\",outcome=\"{o}\"}}");
    assert_eq!(value(&after, login), 1.0);
    assert_eq!(value(&after, &outcome("wrong_password")), 1.0);
    assert_eq!(value(&after, &outcome("unknown_identifier")), 1.0);
    assert_eq!(sample(&after, &outcome("throttled")), None);
    assert_eq!(
        sample(
            &after,
            "idp_logins_total{tenant=\"kouvola\",outcome=\"succeeded\"}"
        ),
        None,
        "counted for its tenant"
    );
    assert_eq!(value(&after, sent), 1.0);
    if let (Some(commits), Some(committed)) = (commits, committed) {
        // The logins, the reset link and its mail wrote: more commits, each holding one write at
        // least.
        let commits = value(&after, "idp_sqlite_commits_total") - commits;
        let writes = value(&after, "idp_sqlite_committed_writes_total") - committed;
        assert!(
            commits >= 3.0 && writes >= commits,
            "{commits} commits, {writes} writes"
        );
    }
    assert_eq!(
        value(&after, "idp_mail_outbox_waiting{tenant=\"seinajoki\"}"),
        0.0
    );
    // Requests by route template, never by path: the tenant is a label only through it.
    let passwords = "idp_http_requests_total{route=\"/{tenant}/login/password\",method=\"POST\"";
    assert_eq!(value(&after, &format!("{passwords},status=\"303\"}}")), 1.0);
    assert_eq!(value(&after, &format!("{passwords},status=\"401\"}}")), 2.0);
    assert_eq!(
        value(
            &after,
            "idp_http_request_duration_seconds_count{route=\"/{tenant}/login/password\"}"
        ),
        3.0
    );
    assert!(!after.contains("route=\"/seinajoki"), "{after}");
    assert!(value(&after, "idp_db_pool_waits_total") >= pool_waits);

    // Not on the public port; nothing else on the metrics port. The public 404 is counted as
    // an unmatched route, its path left out.
    assert_eq!(app.get("/metrics").await.status(), 404);
    let address = app.metrics.unwrap();
    let elsewhere = app
        .http
        .get(format!("http://{address}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 404);
    let (_, _, last) = app.scrape().await;
    assert_eq!(
        value(
            &last,
            "idp_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"}"
        ),
        1.0
    );
    app.stop().await;
}

both_stores!(throttled_guesses_are_counted);
async fn throttled_guesses_are_counted(backend: Backend) {
    let app = with_metrics(backend).await;
    let client = rp::basic(&app).await;
    // Five wrong passwords are free; the sixth check is refused by the throttle.
    for _ in 0..6 {
        let login = Login::fresh(&app, &client).await;
        login.submit(EMAIL, "väärä salasana", false).await;
    }
    let (_, _, text) = app.scrape().await;
    let outcome = |o: &str| format!("idp_logins_total{{tenant=\"seinajoki\",outcome=\"{o}\"}}");
    assert_eq!(value(&text, &outcome("wrong_password")), 5.0);
    assert_eq!(value(&text, &outcome("throttled")), 1.0);
    app.stop().await;
}

#[tokio::test]
async fn without_a_metrics_section_there_is_no_listener() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    assert_eq!(app.metrics, None);
    assert_eq!(app.get("/metrics").await.status(), 404);
    app.stop().await;
}

/// PostgreSQL only: an open SQLite file cannot be taken away from the process. The database
/// gone, a scrape still answers: the 503s the requests got and the pool's gauges, the queues'
/// gauges said to be stale. Before, the scrape was a 503 with nothing, when it was most wanted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_answers_while_the_database_is_gone() {
    if crate::helpers::postgres_admin_url().is_none() {
        return;
    }
    let app = with_metrics(Backend::Postgres).await;
    let (status, _, text) = app.scrape().await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(value(&text, "idp_queue_gauges_stale"), 0.0);
    app.db.drop_now();
    assert_eq!(app.get("/healthz").await.status(), 503);
    let (status, _, text) = app.scrape().await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(value(&text, "idp_queue_gauges_stale"), 1.0);
    let refused = r#"idp_http_requests_total{route="/healthz",method="GET",status="503"}"#;
    assert!(value(&text, refused) >= 1.0, "{text}");
    app.stop().await;
}

both_stores!(a_key_that_no_longer_signs_has_no_age);
/// A tenant's key of one algorithm gone (the ring reloaded without it): its age and time to
/// rotation leave the scrape, rather than stay frozen at a healthy value.
async fn a_key_that_no_longer_signs_has_no_age(backend: Backend) {
    let app = with_metrics(backend).await;
    let age = r#"idp_signing_key_age_seconds{tenant="seinajoki",alg="ES256"}"#;
    let due = r#"idp_signing_key_rotation_due_seconds{tenant="seinajoki",alg="ES256"}"#;
    let (_, _, text) = app.scrape().await;
    assert!(
        sample(&text, age).is_some() && sample(&text, due).is_some(),
        "{text}"
    );
    crate::readiness::without_seinajokis_es256_keys(&app).await;
    let (_, _, text) = app.scrape().await;
    assert_eq!(
        (sample(&text, age), sample(&text, due)),
        (None, None),
        "{text}"
    );
    let kouvola = r#"idp_signing_key_age_seconds{tenant="kouvola",alg="ES256"}"#;
    assert!(sample(&text, kouvola).is_some(), "{text}");
    app.stop().await;
}

both_stores!(a_passkey_that_does_not_verify_is_counted);
/// A passkey answer for another user's handle is refused (401) and counted as `passkey_failed`,
/// as a wrong password is: before, the audit had it and the metrics did not.
async fn a_passkey_that_does_not_verify_is_counted(backend: Backend) {
    use crate::helpers::webauthn::{Authenticator, add_on_account, login_options, sign_in};
    use crate::passkeys::{EMAIL, PASSWORD, with_pirjo};
    let app = with_pirjo(TestApp::builder(backend).metrics()).await;
    let signed = sign_in(&app, "seinajoki", EMAIL, PASSWORD).await;
    let mut key = Authenticator::new(&app);
    let added = add_on_account(&app, &signed, (&mut key, PASSWORD), "Läppäri").await;
    assert_eq!(added.status(), 200);
    let login = Login::fresh(&app, &rp::basic(&app).await).await;
    let (asked, html) = login_options(&login).await;
    let posing = key
        .discover(&asked)
        .as_user(uuid::Uuid::new_v4().as_bytes());
    let refused = login.post("/login/passkey", &html, &posing.fields()).await;
    assert_eq!(refused.status(), 401);
    let (_, _, text) = app.scrape().await;
    let failed = r#"idp_logins_total{tenant="seinajoki",outcome="passkey_failed"}"#;
    assert_eq!(value(&text, failed), 1.0, "{text}");
    app.stop().await;
}

both_stores!(token_requests_are_counted_by_grant_and_outcome);
async fn token_requests_are_counted_by_grant_and_outcome(backend: Backend) {
    use openidconnect::OAuth2TokenResponse;
    let app = with_metrics(backend).await;
    let client = rp::basic(&app).await;
    let started = rp::start(&client, &["offline_access"], &[]);
    let verifier = started.verifier.secret().clone();
    let back = rp::log_in(&app.browser(), &started.url, EMAIL, PASSWORD).await;
    let code = param(&back, "code").unwrap();
    let tokens = rp::exchange(&client, &code, started.verifier)
        .await
        .unwrap();
    client
        .exchange_refresh_token(tokens.refresh_token().unwrap())
        .unwrap()
        .request_async(&rp::http())
        .await
        .unwrap();
    // The code again: refused (and its grant revoked).
    let again = openidconnect::PkceCodeVerifier::new(verifier);
    let replayed = rp::exchange(&client, &code, again).await.unwrap_err();
    assert!(replayed.starts_with("invalid_grant: "), "{replayed}");
    // A grant type idp does not know, and a client with a wrong secret: counted, the unknown
    // name as `other`.
    let credentials = ("rp-basic", "rp-basic-secret");
    let unknown = [("grant_type", "password; drop")];
    let (status, _) = client_post(&app, "/seinajoki/token", credentials, &unknown).await;
    assert_eq!(status, 400);
    let wrong = ("rp-basic", "not its secret");
    let code = [("grant_type", "authorization_code"), ("code", "x")];
    let (status, _) = client_post(&app, "/seinajoki/token", wrong, &code).await;
    assert_eq!(status, 401);

    let (_, _, text) = app.scrape().await;
    let count = |grant: &str, outcome: &str| {
        let labels = format!("{{tenant=\"seinajoki\",grant=\"{grant}\",outcome=\"{outcome}\"}}");
        sample(&text, &format!("idp_token_requests_total{labels}"))
    };
    assert_eq!(count("authorization_code", "issued"), Some(1.0));
    assert_eq!(count("authorization_code", "invalid_grant"), Some(1.0));
    assert_eq!(count("refresh_token", "issued"), Some(1.0));
    assert_eq!(count("other", "unsupported_grant_type"), Some(1.0));
    assert_eq!(count("authorization_code", "invalid_client"), Some(1.0));
    assert!(!text.contains("password; drop"), "{text}");
    assert!(!text.contains("idp_token_requests_total{tenant=\"kouvola\""));
    app.stop().await;
}
