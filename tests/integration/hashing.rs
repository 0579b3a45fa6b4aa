//! What the hashing pool runs, seen through the pages: the last step of a mailed link hashes a
//! new password only for a link that leads somewhere (docs/security.md, "One-time links").

use crate::both_stores;
use crate::helpers::journeys::{page, post_with_csrf, says, submit_link};
use crate::helpers::{Backend, TestApp};
use crate::metrics::sample;

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
