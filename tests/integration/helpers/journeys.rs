//! A resident's journeys through the real pages, in a browser of the tests (reqwest with its own
//! cookies, redirects not followed): reading a page, posting its form with its CSRF token,
//! following a mailed link, signing in at the account page, and a login in progress ([`Login`])
//! with its identifier, chooser, password and claim steps.

use reqwest::{Client, IntoUrl, RequestBuilder, Response};
use url::Url;

use super::TestApp;
use crate::rp::{self, Rp, Started, csrf, location, param};

/// Posts `form` to `path` of `app` as the client `auth` (HTTP Basic, as an e-service does at the
/// token, introspection and revocation endpoints): the status and the JSON answer (`Null` when
/// the answer is not JSON).
pub async fn client_post(
    app: &TestApp,
    path: &str,
    auth: (&str, &str),
    form: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let response = app
        .http
        .post(app.url(path))
        .basic_auth(auth.0, Some(auth.1))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

/// `url` opened in `browser`: the response.
pub async fn visit(browser: &Client, url: impl IntoUrl) -> Response {
    browser.get(url).send().await.unwrap()
}

/// The form of a page that posts itself at once (the form_post answer, the POST idp asks again
/// from its own page): its action and its hidden fields, unescaped.
pub fn self_posting_form(page: &str) -> (String, Vec<(String, String)>) {
    let unescape = |text: &str| {
        text.replace("&#x2F;", "/")
            .replace("&#x27;", "'")
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    };
    let action = page
        .split("<form method=\"post\" action=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no form: {page}"));
    let fields = page
        .split("<input type=\"hidden\" name=\"")
        .skip(1)
        .filter_map(|rest| {
            let (name, rest) = rest.split_once("\" value=\"")?;
            let value = rest.split('"').next()?;
            Some((unescape(name), unescape(value)))
        })
        .collect();
    (unescape(action), fields)
}

/// Follows `answer`, a page that posts itself at once ([`self_posting_form`]), in `browser`: the
/// answer to its form.
pub async fn post_as_the_page_does(browser: &Client, answer: Response) -> Response {
    assert_eq!(answer.status(), 200, "a page that posts itself");
    let page = answer.text().await.unwrap();
    let (action, fields) = self_posting_form(&page);
    browser.post(action).form(&fields).send().await.unwrap()
}

/// The text of the page at `url` in `browser`.
pub async fn page(browser: &Client, url: impl IntoUrl) -> String {
    text_of(browser.get(url)).await
}

/// Sends `request`; the answer's text.
pub async fn text_of(request: RequestBuilder) -> String {
    request.send().await.unwrap().text().await.unwrap()
}

/// Posts `fields` to `url` with the CSRF token of `page` (the HTML of the form's page).
pub async fn post_with_csrf(
    browser: &Client,
    url: impl IntoUrl,
    page: &str,
    fields: &[(&str, &str)],
) -> Response {
    let token = csrf(page);
    let mut form = vec![("csrf", token.as_str())];
    form.extend_from_slice(fields);
    browser.post(url).form(&form).send().await.unwrap()
}

/// A response's status and text.
pub async fn answer(response: Response) -> (u16, String) {
    (response.status().as_u16(), response.text().await.unwrap())
}

/// Asserts that `response` has `status` and its page contains `text`; returns the page.
pub async fn says(response: Response, status: u16, text: &str) -> String {
    let (got, page) = answer(response).await;
    assert_eq!(got, status, "{page}");
    assert!(page.contains(text), "{text}: {page}");
    page
}

/// Runs `once` (a check of one account's password, right) as often as an account's checks are
/// free in a window, each answered `status`; the next is the throttle's page (429, `Retry-After`).
pub async fn free_checks_then_throttled(status: u16, once: impl AsyncFn() -> Response) {
    for n in 0..idp::flows::password_check::FREE_CHECKS {
        assert_eq!(once().await.status(), status, "check {n}");
    }
    let refused = once().await;
    assert!(refused.headers().contains_key("retry-after"));
    says(refused, 429, "Liian monta").await;
}

/// A change of password on the account page answered `response`: a redirect to the page (a reload
/// of the answer posts nothing again), which `browser` follows and which says so.
pub async fn password_changed(browser: &Client, response: Response) -> String {
    assert_eq!(response.status(), 303);
    let back = location(&response);
    assert_eq!(back.query(), Some("done=password-changed"));
    let page = browser.get(back).send().await.unwrap();
    says(page, 200, "Salasana on vaihdettu.").await
}

