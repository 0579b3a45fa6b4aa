//! Forgot password: the link through the file outbox, the new password, sessions ended, the
//! pending authorization continued; and a mail that cannot be sent says so, also when the relay
//! stalls.

use std::time::Duration;

use diesel::prelude::*;
use idp::store::schema::mail_outbox;

use crate::both_stores;
use crate::helpers::journeys::{
    Login, answer, assert_links, page, post_with_csrf, set_password, submit_link,
};
use crate::helpers::{Backend, Old, Relay, TestApp, TestAppBuilder, assert_has};
use crate::rp::{self, location, param};

const OLD: &str = "vanha salasana";
const NEW: &str = "uusi pitkä salasana";

/// Asks a reset link for `email` in `browser`, for the pending request `request`: (status, page).
async fn ask_link(
    app: &TestApp,
    browser: &reqwest::Client,
    request: &str,
    email: &str,
) -> (u16, String) {
    let form = page(
        browser,
        app.url(&format!("/seinajoki/forgot?request={request}")),
    )
    .await;
    assert_has(&form, "Unohtuiko käyttäjätunnus tai salasana?");
    let fields = [("request", request), ("email", email)];
    answer(post_with_csrf(browser, app.url("/seinajoki/forgot"), &form, &fields).await).await
}

/// The server with Erkki, whose password is [`OLD`].
async fn with_erkki(builder: TestAppBuilder) -> TestApp {
    builder
        .user("seinajoki", "erkki@testi.fi", OLD, "Erkki")
        .spawn()
        .await
}

both_stores!(a_reset_link_sets_the_password_and_continues_the_login);
async fn a_reset_link_sets_the_password_and_continues_the_login(backend: Backend) {
    let app = with_erkki(TestApp::builder(backend)).await;
    let client = rp::basic(&app).await;

    // Another browser is logged in: the reset ends its session.
    let elsewhere = app.browser();
    let started = rp::start(&client, &[], &[]);
    rp::log_in(&elsewhere, &started.url, "erkki@testi.fi", OLD).await;

    let login = Login::fresh(&app, &client).await;

    // An unknown address gets the same page and no mail.
    let (status, unknown) = ask_link(&app, &login.browser, &login.request, "nobody@testi.fi").await;
    assert_eq!(status, 200);
    assert!(app.mails().is_empty());
    let (status, known) = ask_link(&app, &login.browser, &login.request, "Erkki@Testi.fi").await;
    assert_eq!(status, 200);
    assert_eq!(
        unknown, known,
        "the page does not tell whether the account exists"
    );
    assert_has(&known, "Linkki on voimassa 60 minuuttia.");
    // The way back to the waiting login, for a link opened on another device.
    let back = app.url(&format!("/seinajoki/login?request={}", login.request));
    assert_has(&known, &format!("href=\"{back}\""));

    let mails = app.mails();
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_has(mail, "To: erkki@testi.fi");
    assert_has(mail, "Salasanan asettaminen");
    let link = app.link_in(mail, "/seinajoki/reset?token=").unwrap();
    // Sent, its text (with the working link) is no longer in the database: a replica or backup
    // holds the row, not the link.
    let token = link.split("token=").nth(1).unwrap().to_string();
    let texts = || {
        app.db_run(|conn| {
            mail_outbox::table
                .filter(mail_outbox::status.eq("sent"))
                .select((mail_outbox::body_text, mail_outbox::body_html))
                .load::<(String, String)>(conn)
                .unwrap()
        })
    };
    let mut sent = texts().await;
    for _ in 0..50 {
        if !sent.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        sent = texts().await;
    }
    assert_eq!(sent, [(String::new(), String::new())], "{token}");

    let form = login.browser.get(&link).send().await.unwrap();
    assert_eq!(form.status(), 200);
    let form = form.text().await.unwrap();
    assert_has(&form, "autocomplete=\"new-password\"");
    // The account's login name, for a password manager to save the new password under.
    assert_has(
        &form,
        r#"<input type="hidden" name="username" autocomplete="username" value="erkki@testi.fi">"#,
    );
    for (password, again, status, refusal) in [
        (NEW, "toinen", Some(422), "Salasanat eivät täsmää."),
        (
            "Salasana123",
            "Salasana123",
            None,
            "Salasana on liian yleinen.",
        ),
        ("lyhyt", "lyhyt", None, "vähintään 8 merkkiä"),
    ] {
        let fields = [("password", password), ("password2", again)];
        let refused = submit_link(&login.browser, &link, &form, &fields).await;
        let (got, page) = answer(refused).await;
        if let Some(status) = status {
            assert_eq!(got, status, "{password}");
        }
        assert!(page.contains(refusal), "{password}: {page}");
    }

    // Set: the login that was pending goes on to the client.
    let fields = [("password", NEW), ("password2", NEW)];
    let done = submit_link(&login.browser, &link, &form, &fields).await;
    let back = location(&done);
    assert_eq!(
        param(&back, "state").as_deref(),
        Some(login.started().state.secret().as_str())
    );
    let browser = login.browser.clone();
    login.redeem(&client, &back).await;

    // Once only; the other browser's session ended; the new password works, the old does not.
    let (status, used) = answer(browser.get(&link).send().await.unwrap()).await;
    assert_eq!(status, 410);
    assert_has(&used, "<title>Linkki ei toimi – ");
    // A way on: the login (the password is set) or a new link.
    assert_links(&app, &used, "/seinajoki/account", "Kirjaudu sisään");
    assert_links(&app, &used, "/seinajoki/forgot", "Pyydä uusi linkki");
    let back = rp::prompt_none(&elsewhere, &client).await;
    assert_eq!(param(&back, "error").as_deref(), Some("login_required"));
    let fresh = Login::fresh(&app, &client).await;
    assert_eq!(
        fresh.submit("erkki@testi.fi", OLD, false).await.status(),
        401
    );
    assert_eq!(
        fresh.submit("erkki@testi.fi", NEW, false).await.status(),
        303
    );
    app.stop().await;
}

