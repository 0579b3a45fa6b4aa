//! private_key_jwt client authentication (RFC 7523): keys fetched from the client's jwks_uri,
//! each assertion used once.

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::{HttpResponse, web};
use idp::clock::Clock;
use idp::config::SigningAlg;
use idp::crypto::keys::SigningKey;
use serde_json::{Value, json};

use crate::both_stores;
use crate::helpers::{Backend, TestApp};

fn serve_jwks(jwks: Value) -> (String, actix_web::dev::ServerHandle) {
    let (address, handle) = crate::rp::serve_on_loopback(move |routes| {
        let jwks = jwks.clone();
        routes.route(
            "/jwks",
            web::get().to(move || {
                let jwks = jwks.clone();
                async move { HttpResponse::Ok().json(jwks) }
            }),
        );
    });
    (format!("http://{address}/jwks"), handle)
}

/// A post of `form` to `url` through `http` as a client authenticated by `assertion`:
/// (status, body).
async fn post_asserted(
    http: &reqwest::Client,
    url: &str,
    assertion: &str,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let mut fields = vec![
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion),
    ];
    fields.extend_from_slice(form);
    let response = http.post(url).form(&fields).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// A token request at `url` through `http` as a client authenticated by `assertion`.
async fn token_at(http: &reqwest::Client, url: &str, assertion: &str) -> (u16, Value) {
    post_asserted(
        http,
        url,
        assertion,
        &[("grant_type", "client_credentials")],
    )
    .await
}

async fn token(app: &TestApp, assertion: &str) -> (u16, Value) {
    token_at(&app.http, &app.url("/seinajoki/token"), assertion).await
}

both_stores!(a_client_authenticates_with_a_signed_assertion_once);
async fn a_client_authenticates_with_a_signed_assertion_once(backend: Backend) {
    let (key, _) = SigningKey::generate(SigningAlg::ES256).unwrap();
    let (stranger, _) = SigningKey::generate(SigningAlg::ES256).unwrap();
    let (jwks_uri, keys_server) = serve_jwks(json!({ "keys": [key.public_jwk()] }));
    let app = with_jwt_clients(backend, &[("rp-jwt", &jwks_uri)]).await;
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
    // A client's clock a little ahead (iat within 60 s), and a lifetime of 10 minutes, pass.
    let ahead = key
        .sign_jwt(
            None,
            &json!({"iss": "rp-jwt", "sub": "rp-jwt", "aud": token_endpoint, "exp": now + 600, "iat": now + 30, "jti": "ahead"}),
        )
        .unwrap();
    let (status, body) = token(&app, &ahead).await;
    assert_eq!(status, 200, "{body}");
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
            // Well over 10 minutes, however long the test has run since `now`.
            assertion(&key, &token_endpoint, now + 900, "long"),
            "the client assertion must expire within 10 minutes",
        ),
        (
            key.sign_jwt(
                None,
                &json!({"iss": "rp-jwt", "sub": "rp-jwt", "aud": token_endpoint, "exp": now + 60, "iat": now + 400, "jti": "early"}),
            )
            .unwrap(),
            "the client assertion's iat is in the future",
        ),
        (
            key.sign_jwt(
                None,
                &json!({"iss": "rp-jwt", "sub": "rp-jwt", "aud": token_endpoint, "exp": now + 60, "nbf": now + 400, "jti": "later"}),
            )
            .unwrap(),
            "the client assertion is not valid yet (nbf)",
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
    // A used assertion stays refused while any node takes it as unexpired: the clean-up, run by a
    // node whose clock is ahead, keeps it past its expiry by the clocks' margin.
    let at = app.clock.now().and_utc().timestamp();
    let brief = assertion(&key, &token_endpoint, at + 30, "brief");
    assert_eq!(token(&app, &brief).await.0, 200);
    app.clock.advance(31);
    app.services.purge_expired().await.unwrap();
    app.clock.advance(-10);
    let (status, body) = token(&app, &brief).await;
    assert_eq!(status, 401);
    assert_eq!(
        body["error_description"],
        "the client assertion was used before"
    );
    app.stop().await;
    keys_server.stop(true).await;
}

