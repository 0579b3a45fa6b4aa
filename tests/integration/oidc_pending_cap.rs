//! One client address keeps at most `[limits] waiting_requests_per_address` authorization
//! requests waiting for a login, in every tenant together (`idp/flows/oidc/pending.rs`): past it
//! `/authorize` answers the client `temporarily_unavailable` (with its `state` and `iss`), the
//! account page's login is the 429 page, a public client's push the JSON error, and nothing is
//! stored. Another address is still admitted; a completed login and an expired request free
//! their places; a confidential client's push is not counted against its address but against
//! its client (`[limits] pushed_requests_per_client`). Addresses come through a trusted proxy's
//! `X-Forwarded-For`.

use diesel::prelude::*;
use idp::store::schema::auth_requests;
use serde_json::Value;

use crate::both_stores;
use crate::helpers::journeys::{Login, says};
use crate::helpers::{Backend, TestApp, header};
use crate::metrics::{EMAIL, PASSWORD, sample};
use crate::rp::{self, location, param, submit_login};

/// The address that fills its places.
const FULL: &str = "198.51.100.7";
/// Another address.
const OTHER: &str = "203.0.113.9";
/// What `/authorize` says past the limit.
const TOO_MANY: &str =
    "too many authorization requests from this address are waiting for a login; try again later";

/// A server behind a trusted proxy that lets one address keep 3 requests waiting, and one
/// confidential client 5 pushed ones, with the resident Erkki and the metrics listener.
async fn capped(backend: Backend) -> TestApp {
    TestApp::builder(backend)
        .behind_proxy()
        .metrics()
        .main_toml("[limits]\nwaiting_requests_per_address = 3\npushed_requests_per_client = 5")
        .user("seinajoki", EMAIL, PASSWORD, "Erkki")
        .spawn()
        .await
}

/// The requests stored before anyone has logged in (no user), pushed ones or not, of every
/// tenant.
async fn anonymous_rows(app: &TestApp, pushed: bool) -> i64 {
    app.db_run(move |conn| {
        let rows = auth_requests::table.filter(auth_requests::user_id.is_null());
        if pushed {
            rows.filter(auth_requests::request_uri_hash.is_not_null())
                .count()
                .get_result(conn)
        } else {
            rows.filter(auth_requests::request_uri_hash.is_null())
                .count()
                .get_result(conn)
        }
        .unwrap()
    })
    .await
}

/// The refusals the metrics counted for seinajoki.
async fn refusals(app: &TestApp) -> Option<f64> {
    let (_, _, text) = app.scrape().await;
    sample(
        &text,
        "idp_waiting_requests_refused_total{tenant=\"seinajoki\"}",
    )
}

/// A fresh anonymous `/authorize` of rp-basic (of `tenant`) from `address`: the answer's
/// `Location` and the request's `state`.
async fn authorize_from(app: &TestApp, tenant: &str, address: &str) -> (url::Url, String) {
    let client = rp::basic_of(app, tenant).await;
    let started = rp::start(&client, &[], &[]);
    let browser = app.browser_at(address);
    let answer = browser.get(started.url.clone()).send().await.unwrap();
    (location(&answer), started.state.secret().clone())
}

/// Asserts that `/authorize` from `address` is stored: the login page of a request.
async fn admitted(app: &TestApp, address: &str) {
    let (to, _) = authorize_from(app, "seinajoki", address).await;
    assert_eq!(to.path(), "/seinajoki/login", "{to}");
    assert!(param(&to, "request").is_some(), "{to}");
}

/// Asserts that `/authorize` from `address` is refused at the client's redirect URI with
/// `temporarily_unavailable`, its `state` and the issuer.
async fn refused(app: &TestApp, address: &str) {
    let (to, state) = authorize_from(app, "seinajoki", address).await;
    refused_at(app, &to, state, "http://127.0.0.1:9/callback");
}

