//! A family's shared address keeps working for everyone in it (issue 12, point 6): once one old
//! account of the address is bound, the login there offers that account and the old accounts
//! still unbound; each resident claims theirs — proven by the old password (keep-password) or a
//! link mailed to the shared address (email-link) — with their own address, verified by a link,
//! and keeps the old subject.

use diesel::prelude::*;
use idp::store::schema::audit_events;
use serde_json::Value;
use url::Url;

use crate::both_stores;
use crate::helpers::{Backend, TestApp};
use crate::linker::{
    Old, begin, give_password, hidden_account, identify, import, legacy_row, mailed_link, post,
    rp_of, set_password_by_link, tokens_of,
};
use crate::rp::{self, location, param};

both_stores!(
    a_family_member_claims_their_old_account_by_its_password_and_their_own_address,
    a_family_member_claims_their_old_account_by_a_mailed_link_under_email_link,
    a_claim_refuses_wrong_passwords_stale_choices_used_and_foreign_links,
);

const WRONG: &str = "Sähköpostiosoite / käyttäjätunnus tai salasana on väärin.";
const EXPIRED: &str = "Linkki on vanhentunut tai jo käytetty. Pyydä uusi linkki.";
const ADDRESS_SENT: &str = "Lähetimme linkin antamaasi osoitteeseen.";

/// The details of the audit events of `kind` in `tenant`, oldest first.
async fn audit_details(app: &TestApp, tenant: &str, kind: &str) -> Vec<Value> {
    let store = app.services.store.clone();
    let (tenant, kind) = (tenant.to_string(), kind.to_string());
    tokio::task::spawn_blocking(move || {
        let mut conn = store.conn().unwrap();
        audit_events::table
            .filter(audit_events::tenant_id.eq(tenant))
            .filter(audit_events::kind.eq(kind))
            .order(audit_events::id.asc())
            .select(audit_events::detail)
            .load::<Option<String>>(&mut **conn)
            .unwrap()
            .into_iter()
            .map(|d| serde_json::from_str(&d.unwrap_or_else(|| "null".into())).unwrap())
            .collect()
    })
    .await
    .unwrap()
}

/// Every `legacy.*` and `login.*` audit detail of `tenant`, as text.
async fn all_details(app: &TestApp, tenant: &str) -> Vec<String> {
    let store = app.services.store.clone();
    let tenant = tenant.to_string();
    tokio::task::spawn_blocking(move || {
        let mut conn = store.conn().unwrap();
        audit_events::table
            .filter(audit_events::tenant_id.eq(tenant))
            .select(audit_events::detail)
            .load::<Option<String>>(&mut **conn)
            .unwrap()
            .into_iter()
            .flatten()
            .collect()
    })
    .await
    .unwrap()
}

/// The id of the user an old account is bound to.
async fn bound_to(app: &TestApp, id: &str) -> Option<String> {
    legacy_row(app, id).await.linked_user_id
}

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
        ids.push(
            import(
                app,
                Old {
                    tenant: "seinajoki",
                    username,
                    subject,
                    email: Some("perhe@testi.fi"),
                    hash: Some(&hash),
                    authority: false,
                },
            )
            .await,
        );
    }
    (ids.try_into().unwrap(), passwords)
}

/// Resident 1 binds the first old account the existing way: chooser, old password, e-service.
async fn first_resident_binds(app: &TestApp, client: &rp::Rp, id: &str, password: &str) {
    let browser = app.browser();
    let (started, login) = begin(&browser, client).await;
    let (status, choose) = identify(app, &browser, &login, "perhe@testi.fi").await;
    assert_eq!(status, 200);
    assert!(
        !choose.contains("value=\"in-use\""),
        "no account yet: {choose}"
    );
    let request = param(&login, "request").unwrap();
    let chosen = post(
        app,
        &browser,
        "/seinajoki/login/choose",
        &choose,
        &[
            ("request", &request),
            ("identifier", "perhe@testi.fi"),
            ("account", id),
        ],
    )
    .await;
    let page = chosen.text().await.unwrap();
    let done = give_password(app, &browser, &login, &page, "perhe@testi.fi", password).await;
    let (claims, _) = tokens_of(client, started, &location(&done)).await;
    assert_eq!(claims["sub"], "SJK-1");
}

