//! The linker's other ways in: an authority's old username, an old account without an address,
//! and the new users of an old address (registration, `users add`, a change of address), which
//! go through the old account instead of beside it; and the links to an old address that support
//! or a re-import corrected, which end.

use crate::both_stores;
use crate::helpers::journeys::{
    Login, follow_link, page, post_with_csrf, says, set_password, sign_in, submit_link,
};
use crate::helpers::{Backend, NewUser, Old, TestApp, assert_has};
use crate::linker::{LINK_SENT, begin, kouvola, logged_in, server, vectors};
use crate::rp::{self, Rp, location};

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

/// Asks to register `email` on the registration page of `login`'s request (at its tenant).
async fn register(app: &TestApp, login: &Login, email: &str) -> reqwest::Response {
    let tenant = login.tenant_url.rsplit('/').next().unwrap();
    let url = app.url(&format!("/{tenant}/register?request={}", login.request));
    let form = page(&login.browser, url).await;
    login.post("/register", &form, &[("email", email)]).await
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
    let sent = register(&app, &login, "rekisteri@testi.fi").await;
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

/// The resident at `from` (password "pitkä salasana") logs in at `client` and asks on the account
/// page to move to `to`: their browser, their tokens and the confirmation link (the first mail).
async fn ask_to_move(
    app: &TestApp,
    (tenant, client): (&str, &Rp),
    from: &str,
    to: &str,
) -> (reqwest::Client, rp::Redeemed, String) {
    let browser = app.browser();
    let redeemed = logged_in(&browser, client, from, "pitkä salasana").await;
    let account = page(&browser, app.url(&format!("/{tenant}/account"))).await;
    let fields = [("email", to), ("password", "pitkä salasana")];
    let url = app.url(&format!("/{tenant}/account/email"));
    let sent = post_with_csrf(&browser, url, &account, &fields).await;
    assert_eq!(sent.status(), 200);
    let confirming = format!("/{tenant}/email/confirm?token=");
    let (_, confirm) = app.mailed_link(1, &confirming).await;
    (browser, redeemed, confirm)
}

both_stores!(changing_to_an_old_address_binds_its_account);
async fn changing_to_an_old_address_binds_its_account(backend: Backend) {
    let (app, client) = server(backend).await;
    let subject = app
        .add_user("seinajoki", "uusi@testi.fi", "pitkä salasana", "Uusi")
        .await;
    let old = Old::new("seinajoki", "vanha.tunnus", "SJK-C1").email("vanha@testi.fi");
    let id = app.import(old).await;
    let (browser, redeemed, confirm) = ask_to_move(
        &app,
        ("seinajoki", &client),
        "uusi@testi.fi",
        "vanha@testi.fi",
    )
    .await;
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

/// In `tenant`, the resident at `hyokkaaja@testi.fi` asks to move to `uhri@testi.fi`, which has
/// the stranger's unbound old account `uhrin.tunnus`; the stranger confirms in a browser of
/// their own, and the old account stays unbound. Its id, the asker's browser and tokens, and the
/// stranger's browser.
async fn stranger_confirms_a_move(
    app: &TestApp,
    (tenant, client): (&str, &Rp),
) -> (String, reqwest::Client, rp::Redeemed, reqwest::Client) {
    app.add_user(tenant, "hyokkaaja@testi.fi", "pitkä salasana", "H")
        .await;
    let old = Old::new(tenant, "uhrin.tunnus", "OLD-U1").email("uhri@testi.fi");
    let id = app.import(old).await;
    let moving = ("hyokkaaja@testi.fi", "uhri@testi.fi");
    let (asker, redeemed, confirm) = ask_to_move(app, (tenant, client), moving.0, moving.1).await;
    let stranger = app.browser();
    // The page names the asking account, masked: the stranger can tell it is not theirs.
    let asked = page(&stranger, &confirm).await;
    assert_has(
        &asked,
        "Pyyntö tuli tililtä h***a@testi.fi. Jos et itse pyytänyt tätä, älä vahvista",
    );
    assert_eq!(follow_link(&stranger, &confirm, &[]).await.status(), 200);
    assert_eq!(app.bound_to(&id).await, None);
    (id, asker, redeemed, stranger)
}

both_stores!(a_change_of_address_confirmed_in_another_browser_binds_no_old_account);
/// Someone signed in asks to move their account to a stranger's address, which still has the
/// stranger's one unbound old account; the stranger opens the confirmation mail in their own
/// browser and confirms (the page names the asking account, masked, but a stranger may confirm
/// all the same). The address moves, but the
/// stranger's old account, its subject and history, stays unbound: it joined the asker's
/// account before. It waits on the account page, linkable by its owner.
async fn a_change_of_address_confirmed_in_another_browser_binds_no_old_account(backend: Backend) {
    let (app, client) = server(backend).await;
    let (_, asker, redeemed, _) = stranger_confirms_a_move(&app, ("seinajoki", &client)).await;
    let info = rp::userinfo(&app, "seinajoki", &redeemed.access_token()).await;
    assert_eq!(info["email"], "uhri@testi.fi");
    assert_eq!(info.get("former_subjects"), None, "{info}");
    assert_eq!(info.get("former_usernames"), None, "{info}");
    assert!(
        !app.audit_kinds("seinajoki")
            .await
            .contains(&"legacy.linked".to_string())
    );
    // The old account waits on the account page for whoever proves it.
    let account = page(&asker, app.url("/seinajoki/account")).await;
    assert!(account.contains("uhrin.tunnus"), "{account}");
    app.stop().await;
}

both_stores!(an_old_account_linked_by_mail_binds_only_where_its_account_is_signed_in);
/// The attack the change of address no longer completes, taken one step further: the stranger
/// has confirmed the move in their own browser, so the asker's account now has the stranger's
/// address, and its account page offers the stranger's old account; the asker has its link
/// mailed there, and the stranger opens it too. In a browser not signed in to the asker's
/// account the link binds nothing (403, the page says to sign in first) and stays usable; in the
/// asker's own browser it binds, as a resident's own link does.
async fn an_old_account_linked_by_mail_binds_only_where_its_account_is_signed_in(backend: Backend) {
    let (app, client) = kouvola(backend).await;
    let (id, browser, _, stranger) = stranger_confirms_a_move(&app, ("kouvola", &client)).await;

    let account = page(&browser, app.url("/kouvola/account")).await;
    let fields = [("account", id.as_str())];
    let asked = post_with_csrf(
        &browser,
        app.url("/kouvola/account/legacy"),
        &account,
        &fields,
    )
    .await;
    assert_eq!(asked.status(), 200);
    let link = app
        .newest_link(Some("uhri@testi.fi"), "/kouvola/reset?token=")
        .await;
    let opened = page(&stranger, &link).await;
    let refused = submit_link(&stranger, &link, &opened, &[]).await;
    says(
        refused,
        403,
        "Kirjaudu ensin Omat tiedot -sivulle tässä selaimessa",
    )
    .await;
    assert_eq!(app.bound_to(&id).await, None);
    // Where the account is signed in, the same link binds.
    let opened = page(&browser, &link).await;
    let done = submit_link(&browser, &link, &opened, &[]).await;
    assert_eq!(done.status(), 200);
    assert!(app.bound_to(&id).await.is_some());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
/// A resident confirms a move to an address of an unbound old account while support's
/// `legacy set-email` moves that account to its right address (not committed yet: it holds the
/// row). The confirmation read the account at the address it proved, and its binding waits for
/// support's; once that commits, the account is at another address, which the confirmation did
/// not prove: it is not bound. Before, the binding checked only that the account was unbound,
/// and on PostgreSQL (READ COMMITTED) bound it anyway. (SQLite's writers take turns.)
async fn postgres_a_binding_proven_by_an_address_support_moves_meanwhile_binds_nothing() {
    use crate::recovery_race::while_held;
    if crate::helpers::postgres_admin_url().is_none() {
        return;
    }
    let (app, client) = server(Backend::Postgres).await;
    app.stop_workers();
    app.add_user("seinajoki", "uusi@testi.fi", "pitkä salasana", "Uusi")
        .await;
    let old = Old::new("seinajoki", "vanha.tunnus", "SJK-C1").email("vanha@testi.fi");
    let id = app.import(old).await;
    let (browser, _, confirm) = ask_to_move(
        &app,
        ("seinajoki", &client),
        "uusi@testi.fi",
        "vanha@testi.fi",
    )
    .await;

    let (now, account) = (app.now(), id.clone());
    let correct = move |conn: &mut idp::store::DbConnection| {
        let seinajoki = crate::helpers::tenant("seinajoki");
        let right = "oikea@testi.fi";
        assert!(idp::store::legacy::set_email(
            conn, seinajoki, &account, right, right, now
        )?);
        Ok(())
    };
    let confirming = async move { follow_link(&browser, &confirm, &[]).await.status() };
    let confirmed = while_held(&app, (correct, |_: &mut _| Ok(())), confirming).await;
    assert_eq!(confirmed, 200, "the address itself moves");
    assert_eq!(app.bound_to(&id).await, None);
    app.stop().await;
}

/// The expired-link page's message (410).
const EXPIRED: &str = "Linkki on vanhentunut tai jo käytetty. Pyydä uusi linkki.";

/// `idp <args>` (the real binary) on the server's own configuration and database: its stdout,
/// which must follow a success.
async fn cli(app: &TestApp, args: &[&str]) -> String {
    crate::node::succeeded(&app.cli(args).await)
}

/// An old account at a stale address whose first login mailed a link there (keep-password, no
/// usable hash), the link opened by whoever reads that address: the account's id, the link,
/// its page and that reader's browser.
async fn link_to_a_stale_address(
    app: &TestApp,
    client: &crate::rp::Rp,
) -> (String, String, String, reqwest::Client) {
    let old = Old::new("seinajoki", "matti.m", "SJK-M1").email("vanha@testi.fi");
    let id = app
        .import(old.hash("{MD4}0cb6948805f797bf2a82807973b89537"))
        .await;
    let login = begin(app, client).await;
    let (status, page) = login.identify("vanha@testi.fi").await;
    assert_eq!(status, 200);
    assert_has(&page, crate::linker::LINK_SENT);
    let (_, link) = app.mailed_link(1, "/seinajoki/reset?token=").await;
    let stranger = app.browser();
    let opened = stranger.get(&link).send().await.unwrap();
    assert_eq!(opened.status(), 200);
    let page = opened.text().await.unwrap();
    (id, link, page, stranger)
}

both_stores!(support_setting_an_address_voids_the_links_mailed_to_the_old_one);
/// A link the linker mailed to an old account's stale address, then support sets the right
/// address with `idp legacy set-email`: the link, even opened before, is expired, so whoever reads
/// the stale address cannot set a password and take the account with the new address, verified.
/// The audit event names the old account by its id, never by username or address.
async fn support_setting_an_address_voids_the_links_mailed_to_the_old_one(backend: Backend) {
    let (app, client) = server(backend).await;
    let (id, link, page, stranger) = link_to_a_stale_address(&app, &client).await;
    // The same address again changes nothing: the link stays.
    let set = |email: &'static str| {
        let args = [
            "legacy",
            "set-email",
            "--tenant",
            "seinajoki",
            "--username",
            "matti.m",
        ];
        [&args[..], &["--email", email]].concat()
    };
    cli(&app, &set("vanha@testi.fi")).await;
    let opened = stranger.get(&link).send().await.unwrap();
    assert_eq!(opened.status(), 200, "the same address: the link stays");
    let out = cli(&app, &set("matti@uusi.fi")).await;
    assert_eq!(
        out,
        "set the address of legacy account matti.m of seinajoki to matti@uusi.fi (it was vanha@testi.fi)\n"
    );
    let password = [
        ("password", "uusi pitkä salasana"),
        ("password2", "uusi pitkä salasana"),
    ];
    let used = submit_link(&stranger, &link, &page, &password).await;
    says(used, 410, EXPIRED).await;
    says(stranger.get(&link).send().await.unwrap(), 410, EXPIRED).await;
    assert_eq!(app.bound_to(&id).await, None);
    let set = serde_json::json!({"by": "cli", "account": id});
    assert_eq!(
        app.audit_details("seinajoki", "legacy.email_set").await,
        [set.clone(), set]
    );
    app.stop().await;
}

both_stores!(a_reimport_that_changes_the_address_voids_the_links_mailed_to_the_old_one);
/// The same by a re-import of a corrected export: a change of name leaves the link usable, a
/// change of address voids it.
async fn a_reimport_that_changes_the_address_voids_the_links_mailed_to_the_old_one(
    backend: Backend,
) {
    let (app, client) = server(backend).await;
    let (id, link, page, stranger) = link_to_a_stale_address(&app, &client).await;
    let dir = tempfile::tempdir().unwrap();
    let import = async |email: &str, name: &str| {
        let file = dir.path().join("export.csv");
        let export = format!(
            "username,subject,email,password_hash,name\n\
             matti.m,SJK-M1,{email},{{MD4}}0cb6948805f797bf2a82807973b89537,{name}\n"
        );
        std::fs::write(&file, export).unwrap();
        let file = file.display().to_string();
        cli(&app, &["import-legacy", "--tenant", "seinajoki", &file]).await
    };
    assert_has(&import("Vanha@Testi.fi", "Matti").await, "\nupdated: 1\n");
    let opened = stranger.get(&link).send().await.unwrap();
    assert_eq!(
        opened.status(),
        200,
        "the address is the same: the link stays"
    );
    assert_has(&import("matti@uusi.fi", "Matti").await, "\nupdated: 1\n");
    let password = [
        ("password", "uusi pitkä salasana"),
        ("password2", "uusi pitkä salasana"),
    ];
    let used = submit_link(&stranger, &link, &page, &password).await;
    says(used, 410, EXPIRED).await;
    assert_eq!(app.bound_to(&id).await, None);
    app.stop().await;
}

both_stores!(links_go_only_to_the_address_an_old_account_has_in_the_transaction_that_writes_them);
/// A login read an old account at its address; support then corrects the address (what `idp
/// legacy set-email` does: the address set, the account's links voided); the login's mail is
/// written after that, from the row it read. Neither the set-password link nor a claim's link is
/// written to the stale address, whose reader would bind the account with the new address,
/// verified (the answer is the one past a mail limit: the page reads as sent). Read again, the
/// account gets its link at its address.
async fn links_go_only_to_the_address_an_old_account_has_in_the_transaction_that_writes_them(
    backend: Backend,
) {
    use idp::flows::linker::{self, links::LinkMail};
    use idp::store::{Tenant, legacy, links};

    let (app, _client) = server(backend).await;
    let old = Old::new("seinajoki", "matti.m", "SJK-M1").email("vanha@testi.fi");
    let id = app.import(old).await;
    let (services, now, account) = (app.services.clone(), app.now(), id.clone());
    let sent = app
        .db_run(move |conn| {
            let m = services.minter("seinajoki", now).unwrap();
            let tenant = Tenant::of(m.tenant);
            let stale = legacy::find(conn, tenant, &id).unwrap().unwrap();
            let corrected = "matti@uusi.fi";
            assert!(legacy::set_email(conn, tenant, &id, corrected, corrected, now).unwrap());
            links::void_for_legacy(conn, tenant, &id, now).unwrap();
            let (fi, mails) = (idp::config::Language::Fi, &services.mails);
            let mail = |to| LinkMail {
                to,
                language: fi,
                request_id: None,
                user: None,
                budget: idp::flows::mail_limit::Budget::Shared,
            };
            let stale_link = linker::send_links(
                &m,
                conn,
                mails,
                std::slice::from_ref(&stale),
                mail("vanha@testi.fi"),
            );
            let stale_claim = linker::send_claim_link(&m, conn, mails, &stale, fi, None);
            let current = legacy::find(conn, tenant, &id).unwrap().unwrap();
            let fresh = linker::send_links(&m, conn, mails, &[current], mail(corrected));
            [stale_link, stale_claim, fresh].map(|sent| sent.unwrap().is_some())
        })
        .await;
    assert_eq!(sent, [false, false, true]);
    let (mail, link) = app.mailed_link(1, "/seinajoki/reset?token=").await;
    assert_has(&mail, "To: matti@uusi.fi");
    assert_eq!(app.mails().len(), 1);
    let opened = app.browser().get(&link).send().await.unwrap();
    assert_eq!(opened.status(), 200);
    // On PostgreSQL a correction that commits while a link is written cannot void it: as the
    // database then holds it, the link is there and the address has changed under it. The link
    // proves only the address it was mailed to, while that is still the account's.
    app.db_run(move |conn| {
        use diesel::prelude::*;
        use idp::store::schema::legacy_accounts as old;
        let third = "matti@kolmas.fi";
        diesel::update(old::table.find(account))
            .set((old::email.eq(third), old::email_normalized.eq(third)))
            .execute(conn)
            .unwrap();
    })
    .await;
    let stale = app.browser().get(&link).send().await.unwrap();
    assert_eq!(stale.status(), 410);
    app.stop().await;
}

both_stores!(an_authority_account_is_proven_by_its_old_password_only);
/// Under email-link (kouvola), an authority's old account with an address: identifying or
/// registering the address mails no link, which would make whoever reads the mailbox an authority
/// user. With a usable old hash the address leads to the password page, as its username does;
/// without one, nowhere (the unknown identifier's page). A resident's link mailed before a
/// re-import made the account an authority's leads nowhere either.
async fn an_authority_account_is_proven_by_its_old_password_only(backend: Backend) {
    let hash = bcrypt::hash("viraston vanha salasana", 4).unwrap();
    let proven = Old::new("kouvola", "virasto.a", "KVL-V1").hash(&hash);
    let unproven = Old::new("kouvola", "virasto.b", "KVL-V2");
    let (app, client) = kouvola(backend).await;
    app.import(proven.email("virasto@testi.fi").authority())
        .await;
    let unproven = app
        .import(unproven.email("toimisto@testi.fi").authority())
        .await;
    let login = begin(&app, &client).await;
    let (status, asked) = login.identify("virasto@testi.fi").await;
    assert_eq!(status, 200);
    assert_has(&asked, "autocomplete=\"current-password\"");
    let (status, unknown) = login.identify("toimisto@testi.fi").await;
    assert_eq!(status, 422);
    assert_has(&unknown, "Tunnusta ei tunnistettu.");
    for address in ["virasto@testi.fi", "toimisto@testi.fi"] {
        assert_eq!(register(&app, &login, address).await.status(), 200);
    }
    assert_eq!(
        app.mails(),
        Vec::<String>::new(),
        "no link for an authority"
    );
    assert_eq!(app.bound_to(&unproven).await, None);

    // A resident's account gets its link; then the export says it is an authority's.
    let resident = Old::new("kouvola", "asukas.r", "KVL-R1").email("asukas@testi.fi");
    let resident = app.import(resident).await;
    let (_, sent) = login.identify("asukas@testi.fi").await;
    assert_has(&sent, LINK_SENT);
    let (_, link) = app.mailed_link(1, "/kouvola/reset?token=").await;
    let form = page(&login.browser, &link).await;
    let export = "username,subject,email,authority\nasukas.r,KVL-R1,asukas@testi.fi,yes\n";
    let summary = app.import_csv("kouvola", "export.csv", export.into()).await;
    assert_eq!(summary.updated, 1);
    let password = [
        ("password", "uusi pitkä salasana"),
        ("password2", "uusi pitkä salasana"),
    ];
    says(
        submit_link(&login.browser, &link, &form, &password).await,
        410,
        EXPIRED,
    )
    .await;
    says(login.browser.get(&link).send().await.unwrap(), 410, EXPIRED).await;
    assert_eq!(app.bound_to(&resident).await, None);
    app.stop().await;
}

both_stores!(an_address_with_more_old_accounts_than_a_family_has_is_sent_to_customer_service);
/// An export gave 21 old accounts one placeholder address. Whoever types it is not shown a list of
/// 21 usernames nor mailed 21 links: the page sends them to customer service (409, fi), a
/// registration there mails nothing, and the resident who has the address logs in as ever, the
/// account page offering none of them. Before, each identifier post read them all, listed them,
/// and a mail carried a link for each.
async fn an_address_with_more_old_accounts_than_a_family_has_is_sent_to_customer_service(
    backend: Backend,
) {
    let (app, client) = kouvola(backend).await;
    let address = "ei.osoitetta@testi.fi";
    let rows: String = (1..=21)
        .map(|n| format!("tunnus.{n:02},KVL-P{n:02},{address},,,\n"))
        .collect();
    let export = format!("username,subject,email,password_hash,name,authority\n{rows}");
    let summary = app.import_csv("kouvola", "export.csv", export).await;
    assert_eq!(summary.imported, 21);
    let login = begin(&app, &client).await;
    let (status, page) = login.identify(address).await;
    assert_eq!(status, 409, "{page}");
    assert_has(
        &page,
        "Osoitteeseen liittyy niin monta aiemman kirjautumisjärjestelmän käyttäjätunnusta",
    );
    assert!(!page.contains("tunnus.01"), "{page}");
    assert_eq!(register(&app, &login, address).await.status(), 200);
    assert_eq!(app.mails(), Vec::<String>::new(), "no list, no link");

    // The account in use at another such address logs in as ever.
    let other = "toinen.yhteinen@testi.fi";
    app.add_user("kouvola", other, "asukkaan pitkä salasana", "Aino")
        .await;
    let rows: String = (1..=21)
        .map(|n| format!("muu.{n:02},KVL-M{n:02},{other},,,\n"))
        .collect();
    let export = format!("username,subject,email,password_hash,name,authority\n{rows}");
    app.import_csv("kouvola", "more.csv", export).await;
    let signed = sign_in(&app, "kouvola", other, "asukkaan pitkä salasana").await;
    assert!(!signed.page.contains("muu.01"), "{}", signed.page);
    app.stop().await;
}

both_stores!(the_account_page_offers_no_way_to_an_authority_account_only_support_can_bind);
/// The account page lists the old accounts of the resident's address as the login's linker finds
/// them: an authority's with a usable old hash, proven by that password; one without, not at all
/// (no password can prove it and no link may). Asked for it anyway, the page says nothing was
/// sent, as it is: no mail, nothing bound.
async fn the_account_page_offers_no_way_to_an_authority_account_only_support_can_bind(
    backend: Backend,
) {
    let (app, _) = kouvola(backend).await;
    let address = "yhteinen@testi.fi";
    app.add_user("kouvola", address, "asukkaan pitkä salasana", "Aino")
        .await;
    let signed = sign_in(&app, "kouvola", address, "asukkaan pitkä salasana").await;
    // The old accounts arrive with a later import.
    let hash = bcrypt::hash("viraston vanha salasana", 4).unwrap();
    let proven = Old::new("kouvola", "virasto.a", "KVL-V1").hash(&hash);
    app.import(proven.email(address).authority()).await;
    let unproven = Old::new("kouvola", "virasto.b", "KVL-V2").email(address);
    let unproven = app.import(unproven.authority()).await;
    let account = page(&signed.browser, app.url("/kouvola/account")).await;
    assert_has(&account, "virasto.a");
    assert!(!account.contains("virasto.b"), "{account}");
    let url = app.url("/kouvola/account/legacy");
    let fields = [("account", unproven.as_str())];
    let asked = post_with_csrf(&signed.browser, url, &account, &fields).await;
    let page = says(asked, 409, "virasto.a").await;
    assert!(!page.contains("Lähetimme liittämislinkin"), "{page}");
    assert_eq!(app.mails(), Vec::<String>::new());
    assert_eq!(app.bound_to(&unproven).await, None);
    app.stop().await;
}

both_stores!(two_authority_accounts_of_one_office_mailbox_both_log_in);
/// Two officials' old accounts share the office's mailbox in the export. The first login takes
/// the address; the second official still logs in by the username (proven by the old password),
/// with the old subject and without an address. Before, every attempt answered "wrong password".
async fn two_authority_accounts_of_one_office_mailbox_both_log_in(backend: Backend) {
    let office =
        |username, subject| Old::new("seinajoki", username, subject).email("toimisto@testi.fi");
    let accounts = [
        office("virkailija.a", "SJK-V1"),
        office("virkailija.b", "SJK-V2"),
    ];
    let (app, client) = officials(backend, accounts).await;
    let first = logged_in(&app.browser(), &client, "virkailija.a", OFFICE_PASSWORD).await;
    assert_eq!(first.payload()["sub"], "SJK-V1");
    assert_eq!(first.payload()["email"], "toimisto@testi.fi");
    for _ in 0..2 {
        let second = logged_in(&app.browser(), &client, "virkailija.b", OFFICE_PASSWORD).await;
        let claims = second.payload();
        assert_eq!(claims["sub"], "SJK-V2");
        assert_eq!(claims.get("email"), None);
    }
    let linked = app.audit_details("seinajoki", "legacy.linked").await;
    assert_eq!(linked[1]["address_taken"], true);
    assert_eq!(linked[0].get("address_taken"), None);
    app.stop().await;
}

both_stores!(an_authority_username_that_looks_like_an_address_logs_in);
/// The import allows `@` in a username: an official whose old username is an address (and whose
/// account has no address of its own) logs in with it, the first time too.
async fn an_authority_username_that_looks_like_an_address_logs_in(backend: Backend) {
    let old = Old::new("seinajoki", "rv@rakennus.seinajoki.fi", "SJK-RV");
    let (app, client) = officials(backend, [old]).await;
    for _ in 0..2 {
        let browser = app.browser();
        let redeemed = logged_in(
            &browser,
            &client,
            "RV@rakennus.seinajoki.fi",
            "viraston salasana",
        )
        .await;
        assert_eq!(redeemed.payload()["sub"], "SJK-RV");
    }
    app.stop().await;
}

both_stores!(an_authority_username_exported_decomposed_logs_in_as_typed);
/// An old system that exported "Pääkäyttäjä" decomposed (NFD, as macOS writes it) and a browser
/// that sends it composed (NFC): one key reads both, at the first login (the old account) and at
/// the next ones (the user it was bound to), in any case and either spelling.
async fn an_authority_username_exported_decomposed_logs_in_as_typed(backend: Backend) {
    let decomposed = "Pa\u{308}a\u{308}ka\u{308}ytta\u{308}ja\u{308}";
    let (app, client) = officials(backend, []).await;
    let hash = bcrypt::hash(OFFICE_PASSWORD, 4).unwrap();
    let export =
        format!("username,subject,password_hash,authority\n{decomposed},SJK-PK,{hash},yes\n");
    let summary = app.import_csv("seinajoki", "export.csv", export).await;
    assert_eq!(summary.imported, 1);
    for typed in ["Pääkäyttäjä", "PÄÄKÄYTTÄJÄ", decomposed] {
        let browser = app.browser();
        let redeemed = logged_in(&browser, &client, typed, OFFICE_PASSWORD).await;
        assert_eq!(redeemed.payload()["sub"], "SJK-PK", "{typed}");
    }
    app.stop().await;
}

both_stores!(an_address_on_an_internationalised_domain_is_one_account_in_either_form);
/// An old account exported at `Matti@Hämeenlinna.fi`: its first login with the form a browser's
/// email field sends (the domain in punycode, `xn--hmeenlinna-q5a.fi`) binds it with its subject,
/// and the next login with the domain as typed into a text field finds the same resident. Before,
/// the punycode form found no account.
async fn an_address_on_an_internationalised_domain_is_one_account_in_either_form(backend: Backend) {
    let (app, client) = crate::linker::server(backend).await;
    let hash = bcrypt::hash(OFFICE_PASSWORD, 4).unwrap();
    let export =
        format!("username,subject,email,password_hash\nmatti,SJK-M,Matti@Hämeenlinna.fi,{hash}\n");
    let summary = app.import_csv("seinajoki", "export.csv", export).await;
    assert_eq!(summary.imported, 1);
    for typed in ["matti@xn--hmeenlinna-q5a.fi", "MATTI@hämeenlinna.fi"] {
        let redeemed = logged_in(&app.browser(), &client, typed, OFFICE_PASSWORD).await;
        assert_eq!(redeemed.payload()["sub"], "SJK-M", "{typed}");
    }
    let users = app
        .db_run(|conn| idp::store::users::list(conn, crate::helpers::tenant("seinajoki")))
        .await
        .unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(
        users[0].email_normalized.as_deref(),
        Some("matti@xn--hmeenlinna-q5a.fi")
    );
    app.stop().await;
}

/// Imports into seinajoki a resident's old account `aino.tyo` exported at a work address, and
/// the authority account `virasto`, both with [`OFFICE_PASSWORD`]: their ids.
async fn work_and_office(app: &TestApp) -> (String, String) {
    let hash = bcrypt::hash(OFFICE_PASSWORD, 4).unwrap();
    let work = Old::new("seinajoki", "aino.tyo", "SJK-AT").email("aino@tyopaikka.fi");
    let office = Old::new("seinajoki", "virasto", "SJK-V").authority();
    (
        app.import(work.hash(&hash)).await,
        app.import(office.hash(&hash)).await,
    )
}

both_stores!(an_old_account_of_another_address_is_linked_by_its_username_and_password);
/// A resident of a keep-password city whose old account was exported at a work address links it
/// on the account page by its old username (in any case) and password; a wrong password, an
/// unknown username and an authority's account all read alike (the form tells nobody which old
/// usernames exist) and each is audited as a failed check. An email-link city offers no such
/// form (its old accounts are proven by a link to their own address, not the resident's).
async fn an_old_account_of_another_address_is_linked_by_its_username_and_password(
    backend: Backend,
) {
    let (app, _) = server(backend).await;
    let (work, office) = work_and_office(&app).await;
    let password = "asukkaan pitkä salasana";
    let user = app
        .add_user("seinajoki", "aino@testi.fi", password, "Aino")
        .await;
    let signed = sign_in(&app, "seinajoki", "aino@testi.fi", password).await;
    assert_has(&signed.page, "Muun sähköpostiosoitteen aiempi tunnus");
    let url = app.url("/seinajoki/account/legacy/other");
    let link = async |username: &str, password: &str| {
        let fields = [("username", username), ("password", password)];
        post_with_csrf(&signed.browser, url.as_str(), &signed.page, &fields).await
    };
    let wrong = "Käyttäjätunnus tai salasana on väärin.";
    let refused = says(link("aino.tyo", "väärä salasana").await, 401, wrong).await;
    assert_has(
        &refused,
        "value=\"aino.tyo\" aria-describedby=\"other-error\" aria-invalid=\"true\"",
    );
    says(link("ei.ole", OFFICE_PASSWORD).await, 401, wrong).await;
    says(link("virasto", OFFICE_PASSWORD).await, 401, wrong).await;
    assert_eq!(app.bound_to(&office).await, None);
    assert_eq!(app.audited("seinajoki", "login.failed").await.len(), 3);

    let linked = link("AINO.TYO", OFFICE_PASSWORD).await;
    assert_eq!(linked.status(), 200);
    let linked = linked.text().await.unwrap();
    assert_has(&linked, "Aiempi käyttäjätunnus on liitetty.");
    assert_has(&linked, "<li>aino.tyo</li>");
    let bound = app.user_by_email("seinajoki", "aino@testi.fi").await;
    assert_eq!(app.bound_to(&work).await, Some(bound.id));
    assert_eq!(bound.subject, user);
    let events = app.audit_details("seinajoki", "legacy.linked").await;
    assert_eq!(
        events,
        [serde_json::json!({"username": "aino.tyo", "by": "password", "first": false})]
    );

    // Kouvola mails links to an old account's own address: no such form, and no such route.
    app.add_user("kouvola", "aino@testi.fi", password, "Aino")
        .await;
    let there = sign_in(&app, "kouvola", "aino@testi.fi", password).await;
    assert!(!there.page.contains("legacy/other"), "{}", there.page);
    let fields = [("username", "aino.tyo"), ("password", OFFICE_PASSWORD)];
    let url = app.url("/kouvola/account/legacy/other");
    let answer = post_with_csrf(&there.browser, url, &there.page, &fields).await;
    assert_eq!(answer.status(), 404);
    app.stop().await;
}

both_stores!(the_old_username_form_counts_where_a_login_of_the_name_does);
/// A signed-in resident who fails the account page's old-username form five times for a name
/// blocks a login of that name, whatever the name is (a resident's old username, an authority's,
/// a resident's address, nothing): the counters are the login's, so that neither answer tells
/// which names exist. Before, the form counted an old account on its own counter and anything
/// else on the name's, and a login after it told them apart (401 against 429).
async fn the_old_username_form_counts_where_a_login_of_the_name_does(backend: Backend) {
    use idp::flows::password_check::FREE_FAILURES;
    let (app, client) = server(backend).await;
    work_and_office(&app).await;
    let password = "asukkaan pitkä salasana";
    app.add_user("seinajoki", "aino@testi.fi", password, "Aino")
        .await;
    app.add_user("seinajoki", "utelias@testi.fi", password, "Utelias")
        .await;
    let signed = sign_in(&app, "seinajoki", "utelias@testi.fi", password).await;
    let url = app.url("/seinajoki/account/legacy/other");
    for name in ["aino.tyo", "virasto", "ei.ole", "aino@testi.fi"] {
        for _ in 0..FREE_FAILURES {
            let fields = [("username", name), ("password", "väärä salasana")];
            let refused = post_with_csrf(&signed.browser, &url, &signed.page, &fields).await;
            assert_eq!(refused.status(), 401, "{name}");
        }
        let login = Login::fresh(&app, &client).await;
        let answer = login.submit(name, "väärä salasana", false).await;
        assert_eq!(answer.status(), 429, "{name}");
    }
    app.stop().await;
}

/// The old password of [`officials`]' accounts.
const OFFICE_PASSWORD: &str = "viraston salasana";

/// A server whose seinajoki asks its authority users for no second factor, with `accounts`
/// imported as authorities' old accounts, each with [`OFFICE_PASSWORD`]: the server and its
/// relying party.
async fn officials<const N: usize>(backend: Backend, accounts: [Old<'_>; N]) -> (TestApp, Rp) {
    let app = TestApp::with_tenant_setting(backend, "authority_second_factor = \"off\"").await;
    let client = rp::basic(&app).await;
    let hash = bcrypt::hash(OFFICE_PASSWORD, 4).unwrap();
    for old in accounts {
        app.import(old.hash(&hash).authority()).await;
    }
    (app, client)
}

both_stores!(a_link_the_account_page_could_not_mail_is_said_at_its_own_form);
/// The relay is down when a resident asks the account page to mail the link of an old account:
/// 503, and "sending failed" stands at the old accounts' form, the one pressed, not at the change
/// of address (whose field it also described).
async fn a_link_the_account_page_could_not_mail_is_said_at_its_own_form(backend: Backend) {
    let app = TestApp::builder(backend).unreachable_smtp().spawn().await;
    let address = "aino@testi.fi";
    app.add_user("kouvola", address, "asukkaan pitkä salasana", "Aino")
        .await;
    let signed = sign_in(&app, "kouvola", address, "asukkaan pitkä salasana").await;
    // The old account arrives with a later import.
    let old = app
        .import(Old::new("kouvola", "aino.vanha", "KVL-A9").email(address))
        .await;
    let account = page(&signed.browser, app.url("/kouvola/account")).await;
    let url = app.url("/kouvola/account/legacy");
    let fields = [("account", old.as_str())];
    let asked = post_with_csrf(&signed.browser, url, &account, &fields).await;
    let page = says(
        asked,
        503,
        "<p id=\"legacy-error\" class=\"error\" role=\"alert\">Viestin lähettäminen",
    )
    .await;
    assert!(!page.contains("new-email-error"), "{page}");
    assert_eq!(app.bound_to(&old).await, None);
    app.stop().await;
}
