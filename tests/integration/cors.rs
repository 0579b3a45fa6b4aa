//! Cross-origin requests of an e-service's single-page application (`http::cors`): the token,
//! userinfo, revocation and PAR endpoints answer the origins a public client of the tenant lists
//! in `web_origins`, and no other; discovery and the JWKS answer any page; nothing allows
//! credentials. The pages walked in a browser: `browser::spa`.

use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::both_stores;
use crate::helpers::{Backend, TestApp, header};
use crate::rp::{self, param};

const PASSWORD: &str = "oikea hevonen patteri";
/// The e-service's page, listed by its client `spa`.
const SPA: &str = "https://asiointi.example.fi";
const SPA_CALLBACK: &str = "http://127.0.0.1:9/spa";

/// The page of another public client of the same city.
const KIOSK: &str = "https://kioski.example.fi";

/// A server whose seinajoki has the public client `spa`, called from the page at [`SPA`], and
/// `kiosk`, called from [`KIOSK`].
async fn app_with_spa(backend: Backend) -> TestApp {
    let client = |id: &str, origin: &str| {
        format!(
            "\n[[clients]]\nclient_id = \"{id}\"\ntoken_endpoint_auth_method = \"none\"\n\
             redirect_uris = [\"http://127.0.0.1:9/{id}\"]\nweb_origins = [\"{origin}\"]\n\
             first_party = true\n"
        )
    };
    TestApp::builder(backend)
        .tenant_toml(&(client("spa", SPA) + &client("kiosk", KIOSK)))
        .user("seinajoki", "erkki@testi.fi", PASSWORD, "Erkki Esimerkki")
        .spawn()
        .await
}

/// A preflight from `origin` for `method` with the headers `headers` to `path`.
async fn preflight(
    app: &TestApp,
    path: &str,
    origin: &str,
    method: &str,
    headers: &str,
) -> Response {
    let mut request = app
        .http
        .request(Method::OPTIONS, app.url(path))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", method);
    if !headers.is_empty() {
        request = request.header("Access-Control-Request-Headers", headers);
    }
    request.send().await.unwrap()
}

/// `form` posted to seinajoki's `endpoint` from a page at `origin`.
async fn post_from<F: serde::Serialize + ?Sized>(
    app: &TestApp,
    endpoint: &str,
    origin: &str,
    form: &F,
) -> Response {
    app.http
        .post(app.url(&format!("/seinajoki/{endpoint}")))
        .header("Origin", origin)
        .form(form)
        .send()
        .await
        .unwrap()
}

/// Asserts the answer lets a page at `origin` read it, and no more: no credentials.
#[track_caller]
fn readable_by(response: &Response, origin: &str) {
    assert_eq!(
        header(response, "access-control-allow-origin").as_deref(),
        Some(origin),
        "{response:?}"
    );
    assert_eq!(header(response, "access-control-allow-credentials"), None);
    let vary = header(response, "vary").unwrap_or_default();
    assert!(vary.contains("Origin"), "{vary}");
}

/// Asserts no page of another origin may read the answer.
#[track_caller]
fn unreadable(response: &Response) {
    assert_eq!(
        header(response, "access-control-allow-origin"),
        None,
        "{response:?}"
    );
    assert_eq!(header(response, "access-control-allow-methods"), None);
}

async fn json_of(response: Response) -> (u16, Value) {
    (response.status().as_u16(), response.json().await.unwrap())
}

/// Erkki logs in to `spa`: the form that exchanges the code (with its PKCE verifier).
async fn spa_exchange(app: &TestApp) -> Vec<(&'static str, String)> {
    let client = rp::client(app, "seinajoki", "spa", None, SPA_CALLBACK).await;
    let started = rp::start(
        &client,
        &["email", "offline_access"],
        &[("prompt", "consent")],
    );
    let back = rp::log_in(&app.browser(), &started.url, "erkki@testi.fi", PASSWORD).await;
    vec![
        ("grant_type", "authorization_code".into()),
        ("code", param(&back, "code").unwrap()),
        ("redirect_uri", SPA_CALLBACK.into()),
        ("client_id", "spa".into()),
        ("code_verifier", started.verifier.secret().clone()),
    ]
}

