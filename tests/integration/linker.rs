//! The legacy-account linker on the real server: the first login of an old account under both
//! policies keeps its subject; every hash format; one address shared by several accounts; the
//! authority login; an account without an address; registration through the linker.

use diesel::prelude::*;
use idp::clock::Clock;
use idp::store::legacy::LegacyRow;
use idp::store::schema::legacy_accounts;
use serde_json::Value;
use url::Url;

use crate::both_stores;
use crate::helpers::{Backend, TestApp};
use crate::rp::{self, Rp, Started, csrf, location, param};

both_stores!(
    every_old_hash_format_logs_in_and_keeps_its_subject,
    a_shared_address_lets_the_resident_choose_and_link_the_others_later,
    the_email_link_policy_mails_a_link_that_binds_and_continues_the_login,
    a_shared_address_under_email_link_is_masked_and_linked_by_mail,
    an_account_without_a_usable_hash_gets_the_link_under_keep_password,
    an_authority_account_logs_in_with_its_old_username,
    an_account_without_an_address_logs_in_once_support_sets_one,
    registration_and_new_users_of_an_old_address_go_through_the_linker,
    changing_to_an_old_address_binds_its_account,
    an_old_hash_over_a_cost_cap_gets_the_link_and_is_never_run,
);

/// An old account to import.
pub(crate) struct Old<'a> {
    pub(crate) tenant: &'a str,
    pub(crate) username: &'a str,
    pub(crate) subject: &'a str,
    pub(crate) email: Option<&'a str>,
    pub(crate) hash: Option<&'a str>,
    pub(crate) authority: bool,
}

/// Inserts a legacy account as the import does; returns its id.
pub(crate) async fn import(app: &TestApp, old: Old<'_>) -> String {
    let tenant = app.services.config.tenant(old.tenant).unwrap().clone();
    let now = app.clock.now();
    let id = uuid::Uuid::new_v4().to_string();
    let row = LegacyRow {
        id: id.clone(),
        tenant_id: old.tenant.into(),
        username: old.username.into(),
        username_normalized: old.username.to_lowercase(),
        subject: old.subject.into(),
        email: old.email.map(str::to_string),
        email_normalized: old.email.map(|e| {
            idp::domain::Email::parse(e)
                .unwrap()
                .normalized()
                .to_string()
        }),
        password_hash: old.hash.map(str::to_string),
        hash_format: old
            .hash
            .and_then(|h| idp::crypto::legacy::detect(h, tenant.legacy.salted_sha.as_ref()))
            .map(|f| f.name().to_string()),
        name: None,
        is_authority: old.authority,
        linked_user_id: None,
        linked_at: None,
        imported_at: now,
        updated_at: now,
    };
    let store = app.services.store.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = store.conn().unwrap();
        diesel::insert_into(legacy_accounts::table)
            .values(&row)
            .execute(&mut **conn)
            .unwrap();
    })
    .await
    .unwrap();
    id
}

pub(crate) async fn legacy_row(app: &TestApp, id: &str) -> LegacyRow {
    let store = app.services.store.clone();
    let id = id.to_string();
    tokio::task::spawn_blocking(move || {
        let mut conn = store.conn().unwrap();
        // The row's tenant is whichever of the two holds it.
        ["seinajoki", "kouvola"]
            .into_iter()
            .find_map(|t| {
                idp::store::legacy::find(&mut conn, crate::helpers::tenant(t), &id).unwrap()
            })
            .unwrap()
    })
    .await
    .unwrap()
}

pub(crate) async fn audit_kinds(app: &TestApp, tenant: &str) -> Vec<String> {
    let store = app.services.store.clone();
    let tenant = tenant.to_string();
    tokio::task::spawn_blocking(move || {
        let mut conn = store.conn().unwrap();
        idp::store::audit::kinds(&mut conn, crate::helpers::tenant(&tenant)).unwrap()
    })
    .await
    .unwrap()
}

