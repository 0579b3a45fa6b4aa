//! The undo of a deletion, from the link mailed with the request: the account is as it was
//! before (enabled, unless it was disabled then), its sessions and grants are not restored, and
//! `account.deletion_undone` is audited.

use chrono::NaiveDateTime;
use serde_json::json;

use super::request::UNDO;
use crate::flows::context::Minter;
use crate::flows::error::FlowError;
use crate::flows::mail_link;
use crate::store::{self, DbConnection, StoreError, Tenant, deletions, users};

/// What following the undo link led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undone {
    /// The account is back.
    Done,
    /// The link is unknown, expired or used, or the deletion is no longer pending.
    Expired,
}

/// When the account of a usable undo link `token` would be erased; `None` when the link is
/// unknown, expired or used (the page then says so).
pub fn pending(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    token: &str,
) -> Result<Option<NaiveDateTime>, FlowError> {
    let Some(user_id) = mail_link::find_link(m, conn, UNDO, token)?.and_then(|l| l.user_id) else {
        return Ok(None);
    };
    let deletion = deletions::find(conn, Tenant::of(m.tenant), &user_id)?;
    Ok(deletion
        .filter(|d| d.erased_at.is_none())
        .map(|d| d.erase_at))
}

/// Uses the undo link `token` and brings its account back, in one transaction.
pub fn undo(m: &Minter<'_>, conn: &mut DbConnection, token: &str) -> Result<Undone, FlowError> {
    store::write_transaction(conn, |conn| {
        let Some(user_id) = mail_link::use_link(m, conn, UNDO, token)?.and_then(|l| l.user_id)
        else {
            return Ok(Undone::Expired);
        };
        Ok(if bring_back(m, conn, &user_id, None, "link")? {
            Undone::Done
        } else {
            Undone::Expired
        })
    })
}

/// Undoes the pending deletion of `user_id` if it was asked for at or after `since`, as its undo
/// link would (`by`: what undid it, for the audit trail); whether there was one. The undo of a
/// change of address gives the account back as it was before the change.
pub fn cancel_since(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user_id: &str,
    since: NaiveDateTime,
    by: &str,
) -> Result<bool, StoreError> {
    bring_back(m, conn, user_id, Some(since), by)
}

/// Cancels the pending deletion of `user_id` (one asked for at or after `since`, when given) and
/// enables the account again unless it was disabled before; audits `account.deletion_undone`.
fn bring_back(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user_id: &str,
    since: Option<NaiveDateTime>,
    by: &str,
) -> Result<bool, StoreError> {
    let tenant = Tenant::of(m.tenant);
    let pending = deletions::find(conn, tenant, user_id)?;
    if since.is_some_and(|since| pending.is_none_or(|d| d.requested_at < since)) {
        return Ok(false);
    }
    let Some(deletion) = deletions::cancel(conn, tenant, user_id)? else {
        return Ok(false);
    };
    users::set_disabled(conn, tenant, user_id, deletion.was_disabled, m.now)?;
    m.audit("account.deletion_undone")
        .user(user_id)
        .detail(&json!({ "by": by }))
        .record(conn)?;
    Ok(true)
}
