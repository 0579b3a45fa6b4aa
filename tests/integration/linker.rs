//! The legacy-account linker on the real server: the first login of an old account under both
//! policies keeps its subject; every hash format; one address shared by several accounts; an
//! old hash that cannot be used. The linker's other ways in are `linker_edges.rs`; a family's
//! claims at a shared address, `linker_family.rs`.

use serde_json::Value;

use crate::both_stores;
use crate::helpers::journeys::{Login, hidden_account, page, post_with_csrf, says, set_password};
use crate::helpers::{Backend, Old, TestApp, assert_has};
use crate::rp::{self, Rp, location, param};

const PASSWORD: &str = "Sälasana-ÄÖå €";
const NEW_PASSWORD: &str = "uusi pitkä salasana";
/// The answer to a wrong password.
const WRONG: &str = "Sähköpostiosoite / käyttäjätunnus tai salasana on väärin.";
/// The identifier page when a link was mailed instead of asking a password.
pub(crate) const LINK_SENT: &str =
    "Sähköpostiisi on lähetetty linkki, jonka avulla voit asettaa uuden salasanan.";

/// The reference hashes of `tests/data` (passlib, hashlib) for `password`: (format, hash).
pub(crate) fn vectors(password: &str) -> Vec<(String, String)> {
    let root = crate::helpers::project_root().join("tests/data");
    let mut out = Vec::new();
    let passlib = std::fs::read_to_string(root.join("legacy_hashes.tsv")).unwrap();
    let salted = std::fs::read_to_string(root.join("legacy_salted_sha.tsv")).unwrap();
    for (line, prefix) in passlib
        .lines()
        .map(|l| (l, ""))
        .chain(salted.lines().map(|l| (l, "salted-")))
    {
        let fields: Vec<&str> = line.split('\t').collect();
        // Layout "b" of the salted vectors is not the demo tenant's layout.
        if fields.len() == 3 && fields[1] == password && fields[0] != "b" {
            out.push((format!("{prefix}{}", fields[0]), fields[2].to_string()));
        }
    }
    out
}

/// A server and its relying party `rp-basic` of seinajoki.
pub(crate) async fn server(backend: Backend) -> (TestApp, Rp) {
    let app = TestApp::spawn(backend).await;
    let client = rp::basic(&app).await;
    (app, client)
}

/// A server and its relying party `rp-basic` of kouvola (the email-link policy).
pub(crate) async fn kouvola(backend: Backend) -> (TestApp, Rp) {
    let app = TestApp::spawn(backend).await;
    let client = rp::basic_of(&app, "kouvola").await;
    (app, client)
}

/// A login at `client` (asking `email` and `profile`) in a fresh browser, at its identifier page.
pub(crate) async fn begin(app: &TestApp, client: &Rp) -> Login {
    Login::start(&app.browser(), client, &["email", "profile"], &[]).await
}

/// `email` logs in with `password` in `browser` at a new request of `client` (asking `email` and
/// `profile`): the tokens.
pub(crate) async fn logged_in(
    browser: &reqwest::Client,
    client: &Rp,
    email: &str,
    password: &str,
) -> rp::Redeemed {
    rp::redeem_login(browser, client, &["email", "profile"], email, password).await
}

/// The first login of an old account (at `identifier`) whose password cannot be checked: the
/// page says a link was mailed, the link (the `count`th mail) sets a new password and the login
/// goes on. The mail and the ID token's claims.
async fn first_login_by_link(
    app: &TestApp,
    client: &Rp,
    identifier: &str,
    count: usize,
) -> (String, Value) {
    let login = begin(app, client).await;
    let (status, page) = login.identify(identifier).await;
    assert_eq!(status, 200);
    assert_has(&page, LINK_SENT);
    let tenant = login.url.path().split('/').nth(1).unwrap().to_string();
    let (mail, link) = app
        .mailed_link(count, &format!("/{tenant}/reset?token="))
        .await;
    let done = set_password(&login.browser, &link, NEW_PASSWORD).await;
    assert_eq!(done.status(), 303, "the pending login goes on");
    let claims = login.redeem(client, &location(&done)).await;
    (mail, claims.payload())
}

