//! The stand-in password login and consent that complete a pending authorization request.
//!
//! The resident's real pages (identifier first, remember me, throttling, fi/sv/en) replace the
//! login form in the next issue; the protocol around it is complete here.

use secrecy::SecretString;

use super::authorize::{self, Outcome};
use super::error::{ErrorCode, OAuthError};
use super::session;
use super::tokens::Minter;
use crate::crypto::password;
use crate::domain::Email;
use crate::store::{DbConnection, auth_requests, grants, users};

/// An argon2id hash of a random password, verified for unknown accounts so that a login takes as
/// long whether or not the account exists.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$IdohpM3iEtJUPSCGQr8GWw$nJGzunoXxDO+phsk/IFnc8zKLt9a0Yign6X6hSU+sfE";

/// What a login attempt led to.
#[derive(Debug)]
pub enum LoginResult {
    /// Logged in: set this session cookie and go on.
    Done {
        /// The new session cookie's value.
        cookie: String,
        /// Consent page or response to the client.
        outcome: Outcome,
    },
    /// Wrong address or password (one message for both).
    Failed,
    /// The request is unknown, expired or not this browser's.
    Expired,
}

/// Checks a password for the pending request `request_id` and, when right, logs in.
pub fn login(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    request_id: &str,
    binding: Option<&str>,
    identifier: &str,
    password_text: SecretString,
) -> Result<LoginResult, OAuthError> {
    let Some((row, pending)) = authorize::pending(m, conn, request_id, binding)? else {
        return Ok(LoginResult::Expired);
    };
    let user = match Email::parse(identifier) {
        Ok(email) => users::find_by_email(conn, &m.tenant.id, email.normalized())?,
        Err(_) => None,
    };
    let hash = user
        .as_ref()
        .and_then(|u| u.password_hash.as_deref())
        .unwrap_or(DUMMY_HASH);
    let matches = password::verify(&password_text, hash);
    let Some(user) = user.filter(|u| matches && !u.disabled && u.password_hash.is_some()) else {
        return Ok(LoginResult::Failed);
    };
    let (session, cookie) = session::start(
        conn,
        &user,
        false,
        m.config.settings.tokens.session_seconds,
        m.now,
    )?;
    auth_requests::delete(conn, &row.id)?;
    let outcome = authorize::proceed(
        m,
        conn,
        pending.request,
        &session,
        &user,
        binding.unwrap_or_default(),
    )?;
    Ok(LoginResult::Done { cookie, outcome })
}

/// The resident's answer on the consent page.
pub fn consent(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    request_id: &str,
    binding: Option<&str>,
    session_cookie: Option<&str>,
    approve: bool,
) -> Result<Option<Outcome>, OAuthError> {
    let Some((row, pending)) = authorize::pending(m, conn, request_id, binding)? else {
        return Ok(None);
    };
    let Some((session, user)) = session::current(conn, &m.tenant.id, session_cookie, m.now)? else {
        return Ok(None);
    };
    if row.user_id.as_deref() != Some(user.id.as_str()) {
        return Ok(None);
    }
    auth_requests::delete(conn, &row.id)?;
    let request = pending.request;
    if !approve {
        return Ok(Some(Outcome::Respond(authorize::error_response(
            &m.issuer,
            request.redirect_uri.clone(),
            request.response_mode,
            request.state.clone(),
            &OAuthError::new(ErrorCode::AccessDenied, "the resident declined"),
        ))));
    }
    grants::save_consent(
        conn,
        &m.tenant.id,
        &user.id,
        &request.client_id,
        &request.scope_string(),
        m.now,
    )?;
    let response = authorize::issue_code(m, conn, &request, &session, &user)?;
    Ok(Some(Outcome::Respond(response)))
}
