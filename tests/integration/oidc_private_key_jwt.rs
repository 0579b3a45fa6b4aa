//! private_key_jwt client authentication (RFC 7523): keys fetched from the client's jwks_uri,
//! each assertion used once.

use actix_web::{App, HttpResponse, HttpServer, web};
use idp::clock::Clock;
use idp::config::SigningAlg;
use idp::crypto::keys::SigningKey;
use serde_json::{Value, json};

use crate::both_stores;
use crate::helpers::{Backend, TestApp};

both_stores!(a_client_authenticates_with_a_signed_assertion_once);

fn serve_jwks(jwks: Value) -> (String, actix_web::dev::ServerHandle) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let server = HttpServer::new(move || {
        let jwks = jwks.clone();
        App::new().route(
            "/jwks",
            web::get().to(move || {
                let jwks = jwks.clone();
                async move { HttpResponse::Ok().json(jwks) }
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    (format!("http://{address}/jwks"), handle)
}

async fn token(app: &TestApp, assertion: &str) -> (u16, Value) {
    let response = app
        .http
        .post(app.url("/seinajoki/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn a_client_authenticates_with_a_signed_assertion_once(backend: Backend) {
    let (key, _) = SigningKey::generate(SigningAlg::ES256).unwrap();
    let (stranger, _) = SigningKey::generate(SigningAlg::ES256).unwrap();
    let (jwks_uri, keys_server) = serve_jwks(json!({ "keys": [key.public_jwk()] }));
    let app = TestApp::spawn_with(
        backend,
        &format!(
            r#"
[[clients]]
client_id = "rp-jwt"
grant_types = ["client_credentials"]
token_endpoint_auth_method = "private_key_jwt"
jwks_uri = "{jwks_uri}"
"#
        ),
    )
    .await;
    let now = app.clock.now().and_utc().timestamp();
    let assertion = |signer: &SigningKey, aud: &str, exp: i64, jti: &str| {
        signer
            .sign_jwt(
                None,
                &json!({"iss": "rp-jwt", "sub": "rp-jwt", "aud": aud, "exp": exp, "iat": now, "jti": jti}),
            )
            .unwrap()
    };
    let token_endpoint = app.url("/seinajoki/token");

    let good = assertion(&key, &token_endpoint, now + 60, "one");
    let (status, body) = token(&app, &good).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    // The issuer is an accepted audience too.
    let (status, _) = token(
        &app,
        &assertion(&key, &app.issuer("seinajoki"), now + 60, "two"),
    )
    .await;
    assert_eq!(status, 200);

    for (assertion, expected) in [
        (good.clone(), "the client assertion was used before"),
        (
            assertion(&key, "https://elsewhere.example/token", now + 60, "three"),
            "the client assertion does not verify with the client's keys",
        ),
        (
            assertion(&key, &token_endpoint, now - 1, "four"),
            "the client assertion has expired",
        ),
        (
            assertion(&stranger, &token_endpoint, now + 60, "five"),
            "the client assertion does not verify with the client's keys",
        ),
        ("not-a-jwt".to_string(), "the client assertion is not a JWT"),
    ] {
        let (status, body) = token(&app, &assertion).await;
        assert_eq!(status, 401, "{expected}: {body}");
        assert_eq!(
            body,
            json!({"error": "invalid_client", "error_description": expected})
        );
    }
    // An HMAC assertion with the public key as secret is no assertion at all.
    let header = idp::crypto::keys::b64(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = idp::crypto::keys::b64(
        json!({"iss": "rp-jwt", "sub": "rp-jwt", "aud": token_endpoint, "exp": now + 60, "jti": "six"})
            .to_string()
            .as_bytes(),
    );
    let (status, body) = token(&app, &format!("{header}.{claims}.AAAA")).await;
    assert_eq!(status, 401);
    assert_eq!(
        body["error_description"],
        "the client assertion must be signed with RS256, ES256 or EdDSA"
    );
    app.stop().await;
    keys_server.stop(true).await;
}
