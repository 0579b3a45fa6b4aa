//! The values of an authorization request have limits (`idp/flows/oidc/request.rs`: `LIMITS`,
//! `MAX_ACR_VALUES`), because the request is stored before anyone has logged in: a value over its
//! limit is refused before anything is written — `invalid_request` at the client's redirect URI
//! (without `state` when `state` itself is too long), the error page where the client or its
//! redirect URI is not trusted, the JSON error at `/par` — and a request with every value at its
//! limit is answered as before, through a whole login, from a row of bounded size.

use diesel::prelude::*;
use idp::store::schema::auth_requests;
use openidconnect::PkceCodeChallenge;
use reqwest::Method;
use serde_json::{Value, json};

use crate::both_stores;
use crate::helpers::journeys::{page, post_as_the_page_does};
use crate::helpers::{Backend, TestApp, assert_has};
use crate::rp::{self, location, param};

const PASSWORD: &str = "oikea hevonen patteri";
const CALLBACK: &str = "http://127.0.0.1:9/callback";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// The longest `params` a waiting request (a login's) may have: every value at its limit, made
/// of the characters JSON writes longest (a control character is six bytes, `\u0001`).
const PENDING_BOUND: usize = 24 * 1024;
/// The longest `params` a pushed request may have (its raw parameters, as JSON).
const PUSHED_BOUND: usize = 40 * 1024;

/// The `params` of every stored request, waiting (a login's) or `pushed`.
async fn stored(app: &TestApp, pushed: bool) -> Vec<String> {
    app.db_run(move |conn| {
        let rows = auth_requests::table.select(auth_requests::params);
        if pushed {
            rows.filter(auth_requests::request_uri_hash.is_not_null())
                .load::<String>(conn)
        } else {
            rows.filter(auth_requests::request_uri_hash.is_null())
                .load::<String>(conn)
        }
        .unwrap()
    })
    .await
}

/// The length in bytes of the longest of `rows`.
fn longest(rows: &[String]) -> usize {
    rows.iter().map(String::len).max().unwrap_or(0)
}

/// `prefix`, then `fill` up to `len` bytes.
fn filled(prefix: &str, fill: char, len: usize) -> String {
    let mut value = prefix.to_string();
    while value.len() < len {
        value.push(fill);
    }
    assert_eq!(value.len(), len, "{prefix:?} with {fill:?}");
    value
}

/// `count` words of `fill`, separated by one space, `len` bytes in all.
fn words(count: usize, fill: char, len: usize) -> String {
    let letters = len - (count - 1);
    let value = (0..count)
        .map(|i| {
            fill.to_string()
                .repeat(letters / count + usize::from(i < letters % count))
        })
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(value.len(), len);
    value
}

/// A `claims` parameter asking for `values` of the ID token's `acr`, padded with spaces to
/// `len` bytes.
fn claims(values: &[String], len: usize) -> String {
    let claims = json!({"id_token": {"acr": {"values": values}}}).to_string();
    filled(&claims, ' ', len)
}

/// rp-basic's request for a code, with `changes` (a name given again replaces its value).
fn request(changes: &[(&str, String)]) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = [
        ("client_id", "rp-basic"),
        ("redirect_uri", CALLBACK),
        ("response_type", "code"),
        ("scope", "openid"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("state", "s t&a=t/e"),
    ]
    .iter()
    .filter(|(name, _)| !changes.iter().any(|(changed, _)| changed == name))
    .map(|(name, value)| (name.to_string(), value.to_string()))
    .collect();
    pairs.extend(changes.iter().map(|(n, v)| (n.to_string(), v.clone())));
    pairs
}

/// `pairs` sent to `/seinajoki/authorize` in `browser`, in the query (GET) or as a form (POST).
async fn authorize(
    app: &TestApp,
    browser: &reqwest::Client,
    method: Method,
    pairs: &[(String, String)],
) -> reqwest::Response {
    let url = app.url("/seinajoki/authorize");
    if method == Method::GET {
        return browser.get(url).query(pairs).send().await.unwrap();
    }
    let answer = browser.post(url).form(pairs).send().await.unwrap();
    // A browser without the tenant's cookies gets a page that posts the same request again
    // from our origin, with them (`View::again_with_cookies`): the browser runs it.
    if answer.status() == 200 {
        return post_as_the_page_does(browser, answer).await;
    }
    answer
}

