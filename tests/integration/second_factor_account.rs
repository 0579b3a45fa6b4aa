//! An authority user's second factor on the account page (set up, replace, new recovery codes,
//! each after the current password), and support's `idp users reset-second-factor`.

use diesel::prelude::*;
use diesel::r2d2::ManageConnection;
use idp::crypto::totp::TotpSecret;
use idp::store::{self, Manager};
use reqwest::Client;
use serde_json::{Value, json};

use crate::both_stores;
use crate::helpers::authority::{
    PASSWORD, USERNAME, account, account_as, app_with_code, authority_app, authority_id, code,
    give, password_step, refused, second_factor_url, seed_totp, steady, wrong,
};
use crate::helpers::journeys::{Login, hidden, page, post_with_csrf, says, visit};
use crate::helpers::{Backend, NewUser, TestApp, assert_has, tenant};
use crate::node::{failed_with, setup, succeeded};
use crate::rp::{self, location};

/// Posts `fields` to the account page's `path` with the CSRF token of `html`.
async fn post(
    app: &TestApp,
    browser: &Client,
    html: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    post_with_csrf(browser, app.url(path), html, fields).await
}

/// The enrolment page of a new code, after the current password on the account page `html`.
async fn enrol_page(app: &TestApp, browser: &Client, html: &str) -> String {
    let fields = [("password", PASSWORD)];
    let path = "/seinajoki/account/second-factor";
    let started = post(app, browser, html, path, &fields).await;
    says(started, 200, "Ota kertakäyttökoodi käyttöön").await
}

/// New recovery codes asked on the account page `html`, after the current password.
pub async fn renew_codes(app: &TestApp, browser: &Client, html: &str) -> reqwest::Response {
    let fields = [("password", PASSWORD)];
    post(
        app,
        browser,
        html,
        "/seinajoki/account/recovery-codes",
        &fields,
    )
    .await
}

/// The codes a page of recovery codes shows.
pub fn codes_of(html: &str) -> Vec<String> {
    html.split("<li><code>")
        .skip(1)
        .map(|c| c.split('<').next().unwrap().to_string())
        .collect()
}

/// The secret an enrolment page shows.
fn secret_of(html: &str) -> TotpSecret {
    let shown = html.split("<code id=\"secret\">").nth(1).unwrap();
    TotpSecret::from_base32(shown.split('<').next().unwrap()).unwrap()
}

both_stores!(an_authority_user_sets_up_a_code_on_the_account_page);
async fn an_authority_user_sets_up_a_code_on_the_account_page(backend: Backend) {
    // Optional: the user logs in with the password alone until a code is set up.
    let app = authority_app(backend, "optional").await;
    let (browser, html) = account(&app, None).await;
    assert_has(&html, "Kertakäyttökoodia ei ole otettu käyttöön.");
    assert!(!html.contains("/account/recovery-codes"), "{html}");
    let wrong = post(
        &app,
        &browser,
        &html,
        "/seinajoki/account/second-factor",
        &[("password", "väärä")],
    )
    .await;
    let refused = says(wrong, 422, "<p id=\"second-factor-error\" class=\"error\" role=\"alert\">Nykyinen salasana on väärin.</p>").await;
    assert_has(
        &refused,
        "aria-describedby=\"second-factor-error\" aria-invalid=\"true\" autofocus>",
    );
    let enrol = enrol_page(&app, &browser, &html).await;
    assert_has(&enrol, "/seinajoki/account/second-factor/confirm\"");
    assert!(!enrol.contains("name=\"request\""), "{enrol}");
    let secret = secret_of(&enrol);
    let ceremony = hidden(&enrol, "ceremony");
    steady(&app);
    let fields = |code: String| vec![("ceremony", ceremony.clone()), ("code", code)];
    let confirm = |code: String| {
        let fields = fields(code);
        let (browser, enrol, app) = (browser.clone(), enrol.clone(), &app);
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post(
                app,
                &browser,
                &enrol,
                "/seinajoki/account/second-factor/confirm",
                &fields,
            )
            .await
        }
    };
    says(
        confirm("000000".into()).await,
        422,
        "Koodi on väärä tai jo käytetty.",
    )
    .await;
    let codes = says(confirm(code(&app, &secret, 0)).await, 200, "Varakoodisi").await;
    assert_eq!(codes_of(&codes).len(), 10);
    assert_has(&codes, "/seinajoki/account\">Takaisin omiin tietoihin</a>");
    // The factor is set up: this password-only session, posting the same form again, is sent to
    // the code first (the ceremony is used besides).
    let again = confirm(code(&app, &secret, 0)).await;
    assert_eq!(location(&again).path(), "/seinajoki/login/second-factor");
    // With a code set up, this password-only session is asked for it before the page again.
    let again = visit(&browser, app.url("/seinajoki/account")).await;
    assert_eq!(location(&again).path(), "/seinajoki/login/second-factor");
    // Enrolled, the next login asks for the code; the page then says what is set up.
    app.clock.advance(30);
    let (browser, html) = account(&app, Some(&secret)).await;
    assert_has(&html, "Kertakäyttökoodi on käytössä.");
    assert_has(&html, "Käyttämättömiä varakoodeja on 10.");
    // A wrong password for new recovery codes is said at their form, not at the code's.
    let path = "/seinajoki/account/recovery-codes";
    let wrong = post(&app, &browser, &html, path, &[("password", "väärä")]).await;
    let refused = says(wrong, 422, "<p id=\"recovery-codes-error\" class=\"error\" role=\"alert\">Nykyinen salasana on väärin.</p>").await;
    assert_has(
        &refused,
        "aria-describedby=\"new-codes-hint recovery-codes-error\" aria-invalid=\"true\" autofocus>",
    );
    assert!(!refused.contains("id=\"second-factor-error\""), "{refused}");
    app.stop().await;
}

