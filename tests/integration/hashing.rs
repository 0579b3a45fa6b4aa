//! What the hashing pool runs, and for whom, seen through the pages: the last step of a mailed
//! link hashes a new password only for a link that leads somewhere, and one client address holds
//! at most half of the share of the pool that logins do not keep (docs/security.md, "Login" and
//! "One-time links").

use std::sync::Arc;
use std::time::{Duration, Instant};

use idp::crypto::hash_pool::{HashPool, Holders, Refused, Share};

use crate::both_stores;
use crate::helpers::journeys::{answer, page, post_with_csrf, says, submit_link};
use crate::helpers::{Backend, TestApp, header};
use crate::metrics::sample;
use crate::rp::{csrf, param};

/// A password every rule accepts.
const STRONG: &str = "Pitka-salasana-91";

/// The page of a link that leads nowhere, in Finnish.
const EXPIRED: &str = "Linkki on vanhentunut tai jo käytetty.";

/// The jobs the pool has run from the share that logins do not keep (new passwords, the
/// account page's checks), as the node's metrics count them.
async fn new_password_hashes(app: &TestApp) -> f64 {
    let text = app.scrape().await.2;
    sample(&text, "idp_hashing_runs_total{kind=\"other\"}").unwrap_or(0.0)
}

/// The registration link mailed to `email`, asked from `browser` at the registration page.
async fn registration_link(app: &TestApp, browser: &reqwest::Client, email: &str) -> String {
    let form = page(browser, app.url("/seinajoki/register")).await;
    let fields = [("request", ""), ("email", email)];
    let asked = post_with_csrf(browser, app.url("/seinajoki/register"), &form, &fields).await;
    assert_eq!(asked.status(), 200);
    app.newest_link(Some(email), "/seinajoki/register/complete?token=")
        .await
}

/// The last step's fields of a registration: a name and [`STRONG`] twice.
const COMPLETE: [(&str, &str); 3] = [
    ("name", "Maija"),
    ("password", STRONG),
    ("password2", STRONG),
];

both_stores!(a_new_password_for_a_link_that_leads_nowhere_runs_no_hash);
/// The attack: a CSRF token from any page, then posts of a strong password with a made-up token
/// to the last step of a registration and of a reset (which the linker's set-password links
/// share). Each answers 410 "link expired" and runs no hash: the link is looked up before the
/// password's rules and its argon2id hash. So are a registration link that expired and one used
/// already; the one registration that goes through runs exactly one. Before, the registration
/// hashed first (19 MiB of argon2id a post, in the share of the pool that every city's resets,
/// registrations and account pages share), and only then found the link gone.
async fn a_new_password_for_a_link_that_leads_nowhere_runs_no_hash(backend: Backend) {
    let app = TestApp::builder(backend).metrics().spawn().await;
    let browser = app.browser();
    let form = page(&browser, app.url("/seinajoki/register")).await;
    let made_up = [
        ("token", "x"),
        ("name", ""),
        ("password", STRONG),
        ("password2", STRONG),
    ];
    for path in ["/seinajoki/register/complete", "/seinajoki/reset"] {
        let answer = post_with_csrf(&browser, app.url(path), &form, &made_up).await;
        says(answer, 410, EXPIRED).await;
        assert_eq!(new_password_hashes(&app).await, 0.0, "{path}");
    }

    // A real link, expired.
    let link = registration_link(&app, &browser, "maija@testi.fi").await;
    let opened = page(&browser, &link).await;
    app.clock.advance(3601);
    says(
        submit_link(&browser, &link, &opened, &COMPLETE).await,
        410,
        EXPIRED,
    )
    .await;
    assert_eq!(new_password_hashes(&app).await, 0.0, "an expired link");

    // A fresh one: the account, with one hash; the same link again: 410, no hash.
    let link = registration_link(&app, &browser, "maija@testi.fi").await;
    let opened = page(&browser, &link).await;
    let done = submit_link(&browser, &link, &opened, &COMPLETE).await;
    says(done, 200, "Käyttäjätunnus on luotu").await;
    assert_eq!(new_password_hashes(&app).await, 1.0);
    says(
        submit_link(&browser, &link, &opened, &COMPLETE).await,
        410,
        EXPIRED,
    )
    .await;
    assert_eq!(new_password_hashes(&app).await, 1.0, "a used link");
    app.stop().await;
}

/// Hashes admitted to `pool`, running or waiting.
fn admitted(pool: &HashPool) -> usize {
    let load = pool.load();
    load.queued + load.running
}