both_stores!(a_link_opened_after_the_logins_own_time_still_goes_back_to_the_e_service);
/// The first login of an old account mails a link, which lives 60 minutes (the page says so);
/// the resident opens it after 45, past the 30 minutes the login itself waits. The password is
/// set and the login goes on to the e-service. Before, it said "password set" and the way back
/// to the e-service was gone.
async fn a_link_opened_after_the_logins_own_time_still_goes_back_to_the_e_service(
    backend: Backend,
) {
    let (app, client) = kouvola(backend).await;
    app.import(Old::new("kouvola", "hidas.h", "KVL-H1").email("hidas@testi.fi"))
        .await;
    let login = begin(&app, &client).await;
    let (status, page) = login.identify("hidas@testi.fi").await;
    assert_eq!(status, 200);
    assert_has(&page, LINK_SENT);
    let (_, link) = app.mailed_link(1, "/kouvola/reset?token=").await;
    app.clock.advance(45 * 60);
    let done = set_password(&login.browser, &link, NEW_PASSWORD).await;
    assert_eq!(done.status(), 303, "the pending login goes on");
    let claims = login.redeem(&client, &location(&done)).await;
    assert_eq!(claims.payload()["sub"], "KVL-H1");
    app.stop().await;
}

both_stores!(every_old_hash_format_logs_in_and_keeps_its_subject);
async fn every_old_hash_format_logs_in_and_keeps_its_subject(backend: Backend) {
    let (app, client) = server(backend).await;
    let formats = vectors(PASSWORD);
    assert_eq!(formats.len(), 16, "{formats:?}");
    let mut ids = Vec::new();
    for (kind, hash) in &formats {
        let username = format!("vanha.{kind}");
        let subject = format!("SJK-{kind}");
        let email = format!("{kind}@testi.fi");
        let old = Old::new("seinajoki", &username, &subject).email(&email);
        let id = app.import(old.hash(hash)).await;
        assert!(app.legacy_row(&id).await.hash_format.is_some(), "{kind}");
        ids.push(id);
    }

    // A wrong password: the generic error, nothing bound.
    let login = begin(&app, &client).await;
    let (status, page) = login.identify("bcrypt-2b@testi.fi").await;
    assert_eq!(status, 200);
    let wrong = login.password(&page, "bcrypt-2b@testi.fi", "väärä").await;
    says(wrong, 401, WRONG).await;
    assert_eq!(app.bound_to(&ids[0]).await, None);

    for ((kind, _), id) in formats.iter().zip(&ids) {
        let login = begin(&app, &client).await;
        let email = format!("{kind}@testi.fi");
        let (status, page) = login.identify(&email.to_uppercase()).await;
        assert_eq!(status, 200, "{kind}");
        let done = login.password(&page, &email.to_uppercase(), PASSWORD).await;
        assert_eq!(done.status(), 303, "{kind} must log in");
        let claims = login.redeem(&client, &location(&done)).await.payload();
        assert_eq!(
            claims["sub"],
            format!("SJK-{kind}"),
            "{kind} keeps its subject"
        );
        assert_eq!(claims["preferred_username"], format!("vanha.{kind}"));
        assert_eq!(
            claims["former_usernames"],
            serde_json::json!([format!("vanha.{kind}")])
        );
        assert_eq!(claims["email"], email);
        assert_eq!(claims["email_verified"], true, "the city vouched for it");
        let row = app.legacy_row(id).await;
        assert!(
            row.linked_user_id.is_some() && row.linked_at.is_some(),
            "{kind}"
        );
        // The old hash, a weak copy of the password the resident now uses, is forgotten; its
        // format stays for the report.
        assert_eq!(row.password_hash, None, "{kind}");
        assert!(row.hash_format.is_some(), "{kind}");
    }
    let kinds = app.audit_kinds("seinajoki").await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "legacy.linked").count(),
        formats.len()
    );

    // The password was re-hashed: the next login checks argon2id and keeps the subject.
    let user = app.user_by_email("seinajoki", "md5-crypt@testi.fi").await;
    assert!(user.password_hash.unwrap().starts_with("$argon2id$"));
    let redeemed = logged_in(&app.browser(), &client, "md5-crypt@testi.fi", PASSWORD).await;
    assert_eq!(redeemed.payload()["sub"], "SJK-md5-crypt");
    app.stop().await;
}

