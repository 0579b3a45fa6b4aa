//! "My data": the account page's download of everything idp holds about the resident (a POST with
//! its CSRF token), and support's `idp users export`, which prints the same document.

use diesel::prelude::*;
use idp::store::schema::{
    audit_events, auth_codes, one_time_links, refresh_tokens, sso_sessions, totp_factors, users,
};
use reqwest::Client;
use serde_json::{Value, json};

use crate::both_stores;
use crate::helpers::authority::{self, USERNAME, authority_app, authority_id, seed_totp, steady};
use crate::helpers::journeys::{page, post_with_csrf, says, sign_in, submit_link};
use crate::helpers::{Backend, Old, TestApp, assert_has, tenant};
use crate::node::{failed_with, setup, succeeded, text};
use crate::rp::{self, location, param};

const PASSWORD: &str = "ainon vanha salasana";
const OTHER_PASSWORD: &str = "toisen oma salasana";
/// What the passkey row stores as its key (webauthn-rs's JSON in a real row).
const KEY_MATERIAL: &str = "PUBLIC-KEY-MATERIAL-pQECAyYgASFYIA";

/// Posts the download form of the account page `html` in `browser`: the answer.
async fn download(app: &TestApp, browser: &Client, html: &str) -> reqwest::Response {
    post_with_csrf(browser, app.url("/seinajoki/account/export"), html, &[]).await
}

/// The download of `browser`, which must be a JSON attachment that is not cached: its text.
async fn downloaded(app: &TestApp, browser: &Client, html: &str) -> String {
    let response = download(app, browser, html).await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    let day = app.now().format("%Y-%m-%d");
    assert_eq!(
        headers["content-disposition"],
        format!("attachment; filename=\"idp-export-seinajoki-{day}.json\"").as_str()
    );
    assert_eq!(headers["content-type"], "application/json; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-store");
    response.text().await.unwrap()
}

/// `idp users export --tenant seinajoki <who>` against the server's own configuration and
/// database.
async fn cli_export(app: &TestApp, who: &[&str]) -> std::process::Output {
    let args = [&["users", "export", "--tenant", "seinajoki"], who].concat();
    app.cli(&args).await
}

/// Asserts that the CLI's document `cli`, made after the download `web`, is the same but for
/// its time and the download's own `account.exported` event, last in its trail.
fn same_but_the_download(mut web: Value, mut cli: Value) {
    for document in [&mut web, &mut cli] {
        document
            .as_object_mut()
            .unwrap()
            .remove("exported_at")
            .unwrap();
    }
    let events = cli["audit_events"].as_array_mut().unwrap();
    let own = events.pop().unwrap();
    assert_eq!(own["kind"], "account.exported");
    assert_eq!(own["address"], "127.0.0.1");
    assert_eq!(own["detail"], Value::Null);
    assert_eq!(web, cli);
}

/// Logs `email` in through the third-party e-service `rp-third` in a fresh browser and consents.
async fn consent_to_third_party(app: &TestApp, email: &str, password: &str) {
    let redirect = "http://127.0.0.1:9/third-callback";
    let secret = Some("rp-third-secret");
    let client = rp::client(app, "seinajoki", "rp-third", secret, redirect).await;
    let browser = app.browser();
    let started = rp::start(&client, &["email"], &[]);
    let consent = rp::log_in(&browser, &started.url, email, password).await;
    assert_eq!(consent.path(), "/seinajoki/consent");
    let html = page(&browser, consent.clone()).await;
    let request = param(&consent, "request").unwrap();
    let fields = [("request", request.as_str()), ("decision", "approve")];
    let url = app.url("/seinajoki/consent");
    let approved = post_with_csrf(&browser, url, &html, &fields).await;
    rp::redeem(&client, started, &location(&approved)).await;
}

/// Inserts a passkey of the user `user_id` as a registration stores it.
pub(crate) async fn add_passkey(app: &TestApp, user_id: String) {
    let now = app.now();
    app.db_run(move |conn| {
        let row = idp::store::passkeys::PasskeyRow {
            id: "passkey-1".into(),
            tenant_id: "seinajoki".into(),
            user_id,
            credential_id: "Q1JFREVOVElBTC1JRA".into(),
            name: "Puhelin".into(),
            passkey: format!("{{\"cred\":{{\"key\":\"{KEY_MATERIAL}\"}}}}"),
            backup_eligible: true,
            created_at: now,
            last_used_at: None,
        };
        idp::store::passkeys::insert(conn, &row).unwrap();
    })
    .await;
}

