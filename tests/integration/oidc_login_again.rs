//! A login in a browser that already has a session: the same resident's session is renewed, so
//! that one logout ends every e-service of the browser; another resident's is ended first. And an
//! `id_token_hint` is answered only by a login of its resident.

use diesel::prelude::*;
use idp::store::schema::grants;
use jsonwebtoken::{DecodingKey, Validation};
use openidconnect::TokenResponse;
use serde_json::Value;

use crate::both_stores;
use crate::helpers::journeys::{
    Login, account_with_cookie, client_post, page, post_as_the_page_does, post_with_csrf,
    session_cookie, set_password,
};
use crate::helpers::{Backend, TestApp, first_party_client};
use crate::oidc_backchannel::wait_for;
use crate::rp::{self, Receiver, location, param, start_receiver};

const ERKKI: &str = "erkki@testi.fi";
const ERKKI_PASSWORD: &str = "oikea hevonen patteri";
const AINO: &str = "aino@testi.fi";
const AINO_PASSWORD: &str = "aino hevonen niitty";
/// e-service A: `rp-bcl`, with a back-channel logout endpoint.
const A_CALLBACK: &str = "http://127.0.0.1:9/bcl-callback";

/// The server with Erkki and Aino, `rp-bcl` (e-service A) telling `receiver`'s endpoint `uri`
/// of logouts; `rp-basic` is e-service B.
async fn app_with_a(backend: Backend, uri: &str) -> TestApp {
    TestApp::builder(backend)
        .tenant_toml(&first_party_client(
            "rp-bcl",
            A_CALLBACK,
            &[&format!("backchannel_logout_uri = \"{uri}\"")],
        ))
        .user("seinajoki", ERKKI, ERKKI_PASSWORD, "Erkki")
        .user("seinajoki", AINO, AINO_PASSWORD, "Aino")
        .spawn()
        .await
}

/// The server with Erkki and Aino.
async fn erkki_and_aino(backend: Backend) -> TestApp {
    TestApp::builder(backend)
        .user("seinajoki", ERKKI, ERKKI_PASSWORD, "Erkki")
        .user("seinajoki", AINO, AINO_PASSWORD, "Aino")
        .spawn()
        .await
}

/// e-services A (`rp-bcl`, told of logouts by back-channel at the receiver) and B (`rp-basic`),
/// and one browser: the receiver, its server's handle, the server, A, B, the browser.
type Two = (
    Receiver,
    actix_web::dev::ServerHandle,
    TestApp,
    rp::Rp,
    rp::Rp,
    reqwest::Client,
);

/// [`Two`], on `backend`.
async fn two_e_services(backend: Backend) -> Two {
    let receiver = Receiver::default();
    let (uri, receiver_handle) = start_receiver(receiver.clone());
    let app = app_with_a(backend, &uri).await;
    let a = rp::client(
        &app,
        "seinajoki",
        "rp-bcl",
        Some("rp-bcl-secret"),
        A_CALLBACK,
    )
    .await;
    let b = rp::basic(&app).await;
    let browser = app.browser();
    (receiver, receiver_handle, app, a, b, browser)
}

/// A refresh of `refresh_token` by e-service A: (status, answer).
async fn refresh_at_a(app: &TestApp, refresh_token: &str) -> (u16, Value) {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    let auth = ("rp-bcl", "rp-bcl-secret");
    client_post(app, "/seinajoki/token", auth, &form).await
}

/// The claims of the one logout token `receiver` got, verified for `rp-bcl`.
async fn the_logout_token(app: &TestApp, receiver: &Receiver) -> Value {
    wait_for(receiver, 1, app).await;
    let bodies = receiver.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1, "one logout token: {bodies:?}");
    let token = url::form_urlencoded::parse(bodies[0].as_bytes())
        .find(|(k, _)| k == "logout_token")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    let jwks: jsonwebtoken::jwk::JwkSet = app.get("/seinajoki/jwks").await.json().await.unwrap();
    let key = DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).unwrap()).unwrap();
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&["rp-bcl"]);
    validation.set_issuer(&[app.issuer("seinajoki")]);
    validation.validate_exp = false; // the server's clock was moved on
    jsonwebtoken::decode::<Value>(&token, &key, &validation)
        .unwrap()
        .claims
}

/// The session `sid` of `sub` ended as a logout ends it: its refresh token `refresh` refused at A
/// (exactly `invalid_grant`), and A told with a logout token naming both.
async fn ended_at_a(app: &TestApp, receiver: &Receiver, refresh: &str, (sid, sub): (&str, &str)) {
    let (status, answer) = refresh_at_a(app, refresh).await;
    assert_eq!(
        (status, &answer["error"]),
        (400, &Value::from("invalid_grant"))
    );
    let claims = the_logout_token(app, receiver).await;
    assert_eq!(claims["sid"], sid);
    assert_eq!(claims["sub"], sub);
}