both_stores!(an_old_password_typed_with_decomposed_letters_logs_in_and_is_kept_composed);
/// "ä" is one character where a keyboard types it, and "a" with a combining diaeresis where some
/// input methods and pasted text give it: the old system hashed the composed form, and its
/// resident's first login with the decomposed one was "wrong" (a strike, then a block). The
/// password is tried in both forms, and kept composed (NFKC): the next login matches either way.
async fn an_old_password_typed_with_decomposed_letters_logs_in_and_is_kept_composed(
    backend: Backend,
) {
    use unicode_normalization::UnicodeNormalization;
    let (app, client) = server(backend).await;
    let (_, hash) = vectors(PASSWORD)
        .into_iter()
        .find(|(kind, _)| kind == "sha512-crypt")
        .unwrap();
    let old = Old::new("seinajoki", "vanha.hajotettu", "SJK-NFD").email("nfd@testi.fi");
    app.import(old.hash(&hash)).await;
    let decomposed: String = PASSWORD.nfd().collect();
    assert_ne!(decomposed, PASSWORD);
    for typed in [decomposed.as_str(), PASSWORD, decomposed.as_str()] {
        let redeemed = logged_in(&app.browser(), &client, "nfd@testi.fi", typed).await;
        assert_eq!(redeemed.payload()["sub"], "SJK-NFD", "{typed:?}");
    }
    app.stop().await;
}

both_stores!(an_old_system_that_hashed_windows_1252_binds_once_the_city_says_so);
/// An old login page in ISO-8859-1 (or windows-1252): its browsers sent "ä" as one byte, and the
/// old system hashed those bytes. With the default encoding (UTF-8) the resident's right password
/// is wrong; once the city sets `[legacy] password_encodings = ["utf-8", "windows-1252"]` it
/// binds and keeps the subject, and an account the old system hashed as UTF-8 binds as before.
async fn an_old_system_that_hashed_windows_1252_binds_once_the_city_says_so(backend: Backend) {
    let (app, client) = server(backend).await;
    let root = crate::helpers::project_root().join("tests/data");
    let cp1252 = std::fs::read_to_string(root.join("legacy_hashes_cp1252.tsv")).unwrap();
    let latin = cp1252
        .lines()
        .map(|line| line.split('\t').collect::<Vec<_>>())
        .find(|fields| fields[0] == "bcrypt-2y" && fields[1] == PASSWORD)
        .map(|fields| fields[2].to_string())
        .unwrap();
    let (_, utf8) = vectors(PASSWORD)
        .into_iter()
        .find(|(kind, _)| kind == "bcrypt-2y")
        .unwrap();
    let old = Old::new("seinajoki", "vanha.latin", "SJK-LATIN").email("latin@testi.fi");
    let latin_id = app.import(old.hash(&latin)).await;
    let old = Old::new("seinajoki", "vanha.utf", "SJK-UTF").email("utf@testi.fi");
    app.import(old.hash(&utf8)).await;

    let login = begin(&app, &client).await;
    let (_, page) = login.identify("latin@testi.fi").await;
    let wrong = login.password(&page, "latin@testi.fi", PASSWORD).await;
    says(wrong, 401, WRONG).await;
    assert_eq!(app.bound_to(&latin_id).await, None);

    let app = app
        .restart_with(|dir| {
            let tenant = dir.join("tenants/seinajoki.toml");
            let text = std::fs::read_to_string(&tenant).unwrap();
            let text = text.replacen(
                "[legacy]\n",
                "[legacy]\npassword_encodings = [\"utf-8\", \"windows-1252\"]\n",
                1,
            );
            std::fs::write(&tenant, text).unwrap();
        })
        .await;
    let client = rp::basic(&app).await;
    for (email, subject) in [("latin@testi.fi", "SJK-LATIN"), ("utf@testi.fi", "SJK-UTF")] {
        let redeemed = logged_in(&app.browser(), &client, email, PASSWORD).await;
        assert_eq!(redeemed.payload()["sub"], subject, "{email}");
    }
    assert!(app.bound_to(&latin_id).await.is_some());
    app.stop().await;
}