/// `pairs` pushed to `/seinajoki/par` by rp-basic: the status and the JSON answer.
async fn push(app: &TestApp, pairs: &[(String, String)]) -> (u16, Value) {
    let response = app
        .http
        .post(app.url("/seinajoki/par"))
        .basic_auth("rp-basic", Some("rp-basic-secret"))
        .form(pairs)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// A value refused at `/authorize`: the parameter, its value, the description of the refusal,
/// and whether `/par` refuses it too (the hint is verified only when the pushed request is used).
struct Refused {
    name: &'static str,
    value: String,
    description: String,
    pushed: bool,
}

/// Each value over its limit, with the description of its refusal; then hints at their limit
/// that get as far as the checks after it.
fn refused() -> Vec<Refused> {
    let acr = |count: usize| {
        (0..count)
            .map(|i| format!("urn:acr:{i}"))
            .collect::<Vec<_>>()
    };
    let longer = |name: &'static str, value: String, limit: usize| Refused {
        name,
        value,
        description: format!("{name} is longer than {limit} bytes"),
        pushed: true,
    };
    let too_many = |name: &'static str, value: String| Refused {
        name,
        value,
        description: "at most 10 acr values may be asked for".into(),
        pushed: true,
    };
    let not_ours = |value: String, pushed: bool| Refused {
        name: "id_token_hint",
        value,
        description: "id_token_hint is not an ID token of this issuer".into(),
        pushed,
    };
    vec![
        longer("state", "\u{1}".repeat(1025), 1024),
        longer("nonce", "n".repeat(1025), 1024),
        longer("login_hint", filled("erkki@testi.fi", 'a', 321), 320),
        longer("ui_locales", filled("fi", ' ', 129), 128),
        longer("scope", filled("openid", ' ', 1025), 1024),
        longer("prompt", filled("login", ' ', 65), 64),
        longer("max_age", filled("", '0', 21), 20),
        longer("acr_values", filled("urn:acr:0", ' ', 1025), 1024),
        longer("claims", claims(&acr(1), 2049), 2048),
        longer("id_token_hint", "a".repeat(8193), 8192),
        too_many("acr_values", acr(11).join(" ")),
        too_many("claims", claims(&acr(11), 400)),
        // At the limit, but not of a JWT's characters: no key is tried on it.
        not_ours(filled("a.b.", '\u{1}', 8192), true),
        // At the limit: verified, and not ours.
        not_ours("a".repeat(8192), false),
    ]
}

both_stores!(a_value_over_its_limit_is_refused_and_nothing_is_stored);
async fn a_value_over_its_limit_is_refused_and_nothing_is_stored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let browser = app.browser();
    for refused in refused() {
        let Refused {
            name, description, ..
        } = &refused;
        let pairs = request(&[(name, refused.value.clone())]);
        for method in [Method::GET, Method::POST] {
            let back = location(&authorize(&app, &browser, method.clone(), &pairs).await);
            let what = format!("{method} {name}: {description}");
            assert_eq!(back.as_str().split('?').next(), Some(CALLBACK), "{what}");
            assert_eq!(param(&back, "error").as_deref(), Some("invalid_request"));
            assert_eq!(
                param(&back, "error_description").as_deref(),
                Some(description.as_str()),
                "{what}"
            );
            // A state over its limit is not sent back: the answer would be a header of up to
            // 190 KB (each byte written %01), more than a proxy passes.
            let state = (*name != "state").then(|| "s t&a=t/e".to_string());
            assert_eq!(param(&back, "state"), state, "{what}");
            assert_eq!(param(&back, "iss"), Some(app.issuer("seinajoki")));
        }
        let (status, body) = push(&app, &pairs).await;
        if refused.pushed {
            assert_eq!(
                (status, body),
                (
                    400,
                    json!({"error": "invalid_request", "error_description": description})
                ),
                "pushed {name}"
            );
        } else {
            // Pushed; its hint is verified when it is used, and refused alike.
            assert_eq!(status, 201, "pushed {name}: {body}");
            let used = [
                ("client_id".to_string(), "rp-basic".to_string()),
                (
                    "request_uri".into(),
                    body["request_uri"].as_str().unwrap().into(),
                ),
            ];
            let back = location(&authorize(&app, &browser, Method::GET, &used).await);
            assert_eq!(
                param(&back, "error_description").as_deref(),
                Some(description.as_str()),
                "used {name}"
            );
        }
    }

    // The reviewer's request: a form just under the body limit, its state 65,000 bytes 0x01
    // (each six bytes in JSON), once a 390 KB row for 30 minutes.
    let mut body = b"client_id=rp-basic&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback\
        &response_type=code&scope=openid&state="
        .to_vec();
    body.extend(std::iter::repeat_n(1u8, 65_000));
    let response = browser
        .post(app.url("/seinajoki/authorize"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let back = location(&response);
    assert_eq!(
        param(&back, "error_description").as_deref(),
        Some("state is longer than 1024 bytes")
    );
    assert_eq!(param(&back, "state"), None);
    // The same pushed by a public client (no secret), once a row for 60 seconds.
    let mut body = b"client_id=rp-public&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fpublic-callback\
        &response_type=code&scope=openid&code_challenge_method=S256\
        &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&state="
        .to_vec();
    body.extend(std::iter::repeat_n(1u8, 65_000));
    let response = app
        .http
        .post(app.url("/seinajoki/par"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"error": "invalid_request", "error_description": "state is longer than 1024 bytes"})
    );

    // An oversized client or redirect URI is one that is not registered: the page, no redirect.
    for (changes, reason) in [
        (
            vec![("client_id", filled("rp-basic", 'x', 2048))],
            "unknown_client",
        ),
        (
            vec![("redirect_uri", filled(CALLBACK, 'x', 8192))],
            "unregistered_redirect_uri",
        ),
    ] {
        let response = authorize(&app, &browser, Method::GET, &request(&changes)).await;
        assert_eq!(response.status(), 400, "{reason}");
        assert!(response.headers().get("location").is_none(), "{reason}");
        assert_has(
            &response.text().await.unwrap(),
            &format!("data-reason=\"{reason}\""),
        );
    }
    assert_eq!(
        stored(&app, false).await,
        Vec::<String>::new(),
        "nothing waits"
    );
    assert_eq!(
        stored(&app, true).await,
        Vec::<String>::new(),
        "nothing pushed"
    );

    // Pushed, a parameter the endpoint does not read is not kept.
    let mut pairs = request(&[]);
    pairs.push(("padding".into(), "x".repeat(60_000)));
    let (status, body) = push(&app, &pairs).await;
    assert_eq!(status, 201, "{body}");
    let kept = stored(&app, true).await;
    assert_eq!(kept.len(), 1);
    assert!(!kept[0].contains("padding"), "{}", kept[0]);
    assert!(kept[0].len() < 1024, "{}", kept[0].len());
    app.stop().await;
}