both_stores!(a_mail_that_cannot_be_sent_is_not_a_silent_success);
async fn a_mail_that_cannot_be_sent_is_not_a_silent_success(backend: Backend) {
    let app = with_erkki(TestApp::builder(backend).unreachable_smtp()).await;
    let browser = app.browser();
    let (status, page) = ask_link(&app, &browser, "", "erkki@testi.fi").await;
    assert_eq!(status, 503);
    assert_has(
        &page,
        "<title>Virhe: Linkin lähettäminen ei onnistunut – Seinäjoen kaupunki</title>",
    );
    assert_has(&page, "<h1>Unohtuiko käyttäjätunnus tai salasana?</h1>");
    assert_has(
        &page,
        "Salasanan palautuslinkin lähettäminen antamaasi sähköpostiosoitteeseen ei onnistunut. Ota yhteys asiakaspalveluun.",
    );
    assert!(
        page.contains("asiakaspalvelu@seinajoki.example"),
        "the tenant's support contact"
    );
    // An old account's first login (kouvola mails a set-password link): the page names the link
    // that failed, not a forgotten password.
    app.import(Old::new("kouvola", "matti.m", "KVL-1").email("matti@testi.fi"))
        .await;
    let client = rp::basic_of(&app, "kouvola").await;
    let login = Login::start(&app.browser(), &client, &["email"], &[]).await;
    let (status, page) = login.identify("matti@testi.fi").await;
    assert_eq!(status, 503, "{page}");
    assert_has(&page, "<h1>Linkin lähettäminen ei onnistunut</h1>");
    assert_has(
        &page,
        "Linkin lähettäminen antamaasi sähköpostiosoitteeseen ei onnistunut. Ota yhteys asiakaspalveluun.",
    );
    app.stop().await;
}

/// The test's bound on one attempt to hand a mail to the relay (`mail.timeout_seconds`).
const ATTEMPT_SECONDS: u64 = 1;