/// Every secret and hash the database holds: password hashes (the accounts' and the old
/// accounts'), session cookie hashes, code, refresh token and link hashes, one-time code secrets.
async fn stored_secrets(app: &TestApp) -> Vec<String> {
    app.db_run(|conn| {
        let mut secrets: Vec<String> = users::table
            .select(users::password_hash)
            .load::<Option<String>>(conn)
            .unwrap()
            .into_iter()
            .flatten()
            .collect();
        let legacy = idp::store::schema::legacy_accounts::table
            .select(idp::store::schema::legacy_accounts::password_hash)
            .load::<Option<String>>(conn)
            .unwrap();
        secrets.extend(legacy.into_iter().flatten());
        let tables = [
            sso_sessions::table
                .select(sso_sessions::token_hash)
                .load::<String>(conn),
            auth_codes::table.select(auth_codes::code_hash).load(conn),
            refresh_tokens::table
                .select(refresh_tokens::token_hash)
                .load(conn),
            one_time_links::table
                .select(one_time_links::token_hash)
                .load(conn),
            totp_factors::table.select(totp_factors::secret).load(conn),
        ];
        for hashes in tables {
            secrets.extend(hashes.unwrap());
        }
        secrets
    })
    .await
}

/// The kinds of the audit events whose user is `user_id`, oldest first.
async fn kinds_of(app: &TestApp, user_id: String) -> Vec<String> {
    app.db_run(move |conn| {
        audit_events::table
            .filter(audit_events::user_id.eq(user_id))
            .order(audit_events::id.asc())
            .select(audit_events::kind)
            .load(conn)
            .unwrap()
    })
    .await
}

