//! Recovery revokes everything: a password reset, "sign out everywhere" and the undo of a change
//! of address end every grant of the account, `offline_access` refresh tokens included, and tell
//! the e-services through back-channel logout; a confirmed change of address voids the links
//! mailed before it; a change of address someone else asked for dies with every recovery, and
//! the undo of one undoes a deletion asked for since and ends what the changes since left: their
//! undo links, the old accounts they bound (even when the old address is taken meanwhile, it
//! ends everything); a deletion's undo link undoes that deletion only.

use std::time::Duration;

use serde_json::Value;

use crate::both_stores;
use crate::helpers::journeys::{
    answer, client_post, follow_link, page, post_with_csrf, says, set_password, sign_in,
    submit_link,
};
use crate::helpers::{Backend, Old, TestApp, assert_has, first_party_client};
use crate::rp::{self, Receiver, param, start_receiver};

pub const EMAIL: &str = "erkki@testi.fi";
pub const PASSWORD: &str = "erkin vanha salasana";
pub const REDIRECT: &str = "http://127.0.0.1:9/offline-callback";
/// `rp-offline`'s credentials.
const OFFLINE: (&str, &str) = ("rp-offline", "rp-offline-secret");

/// What the resident does to take the account back.
#[derive(Debug, Clone, Copy)]
pub enum Recovery {
    Reset,
    SignOutEverywhere,
    UndoAddressChange,
    ChangePassword,
}

impl Recovery {
    /// The recoveries that end everything the account holds (`logout::end_everything`).
    pub const ENDING_EVERYTHING: [Recovery; 3] = [
        Recovery::Reset,
        Recovery::SignOutEverywhere,
        Recovery::UndoAddressChange,
    ];
}

/// `rp-offline` of seinajoki, with its redirect URI [`REDIRECT`], as a real OIDC client.
pub async fn offline_client(app: &TestApp) -> rp::Rp {
    rp::client(app, "seinajoki", OFFLINE.0, Some(OFFLINE.1), REDIRECT).await
}

/// A server whose seinajoki has the resident [`EMAIL`] and `rp-offline` (refresh tokens allowed,
/// and `more` of its settings).
async fn offline_app(backend: Backend, more: &str) -> TestApp {
    let grants = "grant_types = [\"authorization_code\", \"refresh_token\"]";
    TestApp::builder(backend)
        .tenant_toml(&first_party_client("rp-offline", REDIRECT, &[grants, more]))
        .user("seinajoki", EMAIL, PASSWORD, "Erkki")
        .spawn()
        .await
}

/// An offline refresh token of `rp-offline` for the resident, from a login in a fresh browser.
async fn offline_token(app: &TestApp, email: &str, password: &str) -> String {
    let client = offline_client(app).await;
    let started = rp::start(&client, &["offline_access"], &[("prompt", "consent")]);
    let back = rp::log_in(&app.browser(), &started.url, email, password).await;
    let code = param(&back, "code").unwrap();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", started.verifier.secret()),
    ];
    let (status, tokens) = client_post(app, "/seinajoki/token", OFFLINE, &form).await;
    assert_eq!(status, 200, "{tokens}");
    tokens["refresh_token"].as_str().unwrap().to_string()
}

/// Refreshes `token` as `rp-offline`: the status and the answer.
async fn refresh(app: &TestApp, token: &str) -> (u16, Value) {
    let form = [("grant_type", "refresh_token"), ("refresh_token", token)];
    client_post(app, "/seinajoki/token", OFFLINE, &form).await
}

/// The token endpoint's answer to a revoked refresh token.
fn revoked() -> (u16, Value) {
    let error = serde_json::json!({
        "error": "invalid_grant",
        "error_description": "the refresh token is invalid, expired or revoked",
    });
    (400, error)
}