/// Logs in as `email` at e-service A with "remember me" in `browser`: (refresh token, `sid`,
/// `sub`).
async fn remembered_at_a(
    browser: &reqwest::Client,
    a: &rp::Rp,
    email: &str,
    password: &str,
) -> (String, String, String) {
    let login = Login::start(browser, a, &[], &[]).await;
    let back = location(&login.submit(email, password, true).await);
    let redeemed = login.redeem(a, &back).await;
    let payload = redeemed.payload();
    (
        redeemed.refresh_token(),
        payload["sid"].as_str().unwrap().to_string(),
        payload["sub"].as_str().unwrap().to_string(),
    )
}

both_stores!(an_authorization_request_posted_from_an_e_services_site_finds_the_session);
/// An e-service posts its authorization request as a form from its own site, which carries none
/// of our `SameSite=Lax` cookies: a page of ours posts it again from our origin, with them, so
/// single sign-on answers it and the browser's flow cookie stays. Before, the POST found no
/// session: `prompt=none` was `login_required` for a resident signed in, and a login was asked.
async fn an_authorization_request_posted_from_an_e_services_site_finds_the_session(
    backend: Backend,
) {
    let app = app_with_a(backend, "http://127.0.0.1:9/unused").await;
    let browser = app.browser();
    let basic = rp::basic(&app).await;
    rp::redeem_login(&browser, &basic, &[], ERKKI, ERKKI_PASSWORD).await;
    for extra in [&[("prompt", "none")][..], &[]] {
        let started = rp::start(&basic, &[], extra);
        let form: Vec<(String, String)> = started.url.query_pairs().into_owned().collect();
        let posted = app.browser().post(app.url("/seinajoki/authorize"));
        let answer = posted.form(&form).send().await.unwrap();
        assert!(answer.headers().get("set-cookie").is_none(), "no cookie");
        let csp = crate::helpers::header(&answer, "content-security-policy").unwrap();
        let back = location(&post_as_the_page_does(&browser, answer).await);
        assert_eq!(back.path(), "/callback", "{back}");
        // The browser checks the redirect that answers the page's form against its form-action.
        let to = back.origin().ascii_serialization();
        assert!(crate::oidc_logout::form_action(&csp).contains(&to), "{csp}");
        assert_eq!(param(&back, "state"), Some(started.state.secret().clone()));
        let code = param(&back, "code").expect("a code by single sign-on");
        let tokens = rp::exchange(&basic, &code, started.verifier).await.unwrap();
        assert!(tokens.id_token().is_some());
    }
    app.stop().await;
}

both_stores!(a_second_login_renews_the_session_and_one_logout_ends_both_e_services);
async fn a_second_login_renews_the_session_and_one_logout_ends_both_e_services(backend: Backend) {
    let (receiver, receiver_handle, app, a, b, browser) = two_e_services(backend).await;

    // Erkki at A, remembered; then B asks for the password again (prompt=login).
    let (refresh_a, sid_a, _) = remembered_at_a(&browser, &a, ERKKI, ERKKI_PASSWORD).await;
    app.clock.advance(2);
    let login = Login::start(&browser, &b, &[], &[("prompt", "login")]).await;
    let back = location(&login.submit(ERKKI, ERKKI_PASSWORD, false).await);
    let redeemed_b = login.redeem(&b, &back).await;
    // A's grant stays with the renewed session: its refresh token works (and rotates).
    let (status, answer) = refresh_at_a(&app, &refresh_a).await;
    assert_eq!(status, 200, "{answer}");
    let refresh_a = answer["refresh_token"].as_str().unwrap().to_string();

    // Logging out at B ends the one session: A's refresh token with it, and A is told.
    let hint = redeemed_b.tokens.id_token().unwrap().to_string();
    let mut logout = url::Url::parse(&app.url("/seinajoki/logout")).unwrap();
    logout.query_pairs_mut().append_pair("id_token_hint", &hint);
    assert_eq!(browser.get(logout).send().await.unwrap().status(), 200);
    let (status, answer) = refresh_at_a(&app, &refresh_a).await;
    assert_eq!(
        (status, &answer["error"]),
        (400, &Value::from("invalid_grant"))
    );
    let claims = the_logout_token(&app, &receiver).await;
    assert_eq!(claims["sid"], sid_a.as_str());
    assert_eq!(claims["sub"], redeemed_b.claims.subject().as_str());
    assert_eq!(
        redeemed_b.payload()["sid"].as_str(),
        Some(sid_a.as_str()),
        "the second login renews the browser's session, it does not start another"
    );
    app.stop().await;
    receiver_handle.stop(true).await;
}

