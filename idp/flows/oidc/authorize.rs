//! The authorization endpoint's decisions (RFC 6749 §4.1, OIDC Core §3.1.2): log in, ask consent,
//! or answer the client with a code or an error.

use chrono::{Duration, NaiveDateTime};
use serde::{Deserialize, Serialize};

use super::error::{ErrorCode, OAuthError};
use super::request::{self, AuthorizationRequest, Params, RequestError, ResponseMode};
use super::session;
use crate::config::{ClientConfig, GrantType, Language};
use crate::crypto::secret;
use crate::flows::context::Minter;
use crate::store::auth_requests::{self, AuthRequestRow};
use crate::store::grants::{self, CodeRow, GrantRow};
use crate::store::sessions::SessionRow;
use crate::store::users::UserRow;
use crate::store::{DbConnection, Tenant};

/// How long an authorization code lives (seconds).
pub const CODE_SECONDS: i64 = 60;

/// The answer to the client, at its redirect URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthResponse {
    /// Where.
    pub redirect_uri: String,
    /// How.
    pub response_mode: ResponseMode,
    /// What: `code`, `state`, `iss`, or `error`, `error_description`, `state`, `iss`.
    pub params: Vec<(String, String)>,
}

/// What the endpoint does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Answer the client.
    Respond(AuthResponse),
    /// Show the login page for the stored request.
    Login {
        /// The stored request.
        request_id: String,
    },
    /// Ask the logged-in resident to consent to the stored request.
    Consent {
        /// The stored request.
        request_id: String,
    },
    /// Tell the resident the request is broken (never redirect).
    Page(&'static str),
}

/// A request waiting for the resident, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    /// The request.
    pub request: AuthorizationRequest,
    /// SHA-256 of the browser-binding secret.
    pub binding_hash: String,
}

/// An error response to the client.
pub fn error_response(
    issuer: &str,
    redirect_uri: String,
    response_mode: ResponseMode,
    state: Option<String>,
    error: &OAuthError,
) -> AuthResponse {
    let mut params = vec![
        ("error".to_string(), error.code.as_str().to_string()),
        ("error_description".to_string(), error.description.clone()),
    ];
    if let Some(state) = state {
        params.push(("state".into(), state));
    }
    params.push(("iss".into(), issuer.to_string()));
    AuthResponse {
        redirect_uri,
        response_mode,
        params,
    }
}

fn refuse(m: &Minter<'_>, request: &AuthorizationRequest, code: ErrorCode, text: &str) -> Outcome {
    Outcome::Respond(error_response(
        &m.issuer,
        request.redirect_uri.clone(),
        request.response_mode,
        request.state.clone(),
        &OAuthError::new(code, text),
    ))
}

/// Handles a fresh authorization request from a browser holding `session_cookie` (if any) and
/// the browser-binding secret `binding` (its flow cookie); `lang` is the language its pages are
/// shown in, which the login keeps.
pub fn start(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    params: &Params,
    session_cookie: Option<&str>,
    binding: &str,
    lang: Language,
) -> Result<Outcome, OAuthError> {
    // A pushed request (RFC 9126 §4): its stored parameters replace the query's.
    let pushed;
    let params = match params.get("request_uri") {
        None => params,
        Some(uri) => match super::par::take(m, conn, params.get("client_id"), uri)? {
            Some(stored) => {
                pushed = stored;
                &pushed
            }
            None => return Ok(Outcome::Page("invalid_request_uri")),
        },
    };
    let request = match request::parse(m.tenant, params) {
        Ok(request) => AuthorizationRequest {
            lang: Some(lang),
            ..request
        },
        Err(RequestError::Page(reason)) => return Ok(Outcome::Page(reason)),
        Err(RequestError::Redirect {
            redirect_uri,
            response_mode,
            state,
            error,
        }) => {
            return Ok(Outcome::Respond(error_response(
                &m.issuer,
                redirect_uri,
                response_mode,
                state,
                &error,
            )));
        }
    };
    let hinted_subject = match &request.id_token_hint {
        None => None,
        Some(hint) => match m.verify_jwt(hint, None, false) {
            Some(claims) => claims
                .get("sub")
                .and_then(|s| s.as_str())
                .map(str::to_string),
            None => {
                return Ok(refuse(
                    m,
                    &request,
                    ErrorCode::InvalidRequest,
                    "id_token_hint is not an ID token of this issuer",
                ));
            }
        },
    };
    let current = session::current(conn, Tenant::of(m.tenant), session_cookie, m.now)?;
    let needs_login = match &current {
        None => true,
        Some((session, user)) => {
            request.prompt_login
                || request
                    .max_age
                    .is_some_and(|max| too_old(session.auth_time, m.now, max))
                || hinted_subject
                    .as_ref()
                    .is_some_and(|sub| sub != &user.subject)
        }
    };
    if needs_login {
        if request.prompt_none {
            return Ok(refuse(
                m,
                &request,
                ErrorCode::LoginRequired,
                "the resident must log in",
            ));
        }
        let request_id = store_pending(m, conn, &request, None, binding)?;
        return Ok(Outcome::Login { request_id });
    }
    let Some((session, user)) = current else {
        return Err(OAuthError::server("session vanished"));
    };
    // The grant and its code (or the pending consent) in one commit.
    super::error::committed(conn, |conn| {
        proceed(m, conn, request, &session, &user, binding)
    })
}

