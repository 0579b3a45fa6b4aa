//! Limits on the mail that anyone can cause: per recipient address and per client address, per
//! tenant, atomic under parallel requests; the page past a limit reads as before and the event is
//! audited. And no request text reaches a mail.

use diesel::prelude::*;
use idp::store::schema::audit_events;

use crate::both_stores;
use crate::helpers::{Backend, TestApp};
use crate::linker::{Old, import};
use crate::rp::{self, csrf, location, param};

both_stores!(
    every_kind_of_mail_is_limited_per_address,
    the_client_address_limit_spans_recipients,
    limits_are_counted_per_tenant,
    parallel_requests_past_the_limit_write_no_mail,
    no_request_text_reaches_a_mail,
);

const PASSWORD: &str = "oikea hevonen patteri";

/// An audit row: kind, user, client, address, detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Audited {
    pub kind: String,
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    pub remote_addr: Option<String>,
    pub detail: Option<String>,
}

/// The audit rows of `tenant` of kind `kind`, oldest first.
pub(crate) async fn audited(app: &TestApp, tenant: &str, kind: &str) -> Vec<Audited> {
    let store = app.services.store.clone();
    let (tenant, kind) = (tenant.to_string(), kind.to_string());
    tokio::task::spawn_blocking(move || {
        let mut conn = store.conn().unwrap();
        audit_events::table
            .filter(audit_events::tenant_id.eq(tenant))
            .filter(audit_events::kind.eq(kind))
            .order(audit_events::id.asc())
            .select((
                audit_events::kind,
                audit_events::user_id,
                audit_events::client_id,
                audit_events::remote_addr,
                audit_events::detail,
            ))
            .load::<(
                String,
                Option<String>,
                Option<String>,
                Option<String>,
                Option<String>,
            )>(&mut **conn)
            .unwrap()
            .into_iter()
            .map(|(kind, user_id, client_id, remote_addr, detail)| Audited {
                kind,
                user_id,
                client_id,
                remote_addr,
                detail,
            })
            .collect()
    })
    .await
    .unwrap()
}

/// The internal id of the user of `email` at `tenant`.
pub(crate) async fn user_id(app: &TestApp, tenant: &str, email: &str) -> String {
    let store = app.services.store.clone();
    let (tenant, email) = (tenant.to_string(), email.to_string());
    tokio::task::spawn_blocking(move || {
        let mut conn = store.conn().unwrap();
        idp::store::users::find_by_email(&mut conn, crate::helpers::tenant(&tenant), &email)
            .unwrap()
            .unwrap()
            .id
    })
    .await
    .unwrap()
}

