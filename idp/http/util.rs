//! The small helpers every handler shares, in one place: reading a request (query parameters,
//! cookies, urlencoded forms) and the common shapes of an answer (a 303, `Retry-After`, JSON that
//! is not cached, the status of a form shown again with an error), and the route of `GET` with
//! `HEAD`.

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::{HttpRequest, HttpResponse};

use crate::flows::oidc::error::OAuthError;
use crate::flows::oidc::request::{self, Params};

/// A parameter of the query string; `None` when missing or holding a NUL (which no value of ours
/// has, and which PostgreSQL refuses in text).
pub fn query_param(req: &HttpRequest, name: &str) -> Option<String> {
    param_of_query(req.query_string(), name)
}

/// The first value of `name` in the query string `query`, decoded, as [`query_param`] reads one
/// (`None` when it holds a NUL).
pub fn param_of_query(query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.contains('\0'))
}

/// The value of the cookie `name` on the request; `None` when missing or empty.
pub fn cookie_value(req: &HttpRequest, name: &str) -> Option<String> {
    req.cookie(name)
        .map(|c| c.value().to_string())
        .filter(|v| !v.is_empty())
}

/// Whether the browser says this request is a top-level navigation: the page opened in its
/// window, not an image, a script, a frame or a script's fetch of another page. Browsers tell by
/// the Fetch Metadata headers: `Sec-Fetch-Dest` other than `document`, or `Sec-Fetch-Mode` other
/// than `navigate`, is not one. A request without them (an older browser, a program) is taken as
/// one, as before the headers existed.
///
/// A page the browser loads or renders ahead of a click (speculation rules, `<link rel=prefetch>`)
/// says so in `Sec-Purpose` (or the older `Purpose`, `X-Moz`, `X-Purpose`) and is not one either:
/// any web page can ask its visitors' browsers for that. Refused, the browser loads the page
/// again if the click comes.
///
/// Only a top-level navigation may store a login waiting for its resident (`/authorize`, the
/// account page's login): else any web page could fill its visitors' address's limit of waiting
/// requests with hidden images (`flows/oidc/pending.rs`). A frame cannot use a login either: the
/// pages forbid framing (`frame-ancestors 'none'`).
pub fn top_level_navigation(req: &HttpRequest) -> bool {
    let says = |name: &str, expected: &str| {
        req.headers()
            .get(name)
            .is_none_or(|value| value.as_bytes().eq_ignore_ascii_case(expected.as_bytes()))
    };
    let speculative = ["sec-purpose", "purpose", "x-purpose", "x-moz"]
        .iter()
        .any(|name| req.headers().contains_key(*name));
    says("sec-fetch-dest", "document") && says("sec-fetch-mode", "navigate") && !speculative
}

/// Whether the browser says this request is a POST from another site's page (`Sec-Fetch-Site:
/// cross-site`): it came without our `SameSite=Lax` cookies, though its answer may still set
/// them. Such a request must set none: another site's page could otherwise replace a browser's
/// flow cookie (losing its resident's waiting logins and forms) or remove its session cookie
/// (leaving the session live and unseen) without a click. A request without the header (an
/// older browser, a program) is not taken as one; our own pages' posts are `same-origin`.
pub fn cross_site_post(req: &HttpRequest) -> bool {
    req.method() == actix_web::http::Method::POST
        && req
            .headers()
            .get("sec-fetch-site")
            .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"cross-site"))
}

/// Parses form or query pairs; a repeated parameter is `invalid_request` (RFC 6749 §3.1).
///
/// The description is constant: a parameter's name is the client's text and may hold anything
/// (CR, LF, NUL), so it is never echoed. A NUL in a name or value is `invalid_request` too: no
/// protocol value or form field holds one, and PostgreSQL refuses it in text, so it would
/// otherwise fail on one store and not the other.
pub fn params(bytes: &[u8]) -> Result<Params, OAuthError> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(bytes)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if pairs
        .iter()
        .any(|(k, v)| k.contains('\0') || v.contains('\0'))
    {
        return Err(OAuthError::invalid_request(
            "a parameter holds a NUL character",
        ));
    }
    request::collect(pairs)
        .map_err(|_| OAuthError::invalid_request("a parameter is given more than once"))
}

/// Parses an `application/x-www-form-urlencoded` body.
pub fn form(req: &HttpRequest, body: &[u8]) -> Result<Params, OAuthError> {
    let form_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().is_some_and(|t| {
                t.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
    if !form_type {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    params(body)
}

/// A 303 to `location`.
///
/// A control character (which no header value may hold) and any byte that is not ASCII (a
/// header value is ASCII; proxies and clients read raw UTF-8 in one differently) are
/// percent-encoded, so no location, however it was put together, turns the answer into a 500 or
/// reads otherwise elsewhere.
pub fn see_other(location: &str) -> HttpResponse {
    let location: String = location
        .bytes()
        .map(|b| {
            if b.is_ascii_control() || !b.is_ascii() {
                format!("%{b:02X}")
            } else {
                char::from(b).to_string()
            }
        })
        .collect();
    HttpResponse::SeeOther()
        .insert_header(("Location", location))
        .insert_header(("Cache-Control", "no-store"))
        .finish()
}

/// Tells the client to try again in `seconds` (a 429 or 503).
pub fn retry_after_header(response: &mut HttpResponse, seconds: i64) {
    if let Ok(value) = HeaderValue::from_str(&seconds.max(1).to_string()) {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
}

/// A JSON answer that must not be cached.
pub fn no_store_json(value: &impl serde::Serialize) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Pragma", "no-cache"))
        .json(value)
}

/// The status of a form page: 422 when it is shown again with an error, else 200.
pub fn form_status(error: Option<&str>) -> StatusCode {
    if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    }
}

/// A route for `GET` and `HEAD` (actix sends a `HEAD`'s answer without its body): for the answers
/// that change nothing — health, discovery, keys, the static files. Pages keep `GET` alone: a
/// `HEAD` of `/authorize` would start a login.
pub fn get_or_head() -> actix_web::Route {
    use actix_web::guard;
    actix_web::web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}
