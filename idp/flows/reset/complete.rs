//! Forgot password, step two: the link opened, a new password set (and, when the resident asks, the
//! account's passkeys removed), the user's other sessions and grants ended, and the pending login
//! continued.

use super::request::{PURPOSE, may_remove_passkeys};
use crate::flows::context::Minter;
use crate::flows::error::FlowError;
use crate::flows::mail_link::{self, Completed};
use crate::flows::oidc::logout::end_everything;
use crate::store::passkeys::PasskeyRow;
use crate::store::{self, DbConnection, Tenant, users};

/// When `token` is a usable reset link of this tenant, its account's passkeys that the reset may
/// remove, the oldest first (the page lists them, with the days they were added and last used,
/// and the choice to remove them); `None` when it is not.
pub fn usable(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    token: &str,
) -> Result<Option<Vec<PasskeyRow>>, FlowError> {
    let Some(link) = mail_link::find_link(m, conn, PURPOSE, token)? else {
        return Ok(None);
    };
    let tenant = Tenant::of(m.tenant);
    let user = match link.user_id.as_deref() {
        Some(user_id) => users::find(conn, tenant, user_id)?,
        None => None,
    };
    Ok(Some(match user {
        Some(user) if may_remove_passkeys(m, &user) => {
            store::passkeys::of_user(conn, tenant, &user.id)?
        }
        _ => Vec::new(),
    }))
}

/// Sets the new password (already checked and hashed) through the link, in one transaction:
/// the link used, the password set, with `remove_passkeys` every passkey of the account removed
/// where the reset may (whoever learned the password may have added one, which would pass as a
/// second factor and keep the resident from the account page), every other session of the user
/// ended.
pub fn complete(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    token: &str,
    password_hash: &str,
    remove_passkeys: bool,
    binding: &str,
    session_cookie: Option<&str>,
) -> Result<Completed, FlowError> {
    let tenant = Tenant::of(m.tenant);
    mail_link::complete(m, conn, (binding, session_cookie), |conn| {
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
        let removed = if remove_passkeys && may_remove_passkeys(m, &user) {
            store::passkeys::remove_all(conn, tenant, &user.id)?
        } else {
            0
        };
        // Whoever held the account keeps nothing: every session and grant, offline ones too,
        // every other link (a change of address he asked for), every half-done login.
        end_everything(m, conn, &user)?;
        m.audit("password.reset")
            .user(user.id.as_str())
            .record(conn)?;
        if removed > 0 {
            m.audit("passkey.removed")
                .user(user.id.as_str())
                .detail(&serde_json::json!({ "by": "reset", "passkeys": removed }))
                .record(conn)?;
        }
        Ok(Some((link, user)))
    })
}
