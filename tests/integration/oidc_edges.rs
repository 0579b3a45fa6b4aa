//! The authorization endpoint's refusals and choices: pages that never redirect, errors sent to
//! the client, prompt and max_age, form_post, consent, expiry.

use idp::clock::Clock;
use serde_json::Value;

use crate::both_stores;
use crate::helpers::journeys::{Login, page, says, session_cookie};
use crate::helpers::{Backend, TestApp, assert_has};
use crate::rp::{self, location, param};

const PASSWORD: &str = "oikea hevonen patteri";

async fn app_with_user(backend: Backend) -> TestApp {
    TestApp::with_user(backend, "erkki@testi.fi", PASSWORD, "Erkki Esimerkki").await
}

fn authorize_url(app: &TestApp, pairs: &[(&str, &str)]) -> url::Url {
    let mut url = url::Url::parse(&app.url("/seinajoki/authorize")).unwrap();
    url.query_pairs_mut().extend_pairs(pairs);
    url
}

const BASIC: [(&str, &str); 5] = [
    ("client_id", "rp-basic"),
    ("redirect_uri", "http://127.0.0.1:9/callback"),
    ("response_type", "code"),
    ("scope", "openid"),
    ("state", "s t&a=t/e"),
];

fn with(
    base: &[(&'static str, &'static str)],
    changes: &[(&'static str, &'static str)],
) -> Vec<(&'static str, &'static str)> {
    let mut pairs: Vec<_> = base
        .iter()
        .filter(|(k, _)| !changes.iter().any(|(c, _)| c == k))
        .copied()
        .collect();
    pairs.extend(changes.iter().filter(|(_, v)| !v.is_empty()).copied());
    pairs
}

both_stores!(a_bad_client_or_redirect_uri_gets_a_page_never_a_redirect);
async fn a_bad_client_or_redirect_uri_gets_a_page_never_a_redirect(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (changes, reason) in [
        (
            vec![("redirect_uri", "http://127.0.0.1:9/evil")],
            "unregistered_redirect_uri",
        ),
        (
            vec![("redirect_uri", "http://127.0.0.1:9/callback/")],
            "unregistered_redirect_uri",
        ),
        (
            vec![("redirect_uri", "http://127.0.0.1:9/callback?x=1")],
            "unregistered_redirect_uri",
        ),
        (vec![("redirect_uri", "")], "missing_redirect_uri"),
        (vec![("client_id", "nobody")], "unknown_client"),
        (vec![("client_id", "")], "missing_client"),
        // Broken and unregistered at once: the page wins.
        (
            vec![
                ("redirect_uri", "http://127.0.0.1:9/evil"),
                ("response_type", "token"),
            ],
            "unregistered_redirect_uri",
        ),
    ] {
        let response = app
            .http
            .get(authorize_url(&app, &with(&BASIC, &changes)))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{changes:?}");
        assert!(response.headers().get("location").is_none(), "{changes:?}");
        let html = response.text().await.unwrap();
        assert!(
            html.contains(&format!("data-reason=\"{reason}\"")),
            "{changes:?}: {html}"
        );
    }
    app.stop().await;
}

both_stores!(a_native_apps_loopback_redirect_takes_any_port);
/// A native app (the public `rp-public`, registered at `http://127.0.0.1:9/public-callback`)
/// listens on whatever port the system gives it: its loopback redirect URI takes any port at the
/// request (RFC 8252 §7.3), the code goes there and exchanges with that URI, and the login page's
/// `form-action` lets the browser follow. Only so: a confidential client's port, the name
/// `localhost`, another path or a trailing slash are not registered.
async fn a_native_apps_loopback_redirect_takes_any_port(backend: Backend) {
    let app = app_with_user(backend).await;
    let redirect = "http://127.0.0.1:54321/public-callback";
    let client = rp::client(&app, "seinajoki", "rp-public", None, redirect).await;
    let started = rp::start(&client, &[], &[]);
    let browser = app.browser();
    let login = location(&browser.get(started.url.clone()).send().await.unwrap());
    let shown = browser.get(login.clone()).send().await.unwrap();
    let csp = shown.headers()["content-security-policy"].to_str().unwrap();
    let sources: Vec<&str> = csp.split([' ', ';']).collect();
    assert!(sources.contains(&"http://127.0.0.1:*"), "{csp}");
    let back = rp::log_in(&browser, &started.url, "erkki@testi.fi", PASSWORD).await;
    assert_eq!(back.port(), Some(54321), "{back}");
    assert_eq!(back.path(), "/public-callback");
    let redeemed = rp::redeem(&client, started, &back).await;
    assert_eq!(redeemed.payload()["aud"], serde_json::json!(["rp-public"]));

    let public = [
        ("client_id", "rp-public"),
        (
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        ),
        ("code_challenge_method", "S256"),
    ];
    for (client, uri) in [
        (&BASIC[..], "http://127.0.0.1:54321/callback"),
        (&public[..], "http://localhost:9/public-callback"),
        (&public[..], "http://127.0.0.1:54321/other-callback"),
        (&public[..], "http://127.0.0.1:54321/public-callback/"),
        (&public[..], "http://[::1]:54321/public-callback"),
        (&public[..], "https://127.0.0.1:54321/public-callback"),
    ] {
        let pairs = with(&with(&BASIC, client), &[("redirect_uri", uri)]);
        let response = app
            .http
            .get(authorize_url(&app, &pairs))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{uri}");
        let html = response.text().await.unwrap();
        assert_has(&html, "data-reason=\"unregistered_redirect_uri\"");
    }
    app.stop().await;
}

