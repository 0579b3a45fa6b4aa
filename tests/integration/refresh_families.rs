//! Refresh token families: one row a grant however often its e-service refreshes, and every
//! rotated token still known (and its family revoked) when presented again.

use diesel::RunQueryDsl;
use openidconnect::OAuth2TokenResponse;
use serde_json::{Value, json};

use crate::both_stores;
use crate::helpers::journeys::client_post;
use crate::helpers::{Backend, TestApp};
use crate::rp;

const PASSWORD: &str = "oikea hevonen patteri";
const TOKEN: &str = "/seinajoki/token";
const RP_BASIC: (&str, &str) = ("rp-basic", "rp-basic-secret");
/// The refusal of any refresh token that is not the family's current one.
const REFUSED: &str = "the refresh token is invalid, expired or revoked";

/// A server with Erkki, and a refresh token of his `offline_access` login at `rp-basic`.
async fn refresh_token_of_a_login(backend: Backend) -> (TestApp, String) {
    let app = TestApp::with_user(backend, "erkki@testi.fi", PASSWORD, "Erkki").await;
    let token = log_in(&app).await;
    (app, token)
}

/// Another login of Erkki at `rp-basic` (another grant): its refresh token.
async fn log_in(app: &TestApp) -> String {
    let client = rp::basic(app).await;
    let started = rp::start(&client, &["offline_access"], &[]);
    let browser = app.browser();
    let redeemed =
        rp::log_in_and_redeem(&browser, &client, started, "erkki@testi.fi", PASSWORD).await;
    redeemed.tokens.refresh_token().unwrap().secret().clone()
}

/// `rp-basic` refreshes with `token`: the new refresh token, or the error's description.
async fn refresh(app: &TestApp, token: &str) -> Result<String, String> {
    let form = [("grant_type", "refresh_token"), ("refresh_token", token)];
    let (status, body) = client_post(app, TOKEN, RP_BASIC, &form).await;
    match status {
        200 => Ok(body["refresh_token"].as_str().unwrap().to_string()),
        _ => {
            assert_eq!((status, &body["error"]), (400, &json!("invalid_grant")));
            Err(body["error_description"].as_str().unwrap().to_string())
        }
    }
}

fn handle(token: &str) -> &str {
    token.split_once('.').unwrap().0
}

async fn rows(app: &TestApp) -> i64 {
    app.count("SELECT count(*) AS n FROM refresh_tokens").await
}

both_stores!(a_family_keeps_one_row_and_knows_every_token_it_rotated);
async fn a_family_keeps_one_row_and_knows_every_token_it_rotated(backend: Backend) {
    let (app, first) = refresh_token_of_a_login(backend).await;
    let mut tokens = vec![first.clone()];
    for _ in 0..5 {
        let next = refresh(&app, tokens.last().unwrap()).await.unwrap();
        tokens.push(next);
    }
    assert!(
        tokens.iter().all(|t| handle(t) == handle(&first)),
        "{tokens:?}"
    );
    assert_eq!(rows(&app).await, 1, "the rotated tokens' rows are gone");

    // The first token, rotated five times since: someone holds a copy, and the family dies.
    assert_eq!(refresh(&app, &first).await.unwrap_err(), REFUSED);
    assert_eq!(
        refresh(&app, tokens.last().unwrap()).await.unwrap_err(),
        REFUSED
    );
    let reused = app.audited("seinajoki", "refresh_token.reused").await;
    assert_eq!(reused.len(), 1, "{reused:?}");
    assert_eq!(reused[0].client_id.as_deref(), Some("rp-basic"));
    app.stop().await;
}

both_stores!(a_made_up_secret_with_a_familys_handle_revokes_that_family_only);
async fn a_made_up_secret_with_a_familys_handle_revokes_that_family_only(backend: Backend) {
    let (app, mine) = refresh_token_of_a_login(backend).await;
    let other = log_in(&app).await;
    assert_ne!(handle(&mine), handle(&other), "a grant, a family");
    // Only a copy of one of the family's tokens shows its handle.
    let made_up = format!("{}.{}", handle(&mine), "x".repeat(43));
    assert_eq!(refresh(&app, &made_up).await.unwrap_err(), REFUSED);
    assert_eq!(refresh(&app, &mine).await.unwrap_err(), REFUSED);
    assert!(
        refresh(&app, &other).await.is_ok(),
        "another family lives on"
    );
    // A handle nobody was given, or none at all: refused, nothing revoked.
    for unknown in ["nobody.secret", ".secret", "secret", "a.b.c"] {
        assert_eq!(refresh(&app, unknown).await.unwrap_err(), REFUSED);
    }
    let reused = app.audited("seinajoki", "refresh_token.reused").await;
    assert_eq!(reused.len(), 1, "the one family");
    app.stop().await;
}

both_stores!(a_refresh_token_issued_before_families_refreshes_and_is_known_again);
async fn a_refresh_token_issued_before_families_refreshes_and_is_known_again(backend: Backend) {
    let (app, current) = refresh_token_of_a_login(backend).await;
    // As an earlier version left it: a token without a handle, its grant without a family.
    let before = "a-token-of-an-earlier-version";
    let hash = idp::crypto::secret::hash(before);
    let current_hash = idp::crypto::secret::hash(&current);
    app.db_run(move |conn| {
        diesel::sql_query(format!(
            "UPDATE refresh_tokens SET token_hash = '{hash}' WHERE token_hash = '{current_hash}'"
        ))
        .execute(conn)
        .unwrap();
        diesel::sql_query("UPDATE grants SET refresh_family = NULL")
            .execute(conn)
            .unwrap();
    })
    .await;
    let next = refresh(&app, before).await.unwrap();
    assert!(!handle(&next).is_empty());
    let after = refresh(&app, &next).await.unwrap();
    assert_eq!(
        handle(&after),
        handle(&next),
        "the family named at its first rotation"
    );
    // The old token's row stays, rotated: the one way it is known again.
    assert_eq!(rows(&app).await, 2);
    assert_eq!(refresh(&app, before).await.unwrap_err(), REFUSED);
    assert_eq!(refresh(&app, &after).await.unwrap_err(), REFUSED);
    app.stop().await;
}

both_stores!(a_rotated_token_revoked_by_its_client_revokes_its_family);
async fn a_rotated_token_revoked_by_its_client_revokes_its_family(backend: Backend) {
    let (app, first) = refresh_token_of_a_login(backend).await;
    let second = refresh(&app, &first).await.unwrap();
    // Another client's revocation of it changes nothing (RFC 7009 §2.1).
    let service = ("service", "service-secret");
    let form = [("token", first.as_str())];
    let (status, _) = client_post(&app, "/seinajoki/revoke", service, &form).await;
    assert_eq!(status, 200);
    let third = refresh(&app, &second).await.unwrap();
    let (status, body): (u16, Value) =
        client_post(&app, "/seinajoki/revoke", RP_BASIC, &form).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(refresh(&app, &third).await.unwrap_err(), REFUSED);
    app.stop().await;
}
