//! Deleting the account (GDPR Art. 17): the request on the account page after the current
//! password (every session ended, every grant revoked, the e-services told by back-channel
//! logout), the undo from the mail file, and the erasure by the expiry clean-up once the grace
//! period has run out on the injected clock: nothing personal left, the subject kept as a
//! tombstone and never issued again, the audit trail pseudonymised.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use idp::store::schema::{
    account_deletions, audit_events, consents, grants, legacy_accounts, login_throttle,
    mail_outbox, one_time_links, passkeys, sso_sessions, users,
};

use crate::account_sessions::support::{
    PASSWORD, app_client, app_tokens, app_with_receiver, erkki_in_firefox, logout_claims, refresh,
    signed_in,
};
use crate::both_stores;
use crate::helpers::journeys::{
    Login, SignedIn, answer, page, post_with_csrf, says, set_password, sign_in, submit_link,
};
use crate::helpers::{Backend, Old, TestApp, assert_has};
use crate::oidc_backchannel::wait_for;
use crate::rp::{self, location};

/// The link of the undo mail.
pub(crate) const UNDO_PATH: &str = "/seinajoki/account/undo-deletion?token=";

/// Opens the deletion page in `signed`'s browser and posts it with `password`: (status, text,
/// whether the answer cleared the session cookie).
pub async fn delete(app: &TestApp, signed: &SignedIn, password: &str) -> (u16, String, bool) {
    let form = page(&signed.browser, app.url("/seinajoki/account/delete")).await;
    let fields = [("password", password)];
    let url = app.url("/seinajoki/account/delete");
    let response = post_with_csrf(&signed.browser, url, &form, &fields).await;
    let cleared = response.headers().get_all("set-cookie").iter().any(|c| {
        c.to_str().unwrap().contains("session") && c.to_str().unwrap().contains("Max-Age=0")
    });
    let (status, text) = answer(response).await;
    (status, text, cleared)
}

/// Whether the user `id` is disabled.
async fn disabled(app: &TestApp, id: &str) -> bool {
    let id = id.to_string();
    app.db_run(move |conn| {
        users::table
            .find(id)
            .select(users::disabled)
            .get_result(conn)
            .unwrap()
    })
    .await
}

/// Follows the undo `link` in a fresh browser: its question page, then the answer to its form.
pub(crate) async fn undo(app: &TestApp, link: &str) -> (String, (u16, String)) {
    let browser = app.browser();
    let asked = page(&browser, link).await;
    let url = app.url("/seinajoki/account/undo-deletion");
    let token = link.split("token=").nth(1).unwrap();
    let answered = post_with_csrf(&browser, url, &asked, &[("token", token)]).await;
    (asked, answer(answered).await)
}

/// When an account deleted now is erased (14 days on), as the Finnish pages and mails write it:
/// the day and the time of day in Helsinki.
pub(crate) fn erased_at(app: &TestApp) -> String {
    let at = crate::helpers::helsinki(app.now() + chrono::Duration::days(14));
    at.format("%-d.%-m.%Y klo %H.%M").to_string()
}

both_stores!(a_deletion_ends_everything_and_its_mailed_link_undoes_it);
/// The page, the mail and the link's page name the moment of the erasure to the minute (the
/// undo link expires then, not at the end of that day: a day alone told the resident he had
/// until midnight).
async fn a_deletion_ends_everything_and_its_mailed_link_undoes_it(backend: Backend) {
    let (app, receiver, handle) = app_with_receiver(backend).await;
    // Erkki gave the library app offline access in one browser, and opens his account page in
    // another.
    let phone = app.browser();
    let tokens = app_tokens(&app, &phone, "erkki@testi.fi").await;
    let subject = tokens.payload()["sub"].as_str().unwrap().to_string();
    let signed = erkki_in_firefox(&app).await;
    assert_has(&signed.page, "<h2 id=\"deletion-title\">Poista tili</h2>");
    let erkki = app.user_id("seinajoki", "erkki@testi.fi").await;

    // The page says what happens; a wrong password deletes nothing and says so.
    let form = page(&signed.browser, app.url("/seinajoki/account/delete")).await;
    assert_has(
        &form,
        "Lähetämme osoitteeseesi linkin, jolla voit perua poiston 14 päivän ajan.",
    );
    let (status, text, cleared) = delete(&app, &signed, "väärä salasana").await;
    assert_eq!(status, 422);
    assert_has(
        &text,
        "<p id=\"deletion-error\" class=\"error\" role=\"alert\">Nykyinen salasana on väärin.</p>",
    );
    assert!(!cleared);
    assert!(!disabled(&app, &erkki).await);
    let failed = app.audit_details("seinajoki", "login.failed").await;
    assert_eq!(failed.last().unwrap()["check"], "account.delete");

    // The current password: the account goes, this browser is signed out.
    let (status, text, cleared) = delete(&app, &signed, PASSWORD).await;
    assert_eq!(status, 200, "{text}");
    let date = erased_at(&app);
    assert_has(
        &text,
        &format!("Tilisi poistetaan pysyvästi {date}. Kaikki kirjautumisesi on päätetty."),
    );
    assert!(cleared, "the session cookie is removed");
    assert!(disabled(&app, &erkki).await);
    assert!(!signed_in(&app, &signed.browser).await);
    assert!(!signed_in(&app, &phone).await, "every session ended");
    // The library app is told, and its refresh token is dead.
    wait_for(&receiver, 1, &app).await;
    let claims = logout_claims(&receiver.bodies.lock().unwrap()[0]);
    assert_eq!(claims["sub"], subject.as_str());
    let library = app_client(&app).await;
    let refused = refresh(&library, &tokens.refresh_token())
        .await
        .unwrap_err();
    assert_has(&refused, "invalid_grant");
    let kept = app
        .db_run({
            let erkki = erkki.clone();
            move |conn| {
                consents::table
                    .filter(consents::user_id.eq(erkki))
                    .count()
                    .get_result::<i64>(conn)
                    .unwrap()
            }
        })
        .await;
    assert_eq!(kept, 0, "the consent went");
    assert_eq!(
        app.audit_details("seinajoki", "account.deletion_requested")
            .await,
        [serde_json::json!({ "by": "resident" })]
    );

    // During the grace period the account cannot log in: the page says why.
    let client = rp::basic(&app).await;
    let login = Login::fresh(&app, &client).await;
    let during = login.submit("erkki@testi.fi", PASSWORD, false).await;
    says(
        during,
        403,
        &format!("Tämä tili on poistettavana. Osoitteeseesi lähettämämme linkki peruu poiston {date} asti."),
    )
    .await;
    // A wrong password there says only what it always says.
    let login = Login::fresh(&app, &client).await;
    let wrong = login
        .submit("erkki@testi.fi", "väärä salasana", false)
        .await;
    let (_, wrong) = answer(wrong).await;
    assert!(!wrong.contains("poistettavana"), "{wrong}");

    // The mail to the account's address; its link asks first (a mail scanner's GET does
    // nothing), then brings the account back.
    let mails = app.mails_to("erkki@testi.fi");
    let mail = mails
        .iter()
        .find(|m| m.contains("Subject: Tilisi poistetaan"))
        .unwrap();
    assert_has(mail, &format!("poistetaan pysyvästi {date}"));
    let link = app.newest_link(Some("erkki@testi.fi"), UNDO_PATH).await;
    let (asked, (status, text)) = undo(&app, &link).await;
    assert_has(
        &asked,
        &format!("Palautetaanko tilisi? Muuten se poistetaan pysyvästi {date}."),
    );
    assert_eq!(status, 200, "{text}");
    assert_has(&text, "Tilisi on palautettu.");
    assert!(!disabled(&app, &erkki).await);
    assert_eq!(
        app.audit_kinds("seinajoki")
            .await
            .iter()
            .filter(|k| k.starts_with("account.deletion"))
            .collect::<Vec<_>>(),
        ["account.deletion_requested", "account.deletion_undone"]
    );
    // Used once.
    let (_, (status, text)) = undo(&app, &link).await;
    assert_eq!(status, 410);
    assert_has(
        &text,
        "Linkki on vanhentunut tai jo käytetty. Pyydä uusi linkki.",
    );
    crate::helpers::journeys::assert_links(&app, &text, "/seinajoki/account", "Kirjaudu sisään");
    // He logs in again; nothing of before came back.
    let again = sign_in(&app, "seinajoki", "erkki@testi.fi", PASSWORD).await;
    assert_has(&again.page, "erkki@testi.fi");
    let still = refresh(&library, &tokens.refresh_token()).await;
    assert!(still.is_err(), "the grants are not restored");
    // The clean-up erases nothing once the deletion is undone.
    app.clock.advance(15 * 24 * 3600);
    app.services.purge_expired().await.unwrap();
    assert_eq!(
        app.user_by_email("seinajoki", "erkki@testi.fi").await.id,
        erkki
    );
    handle.stop(true).await;
    app.stop().await;
}

