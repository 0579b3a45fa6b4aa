//! Forgot password, step two: the link opened, a new password set (and, when the resident asks, the
//! account's passkeys — and an authority user's one-time code where the tenant asks for none —
//! removed), the user's other sessions and grants ended, and the pending login continued.

use chrono::NaiveDateTime;

use super::request::{PURPOSE, may_remove_passkeys, removable_code};
use crate::flows::context::Minter;
use crate::flows::error::FlowError;
use crate::flows::mail_link::{self, Completed};
use crate::flows::oidc::logout::end_everything;
use crate::store::passkeys::PasskeyRow;
use crate::store::{self, DbConnection, Tenant, second_factors, users};

/// What a reset may remove besides setting the password, when the resident asks: whoever learned
/// the password may have added either, and each would keep the resident from the account page
/// (it asks for a second factor the account has).
#[derive(Debug, Clone, Default)]
pub struct Removable {
    /// The account's passkeys, the oldest first.
    pub passkeys: Vec<PasskeyRow>,
    /// When the account's one-time code was set up, if it has one: only an authority user's
    /// (residents have none) where the tenant asks its authority users for no second factor
    /// (`authority_second_factor = "off"`), where one set up on the account page is the user's
    /// choice, not the tenant's requirement.
    pub one_time_code: Option<NaiveDateTime>,
}

impl Removable {
    /// What a reset may remove of `user` of `m`'s tenant: nothing where the user's factors are
    /// the tenant's requirement ([`may_remove_passkeys`]).
    pub fn of(
        m: &Minter<'_>,
        conn: &mut DbConnection,
        user: &users::UserRow,
    ) -> Result<Removable, FlowError> {
        if !may_remove_passkeys(m, user) {
            return Ok(Removable::default());
        }
        Ok(Removable {
            passkeys: store::passkeys::of_user(conn, Tenant::of(m.tenant), &user.id)?,
            one_time_code: removable_code(m, conn, user)?,
        })
    }
}

/// A usable reset link, as its page shows it.
#[derive(Debug, Clone, Default)]
pub struct Usable {
    /// The name its account logs in with (an authority user's username, else the address), for
    /// a password manager to save the new password under.
    pub login: Option<String>,
    /// What the reset may remove of the account.
    pub removable: Removable,
}

/// When `token` is a usable reset link of this tenant, its account's login name and what the
/// reset may remove of the account ([`Removable`]: the page lists it, with the days each was
/// added and last used, and the choice to remove it); `None` when it is not.
pub fn usable(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    token: &str,
) -> Result<Option<Usable>, FlowError> {
    let Some(link) = mail_link::find_link(m, conn, PURPOSE, token)? else {
        return Ok(None);
    };
    let tenant = Tenant::of(m.tenant);
    let user = match link.user_id.as_deref() {
        Some(user_id) => users::find(conn, tenant, user_id)?,
        None => None,
    };
    Ok(Some(match user {
        Some(user) => Usable {
            removable: Removable::of(m, conn, &user)?,
            login: user.username.or(user.email),
        },
        None => Usable::default(),
    }))
}

/// Sets the new password (already checked and hashed) through the link, in one transaction:
/// the link used, the password set, with `remove_passkeys` every passkey of the account (and an
/// authority user's one-time code and recovery codes) removed where the reset may ([`Removable`]:
/// whoever learned the password may have added one, which would pass as a second factor and keep
/// the resident from the account page), every other session of the user ended.
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
        // The link proved the mailbox it was sent to: an address bound unverified (an old
        // account's, one support added) is verified now, if it is still the account's.
        if let Some(sent_to) = link.email.as_deref() {
            users::verify_email(conn, tenant, &user.id, sent_to, m.now)?;
        }
        let removing = remove_passkeys && may_remove_passkeys(m, &user);
        let removed = if removing {
            store::passkeys::remove_all(conn, tenant, &user.id)?
        } else {
            0
        };
        // The box removes the one-time code and every recovery code, also those made while the
        // passkeys were the only factor (an intruder's passkey could make them): kept, they would
        // pass again once the owner sets up a factor.
        let (code, recovery_codes) = if removing {
            let code = second_factors::totp(conn, tenant, &user.id)?.is_some();
            let gone = second_factors::remove_all(conn, tenant, &user.id)?;
            (code, gone - usize::from(code))
        } else {
            (false, 0)
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
        if code || recovery_codes > 0 {
            // As support's reset of the factors is audited (`second_factor::reset`).
            m.audit("second_factor.reset")
                .user(user.id.as_str())
                .detail(&serde_json::json!({
                    "by": "reset",
                    "totp": code,
                    "recovery_codes": recovery_codes,
                }))
                .record(conn)?;
        }
        Ok(Some((link, user)))
    })
}
