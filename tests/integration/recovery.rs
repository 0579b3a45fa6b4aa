//! Recovery revokes everything: a password reset, "sign out everywhere" and the undo of a change
//! of address end every grant of the account, `offline_access` refresh tokens included, and tell
//! the e-services through back-channel logout; a confirmed change of address voids the links
//! mailed before it.

use std::time::Duration;

use serde_json::Value;
use url::Url;

use crate::both_stores;
use crate::helpers::{Backend, TestApp};
use crate::rp::{self, Receiver, csrf, location, param, start_receiver};

both_stores!(
    recovery_ends_offline_tokens_and_tells_the_e_services,
    a_confirmed_change_of_address_voids_the_links_sent_before,
);

const EMAIL: &str = "erkki@testi.fi";
const PASSWORD: &str = "erkin vanha salasana";
const REDIRECT: &str = "http://127.0.0.1:9/offline-callback";

#[derive(Debug, Clone, Copy)]
enum Recovery {
    Reset,
    SignOutEverywhere,
    UndoAddressChange,
}

/// An offline refresh token of `rp-offline` for the resident, from a login in a fresh browser.
async fn offline_token(app: &TestApp, email: &str, password: &str) -> String {
    let client = rp::client(
        app,
        "seinajoki",
        "rp-offline",
        Some("rp-offline-secret"),
        REDIRECT,
    )
    .await;
    let started = rp::start(&client, &["offline_access"], &[("prompt", "consent")]);
    let back = rp::log_in(&app.browser(), &started.url, email, password).await;
    let response = app
        .http
        .post(app.url("/seinajoki/token"))
        .basic_auth("rp-offline", Some("rp-offline-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", param(&back, "code").unwrap().as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", started.verifier.secret()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    tokens["refresh_token"].as_str().unwrap().to_string()
}

async fn refresh(app: &TestApp, token: &str) -> (u16, Value) {
    let response = app
        .http
        .post(app.url("/seinajoki/token"))
        .basic_auth("rp-offline", Some("rp-offline-secret"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// Opens a mailed link's page in `browser` and posts its form (with `extra` fields).
async fn follow(
    app: &TestApp,
    browser: &reqwest::Client,
    link: &str,
    post_path: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let page = browser.get(link).send().await.unwrap();
    assert_eq!(page.status(), 200, "{link}");
    let page = page.text().await.unwrap();
    let token = param(&Url::parse(link).unwrap(), "token").unwrap();
    let csrf = csrf(&page);
    let mut form = vec![("csrf", csrf.as_str()), ("token", token.as_str())];
    form.extend_from_slice(extra);
    browser
        .post(app.url(post_path))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// A browser signed in on the account page; the page's HTML.
async fn account_page(app: &TestApp, email: &str, password: &str) -> (reqwest::Client, String) {
    let browser = app.browser();
    let login = location(
        &browser
            .get(app.url("/seinajoki/account"))
            .send()
            .await
            .unwrap(),
    );
    let done = rp::submit_login(&browser, &login, email, password, false).await;
    assert_eq!(done.status(), 303);
    let page = browser
        .get(app.url("/seinajoki/account"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    (browser, html)
}

/// Asks for a change of address on the account page and confirms it from the mail.
async fn change_address(app: &TestApp, from: &str, password: &str, to: &str) {
    let (browser, page) = account_page(app, from, password).await;
    let asked = browser
        .post(app.url("/seinajoki/account/email"))
        .form(&[
            ("csrf", csrf(&page).as_str()),
            ("email", to),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), 200);
    let confirm = app
        .newest_link(Some(to), "/seinajoki/email/confirm?token=")
        .await;
    let done = follow(
        app,
        &app.browser(),
        &confirm,
        "/seinajoki/email/confirm",
        &[],
    )
    .await;
    assert_eq!(done.status(), 200);
}

async fn recover(app: &TestApp, recovery: Recovery) {
    match recovery {
        Recovery::Reset => {
            let browser = app.browser();
            let forgot = app.url("/seinajoki/forgot");
            let sent = rp::post_form(&browser, &forgot, &forgot, &[("email", EMAIL)]).await;
            assert_eq!(sent.status(), 200);
            let link = app
                .newest_link(Some(EMAIL), "/seinajoki/reset?token=")
                .await;
            let new = "erkin uusi salasana";
            let done = follow(
                app,
                &browser,
                &link,
                "/seinajoki/reset",
                &[("password", new), ("password2", new)],
            )
            .await;
            assert_eq!(done.status(), 200);
        }
        Recovery::SignOutEverywhere => {
            let (browser, page) = account_page(app, EMAIL, PASSWORD).await;
            let done = browser
                .post(app.url("/seinajoki/account/logout-everywhere"))
                .form(&[("csrf", csrf(&page).as_str())])
                .send()
                .await
                .unwrap();
            assert!(done.status().is_success() || done.status() == 303);
        }
        Recovery::UndoAddressChange => {
            // Someone with the password moved the account to their address; its owner undoes it.
            change_address(app, EMAIL, PASSWORD, "varas@testi.fi").await;
            let undo = app
                .newest_link(Some(EMAIL), "/seinajoki/email/undo?token=")
                .await;
            let done = follow(app, &app.browser(), &undo, "/seinajoki/email/undo", &[]).await;
            assert_eq!(done.status(), 200);
        }
    }
}

async fn recovery_ends_offline_tokens_and_tells_the_e_services(backend: Backend) {
    for recovery in [
        Recovery::Reset,
        Recovery::SignOutEverywhere,
        Recovery::UndoAddressChange,
    ] {
        let receiver = Receiver::default();
        let (uri, receiver_handle) = start_receiver(receiver.clone());
        let app = TestApp::builder(backend)
            .tenant_toml(&format!(
                r#"
[[clients]]
client_id = "rp-offline"
client_secret = "rp-offline-secret"
redirect_uris = ["{REDIRECT}"]
grant_types = ["authorization_code", "refresh_token"]
backchannel_logout_uri = "{uri}"
first_party = true
"#
            ))
            .user("seinajoki", EMAIL, PASSWORD, "Erkki")
            .spawn()
            .await;
        let token = offline_token(&app, EMAIL, PASSWORD).await;
        // The token works (and rotates) before the recovery.
        let (status, body) = refresh(&app, &token).await;
        assert_eq!(status, 200, "{body}");
        let token = body["refresh_token"].as_str().unwrap().to_string();

        recover(&app, recovery).await;

        assert_eq!(
            refresh(&app, &token).await,
            (
                400,
                serde_json::json!({
                    "error": "invalid_grant",
                    "error_description": "the refresh token is invalid, expired or revoked",
                })
            ),
            "{recovery:?}"
        );
        // The e-service is told: a logout token for the resident without a session (`sub` only).
        let mut told = false;
        for _ in 0..100 {
            let bodies = receiver.bodies.lock().unwrap().clone();
            told = bodies.iter().any(|b| {
                let token = b.strip_prefix("logout_token=").unwrap_or(b);
                let payload = token.split('.').nth(1).unwrap_or_default();
                base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
                    .ok()
                    .and_then(|json| serde_json::from_slice::<Value>(&json).ok())
                    .is_some_and(|claims| claims.get("sid").is_none() && claims["sub"].is_string())
            });
            if told {
                break;
            }
            app.clock.advance(10);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(told, "{recovery:?}: {:?}", receiver.bodies.lock().unwrap());
        receiver_handle.stop(false).await;
    }
}

async fn a_confirmed_change_of_address_voids_the_links_sent_before(backend: Backend) {
    let app = TestApp::builder(backend)
        .user("seinajoki", EMAIL, PASSWORD, "Erkki")
        .spawn()
        .await;
    // A reset link to the old address, then the address changes.
    let browser = app.browser();
    let forgot = app.url("/seinajoki/forgot");
    rp::post_form(&browser, &forgot, &forgot, &[("email", EMAIL)]).await;
    let reset = app
        .newest_link(Some(EMAIL), "/seinajoki/reset?token=")
        .await;
    change_address(&app, EMAIL, PASSWORD, "erkki.uusi@testi.fi").await;

    let page = browser.get(&reset).send().await.unwrap();
    assert_eq!(page.status(), 410);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("Linkki on vanhentunut tai jo käytetty.")
    );
    // The undo link of the change stays usable: it is the old address's way back.
    let undo = app
        .newest_link(Some(EMAIL), "/seinajoki/email/undo?token=")
        .await;
    let page = app.browser().get(&undo).send().await.unwrap();
    assert_eq!(page.status(), 200);
}
