//! A change of address, step two: the confirmation link switches to the new address and mails
//! the old one a notice with a one-click undo; the undo link switches back and ends every
//! session. The subject never changes.

use chrono::{Duration, NaiveDateTime};
use serde_json::json;

use super::request::{CONFIRM, UNDO, UNDO_DAYS, link_row};
use crate::config::Language;
use crate::crypto::secret;
use crate::domain::Email;
use crate::flows::context::Minter;
use crate::flows::deletion;
use crate::flows::error::FlowError;
use crate::flows::linker::bind::bind_to_user;
use crate::flows::mail_link;
use crate::flows::oidc::logout::end_everything;
use crate::mail::{self, Mails};
use crate::store::links::{self, LinkRow};
use crate::store::users::UserRow;
use crate::store::{self, DbConnection, StoreError, Tenant, legacy, users};

/// What following a link led to.
#[derive(Debug, PartialEq, Eq)]
pub enum Followed {
    /// Unknown, expired or used.
    Expired,
    /// The address is another account's now.
    Taken,
    /// Done; the address now in use.
    Done(String),
}

/// The address a usable link of `purpose` carries: the new one of a confirmation link
/// ([`CONFIRM`]), the old one of an undo link ([`UNDO`]).
pub fn target(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    purpose: &str,
    token: &str,
) -> Result<Option<String>, FlowError> {
    Ok(mail_link::find_link(m, conn, purpose, token)?.and_then(|l| l.email))
}

fn take(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    purpose: &str,
    token: &str,
) -> Result<Option<(LinkRow, UserRow)>, StoreError> {
    let Some(link) = mail_link::use_link(m, conn, purpose, token)? else {
        return Ok(None);
    };
    let user = match link.user_id.as_deref() {
        Some(id) => users::find(conn, Tenant::of(m.tenant), id)?,
        None => None,
    };
    Ok(user.map(|u| (link, u)))
}

fn switch(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
    address: &str,
) -> Result<Option<Email>, StoreError> {
    let Ok(email) = Email::parse(address) else {
        return Ok(None);
    };
    let tenant = Tenant::of(m.tenant);
    if users::find_by_email(conn, tenant, email.normalized())?.is_some_and(|u| u.id != user.id) {
        return Ok(None);
    }
    let (entered, normalized) = (email.as_entered(), email.normalized());
    match users::set_email(conn, tenant, &user.id, entered, normalized, m.now) {
        Ok(()) => Ok(Some(email)),
        Err(StoreError::UniqueViolation(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Uses the link `token` of `purpose` and switches its user to the address it carries, in the
/// caller's transaction; the user, the address and when the link was sent, or what stopped it.
fn follow(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    purpose: &str,
    token: &str,
) -> Result<Result<(UserRow, Email, NaiveDateTime), Followed>, StoreError> {
    let Some((link, user)) = take(m, conn, purpose, token)? else {
        return Ok(Err(Followed::Expired));
    };
    let address = link.email.as_deref().unwrap_or_default();
    Ok(match switch(m, conn, &user, address)? {
        Some(email) => Ok((user, email, link.created_at)),
        None => Err(Followed::Taken),
    })
}

/// Confirms the new address: switches to it and mails the old one a notice with an undo link,
/// in one transaction.
pub fn confirm(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    mails: &Mails,
    language: Language,
    token: &str,
) -> Result<Followed, FlowError> {
    store::write_transaction(conn, |conn| {
        let (user, new, _) = match follow(m, conn, CONFIRM, token)? {
            Ok(switched) => switched,
            Err(stopped) => return Ok(stopped),
        };
        let tenant = Tenant::of(m.tenant);
        // Links mailed before the change (a reset, another confirmation, a linker link) could
        // still act on the account from the old address: void them. Undo links stay: they are
        // the old address's owner's way back if this change was not theirs.
        links::void_all_for_user(conn, tenant, &user.id, &[UNDO], m.now)?;
        if let Some(old) = user.email.clone() {
            let undo = secret::random_token();
            let row = LinkRow {
                payload: Some(json!({ "new": new.as_entered() }).to_string()),
                expires_at: m.now + Duration::days(UNDO_DAYS),
                ..link_row(m, UNDO, &undo, &user, &old)
            };
            links::insert(conn, &row)?;
            let mut context = mail_link::link_context(m, &["email", "undo"], &undo)?;
            context.insert("new_email", new.as_entered());
            let rendered = mail_link::render(mails, "email_changed", language, &context)?;
            mail::enqueue(conn, &m.tenant.id, "email_changed", &old, &rendered, m.now)?;
        }
        m.audit("email.changed")
            .user(user.id.as_str())
            .record(conn)?;
        // No second subject for an old account's address: the link proved the address, as the
        // linker's own link does, so its one unbound old account joins this one. Several (a
        // shared address) wait on the account page for the resident to choose.
        let legacy = legacy::unlinked_by_email(conn, tenant, new.normalized())?;
        if let [only] = legacy.as_slice() {
            bind_to_user(m, conn, only, &user, "email_change")?;
        }
        Ok(Followed::Done(new.as_entered().to_string()))
    })
}

/// Restores the old address and ends every session of the account (someone else may hold one);
/// a deletion asked for since the change (by whoever held the account then: its undo link went
/// to the new address) is undone with it.
pub fn undo(m: &Minter<'_>, conn: &mut DbConnection, token: &str) -> Result<Followed, FlowError> {
    store::write_transaction(conn, |conn| {
        let (user, old, changed_at) = match follow(m, conn, UNDO, token)? {
            Ok(switched) => switched,
            Err(stopped) => return Ok(stopped),
        };
        end_everything(m, conn, &user)?;
        deletion::undo::cancel_since(m, conn, &user.id, changed_at, "email_change_undo")?;
        m.audit("email.change_undone")
            .user(user.id.as_str())
            .record(conn)?;
        Ok(Followed::Done(old.as_entered().to_string()))
    })
}