both_stores!(an_e_services_page_reads_its_tokens_userinfo_and_errors);
/// The page at `SPA` exchanges its code, reads userinfo with the access token (after the
/// preflight its `Authorization` header needs), refreshes, revokes, and reads the protocol's
/// errors too — each answer with the headers that let exactly that origin read it.
async fn an_e_services_page_reads_its_tokens_userinfo_and_errors(backend: Backend) {
    let app = app_with_spa(backend).await;
    for (path, method, asked) in [
        ("/seinajoki/token", "POST", "content-type"),
        ("/seinajoki/userinfo", "GET", "authorization,content-type"),
        ("/seinajoki/revoke", "POST", "content-type"),
        ("/seinajoki/par", "POST", "content-type"),
    ] {
        let answer = preflight(&app, path, SPA, method, asked).await;
        assert_eq!(answer.status(), 200, "{path}");
        readable_by(&answer, SPA);
        let allowed = header(&answer, "access-control-allow-methods").unwrap();
        assert!(allowed.contains(method), "{path}: {allowed}");
        let headers = header(&answer, "access-control-allow-headers").unwrap();
        for name in asked.split(',') {
            assert!(headers.contains(name), "{path}: {headers}");
        }
        assert_eq!(
            header(&answer, "access-control-max-age").as_deref(),
            Some("600")
        );
    }

    let exchange = spa_exchange(&app).await;
    let answer = post_from(&app, "token", SPA, &exchange).await;
    readable_by(&answer, SPA);
    let (status, tokens) = json_of(answer).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();

    let answer = app
        .http
        .get(app.url("/seinajoki/userinfo"))
        .header("Origin", SPA)
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    readable_by(&answer, SPA);
    assert_eq!(json_of(answer).await.1["email"], "erkki@testi.fi");

    // The protocol's errors are readable too: a code used again, a token not ours (and the
    // header that says why, exposed).
    let answer = post_from(&app, "token", SPA, &exchange).await;
    readable_by(&answer, SPA);
    assert_eq!(
        json_of(answer).await,
        (
            400,
            json!({"error": "invalid_grant", "error_description": "the code is invalid, expired or used"})
        )
    );
    let answer = app
        .http
        .get(app.url("/seinajoki/userinfo"))
        .header("Origin", SPA)
        .bearer_auth("made-up")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    readable_by(&answer, SPA);
    let exposed = header(&answer, "access-control-expose-headers")
        .unwrap()
        .to_lowercase();
    assert!(exposed.contains("www-authenticate"), "{exposed}");
    assert!(
        header(&answer, "www-authenticate")
            .unwrap()
            .contains("invalid_token")
    );
    // An answer actix makes (a body over the limit) is readable as the handlers' are.
    let big = "a".repeat(70 * 1024);
    let answer = post_from(
        &app,
        "token",
        SPA,
        &[("grant_type", "authorization_code"), ("code", &big)],
    )
    .await;
    assert_eq!(answer.status(), 413);
    readable_by(&answer, SPA);
    assert_eq!(json_of(answer).await.1["error"], "invalid_request");

    // The code used again revoked what it issued (`oidc.rs`): a new login, then refresh and
    // revoke.
    let exchange = spa_exchange(&app).await;
    let (_, tokens) = json_of(post_from(&app, "token", SPA, &exchange).await).await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let renew = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh),
        ("client_id", "spa"),
    ];
    let answer = post_from(&app, "token", SPA, &renew).await;
    readable_by(&answer, SPA);
    let (status, renewed) = json_of(answer).await;
    assert_eq!(status, 200, "{renewed}");
    let newest = renewed["refresh_token"].as_str().unwrap();
    let answer = post_from(
        &app,
        "revoke",
        SPA,
        &[("token", newest), ("client_id", "spa")],
    )
    .await;
    assert_eq!(answer.status(), 200);
    readable_by(&answer, SPA);
    let again = [
        ("grant_type", "refresh_token"),
        ("refresh_token", newest),
        ("client_id", "spa"),
    ];
    let (status, refused) = json_of(post_from(&app, "token", SPA, &again).await).await;
    assert_eq!((status, &refused["error"]), (400, &json!("invalid_grant")));
    app.stop().await;
}

