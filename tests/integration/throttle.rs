//! Every password check is throttled, counted before its hash runs, and none starves the logins:
//! parallel guesses at the login and the account page, one session's burst of checks beside a
//! resident's login, the throttle's counters kept per tenant, an IPv6 client counted per /64, and
//! an address's counter that never tells whether it has an account, nor a wrong password's time
//! whether the address has an old account of a costly hash.

use std::time::{Duration, Instant};

use crate::both_stores;
use crate::helpers::journeys::{Login, free_checks_then_throttled, says, sign_in};
use crate::helpers::{Backend, Old, TestApp};
use crate::rp::{self, csrf};

const PASSWORD: &str = "oikea hevonen patteri";
const WRONG: &str = "Sähköpostiosoite / käyttäjätunnus tai salasana on väärin.";
const THROTTLED: &str = "Liian monta epäonnistunutta yritystä. Odota hetki ja yritä uudelleen.";

/// A browser at the password page of a fresh login at `tenant` for `identifier`: the browser, the
/// password form's URL and its fields (without the password).
async fn at_password(
    app: &TestApp,
    tenant: &str,
    identifier: &str,
) -> (reqwest::Client, String, Vec<(String, String)>) {
    let client = rp::basic_of(app, tenant).await;
    let login = Login::fresh(app, &client).await;
    let (_, html) = login.identify(identifier).await;
    let fields = vec![
        ("csrf".to_string(), csrf(&html)),
        ("request".to_string(), login.request.clone()),
        ("identifier".to_string(), identifier.to_string()),
    ];
    let url = format!("{}/login/password", login.tenant_url);
    (login.browser, url, fields)
}

async fn post_password(
    browser: &reqwest::Client,
    url: &str,
    fields: &[(String, String)],
    password: &str,
) -> reqwest::Response {
    let mut form = fields.to_vec();
    form.push(("password".into(), password.into()));
    browser.post(url).form(&form).send().await.unwrap()
}

/// [`post_password`] from client address `from` (through `X-Forwarded-For`, which only a server
/// behind a proxy reads).
async fn post_password_from(
    browser: &reqwest::Client,
    url: &str,
    fields: &[(String, String)],
    password: &str,
    from: &str,
) -> reqwest::Response {
    let mut form = fields.to_vec();
    form.push(("password".into(), password.into()));
    let request = browser.post(url).header("X-Forwarded-For", from);
    request.form(&form).send().await.unwrap()
}

both_stores!(parallel_wrong_guesses_run_at_most_five_checks);
/// Twenty wrong guesses at once against one account: the throttle counts each before its hash,
/// so at most five are checked (401); every other one is refused unchecked (429). Before, all
/// read the counter first and ten or more were checked.
async fn parallel_wrong_guesses_run_at_most_five_checks(backend: Backend) {
    let app = TestApp::with_user(backend, "erkki@testi.fi", PASSWORD, "Erkki").await;
    let (browser, url, fields) = at_password(&app, "seinajoki", "erkki@testi.fi").await;
    let guesses: Vec<_> = (0..20)
        .map(|n| {
            let (browser, url, fields) = (browser.clone(), url.clone(), fields.clone());
            tokio::spawn(async move {
                let response = post_password(&browser, &url, &fields, &format!("väärä {n}")).await;
                let status = response.status().as_u16();
                if status == 429 {
                    assert!(response.headers().contains_key("retry-after"));
                }
                status
            })
        })
        .collect();
    let mut answers = Vec::new();
    for guess in guesses {
        answers.push(guess.await.unwrap());
    }
    let checked = answers.iter().filter(|s| **s != 429).count();
    assert!(checked <= 5, "{checked} checked: {answers:?}");
    assert!(
        answers.iter().all(|s| *s == 401 || *s == 429),
        "{answers:?}"
    );
    // However many ran, five are counted by the end: the right password waits for the block.
    let mut counted = checked;
    while counted < 5 {
        let again = post_password(&browser, &url, &fields, "väärä taas").await;
        assert_eq!(again.status(), 401);
        counted += 1;
    }
    let right = post_password(&browser, &url, &fields, PASSWORD).await;
    assert_eq!(right.status(), 429);
    app.clock.advance(31);
    let right = post_password(&browser, &url, &fields, PASSWORD).await;
    assert_eq!(right.status(), 303);
    app.stop().await;
}

