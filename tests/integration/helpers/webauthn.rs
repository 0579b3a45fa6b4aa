//! A passkey in the tests: webauthn-authenticator-rs's `SoftPasskey` (it claims user
//! verification, as passkeys need) answering the options of idp's passkey endpoints as a browser's
//! authenticator would, and the passkey pages' journeys built on it: options fetched with the
//! page's CSRF token, the answer posted as the page's script posts it.

use reqwest::{Client, Response};
use serde_json::Value;
use url::Url;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs_proto::{AllowCredentials, CreationChallengeResponse, RequestChallengeResponse};

use super::TestApp;
use super::journeys::{Login, SignedIn, page, post_with_csrf};
use crate::rp::{self, location};

/// A software authenticator at the app's origin.
pub struct Authenticator {
    soft: SoftPasskey,
    origin: Url,
    /// The credentials it made: (credential id, user handle).
    pub made: Vec<(Vec<u8>, Vec<u8>)>,
}

/// A ceremony's answer as the script posts it: the ceremony's id and the credential (JSON).
#[derive(Debug, Clone)]
pub struct Answer {
    pub ceremony: String,
    pub credential: String,
}

impl Answer {
    /// The form fields of the answer.
    pub fn fields(&self) -> [(&str, &str); 2] {
        [
            ("ceremony", self.ceremony.as_str()),
            ("credential", self.credential.as_str()),
        ]
    }

    /// The same answer with its signature's first byte changed (it no longer verifies).
    pub fn tampered(&self) -> Answer {
        use base64::Engine;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut credential: Value = serde_json::from_str(&self.credential).unwrap();
        let signature = credential["response"]["signature"].as_str().unwrap();
        let mut bytes = engine.decode(signature).unwrap();
        bytes[4] ^= 0x55;
        credential["response"]["signature"] = Value::String(engine.encode(bytes));
        Answer {
            ceremony: self.ceremony.clone(),
            credential: credential.to_string(),
        }
    }
}

impl Answer {
    /// The same answer naming another user (the handle is not signed).
    pub fn as_user(&self, handle: &[u8]) -> Answer {
        use base64::Engine;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut credential: Value = serde_json::from_str(&self.credential).unwrap();
        credential["response"]["userHandle"] = Value::String(engine.encode(handle));
        Answer {
            ceremony: self.ceremony.clone(),
            credential: credential.to_string(),
        }
    }
}

fn ceremony(options: &Value) -> String {
    options["ceremony"].as_str().unwrap().to_string()
}

impl Authenticator {
    /// A new authenticator at `app`'s public URL.
    pub fn new(app: &TestApp) -> Authenticator {
        Authenticator {
            soft: SoftPasskey::new(true),
            origin: Url::parse(&app.base).unwrap(),
            made: Vec::new(),
        }
    }

    /// Creates a passkey as the options endpoint's answer `options` asks.
    pub fn create(&mut self, options: &Value) -> Answer {
        let asked: CreationChallengeResponse =
            serde_json::from_value(options["options"].clone()).unwrap();
        let user = asked.public_key.user.id.clone();
        let created = self
            .soft
            .do_registration(self.origin.clone(), asked)
            .unwrap();
        self.made.push((created.raw_id.clone(), user));
        Answer {
            ceremony: ceremony(options),
            credential: serde_json::to_string(&created).unwrap(),
        }
    }

    /// Answers the options `options` that list the user's passkeys.
    pub fn get(&mut self, options: &Value) -> Answer {
        let asked: RequestChallengeResponse =
            serde_json::from_value(options["options"].clone()).unwrap();
        self.assert(options, asked, None)
    }

    /// Answers the options of a discoverable login (no passkeys listed) with the passkey it made
    /// last, carrying its user handle as a browser's authenticator does. (`SoftPasskey` keeps no
    /// resident keys: the credential is named to it, and the handle, which is not signed, put in
    /// the answer.)
    pub fn discover(&mut self, options: &Value) -> Answer {
        let mut asked: RequestChallengeResponse =
            serde_json::from_value(options["options"].clone()).unwrap();
        assert!(asked.public_key.allow_credentials.is_empty(), "{options}");
        let (id, user) = self.made.last().unwrap().clone();
        asked.public_key.allow_credentials = vec![AllowCredentials {
            type_: "public-key".into(),
            id,
            transports: None,
        }];
        self.assert(options, asked, Some(user))
    }

    fn assert(
        &mut self,
        options: &Value,
        asked: RequestChallengeResponse,
        user: Option<Vec<u8>>,
    ) -> Answer {
        let mut answered = self
            .soft
            .do_authentication(self.origin.clone(), asked)
            .unwrap();
        if user.is_some() {
            answered.response.user_handle = user;
        }
        Answer {
            ceremony: ceremony(options),
            credential: serde_json::to_string(&answered).unwrap(),
        }
    }
}

