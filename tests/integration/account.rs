//! The account page: logging in there first, the name, the password, signing out everywhere.

use crate::both_stores;
use crate::helpers::{Backend, TestApp};
use crate::rp::{self, csrf, location, param};

both_stores!(the_account_page_changes_name_and_password_and_signs_out);

const PASSWORD: &str = "oikea hevonen patteri";

async fn the_account_page_changes_name_and_password_and_signs_out(backend: Backend) {
    let app = TestApp::builder(backend)
        .user("seinajoki", "erkki@testi.fi", PASSWORD, "Erkki")
        .spawn()
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

both_stores!(changing_the_address_keeps_the_subject_and_can_be_undone);

async fn changing_the_address_keeps_the_subject_and_can_be_undone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let subject = app
        .add_user("seinajoki", "erkki@testi.fi", PASSWORD, "Erkki")
        .await;
    let browser = app.browser();
    let login = location(
        &browser
            .get(app.url("/seinajoki/account"))
            .send()
            .await
            .unwrap(),
    );
    rp::submit_login(&browser, &login, "erkki@testi.fi", PASSWORD, false).await;
    let page = browser
        .get(app.url("/seinajoki/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = csrf(&page);
    // The current password first: a wrong one changes nothing and mails nothing.
    let refused = browser
        .post(app.url("/seinajoki/account/email"))
        .form(&[
            ("csrf", token.as_str()),
            ("email", "erkki.uusi@testi.fi"),
            ("password", "väärä salasana"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("Nykyinen salasana on väärin.")
    );
    assert!(
        !app.mails()
            .iter()
            .any(|m| m.contains("To: erkki.uusi@testi.fi"))
    );
    let sent = browser
        .post(app.url("/seinajoki/account/email"))
        .form(&[
            ("csrf", token.as_str()),
            ("email", "erkki.uusi@testi.fi"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        sent.contains("Lähetimme vahvistuslinkin uuteen osoitteeseen."),
        "{sent}"
    );
    let link_in = |mail: &str, path: &str| {
        mail.split_whitespace()
            .find(|w| w.starts_with(&app.url(path)))
            .unwrap()
            .to_string()
    };
    let mails = app.mails();
    let verify = mails.last().unwrap();
    assert!(verify.contains("To: erkki.uusi@testi.fi"), "{verify}");
    let confirm = link_in(verify, "/seinajoki/email/confirm?token=");
    // Any browser may open it (a phone's mail app); it asks before switching.
    let phone = app.browser();
    let ask = phone
        .get(&confirm)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        ask.contains("Otetaanko käyttäjätunnukseksi erkki.uusi@testi.fi?"),
        "{ask}"
    );
    let confirm_token = param(&url::Url::parse(&confirm).unwrap(), "token").unwrap();
    let done = phone
        .post(app.url("/seinajoki/email/confirm"))
        .form(&[
            ("csrf", csrf(&ask).as_str()),
            ("token", confirm_token.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    assert!(
        done.text()
            .await
            .unwrap()
            .contains("Käyttäjätunnuksesi on nyt erkki.uusi@testi.fi.")
    );

    // The resident logs in with the new address; the subject is the same.
    let client = rp::basic(&app).await;
    let started = rp::start(&client, &[], &[]);
    let back = rp::log_in(
        &app.browser(),
        &started.url,
        "erkki.uusi@testi.fi",
        PASSWORD,
    )
    .await;
    let tokens = rp::exchange(&client, &param(&back, "code").unwrap(), started.verifier)
        .await
        .unwrap();
    let claims = openidconnect::TokenResponse::id_token(&tokens)
        .unwrap()
        .claims(&client.id_token_verifier(), &started.nonce)
        .unwrap()
        .clone();
    assert_eq!(claims.subject().as_str(), subject);

    // The old address got a notice with an undo link, which asks first and then restores.
    let mut notice = String::new();
    for _ in 0..100 {
        if let Some(mail) = app
            .mails()
            .into_iter()
            .find(|m| m.contains("To: erkki@testi.fi"))
        {
            notice = mail;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let undo = link_in(&notice, "/seinajoki/email/undo?token=");
    let other = app.browser();
    let form = other.get(&undo).send().await.unwrap().text().await.unwrap();
    assert!(
        form.contains("Palautetaanko käyttäjätunnukseksi erkki@testi.fi?"),
        "{form}"
    );
    let undo_token = param(&url::Url::parse(&undo).unwrap(), "token").unwrap();
    let restored = other
        .post(app.url("/seinajoki/email/undo"))
        .form(&[
            ("csrf", csrf(&form).as_str()),
            ("token", undo_token.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(restored.status(), 200);
    assert!(
        restored
            .text()
            .await
            .unwrap()
            .contains("Vanha sähköpostiosoitteesi on palautettu")
    );
    // Every session ended, the old address works again.
    let again = browser
        .get(app.url("/seinajoki/account"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&again).path(), "/seinajoki/login");
    let started = rp::start(&client, &[], &[]);
    let back = rp::log_in(&app.browser(), &started.url, "erkki@testi.fi", PASSWORD).await;
    assert!(param(&back, "code").is_some());
    // Links work once.
    assert_eq!(
        app.browser().get(&confirm).send().await.unwrap().status(),
        410
    );
    app.stop().await;
}