/// A browser signed in as `email` at the account page; the page's CSRF token.
async fn signed_in(app: &TestApp, email: &str) -> (reqwest::Client, String) {
    let signed = sign_in(app, "seinajoki", email, PASSWORD).await;
    (signed.browser, csrf(&signed.page))
}

/// Posts the account page's password form at `url` with `current` as the current password.
async fn change_password(
    url: &str,
    browser: &reqwest::Client,
    token: &str,
    current: &str,
) -> reqwest::Response {
    browser
        .post(url)
        .form(&[
            ("csrf", token),
            ("current", current),
            ("password", "uusi pitkä salasana"),
            ("password2", "uusi pitkä salasana"),
        ])
        .send()
        .await
        .unwrap()
}

both_stores!(the_account_pages_password_checks_are_throttled);
/// The account page's current password is throttled like a login, on the same counter: five
/// wrong ones, then 429 with Retry-After even for the right one. Before, thirty wrong guesses
/// got thirty answers.
async fn the_account_pages_password_checks_are_throttled(backend: Backend) {
    let app = TestApp::with_user(backend, "erkki@testi.fi", PASSWORD, "Erkki").await;
    let (browser, token) = signed_in(&app, "erkki@testi.fi").await;
    let account = app.url("/seinajoki/account/password");
    for n in 0..5 {
        let refused = change_password(&account, &browser, &token, &format!("väärä {n}")).await;
        says(refused, 422, "Nykyinen salasana on väärin.").await;
    }
    // Each wrong one is audited as a failed check of the signed-in user.
    let kinds = app.audit_kinds("seinajoki").await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "login.failed").count(),
        5,
        "{kinds:?}"
    );
    let blocked = change_password(&account, &browser, &token, PASSWORD).await;
    assert_eq!(blocked.status(), 429);
    let retry_after: i64 = blocked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((25..=30).contains(&retry_after), "{retry_after}");
    let page = blocked.text().await.unwrap();
    assert!(
        page.contains(
            "<p id=\"password-error\" class=\"error\" role=\"alert\">Liian monta epäonnistunutta yritystä."
        ),
        "at the password form: {page}"
    );
    // The same counter as the login's: the login is blocked too.
    let (other, url, fields) = at_password(&app, "seinajoki", "erkki@testi.fi").await;
    assert_eq!(
        post_password(&other, &url, &fields, PASSWORD)
            .await
            .status(),
        429
    );
    // After the block, the right password changes it.
    app.clock.advance(31);
    let done = change_password(&account, &browser, &token, PASSWORD).await;
    crate::helpers::journeys::password_changed(&browser, done).await;
    app.stop().await;
}

both_stores!(a_sessions_burst_of_checks_does_not_starve_a_login);
/// One signed-in session fires a dozen account-page checks at once while another resident logs
/// in: the session holds at most its share of the hashing pool (the rest are refused with 429),
/// logins keep theirs, and the login succeeds. Before, the login answered 503.
async fn a_sessions_burst_of_checks_does_not_starve_a_login(backend: Backend) {
    let app = TestApp::builder(backend)
        .user("seinajoki", "erkki@testi.fi", PASSWORD, "Erkki")
        .user("seinajoki", "liisa@testi.fi", PASSWORD, "Liisa")
        .spawn()
        .await;
    let (browser, token) = signed_in(&app, "erkki@testi.fi").await;
    let (resident, url, fields) = at_password(&app, "seinajoki", "liisa@testi.fi").await;
    let account = app.url("/seinajoki/account/password");
    let burst: Vec<_> = (0..12)
        .map(|n| {
            let (account, browser, token) = (account.clone(), browser.clone(), token.clone());
            tokio::spawn(async move {
                change_password(&account, &browser, &token, &format!("väärä {n}"))
                    .await
                    .status()
                    .as_u16()
            })
        })
        .collect();
    // While the burst is being hashed.
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    let login = post_password(&resident, &url, &fields, PASSWORD)
        .await
        .status()
        .as_u16();
    let mut answers = Vec::new();
    for answer in burst {
        answers.push(answer.await.unwrap());
    }
    let burst = answers;
    assert_eq!(login, 303, "the login went through; the burst: {burst:?}");
    assert!(
        burst.iter().all(|s| *s == 422 || *s == 429),
        "never 503: {burst:?}"
    );
    assert!(
        burst.iter().filter(|s| **s == 422).count() <= 5,
        "{burst:?}"
    );
    app.stop().await;
}

