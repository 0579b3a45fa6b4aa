//! Browser tests: Debian's chromium driven through chromedriver (WebDriver), headless, on
//! loopback, with background networking off. Each page walked is saved as a screenshot into
//! `docs/screenshots/`. Under `CI=true` a missing browser is a failure; elsewhere these tests are
//! skipped with a printed reason.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::helpers::{Backend, TestApp, project_root};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const PASSWORD: &str = "oikea hevonen patteri";

/// Whether the browser is there; panics under CI=true when it is not.
fn browser_available() -> bool {
    if Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "CI=true but {CHROMIUM} or {CHROMEDRIVER} is missing: install chromium and chromium-driver"
        );
    }
    eprintln!("skipping the browser tests: install Debian's chromium and chromium-driver");
    false
}

/// A chromium under chromedriver, with its own profile directory.
struct Browser {
    client: Client,
    driver: Child,
}

impl Browser {
    async fn start(profile: &Path, javascript: bool) -> Browser {
        // fantoccini's TLS stack and ours bring two rustls providers into the tests: pick one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--disable-dev-shm-usage", "--window-size=1000,1000",
                    "--lang=fi",
                    format!("--user-data-dir={}", profile.display()),
                ],
                "prefs": {
                    "profile.managed_default_content_settings.javascript": if javascript { 1 } else { 2 },
                    "intl.accept_languages": "fi",
                },
            }),
        );
        let mut last_error = String::new();
        for _ in 0..100 {
            match ClientBuilder::rustls()
                .unwrap()
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => return Browser { client, driver },
                Err(error) => last_error = error.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not start: {last_error}");
    }

    async fn quit(self) {
        // Closing the session lets chromium write its cookies to the profile.
        let _ = self.client.clone().close().await;
        drop(self);
    }

    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir = project_root().join("docs/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    async fn fill(&self, id: &str, text: &str) {
        let field = self
            .client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("no #{id}: {e}"));
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    async fn click(&self, css: &str) {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    /// Waits (at most 10 s) for the element `css` to appear.
    async fn wait_for(&self, css: &str) {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"));
    }

    /// Waits (at most 10 s) until the address satisfies `done`; returns it.
    async fn wait_for_url(&self, done: impl Fn(&url::Url) -> bool) -> url::Url {
        for _ in 0..100 {
            let url = self.url().await;
            if done(&url) {
                return url;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("stuck at {}: {}", self.url().await, self.text().await);
    }

    async fn text(&self) -> String {
        self.client.source().await.unwrap()
    }

    async fn url(&self) -> url::Url {
        self.client.current_url().await.unwrap()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The relying party's callback: a page saying the code arrived.
fn start_rp() -> (String, actix_web::dev::ServerHandle) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let server = HttpServer::new(|| {
        App::new().route(
            "/callback",
            web::get().to(|| async {
                HttpResponse::Ok()
                    .content_type("text/html; charset=utf-8")
                    .body("<!DOCTYPE html><html lang=\"en\"><title>RP</title><h1>Back at the e-service</h1></html>")
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    (format!("http://{address}/callback"), handle)
}

async fn app_with_rp() -> (TestApp, String, actix_web::dev::ServerHandle) {
    let (callback, rp) = start_rp();
    let app = TestApp::builder(Backend::Sqlite)
        .tenant_toml(&format!(
            r#"
[[clients]]
client_id = "rp-browser"
client_secret = "rp-browser-secret"
redirect_uris = ["{callback}"]
first_party = true
"#
        ))
        .user("seinajoki", "erkki@testi.fi", PASSWORD, "Erkki Esimerkki")
        .spawn()
        .await;
    (app, callback, rp)
}

fn authorize_url(app: &TestApp, callback: &str, extra: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&app.url("/seinajoki/authorize")).unwrap();
    url.query_pairs_mut().extend_pairs([
        ("client_id", "rp-browser"),
        ("redirect_uri", callback),
        ("response_type", "code"),
        ("scope", "openid email"),
        ("state", "browser"),
    ]);
    url.query_pairs_mut().extend_pairs(extra);
    url.to_string()
}

/// Walks the identifier and password pages; returns where the browser ends.
async fn log_in(browser: &Browser, remember: bool, shots: Option<&str>) -> url::Url {
    browser.fill("identifier", "erkki@testi.fi").await;
    if let Some(prefix) = shots {
        browser.screenshot(&format!("{prefix}-identifier")).await;
    }
    browser.click("main form button[type=submit]").await;
    browser.fill("password", PASSWORD).await;
    if remember {
        browser.click("#remember").await;
    }
    if let Some(prefix) = shots {
        browser.screenshot(&format!("{prefix}-password")).await;
    }
    browser.click("main form button[type=submit]").await;
    browser
        .wait_for_url(|u| !u.path().starts_with("/seinajoki/login"))
        .await
}

fn new_profile() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("profile");
    (dir, path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_login_language_and_remember_me_in_chromium() {
    if !browser_available() {
        return;
    }
    let (app, callback, rp) = app_with_rp().await;
    let (_dir, profile) = new_profile();
    let browser = Browser::start(&profile, true).await;
    browser
        .client
        .goto(&authorize_url(&app, &callback, &[]))
        .await
        .unwrap();
    let page = browser.text().await;
    assert!(page.contains("Sähköpostiosoite / käyttäjätunnus"), "{page}");
    // The language selector, without JavaScript of ours.
    browser
        .client
        .find(Locator::Id("language"))
        .await
        .unwrap()
        .select_by_value("sv")
        .await
        .unwrap();
    browser.click("form.languages button").await;
    browser.wait_for("html[lang=sv]").await;
    assert!(browser.text().await.contains("E-postadress / användarnamn"));
    browser.screenshot("03-identifier-sv").await;
    browser
        .client
        .find(Locator::Id("language"))
        .await
        .unwrap()
        .select_by_value("fi")
        .await
        .unwrap();
    browser.click("form.languages button").await;
    browser.wait_for("html[lang=fi]").await;

    let back = log_in(&browser, true, Some("01-login")).await;
    assert_eq!(back.as_str().split('?').next(), Some(callback.as_str()));
    assert!(back.query_pairs().any(|(k, _)| k == "code"));
    browser.quit().await;

    // "Remember me": the session survives a browser restart.
    let browser = Browser::start(&profile, true).await;
    browser
        .client
        .goto(&authorize_url(&app, &callback, &[("prompt", "none")]))
        .await
        .unwrap();
    let back = browser.wait_for_url(|u| u.path() == "/callback").await;
    assert!(
        back.query_pairs().any(|(k, _)| k == "code"),
        "remembered: {back}"
    );
    browser.quit().await;

    // Without it, the session ends with the browser.
    let (_dir2, profile2) = new_profile();
    let browser = Browser::start(&profile2, true).await;
    browser
        .client
        .goto(&authorize_url(&app, &callback, &[]))
        .await
        .unwrap();
    log_in(&browser, false, None).await;
    browser.quit().await;
    let browser = Browser::start(&profile2, true).await;
    browser
        .client
        .goto(&authorize_url(&app, &callback, &[("prompt", "none")]))
        .await
        .unwrap();
    let back = browser.wait_for_url(|u| u.path() == "/callback").await;
    assert!(
        back.query_pairs()
            .any(|(k, v)| k == "error" && v == "login_required"),
        "forgotten: {back}"
    );
    browser.quit().await;
    app.stop().await;
    rp.stop(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgot_password_through_the_file_outbox_in_chromium() {
    if !browser_available() {
        return;
    }
    let (app, callback, rp) = app_with_rp().await;
    let (_dir, profile) = new_profile();
    let browser = Browser::start(&profile, true).await;
    browser
        .client
        .goto(&authorize_url(&app, &callback, &[]))
        .await
        .unwrap();
    browser
        .client
        .find(Locator::LinkText("Unohtuiko käyttäjätunnus tai salasana?"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.fill("email", "erkki@testi.fi").await;
    browser.screenshot("04-forgot").await;
    browser.click("main form button[type=submit]").await;
    browser.wait_for("#link-sent").await;
    assert!(browser.text().await.contains("Tarkista sähköpostisi"));
    browser.screenshot("05-link-sent").await;
    let mail = app.mails().pop().unwrap();
    let link = mail
        .split_whitespace()
        .find(|w| w.contains("/seinajoki/reset?token="))
        .unwrap()
        .to_string();
    browser.client.goto(&link).await.unwrap();
    browser.fill("password", "uusi pitkä salasana").await;
    browser.fill("password2", "uusi pitkä salasana").await;
    browser.screenshot("06-new-password").await;
    browser.click("main form button[type=submit]").await;
    let back = browser.wait_for_url(|u| u.path() == "/callback").await;
    assert!(
        back.query_pairs().any(|(k, _)| k == "code"),
        "the login went on: {back}"
    );
    browser.quit().await;
    app.stop().await;
    rp.stop(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_works_without_javascript_in_chromium() {
    if !browser_available() {
        return;
    }
    let (app, callback, rp) = app_with_rp().await;
    let (_dir, profile) = new_profile();
    let browser = Browser::start(&profile, false).await;
    browser
        .client
        .goto(&authorize_url(&app, &callback, &[]))
        .await
        .unwrap();
    let back = log_in(&browser, false, None).await;
    assert!(back.query_pairs().any(|(k, _)| k == "code"), "{back}");
    // A wrong password shows the error tied to its field.
    browser
        .client
        .goto(&authorize_url(&app, &callback, &[("prompt", "login")]))
        .await
        .unwrap();
    browser.fill("identifier", "erkki@testi.fi").await;
    browser.click("main form button[type=submit]").await;
    browser.fill("password", "väärä salasana").await;
    browser.click("main form button[type=submit]").await;
    browser.wait_for("#password-error").await;
    let field = browser.client.find(Locator::Id("password")).await.unwrap();
    assert_eq!(
        field.attr("aria-describedby").await.unwrap().as_deref(),
        Some("password-error")
    );
    browser.screenshot("02-wrong-password").await;
    browser.quit().await;
    app.stop().await;
    rp.stop(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_authority_login_and_account_page_in_chromium() {
    if !browser_available() {
        return;
    }
    let (app, callback, rp) = app_with_rp().await;
    let (_dir, profile) = new_profile();
    let browser = Browser::start(&profile, true).await;
    browser
        .client
        .goto(&authorize_url(&app, &callback, &[]))
        .await
        .unwrap();
    browser
        .client
        .find(Locator::LinkText("Luo uusi käyttäjätunnus"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.fill("email", "maija@testi.fi").await;
    browser.screenshot("07-register").await;
    browser.click("main form button[type=submit]").await;
    browser.wait_for("#register-sent").await;
    let mail = app.mails().pop().unwrap();
    let link = mail
        .split_whitespace()
        .find(|w| w.contains("/seinajoki/register/complete?token="))
        .unwrap()
        .to_string();
    browser.client.goto(&link).await.unwrap();
    browser.fill("name", "Maija Meikäläinen").await;
    browser.fill("password", "maijan oma salasana").await;
    browser.fill("password2", "maijan oma salasana").await;
    browser.screenshot("08-register-complete").await;
    browser.click("main form button[type=submit]").await;
    let back = browser.wait_for_url(|u| u.path() == "/callback").await;
    assert!(back.query_pairs().any(|(k, _)| k == "code"), "{back}");

    // The account page of the new resident.
    browser
        .client
        .goto(&app.url("/seinajoki/account"))
        .await
        .unwrap();
    browser.wait_for("#email").await;
    assert!(browser.text().await.contains("maija@testi.fi"));
    browser.screenshot("09-account").await;

    // Change the address, then undo it from the notice sent to the old one.
    browser.fill("new-email", "maija.uusi@testi.fi").await;
    browser.fill("email-current", "maijan oma salasana").await;
    browser
        .click("form[action$=\"/account/email\"] button[type=submit]")
        .await;
    browser.wait_for("#message").await;
    let mail = app.mails().pop().unwrap();
    let confirm = mail
        .split_whitespace()
        .find(|w| w.contains("/seinajoki/email/confirm?token="))
        .unwrap()
        .to_string();
    browser.client.goto(&confirm).await.unwrap();
    browser.click("main form button[type=submit]").await;
    browser.wait_for("#message").await;
    assert!(
        browser
            .text()
            .await
            .contains("Käyttäjätunnuksesi on nyt maija.uusi@testi.fi.")
    );
    browser.screenshot("10-email-changed").await;
    let mut undo = None;
    for _ in 0..100 {
        undo = app
            .mails()
            .iter()
            .filter(|m| m.contains("To: maija@testi.fi"))
            .flat_map(|m| m.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .find(|w| w.contains("/seinajoki/email/undo?token="));
        if undo.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    browser.client.goto(&undo.unwrap()).await.unwrap();
    browser.click("main form button[type=submit]").await;
    browser.wait_for("#message").await;
    assert!(
        browser
            .text()
            .await
            .contains("Vanha sähköpostiosoitteesi on palautettu")
    );
    browser.screenshot("11-email-restored").await;
    browser.quit().await;

    // An authority user logs in with the old username in the same field.
    let store = app.services.store.clone();
    tokio::task::spawn_blocking(move || {
        let hash =
            idp::crypto::password::hash(&secrecy::SecretString::from("viranomaisen salasana"))
                .unwrap();
        idp::flows::users::add(
            &mut store.conn().unwrap(),
            idp::clock::system().now(),
            &idp::flows::users::AddUser {
                tenant: crate::helpers::tenant("seinajoki"),
                email: None,
                username: Some("rakennusvalvonta7"),
                name: None,
                password_hash: Some(&hash),
                email_verified: false,
            },
        )
        .unwrap();
    })
    .await
    .unwrap();
    let (_dir2, profile2) = new_profile();
    let browser = Browser::start(&profile2, true).await;
    // WCAG 1.4.10 (reflow): at 320 CSS pixels nothing needs scrolling sideways.
    browser.client.set_window_size(320, 800).await.unwrap();
    browser
        .client
        .goto(&authorize_url(&app, &callback, &[]))
        .await
        .unwrap();
    browser.fill("identifier", "rakennusvalvonta7").await;
    let overflow = browser
        .client
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(overflow.as_i64(), Some(0), "horizontal overflow at 320 px");
    browser.screenshot("12-identifier-320px").await;
    browser.click("main form button[type=submit]").await;
    browser.fill("password", "viranomaisen salasana").await;
    browser.click("main form button[type=submit]").await;
    let back = browser.wait_for_url(|u| u.path() == "/callback").await;
    assert!(back.query_pairs().any(|(k, _)| k == "code"), "{back}");
    browser.quit().await;
    app.stop().await;
    rp.stop(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_accounts_bind_on_first_login_in_chromium() {
    use crate::linker::{Old, import};
    if !browser_available() {
        return;
    }
    let (app, callback, rp) = app_with_rp().await;
    let father = bcrypt::hash("isän vanha salasana", 4).unwrap();
    let mother = bcrypt::hash("äidin vanha salasana", 4).unwrap();
    for (username, subject, hash) in [
        ("perhe.isa", "SJK-1", &father),
        ("perhe.aiti", "SJK-2", &mother),
    ] {
        import(
            &app,
            Old {
                tenant: "seinajoki",
                username,
                subject,
                email: Some("perhe@testi.fi"),
                hash: Some(hash),
                authority: false,
            },
        )
        .await;
    }
    import(
        &app,
        Old {
            tenant: "seinajoki",
            username: "vanha.hash",
            subject: "SJK-3",
            email: Some("vanha@testi.fi"),
            hash: Some("{MD4}0cb6948805f797bf2a82807973b89537"),
            authority: false,
        },
    )
    .await;

    // A shared address: choose the old account, then its old password.
    let (_dir, profile) = new_profile();
    let browser = Browser::start(&profile, true).await;
    browser
        .client
        .goto(&authorize_url(&app, &callback, &[]))
        .await
        .unwrap();
    browser.fill("identifier", "perhe@testi.fi").await;
    browser.click("main form button[type=submit]").await;
    browser.wait_for("#choose-intro").await;
    browser.screenshot("13-choose-old-account").await;
    browser.click("label[for=account-1]").await;
    browser.click("main form button[type=submit]").await;
    browser.fill("password", "äidin vanha salasana").await;
    browser.click("main form button[type=submit]").await;
    browser.wait_for_url(|u| u.path() == "/callback").await;

    // The account page lists the bound username and links the other by its old password.
    browser
        .client
        .goto(&app.url("/seinajoki/account"))
        .await
        .unwrap();
    browser.wait_for("#linkable-intro").await;
    browser.fill("legacy-1", "isän vanha salasana").await;
    browser.screenshot("14-account-old-accounts").await;
    browser.click("form.linkable button[type=submit]").await;
    browser.wait_for("#message").await;
    let page = browser.text().await;
    assert!(
        page.contains("Aiempi käyttäjätunnus on liitetty."),
        "{page}"
    );
    assert!(page.contains("<li>perhe.aiti</li>") && page.contains("<li>perhe.isa</li>"));
    browser.quit().await;

    // No usable old hash: the link is mailed, and setting the password continues the login.
    let (_dir, profile) = new_profile();
    let browser = Browser::start(&profile, true).await;
    browser
        .client
        .goto(&authorize_url(&app, &callback, &[]))
        .await
        .unwrap();
    browser.fill("identifier", "vanha@testi.fi").await;
    browser.click("main form button[type=submit]").await;
    browser.wait_for("#link-sent").await;
    browser.screenshot("15-old-account-link-sent").await;
    let mut link = None;
    for _ in 0..100 {
        link = app.mails().pop().and_then(|mail| {
            mail.split_whitespace()
                .find(|w| w.contains("/seinajoki/reset?token="))
                .map(str::to_string)
        });
        if link.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    browser.client.goto(&link.unwrap()).await.unwrap();
    browser.wait_for("#legacy-username").await;
    browser.fill("password", "uusi pitkä salasana").await;
    browser.fill("password2", "uusi pitkä salasana").await;
    browser.screenshot("16-old-account-set-password").await;
    browser.click("main form button[type=submit]").await;
    let back = browser.wait_for_url(|u| u.path() == "/callback").await;
    assert!(back.query_pairs().any(|(k, _)| k == "code"), "{back}");
    browser.quit().await;
    app.stop().await;
    rp.stop(true).await;
}
