//! How recovery codes are stored: as an HMAC under a key derived from the key-encryption key, so
//! that a database backup alone does not let anyone guess them offline (a plain SHA-256 of the
//! user's id and a 50-bit code falls to a GPU in hours); codes stored as that plain SHA-256 before
//! still log in, once, until the user makes new ones.

use diesel::prelude::*;
use idp::crypto::totp::{self, RECOVERY_CODE_PREFIX};
use idp::store::schema::recovery_codes;
use reqwest::Client;
use serde_json::json;

use crate::both_stores;
use crate::helpers::authority::{
    PASSWORD, account, app_with_code, at_second_factor, authority_app_at_address, authority_id,
    code, give, refused,
};
use crate::helpers::journeys::{hidden, post_with_csrf, says};
use crate::helpers::{Backend, TestApp, assert_has, tenant};
use crate::rp::location;
use crate::second_factor_account::{codes_of, renew_codes};

/// The SHA-256 the code before the HMAC stored for the code `shown` of `user_id`: what the attack
/// guessed against, the user's id being known.
pub(crate) fn plain_sha256(user_id: &str, shown: &str) -> String {
    let normalised = shown.replace('-', "").to_lowercase();
    idp::crypto::secret::hash(&format!("recovery\n{user_id}\n{normalised}"))
}

/// Gives the authority user ten recovery codes stored as the plain SHA-256 of before the HMAC:
/// its id and the codes.
async fn seed_plain_codes(app: &TestApp) -> (String, Vec<String>) {
    let user_id = authority_id(app).await;
    let codes = totp::recovery_codes();
    let hashes: Vec<String> = codes.iter().map(|c| plain_sha256(&user_id, c)).collect();
    let (id, now) = (user_id.clone(), app.now());
    app.db_run(move |conn| {
        let t = tenant("seinajoki");
        idp::store::second_factors::set_recovery_codes(conn, t, &id, &hashes, now).unwrap();
    })
    .await;
    (user_id, codes)
}

/// The `code_hash` of every recovery code row of `user_id`, used or not.
async fn stored(app: &TestApp, user_id: &str) -> Vec<String> {
    let user_id = user_id.to_string();
    app.db_run(move |conn| {
        recovery_codes::table
            .filter(recovery_codes::user_id.eq(user_id))
            .select(recovery_codes::code_hash)
            .order(recovery_codes::code_hash)
            .load::<String>(conn)
            .unwrap()
    })
    .await
}

/// New recovery codes asked on the account page `html`, after the current password: the codes.
async fn renew(app: &TestApp, browser: &Client, html: &str) -> Vec<String> {
    let renewed = renew_codes(app, browser, html).await;
    codes_of(&says(renewed, 200, "Uudet varakoodit on luotu.").await)
}

/// What is stored for `codes` of `user_id` must be their HMACs under the server's key-encryption
/// key, and none of them the plain SHA-256 that a backup's reader could guess against.
async fn assert_stored_as_hmacs(app: &TestApp, user_id: &str, codes: &[String]) {
    assert_eq!(codes.len(), 10);
    let rows = stored(app, user_id).await;
    let mut expected: Vec<String> = codes
        .iter()
        .map(|c| totp::recovery_code_mac(&app.services.kek, "seinajoki", user_id, c).unwrap())
        .collect();
    expected.sort();
    assert_eq!(rows, expected);
    for row in &rows {
        assert!(row.starts_with(RECOVERY_CODE_PREFIX), "{row}");
        for code in codes {
            let plain = plain_sha256(user_id, code);
            assert!(!row.contains(&plain), "{row} is the SHA-256 of {code}");
            assert_ne!(row, &idp::crypto::secret::hash(code));
        }
    }
}