both_stores!(a_throttle_counter_is_its_tenants_alone);
/// Guesses at one tenant never block the same identifier, nor the same client address, at
/// another: the counters are kept per tenant.
async fn a_throttle_counter_is_its_tenants_alone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (browser, url, fields) = at_password(&app, "seinajoki", "ei.ole@testi.fi").await;
    for _ in 0..5 {
        assert_eq!(
            post_password(&browser, &url, &fields, "väärä")
                .await
                .status(),
            401
        );
    }
    assert_eq!(
        post_password(&browser, &url, &fields, "väärä")
            .await
            .status(),
        429
    );
    let (browser, url, fields) = at_password(&app, "kouvola", "ei.ole@testi.fi").await;
    assert_eq!(
        post_password(&browser, &url, &fields, "väärä")
            .await
            .status(),
        401
    );
    app.stop().await;
}

both_stores!(a_success_clearing_a_counter_never_fails_a_check_beside_it);
/// One resident's checks at once, each succeeding: every success forgets the account's counter
/// while the others count on it. Each check finds its counter or makes it: none fails (on
/// PostgreSQL a check used to make sure of the row, then lock it, and fail with "not found"
/// when a success had deleted it in between: a 500 under load).
async fn a_success_clearing_a_counter_never_fails_a_check_beside_it(backend: Backend) {
    use idp::clock::Clock;
    use idp::flows::password_check::ALLOWANCE;
    use idp::store::Tenant;
    use idp::store::throttle::{ThrottleKey, give_back, reserve};

    let app = TestApp::spawn(backend).await;
    let now = app.clock.now();
    let checks: Vec<_> = (0..8)
        .map(|_| {
            let (store, config) = (app.services.store.clone(), app.services.config.clone());
            tokio::task::spawn_blocking(move || {
                let tenant = Tenant::of(config.tenant("seinajoki").unwrap());
                let keys = [ThrottleKey::User("asukas".into())];
                let mut conn = store.conn().unwrap();
                let mut failed = Vec::new();
                for _ in 0..40 {
                    let outcome =
                        reserve(&mut conn, tenant, &keys, ALLOWANCE, now).and_then(|reserved| {
                            assert_eq!(reserved, Ok(()));
                            give_back(&mut conn, tenant, &keys, ALLOWANCE, now, true)
                        });
                    if let Err(error) = outcome {
                        failed.push(error.to_string());
                    }
                }
                failed
            })
        })
        .collect();
    let mut failed = Vec::new();
    for check in checks {
        failed.extend(check.await.unwrap());
    }
    assert!(failed.is_empty(), "{failed:?}");
    app.stop().await;
}

both_stores!(an_ipv6_client_is_blocked_per_64);
/// Password spraying from a routed /64, each guess from another address of it and five at each
/// identifier: the fifty free checks of a client address are the /64's, so the next guess is
/// refused unchecked (429) while one from another /64 is checked (401). Before, every address of
/// the /64 had fifty of its own and the block never came.
async fn an_ipv6_client_is_blocked_per_64(backend: Backend) {
    use idp::flows::password_check::{FREE_FAILURES, FREE_FAILURES_PER_ADDRESS};

    let app = TestApp::builder(backend).behind_proxy().spawn().await;
    let mut guesses = 0;
    for name in 0..FREE_FAILURES_PER_ADDRESS / FREE_FAILURES {
        let identifier = format!("asukas{name}@testi.fi");
        let (browser, url, fields) = at_password(&app, "seinajoki", &identifier).await;
        for _ in 0..FREE_FAILURES {
            guesses += 1;
            let from = format!("2001:db8:1:2::{guesses:x}");
            let wrong = post_password_from(&browser, &url, &fields, "väärä", &from).await;
            says(wrong, 401, WRONG).await;
        }
    }
    let (browser, url, fields) = at_password(&app, "seinajoki", "viimeinen@testi.fi").await;
    let from = "2001:db8:1:2:ffff:abcd:1234:5678";
    let blocked = post_password_from(&browser, &url, &fields, "väärä", from).await;
    let retry_after = blocked.headers().contains_key("retry-after");
    says(blocked, 429, THROTTLED).await;
    assert!(retry_after);
    let elsewhere = post_password_from(&browser, &url, &fields, "väärä", "2001:db8:1:3::1").await;
    says(elsewhere, 401, WRONG).await;
    app.stop().await;
}

