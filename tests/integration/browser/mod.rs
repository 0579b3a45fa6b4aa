//! Browser tests: Debian's chromium driven through chromedriver (WebDriver), headless, on
//! loopback, with background networking off. Each page walked is saved as a screenshot into
//! `docs/screenshots/`. Under `CI=true` a missing browser is a failure; elsewhere these tests are
//! skipped with a printed reason.
//!
//! This file is the harness (the browser, its virtual authenticator, the server with a relying
//! party); `journeys.rs` walks the pages, `passkeys.rs` adds and uses a passkey, `sessions.rs`
//! lists the account page's sessions and ends one.

mod axe;
mod callbacks;
mod deletion;
mod journeys;
mod passkeys;
mod sessions;
mod spa;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use actix_web::{HttpResponse, web};
use fantoccini::elements::Element;
use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::helpers::{Backend, TestApp, TestAppBuilder, first_party_client, project_root};

pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";
pub(crate) const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub(crate) const PASSWORD: &str = "oikea hevonen patteri";

/// Whether the browser is there; panics under CI=true when it is not.
pub(crate) fn browser_available() -> bool {
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

/// [`Browser::assert_text_adapts`]'s check, in the page: `arguments[0]` is `spacing` or
/// `zoom`; the problems found (none: `[]`), with the page's own inline styles put back. Styles
/// set through the CSSOM are not inline styles for the pages' CSP.
const TEXT_ADAPTS: &str = r##"
const mode = arguments[0];
const saved = [...document.querySelectorAll("*")].map(el => [el, el.style.cssText]);
if (mode === "spacing") {
  for (const [el] of saved) {
    el.style.setProperty("line-height", "1.5", "important");
    el.style.setProperty("letter-spacing", "0.12em", "important");
    el.style.setProperty("word-spacing", "0.16em", "important");
  }
  for (const p of document.querySelectorAll("p")) {
    p.style.setProperty("margin-bottom", "2em", "important");
  }
} else {
  document.documentElement.style.setProperty("font-size", "200%", "important");
}
const problems = [];
const root = document.documentElement;
if (root.scrollWidth > root.clientWidth) {
  problems.push("sideways scrolling: " + (root.scrollWidth - root.clientWidth) + " px");
}
// A form field's own text scrolls inside it (its caret reaches all of it): not clipped.
for (const el of document.querySelectorAll("body *:not(input, select, textarea)")) {
  const style = getComputedStyle(el);
  const clips = ["hidden", "clip"].includes(style.overflowX) || ["hidden", "clip"].includes(style.overflowY);
  if (clips && (el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1)) {
    problems.push("clipped: " + el.tagName.toLowerCase() + (el.id ? "#" + el.id : ""));
  }
}
for (const [el, css] of saved) {
  el.style.cssText = css;
}
return problems;
"##;

/// A chromium under chromedriver, with its own profile directory.
pub(crate) struct Browser {
    pub(crate) client: Client,
    driver: Child,
    /// Whether the pages' JavaScript runs (off, no script runs in them, axe-core's neither).
    javascript: bool,
}

impl Browser {
    pub(crate) async fn start(profile: &Path, javascript: bool) -> Browser {
        // fantoccini's TLS stack and ours bring two rustls providers into the tests: pick one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // A process group of its own: chromedriver and the chromium it starts end together.
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
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
                Ok(client) => {
                    return Browser {
                        client,
                        driver,
                        javascript,
                    };
                }
                Err(error) => last_error = error.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not start: {last_error}");
    }

    pub(crate) async fn quit(self) {
        // Closing the session lets chromium write its cookies to the profile.
        let _ = self.client.clone().close().await;
        drop(self);
    }

    /// Saves the page in view as `docs/screenshots/{name}.png`, after axe-core found nothing
    /// serious in it (`axe.rs`): every page the tests show is audited.
    pub(crate) async fn screenshot(&self, name: &str) {
        self.assert_accessible().await;
        let png = self.client.screenshot().await.unwrap();
        let dir = project_root().join("docs/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
        self.assert_text_adapts().await;
    }

    /// WCAG 1.4.12 (text spacing) and 1.4.4 (resize text) on the page in view: with the spacing
    /// the criterion names (line height 1.5, paragraphs 2 em apart, letters 0.12 em, words
    /// 0.16 em) at 320 CSS pixels wide, and with the text at 200 % at the window's width, the page
    /// needs no sideways scrolling and no box clips its text. The page's own styles and the
    /// window's size are put back after. Needs JavaScript, as axe-core does.
    pub(crate) async fn assert_text_adapts(&self) {
        if !self.javascript {
            return;
        }
        let (width, height) = self.client.get_window_size().await.unwrap();
        let (width, height) = (
            u32::try_from(width).unwrap(),
            u32::try_from(height).unwrap(),
        );
        for (mode, wide) in [("spacing", 320), ("zoom", width)] {
            self.client.set_window_size(wide, height).await.unwrap();
            let found = self
                .client
                .execute(TEXT_ADAPTS, vec![json!(mode)])
                .await
                .unwrap();
            assert_eq!(found, json!([]), "{mode} on {}", self.url().await);
        }
        self.client.set_window_size(width, height).await.unwrap();
    }

    /// Waits (at most 10 s) for the element `locator` finds.
    async fn element(&self, locator: Locator<'_>) -> Result<Element, CmdError> {
        let wait = self.client.wait().at_most(Duration::from_secs(10));
        wait.for_element(locator).await
    }

    pub(crate) async fn fill(&self, id: &str, text: &str) {
        let field = self
            .element(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("no #{id}: {e}"));
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    pub(crate) async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// Clicks the link whose text is `text`.
    pub(crate) async fn click_link(&self, text: &str) {
        self.click_on(Locator::LinkText(text)).await;
    }

    /// Fills `fields` (by id) and submits the page's main form.
    pub(crate) async fn submit(&self, fields: &[(&str, &str)]) {
        for (id, text) in fields {
            self.fill(id, text).await;
        }
        self.click("main form button[type=submit]").await;
    }

    /// Picks `lang` in the language selector (no JavaScript of ours) and waits for the page in it.
    pub(crate) async fn choose_language(&self, lang: &str) {
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

    pub(crate) async fn click(&self, css: &str) {
        self.click_on(Locator::Css(css)).await;
    }

    /// Clicks the element `locator` finds (waiting for it at most 10 s).
    async fn click_on(&self, locator: Locator<'_>) {
        let element = self.element(locator).await.unwrap();
        element.click().await.unwrap();
    }

    /// Waits (at most 10 s) for the element `css` to appear.
    pub(crate) async fn wait_for(&self, css: &str) {
        self.element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"));
    }

    /// Waits (at most 10 s) for the element `css`; the page, which must contain `text`.
    pub(crate) async fn shows(&self, css: &str, text: &str) -> String {
        self.wait_for(css).await;
        let page = self.text().await;
        assert!(page.contains(text), "{text}: {page}");
        page
    }

    /// Waits (at most 10 s) until the address satisfies `done`; returns it.
    pub(crate) async fn wait_for_url(&self, done: impl Fn(&url::Url) -> bool) -> url::Url {
        for _ in 0..100 {
            let url = self.url().await;
            if done(&url) {
                return url;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("stuck at {}: {}", self.url().await, self.text().await);
    }

    pub(crate) async fn text(&self) -> String {
        self.client.source().await.unwrap()
    }

    pub(crate) async fn url(&self) -> url::Url {
        self.client.current_url().await.unwrap()
    }

    /// WCAG 1.4.10 (reflow): at 320 CSS pixels the page in view needs no sideways scrolling.
    /// Leaves the window 320 pixels wide.
    pub(crate) async fn assert_reflows(&self) {
        self.client.set_window_size(320, 800).await.unwrap();
        let overflow = self
            .client
            .execute(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(
            overflow.as_i64(),
            Some(0),
            "horizontal overflow at 320 px on {}",
            self.url().await
        );
    }

    /// Adds a virtual authenticator to the browser (WebDriver's WebAuthn extension): a platform
    /// authenticator that keeps discoverable credentials and verifies its user. Returns its id.
    pub(crate) async fn add_virtual_authenticator(&self) -> String {
        let options = json!({
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": true,
            "hasUserVerification": true,
            "isUserVerified": true,
            "automaticPresenceSimulation": true,
        });
        let id = self
            .client
            .issue_cmd(WebAuthn::post("authenticator", options))
            .await
            .unwrap();
        id.as_str().unwrap().to_string()
    }

    /// The credentials the virtual authenticator `authenticator` holds.
    pub(crate) async fn virtual_credentials(&self, authenticator: &str) -> Vec<serde_json::Value> {
        let path = format!("authenticator/{authenticator}/credentials");
        let listed = self.client.issue_cmd(WebAuthn::get(&path)).await.unwrap();
        listed.as_array().cloned().unwrap_or_default()
    }
}

/// A command of WebDriver's WebAuthn extension (W3C Web Authentication §11.3), which
/// chromedriver implements, under `/session/{id}/webauthn/`.
#[derive(Debug)]
pub(crate) struct WebAuthn {
    path: String,
    method: http::Method,
    body: Option<serde_json::Value>,
}

impl WebAuthn {
    pub(crate) fn post(path: &str, body: serde_json::Value) -> WebAuthn {
        WebAuthn {
            path: path.into(),
            method: http::Method::POST,
            body: Some(body),
        }
    }

    pub(crate) fn get(path: &str) -> WebAuthn {
        WebAuthn {
            path: path.into(),
            method: http::Method::GET,
            body: None,
        }
    }
}

impl fantoccini::wd::WebDriverCompatibleCommand for WebAuthn {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        let session = session_id.unwrap_or_default();
        base_url.join(&format!("session/{session}/webauthn/{}", self.path))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (
            self.method.clone(),
            self.body.as_ref().map(|b| b.to_string()),
        )
    }
}

impl Drop for Browser {
    /// Ends chromedriver and every chromium process it started (its process group), also when
    /// the test panicked before `quit`.
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.driver.id()) {
            let group = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The relying party's callback: a page saying the code arrived; and `/post?action=…&…`, a page
/// of the e-service's own site that posts the other fields to `action` at once (as an e-service
/// that sends its requests as forms does).
pub(crate) fn start_rp() -> (String, actix_web::dev::ServerHandle) {
    let (address, handle) = crate::rp::serve_on_loopback(|routes| {
        routes.route(
            "/callback",
            web::get().to(|| async {
                html("<!DOCTYPE html><html lang=\"en\"><title>RP</title><h1>Back at the e-service</h1></html>")
            }),
        );
        routes.route(
            "/post",
            web::get().to(|req: actix_web::HttpRequest| async move {
                let escape = |s: &str| {
                    s.replace('&', "&amp;")
                        .replace('"', "&quot;")
                        .replace('<', "&lt;")
                };
                let mut action = String::new();
                let mut inputs = String::new();
                for (name, value) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
                    match &*name {
                        "action" => action = escape(&value),
                        _ => inputs.push_str(&format!(
                            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                            escape(&name),
                            escape(&value)
                        )),
                    }
                }
                html(format!(
                    "<!DOCTYPE html><html lang=\"en\"><title>RP</title>\
                         <form method=\"post\" action=\"{action}\">{inputs}</form>\
                         <script>document.forms[0].submit();</script></html>"
                ))
            }),
        );
    });
    (format!("http://{address}/callback"), handle)
}

/// A page of the e-service's site.
pub(crate) fn html(body: impl Into<String>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body.into())
}

/// The server with the relying party `rp-browser` (whose callback runs too) and a resident, and
/// the profile of the resident's browser.
pub(crate) struct Rig {
    pub(crate) app: TestApp,
    pub(crate) callback: String,
    rp: actix_web::dev::ServerHandle,
    profile: Profile,
}

impl Rig {
    /// The rig at `http://127.0.0.1:PORT` (no passkeys: browsers refuse WebAuthn on an IP
    /// address), or `None` when the browser is not there (see [`browser_available`]).
    pub(crate) async fn start() -> Option<Rig> {
        Rig::start_at(false).await
    }

    /// The rig at `http://localhost:PORT`, where passkeys work.
    pub(crate) async fn at_localhost() -> Option<Rig> {
        Rig::start_at(true).await
    }

    /// [`Rig::start`], and a browser (JavaScript on or off) with the resident's profile at the
    /// login page of a new authorization request.
    pub(crate) async fn start_at_login(javascript: bool) -> Option<(Rig, Browser)> {
        let rig = Rig::start().await?;
        let browser = rig.at_login(javascript, &[]).await;
        Some((rig, browser))
    }

    async fn start_at(localhost: bool) -> Option<Rig> {
        let at = |app: TestAppBuilder| if localhost { app.localhost() } else { app };
        Rig::start_with(at).await
    }

    /// The rig with the server's configuration changed by `edit` (a mail relay of the test's).
    pub(crate) async fn start_with(
        edit: impl FnOnce(TestAppBuilder) -> TestAppBuilder,
    ) -> Option<Rig> {
        if !browser_available() {
            return None;
        }
        let (callback, rp) = start_rp();
        let app = TestApp::builder(Backend::Sqlite)
            .tenant_toml(&first_party_client("rp-browser", &callback, &[]))
            .user("seinajoki", "erkki@testi.fi", PASSWORD, "Erkki Esimerkki");
        let app = edit(app).spawn().await;
        let profile = Profile::new();
        Some(Rig {
            app,
            callback,
            rp,
            profile,
        })
    }

    /// An authorization request of `rp-browser`, with `extra` parameters.
    pub(crate) fn authorize_url(&self, extra: &[(&str, &str)]) -> String {
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

    /// A browser (JavaScript on or off) with the resident's profile.
    pub(crate) async fn browser(&self, javascript: bool) -> Browser {
        Browser::start(&self.profile.path(), javascript).await
    }

    /// A browser (JavaScript on or off) with the resident's profile, at the login page of a new
    /// authorization request with `extra` parameters.
    pub(crate) async fn at_login(&self, javascript: bool, extra: &[(&str, &str)]) -> Browser {
        self.at_login_in(&self.profile, javascript, extra).await
    }

    /// [`Rig::at_login`] in a browser with the profile `profile`.
    pub(crate) async fn at_login_in(
        &self,
        profile: &Profile,
        javascript: bool,
        extra: &[(&str, &str)],
    ) -> Browser {
        let browser = Browser::start(&profile.path(), javascript).await;
        browser.goto(&self.authorize_url(extra)).await;
        browser
    }

    pub(crate) async fn stop(self) {
        self.app.stop().await;
        self.rp.stop(true).await;
    }

    /// Quits `browser`, then stops the rig.
    pub(crate) async fn finish(self, browser: Browser) {
        browser.quit().await;
        self.stop().await;
    }
}

/// Walks the identifier and password pages; returns where the browser ends.
pub(crate) async fn log_in(browser: &Browser, remember: bool, shots: Option<&str>) -> url::Url {
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
pub(crate) async fn back_with_a_code(browser: &Browser) {
    let back = browser.wait_for_url(|u| u.path() == "/callback").await;
    assert!(back.query_pairs().any(|(k, _)| k == "code"), "{back}");
}

/// A browser profile of its own (cookies, remembered sessions), removed with this value.
pub(crate) struct Profile(tempfile::TempDir);

impl Profile {
    pub(crate) fn new() -> Profile {
        Profile(tempfile::tempdir().unwrap())
    }

    pub(crate) fn path(&self) -> PathBuf {
        self.0.path().join("profile")
    }
}