/// Where `needle` is still found ([`mentions`] with a count above nought).
async fn still_named(app: &TestApp, needle: &str) -> Vec<(&'static str, i64)> {
    let found = mentions(app, needle).await;
    found.into_iter().filter(|(_, n)| *n > 0).collect()
}

/// How many rows of the text columns that could hold personal data contain `needle`.
async fn mentions(app: &TestApp, needle: &str) -> Vec<(&'static str, i64)> {
    let like = format!("%{needle}%");
    app.db_run(move |conn| {
        macro_rules! count {
            ($($table:ident . $column:ident),* $(,)?) => {
                vec![$(
                    (
                        concat!(stringify!($table), ".", stringify!($column)),
                        $table::table
                            .filter($table::$column.like(&like))
                            .count()
                            .get_result::<i64>(conn)
                            .unwrap(),
                    ),
                )*]
            };
        }
        count!(
            users.email,
            users.email_normalized,
            users.username,
            users.name,
            legacy_accounts.username,
            legacy_accounts.email,
            legacy_accounts.email_normalized,
            legacy_accounts.exported_email_normalized,
            legacy_accounts.name,
            one_time_links.email,
            mail_outbox.to_address,
            mail_outbox.body_text,
            login_throttle.throttle_key,
            audit_events.detail,
            audit_events.user_id,
        )
    })
    .await
}

/// How many rows of the tables keyed by the user hold `user_id`'s.
async fn rows_of(app: &TestApp, user_id: &str) -> [i64; 5] {
    let id = user_id.to_string();
    app.db_run(move |conn| {
        [
            sso_sessions::table
                .filter(sso_sessions::user_id.eq(&id))
                .count()
                .get_result(conn)
                .unwrap(),
            grants::table
                .filter(grants::user_id.eq(&id))
                .count()
                .get_result(conn)
                .unwrap(),
            passkeys::table
                .filter(passkeys::user_id.eq(&id))
                .count()
                .get_result(conn)
                .unwrap(),
            one_time_links::table
                .filter(one_time_links::user_id.eq(&id))
                .count()
                .get_result(conn)
                .unwrap(),
            audit_events::table
                .filter(audit_events::user_id.eq(&id))
                .count()
                .get_result(conn)
                .unwrap(),
        ]
    })
    .await
}

