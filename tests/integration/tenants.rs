//! Tenant isolation. The two demo cities have the same e-services (client ids and secrets, a
//! confidential and a public client), the same resident's address and the same old subject, as
//! when one vendor's e-service runs in several cities. Every token, session and link of one city
//! is crossed to the other at every endpoint that takes it, both ways: each is answered exactly
//! as an unknown one would be, and revokes nothing at home.

use diesel::prelude::*;
use idp::store::schema::users;
use serde_json::Value;
use url::Url;

use crate::both_stores;
use crate::helpers::journeys::{Login, sign_in};
use crate::helpers::{Backend, Old, TestApp, assert_has, header};
use crate::rp::{self, location, param};

const CITIES: [(&str, &str); 2] = [("seinajoki", "kouvola"), ("kouvola", "seinajoki")];
const EMAIL: &str = "asukas@testi.fi";
const PASSWORD: &str = "kaupungin oma salasana";
/// The subject both cities' residents carry (old systems numbered their users alike).
const SUBJECT: &str = "OLD-1001";
const LINK_EXPIRED: &str = "Linkki on vanhentunut tai jo käytetty. Pyydä uusi linkki.";

/// A client of the same id in both cities.
#[derive(Clone, Copy)]
struct Client {
    id: &'static str,
    secret: Option<&'static str>,
    redirect: &'static str,
}

const CONFIDENTIAL: Client = Client {
    id: "rp-basic",
    secret: Some("rp-basic-secret"),
    redirect: "http://127.0.0.1:9/callback",
};
const PUBLIC: Client = Client {
    id: "rp-public",
    secret: None,
    redirect: "http://127.0.0.1:9/public-callback",
};

/// Both cities, each with a resident at [`EMAIL`] whose subject is [`SUBJECT`].
async fn two_cities(backend: Backend) -> TestApp {
    let app = TestApp::spawn(backend).await;
    for (city, _) in CITIES {
        app.add_user(city, EMAIL, PASSWORD, "Asukas").await;
    }
    let store = app.services.store.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = store.conn().unwrap();
        let changed = diesel::update(users::table.filter(users::email_normalized.eq(EMAIL)))
            .set(users::subject.eq(SUBJECT))
            .execute(&mut **conn)
            .unwrap();
        assert_eq!(changed, 2);
    })
    .await
    .unwrap();
    app
}

/// A code of `city` for `client` after a login in a fresh browser, with its PKCE verifier.
async fn code_at(app: &TestApp, city: &str, client: Client) -> (String, String) {
    let rp = rp::client(app, city, client.id, client.secret, client.redirect).await;
    let started = rp::start(&rp, &["offline_access"], &[("prompt", "consent")]);
    let back = rp::log_in(&app.browser(), &started.url, EMAIL, PASSWORD).await;
    let code = param(&back, "code").unwrap_or_else(|| panic!("no code: {back}"));
    (code, started.verifier.secret().clone())
}

/// A form post to `/{city}/{endpoint}` as `client` (HTTP Basic for a confidential one, its
/// `client_id` in the body for a public one): status and JSON body.
async fn post_as(
    app: &TestApp,
    city: &str,
    endpoint: &str,
    client: Client,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let mut fields = form.to_vec();
    let mut request = app.http.post(app.url(&format!("/{city}/{endpoint}")));
    match client.secret {
        Some(secret) => request = request.basic_auth(client.id, Some(secret)),
        None => fields.push(("client_id", client.id)),
    }
    let response = request.form(&fields).send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn exchange(
    app: &TestApp,
    city: &str,
    client: Client,
    code: &str,
    verifier: &str,
) -> (u16, Value) {
    post_as(
        app,
        city,
        "token",
        client,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", client.redirect),
            ("code_verifier", verifier),
        ],
    )
    .await
}

