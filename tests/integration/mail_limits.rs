//! Limits on the mail that anyone can cause: per recipient address and per client address (an
//! IPv6 one per /64), per tenant, atomic under parallel requests; the page past a limit reads as
//! before and the event is audited. Forgot password counts whether or not the address has an
//! account; the deletion's undo mail counts but is never refused. And no request text reaches a
//! mail.

use crate::both_stores;
use crate::helpers::journeys::{Login, page, set_password, sign_in, submit_from};
use crate::helpers::{Audited, Backend, Old, TestApp, assert_has};
use crate::rp;

const PASSWORD: &str = "oikea hevonen patteri";

/// Sends the same request `times` times; asserts that the pages past the limit (3) are the page
/// before it, and returns the mails written to `to`.
async fn repeat(times: usize, to: &str, app: &TestApp, send: impl AsyncFn() -> (u16, String)) {
    let mut pages = Vec::new();
    for _ in 0..times {
        pages.push(send().await);
    }
    for page in &pages[3..] {
        assert_eq!(page, &pages[2], "the page past the limit reads as before");
    }
    assert_eq!(pages[2].0, 200, "{}", pages[2].1);
    assert_eq!(app.mails_to(to).len(), 3, "N + 1 requests, N mails to {to}");
}

both_stores!(every_kind_of_mail_is_limited_per_address);
async fn every_kind_of_mail_is_limited_per_address(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for email in ["erkki@testi.fi", "maija@testi.fi", "ville@testi.fi"] {
        app.add_user("seinajoki", email, PASSWORD, "Asukas").await;
    }
    let browser = app.browser();
    // The email-link policy's set-password link of an old account, asked at the identifier page.
    app.import(Old::new("kouvola", "ossi.k", "KVL-42").email("ossi@testi.fi"))
        .await;
    let client = rp::basic_of(&app, "kouvola").await;
    let visitor = Login::fresh(&app, &client).await;
    let login_page = format!("/kouvola/login?request={}", visitor.request);
    // A change of address, from the account page.
    let resident = app.browser();
    let started = rp::start(&rp::basic(&app).await, &[], &[]);
    rp::log_in(&resident, &started.url, "ville@testi.fi", PASSWORD).await;

    let (forgot, register) = ("/seinajoki/forgot", "/seinajoki/register");
    let cases = [
        // Forgot password.
        (
            "erkki@testi.fi",
            &browser,
            forgot,
            forgot,
            [("request", ""), ("email", "Erkki@testi.fi")],
        ),
        // Registration of an address that has an account: the account-exists notice.
        (
            "maija@testi.fi",
            &browser,
            register,
            register,
            [("request", ""), ("email", "maija@testi.fi")],
        ),
        // Registration of a new address.
        (
            "uusi@testi.fi",
            &browser,
            register,
            register,
            [("request", ""), ("email", "uusi@testi.fi")],
        ),
        (
            "ossi@testi.fi",
            &visitor.browser,
            &login_page,
            "/kouvola/login/identifier",
            [
                ("request", visitor.request.as_str()),
                ("identifier", "ossi@testi.fi"),
            ],
        ),
        (
            "ville.uusi@testi.fi",
            &resident,
            "/seinajoki/account",
            "/seinajoki/account/email",
            [("email", "ville.uusi@testi.fi"), ("password", PASSWORD)],
        ),
    ];
    for (to, browser, page, action, fields) in cases {
        repeat(4, to, &app, async || {
            submit_from(&app, browser, "127.0.0.1", page, action, &fields).await
        })
        .await;
    }

    let limited = app.audited("seinajoki", "mail.limited").await;
    let expected = [
        (
            "reset_password",
            Some(app.user_id("seinajoki", "erkki@testi.fi").await),
        ),
        (
            "account_exists",
            Some(app.user_id("seinajoki", "maija@testi.fi").await),
        ),
        ("register", None),
        (
            "verify_email",
            Some(app.user_id("seinajoki", "ville@testi.fi").await),
        ),
    ];
    assert_eq!(limited.len(), expected.len(), "{limited:?}");
    for (row, (mail, user)) in limited.iter().zip(expected) {
        assert_eq!(row.user_id, user, "{row:?}");
        assert_eq!(row.remote_addr.as_deref(), Some("127.0.0.1"));
        assert_eq!(
            row.detail.as_deref(),
            Some(format!(r#"{{"limit":"per_address","mail":"{mail}"}}"#).as_str())
        );
        assert!(
            !row.detail.as_deref().unwrap().contains('@'),
            "never the address"
        );
    }
    let limited = app.audited("kouvola", "mail.limited").await;
    assert_eq!(limited.len(), 1, "{limited:?}");
    assert_eq!(
        limited[0].detail.as_deref(),
        Some(r#"{"limit":"per_address","mail":"legacy_link"}"#)
    );
    app.stop().await;
}

/// Three residents ask for reset links from the client addresses `from` (one each), under a
/// client address limit of 2: the third is refused as the limit's (its page read as before, no
/// mail, `mail.limited` audited with the third's full address), while `other` has a count of
/// its own.
async fn the_client_limit_counts(backend: Backend, from: [&str; 3], other: &str) {
    let app = TestApp::builder(backend)
        .tenant_toml("\n[mail_limits]\nper_client_address = 2\n")
        .behind_proxy()
        .spawn()
        .await;
    for email in ["a@testi.fi", "b@testi.fi", "c@testi.fi"] {
        app.add_user("seinajoki", email, PASSWORD, "Asukas").await;
    }
    let browser = app.browser();
    let forgot = async |from: &str, email: &str| {
        let fields = [("request", ""), ("email", email)];
        let forgot = "/seinajoki/forgot";
        submit_from(&app, &browser, from, forgot, forgot, &fields).await
    };
    let first = forgot(from[0], "a@testi.fi").await;
    let second = forgot(from[1], "b@testi.fi").await;
    let third = forgot(from[2], "c@testi.fi").await;
    assert_eq!(first.0, 200);
    assert_eq!(third, second, "the page past the limit reads as before");
    assert_eq!(app.mails().len(), 2);
    assert!(app.mails_to("c@testi.fi").is_empty());
    // Another client has its own count.
    let other = forgot(other, "c@testi.fi").await;
    assert_eq!(other, second);
    assert_eq!(app.mails_to("c@testi.fi").len(), 1);

    let limited = app.audited("seinajoki", "mail.limited").await;
    assert_eq!(
        limited,
        [Audited {
            kind: "mail.limited".into(),
            user_id: Some(app.user_id("seinajoki", "c@testi.fi").await),
            client_id: None,
            remote_addr: Some(from[2].into()),
            detail: Some(r#"{"limit":"per_client_address","mail":"reset_password"}"#.into()),
        }]
    );
    app.stop().await;
}

both_stores!(a_registration_refused_by_the_limit_adds_no_event_to_the_accounts_trail);
/// Anyone can post the registration form with a resident's address in a loop. Past the address's
/// limit no mail is written, and no `user.registration_requested` either: the refusals are the
/// window's one `mail.limited`. Before, every request added an event under the resident's account
/// (their export, the audit chain), and one for each address without an account.
async fn a_registration_refused_by_the_limit_adds_no_event_to_the_accounts_trail(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_user("seinajoki", "erkki@testi.fi", PASSWORD, "Erkki")
        .await;
    let (browser, register) = (app.browser(), "/seinajoki/register");
    let fields = [("request", ""), ("email", "erkki@testi.fi")];
    repeat(8, "erkki@testi.fi", &app, async || {
        submit_from(&app, &browser, "203.0.113.7", register, register, &fields).await
    })
    .await;
    let requested = app
        .audited("seinajoki", "user.registration_requested")
        .await;
    assert_eq!(requested.len(), 3);
    assert_eq!(app.audited("seinajoki", "mail.limited").await.len(), 1);
    app.stop().await;
}

both_stores!(the_client_address_limit_spans_recipients);
async fn the_client_address_limit_spans_recipients(backend: Backend) {
    let from = "203.0.113.7";
    the_client_limit_counts(backend, [from; 3], "203.0.113.8").await;
}

both_stores!(an_ipv6_client_is_counted_per_64);
/// A client with a routed /64 sends each request from another address of it: the client address
/// limit still counts them as one (the /64), while another /64 has its own count; the audit trail
/// keeps the full address. Before, every address had its own count and the mails never stopped.
async fn an_ipv6_client_is_counted_per_64(backend: Backend) {
    let from = [
        "2001:db8:1:2::1",
        "2001:db8:1:2::2",
        "2001:db8:1:2:ffff:abcd:1234:5678",
    ];
    the_client_limit_counts(backend, from, "2001:db8:1:3::1").await;
}

/// A server behind a proxy whose seinajoki tenant lets one client address cause three mails.
async fn budget_of_three(backend: Backend) -> TestApp {
    TestApp::builder(backend)
        .tenant_toml("\n[mail_limits]\nper_client_address = 3\n")
        .behind_proxy()
        .spawn()
        .await
}

/// The attack on the client address's budget (3 here) from `from`, in `browser`: registrations
/// of the attacker's own addresses `own[0]` and `own[1]`, the form at `probe` (forgot password,
/// registration) for `target`, a registration of `own[2]`. The four pages.
async fn spend_the_budget(
    app: &TestApp,
    browser: &reqwest::Client,
    from: &str,
    (probe, target): (&str, &str),
    own: [&str; 3],
) -> Vec<(u16, String)> {
    let register = "/seinajoki/register";
    let mut pages = Vec::new();
    for (path, email) in [
        (register, own[0]),
        (register, own[1]),
        (probe, target),
        (register, own[2]),
    ] {
        let fields = [("request", ""), ("email", email)];
        pages.push(submit_from(app, browser, from, path, path, &fields).await);
    }
    pages
}

both_stores!(forgot_spends_the_client_address_budget_with_or_without_an_account);
async fn forgot_spends_the_client_address_budget_with_or_without_an_account(backend: Backend) {
    let app = budget_of_three(backend).await;
    app.add_user("seinajoki", "kohde@testi.fi", PASSWORD, "Kohde")
        .await;
    // The target has an account; then, from another client address, one without (one browser
    // and the same own addresses: the same CSRF token and wording in both).
    let browser = app.browser();
    let own = ["a1@testi.fi", "a2@testi.fi", "a3@testi.fi"];
    let forgot = "/seinajoki/forgot";
    let with = spend_the_budget(
        &app,
        &browser,
        "203.0.113.7",
        (forgot, "kohde@testi.fi"),
        own,
    )
    .await;
    let target = (forgot, "ei.tilia@testi.fi");
    let without = spend_the_budget(&app, &browser, "203.0.113.8", target, own).await;
    assert_eq!(with, without, "the attacker's pages tell nothing");
    for (status, text) in &with {
        assert_eq!(*status, 200, "{text}");
    }
    assert_has(
        &with[3].1,
        "<p id=\"register-sent\">Lähetimme osoitteeseen a3@testi.fi viestin. Jatka sen linkistä.",
    );
    // Only the reset mail differs, and it goes to the target: the last registration is past the
    // client address's limit either way.
    assert_eq!(app.mails_to("kohde@testi.fi").len(), 1);
    assert!(app.mails_to("ei.tilia@testi.fi").is_empty());
    assert_eq!(app.mails_to("a1@testi.fi").len(), 2);
    assert_eq!(app.mails_to("a2@testi.fi").len(), 2);
    assert!(app.mails_to("a3@testi.fi").is_empty(), "no mail arrives");
    assert_eq!(app.mails().len(), 5);
    let limited = app.audited("seinajoki", "mail.limited").await;
    let row = |from: &str| Audited {
        kind: "mail.limited".into(),
        user_id: None,
        client_id: None,
        remote_addr: Some(from.into()),
        detail: Some(r#"{"limit":"per_client_address","mail":"register"}"#.into()),
    };
    assert_eq!(limited, [row("203.0.113.7"), row("203.0.113.8")]);
    app.stop().await;
}

both_stores!(registering_an_authority_accounts_address_spends_the_budget_too);
/// The same attack with a registration of the target: an address whose only old account is an
/// authority's (which no mailed link may prove, so nothing is mailed to it) spends the client
/// address's budget as any other registration does. Before, it spent nothing, and the mail of
/// the attacker's last registration told that the address was an authority's in the export.
async fn registering_an_authority_accounts_address_spends_the_budget_too(backend: Backend) {
    let app = budget_of_three(backend).await;
    let authority = Old::new("seinajoki", "virasto.v", "SJK-V9").email("virka@testi.fi");
    app.import(authority.authority()).await;
    let browser = app.browser();
    let own = ["a1@testi.fi", "a2@testi.fi", "a3@testi.fi"];
    let register = "/seinajoki/register";
    let target = (register, "virka@testi.fi");
    let with = spend_the_budget(&app, &browser, "203.0.113.7", target, own).await;
    let target = (register, "ei.tilia@testi.fi");
    let without = spend_the_budget(&app, &browser, "203.0.113.8", target, own).await;
    let with: Vec<(u16, String)> = with
        .into_iter()
        .map(|(status, page)| (status, page.replace("virka@testi.fi", "X")))
        .collect();
    let without: Vec<(u16, String)> = without
        .into_iter()
        .map(|(status, page)| (status, page.replace("ei.tilia@testi.fi", "X")))
        .collect();
    assert_eq!(with, without, "the attacker's pages tell nothing");
    assert!(
        app.mails_to("virka@testi.fi").is_empty(),
        "no link for an authority"
    );
    assert!(app.mails_to("a3@testi.fi").is_empty(), "no mail arrives");
    app.stop().await;
}

both_stores!(a_full_address_limit_does_not_stop_a_deletion);
async fn a_full_address_limit_does_not_stop_a_deletion(backend: Backend) {
    let app = TestApp::with_user(backend, "erkki@testi.fi", PASSWORD, "Erkki").await;
    let signed = sign_in(&app, "seinajoki", "erkki@testi.fi", PASSWORD).await;
    // A stranger fills the limit of Erkki's address with registrations of it (the budget the
    // undo mail is counted in: forgot password has its own).
    let stranger = app.browser();
    let register = "/seinajoki/register";
    let fields = [("request", ""), ("email", "erkki@testi.fi")];
    for _ in 0..4 {
        let (status, _) =
            submit_from(&app, &stranger, "127.0.0.1", register, register, &fields).await;
        assert_eq!(status, 200);
    }
    assert_eq!(app.mails_to("erkki@testi.fi").len(), 3);
    assert_eq!(app.audited("seinajoki", "mail.limited").await.len(), 1);

    // Erkki deletes his account all the same, and gets the undo mail.
    let (status, text, cleared) = crate::deletion::delete(&app, &signed, PASSWORD).await;
    assert_eq!(status, 200, "{text}");
    let date = crate::deletion::erased_at(&app);
    assert_has(
        &text,
        &format!("Tilisi poistetaan pysyvästi {date}. Kaikki kirjautumisesi on päätetty."),
    );
    assert!(cleared, "the session cookie is removed");
    assert!(
        app.user_by_email("seinajoki", "erkki@testi.fi")
            .await
            .disabled
    );
    assert_eq!(
        app.audit_details("seinajoki", "account.deletion_requested")
            .await,
        [serde_json::json!({ "by": "resident" })]
    );
    let mails = app.mails_to("erkki@testi.fi");
    assert_eq!(mails.len(), 4, "three notices and the undo mail");
    let undo: Vec<&String> = mails
        .iter()
        .filter(|m| m.contains("Subject: Tilisi poistetaan"))
        .collect();
    assert_eq!(undo.len(), 1);
    assert_has(undo[0], &format!("poistetaan pysyvästi {date}"));
    let link = app
        .newest_link(
            Some("erkki@testi.fi"),
            "/seinajoki/account/undo-deletion?token=",
        )
        .await;
    assert_has(undo[0], &link);
    assert_eq!(
        app.audited("seinajoki", "mail.limited").await.len(),
        1,
        "nothing more refused"
    );

    // The undo mail counts: after Maija's deletion, two anonymous mails reach her address, not
    // three.
    app.add_user("seinajoki", "maija@testi.fi", PASSWORD, "Maija")
        .await;
    let maija = sign_in(&app, "seinajoki", "maija@testi.fi", PASSWORD).await;
    let (status, text, _) = crate::deletion::delete(&app, &maija, PASSWORD).await;
    assert_eq!(status, 200, "{text}");
    let fields = [("request", ""), ("email", "maija@testi.fi")];
    for _ in 0..3 {
        submit_from(&app, &stranger, "127.0.0.1", register, register, &fields).await;
    }
    assert_eq!(
        app.mails_to("maija@testi.fi").len(),
        3,
        "the undo mail and two notices"
    );
    let limited = app.audit_details("seinajoki", "mail.limited").await;
    assert_eq!(
        limited.last().unwrap(),
        &serde_json::json!({ "limit": "per_address", "mail": "account_exists" })
    );
    app.stop().await;
}

both_stores!(only_forgot_requests_spend_a_residents_own_reset);
/// The attack security.md listed as not done (2026-12-06): a resident asking again and again to
/// move their address to a victim's (no mail: the address has an account), or anyone registering
/// the victim's address, used up the address's three mails, and the victim's own forgot-password
/// mail was silently not sent. Now forgot password has a budget of its own that only forgot
/// requests spend, each of which mails the owner a working link: the victim's own reset is sent,
/// and once others fill that budget too, a link they caused lets the victim in.
async fn only_forgot_requests_spend_a_residents_own_reset(backend: Backend) {
    let app = TestApp::with_user(backend, "erkki@testi.fi", PASSWORD, "Erkki").await;
    let (stranger, erkki) = (app.browser(), app.browser());
    app.add_user("seinajoki", "ville@testi.fi", PASSWORD, "Ville")
        .await;
    let ville = sign_in(&app, "seinajoki", "ville@testi.fi", PASSWORD).await;
    let ask =
        async |browser: &reqwest::Client, page: &str, action: &str, fields: &[(&str, &str)]| {
            let (status, text) =
                submit_from(&app, browser, "127.0.0.1", page, action, fields).await;
            assert_eq!(status, 200, "{text}");
        };
    let to_erkki = [("email", "erkki@testi.fi"), ("password", PASSWORD)];
    let (forgot, register) = ("/seinajoki/forgot", "/seinajoki/register");
    let erkkis = [("request", ""), ("email", "erkki@testi.fi")];
    for _ in 0..4 {
        let (account, email) = ("/seinajoki/account", "/seinajoki/account/email");
        ask(&ville.browser, account, email, &to_erkki).await;
        ask(&stranger, register, register, &erkkis).await;
    }
    let resets = || -> Vec<String> {
        let reset = "/seinajoki/reset?token=";
        let mails = app.mails_to("erkki@testi.fi");
        mails.iter().filter_map(|m| app.link_in(m, reset)).collect()
    };
    assert_eq!(app.mails_to("erkki@testi.fi").len(), 3, "three notices");
    let limited = |mail: &str| serde_json::json!({ "limit": "per_address", "mail": mail });
    assert_eq!(
        app.audit_details("seinajoki", "mail.limited").await,
        [limited("verify_email"), limited("account_exists")]
    );

    // Erkki's own reset is sent, and its link sets his password.
    ask(&erkki, forgot, forgot, &erkkis).await;
    let links = resets();
    assert_eq!(links.len(), 1, "his reset mail");
    let link = &links[0];
    let done = set_password(&erkki, link, "uusi salasana hevonen").await;
    assert_eq!(done.status(), 200);

    // A stranger's forgot requests fill what is left of the budget, each with a link to Erkki;
    // his next one is refused, and the newest of theirs lets him in.
    for _ in 0..3 {
        ask(&stranger, forgot, forgot, &erkkis).await;
    }
    ask(&erkki, forgot, forgot, &erkkis).await;
    assert_eq!(resets().len(), 3, "1 + 2 of the stranger's");
    let link = app
        .newest_link(Some("erkki@testi.fi"), "/seinajoki/reset?token=")
        .await;
    let done = set_password(&erkki, &link, "kolmas salasana hevonen").await;
    assert_eq!(done.status(), 200);
    sign_in(
        &app,
        "seinajoki",
        "erkki@testi.fi",
        "kolmas salasana hevonen",
    )
    .await;
    app.stop().await;
}

both_stores!(address_changes_to_an_address_spend_only_their_own_budget);
/// The same attack on the account page's link to bind an old account: Ville asks again and
/// again to move his address to Erkki's (no mail: it has an account). That spends the budget of
/// changes of address to it, not the one Erkki's own link is counted in: the link is mailed.
async fn address_changes_to_an_address_spend_only_their_own_budget(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (email, name) in [("erkki@testi.fi", "Erkki"), ("ville@testi.fi", "Ville")] {
        app.add_user("kouvola", email, PASSWORD, name).await;
    }
    // Signed in before the city's export names his address (the linker's login comes after).
    let erkki = sign_in(&app, "kouvola", "erkki@testi.fi", PASSWORD).await;
    let old = app
        .import(Old::new("kouvola", "erkki.vanha", "KVL-E1").email("erkki@testi.fi"))
        .await;
    let ville = sign_in(&app, "kouvola", "ville@testi.fi", PASSWORD).await;
    let to_erkki = [("email", "erkki@testi.fi"), ("password", PASSWORD)];
    for _ in 0..4 {
        let (account, action) = ("/kouvola/account", "/kouvola/account/email");
        let (status, text) = submit_from(
            &app,
            &ville.browser,
            "127.0.0.1",
            account,
            action,
            &to_erkki,
        )
        .await;
        assert_eq!(status, 200, "{text}");
    }
    assert_eq!(
        app.audit_details("kouvola", "mail.limited").await,
        [serde_json::json!({ "limit": "per_address", "mail": "verify_email" })]
    );

    let fields = [("account", old.as_str())];
    let (status, text) = submit_from(
        &app,
        &erkki.browser,
        "127.0.0.1",
        "/kouvola/account",
        "/kouvola/account/legacy",
        &fields,
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert_has(&text, "Lähetimme liittämislinkin sähköpostiisi.");
    let (mail, _) = app.mailed_link(1, "/kouvola/reset?token=").await;
    assert_has(&mail, "erkki.vanha");
    app.stop().await;
}

both_stores!(limits_are_counted_per_tenant);
async fn limits_are_counted_per_tenant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let browser = app.browser();
    let register = async |tenant: &str| {
        let (page, action) = (format!("/{tenant}/register"), format!("/{tenant}/register"));
        let fields = [("request", ""), ("email", "sama@testi.fi")];
        submit_from(&app, &browser, "127.0.0.1", &page, &action, &fields).await
    };
    for _ in 0..4 {
        register("seinajoki").await;
    }
    assert_eq!(app.mails_to("sama@testi.fi").len(), 3);
    // Tenant A's count does not count at tenant B.
    let (status, _) = register("kouvola").await;
    assert_eq!(status, 200);
    let mails = app.mails_to("sama@testi.fi");
    assert_eq!(mails.len(), 4);
    assert!(
        mails[3].contains("/kouvola/register/complete?token="),
        "{}",
        mails[3]
    );
    assert_eq!(app.audited("seinajoki", "mail.limited").await.len(), 1);
    assert!(app.audited("kouvola", "mail.limited").await.is_empty());
    app.stop().await;
}

both_stores!(parallel_requests_past_the_limit_write_no_mail);
async fn parallel_requests_past_the_limit_write_no_mail(backend: Backend) {
    let app = std::sync::Arc::new(TestApp::spawn(backend).await);
    app.add_user("seinajoki", "erkki@testi.fi", PASSWORD, "Erkki")
        .await;
    let browser = app.browser();
    let token = rp::csrf(&page(&browser, app.url("/seinajoki/forgot")).await);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (app, browser, token) = (app.clone(), browser.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            browser
                .post(app.url("/seinajoki/forgot"))
                .form(&[("csrf", token.as_str()), ("email", "erkki@testi.fi")])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    // Let the worker send whatever was written.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(app.mails().len(), 3, "none slipped through");
    // Five refused, one audited: the first past the limit in its window.
    assert_eq!(app.audited("seinajoki", "mail.limited").await.len(), 1);
    app.stop().await;
}

both_stores!(no_request_text_reaches_a_mail);
async fn no_request_text_reaches_a_mail(backend: Backend) {
    let app = TestApp::with_user(backend, "erkki@testi.fi", PASSWORD, "Erkki").await;
    let browser = app.browser();
    let register = async |request: &str| {
        let fields = [("request", request), ("email", "erkki@testi.fi")];
        let page = "/seinajoki/register";
        submit_from(&app, &browser, "127.0.0.1", page, page, &fields).await
    };
    let injected = "x\r\n\r\nKlikkaa: http://evil.example/phish\n<a href=\"http://evil.example\">";
    let (status, _) = register(injected).await;
    assert_eq!(status, 200);
    let mails = app.mails_to("erkki@testi.fi");
    assert_eq!(mails.len(), 1);
    for bad in ["evil", "Klikkaa", "request="] {
        assert!(!mails[0].contains(bad), "{bad} in {}", mails[0]);
    }
    let forgot = app.url("/seinajoki/forgot");
    assert!(
        mails[0].contains(&format!("\n{forgot}\r\n"))
            || mails[0].contains(&format!("\n{forgot}\n")),
        "{}",
        mails[0]
    );

    // A real pending request of this tenant is carried, through the URL builder.
    let client = rp::basic(&app).await;
    let request = Login::start(&browser, &client, &[], &[]).await.request;
    register(&request).await;
    let mails = app.mails_to("erkki@testi.fi");
    assert_eq!(mails.len(), 2);
    assert!(
        mails[1].contains(&format!("{forgot}?request={request}")),
        "{}",
        mails[1]
    );
    app.stop().await;
}

both_stores!(refused_mails_are_audited_once_per_window);
/// The attack of the fourth review on the mail limits: forgot password asked again and again for
/// one account, then for many addresses from one client address. Past each limit every request is
/// refused (no mail, the same page), but the audit trail gets one `mail.limited` per limit and
/// window, while `idp_mail_total{outcome="limited"}` counts every refusal. Once a window has
/// passed, the next refusal is audited again. Before, each refused request added a `mail.limited`
/// under the recipient's account.
async fn refused_mails_are_audited_once_per_window(backend: Backend) {
    const FROM: &str = "203.0.113.7";
    let app = TestApp::builder(backend)
        .tenant_toml("\n[mail_limits]\nper_client_address = 5\n")
        .behind_proxy()
        .metrics()
        .user("seinajoki", "erkki@testi.fi", PASSWORD, "Erkki")
        .spawn()
        .await;
    let erkki = app.user_id("seinajoki", "erkki@testi.fi").await;
    let browser = app.browser();
    let forgot = async |email: &str, times: usize| {
        let fields = [("request", ""), ("email", email)];
        let page = "/seinajoki/forgot";
        for _ in 0..times {
            let (status, text) = submit_from(&app, &browser, FROM, page, page, &fields).await;
            assert_eq!(status, 200, "{text}");
        }
    };
    let limited = |user: Option<&str>, limit: &str| Audited {
        kind: "mail.limited".into(),
        user_id: user.map(str::to_string),
        client_id: None,
        remote_addr: Some(FROM.into()),
        detail: Some(format!(r#"{{"limit":"{limit}","mail":"reset_password"}}"#)),
    };
    let per_address = limited(Some(&erkki), "per_address");
    let per_client = limited(None, "per_client_address");

    // Three mails to Erkki, then three refused by his address's limit: one event.
    forgot("erkki@testi.fi", 6).await;
    assert_eq!(app.mails_to("erkki@testi.fi").len(), 3);
    assert_eq!(
        app.audited("seinajoki", "mail.limited").await,
        std::slice::from_ref(&per_address)
    );
    // From the same client address to other addresses (without accounts): two more are counted,
    // the client address's five, then three refused by its limit: one event.
    for n in 0..5 {
        forgot(&format!("asukas{n}@testi.fi"), 1).await;
    }
    assert_eq!(
        app.audited("seinajoki", "mail.limited").await,
        [per_address.clone(), per_client.clone()]
    );
    // Erkki's window has passed, the client address's has not: refused by the client address's
    // limit, whose refusal was audited within its window already.
    app.clock.advance(15 * 60 + 1);
    forgot("erkki@testi.fi", 2).await;
    assert_eq!(app.mails_to("erkki@testi.fi").len(), 3);
    assert_eq!(
        app.audited("seinajoki", "mail.limited").await,
        [per_address.clone(), per_client.clone()]
    );
    // Both windows have passed: three mails, then the first refusal of a new window, audited.
    app.clock.advance(46 * 60);
    forgot("erkki@testi.fi", 5).await;
    assert_eq!(app.mails_to("erkki@testi.fi").len(), 6);
    assert_eq!(
        app.audited("seinajoki", "mail.limited").await,
        [per_address.clone(), per_client, per_address]
    );
    let counted = "idp_mail_total{tenant=\"seinajoki\",outcome=\"limited\"}";
    let text = app.scrape().await.2;
    assert_eq!(crate::metrics::sample(&text, counted), Some(10.0), "{text}");
    app.stop().await;
}

/// The advisory lock on PostgreSQL of a mail limit's key made of `text` (`store/mail_limits.rs`:
/// 32 bits of the hash of the key, itself a hash).
fn lock_of(text: &str) -> String {
    let digest = idp::crypto::secret::hash(&idp::crypto::secret::hash(text));
    let prefix = u32::from_str_radix(&digest[..8], 16).unwrap();
    let lock = i32::from_ne_bytes(prefix.to_ne_bytes());
    format!("SELECT pg_advisory_xact_lock({}, {lock})", 0x1d9_0003)
}

/// `n` posts of `path` at once, the `i`-th from `from(i)` for `email(i)`.
fn at_once(
    app: &std::sync::Arc<TestApp>,
    n: usize,
    path: &'static str,
    from: fn(usize) -> String,
    email: fn(usize) -> String,
) -> Vec<tokio::task::JoinHandle<(u16, String)>> {
    (0..n)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                let fields = [("request", ""), ("email", &*email(i))];
                submit_from(&app, &app.browser(), &from(i), path, path, &fields).await
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
/// On PostgreSQL a mail request waits for its limits' locks in the database, holding a pooled
/// connection. Before, six requests of one key at the moment another held its lock took all four
/// connections of the test's pool, and the health check waited for one. Now the requests of one
/// client address (an office's) wait for their turn on their node without a connection, and each
/// gets its mail; of the requests of one recipient from many addresses a node lets two in at
/// once, and the others are answered at once as past the limit (the same page, no mail, nothing
/// audited).
async fn requests_of_one_key_never_take_the_pool() {
    let Some(app) = TestApp::on_postgres_behind_proxy().await else {
        return;
    };
    let app = std::sync::Arc::new(app);
    let office = |_| "203.0.113.50".to_string();
    let holder = app.hold(&lock_of(&format!("client:{}", office(0))));
    let asked = at_once(&app, 6, "/seinajoki/register", office, |i| {
        format!("uusi{i}@testi.fi")
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(asked.iter().all(|a| !a.is_finished()), "all wait");
    app.assert_pool_serves().await;
    holder.release();
    for (i, answer) in asked.into_iter().enumerate() {
        let (status, page) = answer.await.unwrap();
        assert_eq!(status, 200, "{page}");
        let mails = app.mails_to(&format!("uusi{i}@testi.fi"));
        assert_eq!(mails.len(), 1, "each its mail");
    }
    let counted = "SELECT count(*) AS n FROM mail_limit_events";
    assert_eq!(
        app.count(counted).await,
        12,
        "each its recipient's and its address's"
    );

    // Six residents (six addresses) ask for a reset of one address at once.
    // (The key of forgot password's budget of the address, `store::mail_limits::Budget`.)
    let holder = app.hold(&lock_of("forgot:kohde@testi.fi"));
    let residents = |i| format!("203.0.113.{}", 10 + i);
    let asked = at_once(&app, 6, "/seinajoki/forgot", residents, |_| {
        "kohde@testi.fi".to_string()
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while asked.iter().filter(|a| a.is_finished()).count() < 4 {
        assert!(
            std::time::Instant::now() < deadline,
            "none answered at once"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        asked.iter().filter(|a| a.is_finished()).count(),
        4,
        "two wait"
    );
    app.assert_pool_serves().await;
    // Another city's request for the address has places of its own on the node: it waits for
    // the lock (which the cities share in the database), and then mails.
    app.add_user("kouvola", "kohde@testi.fi", PASSWORD, "Kohde")
        .await;
    let elsewhere = at_once(
        &app,
        1,
        "/kouvola/forgot",
        |_| "192.0.2.7".into(),
        |_| "kohde@testi.fi".to_string(),
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(elsewhere.iter().all(|a| !a.is_finished()), "let in");
    holder.release();
    for answer in asked {
        let (status, page) = answer.await.unwrap();
        assert_eq!(status, 200, "{page}");
        assert_has(
            &page,
            "Jos osoitteelle on käyttäjätunnus, siihen on lähetetty linkki",
        );
    }
    let (status, page) = elsewhere.into_iter().next().unwrap().await.unwrap();
    assert_eq!(status, 200, "{page}");
    // No account at the first city, no mail; the other city's reset link.
    let link = "/kouvola/reset?token=";
    let mails = app.mails_to("kohde@testi.fi");
    assert!(mails.len() == 1 && mails[0].contains(link), "{mails:?}");
    // Nothing audited or counted of the four not let in.
    assert!(app.audited("seinajoki", "mail.limited").await.is_empty());
    assert_eq!(app.count(counted).await, 12 + 4 + 2);
    app.stop().await;
}
