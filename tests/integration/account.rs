//! The account page: logging in there first, the name, the password, signing out everywhere; a
//! change of address, confirmed and undone from the mails.

use crate::both_stores;
use crate::helpers::journeys::{
    SignedIn, account_with_cookie, assert_links, hidden, invalid_fields, page, password_changed,
    post_with_csrf, says, sign_in, submit_link, visit,
};
use crate::helpers::{Backend, Old, TestApp, assert_has};
use crate::rp::{self, location, param};

const PASSWORD: &str = "oikea hevonen patteri";

/// The account page of `browser` sends it to log in (it has no session).
async fn asks_to_log_in(app: &TestApp, browser: &reqwest::Client) {
    let again = visit(browser, app.url("/seinajoki/account")).await;
    assert_eq!(location(&again).path(), "/seinajoki/login");
}

/// Posts `fields` to `path` with the account page's CSRF token: (status, text).
async fn post(
    app: &TestApp,
    signed: &SignedIn,
    path: &str,
    fields: &[(&str, &str)],
) -> (u16, String) {
    let response = post_with_csrf(&signed.browser, app.url(path), &signed.page, fields).await;
    crate::helpers::journeys::answer(response).await
}

/// Saves `name` on the account page of `signed`: the page, which says so (200).
async fn save_name(app: &TestApp, signed: &SignedIn, name: &str) -> String {
    let (status, saved) = post(app, signed, "/seinajoki/account/name", &[("name", name)]).await;
    assert_eq!(status, 200, "{saved}");
    assert_has(&saved, "Nimi on tallennettu.");
    saved
}

both_stores!(the_account_page_changes_name_and_password_and_signs_out);
async fn the_account_page_changes_name_and_password_and_signs_out(backend: Backend) {
    let app = TestApp::with_user(backend, "erkki@testi.fi", PASSWORD, "Erkki").await;
    // A session elsewhere, to be ended by the password change.
    let client = rp::basic(&app).await;
    let elsewhere = app.browser();
    rp::log_in_at(&elsewhere, &client, "erkki@testi.fi", PASSWORD).await;

    // Not logged in: the account page sends the browser to log in, and back.
    let signed = sign_in(&app, "seinajoki", "erkki@testi.fi", PASSWORD).await;
    let page = &signed.page;
    assert_has(page, "<dd id=\"email\">erkki@testi.fi</dd>");

    let saved = save_name(&app, &signed, "Erkki Esimerkki").await;
    assert_has(&saved, "value=\"Erkki Esimerkki\"");

    let change = async |current: &str| {
        let new = "uusi pitkä salasana";
        let fields = [("current", current), ("password", new), ("password2", new)];
        let url = app.url("/seinajoki/account/password");
        post_with_csrf(&signed.browser, url, page, &fields).await
    };
    says(change("väärä").await, 422, "Nykyinen salasana on väärin.").await;
    // Answered by a redirect to the page: a reload does not post the old password again (which
    // the kept session would check against the new one: "wrong", and a strike).
    password_changed(&signed.browser, change(PASSWORD).await).await;
    // The address is told (one mail: the wrong password mailed nothing), with the way to a new
    // password if the change was not the resident's own; the new password is not in it.
    let notice = app.wait_for_mails(1).await.swap_remove(0);
    assert_eq!(app.mails().len(), 1);
    assert_has(&notice, "To: erkki@testi.fi");
    // "Tiliäsi muutettiin – Seinäjoen kaupunki", its words with ä encoded (RFC 2047).
    let subject = notice.lines().find(|l| l.starts_with("Subject: ")).unwrap();
    assert!(subject.contains(" muutettiin "), "{subject}");
    let text = &notice;
    assert_has(
        text,
        "Salasanasi palvelussa Seinäjoen kaupunki vaihdettiin tilisivulla.",
    );
    assert_has(text, "Jos et tehnyt tätä itse, joku muu tietää salasanasi.");
    assert_eq!(
        app.link_in(&notice, "/seinajoki/forgot").as_deref(),
        Some(app.url("/seinajoki/forgot").as_str())
    );
    assert!(!text.contains("uusi pitkä salasana"), "{text}");
    // This session stays, under a new cookie: a copy of the old one (taken from a shared
    // computer's profile) is sent to log in. The other session ended.
    let account = signed.browser.get(app.url("/seinajoki/account"));
    assert_eq!(account.send().await.unwrap().status(), 200);
    let copy = account_with_cookie(&app, "seinajoki", &signed.cookie).await;
    assert_eq!(location(&copy).path(), "/seinajoki/login");
    let back = rp::prompt_none(&elsewhere, &client).await;
    assert_eq!(param(&back, "error").as_deref(), Some("login_required"));

    // Signing out everywhere ends this one too.
    let (status, out) = post(&app, &signed, "/seinajoki/account/logout-everywhere", &[]).await;
    assert_eq!(status, 200);
    assert!(out.contains("Olet kirjautunut ulos"));
    asks_to_log_in(&app, &signed.browser).await;
    app.stop().await;
}

