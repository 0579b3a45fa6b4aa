//! Continuing a pending login after a mailed link proved the resident (forgot password,
//! registration, the linker's link): when the link is opened in the browser that started the
//! login, a session and the login's next step; elsewhere nothing, and the page says "done".

use super::decide::proceed;
use super::error::OAuthError;
use super::outcome::Outcome;
use super::pending::pending;
use super::session;
use crate::flows::context::Minter;
use crate::store::users::UserRow;
use crate::store::{DbConnection, Tenant, auth_requests};

/// When this browser (by its binding secret) started the pending login `request_id`: a session
/// for `user`, the request deleted, and the login's next step (consent or the answer to the
/// client), with the session's cookie; else `None`.
pub fn continue_pending(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    request_id: Option<&str>,
    user: &UserRow,
    binding: &str,
) -> Result<Option<(String, Outcome)>, OAuthError> {
    let pending = match request_id {
        Some(id) => pending(m, conn, id, Some(binding))?,
        None => None,
    };
    let Some((row, pending)) = pending else {
        return Ok(None);
    };
    let (session, cookie) = session::start(
        conn,
        user,
        false,
        m.tenant.session_seconds(&m.config.settings.tokens),
        m.now,
    )?;
    auth_requests::delete(conn, Tenant::of(m.tenant), &row.id)?;
    let outcome = proceed(m, conn, pending.request, &session, user, binding)?;
    Ok(Some((cookie, outcome)))
}
