//! Forgot password: the link through the file outbox, the new password, sessions ended, the
//! pending authorization continued; and a mail that cannot be sent says so.

use url::Url;

use crate::both_stores;
use crate::helpers::{Backend, TestApp};
use crate::rp::{self, csrf, location, param};

both_stores!(
    a_reset_link_sets_the_password_and_continues_the_login,
    a_mail_that_cannot_be_sent_is_not_a_silent_success,
);

const OLD: &str = "vanha salasana";
const NEW: &str = "uusi pitkä salasana";

async fn ask_link(
    app: &TestApp,
    browser: &reqwest::Client,
    request: &str,
    email: &str,
) -> (u16, String) {
    let page = browser
        .get(app.url(&format!("/seinajoki/forgot?request={request}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Unohtuiko käyttäjätunnus tai salasana?"),
        "{page}"
    );
    let response = browser
        .post(app.url("/seinajoki/forgot"))
        .form(&[
            ("csrf", csrf(&page).as_str()),
            ("request", request),
            ("email", email),
        ])
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn a_reset_link_sets_the_password_and_continues_the_login(backend: Backend) {
    let app = TestApp::builder(backend)
        .user("seinajoki", "erkki@testi.fi", OLD, "Erkki")
        .spawn()
        .await;
    let client = rp::basic(&app).await;

    // Another browser is logged in: the reset ends its session.
    let elsewhere = app.browser();
    let started = rp::start(&client, &[], &[]);
    rp::log_in(&elsewhere, &started.url, "erkki@testi.fi", OLD).await;

    let browser = app.browser();
    let started = rp::start(&client, &[], &[]);
    let login = location(&browser.get(started.url.clone()).send().await.unwrap());
    let request = param(&login, "request").unwrap();

    // An unknown address gets the same page and no mail.
    let (status, unknown) = ask_link(&app, &browser, &request, "nobody@testi.fi").await;
    assert_eq!(status, 200);
    assert!(app.mails().is_empty());
    let (status, known) = ask_link(&app, &browser, &request, "Erkki@Testi.fi").await;
    assert_eq!(status, 200);
    assert_eq!(
        unknown, known,
        "the page does not tell whether the account exists"
    );
    assert!(
        known.contains("Linkki on voimassa 60 minuuttia."),
        "{known}"
    );

    let mails = app.mails();
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert!(mail.contains("To: erkki@testi.fi"), "{mail}");
    assert!(mail.contains("Salasanan asettaminen"), "{mail}");
    let link = mail
        .split_whitespace()
        .find(|w| w.starts_with(&app.url("/seinajoki/reset?token=")))
        .unwrap()
        .to_string();

    let page = browser.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("autocomplete=\"new-password\""), "{page}");
    let token = param(&Url::parse(&link).unwrap(), "token").unwrap();
    let submit = |first: &str, second: &str| {
        let form = [
            ("csrf", csrf(&page)),
            ("token", token.clone()),
            ("password", first.to_string()),
            ("password2", second.to_string()),
        ];
        browser.post(app.url("/seinajoki/reset")).form(&form).send()
    };
    let refused = submit(NEW, "toinen").await.unwrap();
    assert_eq!(refused.status(), 422);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("Salasanat eivät täsmää.")
    );
    let refused = submit("Salasana123", "Salasana123").await.unwrap();
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("Salasana on liian yleinen.")
    );
    let refused = submit("lyhyt", "lyhyt").await.unwrap();
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("vähintään 8 merkkiä")
    );

    // Set: the login that was pending goes on to the client.
    let done = submit(NEW, NEW).await.unwrap();
    let back = location(&done);
    assert_eq!(
        param(&back, "state").as_deref(),
        Some(started.state.secret().as_str())
    );
    let tokens = rp::exchange(&client, &param(&back, "code").unwrap(), started.verifier).await;
    assert!(tokens.is_ok(), "{tokens:?}");

    // Once only; the other browser's session ended; the new password works, the old does not.
    assert_eq!(browser.get(&link).send().await.unwrap().status(), 410);
    let quiet = rp::start(&client, &[], &[("prompt", "none")]);
    let back = location(&elsewhere.get(quiet.url).send().await.unwrap());
    assert_eq!(param(&back, "error").as_deref(), Some("login_required"));
    let started = rp::start(&client, &[], &[]);
    let fresh = app.browser();
    let login_page = location(&fresh.get(started.url.clone()).send().await.unwrap());
    assert_eq!(
        rp::submit_login(&fresh, &login_page, "erkki@testi.fi", OLD, false)
            .await
            .status(),
        401
    );
    assert_eq!(
        rp::submit_login(&fresh, &login_page, "erkki@testi.fi", NEW, false)
            .await
            .status(),
        303
    );
    app.stop().await;
}

async fn a_mail_that_cannot_be_sent_is_not_a_silent_success(backend: Backend) {
    let app = TestApp::builder(backend)
        .unreachable_smtp()
        .user("seinajoki", "erkki@testi.fi", OLD, "Erkki")
        .spawn()
        .await;
    let browser = app.browser();
    let (status, page) = ask_link(&app, &browser, "", "erkki@testi.fi").await;
    assert_eq!(status, 503);
    assert!(
        page.contains(
            "Salasanan palautuslinkin lähettäminen antamaasi sähköpostiosoitteeseen ei onnistunut. Ota yhteys asiakaspalveluun."
        ),
        "{page}"
    );
    assert!(
        page.contains("asiakaspalvelu@seinajoki.example"),
        "the tenant's support contact"
    );
    app.stop().await;
}

both_stores!(a_password_change_ends_outstanding_reset_links);

async fn a_password_change_ends_outstanding_reset_links(backend: Backend) {
    let app = TestApp::builder(backend)
        .user("seinajoki", "erkki@testi.fi", OLD, "Erkki")
        .spawn()
        .await;
    let browser = app.browser();
    ask_link(&app, &browser, "", "erkki@testi.fi").await;
    ask_link(&app, &browser, "", "erkki@testi.fi").await;
    let links: Vec<String> = app
        .mails()
        .iter()
        .filter_map(|m| {
            m.split_whitespace()
                .find(|w| w.starts_with(&app.url("/seinajoki/reset?token=")))
                .map(str::to_string)
        })
        .collect();
    assert_eq!(links.len(), 2);
    // Use the first: the second one dies with it.
    let page = browser
        .get(&links[0])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = param(&Url::parse(&links[0]).unwrap(), "token").unwrap();
    let done = browser
        .post(app.url("/seinajoki/reset"))
        .form(&[
            ("csrf", csrf(&page).as_str()),
            ("token", token.as_str()),
            ("password", NEW),
            ("password2", NEW),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    assert_eq!(browser.get(&links[1]).send().await.unwrap().status(), 410);
    app.stop().await;
}
