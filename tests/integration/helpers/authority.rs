//! An authority user's second factor in the tests: a server whose tenant has a policy, the
//! authority user, a one-time code seeded as an enrolment stores it, the clock held inside a
//! 30-second step, a login taken through the password to its second factor, and the account page
//! reached through both.

use chrono::Duration;
use idp::crypto::totp::TotpSecret;
use reqwest::{Client, Response};

use super::journeys::{Login, page, post_with_csrf, says, session_cookie};
use super::{Backend, NewUser, TestApp, tenant};
use crate::rp::{self, Rp, location, param};

pub const USERNAME: &str = "Virkailija";
pub const PASSWORD: &str = "viranomaisen salasana";

/// A server whose seinajoki tenant has `authority_second_factor = policy`, with the authority user
/// [`USERNAME`].
pub async fn authority_app(backend: Backend, policy: &str) -> TestApp {
    authority_app_with(backend, policy, "").await
}

/// [`authority_app`] with `tenant_toml` appended to the tenant's file.
pub async fn authority_app_with(backend: Backend, policy: &str, tenant_toml: &str) -> TestApp {
    authority_app_of(backend, policy, tenant_toml, None).await
}

/// The authority user's address, where it has one ([`authority_app_at_address`]).
pub const ADDRESS: &str = "virkailija@testi.fi";

/// [`authority_app`] whose authority user has the address [`ADDRESS`] (its notices and reset
/// mails go there).
pub async fn authority_app_at_address(backend: Backend, policy: &str) -> TestApp {
    authority_app_of(backend, policy, "", Some(ADDRESS)).await
}

async fn authority_app_of(
    backend: Backend,
    policy: &str,
    tenant_toml: &str,
    email: Option<&'static str>,
) -> TestApp {
    let app = TestApp::builder(backend)
        .tenant_setting(&format!("authority_second_factor = \"{policy}\""))
        .tenant_toml(tenant_toml)
        .spawn()
        .await;
    let user = NewUser {
        email,
        ..NewUser::authority(USERNAME, "Virkailija", PASSWORD)
    };
    app.add("seinajoki", user).await.unwrap();
    app
}

/// [`authority_app`] with the policy `required` and the authority user's one-time code seeded
/// ([`seed_totp`]), the clock [`steady`]: the server, its `rp-basic` and the code's secret.
pub async fn app_with_code(backend: Backend) -> (TestApp, Rp, TotpSecret) {
    let app = authority_app(backend, "required").await;
    let client = rp::basic(&app).await;
    let secret = seed_totp(&app).await;
    steady(&app);
    (app, client, secret)
}

/// The internal id of the authority user.
pub async fn authority_id(app: &TestApp) -> String {
    app.db_run(|conn| {
        let key = USERNAME.to_lowercase();
        idp::store::users::find_by_username(conn, tenant("seinajoki"), &key)
            .unwrap()
            .unwrap()
            .id
    })
    .await
}

/// Gives the authority user a one-time code (as an enrolment stores it); its secret.
pub async fn seed_totp(app: &TestApp) -> TotpSecret {
    let user_id = authority_id(app).await;
    let secret = TotpSecret::generate();
    let sealed = secret
        .seal(&app.services.kek, "seinajoki", &user_id)
        .unwrap();
    let now = app.now();
    app.db_run(move |conn| {
        let row = idp::store::second_factors::TotpRow {
            user_id,
            tenant_id: "seinajoki".into(),
            secret: sealed,
            last_step: None,
            created_at: now,
        };
        idp::store::second_factors::set_totp(conn, &row).unwrap();
    })
    .await;
    secret
}

/// Moves the server's clock to a second past the start of a 30-second step, so that the step
/// does not change under the next few requests.
pub fn steady(app: &TestApp) {
    let into = app.now().and_utc().timestamp().rem_euclid(30);
    app.clock.advance((31 - into) % 30);
}

/// The code of `secret` for the step `offset` steps from the server's now.
pub fn code(app: &TestApp, secret: &TotpSecret, offset: i64) -> String {
    secret.code_at(app.now() + Duration::seconds(30 * offset))
}

/// A login at `client` (with `extra` parameters) in a fresh browser, through the password: the
/// login (its request the half-done login's, when the password led to the second factor) and the
/// answer to the password.
pub async fn password_step(
    app: &TestApp,
    client: &Rp,
    extra: &[(&str, &str)],
) -> (Login, Response) {
    let mut login = Login::start(&app.browser(), client, &[], extra).await;
    let response = login.submit(USERNAME, PASSWORD, false).await;
    if response.status() == 303 {
        let next = location(&response);
        if next.path() == "/seinajoki/login/second-factor" {
            login.request = rp::param(&next, "request").unwrap();
        }
    }
    (login, response)
}