both_stores!(a_first_login_posted_twice_is_never_a_wrong_password);
/// A double click on the first login of an old account (keep-password): both posts check the old
/// password, one binds the account; the other finds it bound by the same login and goes on as the
/// first did, with a code of its own, never "wrong password" nor `login.failed` (with its strike).
/// Before, the resident was told the correct password was wrong, then that the login was
/// interrupted.
async fn a_first_login_posted_twice_is_never_a_wrong_password(backend: Backend) {
    let (app, client) = server(backend).await;
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    let old = Old::new("seinajoki", "vanha.matti", "SJK-M").email("matti@testi.fi");
    app.import(old.hash(&hash)).await;
    let login = begin(&app, &client).await;
    let (status, page) = login.identify("matti@testi.fi").await;
    assert_eq!(status, 200);
    let (first, second) = tokio::join!(
        login.password(&page, "matti@testi.fi", PASSWORD),
        login.password(&page, "matti@testi.fi", PASSWORD),
    );
    let statuses = [first.status().as_u16(), second.status().as_u16()];
    assert_eq!(statuses, [303, 303]);
    assert_eq!(app.audited("seinajoki", "login.failed").await.len(), 0);
    assert_eq!(app.audited("seinajoki", "legacy.linked").await.len(), 1);
    let redeemed = login.redeem(&client, &location(&second)).await;
    assert_eq!(redeemed.payload()["sub"], "SJK-M");
    app.stop().await;
}