/// Gets `page` for its CSRF token, then posts `fields` to `action` (paths of `app`), both from
/// client address `from` (through `X-Forwarded-For`, which only a server trusting it reads):
/// (status, body).
pub async fn submit_from(
    app: &TestApp,
    browser: &Client,
    from: &str,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> (u16, String) {
    let html = text_of(browser.get(app.url(page)).header("X-Forwarded-For", from)).await;
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
    answer(response).await
}

/// Opens a mailed `link` in `browser` (it must answer 200) and posts its form to the link's path,
/// with the link's token and `fields`.
pub async fn follow_link(browser: &Client, link: &str, fields: &[(&str, &str)]) -> Response {
    let opened = browser.get(link).send().await.unwrap();
    assert_eq!(opened.status(), 200, "{link}");
    let html = opened.text().await.unwrap();
    submit_link(browser, link, &html, fields).await
}

/// Posts the form of `html`, the page of the mailed `link`, to the link's path, with the link's
/// token and `fields`.
pub async fn submit_link(
    browser: &Client,
    link: &str,
    html: &str,
    fields: &[(&str, &str)],
) -> Response {
    let url = Url::parse(link).unwrap();
    let token = param(&url, "token").unwrap();
    let mut form = vec![("token", token.as_str())];
    form.extend_from_slice(fields);
    let action = link.split('?').next().unwrap();
    post_with_csrf(browser, action, html, &form).await
}

/// Sets `password` (twice) through the password link `link` opened in `browser`.
pub async fn set_password(browser: &Client, link: &str, password: &str) -> Response {
    follow_link(
        browser,
        link,
        &[("password", password), ("password2", password)],
    )
    .await
}

/// A browser signed in at a tenant's account page.
pub struct SignedIn {
    pub browser: Client,
    /// The account page.
    pub page: String,
    /// The value of the session cookie the login set.
    pub cookie: String,
}

/// A fresh browser opens `/{tenant}/account`, is sent to log in, logs in as `email` and is sent
/// back to the account page.
pub async fn sign_in(app: &TestApp, tenant: &str, email: &str, password: &str) -> SignedIn {
    sign_in_with(app, app.browser(), tenant, email, password).await
}

/// [`sign_in`] in `browser`.
pub async fn sign_in_with(
    app: &TestApp,
    browser: Client,
    tenant: &str,
    email: &str,
    password: &str,
) -> SignedIn {
    let account = app.url(&format!("/{tenant}/account"));
    let login = location(&browser.get(&account).send().await.unwrap());
    assert_eq!(login.path(), format!("/{tenant}/login"));
    let done = rp::submit_login(&browser, &login, email, password, false).await;
    let cookie = session_cookie(&done, tenant).unwrap_or_default();
    assert_eq!(location(&done).as_str(), account);
    let opened = browser.get(&account).send().await.unwrap();
    assert_eq!(opened.status(), 200);
    let page = opened.text().await.unwrap();
    SignedIn {
        browser,
        page,
        cookie,
    }
}

/// Asserts that `page` links to `path` of `app` with the text `text`.
pub fn assert_links(app: &TestApp, page: &str, path: &str, text: &str) {
    let href = app.url(path);
    crate::helpers::assert_has(page, &format!("<a href=\"{href}\">{text}</a>"));
}

/// `/{tenant}/account` opened by another client with `cookie` as `tenant`'s session cookie (a
/// copied cookie, or one of another tenant's).
pub async fn account_with_cookie(app: &TestApp, tenant: &str, cookie: &str) -> Response {
    app.http
        .get(app.url(&format!("/{tenant}/account")))
        .header("cookie", format!("idp-session-{tenant}={cookie}"))
        .send()
        .await
        .unwrap()
}

/// The `Set-Cookie` header of `tenant`'s session cookie in `response`, whole.
pub fn session_set_cookie(response: &Response, tenant: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with(&format!("idp-session-{tenant}=")))
}

/// The value of `tenant`'s session cookie that `response` sets.
pub fn session_cookie(response: &Response, tenant: &str) -> Option<String> {
    let cookie = session_set_cookie(response, tenant)?;
    let value = cookie.split(';').next()?.split_once('=')?.1;
    Some(value.to_string())
}

/// A login in progress: a browser at the identifier page of a pending authorization request.
pub struct Login {
    pub browser: Client,
    /// What the relying party keeps for the code's exchange (a request made by the relying
    /// party of the tests).
    started: Option<Started>,
    /// The identifier page (`…/{tenant}/login?request=…`).
    pub url: Url,
    /// The pending request's id.
    pub request: String,
    /// The tenant's URL (`http://…/{tenant}`).
    pub tenant_url: String,
    /// The flow cookie (`name=value`) the request's first answer set.
    flow: Option<String>,
}

impl Login {
    /// A new request of `client` (with `scopes` and `extra` parameters) followed in `browser` to
    /// its identifier page.
    pub async fn start(
        browser: &Client,
        client: &Rp,
        scopes: &[&str],
        extra: &[(&str, &str)],
    ) -> Login {
        let started = rp::start(client, scopes, extra);
        let mut login = Login::at(browser, started.url.clone()).await;
        login.started = Some(started);
        login
    }

