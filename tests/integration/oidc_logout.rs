//! RP-initiated logout 1.0.

use openidconnect::TokenResponse;

use crate::both_stores;
use crate::helpers::journeys::{client_post, self_posting_form};
use crate::helpers::{Backend, TestApp, assert_has};
use crate::rp::{self, location, param};

const PASSWORD: &str = "oikea hevonen patteri";
/// `rp-basic`'s `post_logout_redirect_uri`.
pub const BYE: &str = "http://127.0.0.1:9/bye";

pub struct LoggedIn {
    pub browser: reqwest::Client,
    pub client: rp::Rp,
    pub id_token: String,
    pub access_token: String,
    pub refresh_token: String,
}

/// The server with Erkki, and Erkki logged in at `rp-basic` in a fresh browser.
pub async fn logged_in(backend: Backend) -> (TestApp, LoggedIn) {
    let app = TestApp::with_user(backend, "erkki@testi.fi", PASSWORD, "Erkki").await;
    let client = rp::basic(&app).await;
    let browser = app.browser();
    let redeemed = rp::redeem_login(&browser, &client, &[], "erkki@testi.fi", PASSWORD).await;
    let s = LoggedIn {
        browser,
        id_token: redeemed.tokens.id_token().unwrap().to_string(),
        access_token: redeemed.access_token(),
        refresh_token: redeemed.refresh_token(),
        client,
    };
    (app, s)
}

/// The logout endpoint with `pairs`, in the logged-in browser.
pub async fn logout(app: &TestApp, s: &LoggedIn, pairs: &[(&str, &str)]) -> reqwest::Response {
    let mut url = url::Url::parse(&app.url("/seinajoki/logout")).unwrap();
    url.query_pairs_mut().extend_pairs(pairs);
    s.browser.get(url).send().await.unwrap()
}

/// Posts `form`, the confirmation of the logout page, in the logged-in browser.
async fn confirm(app: &TestApp, s: &LoggedIn, form: &[(&str, &str)]) -> reqwest::Response {
    let url = app.url("/seinajoki/logout");
    s.browser.post(url).form(form).send().await.unwrap()
}

/// A logout of `s`'s session by its ID token, back to [`BYE`] with `state`.
fn back_to_bye<'a>(s: &'a LoggedIn, state: &'a str) -> [(&'a str, &'a str); 3] {
    [
        ("id_token_hint", s.id_token.as_str()),
        ("post_logout_redirect_uri", BYE),
        ("state", state),
    ]
}

async fn session_is_gone(app: &TestApp, s: &LoggedIn) {
    let back = rp::prompt_none(&s.browser, &s.client).await;
    assert_eq!(
        param(&back, "error").as_deref(),
        Some("login_required"),
        "{back}"
    );
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", s.refresh_token.as_str()),
    ];
    let auth = ("rp-basic", "rp-basic-secret");
    let (status, _) = client_post(app, "/seinajoki/token", auth, &form).await;
    assert_eq!(status, 400, "the session's refresh token ends with it");
}

/// Asserts that `answer` sends the browser back to [`BYE`] with `state` (as a query writes it) and
/// that the session is gone.
pub async fn back_at_bye_and_gone(
    app: &TestApp,
    s: &LoggedIn,
    answer: reqwest::Response,
    state: &str,
) {
    assert_eq!(location(&answer).as_str(), format!("{BYE}?state={state}"));
    session_is_gone(app, s).await;
}

both_stores!(logout_with_an_id_token_hint_ends_the_session_and_returns);
async fn logout_with_an_id_token_hint_ends_the_session_and_returns(backend: Backend) {
    let (app, s) = logged_in(backend).await;
    let pairs = back_to_bye(&s, "paluu 1");
    let response = logout(&app, &s, &pairs).await;
    back_at_bye_and_gone(&app, &s, response, "paluu+1").await;
    app.stop().await;
}

both_stores!(a_logout_posted_from_the_e_services_site_ends_the_session);
/// An e-service posts its logout as a form from its own site: the browser withholds our
/// `SameSite=Lax` cookies from another site's POST. The answer is a page of ours that posts the
/// same fields again, from our origin, which carries them: the session ends. The ID token never
/// reaches a URL (history, a proxy's log). Before, the POST found no session, sent the resident
/// straight back, and ended nothing.
async fn a_logout_posted_from_the_e_services_site_ends_the_session(backend: Backend) {
    let (app, s) = logged_in(backend).await;
    let form = back_to_bye(&s, "paluu 2");
    // What the browser sends for another site's form: the fields and none of our cookies.
    let posted = app.browser().post(app.url("/seinajoki/logout")).form(&form);
    let answer = posted.send().await.unwrap();
    assert!(answer.headers().get("location").is_none());
    assert!(answer.headers().get("set-cookie").is_none());
    // The page's form goes to us; the 303 that answers it, to the e-service (browsers apply
    // form-action to it too).
    let csp = crate::helpers::header(&answer, "content-security-policy").unwrap();
    let issuer = url::Url::parse(&app.issuer("seinajoki")).unwrap();
    let targets = form_action(&csp);
    assert!(
        targets.contains(&issuer.origin().ascii_serialization()),
        "{csp}"
    );
    assert!(targets.contains(&"http://127.0.0.1:9".to_string()), "{csp}");
    let page = answer.text().await.unwrap();
    let (action, mut fields) = self_posting_form(&page);
    assert_eq!(action, app.url("/seinajoki/logout"));
    let mut expected: Vec<(String, String)> = form
        .iter()
        .map(|(name, value)| ((*name).to_string(), (*value).to_string()))
        .collect();
    expected.push(("idp_again".into(), "1".into()));
    fields.sort();
    expected.sort();
    assert_eq!(fields, expected);
    // The page's POST, from our origin, with the resident's cookies.
    let response = s.browser.post(&action).form(&fields).send().await.unwrap();
    back_at_bye_and_gone(&app, &s, response, "paluu+2").await;
    // A browser without cookies is answered the second time as before: back to the e-service.
    let again = app
        .browser()
        .post(&action)
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(location(&again).as_str(), format!("{BYE}?state=paluu+2"));
    app.stop().await;
}