/// The keys of every throttle counter.
async fn throttle_keys(app: &TestApp) -> Vec<String> {
    use diesel::prelude::*;
    use idp::store::schema::login_throttle;
    app.db_run(|conn| {
        login_throttle::table
            .select(login_throttle::throttle_key)
            .load(conn)
            .unwrap()
    })
    .await
}

both_stores!(a_made_up_identifier_of_any_length_keeps_a_small_counter_and_none_once_blocked);
/// Wrong passwords posted with made-up identifiers of 6,400 characters that do not compress, a
/// new one each time, from one address: each is checked (401) until the address's block, then
/// refused (429); every counter's key is of a fixed size, and a refused post leaves no counter
/// behind. Before, the identifier was the key as typed: PostgreSQL refused the row (500, the
/// index's limit) and SQLite kept 6 KB a post, blocked or not.
async fn a_made_up_identifier_of_any_length_keeps_a_small_counter_and_none_once_blocked(
    backend: Backend,
) {
    use idp::crypto::secret::hash;
    use idp::flows::password_check::FREE_FAILURES_PER_ADDRESS;

    let app = TestApp::builder(backend).behind_proxy().spawn().await;
    let (browser, url, mut fields) = at_password(&app, "seinajoki", "joku@testi.fi").await;
    let from = "203.0.113.9";
    for n in 0..FREE_FAILURES_PER_ADDRESS + 10 {
        fields[2].1 = (0..100).map(|k| hash(&format!("{n}.{k}"))).collect();
        let answer = post_password_from(&browser, &url, &fields, "väärä", from).await;
        if n < FREE_FAILURES_PER_ADDRESS {
            says(answer, 401, WRONG).await;
        } else {
            says(answer, 429, THROTTLED).await;
        }
    }
    let keys = throttle_keys(&app).await;
    let counters = usize::try_from(FREE_FAILURES_PER_ADDRESS).unwrap() + 1;
    assert_eq!(
        keys.len(),
        counters,
        "one a made-up identifier and the address's"
    );
    assert!(keys.iter().all(|key| key.len() <= 80), "{keys:?}");
    app.stop().await;
}

/// `text` with its ASCII letters in full width (`erkki` → `ｅｒｋｋｉ`).
fn wide(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            'a'..='z' => char::from_u32(c as u32 - 'a' as u32 + 0xFF41).unwrap(),
            'A'..='Z' => char::from_u32(c as u32 - 'A' as u32 + 0xFF21).unwrap(),
            _ => c,
        })
        .collect()
}