/// Gets `page` for its CSRF token, then posts `fields` to `action`, from client address `from`
/// (through `X-Forwarded-For`, which only a server trusting it reads): (status, body).
pub(crate) async fn submit(
    app: &TestApp,
    browser: &reqwest::Client,
    from: &str,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> (u16, String) {
    let html = browser
        .get(app.url(page))
        .header("X-Forwarded-For", from)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = csrf(&html);
    let mut form = vec![("csrf", token.as_str())];
    form.extend_from_slice(fields);
    let response = browser
        .post(app.url(action))
        .header("X-Forwarded-For", from)
        .form(&form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The mails written to `address`.
fn mails_to(app: &TestApp, address: &str) -> Vec<String> {
    app.mails()
        .into_iter()
        .filter(|m| m.contains(&format!("To: {address}")))
        .collect()
}

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
    assert_eq!(
        mails_to(app, to).len(),
        3,
        "N + 1 requests, N mails to {to}"
    );
}

async fn every_kind_of_mail_is_limited_per_address(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for email in ["erkki@testi.fi", "maija@testi.fi", "ville@testi.fi"] {
        app.add_user("seinajoki", email, PASSWORD, "Asukas").await;
    }
    let browser = app.browser();
    let local = "127.0.0.1";

    // Forgot password.
    repeat(4, "erkki@testi.fi", &app, async || {
        let fields = [("request", ""), ("email", "Erkki@testi.fi")];
        submit(
            &app,
            &browser,
            local,
            "/seinajoki/forgot",
            "/seinajoki/forgot",
            &fields,
        )
        .await
    })
    .await;
    // Registration of an address that has an account: the account-exists notice.
    repeat(4, "maija@testi.fi", &app, async || {
        let fields = [("request", ""), ("email", "maija@testi.fi")];
        submit(
            &app,
            &browser,
            local,
            "/seinajoki/register",
            "/seinajoki/register",
            &fields,
        )
        .await
    })
    .await;
    // Registration of a new address.
    repeat(4, "uusi@testi.fi", &app, async || {
        let fields = [("request", ""), ("email", "uusi@testi.fi")];
        submit(
            &app,
            &browser,
            local,
            "/seinajoki/register",
            "/seinajoki/register",
            &fields,
        )
        .await
    })
    .await;
    // The email-link policy's set-password link of an old account.
    import(
        &app,
        Old {
            tenant: "kouvola",
            username: "ossi.k",
            subject: "KVL-42",
            email: Some("ossi@testi.fi"),
            hash: None,
            authority: false,
        },
    )
    .await;
    let client = rp::client(
        &app,
        "kouvola",
        "rp-basic",
        Some("rp-basic-secret"),
        "http://127.0.0.1:9/callback",
    )
    .await;
    let started = rp::start(&client, &[], &[]);
    let login = location(&browser.get(started.url.clone()).send().await.unwrap());
    let request = param(&login, "request").unwrap();
    let login_page = format!("/kouvola/login?request={request}");
    repeat(4, "ossi@testi.fi", &app, async || {
        let fields = [
            ("request", request.as_str()),
            ("identifier", "ossi@testi.fi"),
        ];
        submit(
            &app,
            &browser,
            local,
            &login_page,
            "/kouvola/login/identifier",
            &fields,
        )
        .await
    })
    .await;
    // A change of address, from the account page.
    let seinajoki = rp::basic(&app).await;
    let started = rp::start(&seinajoki, &[], &[]);
    rp::log_in(&browser, &started.url, "ville@testi.fi", PASSWORD).await;
    repeat(4, "ville.uusi@testi.fi", &app, async || {
        let fields = [("email", "ville.uusi@testi.fi"), ("password", PASSWORD)];
        submit(
            &app,
            &browser,
            local,
            "/seinajoki/account",
            "/seinajoki/account/email",
            &fields,
        )
        .await
    })
    .await;

    let limited = audited(&app, "seinajoki", "mail.limited").await;
    let expected = [
        (
            "reset_password",
            Some(user_id(&app, "seinajoki", "erkki@testi.fi").await),
        ),
        (
            "account_exists",
            Some(user_id(&app, "seinajoki", "maija@testi.fi").await),
        ),
        ("register", None),
        (
            "verify_email",
            Some(user_id(&app, "seinajoki", "ville@testi.fi").await),
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
    let limited = audited(&app, "kouvola", "mail.limited").await;
    assert_eq!(limited.len(), 1, "{limited:?}");
    assert_eq!(
        limited[0].detail.as_deref(),
        Some(r#"{"limit":"per_address","mail":"legacy_link"}"#)
    );
    app.stop().await;
}

async fn the_client_address_limit_spans_recipients(backend: Backend) {
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
        submit(
            &app,
            &browser,
            from,
            "/seinajoki/forgot",
            "/seinajoki/forgot",
            &fields,
        )
        .await
    };
    let first = forgot("203.0.113.7", "a@testi.fi").await;
    let second = forgot("203.0.113.7", "b@testi.fi").await;
    let third = forgot("203.0.113.7", "c@testi.fi").await;
    assert_eq!(first.0, 200);
    assert_eq!(third, second, "the page past the limit reads as before");
    assert_eq!(app.mails().len(), 2);
    assert!(mails_to(&app, "c@testi.fi").is_empty());
    // Another client address has its own count.
    let other = forgot("203.0.113.8", "c@testi.fi").await;
    assert_eq!(other, second);
    assert_eq!(mails_to(&app, "c@testi.fi").len(), 1);

    let limited = audited(&app, "seinajoki", "mail.limited").await;
    assert_eq!(
        limited,
        [Audited {
            kind: "mail.limited".into(),
            user_id: Some(user_id(&app, "seinajoki", "c@testi.fi").await),
            client_id: None,
            remote_addr: Some("203.0.113.7".into()),
            detail: Some(r#"{"limit":"per_client_address","mail":"reset_password"}"#.into()),
        }]
    );
    app.stop().await;
}

async fn limits_are_counted_per_tenant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let browser = app.browser();
    let register = async |tenant: &str| {
        let (page, action) = (format!("/{tenant}/register"), format!("/{tenant}/register"));
        let fields = [("request", ""), ("email", "sama@testi.fi")];
        submit(&app, &browser, "127.0.0.1", &page, &action, &fields).await
    };
    for _ in 0..4 {
        register("seinajoki").await;
    }
    assert_eq!(mails_to(&app, "sama@testi.fi").len(), 3);
    // Tenant A's count does not count at tenant B.
    let (status, _) = register("kouvola").await;
    assert_eq!(status, 200);
    let mails = mails_to(&app, "sama@testi.fi");
    assert_eq!(mails.len(), 4);
    assert!(
        mails[3].contains("/kouvola/register/complete?token="),
        "{}",
        mails[3]
    );
    assert_eq!(audited(&app, "seinajoki", "mail.limited").await.len(), 1);
    assert!(audited(&app, "kouvola", "mail.limited").await.is_empty());
    app.stop().await;
}

async fn parallel_requests_past_the_limit_write_no_mail(backend: Backend) {
    let app = std::sync::Arc::new(TestApp::spawn(backend).await);
    app.add_user("seinajoki", "erkki@testi.fi", PASSWORD, "Erkki")
        .await;
    let browser = app.browser();
    let page = browser
        .get(app.url("/seinajoki/forgot"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = csrf(&page);
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
    assert_eq!(audited(&app, "seinajoki", "mail.limited").await.len(), 5);
    app.stop().await;
}

async fn no_request_text_reaches_a_mail(backend: Backend) {
    let app = TestApp::builder(backend)
        .user("seinajoki", "erkki@testi.fi", PASSWORD, "Erkki")
        .spawn()
        .await;
    let browser = app.browser();
    let injected = "x\r\n\r\nKlikkaa: http://evil.example/phish\n<a href=\"http://evil.example\">";
    let fields = [("request", injected), ("email", "erkki@testi.fi")];
    let (status, _) = submit(
        &app,
        &browser,
        "127.0.0.1",
        "/seinajoki/register",
        "/seinajoki/register",
        &fields,
    )
    .await;
    assert_eq!(status, 200);
    let mails = mails_to(&app, "erkki@testi.fi");
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
    let started = rp::start(&client, &[], &[]);
    let login = location(&browser.get(started.url.clone()).send().await.unwrap());
    let request = param(&login, "request").unwrap();
    let fields = [("request", request.as_str()), ("email", "erkki@testi.fi")];
    submit(
        &app,
        &browser,
        "127.0.0.1",
        "/seinajoki/register",
        "/seinajoki/register",
        &fields,
    )
    .await;
    let mails = mails_to(&app, "erkki@testi.fi");
    assert_eq!(mails.len(), 2);
    assert!(
        mails[1].contains(&format!("{forgot}?request={request}")),
        "{}",
        mails[1]
    );
    app.stop().await;
}
