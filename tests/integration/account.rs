//! The account page: logging in there first, the name, the password, signing out everywhere.

use crate::both_stores;
use crate::helpers::{Backend, TestApp};
use crate::rp::{self, csrf, location, param};

both_stores!(the_account_page_changes_name_and_password_and_signs_out);

const PASSWORD: &str = "oikea hevonen patteri";

async fn the_account_page_changes_name_and_password_and_signs_out(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_user("seinajoki", "erkki@testi.fi", PASSWORD, "Erkki")
        .await;
    // A session elsewhere, to be ended by the password change.
    let client = rp::basic(&app).await;
    let elsewhere = app.browser();
    let started = rp::start(&client, &[], &[]);
    rp::log_in(&elsewhere, &started.url, "erkki@testi.fi", PASSWORD).await;

    // Not logged in: the account page sends the browser to log in, and back.
    let browser = app.browser();
    let login = location(
        &browser
            .get(app.url("/seinajoki/account"))
            .send()
            .await
            .unwrap(),
    );
    assert_eq!(login.path(), "/seinajoki/login");
    let back =
        location(&rp::submit_login(&browser, &login, "erkki@testi.fi", PASSWORD, false).await);
    assert_eq!(back.as_str(), app.url("/seinajoki/account"));
    let page = browser
        .get(back.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("<dd id=\"email\">erkki@testi.fi</dd>"),
        "{page}"
    );
    let token = csrf(&page);

    let saved = browser
        .post(app.url("/seinajoki/account/name"))
        .form(&[("csrf", token.as_str()), ("name", "Erkki Esimerkki")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        saved.contains("Nimi on tallennettu.") && saved.contains("value=\"Erkki Esimerkki\""),
        "{saved}"
    );

    let change = |current: &str, new: &str| {
        browser
            .post(app.url("/seinajoki/account/password"))
            .form(&[
                ("csrf", token.as_str()),
                ("current", current),
                ("password", new),
                ("password2", new),
            ])
            .send()
    };
    let refused = change("väärä", "uusi pitkä salasana").await.unwrap();
    assert_eq!(refused.status(), 422);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("Nykyinen salasana on väärin.")
    );
    let done = change(PASSWORD, "uusi pitkä salasana").await.unwrap();
    assert_eq!(done.status(), 200);
    assert!(
        done.text()
            .await
            .unwrap()
            .contains("Salasana on vaihdettu.")
    );
    // This session stays, the other one ended.
    assert_eq!(
        browser
            .get(app.url("/seinajoki/account"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let quiet = rp::start(&client, &[], &[("prompt", "none")]);
    let back = location(&elsewhere.get(quiet.url).send().await.unwrap());
    assert_eq!(param(&back, "error").as_deref(), Some("login_required"));

    // Signing out everywhere ends this one too.
    let out = browser
        .post(app.url("/seinajoki/account/logout-everywhere"))
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 200);
    assert!(out.text().await.unwrap().contains("Olet kirjautunut ulos"));
    let again = browser
        .get(app.url("/seinajoki/account"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&again).path(), "/seinajoki/login");
    app.stop().await;
}
