//! The account page's sessions and e-services in chromium: this browser and another one (a
//! resident's second browser, with a third-party e-service's consent) listed, the other one
//! ended with the button, without JavaScript.

use super::{Rig, back_with_a_code, log_in};
use crate::account_sessions::support::{FIREFOX, consented};
use crate::helpers::journeys::visit;
use crate::rp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sessions_and_e_services_are_listed_and_one_is_ended() {
    let Some(rig) = Rig::start().await else {
        return;
    };
    let app = &rig.app;
    // Erkki's other browser, a Firefox, logged in at the third-party e-service and consented.
    let firefox = app.browser_as(FIREFOX);
    let third = "http://127.0.0.1:9/third-callback";
    let client = rp::client(app, "seinajoki", "rp-third", Some("rp-third-secret"), third).await;
    consented(app, &client, &firefox, "erkki@testi.fi", &["email"]).await;

    // Chromium, without JavaScript, logs in at the e-service and opens the account page's list.
    let browser = rig.at_login(false, &[]).await;
    log_in(&browser, false, None).await;
    back_with_a_code(&browser).await;
    browser
        .goto(&app.url("/seinajoki/account#sessions-title"))
        .await;
    let text = browser.shows("#sessions", "Firefox, Linux").await;
    assert!(text.contains("(tämä selain)"), "{text}");
    assert!(text.contains("Kolmannen osapuolen palvelu"), "{text}");
    browser.screenshot("25-account-sessions").await;

    // The second session's button ends Firefox's session.
    browser
        .click("#sessions li:nth-child(2) button[type=submit]")
        .await;
    let text = browser.shows("#message", "Istunto päättyi.").await;
    assert!(!text.contains("Firefox, Linux"), "{text}");
    browser.assert_reflows().await;
    browser.quit().await;
    let account = visit(&firefox, app.url("/seinajoki/account")).await;
    assert_eq!(rp::location(&account).path(), "/seinajoki/login");
    rig.stop().await;
}