/// How long the test waits for what a stalled attempt holds up (a page, a worker's round): far
/// past the attempt's bound, and the 10 s a page waits for a mail another sender holds. Only a
/// send that is never given up reaches it, and fails the test instead of hanging it.
const GUARD: Duration = Duration::from_secs(30);

/// The outbox's error of an attempt given up after [`ATTEMPT_SECONDS`].
const GIVEN_UP: &str = "the relay did not answer within 1 s";

both_stores!(a_relay_that_never_answers_holds_neither_the_page_nor_the_mail);
/// A relay that takes the connection and then says nothing (stalled, not refusing): each attempt
/// is given up after `mail.timeout_seconds`, so the forgot page answers as when the relay is down,
/// the mail worker's own attempt ends the same way, and the mail leaves at its next retry once the
/// relay answers.
async fn a_relay_that_never_answers_holds_neither_the_page_nor_the_mail(backend: Backend) {
    let relay = Relay::silent();
    let (app, page) = asked_through(&relay, backend).await;
    assert_has(
        &page,
        "Salasanan palautuslinkin lähettäminen antamaasi sähköpostiosoitteeseen ei onnistunut. Ota yhteys asiakaspalveluun.",
    );

    // At the retry (20 s later) the worker's attempt meets the same silence and ends the same way.
    app.clock.advance(30);
    let second = tokio::time::timeout(GUARD, attempted(&app, 2)).await;
    let second = second.expect("the mail worker waits on the relay");
    assert_eq!(second, ("pending".into(), 2, Some(GIVEN_UP.into())));

    // The relay answers again: the mail leaves at its next retry (40 s later), once.
    relay.answer();
    app.clock.advance(60);
    let sent = tokio::time::timeout(GUARD, attempted(&app, 3)).await;
    assert_eq!(sent.expect("the mail left").0, "sent");
    let received = relay.received();
    assert_eq!(received.len(), 1, "{received:?}");
    let mail = crate::helpers::decode_quoted_printable(&received[0]);
    assert_has(&mail, "To: erkki@testi.fi");
    assert!(
        app.link_in(&mail, "/seinajoki/reset?token=").is_some(),
        "{mail}"
    );
    app.stop().await;
}

both_stores!(while_the_relay_fails_an_address_without_an_account_reads_as_failed_too);
/// While the relay fails, Erkki's forgot page says the link could not be sent (503). One for an
/// address without an account sends no mail: before, it answered 200 "sent" at once, and the pair
/// told anyone which addresses have an account. Now it reads as the failure does, after as long;
/// once the relay answers again (the worker sends Erkki's mail), it reads as sent.
async fn while_the_relay_fails_an_address_without_an_account_reads_as_failed_too(backend: Backend) {
    let relay = Relay::silent();
    let (app, known) = asked_through(&relay, backend).await;
    let browser = app.browser();
    let started = std::time::Instant::now();
    let (status, unknown) = ask_link(&app, &browser, "", "ei.tilia@testi.fi").await;
    assert_eq!(status, 503, "{unknown}");
    let failed =
        "Salasanan palautuslinkin lähettäminen antamaasi sähköpostiosoitteeseen ei onnistunut.";
    assert_has(&known, failed);
    assert_has(&unknown, failed);
    assert!(
        started.elapsed() >= Duration::from_secs(ATTEMPT_SECONDS),
        "as long as the failed attempt took"
    );
    assert_eq!(outbox(&app).await.1, 1, "no mail written for it");

    relay.answer();
    app.clock.advance(30);
    let sent = tokio::time::timeout(GUARD, attempted(&app, 2)).await;
    assert_eq!(sent.expect("the mail left").0, "sent");
    let (status, page) = ask_link(&app, &browser, "", "ei.tilia@testi.fi").await;
    assert_eq!(status, 200, "{page}");
    app.stop().await;
}

