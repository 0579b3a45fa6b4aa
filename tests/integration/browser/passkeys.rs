//! A passkey in chromium, with its virtual authenticator (WebDriver's WebAuthn extension): offered
//! after a password login and added, then used to log in (through the browser's autofill), then
//! removed on the account page, and one added there with the password.

use super::{PASSWORD, Rig, back_with_a_code, log_in};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passkey_is_added_used_and_removed_in_chromium() {
    let Some(rig) = Rig::at_localhost().await else {
        return;
    };
    let browser = rig.at_login(true, &[]).await;
    let authenticator = browser.add_virtual_authenticator().await;

    // The identifier page offers the passkey login (shown by the script).
    browser
        .wait_for("#passkey-login button[data-passkey-start]:not([hidden])")
        .await;
    browser.screenshot("17-login-with-passkey").await;

    // A password login is offered a passkey once ("Ota pääsyavain käyttöön").
    log_in(&browser, false, None).await;
    let offer = browser
        .wait_for_url(|u| u.path().ends_with("/passkey-offer"))
        .await;
    assert!(offer.query_pairs().any(|(k, _)| k == "request"), "{offer}");
    browser
        .wait_for("#passkey-add:not([hidden]) button[data-passkey-start]")
        .await;
    assert!(browser.text().await.contains("Ota pääsyavain käyttöön"));
    browser.screenshot("18-passkey-offer").await;
    browser.assert_reflows().await;
    // Named, then Enter in the name's field (a keyboard user's way): the passkey is made, not
    // a form posted without one.
    browser.fill("passkey-new-name", "Työkone\u{E007}").await;
    back_with_a_code(&browser).await;
    let credentials = browser.virtual_credentials(&authenticator).await;
    assert_eq!(credentials.len(), 1, "{credentials:?}");
    assert_eq!(credentials[0]["isResidentCredential"], true);

    // A new login that asks for the password again: the passkey instead. The identifier page asks
    // for the browser's autofill of passkeys (conditional mediation) as it loads; chromium's
    // virtual authenticator answers it with the one passkey at once, and the login ends at the
    // e-service without a password.
    browser
        .goto(&rig.authorize_url(&[("prompt", "login")]))
        .await;
    back_with_a_code(&browser).await;
    let app = &rig.app;
    let logins = app.audit_details("seinajoki", "login.succeeded").await;
    let last = logins.last().unwrap();
    assert_eq!(last["amr"], "hwk mfa", "{logins:?}");

    // A reset page lists it, the days it was added and used first, with the box that would
    // remove it (left unchecked here).
    browser.goto(&app.url("/seinajoki/forgot")).await;
    browser.fill("email", "erkki@testi.fi").await;
    browser.click("main form button[type=submit]").await;
    browser.wait_for("#link-sent").await;
    let link = app.newest_link(None, "/seinajoki/reset?token=").await;
    browser.goto(&link).await;
    browser.wait_for("#reset-passkeys li strong").await;
    browser.wait_for("#remove-passkeys:not(:checked)").await;
    browser.screenshot("29-reset-passkeys").await;
    browser.assert_accessible().await;
    browser.assert_reflows().await;

    // The account page lists it; removing it asks for the password.
    browser.goto(&app.url("/seinajoki/account")).await;
    browser.wait_for("#passkeys .passkey-name").await;
    browser.screenshot("19-account-passkeys").await;
    browser.assert_reflows().await;
    browser.fill("passkey-password-1", PASSWORD).await;
    browser
        .click("form[action$=\"/account/passkeys/remove\"] button[type=submit]")
        .await;
    browser.wait_for("#passkeys-none").await;

    // Adding one there asks for the password before the browser's prompt: a wrong one is said in
    // the form (and the password field described by it), and no passkey is made.
    browser.fill("passkey-add-password", "väärä salasana").await;
    browser
        .click("#passkey-add button[data-passkey-start]")
        .await;
    let wrong = "Salasana oli väärin. Pääsyavainta ei lisätty.";
    browser
        .shows("#passkey-add-password[aria-describedby]", wrong)
        .await;
    browser.assert_accessible().await;
    let ids = |listed: &[serde_json::Value]| -> Vec<serde_json::Value> {
        listed.iter().map(|c| c["credentialId"].clone()).collect()
    };
    let before = browser.virtual_credentials(&authenticator).await;
    assert_eq!(
        ids(&before),
        ids(&credentials),
        "the authenticator was not asked"
    );
    browser.fill("passkey-add-password", PASSWORD).await;
    browser
        .click("#passkey-add button[data-passkey-start]")
        .await;
    browser
        .shows("#passkeys .passkey-name", "Pääsyavain lisätty.")
        .await;
    // The authenticator keeps one discoverable credential of a user at a site: the new one.
    let after = browser.virtual_credentials(&authenticator).await;
    assert_eq!(after.len(), 1, "{after:?}");
    assert_ne!(after[0]["credentialId"], credentials[0]["credentialId"]);
    rig.finish(browser).await;
}
