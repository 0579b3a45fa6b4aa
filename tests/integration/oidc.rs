//! The OpenID Connect provider against a real relying party (the `openidconnect` crate).

use openidconnect::core::CoreUserInfoClaims;
use openidconnect::{
    AccessTokenHash, OAuth2TokenResponse, RefreshToken, TokenIntrospectionResponse, TokenResponse,
};
use serde_json::Value;

use crate::both_stores;
use crate::helpers::{Backend, TestApp, header};
use crate::rp::{self, location, param};

const PASSWORD: &str = "oikea hevonen patteri";

async fn app_with_user(backend: Backend) -> (TestApp, String) {
    let app = TestApp::spawn(backend).await;
    let subject = app
        .add_user("seinajoki", "erkki@testi.fi", PASSWORD, "Erkki Esimerkki")
        .await;
    (app, subject)
}

both_stores!(code_flow_gives_verified_tokens_and_userinfo);
async fn code_flow_gives_verified_tokens_and_userinfo(backend: Backend) {
    let (app, subject) = app_with_user(backend).await;
    let client = rp::basic(&app).await;
    let started = rp::start(&client, &["email", "profile"], &[]);
    let browser = app.browser();
    let back = rp::log_in(&browser, &started.url, "Erkki@Testi.fi", PASSWORD).await;
    assert_eq!(
        back.as_str().split('?').next(),
        Some("http://127.0.0.1:9/callback")
    );
    assert_eq!(
        param(&back, "state").as_deref(),
        Some(started.state.secret().as_str())
    );
    assert_eq!(param(&back, "iss"), Some(app.issuer("seinajoki")));

    let redeemed = rp::redeem(&client, started, &back).await;
    let (tokens, claims) = (&redeemed.tokens, &redeemed.claims);
    let id_token = tokens.id_token().unwrap();
    assert_eq!(claims.subject().as_str(), subject);
    assert_eq!(claims.issuer().as_str(), app.issuer("seinajoki"));
    assert_eq!(claims.email().unwrap().as_str(), "erkki@testi.fi");
    assert_eq!(claims.email_verified(), Some(true));
    assert!(claims.auth_time().is_some());
    assert_eq!(claims.auth_method_refs().unwrap()[0].as_str(), "pwd");
    assert_eq!(
        claims.auth_context_ref().unwrap().as_str(),
        "urn:idp:acr:password"
    );
    let at_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&client.id_token_verifier()).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&at_hash));
    assert_eq!(tokens.token_type().as_ref(), "bearer");
    assert!(tokens.refresh_token().is_some(), "rp-basic may refresh");

    // The access token is an RFC 9068 JWT.
    let header = jsonwebtoken::decode_header(tokens.access_token().secret()).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));

    let info: CoreUserInfoClaims = client
        .user_info(tokens.access_token().clone(), None)
        .unwrap()
        .request_async(&rp::http())
        .await
        .unwrap();
    assert_eq!(info.subject().as_str(), subject);
    assert_eq!(info.email().unwrap().as_str(), "erkki@testi.fi");
    assert_eq!(
        info.name().unwrap().get(None).unwrap().as_str(),
        "Erkki Esimerkki"
    );

    // SSO: a second authorization in the same browser needs no password.
    let again = rp::start(&client, &[], &[]);
    let back = location(&browser.get(again.url.clone()).send().await.unwrap());
    assert!(param(&back, "code").is_some(), "{back}");

    // The same token again (its signature remembered as verified), then once it has expired:
    // the expiry is checked at every use.
    let token = tokens.access_token().secret();
    assert_eq!(userinfo_challenge(&app, token).await, (200, None));
    app.clock.advance(301);
    let (status, challenge) = userinfo_challenge(&app, token).await;
    assert_eq!(status, 401);
    assert!(
        challenge
            .as_deref()
            .is_some_and(|c| c.contains("error=\"invalid_token\"")),
        "{challenge:?}"
    );
    app.stop().await;
}

