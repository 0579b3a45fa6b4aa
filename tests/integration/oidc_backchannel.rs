//! Back-channel logout 1.0: a relying party's endpoint receives a verifiable logout token.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use openidconnect::TokenResponse;
use serde_json::Value;

use crate::both_stores;
use crate::helpers::{Backend, TestApp, first_party_client};
use crate::rp::{self, Receiver, location, start_receiver};

/// Waits until `receiver` has had `count` deliveries, moving `app`'s clock past the retries.
pub async fn wait_for(receiver: &Receiver, count: usize, app: &TestApp) {
    for _ in 0..100 {
        if receiver.bodies.lock().unwrap().len() >= count {
            return;
        }
        // Retries wait for their backoff: move the server's clock along.
        app.clock.advance(10);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{count} deliveries expected, got {:?}",
        receiver.bodies.lock().unwrap()
    );
}

/// The server with Erkki and `rp-bcl`, which hears of logouts at `uri`, with the client's `extra`
/// settings.
async fn with_bcl(backend: Backend, uri: &str, extra: &[&str]) -> TestApp {
    let logout_uri = format!("backchannel_logout_uri = \"{uri}\"");
    let settings: Vec<&str> = std::iter::once(logout_uri.as_str())
        .chain(extra.iter().copied())
        .collect();
    TestApp::builder(backend)
        .tenant_toml(&first_party_client(
            "rp-bcl",
            "http://127.0.0.1:9/bcl-callback",
            &settings,
        ))
        .user("seinajoki", "erkki@testi.fi", "oikea hevonen", "Erkki")
        .spawn()
        .await
}

