//! A change of address, step two: the confirmation link switches to the new address and mails
//! the old one a notice with a one-click undo; the undo link switches back, ends every session
//! and what the changes since left behind (`ways_back.rs`). The subject never changes.

use chrono::Duration;
use serde_json::json;

use super::request::{CONFIRM, UNDO, UNDO_DAYS, link_row};
use super::ways_back::{self, Bound, Change};
use crate::config::Language;
use crate::crypto::secret;
use crate::domain::{Email, text};
use crate::flows::context::Minter;
use crate::flows::deletion;
use crate::flows::error::FlowError;
use crate::flows::linker::bind::bind_to_user;
use crate::flows::mail_link;
use crate::flows::oidc::logout::end_everything;
use crate::flows::oidc::session;
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
    /// The undo's old address is another account's now: nothing switched, but everything the
    /// account held ended; the link stays usable.
    Refused,
    /// Done; the address now in use.
    Done(String),
}

/// What the page of a usable link shows before anything changes.
#[derive(Debug, PartialEq, Eq)]
pub struct Target {
    /// The address the link carries: the new one of a confirmation link ([`CONFIRM`]), the old
    /// one of an undo link ([`UNDO`]).
    pub email: String,
    /// The login name of the account the link is for, masked ([`text::mask_login`]): a
    /// confirmation link reaches whoever reads the new address, who may not be the account's
    /// owner and tells by it that the request is not theirs.
    pub account: String,
}

/// What the usable link `token` of `purpose` shows; `None` when it is unknown, expired, used or
/// its account gone.
pub fn target(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    purpose: &str,
    token: &str,
) -> Result<Option<Target>, FlowError> {
    let Some(link) = mail_link::find_link(m, conn, purpose, token)? else {
        return Ok(None);
    };
    let (Some(email), Some(user_id)) = (link.email, link.user_id) else {
        return Ok(None);
    };
    let Some(user) = users::find(conn, Tenant::of(m.tenant), &user_id)? else {
        return Ok(None);
    };
    let login = user.username.or(user.email).unwrap_or_default();
    let account = text::mask_login(&login);
    Ok(Some(Target { email, account }))
}

/// The usable link `token` of `purpose` and its user, whose row is held first (as
/// [`mail_link::use_link`] holds it); the link is left unused.
fn held(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    purpose: &str,
    token: &str,
) -> Result<Option<(LinkRow, UserRow)>, StoreError> {
    let Some(link) = mail_link::find_link(m, conn, purpose, token)? else {
        return Ok(None);
    };
    let user = match link.user_id.as_deref() {
        Some(id) => users::lock(conn, Tenant::of(m.tenant), id)?,
        None => None,
    };
    Ok(user.map(|u| (link, u)))
}

/// The address `address` when it can be `user`'s: valid, and no other account's.
fn free(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
    address: Option<&str>,
) -> Result<Option<Email>, StoreError> {
    let Ok(email) = Email::parse(address.unwrap_or_default()) else {
        return Ok(None);
    };
    let tenant = Tenant::of(m.tenant);
    let other = users::find_by_email(conn, tenant, email.normalized())?;
    Ok(other.is_none_or(|u| u.id == user.id).then_some(email))
}

