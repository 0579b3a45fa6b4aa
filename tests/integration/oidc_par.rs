//! Pushed authorization requests (RFC 9126).

use openidconnect::PkceCodeChallenge;
use serde_json::Value;

use crate::both_stores;
use crate::helpers::{Backend, TestApp};
use crate::rp::{self, param};

both_stores!(a_pushed_request_is_used_once_by_its_client);

async fn push(app: &TestApp, auth: Option<(&str, &str)>, form: &[(&str, &str)]) -> (u16, Value) {
    let mut request = app.http.post(app.url("/seinajoki/par"));
    if let Some((id, secret)) = auth {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.form(form).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn a_pushed_request_is_used_once_by_its_client(backend: Backend) {
    let app = TestApp::builder(backend)
        .user("seinajoki", "erkki@testi.fi", "oikea hevonen", "Erkki")
        .spawn()
        .await;
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
    let (status, body) = push(&app, Some(("rp-basic", "rp-basic-secret")), &request).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["expires_in"], 60);
    let request_uri = body["request_uri"].as_str().unwrap().to_string();
    assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"));

    let mut authorize = url::Url::parse(&app.url("/seinajoki/authorize")).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("client_id", "rp-basic")
        .append_pair("request_uri", &request_uri);
    let browser = app.browser();
    let back = rp::log_in(&browser, &authorize, "erkki@testi.fi", "oikea hevonen").await;
    assert_eq!(param(&back, "state").as_deref(), Some("pushed"));
    let tokens = rp::exchange(&client, &param(&back, "code").unwrap(), verifier).await;
    assert!(tokens.is_ok(), "{tokens:?}");

    // Once only.
    let again = browser.get(authorize.clone()).send().await.unwrap();
    assert_eq!(again.status(), 400);
    assert!(
        again
            .text()
            .await
            .unwrap()
            .contains("data-reason=\"invalid_request_uri\"")
    );

    // Bound to its client; expiring after 60 s.
    let (_, body) = push(&app, Some(("rp-basic", "rp-basic-secret")), &request).await;
    let stolen = body["request_uri"].as_str().unwrap().to_string();
    let mut other = url::Url::parse(&app.url("/seinajoki/authorize")).unwrap();
    other
        .query_pairs_mut()
        .append_pair("client_id", "rp-third")
        .append_pair("request_uri", &stolen);
    assert_eq!(browser.get(other).send().await.unwrap().status(), 400);
    let (_, body) = push(&app, Some(("rp-basic", "rp-basic-secret")), &request).await;
    let late = body["request_uri"].as_str().unwrap().to_string();
    app.clock.advance(61);
    let mut expired = url::Url::parse(&app.url("/seinajoki/authorize")).unwrap();
    expired
        .query_pairs_mut()
        .append_pair("client_id", "rp-basic")
        .append_pair("request_uri", &late);
    assert_eq!(browser.get(expired).send().await.unwrap().status(), 400);

    // A bad push is refused at once, as JSON.
    let (status, body) = push(
        &app,
        Some(("rp-basic", "rp-basic-secret")),
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
        Some(("rp-basic", "rp-basic-secret")),
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