both_stores!(a_name_stored_with_an_invisible_mark_is_shown_and_saved_without_it);
/// A name stored before names refused invisible marks (a zero-width space, a right-to-left
/// override: an old account's, bound) is shown on the account page without them, so that the
/// resident fixing a typo in it saves a clean name. Before, the field held the mark, and the
/// post failed on a character nobody could see.
async fn a_name_stored_with_an_invisible_mark_is_shown_and_saved_without_it(backend: Backend) {
    let app = TestApp::with_user(backend, "erkki@testi.fi", PASSWORD, "Erkki").await;
    let user = app.user_id("seinajoki", "erkki@testi.fi").await;
    app.db_run(move |conn| {
        use diesel::prelude::*;
        use idp::store::schema::users;
        diesel::update(users::table.find(user))
            .set(users::name.eq("Erkki\u{200b} Esimerkk\u{202e}i"))
            .execute(conn)
            .unwrap();
    })
    .await;
    let signed = sign_in(&app, "seinajoki", "erkki@testi.fi", PASSWORD).await;
    assert_has(&signed.page, "value=\"Erkki Esimerkki\"");
    let saved = save_name(&app, &signed, "Erkki Esimerkki").await;
    assert_has(&saved, "value=\"Erkki Esimerkki\"");
    app.stop().await;
}

both_stores!(changes_past_the_hourly_allowance_are_refused_but_never_a_way_back);
/// With `[limits] account_changes_per_hour = 3`: three names are saved; the fourth, and a download
/// of the data, are refused with the "too many changes" page (429, `Retry-After`), change and
/// audit nothing, and are counted in the metrics; signing out everywhere still works; an hour
/// later a name is saved again. Before, a script with a resident's cookie added audit rows
/// without end (a name, a rename, a download: no password), which the export reads whole.
async fn changes_past_the_hourly_allowance_are_refused_but_never_a_way_back(backend: Backend) {
    let app = TestApp::builder(backend)
        .main_toml("[limits]\naccount_changes_per_hour = 3")
        .metrics()
        .user("seinajoki", "erkki@testi.fi", PASSWORD, "Erkki")
        .spawn()
        .await;
    let signed = sign_in(&app, "seinajoki", "erkki@testi.fi", PASSWORD).await;
    for n in 1..=3 {
        save_name(&app, &signed, &format!("Erkki {n}")).await;
    }
    let too_many = "Olet tehnyt tililläsi viime tunnin aikana niin monta muutosta";
    for (path, fields) in [
        ("/seinajoki/account/name", &[("name", "Erkki 4")][..]),
        ("/seinajoki/account/export", &[][..]),
    ] {
        let url = app.url(path);
        let refused = post_with_csrf(&signed.browser, url, &signed.page, fields).await;
        let retry = crate::helpers::header(&refused, "retry-after");
        let page = says(refused, 429, too_many).await;
        // Its tab says what failed: a change, not a login.
        assert_has(&page, "<title>Muutosta ei voitu tehdä – ");
        assert_eq!(retry.as_deref(), Some("3600"), "{path}");
    }
    let account = page(&signed.browser, app.url("/seinajoki/account")).await;
    assert_has(&account, "value=\"Erkki 3\"");
    assert_eq!(app.audited("seinajoki", "user.name_changed").await.len(), 3);
    assert!(
        app.audited("seinajoki", "account.exported")
            .await
            .is_empty()
    );
    let (_, _, metrics) = app.scrape().await;
    assert_has(
        &metrics,
        "idp_account_changes_refused_total{tenant=\"seinajoki\"} 2\n",
    );

    let (status, out) = post(&app, &signed, "/seinajoki/account/logout-everywhere", &[]).await;
    assert_eq!((status, out.contains("Olet kirjautunut ulos")), (200, true));
    app.clock.advance(3601);
    let again = sign_in(&app, "seinajoki", "erkki@testi.fi", PASSWORD).await;
    let saved = save_name(&app, &again, "Erkki 5").await;
    assert_has(&saved, "value=\"Erkki 5\"");
    app.stop().await;
}