both_stores!(a_session_shared_by_two_clients_ends_at_both);
async fn a_session_shared_by_two_clients_ends_at_both(backend: Backend) {
    let receiver = Receiver::default();
    *receiver.fail_first.lock().unwrap() = 1;
    let (uri, receiver_handle) = start_receiver(receiver.clone());
    let app = with_bcl(backend, &uri, &["id_token_signed_response_alg = \"ES256\""]).await;
    let browser = app.browser();

    // Log in at rp-bcl, then (SSO) at rp-basic, in one browser.
    let bcl = rp::client(
        &app,
        "seinajoki",
        "rp-bcl",
        Some("rp-bcl-secret"),
        "http://127.0.0.1:9/bcl-callback",
    )
    .await;
    let started = rp::start(&bcl, &[], &[]);
    let redeemed =
        rp::log_in_and_redeem(&browser, &bcl, started, "erkki@testi.fi", "oikea hevonen").await;
    // The RP library ignores claims it does not know: read `sid` from the (verified) payload.
    let sid = redeemed.payload()["sid"].as_str().unwrap().to_string();
    let basic = rp::basic(&app).await;
    let started = rp::start(&basic, &[], &[]);
    let back = location(&browser.get(started.url.clone()).send().await.unwrap());
    let redeemed_basic = rp::redeem(&basic, started, &back).await;
    let hint = redeemed_basic.tokens.id_token().unwrap().to_string();

    // Log out at rp-basic.
    let mut logout = url::Url::parse(&app.url("/seinajoki/logout")).unwrap();
    logout.query_pairs_mut().append_pair("id_token_hint", &hint);
    let response = browser.get(logout).send().await.unwrap();
    assert_eq!(response.status(), 200);

    // rp-bcl hears of it: once refused (503), then delivered.
    wait_for(&receiver, 2, &app).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let bodies = receiver.bodies.lock().unwrap().clone();
    assert_eq!(
        bodies.len(),
        2,
        "retried once, then delivered, then never again: {bodies:?}"
    );
    let token = url::form_urlencoded::parse(bodies[1].as_bytes())
        .find(|(k, _)| k == "logout_token")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    assert_eq!(header.alg, Algorithm::ES256);
    let jwks: jsonwebtoken::jwk::JwkSet = app.get("/seinajoki/jwks").await.json().await.unwrap();
    let key = DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&["rp-bcl"]);
    validation.set_issuer(&[app.issuer("seinajoki")]);
    validation.validate_exp = false; // the server's clock was moved on
    let claims = jsonwebtoken::decode::<Value>(&token, &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["sub"], redeemed.claims.subject().as_str());
    assert_eq!(claims["sid"], sid.as_str());
    assert!(claims["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object());
    assert!(claims.get("nonce").is_none());
    assert!(claims["jti"].is_string() && claims["iat"].is_i64());
    // Delivered, the row keeps its week for operations, not the token's claims (an erasure's
    // logout would tie the subject to the time of the erasure).
    let emptied = "SELECT count(*) AS n FROM logout_deliveries WHERE status = 'delivered' \
                   AND logout_token = ''";
    assert_eq!(app.count(emptied).await, 1);
    app.stop().await;
    receiver_handle.stop(true).await;
}

both_stores!(a_relying_party_that_never_answers_holds_no_other_logout_back);
/// One e-service's back-channel endpoint accepts connections and never answers; twelve logout
/// tokens for it wait first in the queue (more than a round takes), then one for another
/// endpoint. One round of the deliveries takes the endpoints' tokens in turn and sends them all at
/// once, so the other endpoint gets its token in that round. Before, a round took 5 tokens one
/// after the other (5 s each to give up), and every tenant's logouts waited behind the silent
/// one's; then a round took the ten longest due, all the silent one's, round after round.
async fn a_relying_party_that_never_answers_holds_no_other_logout_back(backend: Backend) {
    use idp::store::deliveries::{self, DeliveryRow};
    use idp::store::lease_queue::QueueState;
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_uri = format!("http://{}/backchannel", silent.local_addr().unwrap());
    let receiver = Receiver::default();
    let (uri, receiver_handle) = start_receiver(receiver.clone());
    let silent_setting = format!("backchannel_logout_uri = \"{silent_uri}\"");
    let redirect = "http://127.0.0.1:9/silent-callback";
    let app = TestApp::builder(backend)
        .tenant_toml(&first_party_client(
            "rp-bcl",
            redirect,
            &[&format!("backchannel_logout_uri = \"{uri}\"")],
        ))
        .tenant_toml(&first_party_client(
            "rp-silent",
            redirect,
            &[&silent_setting],
        ))
        .spawn()
        .await;
    app.stop_workers();
    let now = app.now();
    let rows: Vec<DeliveryRow> = (0..13)
        .map(|n| DeliveryRow {
            id: format!("delivery-{n}"),
            tenant_id: "seinajoki".into(),
            client_id: if n < 12 { "rp-silent" } else { "rp-bcl" }.into(),
            uri: if n < 12 {
                silent_uri.clone()
            } else {
                uri.clone()
            },
            logout_token: r#"{"iss":"x","aud":"rp-bcl","sid":"s","jti":"j"}"#.into(),
            queue: QueueState {
                status: "pending".into(),
                attempts: 0,
                next_attempt_at: now - chrono::Duration::seconds(20 - n),
                locked_until: None,
                last_error: None,
            },
            created_at: now - chrono::Duration::seconds(20 - n),
            delivered_at: None,
        })
        .collect();
    app.db_run(move |conn| {
        for row in &rows {
            deliveries::insert(conn, row).unwrap();
        }
    })
    .await;
    let delivered = app.services.deliver_logouts().await.unwrap();
    assert_eq!(delivered, 1);
    assert_eq!(receiver.bodies.lock().unwrap().len(), 1);
    drop(silent);
    app.stop().await;
    receiver_handle.stop(true).await;
}

both_stores!(an_e_service_of_a_long_session_hears_of_its_logout_after_its_grant_expired);
/// Erkki logs in at `rp-bcl` with "remember me" (a session of 30 days); his grant there lasts 8
/// hours. Nine hours later, the clean-up has run, he uses `rp-basic` by single sign-on and logs
/// out there: `rp-bcl` is told, with the session's `sid`. Before, the clean-up deleted the
/// expired grant, the only record that `rp-bcl` shared the session, and `rp-bcl` kept its own
/// session of Erkki (a stolen laptop's "sign out everywhere" left it signed in).
async fn an_e_service_of_a_long_session_hears_of_its_logout_after_its_grant_expired(
    backend: Backend,
) {
    let receiver = Receiver::default();
    let (uri, receiver_handle) = start_receiver(receiver.clone());
    let app = with_bcl(backend, &uri, &[]).await;
    let callback = "http://127.0.0.1:9/bcl-callback";
    let bcl = rp::client(&app, "seinajoki", "rp-bcl", Some("rp-bcl-secret"), callback).await;
    let browser = app.browser();
    let login = crate::helpers::journeys::Login::start(&browser, &bcl, &[], &[]).await;
    let back = location(&login.submit("erkki@testi.fi", "oikea hevonen", true).await);
    let sid = login.redeem(&bcl, &back).await.payload()["sid"].clone();
    // Two silent renewals at rp-bcl: a grant each. Expired, one of them is enough to tell it.
    for _ in 0..2 {
        app.clock.advance(60);
        let renewed = rp::authorize(&browser, &bcl, &[("prompt", "none")]).await;
        assert!(rp::param(&renewed, "code").is_some(), "{renewed}");
    }

    app.clock.advance(9 * 3600);
    app.services.purge_expired().await.unwrap();
    let kept = app
        .db_run(|conn| {
            use diesel::prelude::*;
            use idp::store::schema::grants;
            grants::table.count().get_result::<i64>(conn).unwrap()
        })
        .await;
    assert_eq!(kept, 1, "the newest expired grant of rp-bcl, no more");
    let basic = rp::basic(&app).await;
    let started = rp::start(&basic, &[], &[]);
    let back = location(&browser.get(started.url.clone()).send().await.unwrap());
    let hint = rp::redeem(&basic, started, &back).await;
    let mut logout = url::Url::parse(&app.url("/seinajoki/logout")).unwrap();
    let hint = hint.tokens.id_token().unwrap().to_string();
    logout.query_pairs_mut().append_pair("id_token_hint", &hint);
    assert_eq!(browser.get(logout).send().await.unwrap().status(), 200);

    wait_for(&receiver, 1, &app).await;
    let body = receiver.bodies.lock().unwrap()[0].clone();
    let token = url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "logout_token")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let claims = rp::payload(&token);
    assert_eq!(claims["aud"], "rp-bcl");
    assert_eq!(claims["sid"], sid);
    app.stop().await;
    receiver_handle.stop(true).await;
}