/// Waits (at most 10 s) until `pool` has admitted more than `before` hashes, or `task` has
/// ended; whether it admitted.
async fn admitted_beyond<T>(
    pool: &HashPool,
    before: usize,
    task: &tokio::task::JoinHandle<T>,
) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if admitted(pool) > before {
            return true;
        }
        if task.is_finished() {
            return false;
        }
        assert!(Instant::now() < deadline, "neither admitted nor refused");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Holds as many places of the share that logins do not keep as `pool` gives `address`: hashes
/// that run until their sender is dropped, as an attacker's posts in flight would. The senders,
/// and why the pool refused the next one.
async fn fill(pool: &Arc<HashPool>, address: &str) -> (Vec<std::sync::mpsc::Sender<()>>, Refused) {
    let holders = Holders {
        address: Some(address.to_string()),
        ..Holders::default()
    };
    fill_for(pool, &holders, Share::Other).await
}

/// [`fill`] for `holders`, in `share`.
async fn fill_for(
    pool: &Arc<HashPool>,
    holders: &Holders,
    share: Share,
) -> (Vec<std::sync::mpsc::Sender<()>>, Refused) {
    let mut held = Vec::new();
    // Bounded: the pool has fewer places than this on any machine the tests run on.
    for _ in 0..1000 {
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let before = admitted(pool);
        let task = {
            let (pool, holders) = (pool.clone(), holders.clone());
            tokio::spawn(async move {
                let hold = move || {
                    let _ = wait.recv_timeout(Duration::from_secs(30));
                };
                pool.run_for(share, &holders, hold).await
            })
        };
        if !admitted_beyond(pool, before, &task).await {
            return (held, task.await.unwrap().unwrap_err());
        }
        held.push(release);
    }
    panic!("the pool never refused {holders:?}");
}

/// A browser of its own at client address `from` with the registration link it asked.
struct Registrant {
    browser: reqwest::Client,
    from: &'static str,
    link: String,
}

impl Registrant {
    async fn ask(app: &TestApp, from: &'static str, email: &str) -> Registrant {
        let browser = app.browser_at(from);
        let link = registration_link(app, &browser, email).await;
        Registrant {
            browser,
            from,
            link,
        }
    }

    /// The post of the link's form (opened first, for its CSRF token) with [`COMPLETE`].
    async fn completion(&self) -> reqwest::RequestBuilder {
        let html = page(&self.browser, &self.link).await;
        let token = param(&url::Url::parse(&self.link).unwrap(), "token").unwrap();
        let mut form = vec![("csrf", csrf(&html)), ("token", token)];
        form.extend(COMPLETE.map(|(k, v)| (k, v.to_string())));
        let action = self.link.split('?').next().unwrap();
        self.browser.post(action).form(&form)
    }
}

both_stores!(one_address_leaves_half_of_the_new_passwords_share_to_the_others);
/// An attacker's address holds as many places of the share that logins do not keep as the pool
/// gives it (its posts' hashes in flight) until the pool refuses it for its address (too many),
/// and the attacker's own registration answers 429 with `Retry-After` and its form, creating
/// nothing. A resident at another address still gets a place: their
/// registration is admitted to the pool while the attacker holds its share, and goes through.
/// Before, a new password was hashed for no one: one address could take the whole share, and
/// every reset, registration and password change of every city answered 503.
async fn one_address_leaves_half_of_the_new_passwords_share_to_the_others(backend: Backend) {
    let app = TestApp::builder(backend).behind_proxy().spawn().await;
    let attacker = Registrant::ask(&app, "192.0.2.66", "hyokkaaja@testi.fi").await;
    let resident = Registrant::ask(&app, "198.51.100.7", "maija@testi.fi").await;

    let pool = app.services.hashing.clone();
    let (held, refused) = fill(&pool, attacker.from).await;
    assert_eq!(
        refused,
        Refused::TooMany,
        "the address's share ran out before the pool's ({} held)",
        held.len()
    );

    // The attacker's own post: refused for its address, its form again, nothing created.
    let response = attacker.completion().await.send().await.unwrap();
    assert_eq!(header(&response, "retry-after").as_deref(), Some("1"));
    let refusal = says(
        response,
        429,
        "Samasta verkosta asetetaan juuri nyt liian monta salasanaa",
    )
    .await;
    assert!(refusal.contains("name=\"password2\""), "its form again");
    assert!(app.audited("seinajoki", "user.registered").await.is_empty());

    // The resident's post, while the attacker holds its share: admitted (it may wait for a
    // thread that the attacker's hashes hold), then done.
    let before = admitted(&pool);
    let post = resident.completion().await;
    let resident_post = tokio::spawn(async move { answer(post.send().await.unwrap()).await });
    assert!(
        admitted_beyond(&pool, before, &resident_post).await,
        "the resident's hash was refused: {:?}",
        resident_post.await.unwrap()
    );
    drop(held);
    let (status, done) = resident_post.await.unwrap();
    assert_eq!(status, 200, "{done}");
    assert!(done.contains("Käyttäjätunnus on luotu"), "{done}");

    // The attacker's places given back: its link still works.
    let again = attacker.completion().await.send().await.unwrap();
    says(again, 200, "Käyttäjätunnus on luotu").await;
    assert_eq!(app.audited("seinajoki", "user.registered").await.len(), 2);
    app.stop().await;
}