both_stores!(a_recipient_domain_the_relay_cannot_resolve_is_not_the_relay_failing);
/// Anyone can have a mail sent to a domain the relay cannot resolve (a registration, here a
/// forgot of such an account): `450` for that recipient. It says the relay works: the requests
/// after it, with and without an account, read alike as sent. Were it the relay's state, one
/// without an account would read as failed and one with as sent.
async fn a_recipient_domain_the_relay_cannot_resolve_is_not_the_relay_failing(backend: Backend) {
    let relay = Relay::refusing_domain("rikki.fi");
    let mail = relay.mail_toml(ATTEMPT_SECONDS);
    let builder = TestApp::builder(backend).mail_toml(&mail);
    let app = with_erkki(builder.user("seinajoki", "x@rikki.fi", OLD, "X")).await;
    let browser = app.browser();
    let answers = [
        ("x@rikki.fi", 503),
        ("ei.tilia@testi.fi", 200),
        ("erkki@testi.fi", 200),
    ];
    for (address, status) in answers {
        let (got, page) = ask_link(&app, &browser, "", address).await;
        assert_eq!(got, status, "{address}: {page}");
    }
    app.stop().await;
}

both_stores!(a_relay_that_never_confirms_the_message_gets_it_again_on_a_new_connection);
/// A relay that takes the message and never confirms it: the attempt is given up, and the next
/// one opens a connection of its own. The given-up connection stands in the middle of the
/// exchange: were it kept for reuse (lettre's pool), the next attempt's first command on it would
/// meet the same silence, and so would every attempt after it.
async fn a_relay_that_never_confirms_the_message_gets_it_again_on_a_new_connection(
    backend: Backend,
) {
    let relay = Relay::mute_after_the_message();
    let (app, _) = asked_through(&relay, backend).await;
    relay.answer();
    app.clock.advance(30);
    let sent = tokio::time::timeout(GUARD, attempted(&app, 2)).await;
    assert_eq!(sent.expect("the mail worker waits on the relay").0, "sent");
    let received = relay.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_has(&received[0], "To: erkki@testi.fi");
    app.stop().await;
}

/// The server with Erkki, sending through `relay` (each attempt given up after
/// [`ATTEMPT_SECONDS`]), once his forgot page is answered: 503, and the attempt given up, to be
/// retried. The server, and the page.
async fn asked_through(relay: &Relay, backend: Backend) -> (TestApp, String) {
    let builder = TestApp::builder(backend).mail_toml(&relay.mail_toml(ATTEMPT_SECONDS));
    let app = with_erkki(builder).await;
    let browser = app.browser();
    let asked = ask_link(&app, &browser, "", "erkki@testi.fi");
    let (status, page) = tokio::time::timeout(GUARD, asked)
        .await
        .expect("the forgot page waits on the relay");
    assert_eq!(status, 503, "{page}");
    let given_up = ("pending".into(), 1, Some(GIVEN_UP.into()));
    assert_eq!(outbox(&app).await, given_up);
    (app, page)
}

/// The one mail of the outbox: its status, attempts and last error.
async fn outbox(app: &TestApp) -> (String, i64, Option<String>) {
    app.db_run(|conn| {
        mail_outbox::table
            .select((
                mail_outbox::status,
                mail_outbox::attempts,
                mail_outbox::last_error,
            ))
            .get_result(conn)
            .unwrap()
    })
    .await
}