/// The reference hashes of `tests/data` (passlib, hashlib) for `password`: (format, hash).
fn vectors(password: &str) -> Vec<(String, String)> {
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

/// The relying party `rp-basic` of `tenant`.
pub(crate) async fn rp_of(app: &TestApp, tenant: &str) -> Rp {
    rp::client(
        app,
        tenant,
        "rp-basic",
        Some("rp-basic-secret"),
        "http://127.0.0.1:9/callback",
    )
    .await
}

/// Starts a login at `client` in `browser`: the request and the identifier page's URL.
pub(crate) async fn begin(browser: &reqwest::Client, client: &Rp) -> (Started, Url) {
    let started = rp::start(client, &["email", "profile"], &[]);
    let login = location(&browser.get(started.url.clone()).send().await.unwrap());
    (started, login)
}

/// Posts `form` (with the CSRF token of `page`) to `path`.
pub(crate) async fn post(
    app: &TestApp,
    browser: &reqwest::Client,
    path: &str,
    page: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let token = csrf(page);
    let mut fields = vec![("csrf", token.as_str())];
    fields.extend_from_slice(form);
    browser
        .post(app.url(path))
        .form(&fields)
        .send()
        .await
        .unwrap()
}

/// The identifier step: (status, page).
pub(crate) async fn identify(
    app: &TestApp,
    browser: &reqwest::Client,
    login: &Url,
    identifier: &str,
) -> (u16, String) {
    let page = browser.get(login.clone()).send().await.unwrap();
    let page = page.text().await.unwrap();
    let tenant = login.path().split('/').nth(1).unwrap();
    let request = param(login, "request").unwrap();
    let response = post(
        app,
        browser,
        &format!("/{tenant}/login/identifier"),
        &page,
        &[("request", &request), ("identifier", identifier)],
    )
    .await;
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The value of the hidden `account` field of a page.
pub(crate) fn hidden_account(page: &str) -> String {
    page.split("name=\"account\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no account field: {page}"))
        .to_string()
}

/// The password step after `password_page`.
pub(crate) async fn give_password(
    app: &TestApp,
    browser: &reqwest::Client,
    login: &Url,
    password_page: &str,
    identifier: &str,
    password: &str,
) -> reqwest::Response {
    let tenant = login.path().split('/').nth(1).unwrap();
    let request = param(login, "request").unwrap();
    let account = if password_page.contains("name=\"account\"") {
        hidden_account(password_page)
    } else {
        String::new()
    };
    post(
        app,
        browser,
        &format!("/{tenant}/login/password"),
        password_page,
        &[
            ("request", &request),
            ("identifier", identifier),
            ("account", &account),
            ("password", password),
        ],
    )
    .await
}

/// The claims of an ID token (its signature is checked by the RP elsewhere).
fn payload(jwt: &str) -> Value {
    use base64::Engine;
    let part = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Exchanges the code of `back` and returns (ID token claims, access token).
pub(crate) async fn tokens_of(client: &Rp, started: Started, back: &Url) -> (Value, String) {
    use openidconnect::core::CoreTokenResponse;
    use openidconnect::{OAuth2TokenResponse, TokenResponse};
    let code = param(back, "code").unwrap_or_else(|| panic!("no code: {back}"));
    let tokens: CoreTokenResponse = rp::exchange(client, &code, started.verifier).await.unwrap();
    let id_token = tokens.id_token().unwrap();
    // The RP verifies the signature, audience and nonce.
    id_token
        .claims(&client.id_token_verifier(), &started.nonce)
        .unwrap();
    (
        payload(&id_token.to_string()),
        tokens.access_token().secret().clone(),
    )
}

pub(crate) async fn userinfo(app: &TestApp, tenant: &str, access_token: &str) -> Value {
    app.http
        .get(app.url(&format!("/{tenant}/userinfo")))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The first link to `prefix` in the newest of at least `count` mails.
pub(crate) async fn mailed_link(app: &TestApp, count: usize, prefix: &str) -> (String, String) {
    for _ in 0..100 {
        let mails = app.mails();
        if mails.len() >= count {
            let mail = mails[count - 1].clone();
            let link = mail
                .split_whitespace()
                .find(|w| w.starts_with(&app.url(prefix)))
                .unwrap_or_else(|| panic!("no {prefix} link: {mail}"))
                .to_string();
            return (mail, link);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{count} mails expected: {:?}", app.mails());
}

/// Sets a password through a linker link opened in `browser`: the response to the form.
pub(crate) async fn set_password_by_link(
    app: &TestApp,
    browser: &reqwest::Client,
    link: &str,
    tenant: &str,
    password: &str,
) -> reqwest::Response {
    let page = browser.get(link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    let token = param(&Url::parse(link).unwrap(), "token").unwrap();
    post(
        app,
        browser,
        &format!("/{tenant}/reset"),
        &page,
        &[
            ("token", &token),
            ("password", password),
            ("password2", password),
        ],
    )
    .await
}

const PASSWORD: &str = "Sälasana-ÄÖå €";

async fn every_old_hash_format_logs_in_and_keeps_its_subject(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = rp_of(&app, "seinajoki").await;
    let formats = vectors(PASSWORD);
    assert_eq!(formats.len(), 15, "{formats:?}");
    let mut ids = Vec::new();
    for (kind, hash) in &formats {
        let username = format!("vanha.{kind}");
        let subject = format!("SJK-{kind}");
        let email = format!("{kind}@testi.fi");
        let id = import(
            &app,
            Old {
                tenant: "seinajoki",
                username: &username,
                subject: &subject,
                email: Some(&email),
                hash: Some(hash),
                authority: false,
            },
        )
        .await;
        assert!(legacy_row(&app, &id).await.hash_format.is_some(), "{kind}");
        ids.push(id);
    }

    // A wrong password: the generic error, nothing bound.
    let browser = app.browser();
    let (_, login) = begin(&browser, &client).await;
    let (status, page) = identify(&app, &browser, &login, "bcrypt-2b@testi.fi").await;
    assert_eq!(status, 200);
    let wrong = give_password(&app, &browser, &login, &page, "bcrypt-2b@testi.fi", "väärä").await;
    assert_eq!(wrong.status(), 401);
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("Sähköpostiosoite / käyttäjätunnus tai salasana on väärin.")
    );
    assert_eq!(legacy_row(&app, &ids[0]).await.linked_user_id, None);

    for ((kind, _), id) in formats.iter().zip(&ids) {
        let browser = app.browser();
        let (started, login) = begin(&browser, &client).await;
        let email = format!("{kind}@testi.fi");
        let (status, page) = identify(&app, &browser, &login, &email.to_uppercase()).await;
        assert_eq!(status, 200, "{kind}");
        let done = give_password(
            &app,
            &browser,
            &login,
            &page,
            &email.to_uppercase(),
            PASSWORD,
        )
        .await;
        assert_eq!(done.status(), 303, "{kind} must log in");
        let (claims, _) = tokens_of(&client, started, &location(&done)).await;
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
        let row = legacy_row(&app, id).await;
        assert!(
            row.linked_user_id.is_some() && row.linked_at.is_some(),
            "{kind}"
        );
    }
    let linked = audit_kinds(&app, "seinajoki")
        .await
        .into_iter()
        .filter(|k| k == "legacy.linked")
        .count();
    assert_eq!(linked, 15);

    // The password was re-hashed: the next login checks argon2id and keeps the subject.
    let store = app.services.store.clone();
    let user = tokio::task::spawn_blocking(move || {
        let mut conn = store.conn().unwrap();
        idp::store::users::find_by_email(
            &mut conn,
            crate::helpers::tenant("seinajoki"),
            "md5-crypt@testi.fi",
        )
        .unwrap()
        .unwrap()
    })
    .await
    .unwrap();
    assert!(user.password_hash.unwrap().starts_with("$argon2id$"));
    let browser = app.browser();
    let (started, login) = begin(&browser, &client).await;
    let back = rp::log_in(&browser, &started.url, "md5-crypt@testi.fi", PASSWORD).await;
    drop(login);
    let (claims, _) = tokens_of(&client, started, &back).await;
    assert_eq!(claims["sub"], "SJK-md5-crypt");
    app.stop().await;
}

async fn a_shared_address_lets_the_resident_choose_and_link_the_others_later(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = rp_of(&app, "seinajoki").await;
    let father = bcrypt::hash("isän vanha salasana", 4).unwrap();
    let mother = bcrypt::hash("äidin vanha salasana", 4).unwrap();
    let isa = import(
        &app,
        Old {
            tenant: "seinajoki",
            username: "perhe.isa",
            subject: "SJK-1",
            email: Some("perhe@testi.fi"),
            hash: Some(&father),
            authority: false,
        },
    )
    .await;
    let aiti = import(
        &app,
        Old {
            tenant: "seinajoki",
            username: "perhe.aiti",
            subject: "SJK-2",
            email: Some("Perhe@Testi.fi"),
            hash: Some(&mother),
            authority: false,
        },
    )
    .await;

    let browser = app.browser();
    let (started, login) = begin(&browser, &client).await;
    let (status, choose) = identify(&app, &browser, &login, "perhe@testi.fi").await;
    assert_eq!(status, 200);
    assert!(
        choose.contains("Valitse aiempi käyttäjätunnuksesi"),
        "{choose}"
    );
    assert!(choose.contains(">perhe.isa</label>") && choose.contains(">perhe.aiti</label>"));
    let request = param(&login, "request").unwrap();
    let none = post(
        &app,
        &browser,
        "/seinajoki/login/choose",
        &choose,
        &[("request", &request), ("identifier", "perhe@testi.fi")],
    )
    .await;
    assert_eq!(none.status(), 422);
    assert!(
        none.text()
            .await
            .unwrap()
            .contains("Valitse yksi käyttäjätunnuksista.")
    );
    let chosen = post(
        &app,
        &browser,
        "/seinajoki/login/choose",
        &choose,
        &[
            ("request", &request),
            ("identifier", "perhe@testi.fi"),
            ("account", &isa),
        ],
    )
    .await;
    assert_eq!(chosen.status(), 200);
    let password_page = chosen.text().await.unwrap();
    assert_eq!(hidden_account(&password_page), isa);
    // The other account's password does not open the chosen one.
    let wrong = give_password(
        &app,
        &browser,
        &login,
        &password_page,
        "perhe@testi.fi",
        "äidin vanha salasana",
    )
    .await;
    assert_eq!(wrong.status(), 401);
    let done = give_password(
        &app,
        &browser,
        &login,
        &password_page,
        "perhe@testi.fi",
        "isän vanha salasana",
    )
    .await;
    assert_eq!(done.status(), 303);
    let (claims, access_token) = tokens_of(&client, started, &location(&done)).await;
    assert_eq!(claims["sub"], "SJK-1");
    assert_eq!(claims.get("former_subjects"), None);

    // The account page lists the bound username and offers the other, by its old password.
    let page = browser
        .get(app.url("/seinajoki/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("<li>perhe.isa</li>"), "{page}");
    assert!(
        page.contains("Tunnuksen perhe.aiti vanha salasana"),
        "{page}"
    );
    let wrong = post(
        &app,
        &browser,
        "/seinajoki/account/legacy",
        &page,
        &[("account", &aiti), ("password", "isän vanha salasana")],
    )
    .await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.text().await.unwrap().contains("Salasana on väärin."));
    let linked = post(
        &app,
        &browser,
        "/seinajoki/account/legacy",
        &page,
        &[("account", &aiti), ("password", "äidin vanha salasana")],
    )
    .await;
    assert_eq!(linked.status(), 200);
    let linked = linked.text().await.unwrap();
    assert!(
        linked.contains("Aiempi käyttäjätunnus on liitetty."),
        "{linked}"
    );
    assert!(linked.contains("<li>perhe.aiti</li>"));
    let row = legacy_row(&app, &aiti).await;
    assert_eq!(
        row.linked_user_id,
        legacy_row(&app, &isa).await.linked_user_id
    );

    // The e-services can join the histories.
    let info = userinfo(&app, "seinajoki", &access_token).await;
    assert_eq!(info["sub"], "SJK-1");
    assert_eq!(
        info["former_usernames"],
        serde_json::json!(["perhe.isa", "perhe.aiti"])
    );
    assert_eq!(info["former_subjects"], serde_json::json!(["SJK-2"]));
    // The address now belongs to the one user: the next login asks no choice.
    let browser = app.browser();
    let (_, login) = begin(&browser, &client).await;
    let (_, page) = identify(&app, &browser, &login, "perhe@testi.fi").await;
    assert!(page.contains("autocomplete=\"current-password\""), "{page}");
    app.stop().await;
}

async fn the_email_link_policy_mails_a_link_that_binds_and_continues_the_login(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = rp_of(&app, "kouvola").await;
    let hash = bcrypt::hash("vanha salasana", 4).unwrap();
    let id = import(
        &app,
        Old {
            tenant: "kouvola",
            username: "ossi.k",
            subject: "KVL-42",
            email: Some("ossi@testi.fi"),
            hash: Some(&hash),
            authority: false,
        },
    )
    .await;
    let browser = app.browser();
    let (started, login) = begin(&browser, &client).await;
    let (status, page) = identify(&app, &browser, &login, "Ossi@testi.fi").await;
    assert_eq!(status, 200);
    assert!(
        page.contains(
            "Sähköpostiisi on lähetetty linkki, jonka avulla voit asettaa uuden salasanan."
        ),
        "{page}"
    );
    let (mail, link) = mailed_link(&app, 1, "/kouvola/reset?token=").await;
    assert!(mail.contains("To: ossi@testi.fi"), "{mail}");
    assert!(mail.contains("Aiempi käyttäjätunnus: ossi.k"), "{mail}");
    assert_eq!(legacy_row(&app, &id).await.linked_user_id, None);

    let form = browser
        .get(&link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        form.contains("Aiempi käyttäjätunnuksesi ossi.k liitetään sähköpostiosoitteeseesi"),
        "{form}"
    );
    let token = param(&Url::parse(&link).unwrap(), "token").unwrap();
    let mismatch = post(
        &app,
        &browser,
        "/kouvola/reset",
        &form,
        &[
            ("token", &token),
            ("password", "uusi pitkä salasana"),
            ("password2", "toinen"),
        ],
    )
    .await;
    assert_eq!(mismatch.status(), 422);
    assert_eq!(legacy_row(&app, &id).await.linked_user_id, None);
    let done = set_password_by_link(&app, &browser, &link, "kouvola", "uusi pitkä salasana").await;
    assert_eq!(done.status(), 303, "the pending login goes on");
    let back = location(&done);
    assert_eq!(
        param(&back, "state").as_deref(),
        Some(started.state.secret().as_str())
    );
    let (claims, _) = tokens_of(&client, started, &back).await;
    assert_eq!(claims["sub"], "KVL-42");
    assert_eq!(claims["preferred_username"], "ossi.k");
    assert_eq!(claims["email_verified"], true);
    assert!(legacy_row(&app, &id).await.linked_user_id.is_some());

    // Once only; then the new password logs in, the old one does not.
    assert_eq!(browser.get(&link).send().await.unwrap().status(), 410);
    let fresh = app.browser();
    let (_, login) = begin(&fresh, &client).await;
    assert_eq!(
        rp::submit_login(&fresh, &login, "ossi@testi.fi", "vanha salasana", false)
            .await
            .status(),
        401
    );
    let (started, _) = begin(&fresh, &client).await;
    let back = rp::log_in(&fresh, &started.url, "ossi@testi.fi", "uusi pitkä salasana").await;
    let (claims, _) = tokens_of(&client, started, &back).await;
    assert_eq!(claims["sub"], "KVL-42");
    app.stop().await;
}

async fn a_shared_address_under_email_link_is_masked_and_linked_by_mail(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = rp_of(&app, "kouvola").await;
    let first = import(
        &app,
        Old {
            tenant: "kouvola",
            username: "maija.m",
            subject: "KVL-1",
            email: Some("koti@testi.fi"),
            hash: None,
            authority: false,
        },
    )
    .await;
    let second = import(
        &app,
        Old {
            tenant: "kouvola",
            username: "matti.m",
            subject: "KVL-2",
            email: Some("koti@testi.fi"),
            hash: None,
            authority: false,
        },
    )
    .await;
    let browser = app.browser();
    let (started, login) = begin(&browser, &client).await;
    let (_, choose) = identify(&app, &browser, &login, "koti@testi.fi").await;
    assert!(choose.contains(">m*****m</label>"), "masked: {choose}");
    assert!(!choose.contains("maija.m") && !choose.contains("matti.m"));
    let request = param(&login, "request").unwrap();
    let sent = post(
        &app,
        &browser,
        "/kouvola/login/choose",
        &choose,
        &[
            ("request", &request),
            ("identifier", "koti@testi.fi"),
            ("account", &second),
        ],
    )
    .await;
    assert_eq!(sent.status(), 200);
    let (mail, link) = mailed_link(&app, 1, "/kouvola/reset?token=").await;
    assert!(
        mail.contains("matti.m") && !mail.contains("maija.m"),
        "{mail}"
    );
    let done = set_password_by_link(&app, &browser, &link, "kouvola", "uusi pitkä salasana").await;
    let (claims, access_token) = tokens_of(&client, started, &location(&done)).await;
    assert_eq!(claims["sub"], "KVL-2");

    // The other account, from the account page, by a mailed link and a confirmation.
    let page = browser
        .get(app.url("/kouvola/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Lähetä liittämislinkki"), "{page}");
    let asked = post(
        &app,
        &browser,
        "/kouvola/account/legacy",
        &page,
        &[("account", &first)],
    )
    .await;
    assert_eq!(asked.status(), 200);
    assert!(
        asked
            .text()
            .await
            .unwrap()
            .contains("Lähetimme liittämislinkin sähköpostiisi.")
    );
    let (mail, link) = mailed_link(&app, 2, "/kouvola/reset?token=").await;
    assert!(mail.contains("maija.m"), "{mail}");
    let confirm = browser
        .get(&link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        confirm.contains("Liitetäänkö aiempi käyttäjätunnus maija.m"),
        "{confirm}"
    );
    assert!(!confirm.contains("new-password"), "no password is asked");
    let token = param(&Url::parse(&link).unwrap(), "token").unwrap();
    let done = post(
        &app,
        &browser,
        "/kouvola/reset",
        &confirm,
        &[("token", &token)],
    )
    .await;
    assert_eq!(done.status(), 200);
    assert_eq!(
        legacy_row(&app, &first).await.linked_user_id,
        legacy_row(&app, &second).await.linked_user_id
    );
    let info = userinfo(&app, "kouvola", &access_token).await;
    assert_eq!(
        info["former_usernames"],
        serde_json::json!(["matti.m", "maija.m"])
    );
    assert_eq!(info["former_subjects"], serde_json::json!(["KVL-1"]));
    app.stop().await;
}

async fn an_account_without_a_usable_hash_gets_the_link_under_keep_password(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = rp_of(&app, "seinajoki").await;
    let id = import(
        &app,
        Old {
            tenant: "seinajoki",
            username: "vanha.hash",
            subject: "SJK-9",
            email: Some("vanha@testi.fi"),
            hash: Some("{MD4}0cb6948805f797bf2a82807973b89537"),
            authority: false,
        },
    )
    .await;
    assert_eq!(legacy_row(&app, &id).await.hash_format, None);
    let browser = app.browser();
    let (started, login) = begin(&browser, &client).await;
    let (status, page) = identify(&app, &browser, &login, "vanha@testi.fi").await;
    assert_eq!(status, 200);
    assert!(page.contains("Sähköpostiisi on lähetetty linkki"), "{page}");
    let (_, link) = mailed_link(&app, 1, "/seinajoki/reset?token=").await;
    let done =
        set_password_by_link(&app, &browser, &link, "seinajoki", "uusi pitkä salasana").await;
    let (claims, _) = tokens_of(&client, started, &location(&done)).await;
    assert_eq!(claims["sub"], "SJK-9");
    app.stop().await;
}

async fn an_authority_account_logs_in_with_its_old_username(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = rp_of(&app, "seinajoki").await;
    let hash = vectors("salasana123")
        .into_iter()
        .find(|(k, _)| k == "pbkdf2-sha256")
        .unwrap()
        .1;
    import(
        &app,
        Old {
            tenant: "seinajoki",
            username: "Viranomainen",
            subject: "SJK-V1",
            email: None,
            hash: Some(&hash),
            authority: true,
        },
    )
    .await;
    import(
        &app,
        Old {
            tenant: "seinajoki",
            username: "asukas.ilman",
            subject: "SJK-A1",
            email: None,
            hash: Some(&hash),
            authority: false,
        },
    )
    .await;
    // No new authority user may take the old username.
    let store = app.services.store.clone();
    let now = app.clock.now();
    let refused = tokio::task::spawn_blocking(move || {
        let mut conn = store.conn().unwrap();
        idp::flows::users::add(
            &mut conn,
            now,
            &idp::flows::users::AddUser {
                tenant: crate::helpers::tenant("seinajoki"),
                email: None,
                username: Some("VIRANOMAINEN"),
                name: None,
                password_hash: None,
                email_verified: false,
            },
        )
        .unwrap_err()
        .to_string()
    })
    .await
    .unwrap();
    assert!(
        refused.starts_with("VIRANOMAINEN is the username of a legacy account"),
        "{refused}"
    );
    for _ in 0..2 {
        // First use binds and re-hashes; the second login is an ordinary one.
        let browser = app.browser();
        let (started, _) = begin(&browser, &client).await;
        let back = rp::log_in(&browser, &started.url, "viranomainen", "salasana123").await;
        let (claims, _) = tokens_of(&client, started, &back).await;
        assert_eq!(claims["sub"], "SJK-V1");
        assert_eq!(claims["preferred_username"], "Viranomainen");
        assert_eq!(claims.get("email"), None);
    }
    // A resident's old username is no login name.
    let browser = app.browser();
    let (_, login) = begin(&browser, &client).await;
    assert_eq!(
        rp::submit_login(&browser, &login, "asukas.ilman", "salasana123", false)
            .await
            .status(),
        401
    );
    app.stop().await;
}

async fn an_account_without_an_address_logs_in_once_support_sets_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = rp_of(&app, "seinajoki").await;
    let hash = bcrypt::hash("vanha salasana", 4).unwrap();
    let id = import(
        &app,
        Old {
            tenant: "seinajoki",
            username: "ei.osoitetta",
            subject: "SJK-E1",
            email: None,
            hash: Some(&hash),
            authority: false,
        },
    )
    .await;
    let browser = app.browser();
    let (_, login) = begin(&browser, &client).await;
    assert_eq!(
        rp::submit_login(&browser, &login, "eila@testi.fi", "vanha salasana", false)
            .await
            .status(),
        401
    );
    // Support attaches the address (what `idp legacy set-email` does).
    let store = app.services.store.clone();
    let now = app.clock.now();
    let row = id.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = store.conn().unwrap();
        assert!(
            idp::store::legacy::set_email(
                &mut conn,
                crate::helpers::tenant("seinajoki"),
                &row,
                "Eila@testi.fi",
                "eila@testi.fi",
                now,
            )
            .unwrap()
        );
    })
    .await
    .unwrap();
    let (started, _) = begin(&browser, &client).await;
    let back = rp::log_in(&browser, &started.url, "eila@testi.fi", "vanha salasana").await;
    let (claims, _) = tokens_of(&client, started, &back).await;
    assert_eq!(claims["sub"], "SJK-E1");
    assert_eq!(claims["email"], "Eila@testi.fi");
    app.stop().await;
}

async fn registration_and_new_users_of_an_old_address_go_through_the_linker(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = rp_of(&app, "seinajoki").await;
    let hash = bcrypt::hash("vanha salasana", 4).unwrap();
    let id = import(
        &app,
        Old {
            tenant: "seinajoki",
            username: "rekisteroityja",
            subject: "SJK-R1",
            email: Some("rekisteri@testi.fi"),
            hash: Some(&hash),
            authority: false,
        },
    )
    .await;
    // `users add` (and every other way to a new user) refuses the address.
    let store = app.services.store.clone();
    let now = app.clock.now();
    let refused = tokio::task::spawn_blocking(move || {
        let mut conn = store.conn().unwrap();
        let email = idp::domain::Email::parse("rekisteri@testi.fi").unwrap();
        idp::flows::users::add(
            &mut conn,
            now,
            &idp::flows::users::AddUser {
                tenant: crate::helpers::tenant("seinajoki"),
                email: Some(&email),
                username: None,
                name: None,
                password_hash: None,
                email_verified: true,
            },
        )
        .unwrap_err()
        .to_string()
    })
    .await
    .unwrap();
    assert!(
        refused.starts_with("rekisteri@testi.fi belongs to 1 legacy account(s) not yet bound"),
        "{refused}"
    );

    // Registration mails the linker's link instead of a registration link.
    let browser = app.browser();
    let (started, login) = begin(&browser, &client).await;
    let request = param(&login, "request").unwrap();
    let page = browser
        .get(app.url(&format!("/seinajoki/register?request={request}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let sent = post(
        &app,
        &browser,
        "/seinajoki/register",
        &page,
        &[("request", &request), ("email", "rekisteri@testi.fi")],
    )
    .await;
    assert_eq!(sent.status(), 200);
    let (mail, link) = mailed_link(&app, 1, "/seinajoki/reset?token=").await;
    assert!(
        mail.contains("Aiempi käyttäjätunnus: rekisteroityja"),
        "{mail}"
    );
    let done =
        set_password_by_link(&app, &browser, &link, "seinajoki", "uusi pitkä salasana").await;
    let (claims, _) = tokens_of(&client, started, &location(&done)).await;
    assert_eq!(
        claims["sub"], "SJK-R1",
        "no second subject for an old address"
    );
    assert!(legacy_row(&app, &id).await.linked_user_id.is_some());
    app.stop().await;
}

async fn changing_to_an_old_address_binds_its_account(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = rp_of(&app, "seinajoki").await;
    let subject = app
        .add_user("seinajoki", "uusi@testi.fi", "pitkä salasana", "Uusi")
        .await;
    let id = import(
        &app,
        Old {
            tenant: "seinajoki",
            username: "vanha.tunnus",
            subject: "SJK-C1",
            email: Some("vanha@testi.fi"),
            hash: None,
            authority: false,
        },
    )
    .await;
    let browser = app.browser();
    let (started, _) = begin(&browser, &client).await;
    let back = rp::log_in(&browser, &started.url, "uusi@testi.fi", "pitkä salasana").await;
    let (_, access_token) = tokens_of(&client, started, &back).await;
    let page = browser
        .get(app.url("/seinajoki/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let sent = post(
        &app,
        &browser,
        "/seinajoki/account/email",
        &page,
        &[("email", "vanha@testi.fi"), ("password", "pitkä salasana")],
    )
    .await;
    assert_eq!(sent.status(), 200);
    let (_, confirm) = mailed_link(&app, 1, "/seinajoki/email/confirm?token=").await;
    let ask = browser
        .get(&confirm)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = param(&Url::parse(&confirm).unwrap(), "token").unwrap();
    let done = post(
        &app,
        &browser,
        "/seinajoki/email/confirm",
        &ask,
        &[("token", &token)],
    )
    .await;
    assert_eq!(done.status(), 200);
    // The link proved the address: its one old account is bound, the subject stays.
    assert!(legacy_row(&app, &id).await.linked_user_id.is_some());
    let info = userinfo(&app, "seinajoki", &access_token).await;
    assert_eq!(info["sub"], subject);
    assert_eq!(
        info["former_usernames"],
        serde_json::json!(["vanha.tunnus"])
    );
    assert_eq!(info["former_subjects"], serde_json::json!(["SJK-C1"]));
    assert!(
        audit_kinds(&app, "seinajoki")
            .await
            .contains(&"legacy.linked".to_string())
    );
    app.stop().await;
}

/// An old account whose hash costs more than a cap (bcrypt cost 15, imported by the real
/// import) is unusable: its first login goes the mailed link's way, and its hash is never run.
async fn an_old_hash_over_a_cost_cap_gets_the_link_and_is_never_run(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = rp_of(&app, "seinajoki").await;
    let export = "username,subject,email,password_hash,name,authority\n\
        kallis,SJK-15,kallis@testi.fi,$2b$15$cd/PVnsiDJWMgHzgjB6kau.clFYNpL7uSV7.RvpKRpDfZlfAkPTY2,,\n";
    let (store, config, now) = (
        app.services.store.clone(),
        app.services.config.clone(),
        app.clock.now(),
    );
    let summary = tokio::task::spawn_blocking(move || {
        let mut conn = store.conn().unwrap();
        let options = idp::flows::legacy_import::Options {
            tenant: config.tenant("seinajoki").unwrap(),
            format: idp::flows::legacy_import::Format::Csv,
            dry_run: false,
            source: "caps.csv",
        };
        idp::flows::legacy_import::import(&mut conn, export.as_bytes(), &options, now).unwrap()
    })
    .await
    .unwrap();
    assert_eq!((summary.imported, summary.over_cap), (1, 1));
    let browser = app.browser();
    let (started, login) = begin(&browser, &client).await;
    let (status, page) = identify(&app, &browser, &login, "kallis@testi.fi").await;
    assert_eq!(status, 200);
    assert!(page.contains("Sähköpostiisi on lähetetty linkki"), "{page}");
    let (_, link) = mailed_link(&app, 1, "/seinajoki/reset?token=").await;
    let done =
        set_password_by_link(&app, &browser, &link, "seinajoki", "uusi pitkä salasana").await;
    let (claims, _) = tokens_of(&client, started, &location(&done)).await;
    assert_eq!(claims["sub"], "SJK-15");
    app.stop().await;
}
