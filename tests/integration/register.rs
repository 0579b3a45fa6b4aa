//! Registration: address, link, password — the account, logged in, the login continued; an
//! address with an account gets a mail saying so, and the page says the same either way.

use crate::both_stores;
use crate::helpers::journeys::{Login, answer, page, says, submit_link};
use crate::helpers::{Backend, TestApp, assert_has};
use crate::rp::{self, location, param};

/// Asks a registration link for `email` on the registration page of `login`'s request:
/// (status, page).
async fn ask(app: &TestApp, login: &Login, email: &str) -> (u16, String) {
    let url = app.url(&format!("/seinajoki/register?request={}", login.request));
    let form = page(&login.browser, url).await;
    assert_has(&form, "Luo uusi käyttäjätunnus");
    answer(login.post("/register", &form, &[("email", email)]).await).await
}

both_stores!(registration_verifies_the_address_and_continues_the_login);
async fn registration_verifies_the_address_and_continues_the_login(backend: Backend) {
    let app = TestApp::with_user(backend, "erkki@testi.fi", "vanha salasana", "Erkki").await;
    let client = rp::basic(&app).await;
    let login = Login::start(&app.browser(), &client, &["email", "profile"], &[]).await;
    let identifier_page = login.page().await;
    assert_has(&identifier_page, "Luo uusi käyttäjätunnus</a>");

    // An address with an account: the same page, and a mail saying so.
    let (status, known) = ask(&app, &login, "erkki@testi.fi").await;
    assert_eq!(status, 200);
    let (status, fresh) = ask(&app, &login, "maija@testi.fi").await;
    assert_eq!(status, 200);
    assert_eq!(
        known.replace("erkki@testi.fi", "X"),
        fresh.replace("maija@testi.fi", "X")
    );
    let mails = app.wait_for_mails(2).await;
    for (mail, to, text) in [
        (&mails[0], "erkki@testi.fi", "Sinulla on jo käyttäjätunnus"),
        (&mails[1], "maija@testi.fi", "Vahvista sähköpostiosoitteesi"),
    ] {
        assert!(
            mail.contains(&format!("To: {to}")) && mail.contains(text),
            "{mail}"
        );
    }
    let link = app
        .link_in(&mails[1], "/seinajoki/register/complete?token=")
        .unwrap();

    let form = page(&login.browser, &link).await;
    assert_has(&form, "value=\"maija@testi.fi\"");
    // A name too long is said at the name's field, which is marked; the password's is not.
    let long = "M".repeat(201);
    let fields = [
        ("name", long.as_str()),
        ("password", "maijan oma salasana"),
        ("password2", "maijan oma salasana"),
    ];
    let refused = submit_link(&login.browser, &link, &form, &fields).await;
    let refused = says(
        refused,
        422,
        "<p id=\"name-error\" class=\"error\" role=\"alert\">Nimessä voi olla enintään 200 merkkiä",
    )
    .await;
    assert_has(
        &refused,
        "aria-invalid=\"true\" aria-describedby=\"name-error\" autofocus>",
    );
    assert!(!refused.contains("password-error"), "{refused}");
    let done = submit_link(
        &login.browser,
        &link,
        &form,
        &[
            ("username", "maija@testi.fi"),
            ("name", "Maija Meikäläinen"),
            ("password", "maijan oma salasana"),
            ("password2", "maijan oma salasana"),
        ],
    )
    .await;
    let back = location(&done);
    let browser = login.browser.clone();
    let claims = login.redeem(&client, &back).await.claims;
    assert_eq!(claims.email().unwrap().as_str(), "maija@testi.fi");
    assert_eq!(claims.email_verified(), Some(true));
    assert_eq!(
        claims.name().unwrap().get(None).unwrap().as_str(),
        "Maija Meikäläinen"
    );

    let mails = app.wait_for_mails(3).await;
    assert!(mails[2].contains("Tervetuloa"), "{}", mails[2]);
    // The link worked once.
    assert_eq!(browser.get(&link).send().await.unwrap().status(), 410);
    // And the account logs in.
    let again = rp::start(&client, &[], &[]);
    let fresh = app.browser();
    let back = rp::log_in(&fresh, &again.url, "Maija@testi.fi", "maijan oma salasana").await;
    assert!(param(&back, "code").is_some());
    app.stop().await;
}