both_stores!(a_login_the_pool_refuses_leaves_no_counter_behind);
/// A password the pool has no place for is not checked, and counts nothing: the counters its post
/// made (a made-up identifier's, at an address the pool has no more places for) go again, as a
/// blocked address's do. Before, each such post left its identifier's row for a day, without
/// bringing the address nearer to its block.
async fn a_login_the_pool_refuses_leaves_no_counter_behind(backend: Backend) {
    let app = TestApp::builder(backend).behind_proxy().spawn().await;
    let from = "203.0.113.9";
    let holders = Holders {
        address: Some(from.to_string()),
        ..Holders::default()
    };
    let (held, refused) = fill_for(&app.services.hashing, &holders, Share::Login).await;
    assert_eq!(refused, Refused::TooMany);
    let client = crate::rp::basic(&app).await;
    let browser = app.browser_at(from);
    let login = crate::helpers::journeys::Login::start(&browser, &client, &[], &[]).await;
    for i in 0..5 {
        let made_up = format!("keksitty{i}@testi.fi");
        let response = login.submit(&made_up, "vaara salasana", false).await;
        assert_eq!(response.status(), 429);
    }
    let counters = app.count("SELECT count(*) AS n FROM login_throttle").await;
    assert_eq!(counters, 0, "no counter of a check that never ran");
    drop(held);
    app.stop().await;
}

both_stores!(a_login_posted_while_its_checks_run_says_so_not_too_many_failures);
/// A login of an account whose checks already hold their places (the same form posted again
/// before the first answer, a double or triple click): 429 with `Retry-After`, and the page says
/// the password is being checked already, not "too many failed attempts" (nothing failed, and a
/// resident who reads that thinks the password wrong). Once the checks end, the login goes on.
/// On the account page the message shows at the form posted (the change of address here).
async fn a_login_posted_while_its_checks_run_says_so_not_too_many_failures(backend: Backend) {
    let app = TestApp::with_user(backend, "erkki@testi.fi", "oikea hevonen", "Erkki").await;
    let id = app.user_id("seinajoki", "erkki@testi.fi").await;
    let signed =
        crate::helpers::journeys::sign_in(&app, "seinajoki", "erkki@testi.fi", "oikea hevonen")
            .await;
    let holders = Holders {
        account: Some(format!("seinajoki:user:{id}")),
        ..Holders::default()
    };
    let (held, refused) = fill_for(&app.services.hashing, &holders, Share::Login).await;
    assert_eq!(refused, Refused::TooMany);
    let client = crate::rp::basic(&app).await;
    let browser = app.browser();
    let login = crate::helpers::journeys::Login::start(&browser, &client, &[], &[]).await;
    let response = login.submit("erkki@testi.fi", "oikea hevonen", false).await;
    assert_eq!(header(&response, "retry-after").as_deref(), Some("1"));
    let page = says(
        response,
        429,
        "Salasanaa tarkistetaan jo. Odota hetki ja yritä uudelleen.",
    )
    .await;
    assert!(!page.contains("epäonnistunutta"), "{page}");
    let fields = [
        ("email", "erkki.uusi@testi.fi"),
        ("password", "oikea hevonen"),
    ];
    let url = app.url("/seinajoki/account/email");
    let asked = post_with_csrf(&signed.browser, url, &signed.page, &fields).await;
    let at_its_form =
        "<p id=\"new-email-error\" class=\"error\" role=\"alert\">Salasanaa tarkistetaan";
    says(asked, 429, at_its_form).await;
    drop(held);
    let again = login.submit("erkki@testi.fi", "oikea hevonen", false).await;
    assert_eq!(again.status(), 303);
    app.stop().await;
}