both_stores!(a_login_as_another_resident_ends_the_first_ones_session);
async fn a_login_as_another_resident_ends_the_first_ones_session(backend: Backend) {
    let (receiver, receiver_handle, app, a, b, browser) = two_e_services(backend).await;

    // Erkki at A, remembered; then Aino at B in the same browser (prompt=login).
    let (refresh_erkki, sid_erkki, sub_erkki) =
        remembered_at_a(&browser, &a, ERKKI, ERKKI_PASSWORD).await;
    let login = Login::start(&browser, &b, &[], &[("prompt", "login")]).await;
    let back = location(&login.submit(AINO, AINO_PASSWORD, false).await);
    let aino = login.redeem(&b, &back).await;
    assert_ne!(aino.claims.subject().as_str(), sub_erkki);
    assert_ne!(aino.payload()["sid"].as_str(), Some(sid_erkki.as_str()));

    // Erkki's session ended as a logout ends it: his refresh token refused, A told.
    ended_at_a(&app, &receiver, &refresh_erkki, (&sid_erkki, &sub_erkki)).await;

    // Aino is signed in: A answers her at once, in her session.
    let started = rp::start(&a, &[], &[("prompt", "none")]);
    let back = location(&browser.get(started.url.clone()).send().await.unwrap());
    let at_a = rp::redeem(&a, started, &back).await;
    assert_eq!(at_a.claims.subject(), aino.claims.subject());
    assert_eq!(at_a.payload()["sid"], aino.payload()["sid"]);
    app.stop().await;
    receiver_handle.stop(true).await;
}

both_stores!(an_id_token_hint_is_answered_only_by_a_login_of_its_resident);
async fn an_id_token_hint_is_answered_only_by_a_login_of_its_resident(backend: Backend) {
    let app = erkki_and_aino(backend).await;
    let b = rp::basic(&app).await;
    let browser = app.browser();
    let erkki = rp::redeem_login(&browser, &b, &[], ERKKI, ERKKI_PASSWORD).await;
    let hint = erkki.tokens.id_token().unwrap().to_string();
    let reconfirm = [("prompt", "login"), ("id_token_hint", hint.as_str())];

    // B asks Erkki to confirm again; Aino logs in at his browser: refused, nothing issued.
    let login = Login::start(&browser, &b, &[], &reconfirm).await;
    let back = location(&login.submit(AINO, AINO_PASSWORD, false).await);
    assert_eq!(back.path(), "/callback", "{back}");
    assert_eq!(param(&back, "error").as_deref(), Some("login_required"));
    assert_eq!(
        param(&back, "error_description").as_deref(),
        Some("the login is not of the resident the id_token_hint names")
    );
    assert_eq!(
        param(&back, "state").as_deref(),
        Some(login.started().state.secret().as_str())
    );
    assert_eq!(param(&back, "code"), None);
    let aino_id = app.user_id("seinajoki", AINO).await;
    let grants_of_aino = app
        .db_run(move |conn| {
            grants::table
                .filter(grants::user_id.eq(aino_id))
                .count()
                .get_result::<i64>(conn)
                .unwrap()
        })
        .await;
    assert_eq!(grants_of_aino, 0, "no grant, no code for Aino");

    // Erkki himself answers it.
    let login = Login::start(&browser, &b, &[], &reconfirm).await;
    let back = location(&login.submit(ERKKI, ERKKI_PASSWORD, false).await);
    let again = login.redeem(&b, &back).await;
    assert_eq!(again.claims.subject(), erkki.claims.subject());
    app.stop().await;
}

both_stores!(a_mailed_link_that_logs_in_ends_another_residents_session);
async fn a_mailed_link_that_logs_in_ends_another_residents_session(backend: Backend) {
    let (receiver, receiver_handle, app, a, b, browser) = two_e_services(backend).await;

    // Aino at A, remembered; then at B, in the same browser, Erkki resets his password and the
    // link continues his login.
    let (refresh_aino, sid_aino, sub_aino) =
        remembered_at_a(&browser, &a, AINO, AINO_PASSWORD).await;
    let login = Login::start(&browser, &b, &[], &[("prompt", "login")]).await;
    let forgot = app.url(&format!("/seinajoki/forgot?request={}", login.request));
    let form = page(&browser, forgot).await;
    let fields = [("request", login.request.as_str()), ("email", ERKKI)];
    let asked = post_with_csrf(&browser, app.url("/seinajoki/forgot"), &form, &fields).await;
    assert_eq!(asked.status(), 200);
    let mails = app.mails();
    let link = app.link_in(&mails[0], "/seinajoki/reset?token=").unwrap();
    let new = "uusi pitkä salasana";
    let back = location(&set_password(&browser, &link, new).await);
    let erkki = login.redeem(&b, &back).await;
    assert_ne!(erkki.claims.subject().as_str(), sub_aino);

    // Aino's session ended as a logout ends it.
    ended_at_a(&app, &receiver, &refresh_aino, (&sid_aino, &sub_aino)).await;
    app.stop().await;
    receiver_handle.stop(true).await;
}

