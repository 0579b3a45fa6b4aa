//! The OpenID Connect endpoints of each tenant, below `/{tenant}`.

mod account;
mod authorize;
mod introspect;
mod jwks;
mod login;
mod logout;
mod par;
mod register;
mod reset;
mod revoke;
mod token;
mod userinfo;

#[cfg(test)]
mod proptests;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::{AppState, HttpError};
use crate::config::TenantConfig;
use crate::flows::oidc::client_auth::{self, Presented};
use crate::flows::oidc::request::{self, Params};
use crate::flows::oidc::tokens::Minter;
use crate::flows::oidc::{ErrorCode, OAuthError};
use crate::flows::password_check::PasswordCheck;
use crate::store::DbConnection;

/// The OIDC routes, to be mounted under `/{tenant}`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/jwks", web::get().to(jwks::jwks))
        .route("/theme.css", web::get().to(crate::http::pages::theme))
        .route("/logo", web::get().to(crate::http::pages::logo))
        .route("/authorize", web::get().to(authorize::get))
        .route("/authorize", web::post().to(authorize::post))
        .route("/login", web::get().to(login::page))
        .route("/login/identifier", web::post().to(login::identifier))
        .route("/login/choose", web::post().to(login::choose))
        .route("/login/password", web::post().to(login::password))
        .route("/login/claim", web::post().to(login::claim))
        .route("/claim", web::get().to(login::claim_page))
        .route("/claim", web::post().to(login::claim_submit))
        .route("/language", web::post().to(login::language))
        .route("/forgot", web::get().to(reset::forgot))
        .route("/forgot", web::post().to(reset::send))
        .route("/reset", web::get().to(reset::reset_form))
        .route("/reset", web::post().to(reset::reset_submit))
        .route("/account", web::get().to(account::page))
        .route("/account/name", web::post().to(account::name))
        .route(
            "/account/password",
            web::post().to(account::change_password),
        )
        .route(
            "/account/logout-everywhere",
            web::post().to(account::logout_everywhere),
        )
        .route("/account/email", web::post().to(account::change_email))
        .route("/account/legacy", web::post().to(account::link_legacy))
        .route("/email/confirm", web::get().to(account::confirm_form))
        .route("/email/confirm", web::post().to(account::confirm_email))
        .route("/email/undo", web::get().to(account::undo_form))
        .route("/email/undo", web::post().to(account::undo))
        .route("/register", web::get().to(register::page))
        .route("/register", web::post().to(register::start))
        .route("/register/complete", web::get().to(register::complete_form))
        .route("/register/complete", web::post().to(register::complete))
        .route("/consent", web::get().to(login::consent_page))
        .route("/consent", web::post().to(login::consent))
        .route("/token", web::post().to(token::token))
        .route("/userinfo", web::get().to(userinfo::get))
        .route("/userinfo", web::post().to(userinfo::post))
        .route("/introspect", web::post().to(introspect::introspect))
        .route("/revoke", web::post().to(revoke::revoke))
        .route("/par", web::post().to(par::push))
        .route("/logout", web::get().to(logout::get))
        .route("/logout", web::post().to(logout::post));
}

impl AppState {
    /// Runs `f` with a [`Minter`] for `tenant` (and the request's client address) and a database
    /// connection, on a blocking thread.
    pub async fn oidc<T, F>(&self, tenant: &str, f: F) -> Result<T, OAuthError>
    where
        F: FnOnce(&Minter<'_>, &mut DbConnection) -> Result<T, OAuthError> + Send + 'static,
        T: Send + 'static,
    {
        let services = self.services.clone();
        let now = services.clock.now();
        let tenant = tenant.to_string();
        let remote_addr = crate::app::client_address();
        self.services
            .store
            .run(move |conn| {
                let mut minter = services
                    .minter(&tenant, now)
                    .ok_or_else(|| OAuthError::server("unknown tenant"))?;
                minter.remote_addr = remote_addr;
                f(&minter, conn)
            })
            .await
    }

    /// The one way to check a password: throttled, counted before the hash, in the pool's share
    /// (`flows::password_check`).
    pub fn password_check<'a>(&'a self, tenant: &'a TenantConfig) -> PasswordCheck<'a> {
        PasswordCheck {
            store: &self.services.store,
            pool: &self.services.hashing,
            tenant,
            now: self.services.clock.now(),
        }
    }

    /// The tenant named in the path, or 404.
    pub fn known_tenant(&self, tenant: &str) -> Result<(), HttpError> {
        self.config
            .tenant(tenant)
            .map(|_| ())
            .ok_or(HttpError::UnknownTenant)
    }

    /// Whether cookies must be `Secure` and may carry the `__Host-` prefix (an https public URL).
    pub fn secure_cookies(&self) -> bool {
        self.config.settings.server.public_url.scheme() == "https"
    }

    /// The name of a tenant's cookie: `__Host-idp-{what}-{tenant}` on https, else without prefix.
    pub fn cookie_name(&self, what: &str, tenant: &str) -> String {
        if self.secure_cookies() {
            format!("__Host-idp-{what}-{tenant}")
        } else {
            format!("idp-{what}-{tenant}")
        }
    }

    /// A cookie of ours: HttpOnly, SameSite=Lax, path /, Secure on https; a browser-session
    /// cookie unless `max_age` is given.
    pub fn cookie(&self, name: String, value: String, max_age: Option<i64>) -> Cookie<'static> {
        let mut cookie = Cookie::build(name, value)
            .path("/")
            .http_only(true)
            .secure(self.secure_cookies())
            .same_site(SameSite::Lax)
            .finish();
        if let Some(seconds) = max_age {
            cookie.set_max_age(actix_web::cookie::time::Duration::seconds(seconds));
        }
        cookie
    }
}