both_stores!(protocol_errors_go_back_to_the_client);
async fn protocol_errors_go_back_to_the_client(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (changes, error, description) in [
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
            "only response_type=code is supported",
        ),
        (
            vec![("response_type", "")],
            "invalid_request",
            "response_type is required",
        ),
        (
            vec![("scope", "email profile")],
            "invalid_scope",
            "scope must contain openid",
        ),
        (
            vec![
                (
                    "code_challenge",
                    "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                ),
                ("code_challenge_method", "plain"),
            ],
            "invalid_request",
            "code_challenge_method must be S256 (plain is not supported)",
        ),
        (
            vec![("prompt", "none")],
            "login_required",
            "the resident must log in",
        ),
        (
            vec![("prompt", "none login")],
            "invalid_request",
            "prompt=none cannot be combined with other values",
        ),
        (
            vec![("max_age", "-1")],
            "invalid_request",
            "max_age must be a non-negative integer",
        ),
        (
            vec![("request", "eyJ")],
            "request_not_supported",
            "request objects are not supported",
        ),
        (
            vec![("id_token_hint", "not.a.token")],
            "invalid_request",
            "id_token_hint is not an ID token of this issuer",
        ),
    ] {
        let response = app
            .http
            .get(authorize_url(&app, &with(&BASIC, &changes)))
            .send()
            .await
            .unwrap();
        let back = location(&response);
        assert_eq!(
            back.as_str().split('?').next(),
            Some("http://127.0.0.1:9/callback"),
            "{changes:?}"
        );
        assert_eq!(param(&back, "error").as_deref(), Some(error), "{changes:?}");
        assert_eq!(
            param(&back, "error_description").as_deref(),
            Some(description),
            "{changes:?}"
        );
        assert_eq!(
            param(&back, "state").as_deref(),
            Some("s t&a=t/e"),
            "state byte for byte"
        );
        assert_eq!(param(&back, "iss"), Some(app.issuer("seinajoki")));
        assert!(param(&back, "code").is_none());
    }
    // A public client must use PKCE.
    let public = [
        ("client_id", "rp-public"),
        ("redirect_uri", "http://127.0.0.1:9/public-callback"),
        ("response_type", "code"),
        ("scope", "openid"),
    ];
    // And a confidential client whose city asks it (`require_pkce`, RFC 9700 §2.1.1).
    let third = [
        ("client_id", "rp-third"),
        ("redirect_uri", "http://127.0.0.1:9/third-callback"),
        ("response_type", "code"),
        ("scope", "openid"),
    ];
    for (pairs, description) in [
        (
            public,
            "code_challenge (PKCE) is required for public clients",
        ),
        (third, "code_challenge (PKCE) is required for this client"),
    ] {
        let url = authorize_url(&app, &pairs);
        let back = location(&app.http.get(url).send().await.unwrap());
        assert_eq!(param(&back, "error").as_deref(), Some("invalid_request"));
        assert_eq!(
            param(&back, "error_description").as_deref(),
            Some(description)
        );
    }
    app.stop().await;
}

