//! Signing keys: encrypted at rest, reused across restarts, rotated with a published-first overlap.

use idp::config::SigningAlg;
use serde_json::Value;

use crate::both_stores;
use crate::helpers::{Backend, TestApp};
use crate::oidc_logout::{BYE, LoggedIn, back_at_bye_and_gone, logged_in, logout};
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
    kid_of(&id_token.to_string())
}

/// Rotates seinajoki's key of `alg` now (as `idp keys rotate`) and reloads the keys; returns the
/// new key's id.
async fn rotate(app: &TestApp, alg: SigningAlg) -> String {
    let services = app.services.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = services.store.conn().unwrap();
        let (kid, _) = idp::flows::keys::rotate(
            &mut conn,
            &services.kek,
            &services.config,
            "seinajoki",
            alg,
            services.clock.now(),
        )
        .unwrap();
        services.reload_keys().unwrap();
        kid
    })
    .await
    .unwrap()
}

fn kid_of(jwt: &str) -> String {
    jsonwebtoken::decode_header(jwt).unwrap().kid.unwrap()
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
        let now = services.clock.now();
        let tenants = services.config.tenants.values();
        tenants
            .flat_map(|tenant| {
                let tenant = idp::store::Tenant::of(tenant);
                idp::store::keys::published_since(&mut conn, tenant, now).unwrap()
            })
            .collect::<Vec<_>>()
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
    let new = rotate(&app, SigningAlg::RS256).await;
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

both_stores!(an_id_token_older_than_a_rotation_still_logs_its_session_out);
/// An e-service keeps the ID token of a login as its logout's `id_token_hint` for as long as the
/// session lives (8 hours, 30 days remembered), long after a rotation took the key that signed it
/// out of the JWKS. The retired key still verifies such a hint, and nothing else: an access token
/// it signed is refused even with an expiry still to come. Before, the logout showed
/// `invalid_id_token_hint`, and the session, its grants and its back-channel logouts stayed.
async fn an_id_token_older_than_a_rotation_still_logs_its_session_out(backend: Backend) {
    let (app, s) = logged_in(backend).await;
    let ring = app.services.keys.current();
    let old_signer = ring
        .tenant("seinajoki")
        .unwrap()
        .by_kid(&kid_of(&s.access_token))
        .unwrap()
        .clone();
    let old = kids(&app).await;
    assert!(old.contains(&kid_of(&s.id_token)));
    let mut new = Vec::new();
    for alg in [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA] {
        new.push(rotate(&app, alg).await);
    }

    // Past the old keys' publication (the activation delay, the longest token, a minute), well
    // within the session's 8 hours.
    let settings = &app.services.config.settings;
    let delay = settings.keys.activation_delay_seconds;
    let longest = settings.tokens.longest_signed_token_seconds();
    app.clock
        .advance(i64::try_from(delay + longest + 60).unwrap());
    // The retired keys' private parts are never read again: damaged, they stop nothing (the
    // ring was built from them, and a reload failed, when they were still decrypted).
    let retired = old.clone();
    app.db_run(move |conn| {
        use diesel::prelude::*;
        use idp::store::schema::signing_keys;
        diesel::update(signing_keys::table.filter(signing_keys::kid.eq_any(retired)))
            .set(signing_keys::private_key_encrypted.eq("vahingoittunut"))
            .execute(conn)
            .unwrap();
    })
    .await;
    app.services.reload_keys().unwrap();
    let published = kids(&app).await;
    assert!(
        old.iter().all(|kid| !published.contains(kid)),
        "{published:?}"
    );
    assert!(
        new.iter().all(|kid| published.contains(kid)),
        "{published:?}"
    );

    // An unexpired access token signed by the retired key is refused at userinfo; the same
    // claims signed by the key that signs now are accepted.
    let now = app.services.clock.now();
    let mut claims = rp::payload(&s.access_token);
    claims["iat"] = now.and_utc().timestamp().into();
    claims["exp"] = (now.and_utc().timestamp() + 300).into();
    let ring = app.services.keys.current();
    let new_signer = ring
        .tenant("seinajoki")
        .unwrap()
        .signing(old_signer.alg(), now)
        .unwrap();
    assert!(new.iter().any(|kid| kid == new_signer.kid()));
    for (signer, status) in [(&old_signer, 401), (new_signer, 200)] {
        let token = signer.sign_jwt(Some("at+jwt"), &claims).unwrap();
        let answer = app
            .http
            .get(app.url("/seinajoki/userinfo"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            answer.status().as_u16(),
            status,
            "signed by {}",
            signer.kid()
        );
    }

    // The ID token still logs its session out, back to the e-service.
    logs_out_by_its_hint(&app, &s, "kierto").await;
    app.stop().await;
}

/// The ID token of `s` logs its session out at rp-basic, back to the e-service with `state`.
async fn logs_out_by_its_hint(app: &TestApp, s: &LoggedIn, state: &str) {
    let pairs = [
        ("id_token_hint", s.id_token.as_str()),
        ("client_id", "rp-basic"),
        ("post_logout_redirect_uri", BYE),
        ("state", state),
    ];
    let answer = logout(app, s, &pairs).await;
    assert_eq!(answer.status().as_u16(), 303);
    back_at_bye_and_gone(app, s, answer, state).await;
}

both_stores!(a_session_older_than_its_citys_new_lifetime_still_logs_out_after_a_rotation);
/// The city shortens its sessions to an hour and restarts; a session of before, 8 hours, still
/// lives. After a rotation and past the new hour, the retired keys that signed its ID token are
/// kept for its hint while it lives: the logout goes through. Before, they were kept for the new
/// lifetime only, and the logout was `invalid_id_token_hint` with the session left running.
async fn a_session_older_than_its_citys_new_lifetime_still_logs_out_after_a_rotation(
    backend: Backend,
) {
    let (app, s) = logged_in(backend).await;
    let app = app
        .restart_with(|dir| {
            let path = dir.join("tenants/seinajoki.toml");
            let mut text = std::fs::read_to_string(&path).unwrap();
            text.push_str("\n[sessions]\nsession_seconds = 3600\nremember_seconds = 3600\n");
            std::fs::write(&path, text).unwrap();
        })
        .await;
    let old = kid_of(&s.id_token);
    for alg in [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA] {
        rotate(&app, alg).await;
    }
    let settings = &app.services.config.settings;
    let delay = settings.keys.activation_delay_seconds;
    let longest = settings.tokens.longest_signed_token_seconds();
    app.clock
        .advance(i64::try_from(delay + longest + 3600 + 60).unwrap());
    app.services.reload_keys().unwrap();
    assert!(!kids(&app).await.contains(&old), "out of the JWKS");

    logs_out_by_its_hint(&app, &s, "lyhyempi").await;
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
