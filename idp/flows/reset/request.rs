//! Forgot password, step one: a single-use link to the account's address (only its hash stored).

use chrono::NaiveDateTime;

use crate::config::{Language, SecondFactorPolicy};
use crate::crypto::secret;
use crate::domain::Email;
use crate::flows::context::Minter;
use crate::flows::error::FlowError;
use crate::flows::linker::links::send_to_unbound;
use crate::flows::mail_limit::Budget;
use crate::flows::{mail_limit, mail_link, notice, passkeys};
use crate::i18n;
use crate::mail::Mails;
use crate::store::links::{self, LinkRow};
use crate::store::users::UserRow;
use crate::store::{self, DbConnection, Tenant, legacy, second_factors, users};

/// The purpose of reset links.
pub const PURPOSE: &str = "reset_password";

/// Whether a reset may remove `user`'s passkeys: a resident's, yes; an authority user's, only
/// where the tenant asks its authority users for no second factor. Elsewhere a passkey may be the
/// factor the tenant requires, and the mailbox alone must not take it away (the next login would
/// enrol a new one): support resets it (`idp users reset-second-factor`).
pub(crate) fn may_remove_passkeys(m: &Minter<'_>, user: &UserRow) -> bool {
    !user.is_authority || m.tenant.authority_second_factor == SecondFactorPolicy::Off
}

/// When the one-time code of `user` that a reset may remove was set up: an authority user's
/// where the tenant asks for no second factor (`complete::Removable::one_time_code`); `None` otherwise.
pub(crate) fn removable_code(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &users::UserRow,
) -> Result<Option<NaiveDateTime>, FlowError> {
    if !user.is_authority || !may_remove_passkeys(m, user) {
        return Ok(None);
    }
    let totp = second_factors::totp(conn, Tenant::of(m.tenant), &user.id)?;
    Ok(totp.map(|totp| totp.created_at))
}

/// Writes a reset link for the account of `email`, and its mail, in one transaction; returns the
/// mail's id, or `None` when there is no such account or a mail limit is reached (the page says
/// the same either way).
///
/// An address that only old accounts not yet bound have gets the linker's links, as a
/// registration of it does (`register::start`): the cities' letters send a resident who forgot
/// the old password to "forgot password", and a link sets the password and binds the old account
/// with its subject. An authority account gets none (its old password is its only proof,
/// `linker::links::send_links`).
///
/// The request counts against the mail limits whether or not the address has an enabled account,
/// as registration counts every one of its cases: were only real accounts counted, the client
/// address's budget would tell them apart (its last registration mail arrives only when the
/// forgot address has no account).
pub fn request(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    mails: &Mails,
    email: &Email,
    language: Language,
    request_id: Option<&str>,
) -> Result<Option<String>, FlowError> {
    store::write_transaction(conn, |conn| {
        let tenant = Tenant::of(m.tenant);
        let found = users::find_by_email(conn, tenant, email.normalized())?;
        let counted = mail_limit::Mail {
            kind: PURPOSE,
            to: email.normalized(),
            user: found.as_ref().map(|u| u.id.as_str()),
            budget: Budget::Forgot,
        };
        if found.is_none() {
            let legacy = legacy::unlinked_by_email(conn, tenant, email.normalized())?;
            let asked = (email, language, request_id, Budget::Forgot);
            if let Some(sent) = send_to_unbound(m, conn, mails, &legacy, asked) {
                return sent;
            }
        }
        let Some(user) = found.as_ref().filter(|u| !u.disabled) else {
            // Counted as a mail would be, and nothing written.
            mail_limit::admit(m, conn, counted)?;
            return Ok(None);
        };
        // The stored address, never the text as typed.
        let to = user.email.clone().unwrap_or_else(|| email.to_string());
        // In the owner's language: anyone can ask for it, in any language.
        let language = notice::owner_language(m, user, language);
        mail_limit::write(m, conn, counted, &to, |conn| {
            let token = secret::random_token();
            let mut context = mail_link::link_context(m, &["reset"], &token)?;
            // A reset keeps the account's passkeys unless asked: the mail says which there are
            // (by the days idp recorded, never by the names their adders chose), and whether
            // the reset page can remove them.
            let recorded = passkeys::recorded(m, conn, &user.id, language)?;
            context.insert("passkeys", &recorded);
            let removable = may_remove_passkeys(m, user);
            context.insert("passkeys_removable", &removable);
            // An authority user's one-time code the reset may remove: the day it was set up.
            let code = removable_code(m, conn, user)?
                .map(|at| i18n::date(m.tenant.time_zone, language, at));
            context.insert("one_time_code", &code);
            // The account the link is for, by its old usernames: at an address a family shares,
            // a member who asks for it to set their own old account's password sees that the
            // link is for a relative's account in use (theirs is claimed on the login's claim
            // page).
            let former: Vec<String> = legacy::linked_to(conn, tenant, &user.id)?
                .into_iter()
                .map(|old| old.username)
                .collect();
            context.insert("former", &former.join(", "));
            let row = LinkRow {
                user_id: Some(user.id.clone()),
                email: Some(to.clone()),
                auth_request_id: mail_link::pending_request(m, conn, request_id)?,
                ..mail_link::row(m, PURPOSE, &token)
            };
            links::insert(conn, &row)?;
            m.audit("password.reset_requested")
                .user(user.id.as_str())
                .record(conn)?;
            mail_link::render(mails, PURPOSE, language, &context)
        })
    })
}