both_stores!(an_e_service_that_moved_its_endpoint_hears_of_the_logouts_queued_meanwhile);
/// An e-service's back-channel endpoint is down when Erkki logs out; the city gives the
/// e-service its new endpoint and restarts. The logout token queued meanwhile goes to the new
/// endpoint. Before, it was retried at the old one for hours and given up, and the e-service
/// kept its session of Erkki.
async fn an_e_service_that_moved_its_endpoint_hears_of_the_logouts_queued_meanwhile(
    backend: Backend,
) {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let old = format!("http://{}/backchannel", closed.local_addr().unwrap());
    drop(closed);
    let app = with_bcl(backend, &old, &[]).await;
    let callback = "http://127.0.0.1:9/bcl-callback";
    let bcl = rp::client(&app, "seinajoki", "rp-bcl", Some("rp-bcl-secret"), callback).await;
    let browser = app.browser();
    let started = rp::start(&bcl, &[], &[]);
    let redeemed =
        rp::log_in_and_redeem(&browser, &bcl, started, "erkki@testi.fi", "oikea hevonen").await;
    let mut logout = url::Url::parse(&app.url("/seinajoki/logout")).unwrap();
    let hint = redeemed.tokens.id_token().unwrap().to_string();
    logout.query_pairs_mut().append_pair("id_token_hint", &hint);
    assert_eq!(browser.get(logout).send().await.unwrap().status(), 200);
    let tried = "SELECT count(*) AS n FROM logout_deliveries WHERE attempts > 0";
    for _ in 0..100 {
        if app.count(tried).await > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.count(tried).await, 1, "tried at the old endpoint");

    let receiver = Receiver::default();
    let (new, receiver_handle) = start_receiver(receiver.clone());
    let app = app
        .restart_with(|dir| {
            let path = dir.join("tenants/seinajoki.toml");
            let text = std::fs::read_to_string(&path).unwrap();
            std::fs::write(&path, text.replace(&old, &new)).unwrap();
        })
        .await;
    wait_for(&receiver, 1, &app).await;
    app.stop().await;
    receiver_handle.stop(true).await;
}

both_stores!(a_logout_token_of_an_e_service_no_longer_configured_is_given_up_in_minutes);
/// A logout token queued for an e-service the city has removed since: retried for the minutes
/// of a rolling restart (another node may still have the client), then given up with the
/// reason after seven attempts (ten and a half minutes), not twelve over hours.
async fn a_logout_token_of_an_e_service_no_longer_configured_is_given_up_in_minutes(
    backend: Backend,
) {
    use idp::store::deliveries::{self, DeliveryRow};
    use idp::store::lease_queue::QueueState;
    let app = with_bcl(backend, "http://127.0.0.1:9/backchannel", &[]).await;
    app.stop_workers();
    let now = app.now();
    let row = DeliveryRow {
        id: "delivery-gone".into(),
        tenant_id: "seinajoki".into(),
        client_id: "rp-removed".into(),
        uri: "http://127.0.0.1:9/backchannel".into(),
        logout_token: r#"{"iss":"x","aud":"rp-removed","sid":"s","jti":"j"}"#.into(),
        queue: QueueState::pending(now),
        created_at: now,
        delivered_at: None,
    };
    app.db_run(move |conn| deliveries::insert(conn, &row).unwrap())
        .await;
    let given_up = "SELECT count(*) AS n FROM logout_deliveries WHERE status = 'failed' \
                    AND last_error = 'the client is not configured' AND logout_token = ''";
    let tried = "SELECT attempts AS n FROM logout_deliveries";
    let last = idp::flows::oidc::backchannel::NOWHERE_ATTEMPTS;
    for attempt in 1..=last {
        assert_eq!(app.services.deliver_logouts().await.unwrap(), 0);
        assert_eq!(app.count(tried).await, attempt);
        assert_eq!(
            app.count(given_up).await,
            i64::from(attempt == last),
            "{attempt}"
        );
        app.clock.advance(3600);
    }
    // The retries before it gave up spanned ten minutes at the least, a rolling restart's.
    let waited: i64 = (1..last)
        .map(|a| (idp::flows::oidc::backchannel::retry_at(now, a).unwrap() - now).num_seconds())
        .sum();
    assert!(waited >= 600, "{waited} s");
    app.stop().await;
}
