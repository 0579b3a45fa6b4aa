//! Registration: address, link, password — the account, logged in, the login continued; an
//! address with an account gets a mail saying so, and the page says the same either way.

use url::Url;

use crate::both_stores;
use crate::helpers::{Backend, TestApp};
use crate::rp::{self, csrf, location, param};

both_stores!(registration_verifies_the_address_and_continues_the_login);

async fn wait_for_mails(app: &TestApp, count: usize) -> Vec<String> {
    for _ in 0..100 {
        let mails = app.mails();
        if mails.len() >= count {
            return mails;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{count} mails expected: {:?}", app.mails());
}

async fn ask(
    app: &TestApp,
    browser: &reqwest::Client,
    request: &str,
    email: &str,
) -> (u16, String) {
    let page = browser
        .get(app.url(&format!("/seinajoki/register?request={request}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Luo uusi käyttäjätunnus"), "{page}");
    let response = browser
        .post(app.url("/seinajoki/register"))
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

async fn registration_verifies_the_address_and_continues_the_login(backend: Backend) {
    let app = TestApp::builder(backend)
        .user("seinajoki", "erkki@testi.fi", "vanha salasana", "Erkki")
        .spawn()
        .await;
    let client = rp::basic(&app).await;
    let started = rp::start(&client, &["email", "profile"], &[]);
    let browser = app.browser();
    let login = location(&browser.get(started.url.clone()).send().await.unwrap());
    let identifier_page = browser
        .get(login.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        identifier_page.contains("Luo uusi käyttäjätunnus</a>"),
        "{identifier_page}"
    );
    let request = param(&login, "request").unwrap();

    // An address with an account: the same page, and a mail saying so.
    let (status, known) = ask(&app, &browser, &request, "erkki@testi.fi").await;
    assert_eq!(status, 200);
    let (status, fresh) = ask(&app, &browser, &request, "maija@testi.fi").await;
    assert_eq!(status, 200);
    assert_eq!(
        known.replace("erkki@testi.fi", "X"),
        fresh.replace("maija@testi.fi", "X")
    );
    let mails = wait_for_mails(&app, 2).await;
    assert!(
        mails[0].contains("To: erkki@testi.fi")
            && mails[0].contains("Sinulla on jo käyttäjätunnus"),
        "{}",
        mails[0]
    );
    assert!(
        mails[1].contains("To: maija@testi.fi")
            && mails[1].contains("Vahvista sähköpostiosoitteesi"),
        "{}",
        mails[1]
    );
    let link = mails[1]
        .split_whitespace()
        .find(|w| w.starts_with(&app.url("/seinajoki/register/complete?token=")))
        .unwrap()
        .to_string();

    let page = browser
        .get(&link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("value=\"maija@testi.fi\""), "{page}");
    let token = param(&Url::parse(&link).unwrap(), "token").unwrap();
    let done = browser
        .post(app.url("/seinajoki/register/complete"))
        .form(&[
            ("csrf", csrf(&page).as_str()),
            ("token", token.as_str()),
            ("username", "maija@testi.fi"),
            ("name", "Maija Meikäläinen"),
            ("password", "maijan oma salasana"),
            ("password2", "maijan oma salasana"),
        ])
        .send()
        .await
        .unwrap();
    let back = location(&done);
    let tokens = rp::exchange(&client, &param(&back, "code").unwrap(), started.verifier)
        .await
        .unwrap();
    let claims = openidconnect::TokenResponse::id_token(&tokens)
        .unwrap()
        .claims(&client.id_token_verifier(), &started.nonce)
        .unwrap()
        .clone();
    assert_eq!(claims.email().unwrap().as_str(), "maija@testi.fi");
    assert_eq!(claims.email_verified(), Some(true));
    assert_eq!(
        claims.name().unwrap().get(None).unwrap().as_str(),
        "Maija Meikäläinen"
    );

    let mails = wait_for_mails(&app, 3).await;
    assert!(mails[2].contains("Tervetuloa"), "{}", mails[2]);
    // The link worked once.
    assert_eq!(browser.get(&link).send().await.unwrap().status(), 410);
    // And the account logs in.
    let again = rp::start(&client, &[], &[]);
    let back = rp::log_in(
        &app.browser(),
        &again.url,
        "Maija@testi.fi",
        "maijan oma salasana",
    )
    .await;
    assert!(param(&back, "code").is_some());
    app.stop().await;
}