both_stores!(a_shared_address_lets_the_resident_choose_and_link_the_others_later);
async fn a_shared_address_lets_the_resident_choose_and_link_the_others_later(backend: Backend) {
    let (app, client) = server(backend).await;
    let father = bcrypt::hash("isän vanha salasana", 4).unwrap();
    let mother = bcrypt::hash("äidin vanha salasana", 4).unwrap();
    let isa = Old::new("seinajoki", "perhe.isa", "SJK-1").email("perhe@testi.fi");
    let isa = app.import(isa.hash(&father)).await;
    let aiti = Old::new("seinajoki", "perhe.aiti", "SJK-2").email("Perhe@Testi.fi");
    let aiti = app.import(aiti.hash(&mother)).await;

    let login = begin(&app, &client).await;
    let (status, choose) = login.identify("perhe@testi.fi").await;
    assert_eq!(status, 200);
    assert_has(&choose, "Valitse aiempi käyttäjätunnuksesi");
    assert!(choose.contains(">perhe.isa</label>") && choose.contains(">perhe.aiti</label>"));
    let identifier = [("identifier", "perhe@testi.fi")];
    let none = login.post("/login/choose", &choose, &identifier).await;
    says(none, 422, "Valitse yksi käyttäjätunnuksista.").await;
    let chosen = login.choose(&choose, "perhe@testi.fi", &isa).await;
    assert_eq!(chosen.status(), 200);
    let password_page = chosen.text().await.unwrap();
    assert_eq!(hidden_account(&password_page), isa);
    // The other account's password does not open the chosen one.
    let wrong = login
        .password(&password_page, "perhe@testi.fi", "äidin vanha salasana")
        .await;
    assert_eq!(wrong.status(), 401);
    let done = login
        .password(&password_page, "perhe@testi.fi", "isän vanha salasana")
        .await;
    assert_eq!(done.status(), 303);
    let browser = login.browser.clone();
    let redeemed = login.redeem(&client, &location(&done)).await;
    let claims = redeemed.payload();
    assert_eq!(claims["sub"], "SJK-1");
    assert_eq!(claims.get("former_subjects"), None);

    // The account page lists the bound username and offers the other, by its old password.
    let account = page(&browser, app.url("/seinajoki/account")).await;
    assert_has(&account, "<li>perhe.isa</li>");
    assert_has(&account, "Tunnuksen perhe.aiti vanha salasana");
    // Only one's own: a relative's account linked here is no longer claimable by its owner.
    assert_has(&account, "Liitä käyttäjätunnukseesi vain omasi");
    let link_old = async |password: &str| {
        let fields = [("account", aiti.as_str()), ("password", password)];
        let url = app.url("/seinajoki/account/legacy");
        post_with_csrf(&browser, url, &account, &fields).await
    };
    let wrong = link_old("isän vanha salasana").await;
    says(wrong, 401, "Salasana on väärin.").await;
    let linked = link_old("äidin vanha salasana").await;
    assert_eq!(linked.status(), 200);
    assert_eq!(app.legacy_row(&aiti).await.password_hash, None);
    let linked = linked.text().await.unwrap();
    assert_has(&linked, "Aiempi käyttäjätunnus on liitetty.");
    assert!(linked.contains("<li>perhe.aiti</li>"));
    assert_eq!(app.bound_to(&aiti).await, app.bound_to(&isa).await);

    // The e-services can join the histories.
    let info = rp::userinfo(&app, "seinajoki", &redeemed.access_token()).await;
    assert_eq!(info["sub"], "SJK-1");
    assert_eq!(
        info["former_usernames"],
        serde_json::json!(["perhe.isa", "perhe.aiti"])
    );
    assert_eq!(info["former_subjects"], serde_json::json!(["SJK-2"]));
    // The address now belongs to the one user: the next login asks no choice.
    let login = begin(&app, &client).await;
    let (_, next) = login.identify("perhe@testi.fi").await;
    assert_has(&next, "autocomplete=\"current-password\"");
    app.stop().await;
}

both_stores!(the_email_link_policy_mails_a_link_that_binds_and_continues_the_login);
async fn the_email_link_policy_mails_a_link_that_binds_and_continues_the_login(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = rp::basic_of(&app, "kouvola").await;
    let hash = bcrypt::hash("vanha salasana", 4).unwrap();
    let ossi = Old::new("kouvola", "ossi.k", "KVL-42").email("ossi@testi.fi");
    let id = app.import(ossi.hash(&hash)).await;
    let login = begin(&app, &client).await;
    let (status, sent) = login.identify("Ossi@testi.fi").await;
    assert_eq!(status, 200);
    assert_has(&sent, LINK_SENT);
    let (mail, link) = app.mailed_link(1, "/kouvola/reset?token=").await;
    assert_has(&mail, "To: ossi@testi.fi");
    assert_has(&mail, "Aiempi käyttäjätunnus: ossi.k");
    assert_eq!(app.bound_to(&id).await, None);

    let form = page(&login.browser, &link).await;
    assert_has(
        &form,
        "Aiempi käyttäjätunnuksesi ossi.k liitetään sähköpostiosoitteeseesi",
    );
    // The address is the new login's name: a password manager saves the password under it.
    assert_has(
        &form,
        r#"<input type="hidden" name="username" autocomplete="username" value="ossi@testi.fi">"#,
    );
    let mismatch = crate::helpers::journeys::submit_link(
        &login.browser,
        &link,
        &form,
        &[("password", NEW_PASSWORD), ("password2", "toinen")],
    )
    .await;
    assert_eq!(mismatch.status(), 422);
    assert_eq!(app.bound_to(&id).await, None);
    let done = set_password(&login.browser, &link, NEW_PASSWORD).await;
    assert_eq!(done.status(), 303, "the pending login goes on");
    let back = location(&done);
    assert_eq!(
        param(&back, "state").as_deref(),
        Some(login.started().state.secret().as_str())
    );
    let browser = login.browser.clone();
    let claims = login.redeem(&client, &back).await.payload();
    assert_eq!(claims["sub"], "KVL-42");
    assert_eq!(claims["preferred_username"], "ossi.k");
    assert_eq!(claims["email_verified"], true);
    assert!(app.bound_to(&id).await.is_some());

    // Once only; then the new password logs in, the old one does not.
    assert_eq!(browser.get(&link).send().await.unwrap().status(), 410);
    let fresh = begin(&app, &client).await;
    let old = fresh.submit("ossi@testi.fi", "vanha salasana", false).await;
    assert_eq!(old.status(), 401);
    let redeemed = logged_in(&fresh.browser, &client, "ossi@testi.fi", NEW_PASSWORD).await;
    assert_eq!(redeemed.payload()["sub"], "KVL-42");
    app.stop().await;
}

