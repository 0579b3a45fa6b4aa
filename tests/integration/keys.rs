//! Signing keys: encrypted at rest, reused across restarts, rotated with a published-first overlap.

use idp::config::SigningAlg;
use serde_json::Value;

use crate::both_stores;
use crate::helpers::{Backend, TestApp};
use crate::rp;

async fn kids(app: &TestApp) -> Vec<String> {
    let jwks: Value = app.get("/seinajoki/jwks").await.json().await.unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

async fn id_token_kid(app: &TestApp) -> String {
    let client = rp::basic(app).await;
    let started = rp::start(&client, &[], &[]);
    let browser = app.browser();
    let redeemed = rp::log_in_and_redeem(
        &browser,
        &client,
        started,
        "erkki@testi.fi",
        "oikea hevonen",
    )
    .await;
    let id_token = openidconnect::TokenResponse::id_token(&redeemed.tokens).unwrap();
    jsonwebtoken::decode_header(id_token.to_string())
        .unwrap()
        .kid
        .unwrap()
}

both_stores!(keys_are_encrypted_and_rotate_with_an_overlap);
async fn keys_are_encrypted_and_rotate_with_an_overlap(backend: Backend) {
    let app = TestApp::with_user(backend, "erkki@testi.fi", "oikea hevonen", "Erkki").await;
    let before = kids(&app).await;
    assert_eq!(before.len(), 3);
    let old = id_token_kid(&app).await;
    assert!(before.contains(&old));

    // Private parts are stored sealed, never as PKCS#8 in the clear.
    let services = app.services.clone();
    let rows = tokio::task::spawn_blocking(move || {
        let mut conn = services.store.conn().unwrap();
        idp::store::keys::published(&mut conn, services.clock.now()).unwrap()
    })
    .await
    .unwrap();
    for row in &rows {
        // The stored text opens (with the key-encryption key and the kid) to the private key,
        // which it does not carry in the clear in any base64 form. (It used to be checked by not
        // starting with "MI", which a random sealed value does once in 4096.)
        use base64::Engine;
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        let pkcs8 = app
            .services
            .kek
            .open(&row.kid, &row.private_key_encrypted)
            .unwrap();
        let clear = STANDARD.encode(&pkcs8);
        let clear_url = URL_SAFE_NO_PAD.encode(&pkcs8);
        assert!(
            !row.private_key_encrypted.contains(&clear[4..36])
                && !row.private_key_encrypted.contains(&clear_url[4..36]),
            "not base64 DER"
        );
        assert_ne!(
            URL_SAFE_NO_PAD.decode(&row.private_key_encrypted).ok(),
            Some(pkcs8)
        );
        assert!(row.public_jwk.contains(&row.kid));
    }

    // Rotate RS256: the new key is published at once but does not sign yet.
    let services = app.services.clone();
    let (new, _) = tokio::task::spawn_blocking(move || {
        let mut conn = services.store.conn().unwrap();
        let rotated = idp::flows::keys::rotate(
            &mut conn,
            &services.kek,
            &services.config,
            "seinajoki",
            SigningAlg::RS256,
            services.clock.now(),
        )
        .unwrap();
        services.reload_keys().unwrap();
        rotated
    })
    .await
    .unwrap();
    let during = kids(&app).await;
    assert_eq!(during.len(), 4);
    assert!(during.contains(&new) && during.contains(&old));
    assert_eq!(
        id_token_kid(&app).await,
        old,
        "the new key waits for its activation"
    );

    // After the activation delay (3600 s by default) the new key signs; the old one is still
    // published for the tokens it signed.
    app.clock.advance(3601);
    app.services.reload_keys().unwrap();
    assert_eq!(id_token_kid(&app).await, new);
    assert!(kids(&app).await.contains(&old));

    // Once those tokens have expired, the old key leaves the JWKS.
    app.clock.advance(3600);
    app.services.reload_keys().unwrap();
    let after = kids(&app).await;
    assert_eq!(after.len(), 3);
    assert!(!after.contains(&old) && after.contains(&new));
    app.stop().await;
}

both_stores!(nodes_starting_together_make_one_key_set);
/// Keys are generated before the writers' turn is taken, and stored only if still missing under
/// the lock: four nodes ensuring keys at once on a database without any end with one key of each
/// algorithm per tenant.
async fn nodes_starting_together_make_one_key_set(backend: Backend) {
    use diesel::RunQueryDsl;

    let app = TestApp::spawn(backend).await;
    let services = app.services.clone();
    let created = tokio::task::spawn_blocking(move || {
        let mut conn = services.store.conn().unwrap();
        diesel::sql_query("DELETE FROM signing_keys")
            .execute(&mut **conn)
            .unwrap();
        drop(conn);
        let starts: Vec<_> = (0..4)
            .map(|_| {
                let services = services.clone();
                std::thread::spawn(move || {
                    let mut conn = services.store.conn().unwrap();
                    idp::flows::keys::ensure(
                        &mut conn,
                        &services.kek,
                        &services.config,
                        services.clock.now(),
                    )
                    .unwrap()
                })
            })
            .collect();
        let created: Vec<String> = starts
            .into_iter()
            .flat_map(|start| start.join().unwrap())
            .collect();
        let mut conn = services.store.conn().unwrap();
        for tenant in services.config.tenants.keys() {
            for alg in ["RS256", "ES256", "EdDSA"] {
                let keys = idp::store::keys::unretired(&mut conn, tenant, alg).unwrap();
                assert_eq!(keys.len(), 1, "{tenant} {alg}: {keys:?}");
            }
        }
        created
    })
    .await
    .unwrap();
    assert_eq!(created.len(), app.services.config.tenants.len() * 3);
    app.stop().await;
}