/// Asserts that `to` is the client's redirect URI `callback` with `temporarily_unavailable`, the
/// request's `state` and the issuer (of seinajoki).
fn refused_at(app: &TestApp, to: &url::Url, state: String, callback: &str) {
    assert_eq!(
        format!("{}{}", to.origin().ascii_serialization(), to.path()),
        callback,
        "{to}"
    );
    assert_eq!(
        param(to, "error").as_deref(),
        Some("temporarily_unavailable")
    );
    assert_eq!(param(to, "error_description").as_deref(), Some(TOO_MANY));
    assert_eq!(param(to, "state"), Some(state));
    assert_eq!(param(to, "iss"), Some(app.issuer("seinajoki")));
    assert_eq!(param(to, "code"), None);
}

both_stores!(one_address_keeps_at_most_its_limit_of_requests_waiting);
async fn one_address_keeps_at_most_its_limit_of_requests_waiting(backend: Backend) {
    let app = capped(backend).await;
    // Three waiting requests, one of them at the other tenant: the disk is shared.
    let client = rp::basic(&app).await;
    let login = Login::start(&app.browser_at(FULL), &client, &[], &[]).await;
    admitted(&app, FULL).await;
    let (to, _) = authorize_from(&app, "kouvola", FULL).await;
    assert_eq!(to.path(), "/kouvola/login", "{to}");
    assert_eq!(anonymous_rows(&app, false).await, 3);
    assert_eq!(refusals(&app).await, None);

    // The fourth is refused, stores nothing, and is counted, not audited.
    let audited = app.audit_kinds("seinajoki").await;
    refused(&app, FULL).await;
    assert_eq!(anonymous_rows(&app, false).await, 3);
    assert_eq!(refusals(&app).await, Some(1.0));
    assert_eq!(app.audit_kinds("seinajoki").await, audited);

    // Another address is admitted.
    admitted(&app, OTHER).await;
    assert_eq!(anonymous_rows(&app, false).await, 4);

    // A completed login deletes its request: its place is free again, for one request.
    let back = login.submit(EMAIL, PASSWORD, false).await;
    let back = location(&back);
    assert!(param(&back, "code").is_some(), "{back}");
    assert_eq!(anonymous_rows(&app, false).await, 3);
    admitted(&app, FULL).await;
    refused(&app, FULL).await;
    assert_eq!(refusals(&app).await, Some(2.0));

    // An expired request counts no more.
    app.clock.advance(1801);
    admitted(&app, FULL).await;
    app.stop().await;
}

both_stores!(the_account_pages_login_past_the_limit_is_the_429_page_in_the_asked_language);
async fn the_account_pages_login_past_the_limit_is_the_429_page_in_the_asked_language(
    backend: Backend,
) {
    let app = capped(backend).await;
    let account = app.url("/seinajoki/account");
    for _ in 0..3 {
        let answer = app.browser_at(FULL).get(&account).send().await.unwrap();
        assert_eq!(location(&answer).path(), "/seinajoki/login");
    }
    assert_eq!(anonymous_rows(&app, false).await, 3);
    for (language, text) in [
        (
            "fi",
            "Samasta IP-osoitteesta on kesken liian monta kirjautumista. Yritä hetken kuluttua uudelleen.",
        ),
        (
            "sv",
            "För många inloggningar pågår från samma IP-adress. Försök igen om en stund.",
        ),
        (
            "en",
            "Too many logins are under way from the same IP address. Try again in a moment.",
        ),
    ] {
        let answer = app
            .browser_at(FULL)
            .get(&account)
            .header("Accept-Language", language)
            .send()
            .await
            .unwrap();
        assert_eq!(header(&answer, "retry-after").as_deref(), Some("60"));
        let page = says(answer, 429, text).await;
        assert!(page.contains(&format!("lang=\"{language}\"")), "{page}");
        assert!(page.contains("data-reason=\"too_many_waiting\""), "{page}");
    }
    assert_eq!(anonymous_rows(&app, false).await, 3);
    assert_eq!(refusals(&app).await, Some(3.0));
    // Another address still gets the login.
    let answer = app.browser_at(OTHER).get(&account).send().await.unwrap();
    assert_eq!(location(&answer).path(), "/seinajoki/login");
    app.stop().await;
}