/// What a counting key server answers.
#[derive(Clone)]
enum Answer {
    /// A 500.
    Failure,
    /// This key set.
    Keys(String),
    /// This key set, a second late.
    Slow(String),
    /// An endless key set, chunked, without a length.
    Endless,
    /// A 1 MiB body with its Content-Length.
    Huge,
}

/// A key server on a raw socket that counts the requests it gets; one request per connection.
fn counting_jwks(answer: Answer) -> (String, Arc<AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            counted.fetch_add(1, Ordering::SeqCst);
            let answer = answer.clone();
            std::thread::spawn(move || {
                let mut request = Vec::new();
                let mut buffer = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let _ = match answer {
                    Answer::Failure => stream.write_all(
                        b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    ),
                    Answer::Keys(body) => stream.write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        )
                        .as_bytes(),
                    ),
                    Answer::Huge => {
                        let body = format!("{{\"keys\": [], \"pad\": \"{}\"}}", "x".repeat(1 << 20));
                        stream.write_all(
                            format!(
                                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                                body.len()
                            )
                            .as_bytes(),
                        )
                    }
                    Answer::Slow(body) => {
                        std::thread::sleep(Duration::from_secs(1));
                        stream.write_all(
                            format!(
                                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                                body.len()
                            )
                            .as_bytes(),
                        )
                    }
                    Answer::Endless => {
                        let head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
                        let mut outcome = stream.write_all(head);
                        let chunk = format!("2000\r\n{}\r\n", " ".repeat(0x2000));
                        // Up to 64 MiB, unless the reader hangs up first.
                        for _ in 0..8192 {
                            if outcome.is_err() {
                                break;
                            }
                            outcome = stream.write_all(chunk.as_bytes());
                        }
                        outcome
                    }
                };
            });
        }
    });
    (format!("http://{address}/jwks"), hits)
}

/// The server with the private_key_jwt clients `clients`: (client id, jwks_uri) each.
async fn with_jwt_clients(backend: Backend, clients: &[(&str, &str)]) -> TestApp {
    let toml: String = clients
        .iter()
        .map(|(client_id, jwks_uri)| {
            format!(
                r#"
[[clients]]
client_id = "{client_id}"
grant_types = ["client_credentials"]
token_endpoint_auth_method = "private_key_jwt"
jwks_uri = "{jwks_uri}"
"#
            )
        })
        .collect();
    TestApp::with_tenant_toml(backend, &toml).await
}

fn signed(app: &TestApp, signer: &SigningKey, client_id: &str, jti: &str) -> String {
    let now = app.clock.now().and_utc().timestamp();
    signer
        .sign_jwt(
            None,
            &json!({"iss": client_id, "sub": client_id, "aud": app.url("/seinajoki/token"), "exp": now + 60, "iat": now, "jti": jti}),
        )
        .unwrap()
}

async fn token_as(app: &TestApp, signer: &SigningKey, client_id: &str, jti: &str) -> (u16, Value) {
    token(app, &signed(app, signer, client_id, jti)).await
}

both_stores!(a_client_held_to_the_issuer_as_audience_is_refused_another);
/// A city that follows the 2025 advice against audience injection holds a client to its issuer as
/// the assertion's audience (`assertion_audience = "issuer"`): an assertion for the token
/// endpoint — what a hostile authorization server's metadata can make a client sign — is refused,
/// one for the issuer accepted. The default keeps the endpoints (the test above).
async fn a_client_held_to_the_issuer_as_audience_is_refused_another(backend: Backend) {
    let (key, _) = SigningKey::generate(SigningAlg::ES256).unwrap();
    let (jwks_uri, keys_server) = serve_jwks(json!({ "keys": [key.public_jwk()] }));
    let toml = format!(
        r#"
[[clients]]
client_id = "rp-jwt"
grant_types = ["client_credentials"]
token_endpoint_auth_method = "private_key_jwt"
jwks_uri = "{jwks_uri}"
assertion_audience = "issuer"
"#
    );
    let app = TestApp::with_tenant_toml(backend, &toml).await;
    let now = app.clock.now().and_utc().timestamp();
    let issuer = app.issuer("seinajoki");
    let endpoint = app.url("/seinajoki/token");
    let refused = [
        (
            json!(endpoint),
            "the client assertion does not verify with the client's keys",
        ),
        // The issuer among others: signed, perhaps, for a server that named our issuer as one of
        // its endpoints.
        (
            json!([issuer, endpoint]),
            "the client assertion's aud must be the issuer alone",
        ),
    ];
    for (n, (aud, description)) in refused.into_iter().enumerate() {
        let claims = json!({"iss": "rp-jwt", "sub": "rp-jwt", "aud": aud, "exp": now + 60, "iat": now, "jti": n.to_string()});
        let (status, body) = token(&app, &key.sign_jwt(None, &claims).unwrap()).await;
        assert_eq!(status, 401, "{aud}");
        assert_eq!(
            body,
            json!({"error": "invalid_client", "error_description": description})
        );
    }
    for (aud, jti) in [(json!(issuer), "string"), (json!([issuer]), "array")] {
        let claims = json!({"iss": "rp-jwt", "sub": "rp-jwt", "aud": aud, "exp": now + 60, "iat": now, "jti": jti});
        let (status, body) = token(&app, &key.sign_jwt(None, &claims).unwrap()).await;
        assert_eq!(status, 200, "{aud}: {body}");
    }
    keys_server.stop(true).await;
    app.stop().await;
}