both_stores!(the_profile_scope_alone_gives_no_address);
/// An e-service the resident allowed `profile` but not `email` gets the name, never the address:
/// not as `preferred_username` either (a resident's username is their address). With `email`
/// too, `preferred_username` is the address.
async fn the_profile_scope_alone_gives_no_address(backend: Backend) {
    let (app, _) = app_with_user(backend).await;
    let client = rp::basic(&app).await;
    for (scopes, address) in [(&["profile"][..], false), (&["profile", "email"][..], true)] {
        let started = rp::start(&client, scopes, &[]);
        let browser = app.browser();
        let redeemed =
            rp::log_in_and_redeem(&browser, &client, started, "erkki@testi.fi", PASSWORD).await;
        let claims = redeemed.payload();
        let info = rp::userinfo(&app, "seinajoki", &redeemed.access_token()).await;
        for given in [&claims, &info] {
            assert_eq!(given["name"], "Erkki Esimerkki", "{given}");
            let said = given.to_string().contains("erkki@testi.fi");
            assert_eq!(said, address, "{scopes:?}: {given}");
            if address {
                assert_eq!(given["preferred_username"], "erkki@testi.fi");
            }
        }
    }
    app.stop().await;
}

/// Userinfo with the access token `token`: the status and the `WWW-Authenticate` challenge.
async fn userinfo_challenge(app: &TestApp, token: &str) -> (u16, Option<String>) {
    let url = app.url("/seinajoki/userinfo");
    let response = app.http.get(url).bearer_auth(token).send().await.unwrap();
    (
        response.status().as_u16(),
        header(&response, "www-authenticate"),
    )
}

both_stores!(every_signing_algorithm_and_client_authentication);
async fn every_signing_algorithm_and_client_authentication(backend: Backend) {
    let (app, _) = app_with_user(backend).await;
    for (client_id, secret, redirect, alg) in [
        (
            "rp-basic",
            Some("rp-basic-secret"),
            "http://127.0.0.1:9/callback",
            "RS256",
        ),
        (
            "rp-post",
            Some("rp-post-secret"),
            "http://127.0.0.1:9/post-callback",
            "ES256",
        ),
        (
            "rp-public",
            None,
            "http://127.0.0.1:9/public-callback",
            "EdDSA",
        ),
    ] {
        let client = rp::client(&app, "seinajoki", client_id, secret, redirect).await;
        let browser = app.browser();
        let redeemed = rp::redeem_login(&browser, &client, &[], "erkki@testi.fi", PASSWORD).await;
        let id_token = redeemed.tokens.id_token().unwrap();
        let header = jsonwebtoken::decode_header(id_token.to_string()).unwrap();
        assert_eq!(format!("{:?}", header.alg), alg, "{client_id}");
    }
    app.stop().await;
}

/// Erkki logs in to `client` (rp-basic): the code and its PKCE verifier.
async fn erkki_code(app: &TestApp, client: &rp::Rp) -> (String, String) {
    let started = rp::start(client, &[], &[]);
    let back = rp::log_in(&app.browser(), &started.url, "erkki@testi.fi", PASSWORD).await;
    let code = param(&back, "code").unwrap();
    (code, started.verifier.secret().clone())
}