both_stores!(a_shared_address_under_email_link_is_masked_and_linked_by_mail);
async fn a_shared_address_under_email_link_is_masked_and_linked_by_mail(backend: Backend) {
    let (app, client) = kouvola(backend).await;
    let first = Old::new("kouvola", "maija.m", "KVL-1").email("koti@testi.fi");
    let first = app.import(first).await;
    let second = Old::new("kouvola", "matti.m", "KVL-2").email("koti@testi.fi");
    let second = app.import(second).await;
    let login = begin(&app, &client).await;
    let (_, choose) = login.identify("koti@testi.fi").await;
    assert!(choose.contains(">m*****m</label>"), "masked: {choose}");
    assert!(!choose.contains("maija.m") && !choose.contains("matti.m"));
    let sent = login.choose(&choose, "koti@testi.fi", &second).await;
    assert_eq!(sent.status(), 200);
    let (mail, link) = app.mailed_link(1, "/kouvola/reset?token=").await;
    assert!(
        mail.contains("matti.m") && !mail.contains("maija.m"),
        "{mail}"
    );
    let browser = login.browser.clone();
    let done = set_password(&browser, &link, NEW_PASSWORD).await;
    let redeemed = login.redeem(&client, &location(&done)).await;
    assert_eq!(redeemed.payload()["sub"], "KVL-2");

    // The other account, from the account page, by a mailed link and a confirmation.
    let account = page(&browser, app.url("/kouvola/account")).await;
    // Its button names the old account it is for.
    assert_has(
        &account,
        "aria-describedby=\"legacy-name-1\">Lähetä liittämislinkki</button>",
    );
    let fields = [("account", first.as_str())];
    let url = app.url("/kouvola/account/legacy");
    let asked = post_with_csrf(&browser, url, &account, &fields).await;
    says(asked, 200, "Lähetimme liittämislinkin sähköpostiisi.").await;
    let (mail, link) = app.mailed_link(2, "/kouvola/reset?token=").await;
    assert_has(&mail, "maija.m");
    let confirm = page(&browser, &link).await;
    assert_has(&confirm, "Liitetäänkö aiempi käyttäjätunnus maija.m");
    assert!(!confirm.contains("new-password"), "no password is asked");
    let done = crate::helpers::journeys::submit_link(&browser, &link, &confirm, &[]).await;
    assert_eq!(done.status(), 200);
    assert_eq!(app.bound_to(&first).await, app.bound_to(&second).await);
    let info = rp::userinfo(&app, "kouvola", &redeemed.access_token()).await;
    assert_eq!(
        info["former_usernames"],
        serde_json::json!(["matti.m", "maija.m"])
    );
    assert_eq!(info["former_subjects"], serde_json::json!(["KVL-1"]));
    app.stop().await;
}