both_stores!(every_form_of_an_address_counts_on_one_counter);
/// Wrong passwords typed with six written forms of one address (full-width letters, case), one
/// login each: five are checked (401) and the sixth is refused (429), whether the address has an
/// account or not, so the answers do not tell which. Before, an address without an account was
/// only trimmed and lowercased, each form had a counter of its own, and the sixth got 401.
async fn every_form_of_an_address_counts_on_one_counter(backend: Backend) {
    let app = TestApp::with_user(backend, "erkki@testi.fi", PASSWORD, "Erkki").await;
    for local in ["erkki", "ei.ole"] {
        let forms = [
            format!("{local}@testi.fi"),
            format!("{}{}@testi.fi", wide(&local[..1]), &local[1..]),
            format!("{}@TESTI.FI", local.to_uppercase()),
            format!("{}@testi.fi", wide(local)),
            format!(" {}@{} ", wide(&local.to_uppercase()), wide("testi.fi")),
            format!(
                "{}{}@Testi.fi",
                wide(&local[..2].to_uppercase()),
                &local[2..]
            ),
        ];
        let [wrong @ .., last] = &forms;
        for form in wrong {
            let (browser, url, fields) = at_password(&app, "seinajoki", form).await;
            let answer = post_password(&browser, &url, &fields, "väärä").await;
            says(answer, 401, WRONG).await;
        }
        let (browser, url, fields) = at_password(&app, "seinajoki", last).await;
        let blocked = post_password(&browser, &url, &fields, PASSWORD).await;
        let retry_after = blocked.headers().contains_key("retry-after");
        says(blocked, 429, THROTTLED).await;
        assert!(retry_after, "{local}");
    }
    app.stop().await;
}

both_stores!(a_claim_of_nothing_counts_where_a_login_of_its_identifier_would);
/// Wrong passwords posted to the claim step of the linker with an old account the address does
/// not have: they count on the counter a login of the identifier counts on, with an account or
/// without one, so the login after them is refused alike. Before, they always counted on the
/// unknown identifier's counter: a login of an address with an account was still checked (401)
/// and one without was refused (429), which told the two apart in six requests.
async fn a_claim_of_nothing_counts_where_a_login_of_its_identifier_would(backend: Backend) {
    let app = TestApp::with_user(backend, "erkki@testi.fi", PASSWORD, "Erkki").await;
    let client = rp::basic(&app).await;
    for identifier in ["erkki@testi.fi", "ei.ole@testi.fi"] {
        let login = Login::fresh(&app, &client).await;
        let page = login.page().await;
        for _ in 0..5 {
            let claimed = login.claim(&page, identifier, "made-up", "väärä").await;
            says(claimed, 401, WRONG).await;
        }
        let blocked = login.submit(identifier, PASSWORD, false).await;
        says(blocked, 429, THROTTLED).await;
    }
    app.stop().await;
}

/// The `until` of a `login.throttled` event's detail, which must open a block of the account.
fn block_until(event: &crate::helpers::Audited) -> chrono::NaiveDateTime {
    let detail: serde_json::Value =
        serde_json::from_str(event.detail.as_deref().expect("a detail")).unwrap();
    assert_eq!(
        detail["blocked"],
        serde_json::json!(["account"]),
        "{detail}"
    );
    let until = detail["until"].as_str().expect("until");
    chrono::NaiveDateTime::parse_from_str(until, "%Y-%m-%dT%H:%M:%S%.fZ").unwrap()
}

both_stores!(refused_checks_are_audited_once_per_block);
/// The attack of the fourth review: one login's password form posted again and again for one
/// account. Five wrong passwords are checked (401); the forty posts that follow are refused
/// unchecked (429), and the audit trail gets one `login.throttled` under the account for the
/// whole block, saying until when the block lasts, while `idp_logins_total{outcome="throttled"}`
/// counts every refusal. When the block has ended, the next wrong password opens a block twice as
/// long, audited once again. Before, every refused post added a `login.throttled` row under the
/// account: a million rows in twenty minutes, in the account's export and its erasure.
async fn refused_checks_are_audited_once_per_block(backend: Backend) {
    let app = TestApp::builder(backend)
        .metrics()
        .user("seinajoki", "erkki@testi.fi", PASSWORD, "Erkki")
        .spawn()
        .await;
    let erkki = app.user_id("seinajoki", "erkki@testi.fi").await;
    let (browser, url, fields) = at_password(&app, "seinajoki", "erkki@testi.fi").await;
    let margin = chrono::Duration::milliseconds(1);
    let mut blocks = Vec::new();
    let wrong_password = async || {
        let answer = post_password(&browser, &url, &fields, "väärä").await;
        says(answer, 401, WRONG).await;
    };
    for (wrong, seconds) in [(5, 30), (1, 60)] {
        for _ in 1..wrong {
            wrong_password().await;
        }
        // The wrong password that opens the block, between these two times.
        let before = app.now();
        wrong_password().await;
        let after = app.now();
        for _ in 0..40 {
            let refused = post_password(&browser, &url, &fields, "väärä").await;
            assert!(refused.headers().contains_key("retry-after"));
            says(refused, 429, THROTTLED).await;
        }
        let block = chrono::Duration::seconds(seconds);
        blocks.push((before + block - margin, after + block + margin));
        app.clock.advance(seconds + 1);
    }

    let throttled = app.audited("seinajoki", "login.throttled").await;
    assert_eq!(throttled.len(), 2, "one event per block");
    for (event, (earliest, latest)) in throttled.iter().zip(blocks) {
        assert_eq!(event.user_id.as_deref(), Some(erkki.as_str()));
        assert_eq!(event.remote_addr.as_deref(), Some("127.0.0.1"));
        let until = block_until(event);
        assert!(
            (earliest..=latest).contains(&until),
            "{until} not in {earliest}..={latest}"
        );
    }
    let counted = "idp_logins_total{tenant=\"seinajoki\",outcome=\"throttled\"}";
    let text = app.scrape().await.2;
    assert_eq!(crate::metrics::sample(&text, counted), Some(80.0), "{text}");
    app.stop().await;
}