both_stores!(prompt_and_max_age_ask_for_the_password_again);
async fn prompt_and_max_age_ask_for_the_password_again(backend: Backend) {
    let app = app_with_user(backend).await;
    let client = rp::basic(&app).await;
    let browser = app.browser();
    let back = rp::log_in_at(&browser, &client, "erkki@testi.fi", PASSWORD).await;
    assert!(param(&back, "code").is_some());
    // With a session, prompt=none answers at once.
    let back = rp::prompt_none(&browser, &client).await;
    assert!(param(&back, "code").is_some(), "{back}");
    // max_age=0 is prompt=login (errata set 2), even right after the login, and with prompt=none
    // it is login_required.
    let next = rp::authorize(&browser, &client, &[("max_age", "0")]).await;
    assert_eq!(next.path(), "/seinajoki/login", "{next}");
    let quiet = [("max_age", "0"), ("prompt", "none")];
    let back = rp::authorize(&browser, &client, &quiet).await;
    assert_eq!(param(&back, "error").as_deref(), Some("login_required"));
    assert_eq!(
        param(&back, "error_description").as_deref(),
        Some("the resident must log in")
    );
    for extra in [("max_age", "0"), ("prompt", "login")] {
        app.clock.advance(2);
        let started = rp::start(&client, &[], &[extra]);
        let next = location(&browser.get(started.url.clone()).send().await.unwrap());
        assert_eq!(next.path(), "/seinajoki/login", "{extra:?}");
        let redeemed =
            rp::log_in_and_redeem(&browser, &client, started, "erkki@testi.fi", PASSWORD).await;
        let age = app.clock.now().and_utc() - redeemed.claims.auth_time().unwrap();
        assert!(age.num_seconds().abs() < 60, "a fresh auth_time: {age:?}");
    }
    // A wrong password: one generic message, no session.
    let login = Login::fresh(&app, &client).await;
    let page = login.submit("erkki@testi.fi", "väärä", false).await;
    assert_eq!(page.status(), 401);
    let html = page.text().await.unwrap();
    assert_has(
        &html,
        "Sähköpostiosoite / käyttäjätunnus tai salasana on väärin.",
    );
    app.stop().await;
}