both_stores!(the_download_holds_the_residents_data_and_no_secret);
async fn the_download_holds_the_residents_data_and_no_secret(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // An old account, bound at the first login by its old password (seinajoki keeps it).
    let old_hash = bcrypt::hash(PASSWORD, 4).unwrap();
    let old = Old::new("seinajoki", "aino.vanha", "SJK-100").email("aino@testi.fi");
    app.import(old.hash(&old_hash)).await;
    // Another resident, with a consent, a grant and events of her own.
    app.add_user("seinajoki", "toinen@testi.fi", OTHER_PASSWORD, "Toinen")
        .await;
    consent_to_third_party(&app, "toinen@testi.fi", OTHER_PASSWORD).await;

    // Aino: an offline grant of the city's own e-service, a consent to a third party's.
    let basic = rp::basic(&app).await;
    let started = rp::start(&basic, &["offline_access"], &[]);
    let redeemed =
        rp::log_in_and_redeem(&app.browser(), &basic, started, "aino@testi.fi", PASSWORD).await;
    assert_eq!(redeemed.payload()["sub"], "SJK-100");
    consent_to_third_party(&app, "aino@testi.fi", PASSWORD).await;
    let aino = app.user_id("seinajoki", "aino@testi.fi").await;
    add_passkey(&app, aino.clone()).await;
    // A change of address, confirmed from its mail.
    let signed = sign_in(&app, "seinajoki", "aino@testi.fi", PASSWORD).await;
    let fields = [("email", "aino.uusi@testi.fi"), ("password", PASSWORD)];
    let url = app.url("/seinajoki/account/email");
    let asked = post_with_csrf(&signed.browser, url, &signed.page, &fields).await;
    says(asked, 200, "Lähetimme vahvistuslinkin uuteen osoitteeseen.").await;
    let link = app
        .newest_link(
            Some("aino.uusi@testi.fi"),
            "/seinajoki/email/confirm?token=",
        )
        .await;
    let form = page(&signed.browser, &link).await;
    let confirmed = submit_link(&signed.browser, &link, &form, &[]).await;
    says(confirmed, 200, "aino.uusi@testi.fi").await;

    // The page offers the download as a form, in the resident's language.
    let html = page(&signed.browser, app.url("/seinajoki/account")).await;
    assert_has(&html, "<h2 id=\"export-title\">Omat tietoni</h2>");
    assert_has(&html, "action=\"");
    assert_has(&html, "/seinajoki/account/export\">");
    assert_has(&html, ">Lataa tietoni</button>");
    let text = downloaded(&app, &signed.browser, &html).await;
    let document: Value = serde_json::from_str(&text).unwrap();

    assert_eq!(document["format"], "idp-export/1");
    assert_eq!(
        document["tenant"],
        json!({"id": "seinajoki", "name": app.services.config.tenant("seinajoki").unwrap().name})
    );
    let account = &document["account"];
    assert_eq!(account["subject"], "SJK-100");
    assert_eq!(account["email"], "aino.uusi@testi.fi");
    assert_eq!(account["email_verified"], true);
    // The linker gave the account the old username too.
    assert_eq!(account["username"], "aino.vanha");
    assert_eq!(account["authority_user"], false);
    assert_eq!(account["password_set"], true);
    let history = document["address_history"].as_array().unwrap();
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0]["change"], "changed");
    let old = &document["legacy_accounts"];
    assert_eq!(old.as_array().unwrap().len(), 1, "{old}");
    assert_eq!(old[0]["username"], "aino.vanha");
    assert_eq!(old[0]["subject"], "SJK-100");
    assert_eq!(old[0]["email"], "aino@testi.fi");
    assert!(old[0]["bound_at"].is_string(), "{old}");
    // Three logins: the e-service's, the third party's and the account page's.
    let sessions = document["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 3, "{sessions:?}");
    for session in sessions {
        assert_eq!(session["methods"], json!(["pwd"]));
        assert_eq!(session["ended_at"], Value::Null);
    }
    // The e-services, by client id; the other resident's consent and grant are not here.
    let services = document["e_services"].as_array().unwrap();
    let ids: Vec<&str> = services
        .iter()
        .map(|s| s["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["rp-basic", "rp-third"]);
    assert_eq!(services[0]["name"], "Basic RP");
    assert_eq!(services[0]["consent"], Value::Null);
    let grants = services[0]["grants"].as_array().unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0]["offline"], true);
    assert_eq!(grants[0]["scope"], "openid offline_access");
    assert_eq!(services[1]["name"], "Kolmannen osapuolen palvelu");
    assert_eq!(services[1]["consent"]["scope"], "openid email");
    assert_eq!(services[1]["grants"].as_array().unwrap().len(), 1);
    assert_eq!(services[1]["grants"][0]["offline"], false);
    let passkeys = &document["passkeys"];
    assert_eq!(
        passkeys,
        &json!([{
            "name": "Puhelin",
            "synced": true,
            "created_at": passkeys[0]["created_at"],
            "last_used_at": null,
        }])
    );
    assert_eq!(
        document["second_factors"],
        json!({"one_time_code": null, "unused_recovery_codes": 0})
    );
    // The undo link to the old address; the confirmation link to the new one is left out (whether
    // one was written tells whether an address has another account).
    let links: Vec<(&str, &str, bool)> = document["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let purpose = l["purpose"].as_str().unwrap();
            (
                purpose,
                l["sent_to"].as_str().unwrap(),
                l["used_at"].is_null(),
            )
        })
        .collect();
    assert_eq!(links, [("undo_email_change", "aino@testi.fi", true)]);
    let mails: Vec<&Value> = document["mails"].as_array().unwrap().iter().collect();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(document["deletion"], Value::Null, "no deletion asked for");
    assert_eq!(mails[0]["kind"], "verify_email");
    // Every event of this account's but the download's own, written after it, and no other.
    let events = document["audit_events"].as_array().unwrap();
    let mut kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    kinds.push("account.exported");
    assert_eq!(kinds, kinds_of(&app, aino.clone()).await);
    for kind in [
        "legacy.linked",
        "login.succeeded",
        "token.issued",
        "email.change_requested",
        "email.changed",
    ] {
        assert!(kinds.contains(&kind), "{kind}: {kinds:?}");
    }
    let linked = events
        .iter()
        .find(|e| e["kind"] == "legacy.linked")
        .unwrap();
    assert_eq!(linked["detail"]["username"], "aino.vanha");
    let issued = events.iter().find(|e| e["kind"] == "token.issued").unwrap();
    assert_eq!(issued["client_id"], "rp-basic");
    assert_eq!(issued["address"], "127.0.0.1");
    let other = app.user_by_email("seinajoki", "toinen@testi.fi").await;
    assert!(!kinds_of(&app, other.id.clone()).await.is_empty());
    for foreign in ["toinen@testi.fi", "Toinen", other.subject.as_str()] {
        assert!(!text.contains(foreign), "{foreign}");
    }
    // No secret, no hash of one.
    let secrets = stored_secrets(&app).await;
    assert!(secrets.len() > 10, "{secrets:?}");
    for secret in secrets.iter().map(String::as_str).chain([
        KEY_MATERIAL,
        "Q1JFREVOVElBTC1JRA",
        old_hash.as_str(),
        "$argon2id$",
        "$2b$",
    ]) {
        assert!(!text.contains(secret), "{secret}");
    }
    let downloads = app.audited("seinajoki", "account.exported").await;
    assert_eq!(downloads.len(), 1);
    assert_eq!(downloads[0].user_id.as_deref(), Some(aino.as_str()));
    assert_eq!(downloads[0].detail, None);

    // Support's export of the same resident is the same document.
    let out = cli_export(&app, &["--email", "AINO.UUSI@testi.fi"]).await;
    let cli: Value = serde_json::from_str(&succeeded(&out)).unwrap();
    same_but_the_download(document, cli);
    let by_support = app.audited("seinajoki", "account.exported").await;
    assert_eq!(by_support.len(), 2);
    assert_eq!(by_support[1].user_id.as_deref(), Some(aino.as_str()));
    assert_eq!(by_support[1].detail.as_deref(), Some("{\"by\":\"cli\"}"));
    app.stop().await;
}