/// Asks for a change of address on the account page and confirms it from the mail, in the same
/// browser.
pub(crate) async fn change_address(app: &TestApp, from: &str, password: &str, to: &str) {
    let signed = sign_in(app, "seinajoki", from, password).await;
    let fields = [("email", to), ("password", password)];
    let url = app.url("/seinajoki/account/email");
    let asked = post_with_csrf(&signed.browser, url, &signed.page, &fields).await;
    assert_eq!(asked.status(), 200);
    let confirm = app
        .newest_link(Some(to), "/seinajoki/email/confirm?token=")
        .await;
    // Confirmed where the resident is signed in (from another browser the address alone moves).
    let done = follow_link(&signed.browser, &confirm, &[]).await;
    assert_eq!(done.status(), 200);
}

/// Asks a reset link for [`EMAIL`] in `browser`; the link.
async fn reset_link(app: &TestApp, browser: &reqwest::Client) -> String {
    let forgot = app.url("/seinajoki/forgot");
    let sent = rp::post_form(browser, &forgot, &forgot, &[("email", EMAIL)]).await;
    assert_eq!(sent.status(), 200);
    app.newest_link(Some(EMAIL), "/seinajoki/reset?token=")
        .await
}

/// The resident of [`EMAIL`] does `recovery` through the pages.
pub async fn recover(app: &TestApp, recovery: Recovery) {
    match recovery {
        Recovery::Reset => {
            let browser = app.browser();
            let link = reset_link(app, &browser).await;
            let done = set_password(&browser, &link, "erkin uusi salasana").await;
            assert_eq!(done.status(), 200);
        }
        Recovery::SignOutEverywhere => {
            let signed = sign_in(app, "seinajoki", EMAIL, PASSWORD).await;
            let url = app.url("/seinajoki/account/logout-everywhere");
            let done = post_with_csrf(&signed.browser, url, &signed.page, &[]).await;
            assert!(done.status().is_success() || done.status() == 303);
        }
        Recovery::ChangePassword => {
            let signed = sign_in(app, "seinajoki", EMAIL, PASSWORD).await;
            let new = "erkin uusi salasana";
            let fields = [("current", PASSWORD), ("password", new), ("password2", new)];
            let url = app.url("/seinajoki/account/password");
            let done = post_with_csrf(&signed.browser, url, &signed.page, &fields).await;
            crate::helpers::journeys::password_changed(&signed.browser, done).await;
        }
        Recovery::UndoAddressChange => {
            // Someone with the password moved the account to their address; its owner undoes it.
            change_address(app, EMAIL, PASSWORD, "varas@testi.fi").await;
            restore(app, &undo_link(app, EMAIL).await).await;
        }
    }
}