both_stores!(a_wrong_client_secret_is_401_invalid_client);
async fn a_wrong_client_secret_is_401_invalid_client(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for request in [
        app.http
            .post(app.url("/seinajoki/token"))
            .basic_auth("rp-basic", Some("wrong")),
        app.http
            .post(app.url("/seinajoki/token"))
            .basic_auth("nobody", Some("x")),
    ] {
        let response = request
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", "x"),
                ("redirect_uri", "http://127.0.0.1:9/callback"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(
            response.headers()["www-authenticate"],
            "Basic realm=\"idp\", charset=\"UTF-8\""
        );
        assert_eq!(response.headers()["cache-control"], "no-store");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body,
            serde_json::json!({"error": "invalid_client", "error_description": "unknown client or wrong credentials"})
        );
    }
    // The registered method only: rp-basic may not put its secret in the body.
    let response = app
        .http
        .post(app.url("/seinajoki/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "rp-basic"),
            ("client_secret", "rp-basic-secret"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["error_description"],
        "the client must authenticate with its registered token_endpoint_auth_method"
    );
    // Not a form: 400 invalid_request.
    let response = app
        .http
        .post(app.url("/seinajoki/token"))
        .basic_auth("rp-basic", Some("rp-basic-secret"))
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    app.stop().await;
}

both_stores!(an_expired_code_is_refused);
async fn an_expired_code_is_refused(backend: Backend) {
    let app = app_with_user(backend).await;
    let client = rp::basic(&app).await;
    let started = rp::start(&client, &[], &[]);
    let back = rp::log_in(&app.browser(), &started.url, "erkki@testi.fi", PASSWORD).await;
    app.clock.advance(61);
    let error = rp::exchange(&client, &param(&back, "code").unwrap(), started.verifier)
        .await
        .unwrap_err();
    assert_eq!(error, "invalid_grant: the code is invalid, expired or used");
    app.stop().await;
}

both_stores!(form_post_answers_with_a_self_submitting_form);
/// In the login's language: its `lang`, title and button (Swedish here; the page was Finnish
/// with English beside it, whatever the resident's language).
async fn form_post_answers_with_a_self_submitting_form(backend: Backend) {
    let app = app_with_user(backend).await;
    let client = rp::basic(&app).await;
    let form_post = [("response_mode", "form_post"), ("ui_locales", "sv")];
    let login = Login::start(&app.browser(), &client, &[], &form_post).await;
    let response = login.submit("erkki@testi.fi", PASSWORD, false).await;
    assert_eq!(response.status(), 200);
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert_has(&csp, "form-action http://127.0.0.1:9;");
    assert_has(&csp, "script-src 'sha256-");
    let html = response.text().await.unwrap();
    assert_has(&html, r#"<html lang="sv">"#);
    assert_has(&html, "<title>Återvänder till tjänsten</title>");
    assert_has(&html, "<button type=\"submit\">Fortsätt</button>");
    assert_has(
        &html,
        r#"<form method="post" action="http://127.0.0.1:9/callback">"#,
    );
    assert_has(&html, r#"<input type="hidden" name="code" value=""#);
    assert!(
        html.contains(&format!(
            r#"<input type="hidden" name="state" value="{}">"#,
            login.started().state.secret()
        )),
        "{html}"
    );
    // This tenant's issuer, exactly.
    let iss = app.issuer("seinajoki");
    assert_has(
        &html,
        &format!(r#"<input type="hidden" name="iss" value="{iss}">"#),
    );
    app.stop().await;
}

both_stores!(onward_origins_open_form_action_to_what_their_clients_callbacks_send_on_to);
/// A client's `onward_origins` (where its callback redirects the browser on to) join the pages'
/// `form-action`, which browsers apply to every redirect after a form (`browser::callbacks`);
/// a form_post page's only those of the client registered at its redirect URI (a native app's at
/// any port of its loopback URI), and it is framed by that URI's origin alone.
async fn onward_origins_open_form_action_to_what_their_clients_callbacks_send_on_to(
    backend: Backend,
) {
    use crate::oidc_logout::form_action;
    let clients = "\n[[clients]]\nclient_id = \"sama\"\nclient_secret = \"s\"\n\
        redirect_uris = [\"http://127.0.0.1:9/toinen\"]\n\
        onward_origins = [\"https://palvelu.example.fi\"]\nfirst_party = true\n\
        \n[[clients]]\nclient_id = \"natiivi\"\ntoken_endpoint_auth_method = \"none\"\n\
        redirect_uris = [\"http://127.0.0.1/natiivi\"]\n\
        onward_origins = [\"https://sovellus.example.fi\"]\nfirst_party = true\n";
    let app = TestApp::builder(backend)
        .tenant_toml(clients)
        .user("seinajoki", "erkki@testi.fi", PASSWORD, "Erkki")
        .spawn()
        .await;
    let form_post = [("response_mode", "form_post")];
    let cases = [
        (
            "rp-basic",
            Some("rp-basic-secret"),
            "http://127.0.0.1:9/callback",
            None,
        ),
        (
            "sama",
            Some("s"),
            "http://127.0.0.1:9/toinen",
            Some("https://palvelu.example.fi"),
        ),
        (
            "natiivi",
            None,
            "http://127.0.0.1:54321/natiivi",
            Some("https://sovellus.example.fi"),
        ),
    ];
    for (id, secret, redirect, onward) in cases {
        let client = rp::client(&app, "seinajoki", id, secret, redirect).await;
        let login = Login::start(&app.browser(), &client, &[], &form_post).await;
        let shown = login.browser.get(login.url.clone()).send().await.unwrap();
        let csp = crate::helpers::header(&shown, "content-security-policy").unwrap();
        let targets = form_action(&csp);
        for every in ["https://palvelu.example.fi", "https://sovellus.example.fi"] {
            assert!(targets.contains(&every.to_string()), "{csp}");
        }
        let response = login.submit("erkki@testi.fi", PASSWORD, false).await;
        assert_eq!(response.status(), 200, "{id}");
        let csp = crate::helpers::header(&response, "content-security-policy").unwrap();
        let origin = redirect.rsplit_once('/').unwrap().0;
        let expected: Vec<&str> = [origin].into_iter().chain(onward).collect();
        assert_eq!(form_action(&csp), expected, "{csp}");
        assert_has(&csp, &format!("frame-ancestors {origin};"));
    }
    app.stop().await;
}

/// Posts `decision` on the consent page of `request` in `browser` (with the CSRF token `token`).
async fn decide(
    app: &TestApp,
    browser: &reqwest::Client,
    (token, request): (&str, &str),
    decision: &str,
) -> reqwest::Response {
    browser
        .post(app.url("/seinajoki/consent"))
        .form(&[
            ("csrf", token),
            ("request", request),
            ("decision", decision),
        ])
        .send()
        .await
        .unwrap()
}

both_stores!(a_third_party_client_asks_consent_once);
async fn a_third_party_client_asks_consent_once(backend: Backend) {
    let app = app_with_user(backend).await;
    let client = rp::third(&app).await;
    let browser = app.browser();
    let started = rp::start(&client, &["email"], &[]);
    let login = location(&browser.get(started.url.clone()).send().await.unwrap());
    let done = rp::submit_login(&browser, &login, "erkki@testi.fi", PASSWORD, false).await;
    let cookie = session_cookie(&done, "seinajoki").unwrap();
    let consent = location(&done);
    assert_eq!(consent.path(), "/seinajoki/consent");
    let page = page(&browser, consent.clone()).await;
    assert_has(&page, "Kolmannen osapuolen palvelu");
    // What is shared, in the resident's words, one item a scope; not the scopes' names.
    assert_has(&page, "<li>tunniste, josta palvelu tunnistaa sinut</li>");
    assert_has(&page, "<li>sähköpostiosoitteesi</li>");
    assert!(!page.contains("openid email"), "{page}");
    let token = rp::csrf(&page);
    let request = param(&consent, "request").unwrap();
    let approved = decide(&app, &browser, (&token, &request), "approve").await;
    rp::redeem(&client, started, &location(&approved)).await;
    // When and to what the resident agreed is in the trail (the consent row goes with a
    // withdrawal or a recovery).
    let given = app.audited("seinajoki", "consent.given").await;
    assert_eq!(
        (
            given.len(),
            given[0].client_id.as_deref(),
            given[0].detail.as_deref()
        ),
        (1, Some("rp-third"), Some(r#"{"scope":"openid email"}"#))
    );

    // Consent is remembered: prompt=none now answers with a code.
    let quiet = rp::start(&client, &["email"], &[("prompt", "none")]);
    let back = location(&browser.get(quiet.url).send().await.unwrap());
    assert!(param(&back, "code").is_some(), "{back}");

    // prompt=consent asks again; declining answers access_denied.
    let asked = rp::start(&client, &["email"], &[("prompt", "consent")]);
    let consent = location(&browser.get(asked.url).send().await.unwrap());
    assert_eq!(consent.path(), "/seinajoki/consent");
    let request = param(&consent, "request").unwrap();
    let denied = decide(&app, &browser, (&token, &request), "deny").await;
    let back = location(&denied);
    assert_eq!(param(&back, "error").as_deref(), Some("access_denied"));
    assert_eq!(
        param(&back, "state").as_deref(),
        Some(asked.state.secret().as_str())
    );

    // A request cannot be finished from another browser (no flow cookie).
    let stranger = app.browser();
    let response = decide(&app, &stranger, (&token, &request), "approve").await;
    assert_eq!(response.status(), 400);

    // Nor from another browser with a copy of the session cookie but its own flow cookie and
    // CSRF token: the request is not its own, and nothing is agreed.
    let asked = rp::start(&client, &["email"], &[("prompt", "consent")]);
    let consent = location(&browser.get(asked.url.clone()).send().await.unwrap());
    assert_eq!(consent.path(), "/seinajoki/consent");
    let request = param(&consent, "request").unwrap();
    let copy = with_session_copy(&app, &cookie);
    let opened = copy.get(consent.clone()).send().await.unwrap();
    let html = says(opened, 400, "data-reason=\"expired\"").await;
    let its_token = rp::csrf(&html);
    assert_ne!(its_token, token);
    let refused = decide(&app, &copy, (&its_token, &request), "approve").await;
    says(refused, 400, "data-reason=\"expired\"").await;
    assert_eq!(app.audited("seinajoki", "consent.given").await.len(), 1);
    // The request's own browser still finishes it.
    let approved = decide(&app, &browser, (&token, &request), "approve").await;
    rp::redeem(&client, asked, &location(&approved)).await;
    app.stop().await;
}

/// A browser of `app` whose only cookie is a copy of `cookie`, a session cookie of seinajoki.
fn with_session_copy(app: &TestApp, cookie: &str) -> reqwest::Client {
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let url = app.url("/").parse().unwrap();
    jar.add_cookie_str(&format!("idp-session-seinajoki={cookie}"), &url);
    TestApp::browser_builder()
        .cookie_provider(jar)
        .build()
        .unwrap()
}