both_stores!(an_account_without_a_usable_hash_gets_the_link_under_keep_password);
async fn an_account_without_a_usable_hash_gets_the_link_under_keep_password(backend: Backend) {
    let (app, client) = server(backend).await;
    let old = Old::new("seinajoki", "vanha.hash", "SJK-9").email("vanha@testi.fi");
    let id = app
        .import(old.hash("{MD4}0cb6948805f797bf2a82807973b89537"))
        .await;
    assert_eq!(app.legacy_row(&id).await.hash_format, None);
    let (_, claims) = first_login_by_link(&app, &client, "vanha@testi.fi", 1).await;
    assert_eq!(claims["sub"], "SJK-9");
    app.stop().await;
}

both_stores!(an_old_hash_over_a_cost_cap_gets_the_link_and_is_never_run);
/// An old account whose hash costs more than a cap (bcrypt cost 15, imported by the real
/// import) is unusable: its first login goes the mailed link's way, and its hash is never run.
async fn an_old_hash_over_a_cost_cap_gets_the_link_and_is_never_run(backend: Backend) {
    let (app, client) = server(backend).await;
    let export = "username,subject,email,password_hash,name,authority\n\
        kallis,SJK-15,kallis@testi.fi,$2b$15$cd/PVnsiDJWMgHzgjB6kau.clFYNpL7uSV7.RvpKRpDfZlfAkPTY2,,\n";
    let summary = app.import_csv("seinajoki", "caps.csv", export.into()).await;
    assert_eq!((summary.imported, summary.over_cap), (1, 1));
    let (_, claims) = first_login_by_link(&app, &client, "kallis@testi.fi", 1).await;
    assert_eq!(claims["sub"], "SJK-15");
    app.stop().await;
}

both_stores!(an_account_imported_with_a_hash_refused_today_gets_the_link);
/// An old account that an earlier version imported as bcrypt with a hash whose cost field is
/// malformed (`$2b$031$`, which today's import refuses as of no known format) is not offered the
/// password page, where no password could ever match: its first login goes the mailed link's way.
async fn an_account_imported_with_a_hash_refused_today_gets_the_link(backend: Backend) {
    use diesel::prelude::*;
    use idp::store::schema::legacy_accounts;

    let (app, client) = server(backend).await;
    let old = Old::new("seinajoki", "vanha.muoto", "SJK-31").email("muoto@testi.fi");
    let id = app
        .import(old.hash("$2b$04$cd/PVnsiDJWMgHzgjB6kau.clFYNpL7uSV7.RvpKRpDfZlfAkPTY2"))
        .await;
    let row = id.clone();
    app.db_run(move |conn| {
        diesel::update(legacy_accounts::table.find(row))
            .set(
                legacy_accounts::password_hash
                    .eq("$2b$031$cd/PVnsiDJWMgHzgjB6kau.clFYNpL7uSV7.RvpKRpDfZlfAkPTY2"),
            )
            .execute(conn)
            .unwrap()
    })
    .await;
    assert_eq!(
        app.legacy_row(&id).await.hash_format.as_deref(),
        Some("bcrypt")
    );
    let (_, claims) = first_login_by_link(&app, &client, "muoto@testi.fi", 1).await;
    assert_eq!(claims["sub"], "SJK-31");
    app.stop().await;
}

both_stores!(a_link_opened_on_another_device_leaves_a_way_back_to_the_login);
/// The letter: the service says the password was set, "Siirry kirjautumaan". A resident who
/// opens the mailed link on the phone sets the password there (the login goes on only in the
/// browser that began it), and is shown the way to log in; the computer's "link sent" page leads
/// back to its login, where the new password now opens the e-service with the old subject.
async fn a_link_opened_on_another_device_leaves_a_way_back_to_the_login(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = rp::basic_of(&app, "kouvola").await;
    app.import(Old::new("kouvola", "ossi.k", "KVL-42").email("ossi@testi.fi"))
        .await;
    let login = begin(&app, &client).await;
    let (_, sent) = login.identify("ossi@testi.fi").await;
    let back = app.url(&format!("/kouvola/login?request={}", login.request));
    assert_has(
        &sent,
        &format!("href=\"{back}\">Avasitko linkin toisella laitteella?"),
    );
    let (_, link) = app.mailed_link(1, "/kouvola/reset?token=").await;
    let phone = app.browser();
    let set = set_password(&phone, &link, NEW_PASSWORD).await;
    let set = says(set, 200, "Voit nyt kirjautua sisään uudella salasanallasi.").await;
    let account = app.url("/kouvola/account");
    assert_has(&set, &format!("href=\"{account}\">Kirjaudu sisään</a>"));
    let (status, password_page) = login.identify("ossi@testi.fi").await;
    assert_eq!(status, 200);
    let done = login
        .password(&password_page, "ossi@testi.fi", NEW_PASSWORD)
        .await;
    let redeemed = login.redeem(&client, &location(&done)).await;
    assert_eq!(redeemed.payload()["sub"], "KVL-42");
    app.stop().await;
}