both_stores!(a_replayed_code_revokes_what_it_issued);
async fn a_replayed_code_revokes_what_it_issued(backend: Backend) {
    let (app, _) = app_with_user(backend).await;
    let client = rp::basic(&app).await;
    let (code, verifier) = erkki_code(&app, &client).await;
    let tokens = rp::exchange(
        &client,
        &code,
        openidconnect::PkceCodeVerifier::new(verifier.clone()),
    )
    .await
    .unwrap();
    let replay = rp::exchange(
        &client,
        &code,
        openidconnect::PkceCodeVerifier::new(verifier),
    )
    .await;
    assert_eq!(
        replay.unwrap_err(),
        "invalid_grant: the code is invalid, expired or used"
    );
    // What the code issued is revoked.
    let (status, challenge) = userinfo_challenge(&app, tokens.access_token().secret()).await;
    assert_eq!(status, 401);
    assert_eq!(
        challenge.as_deref(),
        Some(
            "Bearer realm=\"idp\", error=\"invalid_token\", error_description=\"the access token is not valid\""
        )
    );
    let introspection = client
        .introspect(tokens.access_token())
        .request_async(&rp::http())
        .await
        .unwrap();
    assert!(!introspection.active());
    let refresh = refresh(&client, tokens.refresh_token().unwrap()).await;
    assert_eq!(refresh, Err(REFRESH_REFUSED.into()));
    app.stop().await;
}

both_stores!(a_code_replayed_after_its_minute_and_a_clean_up_still_revokes);
async fn a_code_replayed_after_its_minute_and_a_clean_up_still_revokes(backend: Backend) {
    let (app, _) = app_with_user(backend).await;
    let client = rp::basic(&app).await;
    let (code, verifier) = erkki_code(&app, &client).await;
    let pkce = |v: &str| openidconnect::PkceCodeVerifier::new(v.to_string());
    let tokens = rp::exchange(&client, &code, pkce(&verifier)).await.unwrap();
    // A second code, never exchanged.
    erkki_code(&app, &client).await;
    let codes = "SELECT count(*) AS n FROM auth_codes";
    assert_eq!(app.count(codes).await, 2);

    // Both codes' minute is over, and the clocks' margin after it (ten minutes); the clean-up
    // takes the unused one (with its grant), keeps the used one.
    app.clock.advance(720);
    assert!(app.services.purge_expired().await.unwrap().ran);
    assert_eq!(app.count(codes).await, 1);
    let replay = rp::exchange(&client, &code, pkce(&verifier)).await;
    assert_eq!(
        replay.unwrap_err(),
        "invalid_grant: the code is invalid, expired or used"
    );
    let refresh = refresh(&client, tokens.refresh_token().unwrap()).await;
    assert!(refresh.is_err(), "the replay revoked the grant");
    assert_eq!(
        refresh,
        Err(REFRESH_REFUSED.into()),
        "the replay revoked it"
    );
    assert_eq!(
        app.audit_kinds("seinajoki").await.last().unwrap(),
        "code.replayed"
    );
    // The used code goes with its grant.
    app.clock.advance(9 * 3600);
    assert!(app.services.purge_expired().await.unwrap().ran);
    assert_eq!(app.count(codes).await, 0);
    app.stop().await;
}

/// Posts `form` to seinajoki's token endpoint as the public client `rp-public` (no secret).
async fn as_public_client(app: &TestApp, form: &[(&str, &str)]) -> (u16, Value) {
    let mut form = form.to_vec();
    form.push(("client_id", "rp-public"));
    let response = app
        .http
        .post(app.url("/seinajoki/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

both_stores!(another_clients_code_or_refresh_token_is_refused_and_stays_good);
async fn another_clients_code_or_refresh_token_is_refused_and_stays_good(backend: Backend) {
    let (app, _) = app_with_user(backend).await;
    let client = rp::basic(&app).await;
    let (code, verifier) = erkki_code(&app, &client).await;

    // rp-public presents rp-basic's code: refused, and the code is neither used up nor taken
    // for a replay (the claim names the client; RFC 6749 §4.1.3).
    let stolen = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "http://127.0.0.1:9/callback"),
        ("code_verifier", verifier.as_str()),
    ];
    let invalid_code = serde_json::json!({"error": "invalid_grant", "error_description": "the code is invalid, expired or used"});
    assert_eq!(as_public_client(&app, &stolen).await, (400, invalid_code));
    let tokens = rp::exchange(
        &client,
        &code,
        openidconnect::PkceCodeVerifier::new(verifier),
    )
    .await
    .unwrap();

    // And its refresh token: refused, and it still rotates for rp-basic.
    let refresh_token = tokens.refresh_token().unwrap();
    let stolen = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.secret().as_str()),
    ];
    let invalid_token = serde_json::json!({"error": "invalid_grant", "error_description": "the refresh token is invalid, expired or revoked"});
    assert_eq!(as_public_client(&app, &stolen).await, (400, invalid_token));
    assert!(refresh(&client, refresh_token).await.is_ok());
    // Nothing was revoked as replayed.
    let kinds = app.audit_kinds("seinajoki").await;
    assert_eq!(
        kinds[kinds.len() - 3..],
        ["user.created", "login.succeeded", "token.issued"]
    );
    app.stop().await;
}

