//! A family's shared address keeps working for everyone in it (issue 12, point 6): once one old
//! account of the address is bound, the login there offers that account and the old accounts
//! still unbound; each resident claims theirs — proven by the old password (keep-password) or a
//! link mailed to the shared address (email-link) — with their own address, verified by a link,
//! and keeps the old subject.

use reqwest::Response;

use crate::both_stores;
use crate::helpers::journeys::{
    Login, hidden, hidden_account, page, says, set_password, submit_link,
};
use crate::helpers::{Backend, Old, TestApp, assert_has};
use crate::linker::{LINK_SENT, begin, kouvola, logged_in, server};
use crate::rp::{self, location};

const WRONG: &str = "Sähköpostiosoite / käyttäjätunnus tai salasana on väärin.";
const EXPIRED: &str = "Linkki on vanhentunut tai jo käytetty. Pyydä uusi linkki.";
const ADDRESS_SENT: &str = "Lähetimme linkin antamaasi osoitteeseen.";
const SHARED: &str = "perhe@testi.fi";

/// The three old accounts of one family under keep-password; (ids, passwords).
async fn family_of_three(app: &TestApp) -> ([String; 3], [&'static str; 3]) {
    let passwords = [
        "isän vanha salasana",
        "äidin vanha salasana",
        "lapsen vanha salasana",
    ];
    let mut ids = Vec::new();
    for ((username, subject), password) in [
        ("perhe.isa", "SJK-1"),
        ("perhe.aiti", "SJK-2"),
        ("perhe.lapsi", "SJK-3"),
    ]
    .into_iter()
    .zip(passwords)
    {
        let hash = bcrypt::hash(password, 4).unwrap();
        let old = Old::new("seinajoki", username, subject).email(SHARED);
        ids.push(app.import(old.hash(&hash)).await);
    }
    (ids.try_into().unwrap(), passwords)
}

/// Resident 1 binds the first old account the existing way: chooser, old password, e-service.
async fn first_resident_binds(app: &TestApp, client: &rp::Rp, id: &str, password: &str) {
    let login = begin(app, client).await;
    let (status, choose) = login.identify(SHARED).await;
    assert_eq!(status, 200);
    assert!(
        !choose.contains("value=\"in-use\""),
        "no account yet: {choose}"
    );
    let page = login
        .choose(&choose, SHARED, id)
        .await
        .text()
        .await
        .unwrap();
    let done = login.password(&page, SHARED, password).await;
    let claims = login.redeem(client, &location(&done)).await;
    assert_eq!(claims.payload()["sub"], "SJK-1");
}

/// A server with [`family_of_three`], the first old account bound by [`first_resident_binds`]:
/// the server, its relying party, the old accounts' ids and their passwords.
async fn family_with_the_first_bound(
    backend: Backend,
) -> (TestApp, rp::Rp, [String; 3], [&'static str; 3]) {
    let (app, client) = server(backend).await;
    let (ids, passwords) = family_of_three(&app).await;
    first_resident_binds(&app, &client, &ids[0], passwords[0]).await;
    (app, client, ids, passwords)
}

/// The text of a response.
async fn text(response: Response) -> String {
    response.text().await.unwrap()
}

/// Gives `email` on the own-address page `page`: the response.
async fn give_address(login: &Login, page: &str, email: &str) -> Response {
    let token = hidden(page, "token");
    let fields = [("token", token.as_str()), ("email", email)];
    let url = format!("{}/claim", login.tenant_url);
    crate::helpers::journeys::post_with_csrf(&login.browser, url, page, &fields).await
}

/// Sets `password` through the mailed address link `link`: the pending login of `login` goes on,
/// and `client` gets the old `subject` with the new address `email`, verified. The ID token's
/// claims.
async fn goes_on_verified(
    login: Login,
    client: &rp::Rp,
    link: &str,
    password: &str,
    subject: &str,
    email: &str,
) -> serde_json::Value {
    let done = set_password(&login.browser, link, password).await;
    assert_eq!(done.status(), 303, "the pending login goes on");
    let claims = login.redeem(client, &location(&done)).await.payload();
    assert_eq!(claims["sub"], subject, "the old subject is kept");
    assert_eq!(claims["email"], email);
    assert_eq!(claims["email_verified"], true);
    claims
}

/// `response` is the expired-link page (410).
async fn expired(response: Response) {
    says(response, 410, EXPIRED).await;
}

both_stores!(a_family_member_claims_their_old_account_by_its_password_and_their_own_address);
async fn a_family_member_claims_their_old_account_by_its_password_and_their_own_address(
    backend: Backend,
) {
    let (app, client, [isa, aiti, lapsi], passwords) = family_with_the_first_bound(backend).await;

    // Resident 2 at the shared address: the account in use, and the two old accounts unbound.
    let login = begin(&app, &client).await;
    let (status, chooser) = login.identify(SHARED).await;
    assert_eq!(status, 200);
    assert_has(&chooser, "Kirjaudun jo tällä osoitteella (sen salasanalla)");
    assert_has(&chooser, "value=\"in-use\" checked");
    // A resident already in use here whose own old account this is links it on the account page.
    assert_has(
        &chooser,
        "Jos tunnus on omasi ja kirjaudut jo tällä osoitteella, liitä se omissa tiedoissa",
    );
    assert!(
        chooser.contains(">perhe.aiti</label>") && chooser.contains(">perhe.lapsi</label>"),
        "{chooser}"
    );
    assert!(!chooser.contains("perhe.isa"), "{chooser}");
    let claim = says(
        login.choose(&chooser, SHARED, &aiti).await,
        200,
        "Anna aiemman käyttäjätunnuksen perhe.aiti salasana.",
    )
    .await;
    assert_eq!(hidden_account(&claim), aiti);
    // A password field a password manager may fill (WCAG 1.3.5), not `autocomplete="off"`.
    assert_has(
        &claim,
        "type=\"password\" autocomplete=\"current-password\"",
    );
    // The old password proves it; then the resident's own address.
    let own = says(
        login.claim(&claim, SHARED, &aiti, passwords[1]).await,
        200,
        "Anna oma sähköpostiosoitteesi aiemmalle käyttäjätunnukselle perhe.aiti.",
    )
    .await;
    assert!(app.mails().is_empty(), "a password proof mails nothing");
    // An address without a dot in its domain (a relay's own mailbox) is not one to give.
    let internal = give_address(&login, &own, "aiti@localhost").await;
    let own = says(internal, 422, "Sähköpostiosoite ei ole kelvollinen.").await;
    assert!(
        app.mails().is_empty(),
        "nothing mailed to an internal address"
    );
    let sent = give_address(&login, &own, "Aiti@Testi.fi").await;
    says(sent, 200, ADDRESS_SENT).await;
    assert_eq!(app.bound_to(&aiti).await, None, "not before the link");
    let (mail, link) = app.mailed_link(1, "/seinajoki/reset?token=").await;
    assert_has(&mail, "To: Aiti@Testi.fi");
    assert_has(&mail, "Aiempi käyttäjätunnus: perhe.aiti");
    let form = page(&login.browser, &link).await;
    assert_has(
        &form,
        "Aiempi käyttäjätunnuksesi perhe.aiti liitetään sähköpostiosoitteeseesi",
    );
    let (password, email) = ("äidin uusi salasana", "Aiti@Testi.fi");
    let claims = goes_on_verified(login, &client, &link, password, "SJK-2", email).await;
    assert_eq!(claims["preferred_username"], "perhe.aiti");
    assert_eq!(
        claims["former_usernames"],
        serde_json::json!(["perhe.aiti"])
    );
    let resident2 = app.bound_to(&aiti).await.unwrap();
    assert_ne!(Some(resident2), app.bound_to(&isa).await);
    assert_eq!(app.bound_to(&lapsi).await, None);
    assert_eq!(
        app.audit_details("seinajoki", "legacy.claimed").await,
        vec![serde_json::json!({ "username": "perhe.aiti", "proven": "password" })]
    );
    let linked = app.audit_details("seinajoki", "legacy.linked").await;
    assert_eq!(
        linked.last().unwrap(),
        &serde_json::json!({ "username": "perhe.aiti", "by": "claim", "first": true })
    );
    no_address_in_the_audit(&app, "seinajoki").await;

    // Resident 2 logs in with their own address from now on.
    logs_in(
        &app,
        &client,
        "aiti@testi.fi",
        "äidin uusi salasana",
        "SJK-2",
    )
    .await;

    // Resident 1 still logs in at the shared address, through its entry on the chooser.
    let fresh = begin(&app, &client).await;
    let (_, chooser) = fresh.identify(SHARED).await;
    assert!(
        chooser.contains(">perhe.lapsi</label>") && !chooser.contains("perhe.aiti"),
        "{chooser}"
    );
    let page = fresh.choose(&chooser, SHARED, "in-use").await;
    let page = says(page, 200, "autocomplete=\"current-password\"").await;
    let done = fresh.password(&page, SHARED, passwords[0]).await;
    let claims = fresh.redeem(&client, &location(&done)).await;
    assert_eq!(claims.payload()["sub"], "SJK-1");
    app.stop().await;
}

/// No audit detail of `tenant` holds an address.
async fn no_address_in_the_audit(app: &TestApp, tenant: &str) {
    for detail in app.all_audit_details(tenant).await {
        assert!(!detail.contains('@'), "no address in the audit: {detail}");
    }
}

/// `email` logs in with `password` in a fresh browser; the subject is `subject`.
async fn logs_in(app: &TestApp, client: &rp::Rp, email: &str, password: &str, subject: &str) {
    let redeemed = logged_in(&app.browser(), client, email, password).await;
    assert_eq!(redeemed.payload()["sub"], subject);
}

both_stores!(a_family_member_claims_their_old_account_by_a_mailed_link_under_email_link);
async fn a_family_member_claims_their_old_account_by_a_mailed_link_under_email_link(
    backend: Backend,
) {
    // Resident 1 binds the first, by the mailed link (the existing path).
    let (app, client, ids) = aino_bound_at_home(backend, &[("ella.e", "KVL-3")]).await;

    // Resident 2: the chooser, masked, with the account in use.
    let login = begin(&app, &client).await;
    let (status, chooser) = login.identify("koti@testi.fi").await;
    assert_eq!(status, 200);
    assert_has(&chooser, "value=\"in-use\"");
    assert!(
        chooser.contains(">m*****m</label>") && chooser.contains(">e****e</label>"),
        "masked: {chooser}"
    );
    assert!(
        !chooser.contains("matti.m") && !chooser.contains("a****k"),
        "{chooser}"
    );
    let sent = login.choose(&chooser, "koti@testi.fi", &ids[1]).await;
    says(sent, 200, "Lähetimme linkin tähän osoitteeseen.").await;
    // The proof: a link mailed to the shared address.
    let (mail, claim_link) = app.mailed_link(2, "/kouvola/claim?token=").await;
    assert_has(&mail, "To: koti@testi.fi");
    assert!(
        mail.contains("Aiempi käyttäjätunnus: matti.m") && !mail.contains("ella.e"),
        "{mail}"
    );
    let own = says(
        login.browser.get(&claim_link).send().await.unwrap(),
        200,
        "Anna oma sähköpostiosoitteesi aiemmalle käyttäjätunnukselle m*****m.",
    )
    .await;
    let invalid = give_address(&login, &own, "ei osoite").await;
    says(invalid, 422, "Sähköpostiosoite ei ole kelvollinen.").await;
    let sent = give_address(&login, &own, "matti@testi.fi").await;
    says(sent, 200, ADDRESS_SENT).await;
    // The claim link worked once.
    expired(login.browser.get(&claim_link).send().await.unwrap()).await;
    let (mail, link) = app.mailed_link(3, "/kouvola/reset?token=").await;
    assert_has(&mail, "To: matti@testi.fi");
    let (password, email) = ("matin uusi salasana", "matti@testi.fi");
    goes_on_verified(login, &client, &link, password, "KVL-2", email).await;
    assert!(app.bound_to(&ids[1]).await.is_some());
    assert_ne!(app.bound_to(&ids[1]).await, app.bound_to(&ids[0]).await);
    assert_eq!(app.bound_to(&ids[2]).await, None);
    assert_eq!(
        app.audit_details("kouvola", "legacy.claimed").await,
        vec![serde_json::json!({ "username": "matti.m", "proven": "link" })]
    );
    no_address_in_the_audit(&app, "kouvola").await;
    logs_in(
        &app,
        &client,
        "matti@testi.fi",
        "matin uusi salasana",
        "KVL-2",
    )
    .await;
    app.stop().await;
}

/// Kouvola (email-link) with the old accounts aino.k, matti.m and `more` (username, subject) at
/// the family's address; Aino has bound hers by the mailed link (the first mail) and logged in.
/// The app, its client and the accounts' ids.
async fn aino_bound_at_home(
    backend: Backend,
    more: &[(&str, &str)],
) -> (TestApp, rp::Rp, Vec<String>) {
    let (app, client) = kouvola(backend).await;
    let mut ids = Vec::new();
    let family = [("aino.k", "KVL-1"), ("matti.m", "KVL-2")];
    for (username, subject) in family.iter().chain(more) {
        let old = Old::new("kouvola", username, subject).email("koti@testi.fi");
        ids.push(app.import(old).await);
    }
    let login = begin(&app, &client).await;
    let (_, chooser) = login.identify("koti@testi.fi").await;
    let sent = login.choose(&chooser, "koti@testi.fi", &ids[0]).await;
    assert_eq!(sent.status(), 200);
    let (_, link) = app.mailed_link(1, "/kouvola/reset?token=").await;
    let done = set_password(&login.browser, &link, "ainon uusi salasana").await;
    let payload = login.redeem(&client, &location(&done)).await.payload();
    assert_eq!(payload["sub"], "KVL-1");
    (app, client, ids)
}

both_stores!(an_erasure_takes_the_linkers_mail_that_lists_its_old_account_at_a_shared_address);
/// Aino bound her old account by the link the linker mailed to the family's address, which
/// Matti's old account still has, and Matti asked for his claim's link there too. Aino's account
/// is erased: the mail that lists her old username goes, though the address is still Matti's;
/// the mail that lists his stays. Before, both stayed their week (mail that names no account
/// goes only at an address nobody else holds).
async fn an_erasure_takes_the_linkers_mail_that_lists_its_old_account_at_a_shared_address(
    backend: Backend,
) {
    let (app, client, ids) = aino_bound_at_home(backend, &[]).await;
    let login = begin(&app, &client).await;
    let (_, chooser) = login.identify("koti@testi.fi").await;
    let sent = login.choose(&chooser, "koti@testi.fi", &ids[1]).await;
    says(sent, 200, "Lähetimme linkin tähän osoitteeseen.").await;
    app.wait_for_mails(2).await;

    let config = app.services.config.path.clone();
    let args = [
        "users",
        "delete",
        "--tenant",
        "kouvola",
        "--email",
        "koti@testi.fi",
        "--now",
    ];
    let erased = tokio::task::spawn_blocking(move || {
        let mut command = crate::node::idp();
        command
            .arg("--config")
            .arg(config)
            .args(args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    crate::node::succeeded(&erased);
    let left: Vec<Option<String>> = app
        .db_run(|conn| {
            use diesel::prelude::*;
            use idp::store::schema::mail_outbox;
            mail_outbox::table
                .filter(mail_outbox::kind.eq("legacy_link"))
                .select(mail_outbox::legacy_account_ids)
                .load(conn)
                .unwrap()
        })
        .await;
    assert_eq!(left, [Some(ids[1].clone())], "the mail that lists Matti's");
    app.stop().await;
}

both_stores!(a_claim_refuses_wrong_passwords_stale_choices_used_and_foreign_links);
async fn a_claim_refuses_wrong_passwords_stale_choices_used_and_foreign_links(backend: Backend) {
    let (app, client, [_, aiti, lapsi], passwords) = family_with_the_first_bound(backend).await;

    // A chooser left open while resident 2 claims the same account elsewhere.
    let stale_login = begin(&app, &client).await;
    let (_, stale) = stale_login.identify(SHARED).await;
    assert_has(&stale, ">perhe.aiti</label>");

    let login = begin(&app, &client).await;
    let (_, chooser) = login.identify(SHARED).await;
    let claim = text(login.choose(&chooser, SHARED, &aiti).await).await;
    // Another account's old password: the login's message and status.
    let wrong = says(
        login.claim(&claim, SHARED, &aiti, passwords[2]).await,
        401,
        WRONG,
    )
    .await;
    assert_has(
        &wrong,
        "Anna aiemman käyttäjätunnuksen perhe.aiti salasana.",
    );
    let own = text(login.claim(&claim, SHARED, &aiti, passwords[1]).await).await;
    let sent = give_address(&login, &own, "aiti@testi.fi").await;
    assert_eq!(sent.status(), 200);
    // The proof is used once.
    expired(give_address(&login, &own, "toinen@testi.fi").await).await;
    let (_, link) = app.mailed_link(1, "/seinajoki/reset?token=").await;
    // Another tenant does not know the address link.
    let foreign = link.replace("/seinajoki/reset", "/kouvola/reset");
    expired(login.browser.get(&foreign).send().await.unwrap()).await;
    let done = set_password(&login.browser, &link, "äidin uusi salasana").await;
    assert_eq!(done.status(), 303);
    assert_eq!(app.mails().len(), 1);
    // The address link is used once.
    expired(login.browser.get(&link).send().await.unwrap()).await;

    // The stale chooser picks the account claimed meanwhile: asked again, without it.
    let picked = says(
        stale_login.choose(&stale, SHARED, &aiti).await,
        422,
        "Valitsemasi käyttäjätunnus ei ole enää valittavissa. Valitse uudelleen.",
    )
    .await;
    assert!(
        picked.contains(">perhe.lapsi</label>") && !picked.contains("perhe.aiti"),
        "{picked}"
    );
    // A claim form for it, posted late, proves nothing: it reads as a wrong password.
    let late = stale_login.claim(&stale, SHARED, &aiti, passwords[1]).await;
    says(late, 401, WRONG).await;

    // Resident 3 proves their account; another tenant does not know the proof.
    let claim = text(stale_login.choose(&picked, SHARED, &lapsi).await).await;
    let own = stale_login
        .claim(&claim, SHARED, &lapsi, passwords[2])
        .await;
    let own = text(own).await;
    let token = hidden(&own, "token");
    let foreign = app.url(&format!("/kouvola/claim?token={token}"));
    expired(stale_login.browser.get(foreign).send().await.unwrap()).await;
    // An address that has an account: the same page, a notice to it, no takeover.
    let taken = give_address(&stale_login, &own, "AITI@testi.fi").await;
    says(taken, 200, ADDRESS_SENT).await;
    let notice = app.wait_for_mails(2).await.swap_remove(1);
    assert_has(&notice, "To: aiti@testi.fi");
    assert_has(
        &notice,
        "Osoitteella on jo käyttäjätunnus, joten mitään ei muutettu",
    );
    assert!(!notice.contains("token="), "no link: {notice}");
    assert!(!notice.contains("perhe.lapsi"), "{notice}");
    assert_eq!(app.bound_to(&lapsi).await, None);
    assert_eq!(
        app.audit_details("seinajoki", "legacy.claim_refused").await,
        vec![serde_json::json!({
            "account": lapsi,
            "proven": "password",
            "reason": "address_in_use",
        })]
    );

    // Wrong old passwords count against the claimed old account, as at login.
    let claim = text(stale_login.choose(&picked, SHARED, &lapsi).await).await;
    let free = idp::flows::password_check::FREE_FAILURES;
    // None counted against this account yet (the failures above were another account's).
    for _ in 0..free {
        let wrong = stale_login.claim(&claim, SHARED, &lapsi, "väärä").await;
        says(wrong, 401, WRONG).await;
    }
    let blocked = stale_login
        .claim(&claim, SHARED, &lapsi, passwords[2])
        .await;
    says(
        blocked,
        429,
        "Liian monta epäonnistunutta yritystä. Odota hetki ja yritä uudelleen.",
    )
    .await;
    app.stop().await;
}

/// The fields of a set-password form: `password`, twice.
fn new_password(password: &str) -> [(&'static str, &str); 2] {
    [("password", password), ("password2", password)]
}

both_stores!(a_link_mailed_while_the_address_had_no_account_binds_into_none_made_since);
/// Two residents of a family's shared address each choose their own old account before either is
/// bound (email-link): two links, neither naming a user. The first used creates the first
/// resident's account at the address; the second then leads nowhere, its page opened before or
/// after. It used to ask "Liitetäänkö…" (or, opened before, take the password and drop it) and
/// merge the other old account, subject and history, into the first resident's account, and log
/// its reader in there. The second resident claims theirs instead: the chooser offers it.
async fn a_link_mailed_while_the_address_had_no_account_binds_into_none_made_since(
    backend: Backend,
) {
    const HOME: &str = "koti@testi.fi";
    let (app, client) = kouvola(backend).await;
    let aino = app
        .import(Old::new("kouvola", "aino.k", "KVL-1").email(HOME))
        .await;
    let matti = app
        .import(Old::new("kouvola", "matti.m", "KVL-2").email(HOME))
        .await;
    let mut logins = Vec::new();
    for (count, (id, username)) in [(&aino, "aino.k"), (&matti, "matti.m")]
        .into_iter()
        .enumerate()
    {
        let login = begin(&app, &client).await;
        let (_, chooser) = login.identify(HOME).await;
        says(login.choose(&chooser, HOME, id).await, 200, LINK_SENT).await;
        let (mail, link) = app.mailed_link(count + 1, "/kouvola/reset?token=").await;
        assert_has(&mail, &format!("Aiempi käyttäjätunnus: {username}"));
        logins.push((login, link));
    }
    let (matti_login, matti_link) = logins.pop().unwrap();
    let (aino_login, aino_link) = logins.pop().unwrap();
    // Matti's page is open; Aino sets her password: her account is at the address now.
    let form = page(&matti_login.browser, &matti_link).await;
    assert_has(&form, "autocomplete=\"new-password\"");
    let done = set_password(&aino_login.browser, &aino_link, "ainon uusi salasana").await;
    let claims = aino_login.redeem(&client, &location(&done)).await;
    assert_eq!(claims.payload()["sub"], "KVL-1");

    let fields = new_password("matin uusi salasana");
    expired(submit_link(&matti_login.browser, &matti_link, &form, &fields).await).await;
    expired(matti_login.browser.get(&matti_link).send().await.unwrap()).await;
    assert_eq!(app.bound_to(&matti).await, None);
    let chooser = matti_login.identify(HOME).await.1;
    assert_has(&chooser, "value=\"in-use\"");
    assert_has(&chooser, &format!("value=\"{matti}\""));
    app.stop().await;
}

both_stores!(a_claim_proven_by_an_old_password_ends_when_a_reimport_replaces_the_hash);
/// Two claims proven by the old passwords, then a re-import replaces both old hashes (the
/// passwords were changed in the old system): neither proof holds, as a login by the old
/// password would not bind. The claim not yet given an address is expired at its own-address
/// step; the address link of the other is expired, its page opened before the re-import; neither
/// old account is bound.
async fn a_claim_proven_by_an_old_password_ends_when_a_reimport_replaces_the_hash(
    backend: Backend,
) {
    let (app, client, [_, aiti, lapsi], passwords) = family_with_the_first_bound(backend).await;
    let mut proven = Vec::new();
    for (id, password) in [(&aiti, passwords[1]), (&lapsi, passwords[2])] {
        let login = begin(&app, &client).await;
        let (_, chooser) = login.identify(SHARED).await;
        let claim = text(login.choose(&chooser, SHARED, id).await).await;
        let own = login.claim(&claim, SHARED, id, password).await;
        proven.push((login, says(own, 200, "Anna oma sähköpostiosoitteesi").await));
    }
    let (lapsi_login, lapsi_own) = proven.pop().unwrap();
    let (aiti_login, own) = proven.pop().unwrap();
    let sent = give_address(&aiti_login, &own, "aiti@testi.fi").await;
    says(sent, 200, ADDRESS_SENT).await;
    let (_, link) = app.mailed_link(1, "/seinajoki/reset?token=").await;
    let form = page(&aiti_login.browser, &link).await;

    let hash = bcrypt::hash("vaihdettu vanhassa järjestelmässä", 4).unwrap();
    let export = format!(
        "username,subject,email,password_hash\n\
         perhe.aiti,SJK-2,{SHARED},{hash}\n\
         perhe.lapsi,SJK-3,{SHARED},{hash}\n"
    );
    let summary = app.import_csv("seinajoki", "export.csv", export).await;
    assert_eq!(summary.updated, 2);

    expired(give_address(&lapsi_login, &lapsi_own, "lapsi@testi.fi").await).await;
    let fields = new_password("äidin uusi salasana");
    expired(submit_link(&aiti_login.browser, &link, &form, &fields).await).await;
    assert_eq!(app.bound_to(&aiti).await, None);
    assert_eq!(app.bound_to(&lapsi).await, None);
    assert_eq!(app.mails().len(), 1, "no link for the expired claim");
    app.stop().await;
}

both_stores!(a_claim_proven_by_a_link_ends_when_the_old_accounts_address_is_corrected);
/// A claim proven by a link mailed to the shared address proves the mailbox, and so the old
/// account only while that is its address. Support's correction (`set-email`) voids the links to
/// the old address, but on PostgreSQL a claim link written while the correction commits escapes
/// it: as the database then holds it, the link is there and the address has changed under it.
/// Neither the claim link nor the own-address link it leads to binds anything then.
async fn a_claim_proven_by_a_link_ends_when_the_old_accounts_address_is_corrected(
    backend: Backend,
) {
    let (app, client, ids) = aino_bound_at_home(backend, &[]).await;
    let correct = async |mails: usize| {
        let login = begin(&app, &client).await;
        let (_, chooser) = login.identify("koti@testi.fi").await;
        login.choose(&chooser, "koti@testi.fi", &ids[1]).await;
        let (_, claim) = app.mailed_link(mails, "/kouvola/claim?token=").await;
        (login, claim)
    };
    // Corrected under the claim link, and under an own-address link of a claim.
    let (login, claim) = correct(2).await;
    let (other, own_claim) = correct(3).await;
    let own = text(other.browser.get(&own_claim).send().await.unwrap()).await;
    give_address(&other, &own, "matti@testi.fi").await;
    let (_, own_link) = app.mailed_link(4, "/kouvola/reset?token=").await;
    let account = ids[1].clone();
    app.db_run(move |conn| {
        use diesel::prelude::*;
        use idp::store::schema::legacy_accounts as old;
        let corrected = "matti@oikea.fi";
        diesel::update(old::table.find(account))
            .set((
                old::email.eq(corrected),
                old::email_normalized.eq(corrected),
            ))
            .execute(conn)
            .unwrap();
    })
    .await;
    expired(login.browser.get(&claim).send().await.unwrap()).await;
    expired(other.browser.get(&own_link).send().await.unwrap()).await;
    assert_eq!(app.bound_to(&ids[1]).await, None);
    app.stop().await;
}

both_stores!(a_family_member_who_forgot_the_old_password_claims_by_a_link);
/// The letter: a forgotten password is set again through "forgot". At an address a relative
/// already uses, "forgot password" would reset the relative's account; the claim page offers the
/// way instead: a link mailed to the shared address proves the old account, and the resident
/// gives their own address and keeps the old subject.
async fn a_family_member_who_forgot_the_old_password_claims_by_a_link(backend: Backend) {
    let (app, client, [_, aiti, _], _) = family_with_the_first_bound(backend).await;
    // "Forgot password" at the shared address is for the account in use: its mail says whose.
    let forgot = app.url("/seinajoki/forgot");
    crate::rp::post_form(&app.browser(), &forgot, &forgot, &[("email", SHARED)]).await;
    let (mail, _) = app.mailed_link(1, "/seinajoki/reset?token=").await;
    assert_has(
        &mail,
        "Linkki on tilille, jonka aiemmat käyttäjätunnukset ovat perhe.isa.",
    );
    let login = begin(&app, &client).await;
    let (_, chooser) = login.identify(SHARED).await;
    let claim = text(login.choose(&chooser, SHARED, &aiti).await).await;
    assert_has(&claim, "Unohditko aiemman käyttäjätunnuksen salasanan?");
    let fields = [
        ("identifier", SHARED),
        ("account", &aiti),
        ("proof", "link"),
    ];
    let sent = login.post("/login/choose", &claim, &fields).await;
    says(sent, 200, "Lähetimme linkin tähän osoitteeseen.").await;
    let claim_link = app
        .newest_link(Some(SHARED), "/seinajoki/claim?token=")
        .await;
    let own = text(login.browser.get(&claim_link).send().await.unwrap()).await;
    says(
        give_address(&login, &own, "aiti@testi.fi").await,
        200,
        ADDRESS_SENT,
    )
    .await;
    let link = app
        .newest_link(Some("aiti@testi.fi"), "/seinajoki/reset?token=")
        .await;
    let password = "äidin uusi salasana";
    goes_on_verified(login, &client, &link, password, "SJK-2", "aiti@testi.fi").await;
    app.stop().await;
}

both_stores!(a_claim_by_an_old_password_posted_in_a_loop_is_throttled);
/// A claim by an old account's password uses up nothing of the login: whoever knows it could post
/// it again and again, each an old hash in the hashing pool. Every check of an old account's
/// password is counted, right or wrong: thirty in a window, then the throttle's page (429).
async fn a_claim_by_an_old_password_posted_in_a_loop_is_throttled(backend: Backend) {
    let (app, client, ids, passwords) = family_with_the_first_bound(backend).await;
    let (aiti, login) = (&ids[1], begin(&app, &client).await);
    let chooser = login.identify(SHARED).await.1;
    let claim = text(login.choose(&chooser, SHARED, aiti).await).await;
    let once = async || login.claim(&claim, SHARED, aiti, passwords[1]).await;
    crate::helpers::journeys::free_checks_then_throttled(200, once).await;
    app.stop().await;
}