/// Opens a mailed `link` in a fresh browser: its page asks `question`; confirmed, it says
/// `answer`.
async fn confirm(app: &TestApp, link: &str, (question, answer): (&str, &str), next: (&str, &str)) {
    let browser = app.browser();
    let form = page(&browser, link).await;
    assert_has(&form, question);
    let done = submit_link(&browser, link, &form, &[]).await;
    let done = says(done, 200, answer).await;
    assert_links(app, &done, next.0, next.1);
}

/// On PostgreSQL, the change of address's last guard: another account takes the address in the
/// instant between the confirmation's check that it is free and its update (a trigger answers the
/// update as the unique index would). The page says the address could not be taken into use
/// (409) and the link is used. Before, the refused update aborted the confirmation's
/// transaction: a 500, and the link's use lost with it. (SQLite's refused statement leaves its
/// transaction usable: nothing to show there.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_taken_in_the_instant_before_the_switch_is_refused_and_the_link_used() {
    if crate::helpers::postgres_admin_url().is_none() {
        return;
    }
    let app = TestApp::spawn(Backend::Postgres).await;
    app.add_user("seinajoki", "erkki@testi.fi", PASSWORD, "Erkki")
        .await;
    let signed = sign_in(&app, "seinajoki", "erkki@testi.fi", PASSWORD).await;
    let fields = [("email", "erkki.uusi@testi.fi"), ("password", PASSWORD)];
    let (status, _) = post(&app, &signed, "/seinajoki/account/email", &fields).await;
    assert_eq!(status, 200);
    let link = app
        .link_in(
            app.mails().last().unwrap(),
            "/seinajoki/email/confirm?token=",
        )
        .unwrap();
    app.db_run(|conn| {
        use diesel::RunQueryDsl;
        for statement in [
            "CREATE FUNCTION taken_meanwhile() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN RAISE EXCEPTION 'taken' USING ERRCODE = 'unique_violation'; END $$",
            "CREATE TRIGGER taken_meanwhile BEFORE UPDATE ON users FOR EACH ROW \
             WHEN (NEW.email_normalized = 'erkki.uusi@testi.fi') \
             EXECUTE FUNCTION taken_meanwhile()",
        ] {
            diesel::sql_query(statement).execute(conn).unwrap();
        }
    })
    .await;
    let browser = app.browser();
    let form = page(&browser, &link).await;
    let refused = submit_link(&browser, &link, &form, &[]).await;
    says(refused, 409, "Osoitetta ei voitu ottaa käyttöön.").await;
    let again = browser.get(&link).send().await.unwrap();
    assert_eq!(again.status(), 410, "the link is used");
    let user = app.user_by_email("seinajoki", "erkki@testi.fi").await;
    assert_eq!(user.email.as_deref(), Some("erkki@testi.fi"));
    app.stop().await;
}

