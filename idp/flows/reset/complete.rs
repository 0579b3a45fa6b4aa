//! Forgot password, step two: the link opened, a new password set, the user's other sessions and
//! grants ended, and the pending login continued.

use super::request::PURPOSE;
use crate::crypto::secret;
use crate::flows::context::Minter;
use crate::flows::error::FlowError;
use crate::flows::mail_link;
use crate::flows::oidc::authorize::Outcome;
use crate::flows::oidc::logout::end_everything;
use crate::flows::oidc::resume::continue_pending;
use crate::store::links;
use crate::store::{self, DbConnection, Tenant, users};

/// Whether `token` is a usable reset link of this tenant.
pub fn usable(m: &Minter<'_>, conn: &mut DbConnection, token: &str) -> Result<bool, FlowError> {
    let tenant = Tenant::of(m.tenant);
    Ok(links::find_usable(conn, tenant, PURPOSE, &secret::hash(token), m.now)?.is_some())
}

/// What setting the password led to.
#[derive(Debug)]
pub enum Completed {
    /// The link is unknown, expired or used.
    Expired,
    /// Set; the browser that started the pending request is logged in and goes on.
    Continue {
        /// The new session cookie.
        cookie: String,
        /// Consent or the answer to the client.
        outcome: Outcome,
    },
    /// Set; nothing to continue here (another browser, or no pending request).
    Done,
}

/// Sets the new password (already checked and hashed) through the link, in one transaction:
/// the link used, the password set, every other session of the user ended.
pub fn complete(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    token: &str,
    password_hash: &str,
    binding: &str,
) -> Result<Completed, FlowError> {
    let token_hash = secret::hash(token);
    let tenant = Tenant::of(m.tenant);
    let result = store::write_transaction(conn, |conn| {
        let Some(link) = mail_link::use_link(m, conn, PURPOSE, &token_hash)? else {
            return Ok(None);
        };
        let Some(user) = link
            .user_id
            .as_deref()
            .map(|id| users::find(conn, tenant, id))
            .transpose()?
            .flatten()
            .filter(|u| !u.disabled)
        else {
            return Ok(None);
        };
        users::set_password(conn, tenant, &user.id, password_hash, m.now)?;
        // Other reset links of the account end with this one.
        links::void_for_user(conn, tenant, &user.id, PURPOSE, m.now)?;
        // Whoever held the account keeps nothing: every session and grant, offline ones too.
        end_everything(m, conn, &user)?;
        m.audit("password.reset")
            .user(user.id.as_str())
            .record(conn)?;
        Ok::<_, FlowError>(Some((link, user)))
    })?;
    let Some((link, user)) = result else {
        return Ok(Completed::Expired);
    };
    let request_id = link.auth_request_id.as_deref();
    Ok(
        match continue_pending(m, conn, request_id, &user, binding)? {
            Some((cookie, outcome)) => Completed::Continue { cookie, outcome },
            None => Completed::Done,
        },
    )
}