/// Switches `user` to `email`; false when another account took it meanwhile.
fn switch(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
    email: &Email,
) -> Result<bool, StoreError> {
    let (entered, normalized) = (email.as_entered(), email.normalized());
    let tenant = Tenant::of(m.tenant);
    // The unique index is the last guard (another account took the address since [`free`]):
    // the update in a savepoint of its own, so that its failure leaves the transaction usable
    // (on PostgreSQL a failed statement aborts the transaction it is in, and the link's use and
    // the refusal would be lost with it).
    let set = |conn: &mut DbConnection| {
        users::set_email(conn, tenant, &user.id, entered, normalized, m.now)
    };
    match crate::store::write_transaction(conn, set) {
        Ok(()) => Ok(true),
        Err(StoreError::UniqueViolation(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Uses `link` (held by [`held`]) and switches `user` to the address `email` (when valid and
/// free), in the caller's transaction; what stopped it otherwise.
fn follow(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    link: &LinkRow,
    user: &UserRow,
    email: Option<Email>,
) -> Result<Result<Email, Followed>, StoreError> {
    if !links::use_once(conn, Tenant::of(m.tenant), &link.token_hash, m.now)? {
        return Ok(Err(Followed::Expired));
    }
    Ok(match email {
        Some(email) if switch(m, conn, user, &email)? => Ok(email),
        _ => Err(Followed::Taken),
    })
}

/// Confirms the new address: switches to it and mails the old one a notice with an undo link,
/// in one transaction. `session` is the confirming browser's session cookie: the new address's
/// one old account joins the account only when that browser is signed in to it.
pub fn confirm(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    mails: &Mails,
    language: Language,
    (token, session): (&str, Option<&str>),
) -> Result<Followed, FlowError> {
    store::write_transaction(conn, |conn| {
        let Some((link, user)) = held(m, conn, CONFIRM, token)? else {
            return Ok(Followed::Expired);
        };
        let email = free(m, conn, &user, link.email.as_deref())?;
        let new = match follow(m, conn, &link, &user, email)? {
            Ok(new) => new,
            Err(stopped) => return Ok(stopped),
        };
        let tenant = Tenant::of(m.tenant);
        // Links mailed before the change (a reset, another confirmation, a linker link) could
        // still act on the account from the old address: void them. Undo links stay: they are
        // the old address's owner's way back if this change was not theirs.
        links::void_all_for_user(conn, tenant, &user.id, &[UNDO], m.now)?;
        m.audit("email.changed")
            .user(user.id.as_str())
            .record(conn)?;
        // No second subject for an old account's address: the link proved the address, as the
        // linker's own link does, so its one unbound old account joins this one. Several (a
        // shared address) wait on the account page for the resident to choose. The undo link
        // remembers it: an undo unbinds it (`ways_back.rs`). An authority account is proven by
        // its old password only, never by a mailbox (`linker::route`): it is left unbound.
        //
        // Only in a browser signed in to the account: anyone signed in can ask to move their
        // account to a stranger's address, and the stranger who confirms it (the page cannot say
        // whose account asked) must not hand the account their old account's history too. From
        // another browser the address switches and the old account waits on the account page,
        // linkable by its old password or by a link mailed to the address.
        let signed_in = session::current(conn, tenant, session, m.now)?
            .is_some_and(|(_, signed_in)| signed_in.id == user.id);
        let legacy: Vec<_> = if signed_in {
            legacy::unlinked_by_email(conn, tenant, new.normalized())?
        } else {
            Vec::new()
        }
        .into_iter()
        .filter(|account| !account.is_authority)
        .collect();
        let bound = match legacy.as_slice() {
            [only] if bind_to_user(m, conn, only, &user, "email_change")? => Some(Bound {
                account: only.id.clone(),
                exported: only.exported_email_normalized.clone(),
                hash: only.password_hash.clone(),
            }),
            _ => None,
        };
        if let Some(old) = user.email.clone() {
            let undo = secret::random_token();
            let change = Change {
                new: new.as_entered().to_string(),
                seq: ways_back::next_seq(m, conn, &user.id)?,
                bound,
                refused_at: None,
            };
            let row = LinkRow {
                payload: Some(change.json()),
                expires_at: m.now + Duration::days(UNDO_DAYS),
                ..link_row(m, UNDO, &undo, &user, &old)
            };
            links::insert(conn, &row)?;
            let mut context = mail_link::link_context(m, &["email", "undo"], &undo)?;
            context.insert("new_email", new.as_entered());
            let language = crate::flows::notice::owner_language(m, &user, language);
            let rendered = mail_link::render(mails, "email_changed", language, &context)?;
            let about = (m.tenant.id.as_str(), Some(user.id.as_str()));
            mail::enqueue(conn, about, "email_changed", &old, &rendered, m.now)?;
        }
        Ok(Followed::Done(new.as_entered().to_string()))
    })
}

/// Restores the old address and ends every session of the account (someone else may hold one),
/// and what the changes made since left to whoever made them (`ways_back.rs`): their undo links
/// and the old accounts they bound; a deletion asked for since the change (by whoever held the
/// account then: its undo link went to the new address) is undone with it.
///
/// When the old address is another account's now, nothing is switched, but everything the
/// account holds is ended all the same and the later undo links voided (whoever follows this
/// link says the change was not theirs) — once: the link remembers the refusal, and following it
/// again while the address is taken ends nothing more (whoever reads the old address's mail
/// cannot sign the account out again and again). The link stays usable, for when support has
/// freed the address.
pub fn undo(m: &Minter<'_>, conn: &mut DbConnection, token: &str) -> Result<Followed, FlowError> {
    store::write_transaction(conn, |conn| {
        let Some((link, user)) = held(m, conn, UNDO, token)? else {
            return Ok(Followed::Expired);
        };
        let Some(old) = free(m, conn, &user, link.email.as_deref())? else {
            // Read again now that the row is held: a concurrent undo may have used or voided it.
            if mail_link::find_link(m, conn, UNDO, token)?.is_none() {
                return Ok(Followed::Expired);
            }
            let mut change = Change::of(&link);
            if change.refused_at.is_some() {
                return Ok(Followed::Refused);
            }
            change.refused_at = Some(m.now);
            links::set_payload(conn, Tenant::of(m.tenant), &link.token_hash, &change.json())?;
            end_everything(m, conn, &user)?;
            ways_back::end_later(m, conn, &user, &link, false)?;
            m.audit("email.change_undo_refused")
                .user(user.id.as_str())
                .detail(&json!({ "reason": "address_taken" }))
                .record(conn)?;
            return Ok(Followed::Refused);
        };
        let old = match follow(m, conn, &link, &user, Some(old))? {
            Ok(old) => old,
            Err(stopped) => return Ok(stopped),
        };
        end_everything(m, conn, &user)?;
        ways_back::end_later(m, conn, &user, &link, true)?;
        let since = (link.created_at, old.normalized());
        deletion::undo::cancel_since(m, conn, &user.id, since, "email_change_undo")?;
        m.audit("email.change_undone")
            .user(user.id.as_str())
            .record(conn)?;
        Ok(Followed::Done(old.as_entered().to_string()))
    })
}