both_stores!(an_old_account_linked_twice_at_once_on_the_account_page_is_linked_both_times);
/// A double click on "link" on the account page: both posts read the old account as linkable and
/// prove its old password; one binds it, the other finds it bound to the same resident and says
/// it is linked. Before, the second said "The password is wrong." beside the account listed as
/// bound (and counted a failure). The posts are held back while the test keeps the writers waiting (the user's row on
/// PostgreSQL, the writers' turn on SQLite), so that both have read the page's state first.
async fn an_old_account_linked_twice_at_once_on_the_account_page_is_linked_both_times(
    backend: Backend,
) {
    use idp::store::{self, StoreError};
    let (app, _) = server(backend).await;
    app.add_user("seinajoki", "perhe@testi.fi", "isän oma salasana", "Isä")
        .await;
    let signed =
        crate::helpers::journeys::sign_in(&app, "seinajoki", "perhe@testi.fi", "isän oma salasana")
            .await;
    let mother = bcrypt::hash("äidin vanha salasana", 4).unwrap();
    let old = Old::new("seinajoki", "perhe.aiti", "SJK-2").email("perhe@testi.fi");
    let aiti = app.import(old.hash(&mother)).await;
    let account = page(&signed.browser, app.url("/seinajoki/account")).await;
    let user_id = app.user_id("seinajoki", "perhe@testi.fi").await;
    let services = app.services.clone();
    let (held, holding) = tokio::sync::oneshot::channel();
    let holder = tokio::task::spawn_blocking(move || {
        let mut conn = services.store.conn().unwrap();
        store::write_transaction(&mut conn, |conn| {
            store::users::lock(conn, crate::helpers::tenant("seinajoki"), &user_id)?;
            held.send(()).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(1500));
            Ok::<_, StoreError>(())
        })
        .unwrap();
    });
    holding.await.unwrap();
    let link = async || {
        let fields = [
            ("account", aiti.as_str()),
            ("password", "äidin vanha salasana"),
        ];
        let url = app.url("/seinajoki/account/legacy");
        post_with_csrf(&signed.browser, url, &account, &fields).await
    };
    let (first, second) = tokio::join!(link(), link());
    holder.await.unwrap();
    let answers = [
        crate::helpers::journeys::answer(first).await,
        crate::helpers::journeys::answer(second).await,
    ];
    // Neither says the right password is wrong. (Where both checks ran at once, the hashing
    // pool gives one session one place: the other may be told to wait a moment, 429.)
    let linked = "Aiempi käyttäjätunnus on liitetty.";
    assert!(answers.iter().any(|(_, page)| page.contains(linked)));
    for (status, page) in &answers {
        assert!(*status == 200 || *status == 429, "{status}: {page}");
        assert!(!page.contains("Salasana on väärin."), "{page}");
    }
    // Bound to the resident, and no failure counted.
    let resident = app.user_id("seinajoki", "perhe@testi.fi").await;
    assert_eq!(app.bound_to(&aiti).await, Some(resident));
    assert_eq!(app.audited("seinajoki", "login.failed").await.len(), 0);
    app.stop().await;
}