/// Whether a login at `auth_time` is too old for `max_age` at `now`. Counted in whole seconds,
/// as the `auth_time` claim carries them; `max_age=0` always asks again, as `prompt=login` does
/// (OpenID Connect Core 1.0 errata set 2, §3.1.2.1).
fn too_old(auth_time: NaiveDateTime, now: NaiveDateTime, max_age: i64) -> bool {
    let elapsed = now.and_utc().timestamp() - auth_time.and_utc().timestamp();
    max_age == 0 || elapsed > max_age
}

/// After the resident has a session: consent if needed, else a code.
pub fn proceed(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    request: AuthorizationRequest,
    session: &SessionRow,
    user: &UserRow,
    binding: &str,
) -> Result<Outcome, OAuthError> {
    if request.client_id == ACCOUNT_CLIENT {
        // A login for the account page: back to it, no code.
        return Ok(Outcome::Respond(AuthResponse {
            redirect_uri: request.redirect_uri,
            response_mode: ResponseMode::Query,
            params: Vec::new(),
        }));
    }
    let client = client_of(m, &request)?;
    let scope: Vec<&str> = request.scope.iter().map(String::as_str).collect();
    let needs_consent = !client.first_party
        && (request.prompt_consent
            || !grants::has_consent(
                conn,
                Tenant::of(m.tenant),
                &user.id,
                &client.client_id,
                &scope,
            )?);
    if needs_consent {
        if request.prompt_none {
            return Ok(refuse(
                m,
                &request,
                ErrorCode::ConsentRequired,
                "the resident must consent",
            ));
        }
        let request_id = store_pending(m, conn, &request, Some(&user.id), binding)?;
        return Ok(Outcome::Consent { request_id });
    }
    Ok(Outcome::Respond(issue_code(
        m, conn, &request, session, user,
    )?))
}

fn client_of<'t>(
    m: &Minter<'t>,
    request: &AuthorizationRequest,
) -> Result<&'t ClientConfig, OAuthError> {
    m.tenant
        .client(&request.client_id)
        .ok_or_else(|| OAuthError::server("the request's client is gone"))
}

/// The pseudo-client of logins that lead to the account page (not a configurable id: it starts
/// with an underscore, which client ids may contain but the demo never uses).
pub const ACCOUNT_CLIENT: &str = "_account";

/// Stores a login that returns to the account page; returns the request's id.
pub fn account_login(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    binding: &str,
) -> Result<String, OAuthError> {
    let request = AuthorizationRequest {
        client_id: ACCOUNT_CLIENT.into(),
        redirect_uri: format!("{}/account", m.issuer),
        response_mode: ResponseMode::Query,
        scope: vec!["openid".into()],
        state: None,
        nonce: None,
        code_challenge: None,
        prompt_none: false,
        prompt_login: false,
        prompt_consent: false,
        max_age: None,
        login_hint: None,
        ui_locales: None,
        id_token_hint: None,
        lang: None,
    };
    store_pending(m, conn, &request, None, binding)
}

fn store_pending(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    request: &AuthorizationRequest,
    user_id: Option<&str>,
    binding: &str,
) -> Result<String, OAuthError> {
    let pending = Pending {
        request: request.clone(),
        binding_hash: secret::hash(binding),
    };
    let id = secret::random_token();
    auth_requests::insert(
        conn,
        &AuthRequestRow {
            id: id.clone(),
            tenant_id: m.tenant.id.clone(),
            client_id: request.client_id.clone(),
            params: serde_json::to_string(&pending).map_err(OAuthError::server)?,
            request_uri_hash: None,
            user_id: user_id.map(str::to_string),
            session_id: None,
            created_at: m.now,
            expires_at: m.now + seconds(m.config.settings.tokens.authorization_request_seconds),
        },
    )?;
    Ok(id)
}

/// The stored request `id`, if this browser (by its binding secret) started it.
pub fn pending(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    id: &str,
    binding: Option<&str>,
) -> Result<Option<(AuthRequestRow, Pending)>, OAuthError> {
    let Some(row) = auth_requests::find(conn, Tenant::of(m.tenant), id, m.now)? else {
        return Ok(None);
    };
    let Ok(pending) = serde_json::from_str::<Pending>(&row.params) else {
        return Ok(None);
    };
    let bound =
        binding.is_some_and(|b| secret::constant_time_eq(&secret::hash(b), &pending.binding_hash));
    Ok(bound.then_some((row, pending)))
}

