//! The resident's and the authority user's journeys through the pages, in chromium.

use fantoccini::Locator;

use super::{Browser, Profile, Rig, back_with_a_code, log_in};

/// Fills the new password (twice) on the page in view, saves its screenshot `shot` and submits
/// its form.
async fn set_password(browser: &Browser, password: &str, shot: &str) {
    browser.fill("password", password).await;
    browser.fill("password2", password).await;
    browser.screenshot(shot).await;
    browser.click("main form button[type=submit]").await;
}
use crate::helpers::{NewUser, Old, assert_has};

/// Opens the mailed `link`, submits its page's form and waits for the message, which must say
/// `text`.
async fn confirm_link(browser: &Browser, link: &str, text: &str) {
    browser.goto(link).await;
    browser.submit(&[]).await;
    browser.shows("#message", text).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_login_language_and_remember_me_in_chromium() {
    let Some((rig, browser)) = Rig::start_at_login(true).await else {
        return;
    };
    assert_has(&browser.text().await, "Sähköpostiosoite / käyttäjätunnus");
    // The language selector, without JavaScript of ours.
    browser.choose_language("sv").await;
    assert!(browser.text().await.contains("E-postadress / användarnamn"));
    browser.screenshot("03-identifier-sv").await;
    browser.choose_language("fi").await;

    let back = log_in(&browser, true, Some("01-login")).await;
    assert_eq!(back.as_str().split('?').next(), Some(rig.callback.as_str()));
    assert!(back.query_pairs().any(|(k, _)| k == "code"));
    browser.quit().await;

    // "Remember me": the session survives a browser restart.
    let browser = rig.at_login(true, &[("prompt", "none")]).await;
    let back = browser.wait_for_url(|u| u.path() == "/callback").await;
    assert!(
        back.query_pairs().any(|(k, _)| k == "code"),
        "remembered: {back}"
    );
    browser.quit().await;

    // Without it, the session ends with the browser.
    let profile2 = Profile::new();
    let browser = rig.at_login_in(&profile2, true, &[]).await;
    log_in(&browser, false, None).await;
    browser.quit().await;
    let browser = rig
        .at_login_in(&profile2, true, &[("prompt", "none")])
        .await;
    let back = browser.wait_for_url(|u| u.path() == "/callback").await;
    assert!(
        back.query_pairs()
            .any(|(k, v)| k == "error" && v == "login_required"),
        "forgotten: {back}"
    );
    rig.finish(browser).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgot_password_through_the_file_outbox_in_chromium() {
    let Some((rig, browser)) = Rig::start_at_login(true).await else {
        return;
    };
    browser
        .click_link("Unohtuiko käyttäjätunnus tai salasana?")
        .await;
    browser.fill("email", "erkki@testi.fi").await;
    browser.screenshot("04-forgot").await;
    browser.click("main form button[type=submit]").await;
    browser.shows("#link-sent", "Tarkista sähköpostisi").await;
    browser.screenshot("05-link-sent").await;
    let link = rig.app.newest_link(None, "/seinajoki/reset?token=").await;
    browser.goto(&link).await;
    set_password(&browser, "uusi pitkä salasana", "06-new-password").await;
    // The login went on.
    back_with_a_code(&browser).await;
    rig.finish(browser).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
/// A double click on "send the link" while the first post still waits for the mail relay (which
/// never answers; the attempt ends after 2 s): the form posts once, one link is mailed. Before,
/// the second click posted the form again: a second link, the address's mail limit spent twice.
async fn a_double_click_posts_a_form_once_in_chromium() {
    let relay = crate::helpers::Relay::silent();
    let Some(rig) = Rig::start_with(|app| app.mail_toml(&relay.mail_toml(2))).await else {
        return;
    };
    let browser = rig.at_login(true, &[]).await;
    browser
        .click_link("Unohtuiko käyttäjätunnus tai salasana?")
        .await;
    browser.fill("email", "erkki@testi.fi").await;
    // The second click 300 ms after the first, the first post still under way.
    let twice = "const button = document.querySelector('main form button[type=submit]');\
                 button.click(); setTimeout(() => button.click(), 300);";
    browser.client.execute(twice, vec![]).await.unwrap();
    browser.wait_for("#mail-failed").await;
    let mails = "SELECT count(*) AS n FROM mail_outbox";
    assert_eq!(rig.app.count(mails).await, 1);
    rig.finish(browser).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_works_without_javascript_in_chromium() {
    let Some((rig, browser)) = Rig::start_at_login(false).await else {
        return;
    };
    let back = log_in(&browser, false, None).await;
    assert!(back.query_pairs().any(|(k, _)| k == "code"), "{back}");
    // A wrong password shows the error tied to its field.
    browser
        .goto(&rig.authorize_url(&[("prompt", "login")]))
        .await;
    browser.submit(&[("identifier", "erkki@testi.fi")]).await;
    browser.submit(&[("password", "väärä salasana")]).await;
    browser.wait_for("#password-error").await;
    let field = browser.client.find(Locator::Id("password")).await.unwrap();
    assert_eq!(
        field.attr("aria-describedby").await.unwrap().as_deref(),
        Some("password-error")
    );
    browser.screenshot("02-wrong-password").await;
    rig.finish(browser).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_authority_login_and_account_page_in_chromium() {
    let Some((rig, browser)) = Rig::start_at_login(true).await else {
        return;
    };
    let app = &rig.app;
    browser.click_link("Luo uusi käyttäjätunnus").await;
    browser.fill("email", "maija@testi.fi").await;
    browser.screenshot("07-register").await;
    browser.click("main form button[type=submit]").await;
    browser.wait_for("#register-sent").await;
    let link = app
        .newest_link(None, "/seinajoki/register/complete?token=")
        .await;
    browser.goto(&link).await;
    browser.fill("name", "Maija Meikäläinen").await;
    set_password(&browser, "maijan oma salasana", "08-register-complete").await;
    back_with_a_code(&browser).await;

    // The account page of the new resident.
    browser.goto(&app.url("/seinajoki/account")).await;
    browser.shows("#email", "maija@testi.fi").await;
    browser.screenshot("09-account").await;

    // A third party's e-service asks for consent; the statement and an error page are pages too.
    let consent = url::Url::parse_with_params(
        &app.url("/seinajoki/authorize"),
        [
            ("client_id", "rp-third"),
            ("redirect_uri", "http://127.0.0.1:9/third-callback"),
            ("response_type", "code"),
            ("scope", "openid email"),
            ("state", "consent"),
            // rp-third is held to PKCE (`require_pkce`).
            (
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            ),
            ("code_challenge_method", "S256"),
        ],
    )
    .unwrap();
    browser.goto(consent.as_str()).await;
    browser.wait_for("button[name=decision]").await;
    browser.screenshot("23-consent").await;
    browser.goto(&app.url("/seinajoki/accessibility")).await;
    browser.wait_for("#compliance").await;
    browser.screenshot("24-accessibility-statement").await;
    browser
        .goto(&app.url("/seinajoki/consent?request=vanhentunut"))
        .await;
    browser.wait_for("[data-reason=expired]").await;
    browser.assert_accessible().await;
    browser.goto(&app.url("/seinajoki/account")).await;
    browser.wait_for("#email").await;

    // Change the address, then undo it from the notice sent to the old one.
    browser.fill("new-email", "maija.uusi@testi.fi").await;
    browser.fill("email-current", "maijan oma salasana").await;
    browser
        .click("form[action$=\"/account/email\"] button[type=submit]")
        .await;
    browser.wait_for("#message").await;
    let confirm = app
        .newest_link(None, "/seinajoki/email/confirm?token=")
        .await;
    let changed = "Käyttäjätunnuksesi on nyt maija.uusi@testi.fi.";
    confirm_link(&browser, &confirm, changed).await;
    browser.screenshot("10-email-changed").await;
    let undo = app
        .newest_link(Some("maija@testi.fi"), "/seinajoki/email/undo?token=")
        .await;
    let restored = "Vanha sähköpostiosoitteesi on palautettu";
    confirm_link(&browser, &undo, restored).await;
    browser.screenshot("11-email-restored").await;
    browser.quit().await;

    // An authority user logs in with the old username in the same field.
    let authority = NewUser {
        username: Some("rakennusvalvonta7"),
        password: Some("viranomaisen salasana"),
        ..NewUser::default()
    };
    app.add("seinajoki", authority).await.unwrap();
    let profile2 = Profile::new();
    let browser = Browser::start(&profile2.path(), true).await;
    // WCAG 1.4.10 (reflow): at 320 CSS pixels nothing needs scrolling sideways, even with a long
    // address on the page (it breaks where it must).
    browser.client.set_window_size(320, 800).await.unwrap();
    browser.goto(&app.url("/seinajoki/register")).await;
    let long = "etunimi.toinennimi.sukunimi@kaupunginosan-asukasyhdistys-esimerkki.fi";
    browser.submit(&[("email", long)]).await;
    browser.wait_for("#register-sent").await;
    browser.assert_reflows().await;
    browser.goto(&rig.authorize_url(&[])).await;
    browser.fill("identifier", "rakennusvalvonta7").await;
    browser.assert_reflows().await;
    browser.screenshot("12-identifier-320px").await;
    browser.click("main form button[type=submit]").await;
    browser
        .submit(&[("password", "viranomaisen salasana")])
        .await;
    // The tenant requires a second factor of its authority users: one is enrolled before the
    // login ends. The secret is on the page as text (and as a QR code drawn by idp).
    browser.wait_for("#secret").await;
    browser.assert_reflows().await;
    browser.client.set_window_size(1000, 1000).await.unwrap();
    let secret = browser
        .client
        .find(Locator::Id("secret"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let secret = idp::crypto::totp::TotpSecret::from_base32(&secret).unwrap();
    browser.wait_for(".qr svg").await;
    browser.screenshot("20-second-factor-enrol").await;
    browser
        .submit(&[("code", &secret.code_at(app.now()))])
        .await;
    browser.wait_for("#recovery-codes li").await;
    browser.screenshot("21-recovery-codes").await;
    browser.assert_reflows().await;
    browser.click("main form button[type=submit]").await;
    back_with_a_code(&browser).await;
    // The next login asks for a code.
    browser
        .goto(&rig.authorize_url(&[("prompt", "login")]))
        .await;
    browser.submit(&[("identifier", "rakennusvalvonta7")]).await;
    browser
        .submit(&[("password", "viranomaisen salasana")])
        .await;
    browser.wait_for("#code").await;
    browser.screenshot("22-second-factor-code").await;
    browser.assert_reflows().await;
    rig.finish(browser).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_accounts_bind_on_first_login_in_chromium() {
    let Some(rig) = Rig::start().await else {
        return;
    };
    let app = &rig.app;
    let father = bcrypt::hash("isän vanha salasana", 4).unwrap();
    let mother = bcrypt::hash("äidin vanha salasana", 4).unwrap();
    for (username, subject, hash) in [
        ("perhe.isa", "SJK-1", &father),
        ("perhe.aiti", "SJK-2", &mother),
    ] {
        let old = Old::new("seinajoki", username, subject).email("perhe@testi.fi");
        app.import(old.hash(hash)).await;
    }
    let old = Old::new("seinajoki", "vanha.hash", "SJK-3").email("vanha@testi.fi");
    app.import(old.hash("{MD4}0cb6948805f797bf2a82807973b89537"))
        .await;

    // A shared address: choose the old account, then its old password.
    let browser = rig.at_login(true, &[]).await;
    browser.submit(&[("identifier", "perhe@testi.fi")]).await;
    browser.wait_for("#choose-intro").await;
    browser.screenshot("13-choose-old-account").await;
    browser.click("label[for=account-1]").await;
    browser.click("main form button[type=submit]").await;
    browser
        .submit(&[("password", "äidin vanha salasana")])
        .await;
    browser.wait_for_url(|u| u.path() == "/callback").await;

    // The account page lists the bound username and links the other by its old password.
    browser.goto(&app.url("/seinajoki/account")).await;
    browser.wait_for("#linkable-intro").await;
    browser.fill("legacy-1", "isän vanha salasana").await;
    browser.screenshot("14-account-old-accounts").await;
    browser.click("form.linkable button[type=submit]").await;
    let page = browser
        .shows("#message", "Aiempi käyttäjätunnus on liitetty.")
        .await;
    assert!(page.contains("<li>perhe.aiti</li>") && page.contains("<li>perhe.isa</li>"));
    browser.quit().await;

    // No usable old hash: the link is mailed, and setting the password continues the login.
    let profile = Profile::new();
    let browser = rig.at_login_in(&profile, true, &[]).await;
    browser.submit(&[("identifier", "vanha@testi.fi")]).await;
    browser.wait_for("#link-sent").await;
    browser.screenshot("15-old-account-link-sent").await;
    let link = app.newest_link(None, "/seinajoki/reset?token=").await;
    browser.goto(&link).await;
    browser.wait_for("#legacy-username").await;
    set_password(
        &browser,
        "uusi pitkä salasana",
        "16-old-account-set-password",
    )
    .await;
    back_with_a_code(&browser).await;
    rig.finish(browser).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_posted_from_the_e_services_site_comes_back_with_a_code_in_chromium() {
    // idp at localhost, the e-service at 127.0.0.1: another site, whose POST carries none of
    // our cookies; our page posts it again, and the browser follows the answer's 303 to the
    // e-service only if the page's form-action allows it.
    let Some(rig) = Rig::at_localhost().await else {
        return;
    };
    let browser = rig.at_login(true, &[]).await;
    let offered = log_in(&browser, false, None).await;
    assert!(offered.path().ends_with("/passkey-offer"), "{offered}");
    browser
        .click("main form button.secondary[type=submit]")
        .await;
    back_with_a_code(&browser).await;
    let authorize = url::Url::parse(&rig.authorize_url(&[])).unwrap();
    let mut post = url::Url::parse(&rig.callback).unwrap();
    post.set_path("/post");
    let endpoint = format!(
        "{}{}",
        authorize.origin().ascii_serialization(),
        authorize.path()
    );
    post.query_pairs_mut()
        .append_pair("action", &endpoint)
        .extend_pairs(authorize.query_pairs().filter(|(k, _)| k != "state"))
        .append_pair("state", "posted");
    browser.goto(post.as_str()).await;
    let back = browser
        .wait_for_url(|u| {
            u.path() == "/callback" && u.query_pairs().any(|(k, v)| k == "state" && v == "posted")
        })
        .await;
    assert!(back.query_pairs().any(|(k, _)| k == "code"), "{back}");
    rig.finish(browser).await;
}