both_stores!(an_account_logging_in_correctly_in_a_loop_is_throttled_too);
/// A right password forgets the account's failures, so a script looping over its own account's
/// right password (anyone can register one) held a place of the hashing pool with every login, for
/// ever. Every check of an account is now counted too: thirty in a window, right or wrong, then
/// the throttle's page (429) and no hash; the window over, the account logs in again.
async fn an_account_logging_in_correctly_in_a_loop_is_throttled_too(backend: Backend) {
    let app = TestApp::with_user(backend, "erkki@testi.fi", PASSWORD, "Erkki").await;
    let once = async || {
        let (browser, url, fields) = at_password(&app, "seinajoki", "erkki@testi.fi").await;
        post_password(&browser, &url, &fields, PASSWORD).await
    };
    free_checks_then_throttled(303, once).await;
    app.clock.advance(15 * 60 + 1);
    assert_eq!(once().await.status(), 303);
    app.stop().await;
}

/// An old bcrypt hash of the lowest cost (from 6 up, to the cap's 14) whose check of a wrong
/// password takes this build at least 200 ms (the least of three runs, so that a busy moment
/// does not pick too low a cost): costlier than the dummy hash many times over. With that time.
fn a_costly_old_hash(password: &str) -> (String, Duration) {
    for cost in 6..=14 {
        let hash = bcrypt::hash(password, cost).unwrap();
        let took = (0..3)
            .map(|_| {
                let started = Instant::now();
                assert!(!bcrypt::verify("väärä", &hash).unwrap());
                started.elapsed()
            })
            .min()
            .unwrap();
        if took >= Duration::from_millis(200) || cost == 14 {
            return (hash, took);
        }
    }
    unreachable!("the loop returns at cost 14")
}