/// What `after`, an export made later than `before`, adds to its links, mails and audit events,
/// without their times.
fn added(before: &Value, after: &Value) -> Value {
    let mut added = serde_json::Map::new();
    for part in ["links", "mails", "audit_events"] {
        let seen = before[part].as_array().unwrap().len();
        let new: Vec<Value> = after[part].as_array().unwrap()[seen..]
            .iter()
            .map(|item| {
                let mut item = item.clone();
                for time in ["at", "sent_at", "expires_at", "used_at", "written_at"] {
                    item.as_object_mut().unwrap().remove(time);
                }
                item
            })
            .collect();
        added.insert(part.to_string(), Value::Array(new));
    }
    Value::Object(added)
}

both_stores!(the_export_does_not_tell_whether_an_asked_address_has_an_account);
async fn the_export_does_not_tell_whether_an_asked_address_has_an_account(backend: Backend) {
    let app = TestApp::with_user(backend, "aino@testi.fi", PASSWORD, "Aino").await;
    app.add_user("seinajoki", "toinen@testi.fi", OTHER_PASSWORD, "Toinen")
        .await;
    let signed = sign_in(&app, "seinajoki", "aino@testi.fi", PASSWORD).await;
    let export = async || -> Value {
        let text = downloaded(&app, &signed.browser, &signed.page).await;
        serde_json::from_str(&text).unwrap()
    };
    // Asks four times for `address`: three mails to one address, then its mail limit.
    let ask = async |address: &str| {
        for _ in 0..4 {
            let fields = [("email", address), ("password", PASSWORD)];
            let url = app.url("/seinajoki/account/email");
            let asked = post_with_csrf(&signed.browser, url, &signed.page, &fields).await;
            says(asked, 200, "Lähetimme vahvistuslinkin uuteen osoitteeseen.").await;
        }
    };
    let before = export().await;
    ask("toinen@testi.fi").await;
    let taken = export().await;
    ask("vapaa@testi.fi").await;
    let free = export().await;
    assert_eq!(app.mails_to("vapaa@testi.fi").len(), 3);
    assert!(app.mails_to("toinen@testi.fi").is_empty());

    let (of_taken, of_free) = (added(&before, &taken), added(&taken, &free));
    assert_eq!(of_taken, of_free, "the export tells a taken address apart");
    let kinds: Vec<&str> = of_free["audit_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    let asked = "email.change_requested";
    assert_eq!(
        kinds,
        [
            "account.exported",
            asked,
            asked,
            asked,
            asked,
            "mail.limited"
        ]
    );
    assert_eq!(of_free["audit_events"][1]["detail"], Value::Null);
    assert_eq!(of_free["links"], json!([]));
    // The trail keeps it for the operator.
    let details = app.audit_details("seinajoki", asked).await;
    let taken: Vec<bool> = details.iter().map(|d| d["taken"] == true).collect();
    assert_eq!(taken, [true, true, true, true, false, false, false, false]);
    app.stop().await;
}

both_stores!(an_authority_users_download_tells_of_the_second_factor_not_its_secret);
async fn an_authority_users_download_tells_of_the_second_factor_not_its_secret(backend: Backend) {
    let app = authority_app(backend, "required").await;
    let secret = seed_totp(&app).await;
    let user_id = authority_id(&app).await;
    let now = app.now();
    let hashes: Vec<String> = (0..10).map(|i| format!("recovery-hash-{i}")).collect();
    let used = hashes[0].clone();
    app.db_run(move |conn| {
        let t = tenant("seinajoki");
        idp::store::second_factors::set_recovery_codes(conn, t, &user_id, &hashes, now).unwrap();
        assert!(
            idp::store::second_factors::use_recovery_code(conn, t, &user_id, &used, now).unwrap()
        );
    })
    .await;
    steady(&app);
    let (browser, html) = authority::account(&app, Some(&secret)).await;
    let text = downloaded(&app, &browser, &html).await;
    let document: Value = serde_json::from_str(&text).unwrap();
    let account = &document["account"];
    assert_eq!(account["username"], USERNAME);
    assert_eq!(account["email"], Value::Null);
    assert_eq!(account["authority_user"], true);
    let factors = &document["second_factors"];
    assert!(
        factors["one_time_code"]["set_up_at"].is_string(),
        "{factors}"
    );
    assert_eq!(factors["unused_recovery_codes"], 9);
    let sessions = document["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["methods"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(sessions[0]["assurance"], "urn:idp:acr:mfa");
    for secret in stored_secrets(&app)
        .await
        .iter()
        .map(String::as_str)
        .chain([secret.base32().as_str(), "recovery-hash-"])
    {
        assert!(!text.contains(secret), "{secret}");
    }

    // Support names an authority user by the username, in any case.
    let out = cli_export(&app, &["--username", "VIRKAILIJA"]).await;
    let cli: Value = serde_json::from_str(&succeeded(&out)).unwrap();
    same_but_the_download(document, cli);
    app.stop().await;
}

both_stores!(the_download_is_a_post_of_the_account_pages_form);
async fn the_download_is_a_post_of_the_account_pages_form(backend: Backend) {
    let app = TestApp::with_user(backend, "erkki@testi.fi", PASSWORD, "Erkki").await;
    let signed = sign_in(&app, "seinajoki", "erkki@testi.fi", PASSWORD).await;
    let url = app.url("/seinajoki/account/export");
    // A link cannot download it (another site's page could make the browser follow one): it
    // shows the account page.
    let got = signed.browser.get(&url).send().await.unwrap();
    assert_eq!(got.headers().get("content-disposition"), None);
    let body = says(got, 200, ">Lataa tietoni</button>").await;
    assert!(!body.contains("idp-export"), "{body}");
    // A form without this browser's CSRF token gets the error page.
    for token in [None, Some("väärä")] {
        let form: Vec<(&str, &str)> = token.map(|t| ("csrf", t)).into_iter().collect();
        let posted = signed.browser.post(&url).form(&form).send().await.unwrap();
        says(posted, 400, "Pyyntö ei ole kelvollinen.").await;
    }
    assert!(
        app.audited("seinajoki", "account.exported")
            .await
            .is_empty()
    );
    // Without a session the form leads to the login, which comes back to the account page.
    let stranger = app.browser();
    let account = stranger.get(app.url("/seinajoki/account")).send().await;
    let html = page(&stranger, location(&account.unwrap())).await;
    let login = location(&download(&app, &stranger, &html).await);
    assert_eq!(login.path(), "/seinajoki/login");
    // In Swedish and English.
    for (language, title, button) in [
        ("sv", "Mina uppgifter", "Ladda ner mina uppgifter"),
        ("en", "My data", "Download my data"),
    ] {
        let request = signed.browser.get(app.url("/seinajoki/account"));
        let html = page_in(request, language).await;
        assert_has(&html, &format!("<h2 id=\"export-title\">{title}</h2>"));
        assert_has(&html, &format!(">{button}</button>"));
    }
    app.stop().await;
}

/// The page `request` gets with `Accept-Language: language`.
async fn page_in(request: reqwest::RequestBuilder, language: &str) -> String {
    let response = request
        .header("Accept-Language", language)
        .send()
        .await
        .unwrap();
    response.text().await.unwrap()
}

both_stores!(support_is_told_of_an_unknown_user);
async fn support_is_told_of_an_unknown_user(backend: Backend) {
    let s = setup(backend);
    let export = ["users", "export", "--tenant", "seinajoki"];
    for (who, expected) in [
        (
            &["--email", "ei.ole@testi.fi"][..],
            "error: no user with the address ei.ole@testi.fi in tenant seinajoki\n",
        ),
        (
            &["--username", "ei-ole"][..],
            "error: no user \"ei-ole\" in tenant seinajoki\n",
        ),
        (
            &["--email", "ei osoite"][..],
            "error: \"ei osoite\" is not a mail address\n",
        ),
    ] {
        let out = s.idp(&[&export[..], who].concat());
        failed_with(&out, 1, expected);
        assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    }
    let unknown = s.idp(&[
        "users",
        "export",
        "--tenant",
        "tampere",
        "--email",
        "a@testi.fi",
    ]);
    failed_with(
        &unknown,
        1,
        "error: unknown tenant \"tampere\" (configured: kouvola, seinajoki)\n",
    );
    // Whose data must be said, once.
    let neither = s.idp(&export);
    assert_eq!(neither.status.code(), Some(2), "{}", text(&neither.stderr));
    let both = s.idp(&[&export[..], &["--email", "a@testi.fi", "--username", "a"]].concat());
    assert_eq!(both.status.code(), Some(2), "{}", text(&both.stderr));
    drop(s.dir);
}

both_stores!(support_s_export_tells_of_a_deletion_under_way);
/// While a deletion the resident asked for waits for its grace period (the account disabled, no
/// login), support's export says so: when it was asked, by whom, and when the account will be
/// erased. Undone, it is gone from the export.
async fn support_s_export_tells_of_a_deletion_under_way(backend: Backend) {
    let app = TestApp::with_user(backend, "erkki@testi.fi", PASSWORD, "Erkki").await;
    let signed = sign_in(&app, "seinajoki", "erkki@testi.fi", PASSWORD).await;
    let asked_at = app.now();
    let (status, text, _) = crate::deletion::delete(&app, &signed, PASSWORD).await;
    assert_eq!(status, 200, "{text}");
    let out = cli_export(&app, &["--email", "erkki@testi.fi"]).await;
    let document: Value = serde_json::from_str(&succeeded(&out)).unwrap();
    let deletion = &document["deletion"];
    let at = |name: &str| {
        let text = deletion[name]
            .as_str()
            .unwrap_or_else(|| panic!("{deletion}"));
        chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%SZ").unwrap()
    };
    let asked = at("requested_at");
    let second = chrono::Duration::seconds(1);
    assert!(
        asked_at - second <= asked && asked <= app.now(),
        "{deletion}"
    );
    assert_eq!(at("erase_at"), asked + chrono::Duration::days(14));
    assert_eq!(deletion["requested_by"], "resident");
    assert_eq!(deletion.as_object().unwrap().len(), 3, "{deletion}");
    assert_eq!(document["account"]["disabled"], true);
    let link = app
        .newest_link(Some("erkki@testi.fi"), crate::deletion::UNDO_PATH)
        .await;
    let (_, (status, text)) = crate::deletion::undo(&app, &link).await;
    assert_eq!(status, 200, "{text}");
    let out = cli_export(&app, &["--email", "erkki@testi.fi"]).await;
    let document: Value = serde_json::from_str(&succeeded(&out)).unwrap();
    assert_eq!(document["deletion"], Value::Null);
    app.stop().await;
}

both_stores!(the_export_reads_one_moment);
/// What the export reads it reads in one transaction (`store::read_transaction`): a change
/// committed in between is not half in it.
async fn the_export_reads_one_moment(backend: Backend) {
    let app = TestApp::with_user(backend, "erkki@testi.fi", PASSWORD, "Erkki").await;
    let id = app.user_id("seinajoki", "erkki@testi.fi").await;
    let (store, now) = (app.services.store.clone(), app.now());
    tokio::task::spawn_blocking(move || {
        use idp::store::{StoreError, read_transaction, users, write_transaction};
        let t = tenant("seinajoki");
        let (mut reader, mut writer) = (store.conn().unwrap(), store.conn().unwrap());
        let name = |conn: &mut idp::store::DbConnection| {
            users::find(conn, t, &id).unwrap().unwrap().name.unwrap()
        };
        read_transaction(&mut reader, |conn| {
            let before = name(conn);
            write_transaction(&mut writer, |w| {
                users::set_name(w, t, &id, Some("Uusi"), now)
            })?;
            assert_eq!(name(&mut writer), "Uusi");
            assert_eq!(name(conn), before, "the same moment");
            Ok::<_, StoreError>(())
        })
        .unwrap();
        assert_eq!(name(&mut reader), "Uusi");
    })
    .await
    .unwrap();
    app.stop().await;
}
