//! What the tests of the account page's sessions and e-services share: the server with two
//! residents and two back-channel clients, reading the page's lists, posting its forms, and an
//! e-service's tokens.

use openidconnect::{OAuth2TokenResponse, RefreshToken};

use crate::helpers::journeys::{SignedIn, answer, page, post_with_csrf, sign_in_with, visit};
use crate::helpers::{Backend, TestApp, first_party_client};
use crate::rp::{self, Receiver, Rp, location, param, start_receiver};

/// The residents' password.
pub const PASSWORD: &str = "oikea hevonen patteri";
/// The User-Agents of the residents' two browsers.
pub const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
pub const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
/// The account page's refusal of an id that is no live session of the resident.
pub const SESSION_UNKNOWN: &str = "<p id=\"sessions-error\" class=\"error\" role=\"alert\">Istuntoa ei löytynyt kirjautumistesi joukosta. Se on ehkä jo päättynyt.</p>";
/// The redirect URIs of `rp-app` and `rp-bcl`.
pub const APP_CALLBACK: &str = "http://127.0.0.1:9/app-callback";
pub const BCL_CALLBACK: &str = "http://127.0.0.1:9/bcl-callback";

/// A server with the residents Erkki and Maija, a first-party client `rp-bcl` and a third-party
/// client `rp-app` ("Kirjastosovellus", refresh tokens), both with a back-channel logout endpoint
/// served by the returned receiver.
pub async fn app_with_receiver(
    backend: Backend,
) -> (TestApp, Receiver, actix_web::dev::ServerHandle) {
    let receiver = Receiver::default();
    let (uri, handle) = start_receiver(receiver.clone());
    let backchannel = format!("backchannel_logout_uri = \"{uri}\"");
    let app_client = format!(
        "\n[[clients]]\nclient_id = \"rp-app\"\nname = \"Kirjastosovellus\"\n\
         client_secret = \"rp-app-secret\"\nredirect_uris = [\"{APP_CALLBACK}\"]\n\
         grant_types = [\"authorization_code\", \"refresh_token\"]\n{backchannel}\n"
    );
    let tenant = first_party_client("rp-bcl", BCL_CALLBACK, &[&backchannel]) + &app_client;
    let app = TestApp::builder(backend)
        .tenant_toml(&tenant)
        .user("seinajoki", "erkki@testi.fi", PASSWORD, "Erkki")
        .user("seinajoki", "maija@testi.fi", PASSWORD, "Maija")
        .spawn()
        .await;
    (app, receiver, handle)
}

/// The sessions the account page lists: (its text, its id), in the page's order.
pub fn listed_sessions(page: &str) -> Vec<(String, String)> {
    let start = page
        .find("<ul id=\"sessions\"")
        .expect("the sessions' list");
    let list = &page[start..start + page[start..].find("</ul>").unwrap()];
    list.split("<li>")
        .skip(1)
        .map(|item| {
            let id = crate::helpers::journeys::hidden(item, "session");
            (item.to_string(), id)
        })
        .collect()
}

/// The e-services the account page lists, as their items' text.
pub fn listed_services(page: &str) -> Vec<String> {
    let Some(start) = page.find("<ul id=\"services\"") else {
        return Vec::new();
    };
    let list = &page[start..start + page[start..].find("</ul>").unwrap()];
    list.split("<li>").skip(1).map(str::to_string).collect()
}

/// Posts `fields` to the account page's form at `path`, with the CSRF token of a fresh account
/// page of `signed`'s browser: (status, text).
pub async fn post(
    app: &TestApp,
    signed: &SignedIn,
    path: &str,
    fields: &[(&str, &str)],
) -> (u16, String) {
    let fresh = page(&signed.browser, app.url("/seinajoki/account")).await;
    answer(post_with_csrf(&signed.browser, app.url(path), &fresh, fields).await).await
}

