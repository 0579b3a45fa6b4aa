//! The linker's other ways in: an authority's old username, an old account without an address,
//! and the new users of an old address (registration, `users add`, a change of address), which
//! go through the old account instead of beside it.

use crate::both_stores;
use crate::helpers::journeys::{follow_link, page, post_with_csrf, set_password};
use crate::helpers::{Backend, NewUser, Old, TestApp, assert_has};
use crate::linker::{begin, logged_in, server, vectors};
use crate::rp::{self, location};

/// Adding `user` to seinajoki (as `users add` does) is refused with an error that starts with
/// `reason`.
async fn add_is_refused(app: &TestApp, user: NewUser<'_>, reason: &str) {
    let refused = app.add("seinajoki", user).await.unwrap_err();
    assert!(refused.starts_with(reason), "{refused}");
}

both_stores!(an_authority_account_logs_in_with_its_old_username);
async fn an_authority_account_logs_in_with_its_old_username(backend: Backend) {
    // The old username is the subject here; the second factor is `second_factor.rs`'s.
    let app = TestApp::with_tenant_setting(backend, "authority_second_factor = \"off\"").await;
    let client = rp::basic(&app).await;
    let hash = vectors("salasana123")
        .into_iter()
        .find(|(k, _)| k == "pbkdf2-sha256")
        .unwrap()
        .1;
    let authority = Old::new("seinajoki", "Viranomainen", "SJK-V1").hash(&hash);
    app.import(authority.authority()).await;
    app.import(Old::new("seinajoki", "asukas.ilman", "SJK-A1").hash(&hash))
        .await;
    // No new authority user may take the old username.
    let taken = NewUser {
        username: Some("VIRANOMAINEN"),
        ..NewUser::default()
    };
    add_is_refused(
        &app,
        taken,
        "VIRANOMAINEN is the username of a legacy account",
    )
    .await;
    for _ in 0..2 {
        // First use binds and re-hashes; the second login is an ordinary one.
        let redeemed = logged_in(&app.browser(), &client, "viranomainen", "salasana123").await;
        let claims = redeemed.payload();
        assert_eq!(claims["sub"], "SJK-V1");
        assert_eq!(claims["preferred_username"], "Viranomainen");
        assert_eq!(claims.get("email"), None);
    }
    // A resident's old username is no login name.
    let login = begin(&app, &client).await;
    let refused = login.submit("asukas.ilman", "salasana123", false).await;
    assert_eq!(refused.status(), 401);
    app.stop().await;
}

both_stores!(an_account_without_an_address_logs_in_once_support_sets_one);
async fn an_account_without_an_address_logs_in_once_support_sets_one(backend: Backend) {
    let (app, client) = server(backend).await;
    let hash = bcrypt::hash("vanha salasana", 4).unwrap();
    let id = app
        .import(Old::new("seinajoki", "ei.osoitetta", "SJK-E1").hash(&hash))
        .await;
    let login = begin(&app, &client).await;
    let refused = login.submit("eila@testi.fi", "vanha salasana", false).await;
    assert_eq!(refused.status(), 401);
    // Support attaches the address (what `idp legacy set-email` does).
    let now = app.now();
    app.db_run(move |conn| {
        let tenant = crate::helpers::tenant("seinajoki");
        let set = "Eila@testi.fi";
        assert!(
            idp::store::legacy::set_email(conn, tenant, &id, set, "eila@testi.fi", now).unwrap()
        );
    })
    .await;
    let redeemed = logged_in(&login.browser, &client, "eila@testi.fi", "vanha salasana").await;
    let claims = redeemed.payload();
    assert_eq!(claims["sub"], "SJK-E1");
    assert_eq!(claims["email"], "Eila@testi.fi");
    app.stop().await;
}

both_stores!(registration_and_new_users_of_an_old_address_go_through_the_linker);
async fn registration_and_new_users_of_an_old_address_go_through_the_linker(backend: Backend) {
    let (app, client) = server(backend).await;
    let hash = bcrypt::hash("vanha salasana", 4).unwrap();
    let old = Old::new("seinajoki", "rekisteroityja", "SJK-R1").email("rekisteri@testi.fi");
    let id = app.import(old.hash(&hash)).await;
    // `users add` (and every other way to a new user) refuses the address.
    let new = NewUser {
        email: Some("rekisteri@testi.fi"),
        ..NewUser::default()
    };
    let reason = "rekisteri@testi.fi belongs to 1 legacy account(s) not yet bound";
    add_is_refused(&app, new, reason).await;

    // Registration mails the linker's link instead of a registration link.
    let login = begin(&app, &client).await;
    let register = app.url(&format!("/seinajoki/register?request={}", login.request));
    let form = page(&login.browser, register).await;
    let fields = [("email", "rekisteri@testi.fi")];
    let sent = login.post("/register", &form, &fields).await;
    assert_eq!(sent.status(), 200);
    let (mail, link) = app.mailed_link(1, "/seinajoki/reset?token=").await;
    assert_has(&mail, "Aiempi käyttäjätunnus: rekisteroityja");
    let done = set_password(&login.browser, &link, "uusi pitkä salasana").await;
    let claims = login.redeem(&client, &location(&done)).await.payload();
    assert_eq!(
        claims["sub"], "SJK-R1",
        "no second subject for an old address"
    );
    assert!(app.bound_to(&id).await.is_some());
    app.stop().await;
}

both_stores!(changing_to_an_old_address_binds_its_account);
async fn changing_to_an_old_address_binds_its_account(backend: Backend) {
    let (app, client) = server(backend).await;
    let subject = app
        .add_user("seinajoki", "uusi@testi.fi", "pitkä salasana", "Uusi")
        .await;
    let old = Old::new("seinajoki", "vanha.tunnus", "SJK-C1").email("vanha@testi.fi");
    let id = app.import(old).await;
    let browser = app.browser();
    let redeemed = logged_in(&browser, &client, "uusi@testi.fi", "pitkä salasana").await;
    let account = page(&browser, app.url("/seinajoki/account")).await;
    let fields = [("email", "vanha@testi.fi"), ("password", "pitkä salasana")];
    let url = app.url("/seinajoki/account/email");
    let sent = post_with_csrf(&browser, url, &account, &fields).await;
    assert_eq!(sent.status(), 200);
    let (_, confirm) = app.mailed_link(1, "/seinajoki/email/confirm?token=").await;
    let done = follow_link(&browser, &confirm, &[]).await;
    assert_eq!(done.status(), 200);
    // The link proved the address: its one old account is bound, the subject stays.
    assert!(app.bound_to(&id).await.is_some());
    let info = rp::userinfo(&app, "seinajoki", &redeemed.access_token()).await;
    assert_eq!(info["sub"], subject);
    assert_eq!(
        info["former_usernames"],
        serde_json::json!(["vanha.tunnus"])
    );
    assert_eq!(info["former_subjects"], serde_json::json!(["SJK-C1"]));
    assert!(
        app.audit_kinds("seinajoki")
            .await
            .contains(&"legacy.linked".to_string())
    );
    app.stop().await;
}