both_stores!(no_other_origin_or_city_reads_an_answer);
/// A page of an origin no client lists, the listed origin at another city, a header or method
/// not offered, and the endpoints a page has no business fetching: each preflight is refused
/// (the protocol's error, no CORS header), and an answer served anyway carries nothing that
/// lets the page read it. What the request does is unchanged: CORS only governs the reading.
async fn no_other_origin_or_city_reads_an_answer(backend: Backend) {
    let app = app_with_spa(backend).await;
    let bad_request =
        json!({"error": "invalid_request", "error_description": "the request is malformed"});
    for (path, origin, method, headers) in [
        ("/seinajoki/token", "https://evil.example", "POST", ""),
        (
            "/seinajoki/token",
            "https://asiointi.example.fi.evil.example",
            "POST",
            "",
        ),
        ("/seinajoki/token", "http://asiointi.example.fi", "POST", ""),
        ("/seinajoki/token", "null", "POST", ""),
        ("/kouvola/token", SPA, "POST", ""),
        ("/kouvola/userinfo", SPA, "GET", "authorization"),
        ("/seinajoki/token", SPA, "DELETE", ""),
        ("/seinajoki/token", SPA, "POST", "dpop"),
        // A public client sends no Authorization: a client secret has no business in a page.
        ("/seinajoki/token", SPA, "POST", "authorization"),
        ("/seinajoki/revoke", SPA, "POST", "authorization"),
        ("/seinajoki/userinfo", SPA, "PUT", ""),
    ] {
        let answer = preflight(&app, path, origin, method, headers).await;
        unreadable(&answer);
        assert_eq!(
            json_of(answer).await,
            (400, bad_request.clone()),
            "{path} {origin}"
        );
    }
    // Endpoints without CORS: a preflight is an OPTIONS request they do not serve.
    for path in [
        "/seinajoki/introspect",
        "/seinajoki/authorize",
        "/seinajoki/logout",
        "/seinajoki/login",
    ] {
        let answer = preflight(&app, path, SPA, "POST", "").await;
        assert_eq!(answer.status(), 405, "{path}");
        unreadable(&answer);
    }

    let exchange = spa_exchange(&app).await;
    // The listed origin at the other city: the client is not Kouvola's, and nothing is readable.
    let answer = app
        .http
        .post(app.url("/kouvola/token"))
        .header("Origin", SPA)
        .form(&exchange)
        .send()
        .await
        .unwrap();
    unreadable(&answer);
    assert_eq!(json_of(answer).await.1["error"], "invalid_client");
    // Another origin's request is served as without CORS (its page cannot read the tokens); so
    // is the page of another client of the city that presents this client's code.
    let answer = post_from(&app, "token", "https://evil.example", &exchange).await;
    unreadable(&answer);
    assert_eq!(answer.status(), 200);
    let exchange = spa_exchange(&app).await;
    let answer = post_from(&app, "token", KIOSK, &exchange).await;
    unreadable(&answer);
    assert_eq!(answer.status(), 200);

    // A confidential client's secret sent from a listed page (a developer's mistake): its
    // machine token, and the error of a secret it does not take, are not readable there.
    let machine = [
        ("grant_type", "client_credentials"),
        ("scope", "reports:read"),
    ];
    let answer = app
        .http
        .post(app.url("/seinajoki/token"))
        .header("Origin", SPA)
        .basic_auth("service", Some("service-secret"))
        .form(&machine)
        .send()
        .await
        .unwrap();
    unreadable(&answer);
    assert_eq!(answer.status(), 200);
    let in_the_form = [
        ("grant_type", "client_credentials"),
        ("client_id", "service"),
        ("client_secret", "service-secret"),
    ];
    let answer = post_from(&app, "token", SPA, &in_the_form).await;
    unreadable(&answer);
    assert_eq!(json_of(answer).await.1["error"], "invalid_client");
    // Or a public client's id with a secret: nothing a page of it sends.
    let with_secret = [
        ("grant_type", "refresh_token"),
        ("refresh_token", "x"),
        ("client_id", "spa"),
        ("client_secret", "x"),
    ];
    let answer = post_from(&app, "token", SPA, &with_secret).await;
    unreadable(&answer);
    assert_eq!(answer.status(), 401);
    app.stop().await;
}

both_stores!(discovery_and_the_keys_are_readable_by_any_page);
/// What idp publishes is read by any page (`*`) with a plain GET, without `Vary`, also when the
/// request said no origin: a cache keeps such an answer for the next page.
async fn discovery_and_the_keys_are_readable_by_any_page(backend: Backend) {
    let app = app_with_spa(backend).await;
    for path in [
        "/seinajoki/.well-known/openid-configuration",
        "/seinajoki/jwks",
    ] {
        let answer = app.get(path).await;
        assert_eq!(
            header(&answer, "access-control-allow-origin").as_deref(),
            Some("*")
        );
        assert_eq!(header(&answer, "vary"), None, "{path}");
        let answer = app
            .http
            .get(app.url(path))
            .header("Origin", "https://any.example")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{path}");
        assert_eq!(
            header(&answer, "access-control-allow-origin").as_deref(),
            Some("*")
        );
        assert_eq!(header(&answer, "access-control-allow-credentials"), None);
        assert_eq!(header(&answer, "vary"), None, "{path}");
        // A plain GET needs no preflight: none is answered.
        let answer = preflight(&app, path, "https://any.example", "GET", "x-custom").await;
        assert_eq!(answer.status(), 405, "{path}");
        assert_eq!(header(&answer, "access-control-allow-methods"), None);
    }
    app.stop().await;
}
