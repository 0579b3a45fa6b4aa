//! Deleting the account in chromium without JavaScript: the account page's "Poista tili", the
//! page that says what happens and takes the password, the page that says when the account will
//! be erased, and the mailed link's page that brings it back.

use super::{PASSWORD, Rig, log_in};

/// The account page's button that deletes the account.
const DELETE: &str = "form[action$='/account/delete'] button[type=submit]";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_is_deleted_from_its_page_and_the_mailed_link_undoes_it() {
    let Some(rig) = Rig::start().await else {
        return;
    };
    let app = &rig.app;
    let browser = rig.browser(false).await;
    browser.goto(&app.url("/seinajoki/account")).await;
    log_in(&browser, false, None).await;
    browser.wait_for("#deletion-title").await;
    browser.click(DELETE).await;
    browser
        .shows("#deletion-password", "Kun poistat tilisi:")
        .await;
    browser.fill("deletion-password", PASSWORD).await;
    browser.screenshot("26-account-delete").await;
    browser.click(DELETE).await;
    browser
        .shows("#message", "Tilisi poistetaan pysyvästi")
        .await;
    browser.screenshot("27-account-deleted").await;

    // Signed out: the account page asks for a login again.
    browser.goto(&app.url("/seinajoki/account")).await;
    browser
        .wait_for_url(|u| u.path().starts_with("/seinajoki/login"))
        .await;

    let link = app
        .newest_link(
            Some("erkki@testi.fi"),
            "/seinajoki/account/undo-deletion?token=",
        )
        .await;
    browser.goto(&link).await;
    browser
        .wait_for("form[action$='/account/undo-deletion']")
        .await;
    browser.screenshot("28-account-undo-deletion").await;
    browser
        .click("form[action$='/account/undo-deletion'] button[type=submit]")
        .await;
    browser.shows("#message", "Tilisi on palautettu.").await;
    browser.assert_reflows().await;
    rig.finish(browser).await;
}
