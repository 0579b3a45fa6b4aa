//! A relying party for tests: the `openidconnect` crate against the spawned server, a browser
//! (reqwest with cookies) that logs in through the pages, and a back-channel logout endpoint.

use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdTokenClaims, CoreProviderMetadata, CoreTokenResponse,
};
use openidconnect::{
    AuthType, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IntrospectionUrl, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RevocationUrl, Scope,
};
use serde_json::Value;
use url::Url;

use crate::helpers::journeys::hidden;
use crate::helpers::{TestApp, assert_has};

/// A configured client: auth, introspection and revocation endpoints set.
pub type Rp = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointSet,
    EndpointSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The HTTP client the relying party uses (never follows redirects).
pub fn http() -> openidconnect::reqwest::Client {
    openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A relying party of `tenant` by discovery.
pub async fn client(
    app: &TestApp,
    tenant: &str,
    client_id: &str,
    secret: Option<&str>,
    redirect: &str,
) -> Rp {
    client_at(&app.issuer(tenant), &http(), client_id, secret, redirect).await
}

/// A relying party of the provider at `issuer` by discovery through `http`.
pub async fn client_at(
    issuer: &str,
    http: &openidconnect::reqwest::Client,
    client_id: &str,
    secret: Option<&str>,
    redirect: &str,
) -> Rp {
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.into()).unwrap(), http)
            .await
            .unwrap();
    let mut client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client_id.into()),
        secret.map(|s| ClientSecret::new(s.into())),
    )
    .set_redirect_uri(RedirectUrl::new(redirect.into()).unwrap())
    .set_introspection_url(IntrospectionUrl::new(format!("{issuer}/introspect")).unwrap())
    .set_revocation_url(RevocationUrl::new(format!("{issuer}/revoke")).unwrap());
    if client_id == "rp-post" || secret.is_none() {
        client = client.set_auth_type(AuthType::RequestBody);
    }
    client
}

/// `rp-basic` of seinajoki.
pub async fn basic(app: &TestApp) -> Rp {
    basic_of(app, "seinajoki").await
}

/// `rp-third` of seinajoki: not first-party, so a login at it asks the resident's consent.
pub async fn third(app: &TestApp) -> Rp {
    client(
        app,
        "seinajoki",
        "rp-third",
        Some("rp-third-secret"),
        "http://127.0.0.1:9/third-callback",
    )
    .await
}

/// `rp-basic` of `tenant` (the test clients are in both tenants).
pub async fn basic_of(app: &TestApp, tenant: &str) -> Rp {
    client(
        app,
        tenant,
        "rp-basic",
        Some("rp-basic-secret"),
        "http://127.0.0.1:9/callback",
    )
    .await
}

/// What the RP keeps between the redirect and the code exchange.
pub struct Started {
    pub url: Url,
    pub state: CsrfToken,
    pub nonce: Nonce,
    pub verifier: PkceCodeVerifier,
}

/// An authorization URL with PKCE S256, state, nonce and `scopes`.
pub fn start(client: &Rp, scopes: &[&str], extra: &[(&str, &str)]) -> Started {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge);
    for scope in scopes {
        request = request.add_scope(Scope::new((*scope).into()));
    }
    for (name, value) in extra {
        request = request.add_extra_param(*name, *value);
    }
    let (url, state, nonce) = request.url();
    Started {
        url,
        state,
        nonce,
        verifier,
    }
}

/// The `Location` of a 303, resolved against `base`.
pub fn location(response: &reqwest::Response) -> Url {
    assert_eq!(response.status(), 303, "expected a redirect: {response:?}");
    let location = response.headers()["location"].to_str().unwrap();
    Url::parse(location).unwrap()
}

/// A query parameter of `url`.
pub fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The CSRF token in a page's forms.
pub fn csrf(html: &str) -> String {
    hidden(html, "csrf")
}

