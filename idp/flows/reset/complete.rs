//! Forgot password, step two: the link opened, a new password set, the user's other sessions and
//! grants ended, and the pending login continued.

use super::request::PURPOSE;
use crate::flows::context::Minter;
use crate::flows::error::FlowError;
use crate::flows::mail_link::{self, Completed};
use crate::flows::oidc::logout::end_everything;
use crate::store::{DbConnection, Tenant, users};

/// Whether `token` is a usable reset link of this tenant.
pub fn usable(m: &Minter<'_>, conn: &mut DbConnection, token: &str) -> Result<bool, FlowError> {
    Ok(mail_link::find_link(m, conn, PURPOSE, token)?.is_some())
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
    let tenant = Tenant::of(m.tenant);
    mail_link::complete(m, conn, binding, |conn| {
        let Some(link) = mail_link::use_link(m, conn, PURPOSE, token)? else {
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
        // Whoever held the account keeps nothing: every session and grant, offline ones too,
        // every other link (a change of address he asked for), every half-done login.
        end_everything(m, conn, &user)?;
        m.audit("password.reset")
            .user(user.id.as_str())
            .record(conn)?;
        Ok(Some((link, user)))
    })
}