both_stores!(recovery_ends_offline_tokens_and_tells_the_e_services);
async fn recovery_ends_offline_tokens_and_tells_the_e_services(backend: Backend) {
    for recovery in Recovery::ENDING_EVERYTHING {
        let receiver = Receiver::default();
        let (uri, receiver_handle) = start_receiver(receiver.clone());
        let logout = format!("backchannel_logout_uri = \"{uri}\"");
        let app = offline_app(backend, &logout).await;
        let token = offline_token(&app, EMAIL, PASSWORD).await;
        // The token works (and rotates) before the recovery.
        let (status, body) = refresh(&app, &token).await;
        assert_eq!(status, 200, "{body}");
        let token = body["refresh_token"].as_str().unwrap().to_string();

        recover(&app, recovery).await;

        assert_eq!(refresh(&app, &token).await, revoked(), "{recovery:?}");
        // The e-service is told: a logout token for the resident without a session (`sub` only).
        let mut told = false;
        for _ in 0..100 {
            let bodies = receiver.bodies.lock().unwrap().clone();
            told = bodies.iter().any(|b| {
                let token = b.strip_prefix("logout_token=").unwrap_or(b);
                let payload = token.split('.').nth(1).unwrap_or_default();
                base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
                    .ok()
                    .and_then(|json| serde_json::from_slice::<Value>(&json).ok())
                    .is_some_and(|claims| claims.get("sid").is_none() && claims["sub"].is_string())
            });
            if told {
                break;
            }
            app.clock.advance(10);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(told, "{recovery:?}: {:?}", receiver.bodies.lock().unwrap());
        receiver_handle.stop(false).await;
    }
}

both_stores!(a_confirmed_change_of_address_voids_the_links_sent_before);
async fn a_confirmed_change_of_address_voids_the_links_sent_before(backend: Backend) {
    let app = TestApp::with_user(backend, EMAIL, PASSWORD, "Erkki").await;
    // A reset link to the old address, then the address changes.
    let browser = app.browser();
    let reset = reset_link(&app, &browser).await;
    change_address(&app, EMAIL, PASSWORD, "erkki.uusi@testi.fi").await;

    let page = browser.get(&reset).send().await.unwrap();
    says(page, 410, "Linkki on vanhentunut tai jo käytetty.").await;
    // The undo link of the change stays usable: it is the old address's way back.
    let undo = undo_link(&app, EMAIL).await;
    let page = app.browser().get(&undo).send().await.unwrap();
    assert_eq!(page.status(), 200);
}

both_stores!(a_change_of_address_someone_else_asked_for_dies_with_the_recovery);
async fn a_change_of_address_someone_else_asked_for_dies_with_the_recovery(backend: Backend) {
    for recovery in [
        Recovery::Reset,
        Recovery::SignOutEverywhere,
        Recovery::ChangePassword,
    ] {
        let app = TestApp::with_user(backend, EMAIL, PASSWORD, "Erkki").await;
        // Someone with the password asks to move the account to his own address.
        let intruder = sign_in(&app, "seinajoki", EMAIL, PASSWORD).await;
        let fields = [("email", "varas@testi.fi"), ("password", PASSWORD)];
        let url = app.url("/seinajoki/account/email");
        let asked = post_with_csrf(&intruder.browser, url, &intruder.page, &fields).await;
        assert_eq!(asked.status(), 200);
        let confirm = app
            .newest_link(Some("varas@testi.fi"), "/seinajoki/email/confirm?token=")
            .await;

        recover(&app, recovery).await;

        // His link is void: the account keeps its owner's address.
        let opened = app.browser().get(&confirm).send().await.unwrap();
        says(opened, 410, "Linkki on vanhentunut tai jo käytetty.").await;
        let user = app.user_by_email("seinajoki", EMAIL).await;
        assert_eq!(user.email.as_deref(), Some(EMAIL), "{recovery:?}");
        app.stop().await;
    }
}

both_stores!(the_undo_of_a_change_of_address_undoes_a_deletion_asked_for_since);
async fn the_undo_of_a_change_of_address_undoes_a_deletion_asked_for_since(backend: Backend) {
    let app = TestApp::with_user(backend, EMAIL, PASSWORD, "Erkki").await;
    // Someone with the password moves the account to his address, then asks to delete it: the
    // deletion's undo link goes to his address.
    change_address(&app, EMAIL, PASSWORD, "varas@testi.fi").await;
    let intruder = sign_in(&app, "seinajoki", "varas@testi.fi", PASSWORD).await;
    let (status, _, _) = crate::deletion::delete(&app, &intruder, PASSWORD).await;
    assert_eq!(status, 200);
    let undo_deletion = "/seinajoki/account/undo-deletion?token=";
    let his = app.newest_link(Some("varas@testi.fi"), undo_deletion).await;
    let (browser, page) = opened(&app, &his).await;

    // The owner's undo link, mailed to his address at the change, survived the deletion and
    // gives the account back as it was: his address, and not being deleted.
    restore(&app, &undo_link(&app, EMAIL).await).await;
    let client = rp::basic(&app).await;
    let back = rp::log_in_at(&app.browser(), &client, EMAIL, PASSWORD).await;
    assert!(param(&back, "code").is_some(), "{back}");
    let by_undo = [serde_json::json!({ "by": "email_change_undo" })];
    let undone = app
        .audit_details("seinajoki", "account.deletion_undone")
        .await;
    assert_eq!(undone, by_undo);

    // The owner then deletes the account himself. The deletion's undo link at the intruder's
    // address was for the deletion undone: it cancels neither that one nor this.
    let owner = sign_in(&app, "seinajoki", EMAIL, PASSWORD).await;
    let (status, _, _) = crate::deletion::delete(&app, &owner, PASSWORD).await;
    assert_eq!(status, 200);
    stale(&browser, &his, &page).await;
    assert!(app.user_by_email("seinajoki", EMAIL).await.disabled);
    let undone = app
        .audit_details("seinajoki", "account.deletion_undone")
        .await;
    assert_eq!(undone, by_undo);
    app.stop().await;
}

both_stores!(a_deletion_asked_at_a_node_whose_clock_is_behind_is_undone_with_the_change);
/// As above, the deletion asked at a node whose clock is 5 s behind the one that confirmed the
/// change: its time is before the change's, but its undo link went to the intruder's address all
/// the same. Before, the owner's undo gave the address back and left the deletion standing: the
/// account was erased, and only the intruder could undo that.
async fn a_deletion_asked_at_a_node_whose_clock_is_behind_is_undone_with_the_change(
    backend: Backend,
) {
    let app = TestApp::with_user(backend, EMAIL, PASSWORD, "Erkki").await;
    change_address(&app, EMAIL, PASSWORD, "varas@testi.fi").await;
    app.clock.advance(-5);
    let intruder = sign_in(&app, "seinajoki", "varas@testi.fi", PASSWORD).await;
    let (status, _, _) = crate::deletion::delete(&app, &intruder, PASSWORD).await;
    assert_eq!(status, 200);
    restore(&app, &undo_link(&app, EMAIL).await).await;
    let client = rp::basic(&app).await;
    let back = rp::log_in_at(&app.browser(), &client, EMAIL, PASSWORD).await;
    assert!(param(&back, "code").is_some(), "{back}");
    let undone = app
        .audit_details("seinajoki", "account.deletion_undone")
        .await;
    assert_eq!(undone, [serde_json::json!({ "by": "email_change_undo" })]);
    app.stop().await;
}

/// The undo link of the newest change of address from `from`.
pub(crate) async fn undo_link(app: &TestApp, from: &str) -> String {
    app.newest_link(Some(from), "/seinajoki/email/undo?token=")
        .await
}

/// Opens the mailed `link` in a fresh browser, as whoever holds it would before posting it: the
/// browser and the page (its form).
async fn opened(app: &TestApp, link: &str) -> (reqwest::Client, String) {
    let browser = app.browser();
    let (status, page) = answer(browser.get(link).send().await.unwrap()).await;
    assert_eq!(status, 200, "{page}");
    (browser, page)
}

/// Posts the form of the mailed `link`'s `page`, opened in `browser` before: it answers 410 with
/// the expired-link page.
async fn stale(browser: &reqwest::Client, link: &str, page: &str) {
    let opened = browser.get(link).send().await.unwrap();
    says(opened, 410, EXPIRED).await;
    let posted = submit_link(browser, link, page, &[]).await;
    says(posted, 410, EXPIRED).await;
}

/// The expired-link page's message (410).
const EXPIRED: &str = "Linkki on vanhentunut tai jo käytetty. Pyydä uusi linkki.";

/// Follows the undo `link` of a change of address in a fresh browser: the old address is back.
async fn restore(app: &TestApp, link: &str) {
    let done = follow_link(&app.browser(), link, &[]).await;
    says(done, 200, "Vanha sähköpostiosoitteesi on palautettu").await;
}

/// A server where someone with the password moved the resident's account from [`EMAIL`] to his
/// address, then on to another: the server and the second change's undo link, mailed to his
/// first address.
async fn moved_twice(backend: Backend) -> (TestApp, String) {
    let app = TestApp::with_user(backend, EMAIL, PASSWORD, "Erkki").await;
    change_address(&app, EMAIL, PASSWORD, "varas@testi.fi").await;
    change_address(&app, "varas@testi.fi", PASSWORD, "varas2@testi.fi").await;
    let his = undo_link(&app, "varas@testi.fi").await;
    (app, his)
}

both_stores!(an_undone_change_of_address_leaves_no_later_way_back);
/// Someone with the password moves the account from its owner's address to his, then on to
/// another: the second change's undo link goes to his first address. The owner's undo (and then
/// a reset) leaves him no way back: his undo link is void, and the account keeps its owner's
/// address.
async fn an_undone_change_of_address_leaves_no_later_way_back(backend: Backend) {
    let (app, his) = moved_twice(backend).await;
    let (browser, page) = opened(&app, &his).await;

    restore(&app, &undo_link(&app, EMAIL).await).await;
    recover(&app, Recovery::Reset).await;

    stale(&browser, &his, &page).await;
    let user = app.user_by_email("seinajoki", EMAIL).await;
    assert_eq!(user.email.as_deref(), Some(EMAIL));
    assert_eq!(
        app.audited("seinajoki", "email.change_undone").await.len(),
        1
    );
    app.stop().await;
}

both_stores!(an_undo_of_a_change_of_address_is_no_way_back_for_a_later_one);
/// The other order: the intruder follows his own undo link (the second change undone, the account
/// at his first address). The owner's older link still works and gives the account back.
async fn an_undo_of_a_change_of_address_is_no_way_back_for_a_later_one(backend: Backend) {
    let (app, his) = moved_twice(backend).await;
    restore(&app, &his).await;

    restore(&app, &undo_link(&app, EMAIL).await).await;
    let user = app.user_by_email("seinajoki", EMAIL).await;
    assert_eq!(user.email.as_deref(), Some(EMAIL));
    app.stop().await;
}

both_stores!(an_undo_whose_address_was_taken_meanwhile_still_ends_everything);
/// While the account sits at the intruder's address, the owner's address becomes another
/// account's. The owner's undo cannot switch back (409, a page that sends him to customer
/// service), but it ends everything the account held — the intruder's offline refresh token
/// too — once, and the link stays usable for when the address is freed.
async fn an_undo_whose_address_was_taken_meanwhile_still_ends_everything(backend: Backend) {
    let app = offline_app(backend, "").await;
    change_address(&app, EMAIL, PASSWORD, "varas@testi.fi").await;
    let token = offline_token(&app, "varas@testi.fi", PASSWORD).await;
    app.add_user("seinajoki", EMAIL, "toisen salasana", "Toinen")
        .await;

    let undo = undo_link(&app, EMAIL).await;
    let (browser, page) = opened(&app, &undo).await;
    let refused = submit_link(&browser, &undo, &page, &[]).await;
    let refused = says(
        refused,
        409,
        "Vanhaa osoitettasi ei voitu palauttaa, koska se on nyt toisen tilin käytössä. Kaikki \
         tilisi kirjautumiset on silti päätetty. Ota yhteys asiakaspalveluun. Kun osoite on \
         vapautettu, tämä linkki palauttaa sen.",
    )
    .await;
    assert_has(&refused, "<h1>Osoitetta ei voitu vaihtaa</h1>");

    assert_eq!(refresh(&app, &token).await, revoked());
    let user = app.user_by_email("seinajoki", "varas@testi.fi").await;
    assert_eq!(user.email.as_deref(), Some("varas@testi.fi"));
    // Followed again while the address is still taken, the link ends nothing more: whoever reads
    // the old address's mail cannot sign the account out again and again.
    let kept = offline_token(&app, "varas@testi.fi", PASSWORD).await;
    let (browser, page) = opened(&app, &undo).await;
    let again = submit_link(&browser, &undo, &page, &[]).await;
    assert_eq!(again.status(), 409);
    assert_eq!(refresh(&app, &kept).await.0, 200);
    let refusals = app
        .audit_details("seinajoki", "email.change_undo_refused")
        .await;
    assert_eq!(refusals, [serde_json::json!({ "reason": "address_taken" })]);
    app.stop().await;
}

/// Imports `old` with an md5-crypt hash of `salasana123`; its internal id.
async fn import_md5(app: &TestApp, old: Old<'_>) -> String {
    let (_, hash) = crate::linker::vectors("salasana123")
        .into_iter()
        .find(|(format, _)| format == "md5-crypt")
        .unwrap();
    app.import(old.hash(&hash)).await
}

both_stores!(a_change_of_address_binds_no_authority_account_at_the_new_address);
/// An authority account is proven by its old password only: a change of address to its address
/// (the link proves only the mailbox) leaves it unbound, for its own first login.
async fn a_change_of_address_binds_no_authority_account_at_the_new_address(backend: Backend) {
    let app = TestApp::with_user(backend, EMAIL, PASSWORD, "Erkki").await;
    let old = Old::new("seinajoki", "vanha.virkailija", "SJK-V2").email("varas@testi.fi");
    let old = import_md5(&app, old.authority()).await;
    change_address(&app, EMAIL, PASSWORD, "varas@testi.fi").await;
    assert_eq!(app.bound_to(&old).await, None);
    app.stop().await;
}

both_stores!(an_undone_change_of_address_unbinds_the_old_account_it_bound);
/// The change of address to an old account's address bound that old account (the link proved
/// the address). Its undo unbinds it: the owner's tokens carry no former username, and the old
/// account's own first login binds it again.
async fn an_undone_change_of_address_unbinds_the_old_account_it_bound(backend: Backend) {
    let app = TestApp::with_user(backend, EMAIL, PASSWORD, "Erkki").await;
    let old = Old::new("seinajoki", "vanha.varas", "SJK-V1").email("varas@testi.fi");
    let old = import_md5(&app, old).await;
    let hash = app.legacy_row(&old).await.password_hash;
    assert!(hash.is_some());
    change_address(&app, EMAIL, PASSWORD, "varas@testi.fi").await;
    assert!(app.bound_to(&old).await.is_some());
    assert_eq!(app.legacy_row(&old).await.password_hash, None);

    restore(&app, &undo_link(&app, EMAIL).await).await;

    // Unbound as it was, its old hash back for its own first login.
    let row = app.legacy_row(&old).await;
    assert_eq!((row.linked_user_id, row.linked_at), (None, None));
    assert_eq!(row.password_hash, hash);
    assert_eq!(
        row.exported_email_normalized.as_deref(),
        Some("varas@testi.fi")
    );
    let unlinked = app.audit_details("seinajoki", "legacy.unlinked").await;
    assert_eq!(
        unlinked,
        [serde_json::json!({ "username": "vanha.varas", "by": "email_change_undo" })]
    );
    let client = rp::basic(&app).await;
    let owner = crate::linker::logged_in(&app.browser(), &client, EMAIL, PASSWORD).await;
    let claims = owner.payload();
    assert_eq!(claims.get("former_usernames"), None, "{claims}");
    assert_eq!(claims.get("former_subjects"), None, "{claims}");
    let browser = app.browser();
    let first = crate::linker::logged_in(&browser, &client, "varas@testi.fi", "salasana123").await;
    assert_eq!(first.payload()["sub"], "SJK-V1");
    app.stop().await;
}

both_stores!(a_recovery_forgets_the_consents_given_meanwhile);
/// Whoever held the password approved a third-party e-service: without the recovery forgetting
/// that consent, the e-service would get codes silently (`prompt=none` too) whenever the owner
/// has a session, offline access included.
async fn a_recovery_forgets_the_consents_given_meanwhile(backend: Backend) {
    use diesel::prelude::*;
    use idp::store::schema::consents;
    for recovery in Recovery::ENDING_EVERYTHING {
        let app = offline_app(backend, "").await;
        let third = rp::third(&app).await;
        let intruder = app.browser();
        let started = rp::start(&third, &["offline_access"], &[]);
        let consent = rp::log_in(&intruder, &started.url, EMAIL, PASSWORD).await;
        assert_eq!(consent.path(), "/seinajoki/consent", "{consent}");
        let html = page(&intruder, consent.clone()).await;
        let request = param(&consent, "request").unwrap();
        let fields = [("request", request.as_str()), ("decision", "approve")];
        let url = app.url("/seinajoki/consent");
        let approved = post_with_csrf(&intruder, url, &html, &fields).await;
        assert_eq!(approved.status(), 303);
        let count = |conn: &mut idp::store::DbConnection| {
            consents::table.count().get_result::<i64>(conn).unwrap()
        };
        assert_eq!(app.db_run(count).await, 1);

        recover(&app, recovery).await;

        assert_eq!(app.db_run(count).await, 0, "{recovery:?}");
        // Given and ended, both in the trail.
        let ended = app.audit_details("seinajoki", "consents.ended").await;
        assert_eq!(
            ended,
            [serde_json::json!({ "consents": 1 })],
            "{recovery:?}"
        );
        assert_eq!(
            app.audit_details("seinajoki", "consent.given").await.len(),
            1
        );
        app.stop().await;
    }
}