both_stores!(issued_recovery_codes_are_stored_as_hmacs_not_as_plain_hashes);
/// Both ways codes are issued (new codes on the account page, and an enrolment's, which the
/// login's enrolment shares) store HMACs only, and the codes so stored work at the login.
async fn issued_recovery_codes_are_stored_as_hmacs_not_as_plain_hashes(backend: Backend) {
    let (app, client, secret) = app_with_code(backend).await;
    let user_id = authority_id(&app).await;
    let (browser, html) = account(&app, Some(&secret)).await;
    let renewed = renew(&app, &browser, &html).await;
    assert_stored_as_hmacs(&app, &user_id, &renewed).await;
    // A new code set up on the account page: its ten new recovery codes, stored the same way.
    let url = app.url("/seinajoki/account/second-factor");
    let started = post_with_csrf(&browser, url, &html, &[("password", PASSWORD)]).await;
    let enrol = says(started, 200, "Ota kertakäyttökoodi käyttöön").await;
    let shown = enrol.split("<code id=\"secret\">").nth(1).unwrap();
    let new = totp::TotpSecret::from_base32(shown.split('<').next().unwrap()).unwrap();
    let fields = [
        ("ceremony", hidden(&enrol, "ceremony")),
        ("code", code(&app, &new, 0)),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let url = app.url("/seinajoki/account/second-factor/confirm");
    let confirmed = post_with_csrf(&browser, url, &enrol, &fields).await;
    let enrolled = codes_of(&says(confirmed, 200, "Varakoodisi").await);
    assert_stored_as_hmacs(&app, &user_id, &enrolled).await;
    // Stored so, a code logs in once.
    let login = at_second_factor(&app, &client).await;
    let done = give(&login, &[("recovery", &enrolled[0])]).await;
    assert_eq!(location(&done).path(), "/callback");
    let login = at_second_factor(&app, &client).await;
    let fields = [("recovery", enrolled[0].as_str())];
    refused(&login, &fields, 401, "Varakoodi on väärä tai jo käytetty.").await;
    app.stop().await;
}

both_stores!(a_recovery_code_stored_as_a_plain_hash_before_still_logs_in_once);
/// An upgrade locks no authority user out: codes stored as the plain SHA-256 before the HMAC are
/// looked up after it, and work once each, until new codes replace them.
async fn a_recovery_code_stored_as_a_plain_hash_before_still_logs_in_once(backend: Backend) {
    let (app, client, secret) = app_with_code(backend).await;
    let (user_id, codes) = seed_plain_codes(&app).await;
    // Typed as a person might: capitals, a space for the dash.
    let login = at_second_factor(&app, &client).await;
    let typed = codes[0].to_uppercase().replace('-', " ");
    let done = give(&login, &[("recovery", &typed)]).await;
    let claims = login.redeem(&client, &location(&done)).await.payload();
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    let left = app
        .audit_details("seinajoki", "second_factor.recovery_code_used")
        .await;
    assert_eq!(left, [json!({"left": 9})]);
    // Once.
    let login = at_second_factor(&app, &client).await;
    let fields = [("recovery", codes[0].as_str())];
    refused(&login, &fields, 401, "Varakoodi on väärä tai jo käytetty.").await;
    // New codes replace the old ones, plain hashes and all: nothing of the old form is left.
    let (browser, html) = account(&app, Some(&secret)).await;
    let renewed = renew(&app, &browser, &html).await;
    assert_stored_as_hmacs(&app, &user_id, &renewed).await;
    app.clock.advance(30);
    let login = at_second_factor(&app, &client).await;
    let fields = [("recovery", codes[1].as_str())];
    refused(&login, &fields, 401, "Varakoodi on väärä tai jo käytetty.").await;
    app.stop().await;
}

both_stores!(a_login_with_a_recovery_code_is_told_to_the_owner);
/// A recovery code is used when the phone is lost, or by someone else who has the codes and the
/// password: the owner's address is told of the login, with the way to a new password, as of
/// every other change to how the account logs in.
async fn a_login_with_a_recovery_code_is_told_to_the_owner(backend: Backend) {
    let app = authority_app_at_address(backend, "required").await;
    crate::helpers::authority::seed_totp(&app).await;
    let client = crate::rp::basic(&app).await;
    let (_, codes) = seed_plain_codes(&app).await;
    let login = at_second_factor(&app, &client).await;
    let done = give(&login, &[("recovery", codes[0].as_str())]).await;
    assert_eq!(location(&done).path(), "/callback");
    let notice = app.wait_for_mails(1).await.swap_remove(0);
    assert_has(
        &notice,
        &format!("To: {}", crate::helpers::authority::ADDRESS),
    );
    assert_has(
        &notice,
        "Tilillesi palvelussa Seinäjoen kaupunki kirjauduttiin varakoodilla.",
    );
    assert!(!notice.contains(&codes[0]), "{notice}");
    app.stop().await;
}

both_stores!(a_recovery_code_posted_twice_at_once_is_spent_once_and_fails_nothing);
/// A double click: two posts of one half-done login with one recovery code, both sent while the
/// user's row is held (as a recovery or another post of the login holds it). One logs in; the
/// other finds the login gone. Before, the second spent nothing with the used code but wrote a
/// failed second factor and a strike against the user's codes.
async fn a_recovery_code_posted_twice_at_once_is_spent_once_and_fails_nothing(backend: Backend) {
    use idp::store::{self, StoreError};
    let (app, client, _) = app_with_code(backend).await;
    let (user_id, codes) = seed_plain_codes(&app).await;
    let login = at_second_factor(&app, &client).await;
    let services = app.services.clone();
    let (held, holding) = tokio::sync::oneshot::channel();
    let holder = tokio::task::spawn_blocking(move || {
        let mut conn = services.store.conn().unwrap();
        store::write_transaction(&mut conn, |conn| {
            store::users::lock(conn, tenant("seinajoki"), &user_id)?;
            held.send(()).unwrap();
            // Both posts read the login, then wait for the row.
            std::thread::sleep(std::time::Duration::from_millis(1500));
            Ok::<_, StoreError>(())
        })
        .unwrap();
    });
    holding.await.unwrap();
    let fields = [("recovery", codes[0].as_str())];
    let (first, second) = tokio::join!(give(&login, &fields), give(&login, &fields));
    holder.await.unwrap();
    let to_client = [&first, &second]
        .iter()
        .filter(|r| {
            r.headers()
                .get("location")
                .is_some_and(|l| l.to_str().unwrap().contains("/callback"))
        })
        .count();
    assert_eq!(to_client, 1, "{} {}", first.status(), second.status());
    let used = app
        .audit_details("seinajoki", "second_factor.recovery_code_used")
        .await;
    assert_eq!(used, [json!({"left": 9})]);
    let failed = app.audited("seinajoki", "login.second_factor_failed").await;
    assert_eq!(failed.len(), 0, "{failed:?}");
    // Nor a strike against the user's codes or the client address (the count of every
    // password check, `checks:`, holds the login's right password).
    let strikes = app
        .db_run(|conn| {
            use idp::store::schema::login_throttle;
            login_throttle::table
                .select((login_throttle::throttle_key, login_throttle::failures))
                .filter(login_throttle::failures.gt(0))
                .filter(login_throttle::throttle_key.not_like("checks:%"))
                .load::<(String, i64)>(conn)
                .unwrap()
        })
        .await;
    assert_eq!(strikes, []);
    app.stop().await;
}