// An authority user with an address is told of a code set up and of new recovery codes (as a
// resident is of a new password or passkey): whoever knows the password and sets up a code of his
// own, or takes new recovery codes, does not go unseen.
both_stores!(the_address_is_told_of_a_new_code_and_new_recovery_codes);
async fn the_address_is_told_of_a_new_code_and_new_recovery_codes(backend: Backend) {
    let app = authority_app(backend, "optional").await;
    let (username, address) = ("Tarkastaja2", "tarkastaja@testi.fi");
    let user = NewUser {
        email: Some(address),
        ..NewUser::authority(username, "Tarkastaja", PASSWORD)
    };
    app.add("seinajoki", user).await.unwrap();
    let (browser, html) = account_as(&app, username, None).await;
    let enrol = enrol_page(&app, &browser, &html).await;
    let secret = secret_of(&enrol);
    steady(&app);
    let fields = [
        ("ceremony", hidden(&enrol, "ceremony")),
        ("code", code(&app, &secret, 0)),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let url = "/seinajoki/account/second-factor/confirm";
    let confirmed = post(&app, &browser, &enrol, url, &fields).await;
    says(confirmed, 200, "Varakoodisi").await;
    let set_up = app.wait_for_mails(1).await.swap_remove(0);
    assert_has(&set_up, &format!("To: {address}"));
    assert_has(
        &set_up,
        "Tilisi kertakäyttökoodi palvelussa Seinäjoen kaupunki otettiin käyttöön tai vaihdettiin",
    );
    assert_has(&set_up, &app.url("/seinajoki/forgot"));

    app.clock.advance(30);
    let (browser, html) = account_as(&app, username, Some(&secret)).await;
    let renewed = renew_codes(&app, &browser, &html).await;
    let shown = codes_of(&says(renewed, 200, "Uudet varakoodit on luotu.").await);
    let renewal = app.wait_for_mails(2).await.swap_remove(1);
    assert_has(&renewal, &format!("To: {address}"));
    assert_has(
        &renewal,
        "Tilillesi palvelussa Seinäjoen kaupunki luotiin uudet varakoodit.",
    );
    // The codes themselves are never mailed.
    assert!(shown.iter().all(|c| !renewal.contains(c.as_str())));
    // The authority user without an address gets nothing (nor does anyone else).
    assert_eq!(app.mails().len(), 2);
    app.stop().await;
}

both_stores!(new_recovery_codes_and_a_new_code_replace_the_old);
async fn new_recovery_codes_and_a_new_code_replace_the_old(backend: Backend) {
    let app = authority_app(backend, "required").await;
    app.add_user("seinajoki", "erkki@testi.fi", PASSWORD, "Erkki")
        .await;
    let old = seed_totp(&app).await;
    steady(&app);
    let (browser, html) = account(&app, Some(&old)).await;
    assert_has(&html, "Käyttämättömiä varakoodeja on 0.");
    let renewed = renew_codes(&app, &browser, &html).await;
    let first = codes_of(&says(renewed, 200, "Uudet varakoodit on luotu.").await);
    let renewed = renew_codes(&app, &browser, &html).await;
    let second = codes_of(&says(renewed, 200, "Varakoodisi").await);
    assert_eq!((first.len(), second.len()), (10, 10));
    assert!(first.iter().all(|c| !second.contains(c)));
    assert_eq!(
        app.audited("seinajoki", "second_factor.recovery_codes_renewed")
            .await
            .len(),
        2
    );
    // Replaced: the new secret's codes work, the old secret's do not, nor the old recovery codes.
    let enrol = enrol_page(&app, &browser, &html).await;
    let new = secret_of(&enrol);
    let fields = [
        ("ceremony", hidden(&enrol, "ceremony")),
        ("code", code(&app, &new, 0)),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let confirmed = post(
        &app,
        &browser,
        &enrol,
        "/seinajoki/account/second-factor/confirm",
        &fields,
    )
    .await;
    let third = codes_of(&says(confirmed, 200, "Varakoodisi").await);
    app.clock.advance(30);
    let login = password_step(&app, &rp::basic(&app).await, &[]).await.0;
    wrong(&login, &code(&app, &old, 0)).await;
    for stale in [&second[0], &first[0]] {
        let fields = [("recovery", stale.as_str())];
        refused(&login, &fields, 401, "Varakoodi on väärä").await;
    }
    let fields = [("recovery", third[0].as_str())];
    let done = give(&login, &fields).await;
    assert_eq!(location(&done).path(), "/callback");
    // A resident has no such forms.
    let resident =
        crate::helpers::journeys::sign_in(&app, "seinajoki", "erkki@testi.fi", PASSWORD).await;
    assert!(!resident.page.contains("Kaksivaiheinen tunnistautuminen"));
    let forbidden = renew_codes(&app, &resident.browser, &resident.page).await;
    assert_eq!(forbidden.status(), 403);
    app.stop().await;
}

both_stores!(support_resets_a_second_factor);
/// `idp users reset-second-factor` of `username` of seinajoki: what it printed, which must follow a
/// success.
fn reset_second_factor(s: &crate::node::Setup, username: &str) -> String {
    let reset = ["users", "reset-second-factor", "--tenant", "seinajoki"];
    succeeded(&s.run(&[&reset[..], &["--username", username]].concat(), ""))
}

/// A passkey (`pk-1`, named "Puhelin") of the user `user_id` of seinajoki, added at `now`.
fn passkey_of(user_id: &str, now: chrono::NaiveDateTime) -> store::passkeys::PasskeyRow {
    store::passkeys::PasskeyRow {
        id: "pk-1".into(),
        tenant_id: "seinajoki".into(),
        user_id: user_id.into(),
        credential_id: "cred-1".into(),
        name: "Puhelin".into(),
        passkey: "{}".into(),
        backup_eligible: true,
        created_at: now,
        last_used_at: None,
    }
}

both_stores!(support_naming_a_resident_by_address_resets_that_resident);
/// A resident bound from an old account keeps its old username, which may look like an address
/// (and be another resident's address). Support's `--username aino@testi.fi` resets the resident
/// at that address, as a login reads it; before, the username was looked up first, and the other
/// account lost its passkeys and sessions while the one asked for kept an intruder's.
async fn support_naming_a_resident_by_address_resets_that_resident(backend: Backend) {
    let s = setup(backend);
    let add = ["users", "add", "--tenant", "seinajoki", "--email"];
    for email in ["toinen@testi.fi", "aino@testi.fi"] {
        succeeded(&s.run(&[&add[..], &[email]].concat(), ""));
    }
    let mut conn = Manager::new(s.db.backend.clone()).connect().unwrap();
    let conn: &mut store::DbConnection = &mut conn;
    let t = tenant("seinajoki");
    use store::schema::users;
    diesel::update(users::table.filter(users::email_normalized.eq("toinen@testi.fi")))
        .set((
            users::username.eq("aino@testi.fi"),
            users::username_normalized.eq("aino@testi.fi"),
        ))
        .execute(conn)
        .unwrap();
    let aino = store::users::find_by_email(conn, t, "aino@testi.fi")
        .unwrap()
        .unwrap();
    let now = idp::clock::Clock::now(&idp::clock::SystemClock);
    store::passkeys::insert(conn, &passkey_of(&aino.id, now)).unwrap();

    assert_eq!(
        reset_second_factor(&s, "Aino@Testi.fi"),
        "reset the second factor of aino@testi.fi in seinajoki: one-time code none, 0 recovery codes, 1 passkeys removed; 0 sessions ended\n"
    );
    assert!(
        store::passkeys::of_user(conn, t, &aino.id)
            .unwrap()
            .is_empty()
    );
}

/// `idp users reset-second-factor`: the factors go, the sessions end, audited as support's.
async fn support_resets_a_second_factor(backend: Backend) {
    let s = setup(backend);
    let add = ["users", "add", "--tenant", "seinajoki", "--authority"];
    let out = s.run(
        &[&add[..], &["--username", USERNAME, "--password-stdin"]].concat(),
        &format!("{PASSWORD}\n"),
    );
    succeeded(&out);
    let mut conn = Manager::new(s.db.backend.clone()).connect().unwrap();
    let conn: &mut store::DbConnection = &mut conn;
    let t = tenant("seinajoki");
    let user = store::users::find_by_username(conn, t, &USERNAME.to_lowercase())
        .unwrap()
        .unwrap();
    let now = idp::clock::Clock::now(&idp::clock::SystemClock);
    let totp = store::second_factors::TotpRow {
        user_id: user.id.clone(),
        tenant_id: "seinajoki".into(),
        secret: "sealed".into(),
        last_step: Some(1),
        created_at: now,
    };
    store::second_factors::set_totp(conn, &totp).unwrap();
    let hashes: Vec<String> = (0..10).map(|i| format!("hash-{i}")).collect();
    store::second_factors::set_recovery_codes(conn, t, &user.id, &hashes, now).unwrap();
    store::passkeys::insert(conn, &passkey_of(&user.id, now)).unwrap();
    let session = store::sessions::SessionRow {
        id: "session-1".into(),
        token_hash: "token-hash".into(),
        tenant_id: "seinajoki".into(),
        user_id: user.id.clone(),
        remember: false,
        auth_time: now,
        amr: "pwd otp mfa".into(),
        acr: Some("urn:idp:acr:mfa".into()),
        created_at: now,
        last_seen_at: now,
        expires_at: now + chrono::Duration::hours(1),
        ended_at: None,
        user_agent: None,
        location: None,
    };
    store::sessions::insert(conn, &session).unwrap();

    assert_eq!(
        reset_second_factor(&s, "VIRKAILIJA"),
        "reset the second factor of Virkailija in seinajoki: one-time code removed, 10 recovery codes, 1 passkeys removed; 1 sessions ended\n"
    );
    let reset = ["users", "reset-second-factor", "--tenant", "seinajoki"];
    assert!(
        store::second_factors::totp(conn, t, &user.id)
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store::second_factors::unused_recovery_codes(conn, t, &user.id).unwrap(),
        0
    );
    assert!(
        store::passkeys::of_user(conn, t, &user.id)
            .unwrap()
            .is_empty()
    );
    let ended = store::sessions::find(conn, t, "session-1")
        .unwrap()
        .unwrap();
    assert!(ended.ended_at.is_some());
    use store::schema::audit_events;
    let (user_id, detail): (Option<String>, Option<String>) = audit_events::table
        .filter(audit_events::kind.eq("second_factor.reset"))
        .select((audit_events::user_id, audit_events::detail))
        .first(conn)
        .unwrap();
    assert_eq!(user_id.as_deref(), Some(user.id.as_str()));
    let detail: Value = serde_json::from_str(&detail.unwrap()).unwrap();
    assert_eq!(
        detail,
        json!({"by": "cli", "totp": true, "recovery_codes": 10, "passkeys": 1, "sessions": 1})
    );
    // Nothing left to reset, but it may be run again; an unknown user is refused.
    let again = s.run(&[&reset[..], &["--username", USERNAME]].concat(), "");
    assert!(
        succeeded(&again)
            .contains("one-time code none, 0 recovery codes, 0 passkeys removed; 0 sessions ended")
    );
    let unknown = s.run(&[&reset[..], &["--username", "nobody"]].concat(), "");
    failed_with(
        &unknown,
        1,
        "error: no user \"nobody\" in tenant seinajoki\n",
    );
    drop(s.dir);
}

/// The half-done `login` (its second factor's page `html`) is gone: its page, the enrolment of a
/// new factor and the answer `code` each say it expired (400).
async fn login_is_gone(login: &Login, html: &str, code: &str) {
    let opened = login
        .browser
        .get(second_factor_url(login))
        .send()
        .await
        .unwrap();
    says(opened, 400, "data-reason=\"expired\"").await;
    let enrol = format!(
        "{}/login/second-factor/enrol?request={}",
        login.tenant_url, login.request
    );
    let opened = login.browser.get(&enrol).send().await.unwrap();
    assert_eq!(opened.status(), 400);
    let posted = login
        .post("/login/second-factor", html, &[("code", code)])
        .await;
    says(posted, 400, "data-reason=\"expired\"").await;
}

both_stores!(a_login_begun_before_a_reset_cannot_be_finished_after_it);
/// A half-done login (the password given, the code not yet) and a ceremony of the user, then
/// support's reset: the login is gone, so it cannot enrol a new factor, nor be finished with a
/// code of the old one; the ceremony is gone too.
async fn a_login_begun_before_a_reset_cannot_be_finished_after_it(backend: Backend) {
    let (app, client, secret) = app_with_code(backend).await;
    let (login, _) = password_step(&app, &client, &[]).await;
    let url = second_factor_url(&login);
    let html = page(&login.browser, &url).await;
    assert_has(&html, "name=\"code\"");
    let user_id = authority_id(&app).await;
    let (now, user) = (app.now(), user_id.clone());
    app.db_run(move |conn| {
        let row = store::ceremonies::CeremonyRow {
            id_hash: "ceremony-hash".into(),
            tenant_id: "seinajoki".into(),
            user_id: Some(user),
            purpose: "totp_enrol".into(),
            state: "sealed".into(),
            created_at: now,
            expires_at: now + chrono::Duration::minutes(10),
            auth_request_id: None,
        };
        store::ceremonies::insert(conn, &row).unwrap();
    })
    .await;

    let services = app.services.clone();
    tokio::task::spawn_blocking(move || {
        let m = services.minter("seinajoki", now).unwrap();
        let mut conn = services.store.conn().unwrap();
        idp::flows::second_factor::reset(&m, &mut conn, USERNAME).unwrap()
    })
    .await
    .unwrap();

    // Without its factor the user would be sent to enrol one: the login is gone instead.
    login_is_gone(&login, &html, &code(&app, &secret, 0)).await;
    let left = app
        .db_run(move |conn| {
            use store::schema::ceremonies;
            ceremonies::table
                .filter(ceremonies::user_id.eq(&user_id))
                .count()
                .get_result::<i64>(conn)
                .unwrap()
        })
        .await;
    assert_eq!(left, 0);
    app.stop().await;
}

both_stores!(a_login_begun_before_a_change_of_password_cannot_be_finished_after_it);
/// A half-done login (the password given, the code not yet) of someone who knew the password;
/// its owner changes the password, or signs out everywhere, on the account page: that login
/// cannot be finished, nor enrol a factor of its own.
async fn a_login_begun_before_a_change_of_password_cannot_be_finished_after_it(backend: Backend) {
    let new = "viranomaisen uusi salasana";
    let change = [("current", PASSWORD), ("password", new), ("password2", new)];
    for (path, fields) in [
        ("/seinajoki/account/password", &change[..]),
        ("/seinajoki/account/logout-everywhere", &[][..]),
    ] {
        let (app, client, secret) = app_with_code(backend).await;
        let (login, _) = password_step(&app, &client, &[]).await;
        let url = second_factor_url(&login);
        let html = page(&login.browser, &url).await;
        assert_has(&html, "name=\"code\"");

        let (browser, html_of_account) = account(&app, Some(&secret)).await;
        let done = post(&app, &browser, &html_of_account, path, fields).await;
        assert!(done.status().is_success() || done.status() == 303, "{path}");

        login_is_gone(&login, &html, &code(&app, &secret, 1)).await;
        app.stop().await;
    }
}