both_stores!(changing_the_address_keeps_the_subject_and_can_be_undone);
async fn changing_the_address_keeps_the_subject_and_can_be_undone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let subject = app
        .add_user("seinajoki", "erkki@testi.fi", PASSWORD, "Erkki")
        .await;
    let signed = sign_in(&app, "seinajoki", "erkki@testi.fi", PASSWORD).await;
    // The current password first: a wrong one changes nothing and mails nothing.
    let change = async |password: &str| {
        let fields = [("email", "erkki.uusi@testi.fi"), ("password", password)];
        post(&app, &signed, "/seinajoki/account/email", &fields).await
    };
    let (status, refused) = change("väärä salasana").await;
    assert_eq!(status, 422);
    assert!(refused.contains("Nykyinen salasana on väärin."));
    assert!(app.mails_to("erkki.uusi@testi.fi").is_empty());
    // What was typed stays in the field (the password never does), with a typo too.
    assert_has(&refused, "value=\"erkki.uusi@testi.fi\"");
    let typo = [("email", "erkki.uusi(at)testi.fi"), ("password", PASSWORD)];
    let (status, refused) = post(&app, &signed, "/seinajoki/account/email", &typo).await;
    assert_eq!(status, 422);
    assert_has(&refused, "Sähköpostiosoite ei ole kelvollinen.");
    assert_has(&refused, "value=\"erkki.uusi(at)testi.fi\"");
    let (_, sent) = change(PASSWORD).await;
    assert_has(&sent, "Lähetimme vahvistuslinkin uuteen osoitteeseen.");
    let mails = app.mails();
    let verify = mails.last().unwrap();
    assert_has(verify, "To: erkki.uusi@testi.fi");
    let link = app
        .link_in(verify, "/seinajoki/email/confirm?token=")
        .unwrap();
    // Any browser may open it (a phone's mail app); it asks before switching.
    // The page leads to the login.
    let asked = (
        "Otetaanko käyttäjätunnukseksi erkki.uusi@testi.fi?",
        "Käyttäjätunnuksesi on nyt erkki.uusi@testi.fi.",
    );
    confirm(
        &app,
        &link,
        asked,
        ("/seinajoki/account", "Kirjaudu sisään"),
    )
    .await;

    // The resident logs in with the new address; the subject is the same.
    let client = rp::basic(&app).await;
    let browser = app.browser();
    let redeemed = rp::redeem_login(&browser, &client, &[], "erkki.uusi@testi.fi", PASSWORD).await;
    assert_eq!(redeemed.claims.subject().as_str(), subject);

    // The old address got a notice with an undo link, which asks first and then restores.
    let undo = app
        .newest_link(Some("erkki@testi.fi"), "/seinajoki/email/undo?token=")
        .await;
    // The change may have been someone else's: the way to a new password is on the page.
    let asked = (
        "Palautetaanko käyttäjätunnukseksi erkki@testi.fi?",
        "Vanha sähköpostiosoitteesi on palautettu",
    );
    confirm(
        &app,
        &undo,
        asked,
        ("/seinajoki/forgot", "Aseta uusi salasana"),
    )
    .await;
    // Every session ended, the old address works again.
    asks_to_log_in(&app, &signed.browser).await;
    let back = rp::log_in_at(&app.browser(), &client, "erkki@testi.fi", PASSWORD).await;
    assert!(param(&back, "code").is_some());
    // Links work once; the page says the link does not work (not "the login is not possible").
    let again = app.browser().get(&link).send().await.unwrap();
    let again = says(again, 410, "<h1>Linkki ei toimi</h1>").await;
    assert_has(&again, "<title>Linkki ei toimi");
    assert_links(&app, &again, "/seinajoki/account", "Kirjaudu sisään");
    app.stop().await;
}

both_stores!(an_error_is_tied_to_the_field_it_is_about_and_named_in_the_title);
/// A form shown again with an error says so in the page's title (what a screen reader reads
/// first), and marks the field the error is about, and no other: the current password when it is
/// wrong, both new ones when they differ; of two old accounts, the one whose password was wrong.
async fn an_error_is_tied_to_the_field_it_is_about_and_named_in_the_title(backend: Backend) {
    let app = TestApp::with_user(backend, "perhe@testi.fi", PASSWORD, "Perhe").await;
    let mut signed = sign_in(&app, "seinajoki", "perhe@testi.fi", PASSWORD).await;
    // Two old accounts of the address, found since (an import after the first login).
    for (username, subject) in [("perhe.isa", "SJK-1"), ("perhe.aiti", "SJK-2")] {
        let hash = bcrypt::hash(format!("{username} vanha"), 4).unwrap();
        let old = Old::new("seinajoki", username, subject).email("perhe@testi.fi");
        app.import(old.hash(&hash)).await;
    }
    signed.page = page(&signed.browser, app.url("/seinajoki/account")).await;
    assert_has(&signed.page, "<title>Omat tiedot");
    assert_eq!(invalid_fields(&signed.page), Vec::<String>::new());

    let new = "uusi pitkä salasana";
    for (current, [first, again], invalid) in [
        ("väärä", [new, new], vec!["current"]),
        (
            PASSWORD,
            [new, "toinen pitkä salasana"],
            vec!["password", "password2"],
        ),
        (PASSWORD, ["lyhyt", "lyhyt"], vec!["password"]),
    ] {
        let fields = [
            ("current", current),
            ("password", first),
            ("password2", again),
        ];
        let (status, html) = post(&app, &signed, "/seinajoki/account/password", &fields).await;
        assert_eq!(status, 422, "{html}");
        assert_eq!(invalid_fields(&html), invalid);
        assert_has(&html, "<title>Virhe: Omat tiedot");
    }

    // The second old account's password, wrong: its field only.
    let aiti = signed
        .page
        .split("for=\"legacy-")
        .skip(1)
        .find(|label| label.contains("Tunnuksen perhe.aiti vanha salasana"))
        .and_then(|label| label.split('"').next())
        .map(|n| format!("legacy-{n}"))
        .expect("the old account is offered");
    let id = hidden_after(&signed.page, "Tunnuksen perhe.aiti");
    let fields = [("account", id.as_str()), ("password", "perhe.isa vanha")];
    let (status, html) = post(&app, &signed, "/seinajoki/account/legacy", &fields).await;
    assert_eq!(status, 401, "{html}");
    assert_eq!(invalid_fields(&html), [aiti]);
    assert_has(&html, "<title>Virhe: Omat tiedot");
    // Each wrong password is audited with its check and the client's address, as a login's.
    let failed = app.audited("seinajoki", "login.failed").await;
    let audited: Vec<_> = failed
        .iter()
        .map(|e| (e.detail.as_deref(), e.remote_addr.as_deref()))
        .collect();
    let from = Some("127.0.0.1");
    let checks = [
        r#"{"check":"account.password"}"#,
        r#"{"check":"account.legacy"}"#,
    ];
    assert_eq!(audited, [(Some(checks[0]), from), (Some(checks[1]), from)]);
    app.stop().await;
}