both_stores!(a_post_from_another_site_sets_no_cookie);
/// Another site's page posts to idp; the browser withholds our cookies and says `Sec-Fetch-Site:
/// cross-site`. A logout with `confirm` or `idp_again` (so that it is not posted again) ends
/// nothing, and its answer must not remove the browser's session cookie; a page's form (the
/// language) or a login (`/authorize` with `idp_again`) must not replace its flow cookie. Before,
/// each answer set a cookie: the session left live and unseen, the resident's waiting logins and
/// forms lost, without a click.
async fn a_post_from_another_site_sets_no_cookie(backend: Backend) {
    let (app, s) = logged_in(backend).await;
    let started = rp::start(&s.client, &["openid"], &[("idp_again", "1")]);
    let login: Vec<(String, String)> = started.url.query_pairs().into_owned().collect();
    let login: Vec<(&str, &str)> = login.iter().map(|(n, v)| (&**n, &**v)).collect();
    let language = [("lang", "sv"), ("return", "/seinajoki/account")];
    for (path, form) in [
        ("/seinajoki/logout", &[("confirm", "yes")][..]),
        ("/seinajoki/logout", &[("idp_again", "1")][..]),
        ("/seinajoki/language", &language[..]),
        ("/seinajoki/authorize", &login[..]),
    ] {
        let answer = app
            .browser()
            .post(app.url(path))
            .header("sec-fetch-site", "cross-site")
            .form(form)
            .send()
            .await
            .unwrap();
        let set = answer.headers().get("set-cookie");
        assert!(set.is_none(), "{path} {form:?}: {set:?}");
    }
    // The resident's session lives on, in the browser that holds it.
    let back = rp::prompt_none(&s.browser, &s.client).await;
    assert!(param(&back, "code").is_some(), "{back}");
    app.stop().await;
}

both_stores!(a_forged_hint_or_unregistered_uri_never_redirects);
async fn a_forged_hint_or_unregistered_uri_never_redirects(backend: Backend) {
    let (app, s) = logged_in(backend).await;
    // A hint whose signature does not verify.
    let mut parts: Vec<String> = s.id_token.split('.').map(str::to_string).collect();
    // Change the signature's first character (to one it is not).
    let first = if parts[2].starts_with('A') { "B" } else { "A" };
    parts[2] = format!("{first}{}", &parts[2][1..]);
    let forged = parts.join(".");
    let pairs = [
        ("id_token_hint", forged.as_str()),
        ("post_logout_redirect_uri", BYE),
    ];
    let response = logout(&app, &s, &pairs).await;
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
    let html = response.text().await.unwrap();
    assert_has(&html, "data-reason=\"invalid_id_token_hint\"");
    // The session survived the forged request.
    let back = rp::prompt_none(&s.browser, &s.client).await;
    assert!(param(&back, "code").is_some());

    // A valid hint but an unregistered URI: logged out, not redirected.
    let pairs = [
        ("id_token_hint", s.id_token.as_str()),
        ("post_logout_redirect_uri", "http://127.0.0.1:9/evil"),
    ];
    let response = logout(&app, &s, &pairs).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("location").is_none());
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Olet kirjautunut ulos")
    );
    session_is_gone(&app, &s).await;
    app.stop().await;
}

both_stores!(logout_without_a_hint_asks_the_resident);
async fn logout_without_a_hint_asks_the_resident(backend: Backend) {
    let (app, s) = logged_in(backend).await;
    let pairs = [("client_id", "rp-basic"), ("post_logout_redirect_uri", BYE)];
    let response = logout(&app, &s, &pairs).await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert_has(&html, "Kirjaudutaanko ulos?");
    let csrf = rp::csrf(&html);
    // A forged confirmation (wrong token) only asks again.
    let forged = [
        ("client_id", "rp-basic"),
        ("confirm", "yes"),
        ("csrf", "forged"),
    ];
    let again = confirm(&app, &s, &forged).await;
    assert_eq!(again.status(), 200);
    assert!(again.text().await.unwrap().contains("Kirjaudutaanko ulos?"));
    // The session survived the forged confirmation.
    let back = rp::prompt_none(&s.browser, &s.client).await;
    assert!(param(&back, "code").is_some(), "{back}");
    let confirmed = [
        ("client_id", "rp-basic"),
        ("post_logout_redirect_uri", BYE),
        ("confirm", "yes"),
        ("csrf", csrf.as_str()),
    ];
    let done = confirm(&app, &s, &confirmed).await;
    assert_eq!(location(&done).as_str(), "http://127.0.0.1:9/bye");
    session_is_gone(&app, &s).await;
    app.stop().await;
}

/// The sources of a CSP's `form-action`.
pub fn form_action(csp: &str) -> Vec<String> {
    csp.split(';')
        .map(str::trim)
        .find_map(|directive| directive.strip_prefix("form-action "))
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}