/// Pushes rp-basic's request to seinajoki's `/par` from `address`, as the public client
/// rp-public (no credentials) or as rp-basic with its secret: the status and the JSON answer.
async fn push_from(app: &TestApp, address: &str, public: bool) -> (u16, Value) {
    let (status, body, _) = push_answer(app, address, public).await;
    (status, body)
}

/// Asserts that a push from `address` is refused: 429, `Retry-After: 60`, `temporarily_unavailable`
/// with `description`.
async fn push_refused(app: &TestApp, address: &str, public: bool, description: &str) {
    let (status, body, retry_after) = push_answer(app, address, public).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(retry_after.as_deref(), Some("60"));
    assert_eq!(
        body,
        serde_json::json!({"error": "temporarily_unavailable", "error_description": description})
    );
}

/// As [`push_from`], with the answer's `Retry-After`.
async fn push_answer(app: &TestApp, address: &str, public: bool) -> (u16, Value, Option<String>) {
    let client_id = if public { "rp-public" } else { "rp-basic" };
    push_as(app, ("seinajoki", client_id), address).await
}

/// A push of the test client `client_id` of `tenant` from `address`, authenticated as the client
/// is registered (`rp-public`: none, `rp-post`: its secret in the form, others: Basic): the
/// status, the JSON body and `Retry-After`.
async fn push_as(
    app: &TestApp,
    (tenant, client_id): (&str, &str),
    address: &str,
) -> (u16, Value, Option<String>) {
    let redirect_uri = match client_id {
        "rp-public" => "http://127.0.0.1:9/public-callback",
        "rp-post" => "http://127.0.0.1:9/post-callback",
        _ => "http://127.0.0.1:9/callback",
    };
    let secret = format!("{client_id}-secret");
    let mut form = vec![
        ("response_type", "code"),
        ("redirect_uri", redirect_uri),
        ("scope", "openid"),
        (
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        ),
        ("code_challenge_method", "S256"),
    ];
    let mut request = app
        .http
        .post(app.url(&format!("/{tenant}/par")))
        .header("X-Forwarded-For", address);
    match client_id {
        "rp-public" => form.push(("client_id", client_id)),
        "rp-post" => form.extend([("client_id", client_id), ("client_secret", &secret)]),
        _ => request = request.basic_auth(client_id, Some(&secret)),
    }
    let response = request.form(&form).send().await.unwrap();
    let status = response.status().as_u16();
    let retry_after = header(&response, "retry-after");
    (status, response.json().await.unwrap(), retry_after)
}

both_stores!(a_public_clients_push_counts_against_its_address_and_a_confidential_ones_does_not);
async fn a_public_clients_push_counts_against_its_address_and_a_confidential_ones_does_not(
    backend: Backend,
) {
    let app = capped(backend).await;
    admitted(&app, FULL).await;
    admitted(&app, FULL).await;
    let (status, body) = push_from(&app, FULL, true).await;
    assert_eq!(status, 201, "{body}");
    push_refused(&app, FULL, true, TOO_MANY).await;
    // The address's waiting requests and its public push fill its places together.
    refused(&app, FULL).await;
    assert_eq!(anonymous_rows(&app, true).await, 1);
    assert_eq!(anonymous_rows(&app, false).await, 2);
    // The e-service's server pushes for all its residents from one address: not counted.
    for _ in 0..4 {
        let (status, body) = push_from(&app, FULL, false).await;
        assert_eq!(status, 201, "{body}");
    }
    assert_eq!(anonymous_rows(&app, true).await, 5);
    // A public client's push from another address is admitted.
    let (status, body) = push_from(&app, OTHER, true).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(refusals(&app).await, Some(2.0));
    app.stop().await;
}