both_stores!(pkce_verifier_must_match);
async fn pkce_verifier_must_match(backend: Backend) {
    let (app, _) = app_with_user(backend).await;
    let client = rp::basic(&app).await;
    for (verifier, expected) in [
        (
            Some("a".repeat(43)),
            "invalid_grant: the PKCE code_verifier does not match",
        ),
        (None, "invalid_grant: code_verifier (PKCE) is required"),
    ] {
        let back = rp::log_in_at(&app.browser(), &client, "erkki@testi.fi", PASSWORD).await;
        let code = param(&back, "code").unwrap();
        let mut request = client
            .exchange_code(openidconnect::AuthorizationCode::new(code))
            .unwrap();
        if let Some(v) = verifier {
            request = request.set_pkce_verifier(openidconnect::PkceCodeVerifier::new(v));
        }
        let error = request.request_async(&rp::http()).await.unwrap_err();
        assert_eq!(rp::token_error(error), expected);
    }
    app.stop().await;
}

both_stores!(refresh_rotates_and_reuse_revokes_the_family);
async fn refresh_rotates_and_reuse_revokes_the_family(backend: Backend) {
    let (app, _) = app_with_user(backend).await;
    let client = rp::basic(&app).await;
    let started = rp::start(&client, &["offline_access"], &[]);
    let browser = app.browser();
    let redeemed =
        rp::log_in_and_redeem(&browser, &client, started, "erkki@testi.fi", PASSWORD).await;
    let first = redeemed.tokens.refresh_token().unwrap().clone();
    let refreshed = client
        .exchange_refresh_token(&first)
        .unwrap()
        .request_async(&rp::http())
        .await
        .unwrap();
    let second = refreshed.refresh_token().unwrap().clone();
    assert_ne!(first.secret(), second.secret(), "rotated");
    assert!(refreshed.id_token().is_some());

    // The first token again: someone copied it. The whole family dies.
    let reuse = refresh(&client, &first).await;
    assert_eq!(
        reuse.unwrap_err(),
        "invalid_grant: the refresh token is invalid, expired or revoked"
    );
    assert_eq!(
        refresh(&client, &second).await.unwrap_err(),
        "invalid_grant: the refresh token is invalid, expired or revoked"
    );
    let token = refreshed.access_token().secret();
    let (_, introspection) = crate::helpers::journeys::client_post(
        &app,
        "/seinajoki/introspect",
        ("rp-basic", "rp-basic-secret"),
        &[("token", token.as_str())],
    )
    .await;
    assert_eq!(introspection, serde_json::json!({"active": false}));
    app.stop().await;
}

/// A refresh token's refusal, whatever the reason (unknown, expired, revoked).
const REFRESH_REFUSED: &str = "invalid_grant: the refresh token is invalid, expired or revoked";

async fn refresh(client: &rp::Rp, token: &RefreshToken) -> Result<(), String> {
    client
        .exchange_refresh_token(token)
        .unwrap()
        .request_async(&rp::http())
        .await
        .map(|_| ())
        .map_err(rp::token_error)
}
