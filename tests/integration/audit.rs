//! The audit trail answers a security team's questions: every event carries the client's address
//! (through the trusted-proxy setting), a failed login names the account, and throttled attempts,
//! registration requests, requests to change an address and mails that could not be sent are
//! recorded.

use crate::both_stores;
use crate::helpers::journeys::submit_from;
use crate::helpers::{Audited, Backend, TestApp};
use crate::rp::{self, location};

const PASSWORD: &str = "oikea hevonen patteri";
const FROM: &str = "198.51.100.9";

/// A server behind a trusted proxy, with the resident Erkki.
async fn erkki_behind_proxy(backend: Backend) -> TestApp {
    TestApp::builder(backend)
        .behind_proxy()
        .user("seinajoki", "erkki@testi.fi", PASSWORD, "Erkki")
        .spawn()
        .await
}

/// Posts the identifier and password pages of a fresh login at `client` from [`FROM`]; the status
/// of the answer to the password.
async fn attempt(app: &TestApp, client: &rp::Rp, email: &str, password: &str) -> u16 {
    attempt_from(app, client, FROM, email, password).await
}

/// [`attempt`] with `from` in every request's `X-Forwarded-For`.
async fn attempt_from(
    app: &TestApp,
    client: &rp::Rp,
    from: &str,
    email: &str,
    password: &str,
) -> u16 {
    let browser = app.browser();
    let started = rp::start(client, &[], &[]);
    let login = location(
        &browser
            .get(started.url.clone())
            .header("X-Forwarded-For", from)
            .send()
            .await
            .unwrap(),
    );
    let request = rp::param(&login, "request").unwrap();
    let login_page = format!("{}?{}", login.path(), login.query().unwrap());
    let fields = [("request", request.as_str()), ("identifier", email)];
    let (status, _) = submit_from(
        app,
        &browser,
        from,
        &login_page,
        "/seinajoki/login/identifier",
        &fields,
    )
    .await;
    assert_eq!(status, 200);
    let fields = [
        ("request", request.as_str()),
        ("identifier", email),
        ("password", password),
    ];
    // The password page's form has the same CSRF token as the identifier page's.
    submit_from(
        app,
        &browser,
        from,
        &login_page,
        "/seinajoki/login/password",
        &fields,
    )
    .await
    .0
}