both_stores!(abandoned_requests_cost_at_most_one_fetch_of_the_clients_keys);
/// Junk assertions whose requests are abandoned while the client's keys are being fetched (the
/// connection reset): the fetch goes on, its outcome is kept, and the next ones are answered from
/// it. Before, each abandoned request cancelled its fetch before the keys were kept, and each new
/// one fetched again: a fetch from the city's server per connection, past the minute's limit.
async fn abandoned_requests_cost_at_most_one_fetch_of_the_clients_keys(backend: Backend) {
    use tokio::io::AsyncWriteExt;
    let (key, _) = SigningKey::generate(SigningAlg::ES256).unwrap();
    let (stranger, _) = SigningKey::generate(SigningAlg::ES256).unwrap();
    let keys = json!({ "keys": [key.public_jwk()] }).to_string();
    let (slow_uri, hits) = counting_jwks(Answer::Slow(keys));
    let app = with_jwt_clients(backend, &[("rp-jwt", &slow_uri)]).await;
    let address = url::Url::parse(&app.url("/")).unwrap();
    let address = format!(
        "{}:{}",
        address.host_str().unwrap(),
        address.port().unwrap()
    );
    for i in 0..5 {
        let assertion = signed(&app, &stranger, "rp-jwt", &format!("junk-{i}"));
        let body = format!(
            "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={assertion}"
        );
        let request = format!(
            "POST /seinajoki/token HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        // A reset, not a close: the server reads an error and drops the request.
        stream.set_zero_linger().unwrap();
        drop(stream);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    authenticates_without_fetching_again(&app, &key, &hits).await;
    app.stop().await;
}

both_stores!(junk_assertions_cost_at_most_one_fetch_of_the_clients_keys);
/// Many assertions at once, none of which verifies, cost one fetch of the client's keys: when the
/// keys answer (cached), and when their server fails (the failure is remembered for a minute).
/// Verifications running together wait for the one fetch.
async fn junk_assertions_cost_at_most_one_fetch_of_the_clients_keys(backend: Backend) {
    let (key, _) = SigningKey::generate(SigningAlg::ES256).unwrap();
    let (stranger, _) = SigningKey::generate(SigningAlg::ES256).unwrap();
    let (good_uri, good_hits) = counting_jwks(Answer::Keys(
        json!({ "keys": [key.public_jwk()] }).to_string(),
    ));
    let (down_uri, down_hits) = counting_jwks(Answer::Failure);
    let app = with_jwt_clients(backend, &[("rp-jwt", &good_uri), ("rp-down", &down_uri)]).await;

    for (client_id, expected) in [
        (
            "rp-jwt",
            "the client assertion does not verify with the client's keys",
        ),
        ("rp-down", "the client's keys could not be fetched"),
    ] {
        // Sent together, each on its own task.
        let attempts: Vec<_> = (0..12)
            .map(|i| {
                let http = app.http.clone();
                let url = app.url("/seinajoki/token");
                let assertion = signed(&app, &stranger, client_id, &format!("junk-{i}"));
                tokio::spawn(async move { token_at(&http, &url, &assertion).await })
            })
            .collect();
        for attempt in attempts {
            let (status, body) = attempt.await.unwrap();
            assert_eq!(status, 401, "{client_id}: {body}");
            assert_eq!(
                body,
                json!({"error": "invalid_client", "error_description": expected}),
                "{client_id}"
            );
        }
        // Malformed ones cost nothing either.
        let (status, body) = token(&app, "eyJhbGciOiJub25lIn0.eyJpc3MiOiJycC1kb3duIn0.").await;
        assert_eq!(status, 401, "{body}");
    }
    assert_eq!(
        good_hits.load(Ordering::SeqCst),
        1,
        "one fetch of good keys"
    );
    assert_eq!(down_hits.load(Ordering::SeqCst), 1, "one failed fetch");

    // The good client still authenticates from the cached keys.
    authenticates_without_fetching_again(&app, &key, &good_hits).await;
    app.stop().await;
}

/// `rp-jwt` signs with `key` and is let in, its keys fetched once in all (`hits`): the one
/// fetch before served it from the cache.
async fn authenticates_without_fetching_again(app: &TestApp, key: &SigningKey, hits: &AtomicUsize) {
    let (status, body) = token_as(app, key, "rp-jwt", "real").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

both_stores!(an_oversized_key_set_is_refused_without_reading_it_all);
/// A key set over 64 KiB is refused as unfetchable keys (401 invalid_client, never a 5xx),
/// whether its length is announced or it streams without end.
async fn an_oversized_key_set_is_refused_without_reading_it_all(backend: Backend) {
    let (stranger, _) = SigningKey::generate(SigningAlg::ES256).unwrap();
    let (huge_uri, huge_hits) = counting_jwks(Answer::Huge);
    let (endless_uri, endless_hits) = counting_jwks(Answer::Endless);
    let app = with_jwt_clients(
        backend,
        &[("rp-huge", &huge_uri), ("rp-endless", &endless_uri)],
    )
    .await;
    for client_id in ["rp-huge", "rp-endless", "rp-huge", "rp-endless"] {
        let (status, body) = token_as(&app, &stranger, client_id, "x").await;
        assert_eq!(status, 401, "{client_id}: {body}");
        assert_eq!(
            body,
            json!({"error": "invalid_client", "error_description": "the client's keys could not be fetched"}),
            "{client_id}"
        );
    }
    assert_eq!(huge_hits.load(Ordering::SeqCst), 1);
    assert_eq!(endless_hits.load(Ordering::SeqCst), 1);
    app.stop().await;
}

/// Introspection by a client that authenticates with an assertion (`aud` the token endpoint,
/// accepted at the others, RFC 7523 §3). Introspection only reads, and on SQLite its statements
/// run at once on the worker on a connection that cannot write (`store/inline.rs`); recording
/// the assertion's `jti` is a write, so the request goes to the pool and is answered there: the
/// token is active, and the same assertion is refused the second time, so the `jti` was written.
async fn introspect_as(app: &TestApp, assertion: &str, token: &str) -> (u16, Value) {
    let url = app.url("/seinajoki/introspect");
    post_asserted(&app.http, &url, assertion, &[("token", token)]).await
}

both_stores!(introspection_records_the_assertion_it_was_authenticated_by);
async fn introspection_records_the_assertion_it_was_authenticated_by(backend: Backend) {
    let (key, _) = SigningKey::generate(SigningAlg::ES256).unwrap();
    let (jwks_uri, _keys_server) = serve_jwks(json!({ "keys": [key.public_jwk()] }));
    let app = with_jwt_clients(backend, &[("rp-jwt", &jwks_uri)]).await;
    let (status, issued) = token_as(&app, &key, "rp-jwt", "for-a-token").await;
    assert_eq!(status, 200, "{issued}");
    let access = issued["access_token"].as_str().unwrap();

    let assertion = signed(&app, &key, "rp-jwt", "introspecting");
    let (status, body) = introspect_as(&app, &assertion, access).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["client_id"], "rp-jwt");

    let (status, body) = introspect_as(&app, &assertion, access).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        body,
        json!({"error": "invalid_client", "error_description": "the client assertion was used before"})
    );
}