/// The language of the login for the stored request `id`, if it is pending and has one. Not
/// bound to the browser: a mailed link opened elsewhere shows its pages in the login's language.
pub fn language(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    id: &str,
) -> Result<Option<Language>, OAuthError> {
    let Some(row) = auth_requests::find(conn, Tenant::of(m.tenant), id, m.now)? else {
        return Ok(None);
    };
    Ok(serde_json::from_str::<Pending>(&row.params)
        .ok()
        .and_then(|pending| pending.request.lang))
}

/// The language of the login a mailed link (by its token) was sent from, if any.
pub fn language_of_link(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    token: &str,
) -> Result<Option<Language>, OAuthError> {
    let tenant = crate::store::Tenant::of(m.tenant);
    match crate::store::links::auth_request_of(conn, tenant, &secret::hash(token), m.now)? {
        Some(id) => language(m, conn, &id),
        None => Ok(None),
    }
}

/// Changes the language of the login for the stored request `id` (the resident chose it with the
/// selector), if this browser started it; returns whether it did.
pub fn set_language(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    id: &str,
    binding: Option<&str>,
    lang: Language,
) -> Result<bool, OAuthError> {
    let Some((row, mut pending)) = pending(m, conn, id, binding)? else {
        return Ok(false);
    };
    pending.request.lang = Some(lang);
    let params = serde_json::to_string(&pending).map_err(OAuthError::server)?;
    crate::store::write_alone(conn, |conn| {
        auth_requests::set_params(conn, crate::store::Tenant::of(m.tenant), &row.id, &params)
    })
    .map_err(OAuthError::from)
}

/// Issues a code for `request` in `session`: a grant, its code, and the response.
pub fn issue_code(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    request: &AuthorizationRequest,
    session: &SessionRow,
    user: &UserRow,
) -> Result<AuthResponse, OAuthError> {
    let client = client_of(m, request)?;
    let tokens = &m.config.settings.tokens;
    let offline = request.offline() && client.grant_types.contains(&GrantType::RefreshToken);
    let expires_at = if offline {
        m.now + seconds(tokens.offline_refresh_token_seconds)
    } else {
        (m.now + seconds(tokens.refresh_token_seconds)).min(session.expires_at)
    };
    let grant = GrantRow {
        id: secret::random_token(),
        tenant_id: m.tenant.id.clone(),
        client_id: client.client_id.clone(),
        user_id: Some(user.id.clone()),
        session_id: Some(session.id.clone()),
        scope: request.scope_string(),
        auth_time: Some(session.auth_time),
        amr: Some(session.amr.clone()),
        acr: session.acr.clone(),
        offline,
        created_at: m.now,
        expires_at,
        revoked_at: None,
    };
    grants::insert_grant(conn, &grant)?;
    let code = secret::random_token();
    grants::insert_code(
        conn,
        &CodeRow {
            code_hash: secret::hash(&code),
            grant_id: grant.id.clone(),
            tenant_id: grant.tenant_id.clone(),
            client_id: client.client_id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            nonce: request.nonce.clone(),
            code_challenge: request.code_challenge.clone(),
            claims: None,
            created_at: m.now,
            expires_at: m.now + Duration::seconds(CODE_SECONDS),
            used_at: None,
        },
    )?;
    let mut params = vec![("code".to_string(), code)];
    if let Some(state) = &request.state {
        params.push(("state".into(), state.clone()));
    }
    params.push(("iss".into(), m.issuer.clone()));
    Ok(AuthResponse {
        redirect_uri: request.redirect_uri.clone(),
        response_mode: request.response_mode,
        params,
    })
}

/// Seconds as a duration, saturating.
pub fn seconds(value: u64) -> Duration {
    Duration::seconds(i64::try_from(value).unwrap_or(i64::MAX / 1000))
}

/// The time `seconds` from `now`.
pub fn after(now: NaiveDateTime, value: u64) -> NaiveDateTime {
    now + seconds(value)
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::too_old;

    fn at(second: u32, milli: u32) -> chrono::NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 12, 5)
            .and_then(|d| d.and_hms_milli_opt(12, 0, second, milli))
            .unwrap_or_default()
    }

    #[test]
    fn max_age_counts_whole_seconds_and_zero_always_asks() {
        // max_age=0 within the same second, even the same instant.
        assert!(too_old(at(10, 100), at(10, 100), 0));
        assert!(too_old(at(10, 100), at(10, 900), 0));
        // auth_time says 10, now says 12: two seconds, over a max_age of 1 although only 1.2 s
        // have passed.
        assert!(too_old(at(10, 900), at(12, 100), 1));
        assert!(!too_old(at(10, 900), at(11, 999), 1));
        assert!(!too_old(at(10, 0), at(15, 999), 5));
        assert!(too_old(at(10, 999), at(16, 0), 5));
    }
}
