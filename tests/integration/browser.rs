//! Browser tests: Debian's chromium driven through chromedriver (WebDriver), headless, on
//! loopback, with background networking off. Each page walked is saved as a screenshot into
//! `docs/screenshots/`. Under `CI=true` a missing browser is a failure; elsewhere these tests are
//! skipped with a printed reason.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use actix_web::{HttpResponse, web};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::helpers::{
    Backend, NewUser, Old, TestApp, assert_has, first_party_client, project_root,
};

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

    async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// Clicks the link whose text is `text`.
    async fn click_link(&self, text: &str) {
        self.client
            .find(Locator::LinkText(text))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    /// Fills `fields` (by id) and submits the page's main form.
    async fn submit(&self, fields: &[(&str, &str)]) {
        for (id, text) in fields {
            self.fill(id, text).await;
        }
        self.click("main form button[type=submit]").await;
    }

    /// Picks `lang` in the language selector (no JavaScript of ours) and waits for the page in it.
    async fn choose_language(&self, lang: &str) {
        self.client
            .find(Locator::Id("language"))
            .await
            .unwrap()
            .select_by_value(lang)
            .await
            .unwrap();
        self.click("form.languages button").await;
        self.wait_for(&format!("html[lang={lang}]")).await;
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
    let (address, handle) = crate::rp::serve_on_loopback(|routes| {
        routes.route(
            "/callback",
            web::get().to(|| async {
                HttpResponse::Ok()
                    .content_type("text/html; charset=utf-8")
                    .body("<!DOCTYPE html><html lang=\"en\"><title>RP</title><h1>Back at the e-service</h1></html>")
            }),
        );
    });
    (format!("http://{address}/callback"), handle)
}

/// The server with the relying party `rp-browser` (whose callback runs too) and a resident.
struct Rig {
    app: TestApp,
    callback: String,
    rp: actix_web::dev::ServerHandle,
}

impl Rig {
    /// The rig, or `None` when the browser is not there (see [`browser_available`]).
    async fn start() -> Option<Rig> {
        if !browser_available() {
            return None;
        }
        let (callback, rp) = start_rp();
        let app = TestApp::builder(Backend::Sqlite)
            .tenant_toml(&first_party_client("rp-browser", &callback, &[]))
            .user("seinajoki", "erkki@testi.fi", PASSWORD, "Erkki Esimerkki")
            .spawn()
            .await;
        Some(Rig { app, callback, rp })
    }

    /// An authorization request of `rp-browser`, with `extra` parameters.
    fn authorize_url(&self, extra: &[(&str, &str)]) -> String {
        let mut url = url::Url::parse(&self.app.url("/seinajoki/authorize")).unwrap();
        url.query_pairs_mut().extend_pairs([
            ("client_id", "rp-browser"),
            ("redirect_uri", self.callback.as_str()),
            ("response_type", "code"),
            ("scope", "openid email"),
            ("state", "browser"),
        ]);
        url.query_pairs_mut().extend_pairs(extra);
        url.to_string()
    }

    /// A browser (JavaScript on or off) with the profile `profile`, at the login page of a new
    /// authorization request with `extra` parameters.
    async fn at_login(
        &self,
        profile: &Profile,
        javascript: bool,
        extra: &[(&str, &str)],
    ) -> Browser {
        let browser = Browser::start(&profile.path(), javascript).await;
        browser.goto(&self.authorize_url(extra)).await;
        browser
    }

    async fn stop(self) {
        self.app.stop().await;
        self.rp.stop(true).await;
    }
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

/// Waits for the relying party's callback; asserts it got a code.
async fn back_with_a_code(browser: &Browser) {
    let back = browser.wait_for_url(|u| u.path() == "/callback").await;
    assert!(back.query_pairs().any(|(k, _)| k == "code"), "{back}");
}

/// A browser profile of its own (cookies, remembered sessions), removed with this value.
struct Profile(tempfile::TempDir);

impl Profile {
    fn new() -> Profile {
        Profile(tempfile::tempdir().unwrap())
    }

    fn path(&self) -> PathBuf {
        self.0.path().join("profile")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_login_language_and_remember_me_in_chromium() {
    let Some(rig) = Rig::start().await else {
        return;
    };
    let profile = Profile::new();
    let browser = rig.at_login(&profile, true, &[]).await;
    let page = browser.text().await;
    assert_has(&page, "Sähköpostiosoite / käyttäjätunnus");
    // The language selector, without JavaScript of ours.
    browser.choose_language("sv").await;
    assert!(browser.text().await.contains("E-postadress / användarnamn"));
    browser.screenshot("03-identifier-sv").await;
    browser.choose_language("fi").await;

    let back = log_in(&browser, true, Some("01-login")).await;
    assert_eq!(back.as_str().split('?').next(), Some(rig.callback.as_str()));
    assert!(back.query_pairs().any(|(k, _)| k == "code"));
    browser.quit().await;

    // "Remember me": the session survives a browser restart.
    let browser = rig.at_login(&profile, true, &[("prompt", "none")]).await;
    let back = browser.wait_for_url(|u| u.path() == "/callback").await;
    assert!(
        back.query_pairs().any(|(k, _)| k == "code"),
        "remembered: {back}"
    );
    browser.quit().await;

    // Without it, the session ends with the browser.
    let profile2 = Profile::new();
    let browser = rig.at_login(&profile2, true, &[]).await;
    log_in(&browser, false, None).await;
    browser.quit().await;
    let browser = rig.at_login(&profile2, true, &[("prompt", "none")]).await;
    let back = browser.wait_for_url(|u| u.path() == "/callback").await;
    assert!(
        back.query_pairs()
            .any(|(k, v)| k == "error" && v == "login_required"),
        "forgotten: {back}"
    );
    browser.quit().await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgot_password_through_the_file_outbox_in_chromium() {
    let Some(rig) = Rig::start().await else {
        return;
    };
    let profile = Profile::new();
    let browser = rig.at_login(&profile, true, &[]).await;
    browser
        .click_link("Unohtuiko käyttäjätunnus tai salasana?")
        .await;
    browser.fill("email", "erkki@testi.fi").await;
    browser.screenshot("04-forgot").await;
    browser.click("main form button[type=submit]").await;
    browser.wait_for("#link-sent").await;
    assert!(browser.text().await.contains("Tarkista sähköpostisi"));
    browser.screenshot("05-link-sent").await;
    let link = rig.app.newest_link(None, "/seinajoki/reset?token=").await;
    browser.goto(&link).await;
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
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_works_without_javascript_in_chromium() {
    let Some(rig) = Rig::start().await else {
        return;
    };
    let profile = Profile::new();
    let browser = rig.at_login(&profile, false, &[]).await;
    let back = log_in(&browser, false, None).await;
    assert!(back.query_pairs().any(|(k, _)| k == "code"), "{back}");
    // A wrong password shows the error tied to its field.
    browser
        .goto(&rig.authorize_url(&[("prompt", "login")]))
        .await;
    browser.submit(&[("identifier", "erkki@testi.fi")]).await;
    browser.submit(&[("password", "väärä salasana")]).await;
    browser.wait_for("#password-error").await;
    let field = browser.client.find(Locator::Id("password")).await.unwrap();
    assert_eq!(
        field.attr("aria-describedby").await.unwrap().as_deref(),
        Some("password-error")
    );
    browser.screenshot("02-wrong-password").await;
    browser.quit().await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_authority_login_and_account_page_in_chromium() {
    let Some(rig) = Rig::start().await else {
        return;
    };
    let app = &rig.app;
    let profile = Profile::new();
    let browser = rig.at_login(&profile, true, &[]).await;
    browser.click_link("Luo uusi käyttäjätunnus").await;
    browser.fill("email", "maija@testi.fi").await;
    browser.screenshot("07-register").await;
    browser.click("main form button[type=submit]").await;
    browser.wait_for("#register-sent").await;
    let link = app
        .newest_link(None, "/seinajoki/register/complete?token=")
        .await;
    browser.goto(&link).await;
    browser.fill("name", "Maija Meikäläinen").await;
    browser.fill("password", "maijan oma salasana").await;
    browser.fill("password2", "maijan oma salasana").await;
    browser.screenshot("08-register-complete").await;
    browser.click("main form button[type=submit]").await;
    back_with_a_code(&browser).await;

    // The account page of the new resident.
    browser.goto(&app.url("/seinajoki/account")).await;
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
    let confirm = app
        .newest_link(None, "/seinajoki/email/confirm?token=")
        .await;
    browser.goto(&confirm).await;
    browser.submit(&[]).await;
    browser.wait_for("#message").await;
    assert!(
        browser
            .text()
            .await
            .contains("Käyttäjätunnuksesi on nyt maija.uusi@testi.fi.")
    );
    browser.screenshot("10-email-changed").await;
    let undo = app
        .newest_link(Some("maija@testi.fi"), "/seinajoki/email/undo?token=")
        .await;
    browser.goto(&undo).await;
    browser.submit(&[]).await;
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
    let authority = NewUser {
        username: Some("rakennusvalvonta7"),
        password: Some("viranomaisen salasana"),
        ..NewUser::default()
    };
    app.add("seinajoki", authority).await.unwrap();
    let profile2 = Profile::new();
    let browser = Browser::start(&profile2.path(), true).await;
    // WCAG 1.4.10 (reflow): at 320 CSS pixels nothing needs scrolling sideways.
    browser.client.set_window_size(320, 800).await.unwrap();
    browser.goto(&rig.authorize_url(&[])).await;
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
    browser
        .submit(&[("password", "viranomaisen salasana")])
        .await;
    back_with_a_code(&browser).await;
    browser.quit().await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_accounts_bind_on_first_login_in_chromium() {
    let Some(rig) = Rig::start().await else {
        return;
    };
    let app = &rig.app;
    let father = bcrypt::hash("isän vanha salasana", 4).unwrap();
    let mother = bcrypt::hash("äidin vanha salasana", 4).unwrap();
    for (username, subject, hash) in [
        ("perhe.isa", "SJK-1", &father),
        ("perhe.aiti", "SJK-2", &mother),
    ] {
        let old = Old::new("seinajoki", username, subject).email("perhe@testi.fi");
        app.import(old.hash(hash)).await;
    }
    let old = Old::new("seinajoki", "vanha.hash", "SJK-3").email("vanha@testi.fi");
    app.import(old.hash("{MD4}0cb6948805f797bf2a82807973b89537"))
        .await;

    // A shared address: choose the old account, then its old password.
    let profile = Profile::new();
    let browser = rig.at_login(&profile, true, &[]).await;
    browser.submit(&[("identifier", "perhe@testi.fi")]).await;
    browser.wait_for("#choose-intro").await;
    browser.screenshot("13-choose-old-account").await;
    browser.click("label[for=account-1]").await;
    browser.click("main form button[type=submit]").await;
    browser
        .submit(&[("password", "äidin vanha salasana")])
        .await;
    browser.wait_for_url(|u| u.path() == "/callback").await;

    // The account page lists the bound username and links the other by its old password.
    browser.goto(&app.url("/seinajoki/account")).await;
    browser.wait_for("#linkable-intro").await;
    browser.fill("legacy-1", "isän vanha salasana").await;
    browser.screenshot("14-account-old-accounts").await;
    browser.click("form.linkable button[type=submit]").await;
    browser.wait_for("#message").await;
    let page = browser.text().await;
    assert_has(&page, "Aiempi käyttäjätunnus on liitetty.");
    assert!(page.contains("<li>perhe.aiti</li>") && page.contains("<li>perhe.isa</li>"));
    browser.quit().await;

    // No usable old hash: the link is mailed, and setting the password continues the login.
    let profile = Profile::new();
    let browser = rig.at_login(&profile, true, &[]).await;
    browser.submit(&[("identifier", "vanha@testi.fi")]).await;
    browser.wait_for("#link-sent").await;
    browser.screenshot("15-old-account-link-sent").await;
    let link = app.newest_link(None, "/seinajoki/reset?token=").await;
    browser.goto(&link).await;
    browser.wait_for("#legacy-username").await;
    browser.fill("password", "uusi pitkä salasana").await;
    browser.fill("password2", "uusi pitkä salasana").await;
    browser.screenshot("16-old-account-set-password").await;
    browser.click("main form button[type=submit]").await;
    back_with_a_code(&browser).await;
    browser.quit().await;
    rig.stop().await;
}
