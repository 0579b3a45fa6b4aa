//! Pushed authorization requests (RFC 9126).

use openidconnect::PkceCodeChallenge;
use serde_json::Value;

use crate::both_stores;
use crate::helpers::journeys::says;
use crate::helpers::{Backend, TestApp};
use crate::rp::{self, param};

async fn push(app: &TestApp, auth: Option<(&str, &str)>, form: &[(&str, &str)]) -> (u16, Value) {
    let mut request = app.http.post(app.url("/seinajoki/par"));
    if let Some((id, secret)) = auth {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.form(form).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// The authorization request of `client_id` that names the pushed `request_uri`.
fn authorize(app: &TestApp, client_id: &str, request_uri: &str) -> url::Url {
    let mut authorize = url::Url::parse(&app.url("/seinajoki/authorize")).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("request_uri", request_uri);
    authorize
}

/// rp-basic's credentials.
const BASIC: Option<(&str, &str)> = Some(("rp-basic", "rp-basic-secret"));

both_stores!(a_pushed_request_is_used_once_by_its_client);
async fn a_pushed_request_is_used_once_by_its_client(backend: Backend) {
    let app = TestApp::with_user(backend, "erkki@testi.fi", "oikea hevonen", "Erkki").await;
    let client = rp::basic(&app).await;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let request = [
        ("response_type", "code"),
        ("redirect_uri", "http://127.0.0.1:9/callback"),
        ("scope", "openid email"),
        ("state", "pushed"),
        ("nonce", "n-1"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let (status, body) = push(&app, BASIC, &request).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["expires_in"], 60);
    let request_uri = body["request_uri"].as_str().unwrap().to_string();
    assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"));

    let authorize = authorize(&app, "rp-basic", &request_uri);
    let browser = app.browser();
    let back = rp::log_in(&browser, &authorize, "erkki@testi.fi", "oikea hevonen").await;
    assert_eq!(param(&back, "state").as_deref(), Some("pushed"));
    let tokens = rp::exchange(&client, &param(&back, "code").unwrap(), verifier).await;
    assert!(tokens.is_ok(), "{tokens:?}");

    // Once only.
    let again = browser.get(authorize.clone()).send().await.unwrap();
    says(again, 400, "data-reason=\"invalid_request_uri\"").await;

    // Bound to its client; expiring after 60 s.
    let (_, body) = push(&app, BASIC, &request).await;
    let stolen = body["request_uri"].as_str().unwrap().to_string();
    let other = self::authorize(&app, "rp-third", &stolen);
    assert_eq!(browser.get(other).send().await.unwrap().status(), 400);
    let (_, body) = push(&app, BASIC, &request).await;
    let late = body["request_uri"].as_str().unwrap().to_string();
    app.clock.advance(61);
    let expired = self::authorize(&app, "rp-basic", &late);
    assert_eq!(browser.get(expired).send().await.unwrap().status(), 400);

    // A bad push is refused at once, as JSON.
    let (status, body) = push(
        &app,
        BASIC,
        &[
            ("response_type", "code"),
            ("redirect_uri", "http://127.0.0.1:9/evil"),
            ("scope", "openid"),
        ],
    )
    .await;
    assert_eq!(
        (status, body),
        (
            400,
            serde_json::json!({"error": "invalid_request", "error_description": "redirect_uri is not registered for the client"})
        )
    );
    let (status, body) = push(
        &app,
        BASIC,
        &[
            ("response_type", "token"),
            ("redirect_uri", "http://127.0.0.1:9/callback"),
            ("scope", "openid"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_response_type"))
    );
    let (status, body) = push(&app, None, &request).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    app.stop().await;
}