both_stores!(a_wrong_password_takes_as_long_whether_the_address_has_an_old_costly_hash_or_nothing);
/// A wrong password for an old account's costly hash (a bcrypt many times the dummy's cost) took
/// that hash's time, and one for an address that names nobody the dummy's: timing a wrong
/// password told which addresses were in the old system's export, which the password page itself
/// does not. Once the node has run that kind of hash, a wrong password for an unknown address,
/// and for a resident's argon2id hash, takes as long (docs/security.md, "Timing and
/// enumeration"); passwords too long to be run against it, sent to old accounts of its kind, do
/// not pull that time down to the dummy's.
async fn a_wrong_password_takes_as_long_whether_the_address_has_an_old_costly_hash_or_nothing(
    backend: Backend,
) {
    let app = TestApp::with_user(backend, "erkki@testi.fi", PASSWORD, "Erkki").await;
    let (hash, calibrated) = a_costly_old_hash(PASSWORD);
    for (n, email) in ["kallis@testi.fi", "toinen@testi.fi", "kolmas@testi.fi"]
        .into_iter()
        .enumerate()
    {
        let (username, subject) = (format!("kallis.{n}"), format!("SJK-7{n}"));
        let old = Old::new("seinajoki", &username, &subject).email(email);
        app.import(old.hash(&hash)).await;
    }
    let wrong_with = async |identifier: &str, password: &str| {
        let (browser, url, fields) = at_password(&app, "seinajoki", identifier).await;
        let started = Instant::now();
        says(
            post_password(&browser, &url, &fields, password).await,
            401,
            WRONG,
        )
        .await;
        started.elapsed()
    };
    let wrong = async |identifier: &str| wrong_with(identifier, "väärä").await;
    let costly = wrong("kallis@testi.fi").await;
    assert!(
        costly >= calibrated / 2,
        "{costly:?} against {calibrated:?}"
    );
    // Passwords too long to be run against a hash cost the dummy alone: they teach nothing of
    // the costly kind's time (they pulled it down to the dummy's).
    let too_long = "x".repeat(1025);
    for identifier in ["toinen@testi.fi", "kolmas@testi.fi"] {
        for _ in 0..4 {
            wrong_with(identifier, &too_long).await;
        }
    }
    for identifier in ["nobody@testi.fi", "erkki@testi.fi", "kallis@testi.fi"] {
        let took = wrong(identifier).await;
        assert!(
            took >= costly / 2,
            "{identifier}: {took:?} against {costly:?}"
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
/// On PostgreSQL, the password checks of one client address take turns on its counter's row, and
/// each that waits there holds a pooled connection. A node sends one of them at a time to the
/// database; the others wait for their turn without a connection, and the node's other requests
/// keep theirs. Before, six logins at the moment another held the row took all four connections
/// of the test's pool, and the health check waited for one.
async fn logins_waiting_for_one_addresss_counter_leave_the_pool_to_the_others() {
    if let Some(app) = TestApp::on_postgres_behind_proxy().await {
        seven_logins_of_one_address(app, "203.0.113.9").await;
    }
}

/// The test above, on `app`, the logins from `from`.
async fn seven_logins_of_one_address(app: TestApp, from: &'static str) {
    let mut logins = Vec::new();
    for i in 0..7 {
        logins.push(at_password(&app, "seinajoki", &format!("asukas{i}@testi.fi")).await);
    }
    // The address's counter exists (a wrong password), and another transaction holds it.
    let (browser, url, fields) = logins.pop().unwrap();
    says(
        post_password_from(&browser, &url, &fields, "väärä", from).await,
        401,
        WRONG,
    )
    .await;
    let holder = app.hold(&format!(
        "SELECT 1 FROM login_throttle WHERE tenant_id = 'seinajoki' AND throttle_key = '{}' \
         FOR UPDATE",
        idp::store::throttle::ThrottleKey::Address(from.into()).column()
    ));
    assert_eq!(holder.rows, 1);

    let posted: Vec<_> = logins
        .into_iter()
        .map(|(browser, url, fields)| {
            tokio::spawn(async move {
                let answer = post_password_from(&browser, &url, &fields, "väärä", from).await;
                let status = answer.status().as_u16();
                (status, answer.text().await.unwrap())
            })
        })
        .collect();
    // None answered while the row is held; the pool serves the node's other requests.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(posted.iter().all(|p| !p.is_finished()));
    app.assert_pool_serves().await;

    let too_many = idp::telemetry::metrics::KindLabels { kind: "too_many" };
    let refusals = app.services.hashing.refusals();
    let refused_before = refusals.get_or_create(&too_many).get();
    holder.release();
    // Each checked in its turn (401), or refused by the hashing pool, which has only so many
    // places for one address (429, counted by the pool): none refused for the queue.
    let mut by_the_pool = 0;
    for answer in posted {
        let (status, page) = answer.await.unwrap();
        let said = match status {
            401 => WRONG,
            429 => "Salasanaa tarkistetaan jo. Odota hetki ja yritä uudelleen.",
            _ => panic!("{status}: {page}"),
        };
        assert!(page.contains(said), "{page}");
        by_the_pool += u64::from(status == 429);
    }
    let refused = refusals.get_or_create(&too_many).get() - refused_before;
    assert_eq!(by_the_pool, refused, "every 429 is the pool's");
    app.stop().await;
}