both_stores!(a_confidential_clients_pushes_are_capped_per_client_in_its_tenant);
/// An e-service whose secret leaked (or a hostile vendor) loops pushes of the largest request:
/// each stayed stored uncounted, until the disk every tenant shares was full. Its pushes now
/// count against its own limit (5 here), from any address: the sixth is refused with 429,
/// `temporarily_unavailable` and `Retry-After`, and stores nothing; the city's other e-services
/// and the same e-service's name in another city still push.
async fn a_confidential_clients_pushes_are_capped_per_client_in_its_tenant(backend: Backend) {
    let app = capped(backend).await;
    for address in [FULL, OTHER, FULL, OTHER, FULL] {
        let (status, body) = push_from(&app, address, false).await;
        assert_eq!(status, 201, "{body}");
    }
    let too_many_pushed = "too many pushed authorization requests of this client are waiting for a login; try again later";
    push_refused(&app, OTHER, false, too_many_pushed).await;
    assert_eq!(anonymous_rows(&app, true).await, 5);
    assert_eq!(refusals(&app).await, Some(1.0));
    // The address is not the limit: its own requests are admitted.
    admitted(&app, OTHER).await;
    // Another e-service of the city, and rp-basic of another city, still push.
    for pusher in [("seinajoki", "rp-post"), ("kouvola", "rp-basic")] {
        let (status, body, _) = push_as(&app, pusher, FULL).await;
        assert_eq!(status, 201, "{pusher:?}: {body}");
    }
    // A place frees when a pushed request expires.
    app.clock.advance(61);
    let (status, body) = push_from(&app, FULL, false).await;
    assert_eq!(status, 201, "{body}");
    app.stop().await;
}

/// What the 400 page says to a login the browser did not open as a page, in fi, sv and en.
const NOT_A_PAGE: [(&str, &str); 3] = [
    (
        "fi",
        "Kirjautuminen on avattava omana sivunaan selaimessa. Palaa asiointipalveluun ja kirjaudu uudelleen.",
    ),
    (
        "sv",
        "Inloggningen måste öppnas som en egen sida i webbläsaren. Gå tillbaka till e-tjänsten och logga in på nytt.",
    ),
    (
        "en",
        "The login must be opened as a page of its own in the browser. Go back to the e-service and log in again.",
    ),
];