/// A parameter of the query string; `None` when missing or holding a NUL (which no value of ours
/// has, and which PostgreSQL refuses in text).
pub fn query_param(req: &HttpRequest, name: &str) -> Option<String> {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.contains('\0'))
}

/// Tells the client to try again in `seconds` (a 429 or 503).
pub fn retry_after_header(response: &mut HttpResponse, seconds: i64) {
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&seconds.max(1).to_string()) {
        response
            .headers_mut()
            .insert(actix_web::http::header::RETRY_AFTER, value);
    }
}

/// The value of a tenant's cookie on the request.
pub fn cookie_value(
    state: &AppState,
    req: &HttpRequest,
    what: &str,
    tenant: &str,
) -> Option<String> {
    req.cookie(&state.cookie_name(what, tenant))
        .map(|c| c.value().to_string())
        .filter(|v| !v.is_empty())
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

/// The client credentials a request presents.
pub fn presented(req: &HttpRequest, params: &Params) -> Result<Presented, OAuthError> {
    let basic = match req.headers().get("authorization").map(|v| v.to_str()) {
        Some(Ok(value)) => client_auth::parse_basic(value)?,
        Some(Err(_)) => {
            return Err(OAuthError::new(
                ErrorCode::InvalidClient,
                client_auth::BAD_BASIC,
            ));
        }
        None => None,
    };
    Ok(Presented {
        basic,
        client_id: params.get("client_id").cloned(),
        client_secret: params.get("client_secret").cloned(),
        assertion_type: params.get("client_assertion_type").cloned(),
        assertion: params.get("client_assertion").cloned(),
        verified: None,
    })
}

/// An error of the token, introspection or revocation endpoint (RFC 6749 §5.2).
pub fn oauth_error(error: &OAuthError) -> HttpResponse {
    let status = StatusCode::from_u16(error.code.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = HttpResponse::build(status);
    response
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Pragma", "no-cache"));
    if status == StatusCode::UNAUTHORIZED {
        response.insert_header(("WWW-Authenticate", "Basic realm=\"idp\", charset=\"UTF-8\""));
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.insert_header(("Retry-After", "5"));
    }
    response.json(json!({ "error": error.code.as_str(), "error_description": error.description }))
}

/// A JSON answer that must not be cached.
pub fn no_store_json(value: &impl serde::Serialize) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Pragma", "no-cache"))
        .json(value)
}

/// Checks a `client_assertion` (private_key_jwt) against the keys its client publishes; the
/// outcome goes into `presented.verified` for client authentication to judge.
pub async fn verify_assertion(
    state: &AppState,
    tenant: &str,
    endpoint: &str,
    mut presented: Presented,
) -> Presented {
    use crate::config::AuthMethod;
    use crate::flows::oidc::assertion;
    let Some(raw) = presented.assertion.clone() else {
        return presented;
    };
    let refuse = |text: &str| Some(Err(OAuthError::new(ErrorCode::InvalidClient, text)));
    let Some(client_id) = assertion::claimed_client(&raw) else {
        presented.verified = refuse("the client assertion is not a JWT");
        return presented;
    };
    // Junk is refused before the client's keys are fetched.
    if let Err(error) = assertion::check_header(&raw) {
        presented.verified = Some(Err(error));
        return presented;
    }
    let client = state
        .config
        .tenant(tenant)
        .and_then(|t| t.client(&client_id))
        .filter(|c| c.token_endpoint_auth_method == AuthMethod::PrivateKeyJwt);
    let Some(jwks_uri) = client.and_then(|c| c.jwks_uri.as_ref()) else {
        presented.verified = refuse("the client does not use private_key_jwt");
        return presented;
    };
    let keys = match state.services.client_keys(jwks_uri.as_str()).await {
        Ok(keys) => keys,
        Err(error) => {
            tracing::warn!(client = %client_id, %error, "cannot fetch the client's keys");
            presented.verified = refuse("the client's keys could not be fetched");
            return presented;
        }
    };
    let issuer = state
        .config
        .tenant(tenant)
        .map(|t| state.config.issuer(t))
        .unwrap_or_default();
    let audiences = [
        issuer.clone(),
        format!("{issuer}/token"),
        format!("{issuer}/{endpoint}"),
    ];
    presented.verified = Some(assertion::verify(
        &raw,
        &client_id,
        &keys,
        &audiences,
        state.services.clock.now(),
    ));
    presented
}