    /// The authorization request `authorize` (made by hand) followed in `browser` to its
    /// identifier page.
    pub async fn at(browser: &Client, authorize: impl IntoUrl) -> Login {
        let response = browser.get(authorize).send().await.unwrap();
        let flow = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|c| c.to_str().ok()?.split(';').next())
            .find(|c| c.starts_with("idp-flow-"))
            .map(str::to_string);
        let url = location(&response);
        let request = param(&url, "request").unwrap();
        let tenant_url = url.as_str().split("/login").next().unwrap().to_string();
        Login {
            browser: browser.clone(),
            started: None,
            url,
            request,
            tenant_url,
            flow,
        }
    }

    /// [`Login::post`] as a second click on the same button sends it: from this browser (its flow
    /// cookie) but before the first click's answer arrived, so without the session cookie that
    /// answer sets.
    pub async fn post_again(&self, path: &str, page: &str, fields: &[(&str, &str)]) -> Response {
        let mut form = vec![("csrf", csrf(page)), ("request", self.request.clone())];
        form.extend(fields.iter().map(|(k, v)| (*k, v.to_string())));
        let flow = self.flow.clone().expect("the request set a flow cookie");
        TestApp::browser_builder()
            .build()
            .unwrap()
            .post(format!("{}{path}", self.tenant_url))
            .header("cookie", flow)
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// What the relying party keeps for the code's exchange.
    pub fn started(&self) -> &Started {
        self.started
            .as_ref()
            .expect("a request of the tests' relying party")
    }

    /// Exchanges the code `back` carries, as [`rp::redeem`].
    pub async fn redeem(self, client: &Rp, back: &Url) -> rp::Redeemed {
        let started = self.started.expect("a request of the tests' relying party");
        rp::redeem(client, started, back).await
    }

    /// [`Login::start`] in a fresh browser of `app`, without scopes or parameters.
    pub async fn fresh(app: &TestApp, client: &Rp) -> Login {
        Login::start(&app.browser(), client, &[], &[]).await
    }

    /// The text of the identifier page.
    pub async fn page(&self) -> String {
        page(&self.browser, self.url.clone()).await
    }

    /// Posts `fields` (after the pending request's id) to `path` of the tenant (`/login/choose`…)
    /// with the CSRF token of `page`.
    pub async fn post(&self, path: &str, page: &str, fields: &[(&str, &str)]) -> Response {
        let mut form = vec![("request", self.request.as_str())];
        form.extend_from_slice(fields);
        let url = format!("{}{path}", self.tenant_url);
        post_with_csrf(&self.browser, url, page, &form).await
    }

    /// The identifier step from a fresh identifier page: (status, page).
    pub async fn identify(&self, identifier: &str) -> (u16, String) {
        let page = self.page().await;
        answer(
            self.post("/login/identifier", &page, &[("identifier", identifier)])
                .await,
        )
        .await
    }

    /// Chooses `account` on the chooser `page` of a shared address.
    pub async fn choose(&self, page: &str, identifier: &str, account: &str) -> Response {
        let fields = [("identifier", identifier), ("account", account)];
        self.post("/login/choose", page, &fields).await
    }

    /// The password step after `page`, with the account it names (an empty one if none).
    pub async fn password(&self, page: &str, identifier: &str, password: &str) -> Response {
        let account = if page.contains("name=\"account\"") {
            hidden_account(page)
        } else {
            String::new()
        };
        let fields = [
            ("identifier", identifier),
            ("account", &account),
            ("password", password),
        ];
        self.post("/login/password", page, &fields).await
    }

    /// The claim's old-password step for `account`, a form of `page`.
    pub async fn claim(
        &self,
        page: &str,
        identifier: &str,
        account: &str,
        password: &str,
    ) -> Response {
        let fields = [
            ("identifier", identifier),
            ("account", account),
            ("password", password),
        ];
        self.post("/login/claim", page, &fields).await
    }

    /// The identifier and password pages, as [`rp::submit_login`].
    pub async fn submit(&self, identifier: &str, password: &str, remember: bool) -> Response {
        rp::submit_login(&self.browser, &self.url, identifier, password, remember).await
    }
}

/// The value of the hidden `account` field of a page.
pub fn hidden_account(page: &str) -> String {
    hidden(page, "account")
}

/// The value of the hidden field `name` of a page.
pub fn hidden(page: &str, name: &str) -> String {
    page.split(&format!("name=\"{name}\" value=\""))
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no {name} field: {page}"))
        .to_string()
}

/// The ids of a page's fields marked as in error (`aria-invalid="true"`), in the page's order:
/// an error is tied to the field it is about, and to no other.
pub fn invalid_fields(page: &str) -> Vec<String> {
    page.split("<input ")
        .skip(1)
        .filter_map(|tag| {
            let tag = tag.split('>').next()?;
            let id = tag.strip_prefix("id=\"")?.split('"').next()?;
            tag.contains("aria-invalid=\"true\"")
                .then(|| id.to_string())
        })
        .collect()
}