both_stores!(the_mail_to_an_accounts_owner_is_in_the_language_the_owner_logs_in_with);
/// Erkki logs in with the pages in Swedish: his ID token says `locale: sv`. Someone whose browser
/// asks for English then registers Erkki's address, and asks for a reset link: the pages are
/// English, the mails to Erkki's mailbox Swedish. Before, nothing kept the resident's language and the mail was in whatever
/// language the other person's browser chose.
async fn the_mail_to_an_accounts_owner_is_in_the_language_the_owner_logs_in_with(backend: Backend) {
    let app = TestApp::with_user(backend, "erkki@testi.fi", "vanha salasana", "Erkki").await;
    let client = rp::basic(&app).await;
    let swedish = [("ui_locales", "sv")];
    let login = Login::start(&app.browser(), &client, &["profile"], &swedish).await;
    let back = location(
        &login
            .submit("erkki@testi.fi", "vanha salasana", false)
            .await,
    );
    let tokens = login.redeem(&client, &back).await;
    assert_eq!(tokens.payload()["locale"], "sv");

    let english = [("ui_locales", "en")];
    let other = Login::start(&app.browser(), &client, &[], &english).await;
    let url = app.url(&format!("/seinajoki/register?request={}", other.request));
    let form = page(&other.browser, url).await;
    assert_has(&form, "<html lang=\"en\"");
    let asked = other.post("/register", &form, &[("email", "erkki@testi.fi")]);
    assert_eq!(answer(asked.await).await.0, 200);
    let mail = app.wait_for_mails(1).await.swap_remove(0);
    assert_has(&mail, "To: erkki@testi.fi");
    assert_has(&mail, "Du försökte skapa ett användarnamn");
    // So is the reset link the other person asks for Erkki's address.
    let url = app.url(&format!("/seinajoki/forgot?request={}", other.request));
    let form = page(&other.browser, url).await;
    let asked = other.post("/forgot", &form, &[("email", "erkki@testi.fi")]);
    assert_eq!(answer(asked.await).await.0, 200);
    let mails = app.wait_for_mails(2).await;
    assert!(
        mails.iter().any(|m| m.contains("Ange ett nytt lösenord")),
        "{mails:?}"
    );
    app.stop().await;
}

both_stores!(a_link_opened_on_another_device_leaves_a_way_on_from_both);
/// The registration link opened on another device: the page there says the account is made and
/// links to the login (the account page); the first browser's "link sent" page leads back to its
/// waiting login, which logs in with the new password. Before, neither page had a link.
async fn a_link_opened_on_another_device_leaves_a_way_on_from_both(backend: Backend) {
    let (app, client) = crate::linker::server(backend).await;
    let login = Login::start(&app.browser(), &client, &[], &[]).await;
    let (status, sent) = ask(&app, &login, "maija@testi.fi").await;
    assert_eq!(status, 200);
    let back = format!("/seinajoki/login?request={}", login.request);
    assert_has(&sent, &format!("href=\"{}\"", app.url(&back)));
    let link = app
        .newest_link(
            Some("maija@testi.fi"),
            "/seinajoki/register/complete?token=",
        )
        .await;
    let phone = app.browser();
    let form = page(&phone, &link).await;
    let fields = [
        ("username", "maija@testi.fi"),
        ("name", "Maija"),
        ("password", "maijan oma salasana"),
        ("password2", "maijan oma salasana"),
    ];
    let (status, made) = answer(submit_link(&phone, &link, &form, &fields).await).await;
    assert_eq!(status, 200, "{made}");
    assert_has(&made, "Käyttäjätunnus on luotu");
    assert_has(
        &made,
        &format!("href=\"{}\"", app.url("/seinajoki/account")),
    );
    let waiting = app.url(&back).parse().unwrap();
    let password = "maijan oma salasana";
    let done = rp::submit_login(&login.browser, &waiting, "maija@testi.fi", password, false).await;
    let back = location(&done);
    assert!(param(&back, "code").is_some(), "{back}");
    app.stop().await;
}

both_stores!(two_links_of_one_address_completed_at_once_make_one_account);
/// Two registration links of one address (asked twice), completed at the same moment in two
/// browsers: one account; the other link answers as a used one (410), never a server error. The
/// browsers are at two client addresses: one address hashes one new password at a time on a
/// small node (its part of the hashing pool's share, `hashing.rs`), which would answer the second
/// 429 before its link is tried.
async fn two_links_of_one_address_completed_at_once_make_one_account(backend: Backend) {
    let app = TestApp::builder(backend).behind_proxy().spawn().await;
    let client = rp::basic(&app).await;
    let mut links = Vec::new();
    for address in ["192.0.2.1", "192.0.2.2"] {
        let login = Login::start(&app.browser_at(address), &client, &[], &[]).await;
        let (status, _) = ask(&app, &login, "maija@testi.fi").await;
        assert_eq!(status, 200);
        let link = app
            .newest_link(
                Some("maija@testi.fi"),
                "/seinajoki/register/complete?token=",
            )
            .await;
        let form = page(&login.browser, &link).await;
        links.push((login, link, form));
    }
    let fields = [
        ("username", "maija@testi.fi"),
        ("name", "Maija"),
        ("password", "maijan oma salasana"),
        ("password2", "maijan oma salasana"),
    ];
    let [(a, a_link, a_form), (b, b_link, b_form)] = <[_; 2]>::try_from(links).ok().unwrap();
    let (first, second) = tokio::join!(
        submit_link(&a.browser, &a_link, &a_form, &fields),
        submit_link(&b.browser, &b_link, &b_form, &fields),
    );
    let mut statuses = [first.status().as_u16(), second.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [303, 410]);
    let registered = app.audited("seinajoki", "user.registered").await;
    assert_eq!(registered.len(), 1);
    app.stop().await;
}