/// Chooses `account` on the chooser `page` of the shared address: the response.
async fn choose(
    app: &TestApp,
    browser: &reqwest::Client,
    tenant: &str,
    login: &Url,
    page: &str,
    identifier: &str,
    account: &str,
) -> reqwest::Response {
    let request = param(login, "request").unwrap();
    post(
        app,
        browser,
        &format!("/{tenant}/login/choose"),
        page,
        &[
            ("request", &request),
            ("identifier", identifier),
            ("account", account),
        ],
    )
    .await
}

/// The claim's old-password step for `account` (a form of `page`, this browser's): the response.
async fn prove(
    app: &TestApp,
    browser: &reqwest::Client,
    login: &Url,
    (page, account): (&str, &str),
    password: &str,
) -> reqwest::Response {
    let request = param(login, "request").unwrap();
    post(
        app,
        browser,
        "/seinajoki/login/claim",
        page,
        &[
            ("request", &request),
            ("identifier", "perhe@testi.fi"),
            ("account", account),
            ("password", password),
        ],
    )
    .await
}

/// The `count`th mail, once written.
async fn nth_mail(app: &TestApp, count: usize) -> String {
    for _ in 0..100 {
        if let Some(mail) = app.mails().get(count - 1) {
            return mail.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{count} mails expected: {:?}", app.mails());
}

/// The claim token the own-address page carries.
fn claim_token(page: &str) -> String {
    page.split("name=\"token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no token field: {page}"))
        .to_string()
}

/// Gives `email` on the own-address page `page`: the response.
async fn give_address(
    app: &TestApp,
    browser: &reqwest::Client,
    tenant: &str,
    page: &str,
    email: &str,
) -> reqwest::Response {
    let token = claim_token(page);
    post(
        app,
        browser,
        &format!("/{tenant}/claim"),
        page,
        &[("token", &token), ("email", email)],
    )
    .await
}

async fn a_family_member_claims_their_old_account_by_its_password_and_their_own_address(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let client = rp_of(&app, "seinajoki").await;
    let ([isa, aiti, lapsi], passwords) = family_of_three(&app).await;
    first_resident_binds(&app, &client, &isa, passwords[0]).await;

    // Resident 2 at the shared address: the account in use, and the two old accounts unbound.
    let browser = app.browser();
    let (started, login) = begin(&browser, &client).await;
    let (status, chooser) = identify(&app, &browser, &login, "perhe@testi.fi").await;
    assert_eq!(status, 200);
    assert!(
        chooser.contains("Kirjaudun jo tällä osoitteella (sen salasanalla)"),
        "{chooser}"
    );
    assert!(chooser.contains("value=\"in-use\" checked"), "{chooser}");
    assert!(
        chooser.contains(">perhe.aiti</label>") && chooser.contains(">perhe.lapsi</label>"),
        "{chooser}"
    );
    assert!(!chooser.contains("perhe.isa"), "{chooser}");
    let claim = choose(
        &app,
        &browser,
        "seinajoki",
        &login,
        &chooser,
        "perhe@testi.fi",
        &aiti,
    )
    .await;
    assert_eq!(claim.status(), 200);
    let claim = claim.text().await.unwrap();
    assert!(
        claim.contains("Anna aiemman käyttäjätunnuksen perhe.aiti salasana."),
        "{claim}"
    );
    assert_eq!(hidden_account(&claim), aiti);
    // The old password proves it; then the resident's own address.
    let own = prove(&app, &browser, &login, (&claim, &aiti), passwords[1]).await;
    assert_eq!(own.status(), 200);
    let own = own.text().await.unwrap();
    assert!(
        own.contains("Anna oma sähköpostiosoitteesi aiemmalle käyttäjätunnukselle perhe.aiti."),
        "{own}"
    );
    assert!(app.mails().is_empty(), "a password proof mails nothing");
    let sent = give_address(&app, &browser, "seinajoki", &own, "Aiti@Testi.fi").await;
    assert_eq!(sent.status(), 200);
    assert!(sent.text().await.unwrap().contains(ADDRESS_SENT));
    assert_eq!(bound_to(&app, &aiti).await, None, "not before the link");
    let (mail, link) = mailed_link(&app, 1, "/seinajoki/reset?token=").await;
    assert!(mail.contains("To: Aiti@Testi.fi"), "{mail}");
    assert!(mail.contains("Aiempi käyttäjätunnus: perhe.aiti"), "{mail}");
    let form = browser
        .get(&link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        form.contains("Aiempi käyttäjätunnuksesi perhe.aiti liitetään sähköpostiosoitteeseesi"),
        "{form}"
    );
    let done =
        set_password_by_link(&app, &browser, &link, "seinajoki", "äidin uusi salasana").await;
    assert_eq!(done.status(), 303, "the pending login goes on");
    let (claims, _) = tokens_of(&client, started, &location(&done)).await;
    assert_eq!(claims["sub"], "SJK-2", "the old subject is kept");
    assert_eq!(claims["email"], "Aiti@Testi.fi");
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["preferred_username"], "perhe.aiti");
    assert_eq!(
        claims["former_usernames"],
        serde_json::json!(["perhe.aiti"])
    );
    let resident2 = bound_to(&app, &aiti).await.unwrap();
    assert_ne!(Some(resident2), bound_to(&app, &isa).await);
    assert_eq!(bound_to(&app, &lapsi).await, None);
    assert_eq!(
        audit_details(&app, "seinajoki", "legacy.claimed").await,
        vec![serde_json::json!({ "username": "perhe.aiti", "proven": "password" })]
    );
    let linked = audit_details(&app, "seinajoki", "legacy.linked").await;
    assert_eq!(
        linked.last().unwrap(),
        &serde_json::json!({ "username": "perhe.aiti", "by": "claim", "first": true })
    );
    for detail in all_details(&app, "seinajoki").await {
        assert!(!detail.contains('@'), "no address in the audit: {detail}");
    }

    // Resident 2 logs in with their own address from now on.
    let fresh = app.browser();
    let (started, _) = begin(&fresh, &client).await;
    let back = rp::log_in(&fresh, &started.url, "aiti@testi.fi", "äidin uusi salasana").await;
    let (claims, _) = tokens_of(&client, started, &back).await;
    assert_eq!(claims["sub"], "SJK-2");

    // Resident 1 still logs in at the shared address, through its entry on the chooser.
    let fresh = app.browser();
    let (started, login) = begin(&fresh, &client).await;
    let (_, chooser) = identify(&app, &fresh, &login, "perhe@testi.fi").await;
    assert!(
        chooser.contains(">perhe.lapsi</label>") && !chooser.contains("perhe.aiti"),
        "{chooser}"
    );
    let page = choose(
        &app,
        &fresh,
        "seinajoki",
        &login,
        &chooser,
        "perhe@testi.fi",
        "in-use",
    )
    .await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("autocomplete=\"current-password\""), "{page}");
    let done = give_password(&app, &fresh, &login, &page, "perhe@testi.fi", passwords[0]).await;
    let (claims, _) = tokens_of(&client, started, &location(&done)).await;
    assert_eq!(claims["sub"], "SJK-1");
    app.stop().await;
}