both_stores!(logins_name_the_account_and_the_client_address);
async fn logins_name_the_account_and_the_client_address(backend: Backend) {
    let app = TestApp::builder(backend)
        .behind_proxy()
        .user("seinajoki", "erkki@testi.fi", PASSWORD, "Erkki")
        .user("seinajoki", "maija@testi.fi", PASSWORD, "Maija")
        .spawn()
        .await;
    let erkki = app.user_id("seinajoki", "erkki@testi.fi").await;
    let client = rp::basic(&app).await;

    assert_eq!(
        attempt(&app, &client, "maija@testi.fi", PASSWORD).await,
        303
    );
    // Wrong guesses until the throttle answers 429.
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let status = attempt(&app, &client, "erkki@testi.fi", "väärä arvaus").await;
        statuses.push(status);
        if status == 429 {
            break;
        }
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert_eq!(
        attempt(&app, &client, "nobody@testi.fi", "väärä").await,
        401
    );

    let row = |kind: &str, user: Option<&str>| Audited {
        kind: kind.into(),
        user_id: user.map(str::to_string),
        client_id: Some("rp-basic".into()),
        remote_addr: Some(FROM.into()),
        detail: None,
    };
    let succeeded = app.audited("seinajoki", "login.succeeded").await;
    let maija = app.user_id("seinajoki", "maija@testi.fi").await;
    // A login names what it proved (RFC 8176 `amr`).
    let by_password = Audited {
        detail: Some(r#"{"amr":"pwd"}"#.into()),
        ..row("login.succeeded", Some(&maija))
    };
    assert_eq!(succeeded, [by_password]);
    let failed = app.audited("seinajoki", "login.failed").await;
    assert_eq!(failed.len(), statuses.len(), "{failed:?}");
    for event in &failed[..failed.len() - 1] {
        assert_eq!(event, &row("login.failed", Some(&erkki)));
    }
    // An identifier without an account names none.
    assert_eq!(failed.last(), Some(&row("login.failed", None)));
    // The block's first refusal, with what is blocked and until when.
    let throttled = app.audited("seinajoki", "login.throttled").await;
    assert_eq!(throttled.len(), 1, "{throttled:?}");
    let detail = throttled[0].detail.clone();
    assert!(
        detail
            .as_deref()
            .is_some_and(|d| d.starts_with(r#"{"blocked":["account"],"until":"20"#)),
        "{detail:?}"
    );
    assert_eq!(
        throttled,
        [Audited {
            detail,
            ..row("login.throttled", Some(&erkki))
        }]
    );
    app.stop().await;
}

both_stores!(a_forwarded_value_that_is_no_address_is_not_recorded);
/// Behind a proxy that appends to the client's own `X-Forwarded-For` instead of replacing it, the
/// client writes the value idp reads: one that is no address (here a spreadsheet formula, which
/// would run when the security team opens a CSV export) is not kept; the event names the
/// connection's address instead.
async fn a_forwarded_value_that_is_no_address_is_not_recorded(backend: Backend) {
    let app = erkki_behind_proxy(backend).await;
    let client = rp::basic(&app).await;
    let formula = "=HYPERLINK(\"http://attacker.example/\",\"x\")";
    let status = attempt_from(&app, &client, formula, "erkki@testi.fi", "väärä").await;
    assert_eq!(status, 401);
    let failed = app.audited("seinajoki", "login.failed").await;
    let addresses: Vec<_> = failed.iter().map(|e| e.remote_addr.as_deref()).collect();
    assert_eq!(addresses, [Some("127.0.0.1")]);
    app.stop().await;
}

both_stores!(registration_and_address_change_requests_are_recorded);
async fn registration_and_address_change_requests_are_recorded(backend: Backend) {
    let app = erkki_behind_proxy(backend).await;
    let erkki = app.user_id("seinajoki", "erkki@testi.fi").await;
    let browser = app.browser();
    for email in ["uusi@testi.fi", "erkki@testi.fi"] {
        let fields = [("request", ""), ("email", email)];
        let page = "/seinajoki/register";
        assert_eq!(
            submit_from(&app, &browser, FROM, page, page, &fields)
                .await
                .0,
            200
        );
    }
    let event = |kind: &str, user: Option<&str>, detail: &str| Audited {
        kind: kind.into(),
        user_id: user.map(str::to_string),
        client_id: None,
        remote_addr: Some(FROM.into()),
        detail: Some(detail.into()),
    };
    assert_eq!(
        app.audited("seinajoki", "user.registration_requested")
            .await,
        [
            event("user.registration_requested", None, r#"{"outcome":"new"}"#),
            event(
                "user.registration_requested",
                Some(&erkki),
                r#"{"outcome":"account_exists"}"#
            ),
        ]
    );

    let client = rp::basic(&app).await;
    rp::log_in_at(&browser, &client, "erkki@testi.fi", PASSWORD).await;
    let fields = [("email", "erkki.uusi@testi.fi"), ("password", PASSWORD)];
    let (status, _) = submit_from(
        &app,
        &browser,
        FROM,
        "/seinajoki/account",
        "/seinajoki/account/email",
        &fields,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        app.audited("seinajoki", "email.change_requested").await,
        [event(
            "email.change_requested",
            Some(&erkki),
            r#"{"taken":false}"#
        )]
    );
    app.stop().await;
}

both_stores!(a_mail_that_cannot_be_sent_is_recorded);
async fn a_mail_that_cannot_be_sent_is_recorded(backend: Backend) {
    let app = TestApp::builder(backend)
        .unreachable_smtp()
        .behind_proxy()
        .user("seinajoki", "erkki@testi.fi", PASSWORD, "Erkki")
        .spawn()
        .await;
    let browser = app.browser();
    let fields = [("request", ""), ("email", "erkki@testi.fi")];
    let page = "/seinajoki/forgot";
    let (status, _) = submit_from(&app, &browser, FROM, page, page, &fields).await;
    assert_eq!(status, 503);
    let failed = app.audited("seinajoki", "mail.failed").await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].remote_addr.as_deref(), Some(FROM));
    let detail: serde_json::Value =
        serde_json::from_str(failed[0].detail.as_deref().unwrap()).unwrap();
    assert_eq!(detail["mail"], "reset_password");
    // One attempt, whoever made it (the request, or the mail worker — every 100 ms here — that
    // took the mail first): a mail that just failed waits for its backoff.
    assert_eq!(detail["attempts"], 1);
    assert_eq!(detail["gave_up"], false);
    assert!(!failed[0].detail.as_deref().unwrap().contains('@'));

    // The worker gives up after its last attempt, and that is recorded too.
    app.stop().await;
    for _ in 0..idp::mail::MAX_ATTEMPTS {
        app.clock.advance(2 * 3600);
        app.services.send_mail(None).await.unwrap();
    }
    let failed = app.audited("seinajoki", "mail.failed").await;
    let gave_up: Vec<&Audited> = failed
        .iter()
        .filter(|e| e.detail.as_deref().unwrap().contains(r#""gave_up":true"#))
        .collect();
    assert_eq!(gave_up.len(), 1, "{failed:?}");
    assert_eq!(gave_up[0].remote_addr, None, "the worker serves no client");
}

both_stores!(a_failure_is_recorded_once_whoever_attempted_it);
/// A mail the page sends at once can be taken first by a mail worker (of this node or another)
/// that runs between the commit and the page's own attempt. The page still tells the resident it
/// failed, and the failure is recorded once: by the page when the worker made the attempt, by
/// the attempt itself when the page made it.
async fn a_failure_is_recorded_once_whoever_attempted_it(backend: Backend) {
    let app = TestApp::builder(backend).unreachable_smtp().spawn().await;
    // The test plays the worker.
    app.stop().await;
    // The worker first, then the page.
    let taken = write_mail(&app).await;
    assert_eq!(app.services.send_mail(None).await.unwrap(), 0);
    assert!(app.audited("seinajoki", "mail.failed").await.is_empty());
    assert_eq!(app.services.send_now(&taken).await.unwrap(), Some(false));
    let failed = app.audited("seinajoki", "mail.failed").await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    let detail = failed[0].detail.as_deref().unwrap();
    for part in [taken.as_str(), r#""attempts":1"#, r#""gave_up":false"#] {
        assert!(detail.contains(part), "{part}: {detail}");
    }

    // The page first: its own attempt records the failure, and only that.
    let own = write_mail(&app).await;
    assert_eq!(app.services.send_now(&own).await.unwrap(), Some(false));
    let failed = app.audited("seinajoki", "mail.failed").await;
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(failed[1].detail.as_deref().unwrap().contains(&own));
}

both_stores!(a_mail_another_node_just_failed_waits_for_its_backoff);
/// Two nodes claim at once: this one reads the mail as due; before it takes the lease, the other
/// takes it, tries and fails (the next attempt 20 s on). This one's lease step finds it no longer
/// due and takes nothing; before, it claimed the mail and tried it again at once (CI saw the page's
/// failure recorded as a second attempt).
async fn a_mail_another_node_just_failed_waits_for_its_backoff(backend: Backend) {
    use idp::store::outbox::{MailRow, QUEUE};
    let app = TestApp::builder(backend).unreachable_smtp().spawn().await;
    app.stop().await;
    let id = write_mail(&app).await;
    let now = app.now();
    let lease = now + chrono::Duration::minutes(5);
    let (read_as_due, other_claimed, this_took) = app
        .db_run(move |conn| {
            let read_as_due = QUEUE.due_ids(conn, now, 4, None).unwrap();
            let other: Vec<MailRow> = QUEUE.claim_due(conn, now, lease, 4, None).unwrap();
            let claimed = (other[0].id.as_str(), other[0].queue.locked_until);
            let retry = idp::mail::retry_at(now, 1);
            assert!(QUEUE.failed(conn, claimed, "refused", retry).unwrap());
            let this_took = QUEUE.take_lease(conn, &id, now, lease).unwrap();
            (read_as_due, other.len(), this_took)
        })
        .await;
    assert_eq!((read_as_due.len(), other_claimed, this_took), (1, 1, false));
    app.stop().await;
}

/// Writes a mail into the outbox as a flow does; its id.
async fn write_mail(app: &TestApp) -> String {
    let now = app.now();
    app.db_run(move |conn| {
        let mail = idp::mail::Rendered {
            subject: "Aihe".into(),
            text: "Teksti".into(),
            html: "<p>Teksti</p>".into(),
        };
        idp::mail::enqueue(
            conn,
            ("seinajoki", None),
            "reset_password",
            "erkki@testi.fi",
            &mail,
            now,
        )
        .unwrap()
    })
    .await
}