both_stores!(a_request_with_every_value_at_its_limit_is_answered_as_before);
async fn a_request_with_every_value_at_its_limit_is_answered_as_before(backend: Backend) {
    let app = TestApp::with_user(backend, "erkki@testi.fi", PASSWORD, "Erkki Esimerkki").await;
    let client = rp::basic(&app).await;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    // Every value at its limit, of the characters JSON writes longest where the value is free.
    let state = filled("s t&a=t/e", '\u{1}', 1024);
    let nonce = filled("n-", '\u{1}', 1024);
    let hint = filled("erkki@testi.fi", '\u{1}', 320);
    let acr: Vec<String> = (0..10).map(|i| filled(&format!("{i}"), 'x', 150)).collect();
    let at_limits = [
        ("scope", filled("openid email ", '\u{1}', 1024)),
        ("state", state.clone()),
        ("nonce", nonce.clone()),
        ("login_hint", hint.clone()),
        ("ui_locales", filled("sv ", '\u{1}', 128)),
        ("prompt", filled("login", ' ', 64)),
        ("max_age", filled("", '0', 17) + "600"),
        ("acr_values", words(10, '\u{1}', 1024)),
        ("claims", claims(&acr, 2048)),
        ("code_challenge", challenge.as_str().to_string()),
    ];
    let pairs = request(&at_limits);
    let browser = app.browser();
    let login = location(&authorize(&app, &browser, Method::POST, &pairs).await);
    assert_eq!(login.path(), "/seinajoki/login", "{login}");
    let identifier = page(&browser, login.clone()).await;
    assert_has(&identifier, "<html lang=\"sv\"");
    assert_has(&identifier, &format!("value=\"{hint}\""));

    let answer = rp::submit_login(&browser, &login, "erkki@testi.fi", PASSWORD, false).await;
    let back = location(&answer);
    assert_eq!(param(&back, "state"), Some(state), "state byte for byte");
    let code = param(&back, "code").unwrap_or_else(|| panic!("no code: {back}"));
    let tokens = rp::exchange(&client, &code, verifier).await.unwrap();
    let id_token = openidconnect::TokenResponse::id_token(&tokens).unwrap();
    let claims = rp::payload(&id_token.to_string());
    assert_eq!(claims["nonce"], nonce);
    assert_eq!(claims["acr"], "urn:idp:acr:password");

    // Without `claims`, the 1,024 bytes of `acr_values` are kept: the longest waiting request.
    let without_claims: Vec<_> = pairs
        .iter()
        .filter(|(n, _)| n != "claims")
        .cloned()
        .collect();
    let login = location(&authorize(&app, &app.browser(), Method::GET, &without_claims).await);
    assert_eq!(login.path(), "/seinajoki/login", "{login}");
    let rows = stored(&app, false).await;
    // This one, and the login's above, kept a while as answered.
    assert_eq!(rows.len(), 2, "the waiting requests are stored");
    let waiting = longest(&rows);
    println!("the longest waiting request: {waiting} bytes");
    assert!(waiting <= PENDING_BOUND, "{waiting} bytes");

    // Pushed, with every value at its limit and an id_token_hint at its own (it is verified
    // when the pushed request is used).
    let mut pushed = pairs.clone();
    pushed.push(("id_token_hint".into(), "a".repeat(8192)));
    let (status, body) = push(&app, &pushed).await;
    assert_eq!(status, 201, "{body}");
    let rows = stored(&app, true).await;
    assert_eq!(rows.len(), 1, "the pushed request is stored");
    let pushed = longest(&rows);
    println!("the longest pushed request: {pushed} bytes");
    assert!(pushed <= PUSHED_BOUND, "{pushed} bytes");
    app.stop().await;
}