/// How another site's page has the browser fetch a URL: `Sec-Fetch-Dest`, `Sec-Fetch-Mode` and,
/// for a speculative load, `Sec-Purpose`.
type Fetch = (&'static str, &'static str, Option<&'static str>);

/// The Fetch Metadata of a request another site's page makes as `fetch`.
fn from_another_site((dest, mode, purpose): Fetch) -> Vec<(&'static str, &'static str)> {
    let mut headers = vec![
        ("Sec-Fetch-Dest", dest),
        ("Sec-Fetch-Mode", mode),
        ("Sec-Fetch-Site", "cross-site"),
    ];
    headers.extend(purpose.map(|purpose| ("Sec-Purpose", purpose)));
    headers
}

/// A hidden image.
const IMAGE: Fetch = ("image", "no-cors", None);

/// A frame.
const IFRAME: Fetch = ("iframe", "navigate", None);

/// The page itself, opened in the browser's window.
const DOCUMENT: Fetch = ("document", "navigate", None);

/// A page the browser loads ahead because another page's speculation rules ask it to: it looks
/// like the page opened in the window but for `Sec-Purpose`.
const PREFETCH: Fetch = ("document", "navigate", Some("prefetch"));

/// A page the browser renders ahead, unseen, for the same reason.
const PRERENDER: Fetch = ("document", "navigate", Some("prefetch;prerender"));

/// A cookie-less GET of `url` from `address` as another site's page makes it as `fetch`
/// ([`from_another_site`]), with `Accept-Language: language`.
async fn fetched(
    app: &TestApp,
    url: impl reqwest::IntoUrl,
    address: &str,
    fetch: Fetch,
    language: &str,
) -> reqwest::Response {
    let mut request = app
        .browser_at(address)
        .get(url)
        .header("Accept-Language", language);
    for (name, value) in from_another_site(fetch) {
        request = request.header(name, value);
    }
    request.send().await.unwrap()
}

/// Asserts that a new `/authorize` of `client` and the account page, fetched by another site's
/// page as `fetch` ([`fetched`]), are the 400 page that says `text` in `language`.
async fn not_a_page(app: &TestApp, client: &rp::Rp, fetch: Fetch, language: &str, text: &str) {
    let started = rp::start(client, &[], &[]);
    let answer = fetched(app, started.url, FULL, fetch, language).await;
    let page = says(answer, 400, text).await;
    assert!(page.contains("data-reason=\"not_a_page\""), "{page}");
    let account = app.url("/seinajoki/account");
    let answer = fetched(app, account, FULL, fetch, language).await;
    says(answer, 400, text).await;
}

both_stores!(a_login_the_browser_did_not_open_as_a_page_stores_nothing_and_counts_nothing);
async fn a_login_the_browser_did_not_open_as_a_page_stores_nothing_and_counts_nothing(
    backend: Backend,
) {
    let app = capped(backend).await;
    let client = rp::basic(&app).await;
    // Another site's hidden images of /authorize and of the account page, in each language: the
    // 400 page, nothing stored, nothing counted. A limit of 3 would be full after three.
    for (language, text) in NOT_A_PAGE {
        not_a_page(&app, &client, IMAGE, language, text).await;
    }
    // A frame of another site's page is no place for a login either (the pages refuse framing).
    let (language, text) = NOT_A_PAGE[2];
    not_a_page(&app, &client, IFRAME, language, text).await;
    // Nor is a page the browser loads or renders ahead of a click another site's speculation
    // rules foresee: the click, if it comes, loads the page again.
    not_a_page(&app, &client, PREFETCH, language, text).await;
    not_a_page(&app, &client, PRERENDER, language, text).await;
    assert_eq!(anonymous_rows(&app, false).await, 0);
    assert_eq!(refusals(&app).await, None);

    // A session check in a hidden frame (`prompt=none`) still has its answer.
    let started = rp::start(&client, &[], &[("prompt", "none")]);
    let answer = fetched(&app, started.url, FULL, IFRAME, language).await;
    let to = location(&answer);
    assert_eq!(to.path(), "/callback", "{to}");
    assert_eq!(param(&to, "error").as_deref(), Some("login_required"));
    assert_eq!(param(&to, "state"), Some(started.state.secret().clone()));
    // Answered in a form post, from a page its e-service's own origin alone may frame.
    let started = rp::start(
        &client,
        &[],
        &[("prompt", "none"), ("response_mode", "form_post")],
    );
    let answer = fetched(&app, started.url, FULL, IFRAME, language).await;
    assert_eq!(answer.status(), 200);
    let csp = answer.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(csp.contains("frame-ancestors http://127.0.0.1:9;"), "{csp}");
    let page = answer.text().await.unwrap();
    assert!(page.contains("value=\"login_required\""), "{page}");

    // The page opened in the browser's window is the login, as ever.
    let started = rp::start(&client, &[], &[]);
    let answer = fetched(&app, started.url, FULL, DOCUMENT, language).await;
    let to = location(&answer);
    assert_eq!(to.path(), "/seinajoki/login", "{to}");
    let account = app.url("/seinajoki/account");
    let answer = fetched(&app, account, FULL, DOCUMENT, language).await;
    assert_eq!(location(&answer).path(), "/seinajoki/login");
    assert_eq!(anonymous_rows(&app, false).await, 2);
    app.stop().await;
}

/// The requests of every tenant that count against `address` (its client key).
async fn rows_of(app: &TestApp, address: &str) -> i64 {
    let key = idp::crypto::secret::hash(&format!("client:{}", idp::domain::counting_key(address)));
    app.db_run(move |conn| {
        auth_requests::table
            .filter(auth_requests::client_key.eq(key))
            .count()
            .get_result(conn)
            .unwrap()
    })
    .await
}

both_stores!(
    a_signed_in_residents_requests_waiting_for_consent_count_and_a_login_going_on_is_not_stopped
);
async fn a_signed_in_residents_requests_waiting_for_consent_count_and_a_login_going_on_is_not_stopped(
    backend: Backend,
) {
    let app = capped(backend).await;
    let signed_in = app.browser_at(FULL);
    let back = rp::log_in_at(&signed_in, &rp::basic(&app).await, EMAIL, PASSWORD).await;
    assert!(param(&back, "code").is_some(), "{back}");
    assert_eq!(rows_of(&app, FULL).await, 0);
    // Another browser at FULL starts a login of the third-party client from another address.
    let third = rp::third(&app).await;
    let elsewhere = app.browser_at(FULL);
    let started = rp::start(&third, &[], &[]);
    let answer = elsewhere
        .get(started.url.clone())
        .header("X-Forwarded-For", OTHER)
        .send()
        .await
        .unwrap();
    let login = location(&answer);
    assert_eq!(login.path(), "/seinajoki/login", "{login}");

    // Each prompt=consent of the signed-in resident waits for the consent, and counts.
    for _ in 0..3 {
        let to = rp::authorize(&signed_in, &third, &[("prompt", "consent")]).await;
        assert_eq!(to.path(), "/seinajoki/consent", "{to}");
    }
    assert_eq!(rows_of(&app, FULL).await, 3);
    let started = rp::start(&third, &[], &[("prompt", "consent")]);
    let answer = signed_in.get(started.url.clone()).send().await.unwrap();
    let state = started.state.secret().clone();
    refused_at(
        &app,
        &location(&answer),
        state,
        "http://127.0.0.1:9/third-callback",
    );
    assert_eq!(rows_of(&app, FULL).await, 3);
    assert_eq!(refusals(&app).await, Some(1.0));

    // The login that began elsewhere goes on from FULL to its consent: not stopped half way, it
    // holds its place at the address of now.
    let answer = submit_login(&elsewhere, &login, EMAIL, PASSWORD, false).await;
    let to = location(&answer);
    assert_eq!(to.path(), "/seinajoki/consent", "{to}");
    assert_eq!(rows_of(&app, FULL).await, 4);
    assert_eq!(rows_of(&app, OTHER).await, 0);
    assert_eq!(refusals(&app).await, Some(1.0));
    app.stop().await;
}

both_stores!(a_login_posted_again_stores_its_next_step_within_the_limit);
/// The same login posted again before its answer (a double click) goes on as the first did
/// (`steps::take`): what it stores next (here the consent of a third-party e-service) is counted
/// as a fresh request is, so a script posting its own login again and again cannot store rows past
/// its address's limit. Before, each post stored one more consent uncounted.
async fn a_login_posted_again_stores_its_next_step_within_the_limit(backend: Backend) {
    let app = capped(backend).await;
    let third = rp::third(&app).await;
    let login = Login::fresh(&app, &third).await;
    let (_, page) = login.identify(EMAIL).await;
    let fields = [("identifier", EMAIL), ("password", PASSWORD)];
    let first = login.post("/login/password", &page, &fields).await;
    assert_eq!(location(&first).path(), "/seinajoki/consent");
    for _ in 0..5 {
        login.post_again("/login/password", &page, &fields).await;
    }
    assert_eq!(rows_of(&app, "127.0.0.1").await, 3);
    app.stop().await;
}