both_stores!(a_login_posted_twice_before_its_answer_goes_on_both_times);
/// A double click on "Log in": the second post leaves before the first answer arrives, so it
/// carries the browser's flow cookie but not the session the first started. It goes on as the
/// first did, with a code of its own in that one session (its cookie renewed: the browser keeps
/// the last answer's), never "expired" — whether it reached the server after the first answer or
/// during it. Posted again after the answer arrived (Back and resubmit), or by another resident,
/// the request stays answered. Before, the second post said "expired" to a resident just logged in.
async fn a_login_posted_twice_before_its_answer_goes_on_both_times(backend: Backend) {
    let app = erkki_and_aino(backend).await;
    let b = rp::basic(&app).await;
    let erkki = [("identifier", ERKKI), ("password", ERKKI_PASSWORD)];

    // After the first answer.
    let login = Login::fresh(&app, &b).await;
    let (_, page) = login.identify(ERKKI).await;
    let first = login.post("/login/password", &page, &erkki).await;
    assert_eq!(first.status(), 303);
    let first_cookie = session_cookie(&first, "seinajoki").unwrap();
    let second = login.post_again("/login/password", &page, &erkki).await;
    assert_eq!(second.status(), 303, "{}", second.text().await.unwrap());
    let second_cookie = session_cookie(&second, "seinajoki").unwrap();
    assert_ne!(second_cookie, first_cookie);
    let back = location(&second);
    assert_eq!(
        account_with_cookie(&app, "seinajoki", &first_cookie)
            .await
            .status(),
        303
    );
    assert_eq!(
        account_with_cookie(&app, "seinajoki", &second_cookie)
            .await
            .status(),
        200
    );
    let redeemed = login.redeem(&b, &back).await;
    assert!(redeemed.payload()["sub"].is_string());
    assert_eq!(app.audited("seinajoki", "login.failed").await.len(), 0);

    // During it: both posts leave at once.
    let login = Login::fresh(&app, &b).await;
    let (_, page) = login.identify(ERKKI).await;
    let (one, two) = tokio::join!(
        login.post_again("/login/password", &page, &erkki),
        login.post_again("/login/password", &page, &erkki),
    );
    assert_eq!((one.status().as_u16(), two.status().as_u16()), (303, 303));
    let sessions = [&one, &two].map(|r| session_cookie(r, "seinajoki").unwrap());
    let live = [
        account_with_cookie(&app, "seinajoki", &sessions[0])
            .await
            .status(),
        account_with_cookie(&app, "seinajoki", &sessions[1])
            .await
            .status(),
    ];
    assert!(
        live == [200, 303] || live == [303, 200],
        "one session: {live:?}"
    );

    // Logged out since (the next resident's turn at a shared computer): the first resident's
    // login posted again finds the request answered; nothing starts.
    let login = Login::fresh(&app, &b).await;
    let (_, page) = login.identify(ERKKI).await;
    assert_eq!(
        login.post("/login/password", &page, &erkki).await.status(),
        303
    );
    let bye = app.url("/seinajoki/logout?client_id=rp-basic");
    let asked = crate::helpers::journeys::page(&login.browser, bye).await;
    let token = rp::csrf(&asked);
    let confirmed = [
        ("client_id", "rp-basic"),
        ("confirm", "yes"),
        ("csrf", &token),
    ];
    let out = login
        .browser
        .post(app.url("/seinajoki/logout"))
        .form(&confirmed);
    assert!(out.send().await.unwrap().status().is_success());
    let after = login.post_again("/login/password", &page, &erkki).await;
    assert_eq!(after.status(), 400);
    assert_eq!(session_cookie(&after, "seinajoki"), None);

    // Back and resubmit in the browser the answer reached, or another resident's password: the
    // request is answered.
    let login = Login::fresh(&app, &b).await;
    let (_, page) = login.identify(ERKKI).await;
    assert_eq!(
        login.post("/login/password", &page, &erkki).await.status(),
        303
    );
    let resubmitted = login.post("/login/password", &page, &erkki).await;
    assert_eq!(resubmitted.status(), 400);
    let aino = [("identifier", AINO), ("password", AINO_PASSWORD)];
    let other = login.post_again("/login/password", &page, &aino).await;
    assert_eq!(other.status(), 400);
    assert!(other.text().await.unwrap().contains("vanhentunut"));
    assert_eq!(app.audited("seinajoki", "login.failed").await.len(), 0);
    // A right password that went nowhere is audited all the same, never silently.
    let refused = app.audit_details("seinajoki", "login.refused").await;
    let answered = serde_json::json!({"reason": "request_answered"});
    assert_eq!(refused, [answered.clone(), answered.clone(), answered]);
    app.stop().await;
}