/// Posts the CSRF token of `html` and `fields` to `url` in `browser`; the JSON answer, which must
/// be a 200.
pub async fn options(browser: &Client, url: &str, html: &str, fields: &[(&str, &str)]) -> Value {
    let response = post_with_csrf(browser, url, html, fields).await;
    assert_eq!(response.status(), 200, "{url}");
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

/// A fresh browser signed in at `tenant`'s account page as `email`; after the password, the offer
/// of a passkey is answered "not now" when it comes.
pub async fn sign_in(app: &TestApp, tenant: &str, email: &str, password: &str) -> SignedIn {
    let browser = app.browser();
    let account = app.url(&format!("/{tenant}/account"));
    let login = location(&browser.get(&account).send().await.unwrap());
    let mut done = rp::submit_login(&browser, &login, email, password, false).await;
    let cookie = super::journeys::session_cookie(&done, tenant).unwrap_or_default();
    let offer = location(&done);
    if offer.path().ends_with("/passkey-offer") {
        done = not_now(&browser, &offer).await;
    }
    assert_eq!(location(&done).as_str(), account);
    let page = page(&browser, &account).await;
    SignedIn {
        browser,
        page,
        cookie,
    }
}

/// Opens the offer at `offer` (it must be shown) and answers "not now".
pub async fn not_now(browser: &Client, offer: &Url) -> Response {
    let html = page(browser, offer.clone()).await;
    assert!(html.contains("Ota pääsyavain käyttöön"), "{html}");
    let request = rp::param(offer, "request").unwrap();
    let action = offer.as_str().split('?').next().unwrap();
    post_with_csrf(browser, action, &html, &[("request", &request)]).await
}

/// Adds a passkey named `name` on the account page of `signed` with `key`, the current password
/// `password` given; the page after it.
pub async fn add_on_account(
    app: &TestApp,
    signed: &SignedIn,
    (key, password): (&mut Authenticator, &str),
    name: &str,
) -> Response {
    let html = page(&signed.browser, app.url("/seinajoki/account")).await;
    let url = app.url("/seinajoki/account/passkeys/options");
    let asked = options(&signed.browser, &url, &html, &[("password", password)]).await;
    let answer = key.create(&asked);
    let mut fields = answer.fields().to_vec();
    fields.push(("name", name));
    let url = app.url("/seinajoki/account/passkeys");
    post_with_csrf(&signed.browser, &url, &html, &fields).await
}

/// The options of a passkey login at the identifier page of `login`, and that page.
pub async fn login_options(login: &Login) -> (Value, String) {
    let html = login.page().await;
    let url = format!("{}/login/passkey/options", login.tenant_url);
    let asked = options(&login.browser, &url, &html, &[("request", &login.request)]).await;
    (asked, html)
}

/// Logs in with `key`'s newest passkey at the identifier page of `login`: the answer to it.
pub async fn log_in(login: &Login, key: &mut Authenticator) -> Response {
    let (asked, html) = login_options(login).await;
    let answer = key.discover(&asked);
    login.post("/login/passkey", &html, &answer.fields()).await
}

/// Steps the session of `signed` up with `key`'s passkey: once the user has a passkey, the
/// account page asks a password-only session for it first. Leaves `signed` with the raised
/// session's cookie and the account page.
pub async fn step_up_on_account(app: &TestApp, signed: &mut SignedIn, key: &mut Authenticator) {
    let account = app.url("/seinajoki/account");
    let asked_at = location(&signed.browser.get(&account).send().await.unwrap());
    assert_eq!(
        asked_at.path(),
        "/seinajoki/login/second-factor",
        "{asked_at}"
    );
    let request = rp::param(&asked_at, "request").unwrap();
    let html = page(&signed.browser, asked_at.clone()).await;
    let url = app.url("/seinajoki/login/second-factor/passkey/options");
    let asked = options(&signed.browser, &url, &html, &[("request", &request)]).await;
    let answer = key.get(&asked);
    let mut fields = answer.fields().to_vec();
    fields.push(("request", &request));
    let url = app.url("/seinajoki/login/second-factor/passkey");
    let done = post_with_csrf(&signed.browser, &url, &html, &fields).await;
    assert_eq!(location(&done).as_str(), account);
    let cookie = super::journeys::session_cookie(&done, "seinajoki");
    assert!(
        cookie.as_ref().is_some_and(|c| *c != signed.cookie),
        "a step-up gives the session a new cookie"
    );
    signed.cookie = cookie.unwrap_or_default();
    signed.page = page(&signed.browser, &account).await;
}