async fn a_family_member_claims_their_old_account_by_a_mailed_link_under_email_link(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let client = rp_of(&app, "kouvola").await;
    let mut ids = Vec::new();
    for (username, subject) in [
        ("aino.k", "KVL-1"),
        ("matti.m", "KVL-2"),
        ("ella.e", "KVL-3"),
    ] {
        ids.push(
            import(
                &app,
                Old {
                    tenant: "kouvola",
                    username,
                    subject,
                    email: Some("koti@testi.fi"),
                    hash: None,
                    authority: false,
                },
            )
            .await,
        );
    }
    // Resident 1 binds the first, by the mailed link (the existing path).
    let browser = app.browser();
    let (started, login) = begin(&browser, &client).await;
    let (_, chooser) = identify(&app, &browser, &login, "koti@testi.fi").await;
    let sent = choose(
        &app,
        &browser,
        "kouvola",
        &login,
        &chooser,
        "koti@testi.fi",
        &ids[0],
    )
    .await;
    assert_eq!(sent.status(), 200);
    let (_, link) = mailed_link(&app, 1, "/kouvola/reset?token=").await;
    let done = set_password_by_link(&app, &browser, &link, "kouvola", "ainon uusi salasana").await;
    let (claims, _) = tokens_of(&client, started, &location(&done)).await;
    assert_eq!(claims["sub"], "KVL-1");

    // Resident 2: the chooser, masked, with the account in use.
    let browser = app.browser();
    let (started, login) = begin(&browser, &client).await;
    let (status, chooser) = identify(&app, &browser, &login, "koti@testi.fi").await;
    assert_eq!(status, 200);
    assert!(chooser.contains("value=\"in-use\""), "{chooser}");
    assert!(
        chooser.contains(">m*****m</label>") && chooser.contains(">e****e</label>"),
        "masked: {chooser}"
    );
    assert!(
        !chooser.contains("matti.m") && !chooser.contains("a****k"),
        "{chooser}"
    );
    let sent = choose(
        &app,
        &browser,
        "kouvola",
        &login,
        &chooser,
        "koti@testi.fi",
        &ids[1],
    )
    .await;
    assert_eq!(sent.status(), 200);
    let sent = sent.text().await.unwrap();
    assert!(
        sent.contains("Lähetimme linkin tähän osoitteeseen."),
        "{sent}"
    );
    // The proof: a link mailed to the shared address.
    let (mail, claim_link) = mailed_link(&app, 2, "/kouvola/claim?token=").await;
    assert!(mail.contains("To: koti@testi.fi"), "{mail}");
    assert!(
        mail.contains("Aiempi käyttäjätunnus: matti.m") && !mail.contains("ella.e"),
        "{mail}"
    );
    let own = browser.get(&claim_link).send().await.unwrap();
    assert_eq!(own.status(), 200);
    let own = own.text().await.unwrap();
    assert!(
        own.contains("Anna oma sähköpostiosoitteesi aiemmalle käyttäjätunnukselle m*****m."),
        "{own}"
    );
    let invalid = give_address(&app, &browser, "kouvola", &own, "ei osoite").await;
    assert_eq!(invalid.status(), 422);
    assert!(
        invalid
            .text()
            .await
            .unwrap()
            .contains("Sähköpostiosoite ei ole kelvollinen.")
    );
    let sent = give_address(&app, &browser, "kouvola", &own, "matti@testi.fi").await;
    assert_eq!(sent.status(), 200);
    assert!(sent.text().await.unwrap().contains(ADDRESS_SENT));
    // The claim link worked once.
    let again = browser.get(&claim_link).send().await.unwrap();
    assert_eq!(again.status(), 410);
    assert!(again.text().await.unwrap().contains(EXPIRED));
    let (mail, link) = mailed_link(&app, 3, "/kouvola/reset?token=").await;
    assert!(mail.contains("To: matti@testi.fi"), "{mail}");
    let done = set_password_by_link(&app, &browser, &link, "kouvola", "matin uusi salasana").await;
    assert_eq!(done.status(), 303, "the pending login goes on");
    let (claims, _) = tokens_of(&client, started, &location(&done)).await;
    assert_eq!(claims["sub"], "KVL-2", "the old subject is kept");
    assert_eq!(claims["email"], "matti@testi.fi");
    assert_eq!(claims["email_verified"], true);
    assert!(bound_to(&app, &ids[1]).await.is_some());
    assert_ne!(bound_to(&app, &ids[1]).await, bound_to(&app, &ids[0]).await);
    assert_eq!(bound_to(&app, &ids[2]).await, None);
    assert_eq!(
        audit_details(&app, "kouvola", "legacy.claimed").await,
        vec![serde_json::json!({ "username": "matti.m", "proven": "link" })]
    );
    for detail in all_details(&app, "kouvola").await {
        assert!(!detail.contains('@'), "no address in the audit: {detail}");
    }
    let fresh = app.browser();
    let (started, _) = begin(&fresh, &client).await;
    let back = rp::log_in(
        &fresh,
        &started.url,
        "matti@testi.fi",
        "matin uusi salasana",
    )
    .await;
    let (claims, _) = tokens_of(&client, started, &back).await;
    assert_eq!(claims["sub"], "KVL-2");
    app.stop().await;
}