/// The value of the hidden `account` field of the form in which `text` stands.
fn hidden_after(page: &str, text: &str) -> String {
    let before = &page[..page.find(text).expect("the text is on the page")];
    let form = &before[before.rfind("<form ").expect("in a form")..];
    hidden(form, "account")
}

both_stores!(a_tab_left_open_when_another_resident_signs_in_changes_nothing_of_theirs);
/// Erkki's account page stays open in a tab; in another tab of the same browser Aino logs in at
/// an e-service (her login ends Erkki's session there). The forms of Erkki's tab are refused with
/// a page that says so (409): signing out everywhere does not sign Aino out on her phone, the name
/// is not hers to change, Erkki's password is not checked against her account (no failure, no
/// strike). Before, each form acted on whoever was signed in now.
async fn a_tab_left_open_when_another_resident_signs_in_changes_nothing_of_theirs(
    backend: Backend,
) {
    const AINO: &str = "aino@testi.fi";
    let app = TestApp::builder(backend)
        .user("seinajoki", "erkki@testi.fi", PASSWORD, "Erkki")
        .user("seinajoki", AINO, PASSWORD, "Aino")
        .spawn()
        .await;
    let erkki = sign_in(&app, "seinajoki", "erkki@testi.fi", PASSWORD).await;
    let phone = sign_in(&app, "seinajoki", AINO, PASSWORD).await;
    let client = rp::basic(&app).await;
    let again = [("prompt", "login")];
    let login = crate::helpers::journeys::Login::start(&erkki.browser, &client, &[], &again).await;
    assert_eq!(login.submit(AINO, PASSWORD, false).await.status(), 303);

    let other = "Tämä sivu oli toisen käyttäjätunnuksen";
    let forms: [(&str, &[(&str, &str)]); 3] = [
        ("/seinajoki/account/logout-everywhere", &[]),
        ("/seinajoki/account/name", &[("name", "Erkki")]),
        (
            "/seinajoki/account/password",
            &[
                ("current", PASSWORD),
                ("password", "uusi pitkä salasana"),
                ("password2", "uusi pitkä salasana"),
            ],
        ),
    ];
    for (path, fields) in forms {
        let (status, text) = post(&app, &erkki, path, fields).await;
        assert_eq!(status, 409, "{path}: {text}");
        assert_has(&text, other);
    }
    let aino = app.user_by_email("seinajoki", AINO).await;
    assert_eq!(aino.name.as_deref(), Some("Aino"));
    let on_phone = phone.browser.get(app.url("/seinajoki/account"));
    assert_eq!(on_phone.send().await.unwrap().status(), 200);
    assert!(app.audited("seinajoki", "login.failed").await.is_empty());
    assert!(
        app.audited("seinajoki", "password.changed")
            .await
            .is_empty()
    );
    // The page opened again is Aino's, and its forms are hers.
    let fresh = page(&erkki.browser, app.url("/seinajoki/account")).await;
    assert_has(&fresh, "<dd id=\"email\">aino@testi.fi</dd>");
    app.stop().await;
}