/// Ends the session `sid` with the account page's button of `signed`'s browser: (status, text).
pub async fn end_session(app: &TestApp, signed: &SignedIn, sid: &str) -> (u16, String) {
    let fields = [("session", sid)];
    post(app, signed, "/seinajoki/account/sessions/end", &fields).await
}

/// Revokes the e-service `client`'s access with the account page's button of `signed`'s browser:
/// (status, text).
pub async fn revoke(app: &TestApp, signed: &SignedIn, client: &str) -> (u16, String) {
    let fields = [("client", client)];
    post(app, signed, "/seinajoki/account/services/revoke", &fields).await
}

/// Stops the server and the back-channel receiver of [`app_with_receiver`].
pub async fn stop(app: &TestApp, receiver: actix_web::dev::ServerHandle) {
    app.stop().await;
    receiver.stop(true).await;
}

/// Whether `browser` is still signed in (its account page opens, rather than the login).
pub async fn signed_in(app: &TestApp, browser: &reqwest::Client) -> bool {
    let response = visit(browser, app.url("/seinajoki/account")).await;
    match response.status().as_u16() {
        200 => true,
        _ => {
            assert_eq!(location(&response).path(), "/seinajoki/login");
            false
        }
    }
}

/// The claims of the logout token in a back-channel delivery's body (its signature is checked in
/// `oidc_backchannel.rs`).
pub fn logout_claims(body: &str) -> serde_json::Value {
    let token = url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "logout_token")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    rp::payload(&token)
}

/// `rp-app`, the third-party e-service, as a relying party.
pub fn app_client(app: &TestApp) -> impl std::future::Future<Output = Rp> + '_ {
    rp::client(
        app,
        "seinajoki",
        "rp-app",
        Some("rp-app-secret"),
        APP_CALLBACK,
    )
}

/// Logs `browser` in to `rp-app` with `offline_access` as `email` (the consent page approved
/// when asked): its tokens.
pub async fn app_tokens(app: &TestApp, browser: &reqwest::Client, email: &str) -> rp::Redeemed {
    let client = app_client(app).await;
    consented(app, &client, browser, email, &["email", "offline_access"]).await
}

/// Logs `browser` in to the third-party `client` for `scopes` as `email`, approves its consent
/// page and redeems the code: the tokens.
pub async fn consented(
    app: &TestApp,
    client: &Rp,
    browser: &reqwest::Client,
    email: &str,
    scopes: &[&str],
) -> rp::Redeemed {
    let started = rp::start(client, scopes, &[]);
    // A browser without a session logs in first; one with a session goes straight to consent.
    let first = location(&browser.get(started.url.clone()).send().await.unwrap());
    let consent = if first.path() == "/seinajoki/login" {
        location(&rp::submit_login(browser, &first, email, PASSWORD, false).await)
    } else {
        first
    };
    assert_eq!(consent.path(), "/seinajoki/consent", "{consent}");
    let html = page(browser, consent.clone()).await;
    let request = param(&consent, "request").unwrap();
    let fields = [("request", request.as_str()), ("decision", "approve")];
    let approved = post_with_csrf(browser, app.url("/seinajoki/consent"), &html, &fields).await;
    rp::redeem(client, started, &location(&approved)).await
}

/// Refreshes `token` at `client`: the new refresh token, or the error.
pub async fn refresh(client: &Rp, token: &str) -> Result<String, String> {
    let token = RefreshToken::new(token.to_string());
    client
        .exchange_refresh_token(&token)
        .unwrap()
        .request_async(&rp::http())
        .await
        .map(|tokens| tokens.refresh_token().unwrap().secret().clone())
        .map_err(rp::token_error)
}

/// The id of the session of `signed`'s own browser, from its account page.
pub fn own_sid(signed: &SignedIn) -> String {
    listed_sessions(&signed.page).remove(0).1
}

/// Erkki signed in at the account page in Firefox.
pub async fn erkki_in_firefox(app: &TestApp) -> SignedIn {
    let firefox = app.browser_as(FIREFOX);
    sign_in_with(app, firefox, "seinajoki", "erkki@testi.fi", PASSWORD).await
}