async fn a_claim_refuses_wrong_passwords_stale_choices_used_and_foreign_links(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = rp_of(&app, "seinajoki").await;
    let ([isa, aiti, lapsi], passwords) = family_of_three(&app).await;
    first_resident_binds(&app, &client, &isa, passwords[0]).await;

    // A chooser left open while resident 2 claims the same account elsewhere.
    let stale_browser = app.browser();
    let (_, stale_login) = begin(&stale_browser, &client).await;
    let (_, stale) = identify(&app, &stale_browser, &stale_login, "perhe@testi.fi").await;
    assert!(stale.contains(">perhe.aiti</label>"), "{stale}");

    let browser = app.browser();
    let (_, login) = begin(&browser, &client).await;
    let (_, chooser) = identify(&app, &browser, &login, "perhe@testi.fi").await;
    let claim = choose(
        &app,
        &browser,
        "seinajoki",
        &login,
        &chooser,
        "perhe@testi.fi",
        &aiti,
    )
    .await
    .text()
    .await
    .unwrap();
    // Another account's old password: the login's message and status.
    let wrong = prove(&app, &browser, &login, (&claim, &aiti), passwords[2]).await;
    assert_eq!(wrong.status(), 401);
    let wrong = wrong.text().await.unwrap();
    assert!(wrong.contains(WRONG), "{wrong}");
    assert!(
        wrong.contains("Anna aiemman käyttäjätunnuksen perhe.aiti salasana."),
        "{wrong}"
    );
    let own = prove(&app, &browser, &login, (&claim, &aiti), passwords[1])
        .await
        .text()
        .await
        .unwrap();
    let sent = give_address(&app, &browser, "seinajoki", &own, "aiti@testi.fi").await;
    assert_eq!(sent.status(), 200);
    // The proof is used once.
    let twice = give_address(&app, &browser, "seinajoki", &own, "toinen@testi.fi").await;
    assert_eq!(twice.status(), 410);
    assert!(twice.text().await.unwrap().contains(EXPIRED));
    let (_, link) = mailed_link(&app, 1, "/seinajoki/reset?token=").await;
    // Another tenant does not know the address link.
    let foreign = link.replace("/seinajoki/reset", "/kouvola/reset");
    let answer = browser.get(&foreign).send().await.unwrap();
    assert_eq!(answer.status(), 410);
    assert!(answer.text().await.unwrap().contains(EXPIRED));
    let done =
        set_password_by_link(&app, &browser, &link, "seinajoki", "äidin uusi salasana").await;
    assert_eq!(done.status(), 303);
    assert_eq!(app.mails().len(), 1);
    // The address link is used once.
    let again = browser.get(&link).send().await.unwrap();
    assert_eq!(again.status(), 410);
    assert!(again.text().await.unwrap().contains(EXPIRED));

    // The stale chooser picks the account claimed meanwhile: asked again, without it.
    let picked = choose(
        &app,
        &stale_browser,
        "seinajoki",
        &stale_login,
        &stale,
        "perhe@testi.fi",
        &aiti,
    )
    .await;
    assert_eq!(picked.status(), 422);
    let picked = picked.text().await.unwrap();
    assert!(
        picked.contains("Valitsemasi käyttäjätunnus ei ole enää valittavissa. Valitse uudelleen."),
        "{picked}"
    );
    assert!(
        picked.contains(">perhe.lapsi</label>") && !picked.contains("perhe.aiti"),
        "{picked}"
    );
    // A claim form for it, posted late, proves nothing: it reads as a wrong password.
    let late = prove(
        &app,
        &stale_browser,
        &stale_login,
        (&stale, &aiti),
        passwords[1],
    )
    .await;
    assert_eq!(late.status(), 401);
    assert!(late.text().await.unwrap().contains(WRONG));

    // Resident 3 proves their account; another tenant does not know the proof.
    let claim = choose(
        &app,
        &stale_browser,
        "seinajoki",
        &stale_login,
        &picked,
        "perhe@testi.fi",
        &lapsi,
    )
    .await
    .text()
    .await
    .unwrap();
    let own = prove(
        &app,
        &stale_browser,
        &stale_login,
        (&claim, &lapsi),
        passwords[2],
    )
    .await
    .text()
    .await
    .unwrap();
    let token = claim_token(&own);
    let foreign = stale_browser
        .get(app.url(&format!("/kouvola/claim?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 410);
    assert!(foreign.text().await.unwrap().contains(EXPIRED));
    // An address that has an account: the same page, a notice to it, no takeover.
    let taken = give_address(&app, &stale_browser, "seinajoki", &own, "AITI@testi.fi").await;
    assert_eq!(taken.status(), 200);
    assert!(taken.text().await.unwrap().contains(ADDRESS_SENT));
    let notice = nth_mail(&app, 2).await;
    assert!(notice.contains("To: aiti@testi.fi"), "{notice}");
    assert!(
        notice.contains("Osoitteella on jo käyttäjätunnus, joten mitään ei muutettu"),
        "{notice}"
    );
    assert!(!notice.contains("token="), "no link: {notice}");
    assert!(!notice.contains("perhe.lapsi"), "{notice}");
    assert_eq!(bound_to(&app, &lapsi).await, None);
    assert_eq!(
        audit_details(&app, "seinajoki", "legacy.claim_refused").await,
        vec![serde_json::json!({
            "username": "perhe.lapsi",
            "proven": "password",
            "reason": "address_in_use",
        })]
    );

    // Wrong old passwords count against the claimed old account, as at login.
    let claim = choose(
        &app,
        &stale_browser,
        "seinajoki",
        &stale_login,
        &picked,
        "perhe@testi.fi",
        &lapsi,
    )
    .await
    .text()
    .await
    .unwrap();
    let free = idp::flows::password_check::FREE_FAILURES;
    // None counted against this account yet (the failures above were another account's).
    for _ in 0..free {
        let wrong = prove(
            &app,
            &stale_browser,
            &stale_login,
            (&claim, &lapsi),
            "väärä",
        )
        .await;
        assert_eq!(wrong.status(), 401);
        assert!(wrong.text().await.unwrap().contains(WRONG));
    }
    let blocked = prove(
        &app,
        &stale_browser,
        &stale_login,
        (&claim, &lapsi),
        passwords[2],
    )
    .await;
    assert_eq!(blocked.status(), 429);
    assert!(
        blocked
            .text()
            .await
            .unwrap()
            .contains("Liian monta epäonnistunutta yritystä. Odota hetki ja yritä uudelleen.")
    );
    app.stop().await;
}