async fn refresh(app: &TestApp, city: &str, client: Client, token: &str) -> (u16, Value) {
    post_as(
        app,
        city,
        "token",
        client,
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
    .await
}

/// Userinfo at `city` with `token`: status, `WWW-Authenticate` and body.
async fn userinfo(app: &TestApp, city: &str, token: &str) -> (u16, String, String) {
    let response = app
        .http
        .get(app.url(&format!("/{city}/userinfo")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let challenge = header(&response, "www-authenticate").unwrap_or_default();
    (status, challenge, response.text().await.unwrap())
}

/// The logout page's status and text at `city` for `hint` (the resident's browser is signed in
/// there: `browser`).
async fn logout_with_hint(
    app: &TestApp,
    city: &str,
    browser: &reqwest::Client,
    hint: &str,
) -> (u16, String) {
    let mut url = Url::parse(&app.url(&format!("/{city}/logout"))).unwrap();
    url.query_pairs_mut()
        .append_pair("id_token_hint", hint)
        .append_pair("client_id", CONFIDENTIAL.id);
    let response = browser.get(url).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

fn invalid_code() -> (u16, Value) {
    (
        400,
        serde_json::json!({
            "error": "invalid_grant",
            "error_description": "the code is invalid, expired or used",
        }),
    )
}

fn invalid_refresh() -> (u16, Value) {
    (
        400,
        serde_json::json!({
            "error": "invalid_grant",
            "error_description": "the refresh token is invalid, expired or revoked",
        }),
    )
}

both_stores!(codes_and_tokens_of_one_city_are_unknown_at_the_other);
async fn codes_and_tokens_of_one_city_are_unknown_at_the_other(backend: Backend) {
    let app = two_cities(backend).await;
    let unknown = "x".repeat(43);
    for (home, other) in CITIES {
        for client in [CONFIDENTIAL, PUBLIC] {
            // A code of home, redeemed at the other city by the client of the same id: the
            // answer of an unknown code, and the code is still good at home.
            let (code, verifier) = code_at(&app, home, client).await;
            assert_eq!(
                exchange(&app, other, client, &code, &verifier).await,
                invalid_code(),
                "{home} → {other}, {}",
                client.id
            );
            assert_eq!(
                exchange(&app, other, client, &unknown, &verifier).await,
                invalid_code()
            );
            let (status, tokens) = exchange(&app, home, client, &code, &verifier).await;
            assert_eq!(status, 200, "{tokens}");
            let refresh_token = tokens["refresh_token"].as_str().unwrap().to_string();
            let access_token = tokens["access_token"].as_str().unwrap().to_string();
            let id_token = tokens["id_token"].as_str().unwrap().to_string();

            // The refresh token, at the other city's token endpoint: unknown.
            assert_eq!(
                refresh(&app, other, client, &refresh_token).await,
                invalid_refresh(),
                "{home} → {other}, {}",
                client.id
            );
            assert_eq!(
                refresh(&app, other, client, &unknown).await,
                invalid_refresh()
            );

            // Userinfo at the other city: the answer of an unknown token.
            let crossed = userinfo(&app, other, &access_token).await;
            assert_eq!(crossed.0, 401);
            assert!(crossed.1.contains("error=\"invalid_token\""), "{crossed:?}");
            assert_eq!(crossed, userinfo(&app, other, &unknown).await);

            // Revocation at the other city answers 200 (RFC 7009) and revokes nothing.
            for token in [&refresh_token, &access_token] {
                let (status, _) =
                    post_as(&app, other, "revoke", client, &[("token", token.as_str())]).await;
                assert_eq!(status, 200);
            }

            if client.secret.is_some() {
                // Introspection at the other city: inactive, as for an unknown token.
                for token in [&refresh_token, &access_token, &unknown] {
                    assert_eq!(
                        post_as(
                            &app,
                            other,
                            "introspect",
                            client,
                            &[("token", token.as_str())]
                        )
                        .await,
                        (200, serde_json::json!({ "active": false })),
                        "{home} → {other}"
                    );
                }
                // The ID token as the other city's logout hint: refused as a forgery, whose
                // page is the same as for a hint that is not a token at all.
                let browser = app.browser();
                let crossed = logout_with_hint(&app, other, &browser, &id_token).await;
                assert_eq!(crossed.0, 400, "{}", crossed.1);
                assert!(
                    crossed
                        .1
                        .contains("Uloskirjautumispyyntö ei ole kelvollinen."),
                    "{}",
                    crossed.1
                );
                assert_eq!(
                    crossed.0,
                    logout_with_hint(&app, other, &browser, &unknown).await.0
                );
            }

            // At home everything still works: nothing was revoked by the other city.
            let (status, body, _) = userinfo(&app, home, &access_token).await;
            assert_eq!(status, 200, "{body}");
            let (status, home_info, _) = userinfo(&app, home, &access_token).await;
            assert_eq!(status, 200, "{home_info}");
            let (status, refreshed) = refresh(&app, home, client, &refresh_token).await;
            assert_eq!(status, 200, "{home} {}: {refreshed}", client.id);
            if client.secret.is_some() {
                let (_, active) = post_as(
                    &app,
                    home,
                    "introspect",
                    client,
                    &[("token", refreshed["refresh_token"].as_str().unwrap())],
                )
                .await;
                assert_eq!(active["active"], true);
                assert_eq!(active["sub"], SUBJECT);
            }
        }
    }
}

/// `link` of `home` opened at `other`: the expired-link page; opened at home afterwards: still
/// good (`good` is a text of its page there).
async fn cross_link(app: &TestApp, link: &str, home: &str, other: &str, good: &str) {
    let crossed = link.replacen(&format!("/{home}/"), &format!("/{other}/"), 1);
    let browser = app.browser();
    let response = browser.get(&crossed).send().await.unwrap();
    assert_eq!(response.status(), 410, "{crossed}");
    assert!(response.text().await.unwrap().contains(LINK_EXPIRED));
    good_at_home(&browser, link, good).await;
}

/// `link` opened in `browser` at its home: its page, with `good` in it.
async fn good_at_home(browser: &reqwest::Client, link: &str, good: &str) {
    let response = browser.get(link).send().await.unwrap();
    assert_eq!(response.status(), 200, "{link}");
    let page = response.text().await.unwrap();
    assert_has(&page, good);
}

both_stores!(sessions_and_mailed_links_of_one_city_are_unknown_at_the_other);
async fn sessions_and_mailed_links_of_one_city_are_unknown_at_the_other(backend: Backend) {
    let app = two_cities(backend).await;
    for (home, other) in CITIES {
        // The session cookie's value of home, presented as the other city's session cookie: no
        // one is signed in there (the account page sends the browser to log in).
        let signed = sign_in(&app, home, EMAIL, PASSWORD).await;
        let forged =
            crate::helpers::journeys::account_with_cookie(&app, other, &signed.cookie).await;
        assert_eq!(forged.status(), 303, "{home} → {other}");
        assert_eq!(location(&forged).path(), format!("/{other}/login"));
        let genuine = signed.browser.get(app.url(&format!("/{home}/account")));
        assert_eq!(genuine.send().await.unwrap().status(), 200);

        // A reset link, a registration's verification link, a change of address's confirmation
        // link: each asked at home (the page of its form, where to post it, what), and good at
        // home only.
        let at = |path: &str| app.url(&format!("/{home}/{path}"));
        let address = format!("uusi.{home}@testi.fi");
        let new_address = format!("muutettu.{home}@testi.fi");
        let new_password = "autocomplete=\"new-password\"";
        for (browser, page, action, fields, link, good) in [
            (
                &app.browser(),
                "forgot",
                "forgot",
                vec![("email", EMAIL)],
                "reset",
                new_password,
            ),
            (
                &app.browser(),
                "register",
                "register",
                vec![("email", address.as_str())],
                "register/complete",
                address.as_str(),
            ),
            (
                &signed.browser,
                "account",
                "account/email",
                vec![("email", new_address.as_str()), ("password", PASSWORD)],
                "email/confirm",
                new_address.as_str(),
            ),
        ] {
            let sent = rp::post_form(browser, &at(page), &at(action), &fields).await;
            assert_eq!(sent.status(), 200, "{action}");
            let link = app
                .newest_link(None, &format!("/{home}/{link}?token="))
                .await;
            cross_link(&app, &link, home, other, good).await;
            if action == "forgot" {
                // Its form posted at the other city with a password: refused as expired, nothing
                // set.
                let token = param(&Url::parse(&link).unwrap(), "token").unwrap();
                let refused = rp::post_form(
                    &app.browser(),
                    &app.url(&format!("/{other}/forgot")),
                    &app.url(&format!("/{other}/reset")),
                    &[
                        ("token", &token),
                        ("password", "vieraan kaupungin salasana"),
                        ("password2", "vieraan kaupungin salasana"),
                    ],
                )
                .await;
                assert_eq!(refused.status(), 410);
                // The link is still good at home, and the password is the one it was.
                good_at_home(&app.browser(), &link, good).await;
                sign_in(&app, home, EMAIL, PASSWORD).await;
            }
        }

        // The linker's link of an old account without a usable hash (both policies mail one).
        let old_address = format!("vanha.{home}@testi.fi");
        app.import(Old::new(home, "vanha", "OLD-2002").email(&old_address))
            .await;
        let client = rp::basic_of(&app, home).await;
        let (status, _) = Login::fresh(&app, &client)
            .await
            .identify(&old_address)
            .await;
        assert_eq!(status, 200);
        let link = app
            .newest_link(None, &format!("/{home}/reset?token="))
            .await;
        cross_link(&app, &link, home, other, new_password).await;
    }
}

both_stores!(a_pushed_request_of_one_city_is_unknown_at_the_other);
/// A `request_uri` pushed at one city by its `rp-basic`, named at the other city's `/authorize`
/// by the client of the same id: the answer of an unknown request, and it still opens the login
/// at home.
async fn a_pushed_request_of_one_city_is_unknown_at_the_other(backend: Backend) {
    let app = two_cities(backend).await;
    let (challenge, _) = openidconnect::PkceCodeChallenge::new_random_sha256();
    let request = [
        ("response_type", "code"),
        ("redirect_uri", CONFIDENTIAL.redirect),
        ("scope", "openid"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    for (home, other) in CITIES {
        let (status, pushed) = post_as(&app, home, "par", CONFIDENTIAL, &request).await;
        assert_eq!(status, 201, "{pushed}");
        let uri = pushed["request_uri"].as_str().unwrap();
        let at = |city: &str| {
            let mut url = Url::parse(&app.url(&format!("/{city}/authorize"))).unwrap();
            url.query_pairs_mut()
                .append_pair("client_id", CONFIDENTIAL.id)
                .append_pair("request_uri", uri);
            url
        };
        let browser = app.browser();
        let crossed = browser.get(at(other)).send().await.unwrap();
        assert_eq!(crossed.status(), 400, "{home} → {other}");
        assert_has(
            &crossed.text().await.unwrap(),
            "data-reason=\"invalid_request_uri\"",
        );
        let home_page = browser.get(at(home)).send().await.unwrap();
        assert_eq!(location(&home_page).path(), format!("/{home}/login"));
    }
    app.stop().await;
}