both_stores!(after_the_grace_period_the_account_is_erased_and_its_subject_never_reissued);
async fn after_the_grace_period_the_account_is_erased_and_its_subject_never_reissued(
    backend: Backend,
) {
    let app = TestApp::with_tenant_toml(backend, "\n[deletion]\nundo_days = 3\n").await;
    // Aino's old account is bound at her first login by its old password: her subject is the
    // old one.
    let old_hash = bcrypt::hash(PASSWORD, 4).unwrap();
    let old = Old::new("seinajoki", "aino.vanha", "SJK-100").email("Aino@Testi.fi");
    app.import(old.hash(&old_hash)).await;
    let basic = rp::basic(&app).await;
    let login = Login::fresh(&app, &basic).await;
    login.submit("aino@testi.fi", "väärä", false).await;
    let back = location(&login.submit("aino@testi.fi", PASSWORD, false).await);
    let redeemed = login.redeem(&basic, &back).await;
    assert_eq!(redeemed.payload()["sub"], "SJK-100");
    let aino = app.user_id("seinajoki", "aino@testi.fi").await;
    crate::export::add_passkey(&app, aino.clone()).await;
    let signed = sign_in(&app, "seinajoki", "aino@testi.fi", PASSWORD).await;
    let (status, _, _) = delete(&app, &signed, PASSWORD).await;
    assert_eq!(status, 200);
    app.wait_for_mails(1).await;

    // Within the grace period the clean-up erases nothing.
    app.clock.advance(2 * 24 * 3600);
    app.services.purge_expired().await.unwrap();
    assert!(mentions(&app, "aino").await.iter().any(|(_, n)| *n > 0));

    // Its old account bound by a node older than 2026-12-10 kept the address as the export
    // gave it (a bind clears it now): the erasure clears it too.
    app.db_run(|conn| {
        diesel::update(legacy_accounts::table.filter(legacy_accounts::subject.eq("SJK-100")))
            .set(legacy_accounts::exported_email_normalized.eq("aino.vanha@testi.fi"))
            .execute(conn)
            .unwrap()
    })
    .await;
    // Past it, the account is erased: a tombstone of its subject, nothing personal.
    app.clock.advance(24 * 3600 + 60);
    let purged = app.services.purge_expired().await.unwrap();
    assert!(purged.ran && purged.rows > 0);
    assert_eq!(purged.erased, 1);
    for needle in ["aino", "Aino", "SJK-100\",\"email"] {
        let left = still_named(&app, needle).await;
        assert!(left.is_empty(), "{needle} is still in {left:?}");
    }
    // On SQLite not in the file's free space or its WAL either (PostgreSQL: docs/privacy.md).
    if let idp::config::DatabaseBackend::Sqlite(path) = &app.db.backend {
        let bytes = file_bytes(path);
        for needle in ["aino@testi.fi", "Aino@Testi.fi", "aino.vanha"] {
            assert!(!holds(&bytes, needle), "{needle} is still in the file");
        }
    }
    assert_eq!(rows_of(&app, &aino).await, [0, 0, 0, 0, 0]);
    // The tombstone is under a new random id: the old one was made from the account's creation
    // time (a UUIDv7), the time of its first event in the trail.
    let tombstone = app
        .db_run(move |conn| {
            users::table
                .filter(users::subject.eq("SJK-100"))
                .select(idp::store::users::UserRow::as_select())
                .get_result(conn)
                .unwrap()
        })
        .await;
    let gone = format!("SELECT count(*) AS n FROM users WHERE id = '{aino}'");
    assert_eq!(app.count(&gone).await, 0);
    let new_id = uuid::Uuid::parse_str(&tombstone.id).unwrap();
    assert_eq!(new_id.get_version_num(), 4);
    let aino = tombstone.id.clone();
    // On SQLite not by its place either: the tombstone and the erased deletion have random
    // negative rowids, not the next in line (which ordered them as the trail's erasures and
    // requests), nor one that the rows after them count on from.
    if matches!(backend, Backend::Sqlite) {
        for (table, key) in [("users", "id"), ("account_deletions", "user_id")] {
            let sql = format!("SELECT rowid AS n FROM {table} WHERE {key} = '{aino}'");
            assert!(app.count(&sql).await < -(1 << 32), "{table}");
        }
    }
    assert!(tombstone.disabled);
    assert_eq!(
        (
            tombstone.email,
            tombstone.username,
            tombstone.name,
            tombstone.password_hash
        ),
        (None, None, None, None)
    );
    let erased_at = {
        let id = aino.clone();
        app.db_run(move |conn| {
            account_deletions::table
                .find(id)
                .select(account_deletions::erased_at)
                .get_result::<Option<chrono::NaiveDateTime>>(conn)
                .unwrap()
        })
        .await
    };
    // Every time the tombstones keep is one constant: each equalled the time of an event in
    // the trail (`user.registered`, `legacy.linked`, `account.deletion_requested`,
    // `account.erased`), and a join on them named the subject behind the pseudonym.
    let blurred = idp::store::erasure::TOMBSTONE_TIME;
    assert_eq!(erased_at, Some(blurred));
    assert_eq!(
        (tombstone.created_at, tombstone.updated_at),
        (blurred, blurred)
    );
    let times = {
        let id = aino.clone();
        app.db_run(move |conn| {
            let deletion = account_deletions::table
                .find(id)
                .select((account_deletions::requested_at, account_deletions::erase_at))
                .get_result::<(chrono::NaiveDateTime, chrono::NaiveDateTime)>(conn)
                .unwrap();
            let old = legacy_accounts::table
                .filter(legacy_accounts::subject.eq("SJK-100"))
                .select((
                    legacy_accounts::imported_at,
                    legacy_accounts::linked_at,
                    legacy_accounts::updated_at,
                ))
                .get_result::<(
                    chrono::NaiveDateTime,
                    Option<chrono::NaiveDateTime>,
                    chrono::NaiveDateTime,
                )>(conn)
                .unwrap();
            (deletion, old)
        })
        .await
    };
    assert_eq!(
        times,
        ((blurred, blurred), (blurred, Some(blurred), blurred))
    );
    // The old account stays bound to the tombstone, under a random name, without its address
    // and hash.
    let old_row = app
        .db_run(|conn| {
            legacy_accounts::table
                .filter(legacy_accounts::subject.eq("SJK-100"))
                .select(idp::store::legacy::LegacyRow::as_select())
                .get_result(conn)
                .unwrap()
        })
        .await;
    assert!(
        old_row.username.starts_with("erased-"),
        "{}",
        old_row.username
    );
    assert_eq!(old_row.linked_user_id.as_deref(), Some(aino.as_str()));
    assert_eq!((old_row.email, old_row.password_hash), (None, None));
    // The trail: every event about her now names a pseudonym, without client address.
    let erased = app.audited("seinajoki", "account.erased").await;
    let pseudonym = erased[0].user_id.clone().unwrap();
    assert!(pseudonym.starts_with("erased-"), "{pseudonym}");
    let trail = {
        let pseudonym = pseudonym.clone();
        app.db_run(move |conn| {
            audit_events::table
                .filter(audit_events::user_id.eq(pseudonym))
                .order(audit_events::id.asc())
                .select((audit_events::kind, audit_events::remote_addr))
                .load::<(String, Option<String>)>(conn)
                .unwrap()
        })
        .await
    };
    let kinds: Vec<&str> = trail.iter().map(|(k, _)| k.as_str()).collect();
    assert!(kinds.contains(&"account.deletion_requested"), "{kinds:?}");
    assert!(kinds.len() > 3, "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"account.erased"));
    assert!(
        trail.iter().all(|(_, address)| address.is_none()),
        "{trail:?}"
    );
    // A second round erases nothing more.
    app.services.purge_expired().await.unwrap();
    assert_eq!(app.audited("seinajoki", "account.erased").await.len(), 1);

    // The address is free: a new account there has a new subject.
    let new_id = app
        .add_user("seinajoki", "aino@testi.fi", "uusi salasana 123", "Aino")
        .await;
    assert_ne!(new_id, aino);
    let fresh = app.user_by_email("seinajoki", "aino@testi.fi").await;
    assert_ne!(fresh.subject, "SJK-100");
    // A re-import of the old account cannot bring the erased subject back.
    let csv = "username,subject,email,password_hash,name,authority\n\
               aino.vanha,SJK-100,aino@testi.fi,,Aino,\n";
    let report = app
        .import_csv("seinajoki", "again.csv", csv.into())
        .await
        .to_string();
    assert_has(&report, "rejected rows: 1\n");
    assert_has(
        &report,
        "line 2: subject \"SJK-100\" belonged to an account erased at its owner's request; it \
         is never issued again",
    );
    let subjects: Vec<String> = app
        .db_run(|conn| {
            legacy_accounts::table
                .select(legacy_accounts::subject)
                .load(conn)
                .unwrap()
        })
        .await;
    assert_eq!(subjects, ["SJK-100"]);

    // Ville binds his old account at Kouvola (email-link) by the mailed link: the link's event
    // has no user, so it is not pseudonymised, and names the old account by its id alone.
    let kouvola = rp::basic_of(&app, "kouvola").await;
    let old = Old::new("kouvola", "ville.vanha", "KVL-7").email("ville@testi.fi");
    let ville_old = app.import(old.hash(&old_hash)).await;
    let login = Login::fresh(&app, &kouvola).await;
    let (status, _) = login.identify("ville@testi.fi").await;
    assert_eq!(status, 200);
    let link = app
        .newest_link(Some("ville@testi.fi"), "/kouvola/reset?token=")
        .await;
    let done = set_password(&login.browser, &link, "villen uusi salasana").await;
    assert_eq!(done.status(), 303);
    assert!(app.bound_to(&ville_old).await.is_some());
    let signed = sign_in(&app, "kouvola", "ville@testi.fi", "villen uusi salasana").await;
    let form = page(&signed.browser, app.url("/kouvola/account/delete")).await;
    let url = app.url("/kouvola/account/delete");
    let fields = [("password", "villen uusi salasana")];
    let asked = post_with_csrf(&signed.browser, url, &form, &fields).await;
    assert_eq!(asked.status(), 200);
    app.clock.advance(15 * 24 * 3600);
    app.services.purge_expired().await.unwrap();
    assert_eq!(app.audited("kouvola", "account.erased").await.len(), 1);
    // Nothing names him, nor his old username.
    for needle in ["ville", "Ville"] {
        let left = still_named(&app, needle).await;
        assert!(left.is_empty(), "{needle} is still in {left:?}");
    }
    // The link's event (no user: not pseudonymised, with the client address of whoever asked)
    // names the old account by an id that no row has any more: the tombstone got a new one.
    assert_eq!(
        app.audit_details("kouvola", "legacy.link_sent").await,
        [serde_json::json!({ "accounts": [ville_old] })]
    );
    let named = format!("SELECT count(*) AS n FROM legacy_accounts WHERE id = '{ville_old}'");
    assert_eq!(app.count(&named).await, 0);
    let kept = "SELECT count(*) AS n FROM legacy_accounts WHERE subject = 'KVL-7'";
    assert_eq!(app.count(kept).await, 1);
    app.stop().await;
}

/// `idp users delete --tenant seinajoki <args>` against the server's own configuration and
/// database.
pub async fn cli_delete(app: &TestApp, args: &[&str]) -> std::process::Output {
    let config = app.services.config.path.clone();
    let mut all = vec!["users", "delete", "--tenant", "seinajoki"];
    all.extend_from_slice(args);
    let all: Vec<String> = all.into_iter().map(str::to_string).collect();
    tokio::task::spawn_blocking(move || {
        crate::node::idp()
            .arg("--config")
            .arg(config)
            .args(all)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

both_stores!(an_erasure_forgets_the_mail_to_an_old_accounts_spelling_of_the_address);
/// An old account without a usable hash, whose export wrote its address in capitals, is bound at
/// its first login by the link mailed to the address as the export spelled it; the resident then
/// changes the account's address. Erased once the undo link of that change is gone, nothing is
/// left in the outbox to the export's spelling either. Before, the erasure looked for mails by
/// the addresses of the account and of its links only, and that one stayed for the outbox's week.
async fn an_erasure_forgets_the_mail_to_an_old_accounts_spelling_of_the_address(backend: Backend) {
    use crate::node::succeeded;
    let app = TestApp::spawn(backend).await;
    let old = Old::new("seinajoki", "aino.vanha", "SJK-7").email("AINO.Vanha@Testi.fi");
    let old = app.import(old).await;
    let client = rp::basic(&app).await;
    let login = Login::fresh(&app, &client).await;
    login.identify("aino.vanha@testi.fi").await;
    let (mail, link) = app.mailed_link(1, "/seinajoki/reset?token=").await;
    assert_has(&mail, "To: AINO.Vanha@Testi.fi");
    let done = set_password(&login.browser, &link, PASSWORD).await;
    assert_eq!(done.status(), 303);
    assert!(app.bound_to(&old).await.is_some());
    let user = app.user_by_email("seinajoki", "aino.vanha@testi.fi").await;
    // The address changed since and the undo link of that change is gone (its days over): as
    // the database then holds it.
    app.db_run(move |conn| {
        diesel::update(users::table.find(&user.id))
            .set((
                users::email.eq("aino@testi.fi"),
                users::email_normalized.eq("aino@testi.fi"),
            ))
            .execute(conn)
            .unwrap();
        diesel::delete(one_time_links::table).execute(conn).unwrap();
    })
    .await;

    succeeded(&cli_delete(&app, &["--email", "aino@testi.fi", "--now"]).await);
    let spelled = |conn: &mut idp::store::DbConnection| {
        let to_the_spelling = mail_outbox::to_address.eq("AINO.Vanha@Testi.fi");
        mail_outbox::table
            .filter(to_the_spelling)
            .count()
            .get_result::<i64>(conn)
    };
    assert_eq!(app.db_run(move |conn| spelled(conn).unwrap()).await, 0);
    app.stop().await;
}

both_stores!(an_erasure_forgets_a_registration_begun_in_another_spelling);
/// A registration begun as `Erkki@Testi.FI` and left (its mail and link name no account), then
/// the account of `erkki@testi.fi`, erased: the registration's mail and link go with it, whatever
/// their spelling. Before, the erasure compared spellings exactly and they stayed, the address in
/// them, for the clean-up's week.
async fn an_erasure_forgets_a_registration_begun_in_another_spelling(backend: Backend) {
    use crate::node::succeeded;
    let app = TestApp::spawn(backend).await;
    let client = rp::basic(&app).await;
    // An ASCII address (another case: found by SQL's lower()), and one with a non-ASCII local
    // part and an internationalised domain (compared by its lookup key).
    for (n, (begun, registered)) in [
        ("Erkki@Testi.FI", "erkki@testi.fi"),
        ("ÄITI@Äänekoski.fi", "äiti@xn--nekoski-4waa.fi"),
    ]
    .into_iter()
    .enumerate()
    {
        let login = Login::fresh(&app, &client).await;
        let url = app.url(&format!("/seinajoki/register?request={}", login.request));
        let form = page(&login.browser, url).await;
        let asked = login.post("/register", &form, &[("email", begun)]).await;
        assert_eq!(answer(asked).await.0, 200);
        app.mailed_link(n + 1, "/seinajoki/register/complete?token=")
            .await;
        app.add_user("seinajoki", registered, PASSWORD, "Erkki")
            .await;

        succeeded(&cli_delete(&app, &["--email", registered, "--now"]).await);
        let left = app
            .db_run(|conn| {
                let mails: Vec<String> = mail_outbox::table
                    .select(mail_outbox::to_address)
                    .load(conn)
                    .unwrap();
                let links: Vec<Option<String>> = one_time_links::table
                    .select(one_time_links::email)
                    .load(conn)
                    .unwrap();
                (mails, links)
            })
            .await;
        assert_eq!(left, (vec![], vec![]), "{begun}");
    }
    app.stop().await;
}

both_stores!(support_deletes_with_a_grace_period_or_at_once);
async fn support_deletes_with_a_grace_period_or_at_once(backend: Backend) {
    use crate::node::{failed_with, succeeded};
    let (app, receiver, handle) = app_with_receiver(backend).await;
    let phone = app.browser();
    let tokens = app_tokens(&app, &phone, "maija@testi.fi").await;
    let maija = app.user_id("seinajoki", "maija@testi.fi").await;
    let erkki = app.user_id("seinajoki", "erkki@testi.fi").await;

    // With the grace period: as on the account page, the undo link mailed.
    let out = cli_delete(&app, &["--email", "Maija@testi.fi"]).await;
    let date = (app.now() + chrono::Duration::days(14)).format("%Y-%m-%d");
    assert_has(
        &succeeded(&out),
        &format!("deletion of Maija@testi.fi in seinajoki requested: erased on {date} "),
    );
    assert!(disabled(&app, &maija).await);
    wait_for(&receiver, 1, &app).await;
    assert_eq!(
        logout_claims(&receiver.bodies.lock().unwrap()[0])["sub"],
        tokens.payload()["sub"]
    );
    let library = app_client(&app).await;
    assert!(refresh(&library, &tokens.refresh_token()).await.is_err());
    assert_eq!(
        app.audit_details("seinajoki", "account.deletion_requested")
            .await,
        [serde_json::json!({ "by": "cli" })]
    );
    let link = app.newest_link(Some("maija@testi.fi"), UNDO_PATH).await;
    // Asked again, by the subject her e-services know: refused, nothing changes.
    let subject = tokens.payload()["sub"].as_str().unwrap().to_string();
    let again = cli_delete(&app, &["--subject", &subject]).await;
    failed_with(
        &again,
        1,
        &format!(
            "error: the account is being deleted already (erased on {}, or erased)\n",
            erase_at(&app, &maija).await.format("%Y-%m-%d %H:%M UTC")
        ),
    );
    // The resident's link still undoes it.
    let (_, (status, _)) = undo(&app, &link).await;
    assert_eq!(status, 200);
    assert!(!disabled(&app, &maija).await);

    // At once, by the internal id its audit events name (a restore's erasures applied again from
    // an archived export): Erkki's account is a tombstone now.
    let erkki_subject = app
        .db_run(|conn| crate::helpers::find_user(conn, "seinajoki", "erkki@testi.fi"))
        .await
        .subject;
    let named = ["--id", erkki.as_str()];
    erased_now(&app, &named, &format!("id {erkki}"), &erkki, "erkki").await;
    // An unknown or erased address: exit status 1.
    let gone = cli_delete(&app, &["--email", "erkki@testi.fi", "--now"]).await;
    failed_with(
        &gone,
        1,
        "error: no account with the address erkki@testi.fi in tenant seinajoki\n",
    );
    let unknown = cli_delete(&app, &["--subject", "S-tuntematon", "--now"]).await;
    failed_with(
        &unknown,
        1,
        "error: no account with the subject S-tuntematon in tenant seinajoki\n",
    );
    // Support's other commands leave the tombstone (found by its subject) alone: it holds nothing
    // to end or cancel, and its trail names a pseudonym, not a user.
    let before = app
        .audited("seinajoki", "sessions.ended_everywhere")
        .await
        .len();
    let ended = [
        "users",
        "end-sessions",
        "--tenant",
        "seinajoki",
        "--subject",
        erkki_subject.as_str(),
    ];
    failed_with(&app.cli(&ended).await, 1, "error: the account is erased\n");
    let after = app
        .audited("seinajoki", "sessions.ended_everywhere")
        .await
        .len();
    assert_eq!(after, before);
    let cancel = [
        "users",
        "cancel-deletion",
        "--tenant",
        "seinajoki",
        "--subject",
        erkki_subject.as_str(),
    ];
    let refused = app.cli(&cancel).await;
    assert_eq!(refused.status.code(), Some(1));
    handle.stop(true).await;
    app.stop().await;
}

both_stores!(support_erases_an_authority_user_without_an_address_by_username);
/// An authority user need not have an address: support names it by its username, in any case.
async fn support_erases_an_authority_user_without_an_address_by_username(backend: Backend) {
    use crate::helpers::NewUser;
    use crate::helpers::authority::{PASSWORD, USERNAME, authority_id};
    use crate::node::failed_with;
    let app = TestApp::spawn(backend).await;
    let user = NewUser::authority(USERNAME, "Virkailija", PASSWORD);
    app.add("seinajoki", user).await.unwrap();
    let id = authority_id(&app).await;
    assert!(!still_named(&app, "irkailija").await.is_empty());

    let named = ["--username", " virkailija "];
    erased_now(&app, &named, "virkailija", &id, "irkailija").await;
    let gone = cli_delete(&app, &["--username", USERNAME, "--now"]).await;
    failed_with(
        &gone,
        1,
        "error: no account \"Virkailija\" in tenant seinajoki\n",
    );
    // Which account must be said, once.
    for named in [&[][..], &["--email", "a@testi.fi", "--username", USERNAME]] {
        let out = cli_delete(&app, named).await;
        assert_eq!(out.status.code(), Some(2), "{named:?}");
    }
    app.stop().await;
}

/// `idp users delete --now` of the account `named` (shown as `shown`), `user_id`: erased, nothing
/// of it left, no text holding `needle`, audited as support's.
async fn erased_now(app: &TestApp, named: &[&str], shown: &str, user_id: &str, needle: &str) {
    let out = cli_delete(app, &[named, &["--now"]].concat()).await;
    let printed = crate::node::succeeded(&out);
    assert_has(
        &printed,
        &format!(
            "erased the account of {shown} in seinajoki: its subject stays as a tombstone, its audit events now name a pseudonym\n"
        ),
    );
    // Not which: beside the address it would name the erased account's trail again.
    let erased = app.audited("seinajoki", "account.erased").await;
    let pseudonym = erased[0].user_id.as_deref().unwrap();
    assert!(!printed.contains(pseudonym), "{printed}");
    assert_eq!(rows_of(app, user_id).await, [0, 0, 0, 0, 0]);
    let left = still_named(app, needle).await;
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(
        app.audit_details("seinajoki", "account.erased").await,
        [serde_json::json!({ "by": "cli" })]
    );
}

/// When the account `user_id` of seinajoki is to be erased, as stored.
async fn erase_at(app: &TestApp, user_id: &str) -> chrono::NaiveDateTime {
    let id = user_id.to_string();
    app.db_run(move |conn| {
        idp::store::deletions::find(conn, crate::helpers::tenant("seinajoki"), &id)
            .unwrap()
            .unwrap()
            .erase_at
    })
    .await
}

/// A server on SQLite with the resident `address` (`name`), and the database file's path.
async fn sqlite_app(address: &str, name: &str) -> (TestApp, std::path::PathBuf) {
    let app = TestApp::with_user(Backend::Sqlite, address, PASSWORD, name).await;
    let idp::config::DatabaseBackend::Sqlite(path) = app.db.backend.clone() else {
        unreachable!("a SQLite test database");
    };
    (app, path)
}

/// The bytes of the SQLite file `path` and of its WAL (none when there is no WAL file).
fn file_bytes(path: &std::path::Path) -> Vec<u8> {
    let mut bytes = std::fs::read(path).unwrap();
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    if let Ok(more) = std::fs::read(&wal) {
        bytes.extend(more);
    }
    bytes
}

/// Whether `bytes` hold `needle` anywhere (in a row, in free space, in an old WAL frame).
fn holds(bytes: &[u8], needle: &str) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// What someone with a copy of the data directory reads: after `idp users delete --now` neither
/// the SQLite file nor its WAL holds the erased address or name, nor the link of a mail the
/// clean-up purged before, not even in free space (`strings idp.sqlite`), where the SQL-level
/// checks above never look. SQLite only: PostgreSQL's files are its server's, and what they keep
/// until VACUUM is documented (docs/privacy.md); both stores are checked at the SQL level by
/// `support_deletes_with_a_grace_period_or_at_once`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_leaves_nothing_readable_in_the_sqlite_file() {
    const ADDRESS: &str = "ilmatar.kuusiluoto@testi.fi";
    const NAME: &str = "Ilmatar Kuusiluoto";
    let (app, path) = sqlite_app(ADDRESS, NAME).await;
    // A reset link mailed, used by nobody; seven days later the clean-up purges its mail and the
    // link's row.
    let forgot = app.url("/seinajoki/forgot");
    rp::post_form(&app.browser(), &forgot, &forgot, &[("email", ADDRESS)]).await;
    let link = app
        .newest_link(Some(ADDRESS), "/seinajoki/reset?token=")
        .await;
    let token = link.split("token=").nth(1).unwrap().to_string();
    assert!(token.len() >= 20, "{link}");
    assert!(
        holds(&file_bytes(&path), &token),
        "the mail's text holds it"
    );
    // Once the mail is sent (a pending one is kept).
    while app
        .db_run(|conn| {
            mail_outbox::table
                .filter(mail_outbox::status.eq("pending"))
                .count()
                .get_result::<i64>(conn)
                .unwrap()
        })
        .await
        > 0
    {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    app.clock.advance(8 * 24 * 3600);
    let purged = app.services.purge_expired().await.unwrap();
    assert!(purged.rows >= 2, "{purged:?}");
    assert_eq!(purged.erased, 0);
    // Then a login (a session with its User-Agent, audit events with the client address).
    let signed = sign_in(&app, "seinajoki", ADDRESS, PASSWORD).await;
    assert!(signed_in(&app, &signed.browser).await);
    let before = file_bytes(&path);
    assert!(holds(&before, ADDRESS) && holds(&before, NAME));

    let out = cli_delete(&app, &["--email", ADDRESS, "--now"]).await;
    assert_has(
        &crate::node::succeeded(&out),
        &format!("erased the account of {ADDRESS} in seinajoki"),
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "",
        "the WAL was emptied"
    );
    let after = file_bytes(&path);
    for needle in [ADDRESS, NAME, "kuusiluoto", token.as_str()] {
        assert!(!holds(&after, needle), "{needle} is still in the file");
    }
    app.stop().await;
}

/// SQLite only (PostgreSQL has no WAL for idp to empty): a reader that holds an old snapshot
/// keeps the WAL in use, so it cannot be emptied after `idp users delete --now`; the erasure
/// stands all the same, and support is told what is left and where the way to empty it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_stands_when_a_reader_keeps_the_wal_in_use() {
    use diesel::connection::SimpleConnection;

    let app = TestApp::with_user(Backend::Sqlite, "lauri@testi.fi", PASSWORD, "Lauri").await;
    let idp::config::DatabaseBackend::Sqlite(path) = app.db.backend.clone() else {
        unreachable!("a SQLite test database");
    };
    let lauri = app.user_id("seinajoki", "lauri@testi.fi").await;
    let mut reader = diesel::SqliteConnection::establish(&path.to_string_lossy()).unwrap();
    reader
        .batch_execute("BEGIN; SELECT count(*) FROM users;")
        .unwrap();

    let out = cli_delete(&app, &["--email", "lauri@testi.fi", "--now"]).await;
    assert_has(
        &crate::node::succeeded(&out),
        "erased the account of lauri@testi.fi in seinajoki",
    );
    let warning = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        warning.starts_with(
            "warning: the erased values stay in the SQLite WAL until it is overwritten or \
             checkpointed (the WAL is in use: "
        ) && warning.ends_with(" frames checkpointed); docs/operations.md says how to empty it\n"),
        "{warning}"
    );
    reader.batch_execute("COMMIT").unwrap();
    assert_eq!(rows_of(&app, &lauri).await, [0, 0, 0, 0, 0]);
    let left = format!(
        "SELECT count(*) AS n FROM users WHERE id = '{lauri}' OR disabled = FALSE AND email = 'lauri@testi.fi'"
    );
    assert_eq!(
        app.count(&left).await,
        0,
        "only the tombstone, under another id"
    );
    app.stop().await;
}

both_stores!(an_undo_that_commits_first_is_not_erased_by_a_round_that_read_it_as_due);
/// A clean-up round that read its due deletions before the resident's undo committed (another
/// node, its clock a little ahead, on PostgreSQL's READ COMMITTED) erases nothing of the account
/// the undo brought back.
async fn an_undo_that_commits_first_is_not_erased_by_a_round_that_read_it_as_due(backend: Backend) {
    let (app, _receiver, handle) = app_with_receiver(backend).await;
    let signed = sign_in(&app, "seinajoki", "erkki@testi.fi", PASSWORD).await;
    let (status, _, _) = delete(&app, &signed, PASSWORD).await;
    assert_eq!(status, 200);
    let erkki = app.user_id("seinajoki", "erkki@testi.fi").await;
    let link = app.newest_link(Some("erkki@testi.fi"), UNDO_PATH).await;
    // The other node's round, its clock past the grace period: Erkki is due.
    let later = erase_at(&app, &erkki).await + chrono::Duration::minutes(1);
    let due = app
        .db_run(move |conn| {
            idp::store::deletions::due(conn, crate::helpers::tenant("seinajoki"), later, 50)
        })
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    // Erkki's undo commits meanwhile.
    let (_, (status, text)) = undo(&app, &link).await;
    assert_eq!(status, 200, "{text}");
    // The round goes on with what it read: nothing is erased.
    let id = erkki.clone();
    let erased = app
        .db_run(move |conn| {
            idp::store::write_transaction(conn, |conn| {
                let tenant = crate::helpers::tenant("seinajoki");
                idp::store::erasure::erase(conn, tenant, &id, "cleanup", later)
            })
        })
        .await
        .unwrap();
    assert_eq!(erased, None);
    assert!(!disabled(&app, &erkki).await);
    let again = sign_in(&app, "seinajoki", "erkki@testi.fi", PASSWORD).await;
    assert_has(&again.page, "erkki@testi.fi");
    assert!(
        !app.audit_kinds("seinajoki")
            .await
            .contains(&"account.erased".to_string())
    );
    handle.stop(true).await;
    app.stop().await;
}

both_stores!(an_erasure_forgets_the_mail_counts_of_its_address_in_every_budget);
/// The mail limits count an address by hashes of it, one a budget (forgot password's, a change
/// of address's and the shared one, `store::mail_limits::Budget`): the erasure deletes each, and
/// leaves the client address's counts alone.
async fn an_erasure_forgets_the_mail_counts_of_its_address_in_every_budget(backend: Backend) {
    use crate::helpers::journeys::submit_from;
    use crate::node::succeeded;
    use idp::crypto::secret::hash;
    let app = TestApp::with_user(backend, "erkki@testi.fi", PASSWORD, "Erkki").await;
    let to_erkki = [("email", "Erkki@testi.fi"), ("password", PASSWORD)];
    app.add_user("seinajoki", "ville@testi.fi", PASSWORD, "Ville")
        .await;
    let ville = sign_in(&app, "seinajoki", "ville@testi.fi", PASSWORD).await;
    let asked = [
        (&app.browser(), "/seinajoki/forgot", "/seinajoki/forgot"),
        (&app.browser(), "/seinajoki/register", "/seinajoki/register"),
        (
            &ville.browser,
            "/seinajoki/account",
            "/seinajoki/account/email",
        ),
    ];
    for (browser, page, action) in asked {
        let fields = match action {
            "/seinajoki/account/email" => &to_erkki,
            _ => &[("request", ""), ("email", "Erkki@testi.fi")],
        };
        let (status, text) = submit_from(&app, browser, "127.0.0.1", page, action, fields).await;
        assert_eq!(status, 200, "{text}");
    }
    let rows = "SELECT count(*) AS n FROM mail_limit_events";
    let of = |budget: &str| {
        let key = hash(&format!("{budget}:erkki@testi.fi"));
        format!("{rows} WHERE limit_key = '{key}'")
    };
    for budget in ["forgot", "change", "to"] {
        assert_eq!(app.count(&of(budget)).await, 1, "{budget}");
    }
    assert_eq!(app.count(rows).await, 6, "and the client address's three");
    succeeded(&cli_delete(&app, &["--email", "erkki@testi.fi", "--now"]).await);
    for budget in ["forgot", "change", "to"] {
        assert_eq!(app.count(&of(budget)).await, 0, "{budget}");
    }
    assert_eq!(app.count(rows).await, 3);
    app.stop().await;
}

both_stores!(an_erasure_leaves_another_residents_link_at_its_address_in_another_case);
/// Erkki moved his account away from `Erkki@Testi.FI`; Eeva then registered `erkki@testi.fi`
/// and was erased. Her erasure forgets what went to her address in any case, but not Erkki's
/// undo link (written in his case, naming his account): it still gives him his old address.
async fn an_erasure_leaves_another_residents_link_at_its_address_in_another_case(backend: Backend) {
    use crate::node::succeeded;
    let app = TestApp::with_user(backend, "Erkki@Testi.FI", PASSWORD, "Erkki").await;
    crate::recovery::change_address(&app, "Erkki@Testi.FI", PASSWORD, "erkki.uusi@testi.fi").await;
    let erkkis_undo = crate::recovery::undo_link(&app, "Erkki@Testi.FI").await;
    app.add_user("seinajoki", "erkki@testi.fi", "Eevan salasana", "Eeva")
        .await;
    succeeded(&cli_delete(&app, &["--email", "erkki@testi.fi", "--now"]).await);
    let browser = app.browser();
    let form = page(&browser, &erkkis_undo).await;
    let undone = submit_link(&browser, &erkkis_undo, &form, &[]).await;
    assert_eq!(undone.status(), 200);
    let erkki = app.user_by_email("seinajoki", "erkki@testi.fi").await;
    assert_eq!(erkki.email.as_deref(), Some("Erkki@Testi.FI"));
    app.stop().await;
}

both_stores!(an_erasure_leaves_another_residents_links_at_an_address_it_once_had);
/// Anna moved her account from the family's address to her own; her father then took the
/// family's address and asked for his account's deletion. Anna's erasure forgets her addresses,
/// the family's among them (her change's undo link went there), but not what is her father's:
/// his undo link, his way back, still works, and his mail stays, while hers goes. Before, every
/// link and mail to any of her addresses went, whoever's they were.
async fn an_erasure_leaves_another_residents_links_at_an_address_it_once_had(backend: Backend) {
    use crate::node::succeeded;
    const FAMILY: &str = "perhe@testi.fi";
    let app = TestApp::with_user(backend, FAMILY, PASSWORD, "Anna").await;
    crate::recovery::change_address(&app, FAMILY, PASSWORD, "anna@testi.fi").await;
    let annas_undo = crate::recovery::undo_link(&app, FAMILY).await;
    app.add_user("seinajoki", FAMILY, "isän salasana", "Isä")
        .await;
    let father = app.user_id("seinajoki", FAMILY).await;
    succeeded(&cli_delete(&app, &["--email", FAMILY]).await);
    let fathers_undo = app.newest_link(Some(FAMILY), UNDO_PATH).await;
    succeeded(&cli_delete(&app, &["--email", "anna@testi.fi", "--now"]).await);

    // Anna's own link went; her father's stays, and undoes his deletion.
    assert_eq!(
        app.browser()
            .get(&annas_undo)
            .send()
            .await
            .unwrap()
            .status(),
        410
    );
    let (_, (status, _)) = undo(&app, &fathers_undo).await;
    assert_eq!(status, 200);
    assert!(!disabled(&app, &father).await);
    // Her mail went wherever it was sent (the notice of her change, to the family's address,
    // named her new one); his stays.
    let mails = app
        .db_run(|conn| {
            mail_outbox::table
                .select((
                    mail_outbox::kind,
                    mail_outbox::to_address,
                    mail_outbox::body_text,
                ))
                .load::<(String, String, String)>(conn)
                .unwrap()
        })
        .await;
    assert!(
        mails
            .iter()
            .all(|(kind, _, text)| kind != "email_changed" && !text.contains("anna@testi.fi")),
        "{mails:?}"
    );
    let his = mails
        .iter()
        .filter(|(kind, to, _)| kind == "account_deleted" && to == FAMILY);
    assert_eq!(his.count(), 1);
    app.stop().await;
}

/// The clean-up's erasure of an account whose grace period has ended empties SQLite's WAL at
/// once: it did so only after the round's other steps, and a step that failed (the database
/// busy with an import; here a test trigger) ended the round with the erased address and name
/// still in the WAL's old frames.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clean_ups_erasure_empties_the_wal_before_its_other_steps() {
    const ADDRESS: &str = "ilmari.kuusiluoto@testi.fi";
    const NAME: &str = "Ilmari Kuusiluoto";
    let (app, path) = sqlite_app(ADDRESS, NAME).await;
    crate::node::succeeded(&cli_delete(&app, &["--email", ADDRESS]).await);
    app.clock.advance(60 * 24 * 3600);
    // A later step fails: the expired assertion ids cannot be deleted.
    app.db_run(|conn| {
        conn.batch_execute(
            "INSERT INTO client_assertion_jtis (jti_key, expires_at) VALUES ('x', '2000-01-01 00:00:00'); \
             CREATE TRIGGER refuse_jtis BEFORE DELETE ON client_assertion_jtis \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;",
        )
        .unwrap();
    })
    .await;
    assert!(holds(&file_bytes(&path), ADDRESS));
    assert!(app.services.purge_expired().await.is_err());
    let after = file_bytes(&path);
    for needle in [ADDRESS, NAME, "kuusiluoto"] {
        assert!(
            !holds(&after, needle),
            "{needle} is still in the file or its WAL"
        );
    }
    app.stop().await;
}