/// Submits the identifier and then the password pages of the pending request at `login` (the
/// identifier page's URL); returns the response to the password.
pub async fn submit_login(
    browser: &reqwest::Client,
    login: &Url,
    identifier: &str,
    password: &str,
    remember: bool,
) -> reqwest::Response {
    let page = browser.get(login.clone()).send().await.unwrap();
    assert_eq!(page.status(), 200, "{login}");
    let token = csrf(&page.text().await.unwrap());
    let request = param(login, "request").unwrap();
    let base = login.as_str().split("/login").next().unwrap().to_string();
    let password_page = browser
        .post(format!("{base}/login/identifier"))
        .form(&[
            ("csrf", token.as_str()),
            ("request", request.as_str()),
            ("identifier", identifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(password_page.status(), 200);
    let html = password_page.text().await.unwrap();
    assert_has(&html, "autocomplete=\"current-password\"");
    let token = csrf(&html);
    let mut form = vec![
        ("csrf", token.as_str()),
        ("request", request.as_str()),
        ("identifier", identifier),
        ("password", password),
    ];
    if remember {
        form.push(("remember", "yes"));
    }
    browser
        .post(format!("{base}/login/password"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// Follows `authorize_url` in `browser`, logs in on the login pages, returns where the browser
/// is sent next (the client's redirect URI with a code, or the consent page).
pub async fn log_in(
    browser: &reqwest::Client,
    authorize_url: &Url,
    email: &str,
    password: &str,
) -> Url {
    let login = location(&browser.get(authorize_url.clone()).send().await.unwrap());
    assert_eq!(login.path().rsplit('/').next(), Some("login"), "{login}");
    location(&submit_login(browser, &login, email, password, false).await)
}

/// Logs in as `email` in `browser` at a new request of `client` (as [`log_in`]): where the
/// browser is sent next.
pub async fn log_in_at(browser: &reqwest::Client, client: &Rp, email: &str, password: &str) -> Url {
    let started = start(client, &[], &[]);
    log_in(browser, &started.url, email, password).await
}

/// What a code's exchange gave: the tokens, and the ID token's claims as the RP verified them
/// (signature, audience, nonce).
pub struct Redeemed {
    pub tokens: CoreTokenResponse,
    pub claims: CoreIdTokenClaims,
}

impl Redeemed {
    /// The ID token's claims as JSON (with the claims the RP library does not know).
    pub fn payload(&self) -> Value {
        use openidconnect::TokenResponse;
        payload(&self.tokens.id_token().unwrap().to_string())
    }

    /// The access token.
    pub fn access_token(&self) -> String {
        use openidconnect::OAuth2TokenResponse;
        self.tokens.access_token().secret().clone()
    }

    /// The refresh token.
    pub fn refresh_token(&self) -> String {
        use openidconnect::OAuth2TokenResponse;
        self.tokens.refresh_token().unwrap().secret().clone()
    }
}

/// Exchanges the code `back` carries (the answer to `started`), which must succeed, and verifies
/// the ID token.
pub async fn redeem(client: &Rp, started: Started, back: &Url) -> Redeemed {
    use openidconnect::TokenResponse;
    let code = param(back, "code").unwrap_or_else(|| panic!("no code: {back}"));
    let tokens = exchange(client, &code, started.verifier).await.unwrap();
    let claims = tokens
        .id_token()
        .unwrap()
        .claims(&client.id_token_verifier(), &started.nonce)
        .unwrap()
        .clone();
    Redeemed { tokens, claims }
}

/// Logs in as `email` in `browser` at `started` (as [`log_in`]) and redeems the code.
pub async fn log_in_and_redeem(
    browser: &reqwest::Client,
    client: &Rp,
    started: Started,
    email: &str,
    password: &str,
) -> Redeemed {
    let back = log_in(browser, &started.url, email, password).await;
    redeem(client, started, &back).await
}

/// Logs in as `email` in `browser` at a new request of `client` for `scopes`, and redeems the
/// code (as [`log_in_and_redeem`]).
pub async fn redeem_login(
    browser: &reqwest::Client,
    client: &Rp,
    scopes: &[&str],
    email: &str,
    password: &str,
) -> Redeemed {
    let started = start(client, scopes, &[]);
    log_in_and_redeem(browser, client, started, email, password).await
}

/// The claims of a JWT, unverified (its signature is checked elsewhere).
pub fn payload(jwt: &str) -> Value {
    use base64::Engine;
    let part = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The userinfo of `access_token` at `tenant`, as JSON.
pub async fn userinfo(app: &TestApp, tenant: &str, access_token: &str) -> Value {
    app.http
        .get(app.url(&format!("/{tenant}/userinfo")))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Where a new request of `client` with `prompt=none` sends `browser` (the client's redirect URI
/// with a code, or with `login_required` when it has no session).
pub async fn prompt_none(browser: &reqwest::Client, client: &Rp) -> Url {
    authorize(browser, client, &[("prompt", "none")]).await
}

/// Where a new request of `client` with `extra` parameters sends `browser` at once (the login
/// page, the consent page, or the client's redirect URI).
pub async fn authorize(browser: &reqwest::Client, client: &Rp, extra: &[(&str, &str)]) -> Url {
    let started = start(client, &[], extra);
    location(&browser.get(started.url).send().await.unwrap())
}

/// Exchanges a code as `client`.
pub async fn exchange(
    client: &Rp,
    code: &str,
    verifier: PkceCodeVerifier,
) -> Result<openidconnect::core::CoreTokenResponse, String> {
    exchange_with(client, code, verifier, &http()).await
}

/// Exchanges a code as `client`, through `http`.
pub async fn exchange_with(
    client: &Rp,
    code: &str,
    verifier: PkceCodeVerifier,
    http: &openidconnect::reqwest::Client,
) -> Result<openidconnect::core::CoreTokenResponse, String> {
    client
        .exchange_code(AuthorizationCode::new(code.into()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(http)
        .await
        .map_err(token_error)
}

/// The error of a token request the RP library makes.
pub type TokenError = openidconnect::RequestTokenError<
    openidconnect::HttpClientError<openidconnect::reqwest::Error>,
    openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
>;

/// A token request's error as `error: description` (the server's answer), or as its debug text.
pub fn token_error(error: TokenError) -> String {
    match error {
        openidconnect::RequestTokenError::ServerResponse(r) => format!(
            "{}: {}",
            r.error().as_ref(),
            r.error_description().cloned().unwrap_or_default()
        ),
        other => format!("{other:?}"),
    }
}

/// A relying party's back-channel logout endpoint: records every body; answers 503 to the
/// first `fail_first` requests, then 200.
#[derive(Clone, Default)]
pub struct Receiver {
    pub bodies: Arc<Mutex<Vec<String>>>,
    pub fail_first: Arc<Mutex<usize>>,
}

async fn receive(receiver: web::Data<Receiver>, body: String) -> HttpResponse {
    receiver.bodies.lock().unwrap().push(body);
    let mut fail = receiver.fail_first.lock().unwrap();
    if *fail > 0 {
        *fail -= 1;
        HttpResponse::ServiceUnavailable().finish()
    } else {
        HttpResponse::Ok().finish()
    }
}

/// Serves `routes` (what an actix app configures) on 127.0.0.1, port 0, with one worker: the
/// server's address and handle.
pub fn serve_on_loopback<F>(routes: F) -> (std::net::SocketAddr, actix_web::dev::ServerHandle)
where
    F: Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let server = HttpServer::new(move || App::new().configure(routes.clone()))
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
    let handle = server.handle();
    tokio::spawn(server);
    (address, handle)
}

/// Serves `receiver` on 127.0.0.1; returns its `backchannel_logout_uri` and the server's handle.
pub fn start_receiver(receiver: Receiver) -> (String, actix_web::dev::ServerHandle) {
    let (address, handle) = serve_on_loopback(move |routes| {
        routes
            .app_data(web::Data::new(receiver.clone()))
            .route("/backchannel", web::post().to(receive));
    });
    (format!("http://{address}/backchannel"), handle)
}

/// Gets the page at `page_url` in `browser`, then posts `form` with that page's CSRF token to
/// `post_url`.
pub async fn post_form(
    browser: &reqwest::Client,
    page_url: &str,
    post_url: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let page = crate::helpers::journeys::page(browser, page_url).await;
    crate::helpers::journeys::post_with_csrf(browser, post_url, &page, form).await
}