/// A new login at `client` in a fresh browser, through the password to the second factor
/// ([`to_second_factor`]).
pub async fn at_second_factor(app: &TestApp, client: &Rp) -> Login {
    let (login, response) = password_step(app, client, &[]).await;
    to_second_factor(&login, &response);
    login
}

/// A new login at `client` in a fresh browser, through the password to the enrolment of a
/// one-time code (the tenant requires one, the user has none): the login and the enrolment page.
pub async fn enrolment(app: &TestApp, client: &Rp) -> (Login, String) {
    let login = at_second_factor(app, client).await;
    let enrol_url = location(&open(&login, second_factor_url(&login)).await);
    assert_eq!(enrol_url.path(), "/seinajoki/login/second-factor/enrol");
    let html = page(&login.browser, enrol_url).await;
    (login, html)
}

/// The secret the enrolment page `html` shows (`<code id="secret">`, in groups of four).
pub fn shown_secret(html: &str) -> TotpSecret {
    let shown = html.split("<code id=\"secret\">").nth(1).unwrap();
    let shown = shown.split('<').next().unwrap().replace(' ', "");
    TotpSecret::from_base32(&shown).unwrap()
}

/// The second factor's page of `login` (`/login/second-factor?request=…`).
pub fn second_factor_url(login: &Login) -> String {
    format!(
        "{}/login/second-factor?request={}",
        login.tenant_url, login.request
    )
}

/// Posts `fields` to the second factor's page of `login`, with its CSRF token.
pub async fn give(login: &Login, fields: &[(&str, &str)]) -> Response {
    let html = page(&login.browser, second_factor_url(login)).await;
    login.post("/login/second-factor", &html, fields).await
}

/// Posts `fields` to the second factor's page of `login`, which must answer `status` with `text`;
/// the page.
pub async fn refused(login: &Login, fields: &[(&str, &str)], status: u16, text: &str) -> String {
    says(give(login, fields).await, status, text).await
}

/// Posts the one-time code `code` to the second factor's page of `login`, which must refuse it
/// (401, in Finnish); the page.
pub async fn wrong(login: &Login, code: &str) -> String {
    refused(
        login,
        &[("code", code)],
        401,
        "Koodi on väärä tai jo käytetty.",
    )
    .await
}

/// Posts `count` wrong one-time codes to the second factor's page of `login`, each refused (as
/// [`wrong`]).
pub async fn wrong_codes(login: &Login, count: usize) {
    for _ in 0..count {
        wrong(login, "123456").await;
    }
}

/// `url` opened in `login`'s browser.
pub async fn open(login: &Login, url: impl reqwest::IntoUrl) -> Response {
    login.browser.get(url).send().await.unwrap()
}

/// After the password, the way to the second factor, and no session yet.
pub fn to_second_factor(login: &Login, response: &Response) {
    assert_eq!(response.status(), 303);
    assert_eq!(location(response).as_str(), second_factor_url(login));
    assert_eq!(session_cookie(response, "seinajoki"), None);
}

/// A fresh browser opens the account page, logs in as the authority user (with a code of
/// `secret` when the login asks for one) and is back at the account page: the browser and the
/// page.
pub async fn account(app: &TestApp, secret: Option<&TotpSecret>) -> (Client, String) {
    account_as(app, USERNAME, secret).await
}

/// [`account`] as the authority user `username` (whose password is [`PASSWORD`] too).
pub async fn account_as(
    app: &TestApp,
    username: &str,
    secret: Option<&TotpSecret>,
) -> (Client, String) {
    let browser = app.browser();
    let url = app.url("/seinajoki/account");
    let login = location(&browser.get(&url).send().await.unwrap());
    let mut done = rp::submit_login(&browser, &login, username, PASSWORD, false).await;
    if let Some(secret) = secret {
        let asked = location(&done);
        assert_eq!(asked.path(), "/seinajoki/login/second-factor");
        let html = page(&browser, asked.clone()).await;
        let request = param(&asked, "request").unwrap();
        let fields = [
            ("request", request.as_str()),
            ("code", &code(app, secret, 0)),
        ];
        let action = app.url("/seinajoki/login/second-factor");
        done = post_with_csrf(&browser, action, &html, &fields).await;
    }
    assert!(session_cookie(&done, "seinajoki").is_some());
    assert_eq!(location(&done).as_str(), url);
    let html = page(&browser, &url).await;
    (browser, html)
}