/// [`outbox`] once the mail has had `attempts` attempts (every 50 ms, as long as it takes).
async fn attempted(app: &TestApp, attempts: i64) -> (String, i64, Option<String>) {
    loop {
        let state = outbox(app).await;
        if state.1 >= attempts {
            return state;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

both_stores!(a_password_change_ends_outstanding_reset_links);
async fn a_password_change_ends_outstanding_reset_links(backend: Backend) {
    let app = with_erkki(TestApp::builder(backend)).await;
    let browser = app.browser();
    ask_link(&app, &browser, "", "erkki@testi.fi").await;
    ask_link(&app, &browser, "", "erkki@testi.fi").await;
    let links: Vec<String> = app
        .mails()
        .iter()
        .filter_map(|m| app.link_in(m, "/seinajoki/reset?token="))
        .collect();
    assert_eq!(links.len(), 2);
    // Use the first: the second one dies with it.
    let done = set_password(&browser, &links[0], NEW).await;
    assert_eq!(done.status(), 200);
    assert_eq!(browser.get(&links[1]).send().await.unwrap().status(), 410);
    app.stop().await;
}

both_stores!(an_old_account_not_yet_bound_gets_its_link_from_forgot_password);
/// The city's letter sends a resident who forgot the old password to "forgot password": an
/// address only an old account not yet bound has gets the linker's link (not a silent "sent"),
/// which sets the password and keeps the old subject. An authority account's address gets none.
async fn an_old_account_not_yet_bound_gets_its_link_from_forgot_password(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = rp::basic(&app).await;
    let hash = bcrypt::hash("unohtunut salasana", 4).unwrap();
    let old = Old::new("seinajoki", "vanha.unohtaja", "SJK-77").email("unohtaja@testi.fi");
    let id = app.import(old.hash(&hash)).await;
    let official = Old::new("seinajoki", "virkailija", "SJK-V7").email("virka@testi.fi");
    app.import(official.hash(&hash).authority()).await;

    let login = Login::fresh(&app, &client).await;
    let (status, sent) = ask_link(&app, &login.browser, &login.request, "virka@testi.fi").await;
    assert_eq!(status, 200);
    assert!(
        app.mails().is_empty(),
        "an authority's old password is its only proof"
    );
    let (status, same) = ask_link(&app, &login.browser, &login.request, "Unohtaja@testi.fi").await;
    assert_eq!((status, &same), (200, &sent));
    let (mail, link) = app.mailed_link(1, "/seinajoki/reset?token=").await;
    assert_has(&mail, "To: unohtaja@testi.fi");
    assert_has(&mail, "Aiempi käyttäjätunnus: vanha.unohtaja");
    let done = set_password(&login.browser, &link, NEW).await;
    let redeemed = login.redeem(&client, &location(&done)).await;
    assert_eq!(redeemed.payload()["sub"], "SJK-77");
    assert!(app.bound_to(&id).await.is_some());
    app.stop().await;
}

both_stores!(a_late_failure_of_a_node_whose_lease_ran_out_changes_nothing);
/// A node whose lease ran out while it still tried the relay (a relay slower than the lease):
/// meanwhile another node sent the mail, or holds it now. The late node's failure, even its
/// giving up, changes nothing: a sent mail stays sent, a held one stays the other node's (freed,
/// a third node would send it again), and no `mail.failed` is audited.
async fn a_late_failure_of_a_node_whose_lease_ran_out_changes_nothing(backend: Backend) {
    use idp::store::outbox::QUEUE;
    let app = with_erkki(TestApp::builder(backend)).await;
    ask_link(&app, &app.browser(), "", "erkki@testi.fi").await;
    assert_eq!(outbox(&app).await.0, "sent");
    let now = app.now();
    let (late, held) = (
        now - chrono::Duration::minutes(1),
        now + chrono::Duration::minutes(5),
    );
    let recorded = app
        .db_run(move |conn| {
            let id: String = mail_outbox::table
                .select(mail_outbox::id)
                .get_result(conn)
                .unwrap();
            let claimed = (id.as_str(), Some(late));
            let after_sent = [
                QUEUE.failed(conn, claimed, "late", Some(now)).unwrap(),
                QUEUE.failed(conn, claimed, "late", None).unwrap(),
            ];
            // As another node's claim leaves a mail that waits.
            diesel::update(mail_outbox::table.find(&id))
                .set((
                    mail_outbox::status.eq("pending"),
                    mail_outbox::locked_until.eq(Some(held)),
                ))
                .execute(conn)
                .unwrap();
            let while_held = [
                QUEUE.failed(conn, claimed, "late", Some(now)).unwrap(),
                QUEUE.failed(conn, claimed, "late", None).unwrap(),
            ];
            let lease: Option<chrono::NaiveDateTime> = mail_outbox::table
                .select(mail_outbox::locked_until)
                .get_result(conn)
                .unwrap();
            (after_sent, while_held, lease.is_some())
        })
        .await;
    assert_eq!(recorded, ([false, false], [false, false], true));
    assert_eq!(outbox(&app).await, ("pending".into(), 1, None));
    assert!(app.audited("seinajoki", "mail.failed").await.is_empty());
    app.stop().await;
}

both_stores!(a_reset_link_verifies_the_address_it_was_mailed_to);
/// An address stored unverified (an old account's bound under `legacy.email_verified = false`,
/// one support added): the reset link mailed to it proves the mailbox, so after the new password
/// the account's address is verified (the ID token's `email_verified`). Before, it stayed
/// unverified until a change of address.
async fn a_reset_link_verifies_the_address_it_was_mailed_to(backend: Backend) {
    use idp::store::schema::users;
    let app = with_erkki(TestApp::builder(backend)).await;
    let erkki = app.user_id("seinajoki", "erkki@testi.fi").await;
    app.db_run(move |conn| {
        diesel::update(users::table.find(&erkki))
            .set(users::email_verified.eq(false))
            .execute(conn)
            .unwrap();
    })
    .await;
    let login = Login::fresh(&app, &rp::basic(&app).await).await;
    let (status, _) = ask_link(&app, &login.browser, &login.request, "erkki@testi.fi").await;
    assert_eq!(status, 200);
    let (_, link) = app.mailed_link(1, "/seinajoki/reset?token=").await;
    assert_eq!(set_password(&login.browser, &link, NEW).await.status(), 303);
    let user = app.user_by_email("seinajoki", "erkki@testi.fi").await;
    assert!(user.email_verified);
    app.stop().await;
}

both_stores!(a_mailbox_the_relay_refuses_for_good_is_given_up_at_once);
/// The relay refuses the recipient for good (`550 5.1.1`, a mailbox that no longer exists): the
/// page says the link could not be sent, and the mail is given up at once (`failed`, one attempt,
/// `mail.failed` with `gave_up`). Before, it was tried ten times over hours like a timeout,
/// hammering the relay and the city's sender reputation. Such a refusal is the recipient's, not
/// the relay failing: a request that writes no mail afterwards reads as sent (were it the
/// relay's state, anyone could register a bogus address and turn the cover of
/// `while_the_relay_fails_…` around).
async fn a_mailbox_the_relay_refuses_for_good_is_given_up_at_once(backend: Backend) {
    let relay = Relay::refusing_recipients();
    let builder = TestApp::builder(backend).mail_toml(&relay.mail_toml(ATTEMPT_SECONDS));
    let app = with_erkki(builder).await;
    let (status, _) = ask_link(&app, &app.browser(), "", "erkki@testi.fi").await;
    assert_eq!(status, 503);
    let (status, page) = ask_link(&app, &app.browser(), "", "ei.tilia@testi.fi").await;
    assert_eq!(status, 200, "{page}");
    let (state, attempts, error) = outbox(&app).await;
    assert_eq!((state.as_str(), attempts), ("failed", 1));
    assert!(error.is_some_and(|e| e.contains("550")));
    let failed = app.audit_details("seinajoki", "mail.failed").await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["gave_up"], true, "{failed:?}");
    // Given up, its text (with the working link) is no longer in the database either.
    let texts = app
        .db_run(|conn| {
            mail_outbox::table
                .select((mail_outbox::body_text, mail_outbox::body_html))
                .get_result::<(String, String)>(conn)
                .unwrap()
        })
        .await;
    assert_eq!(texts, (String::new(), String::new()));
    app.clock.advance(24 * 3600);
    app.services.send_mail(None).await.unwrap();
    assert_eq!(outbox(&app).await.1, 1, "never tried again");
    app.stop().await;
}
