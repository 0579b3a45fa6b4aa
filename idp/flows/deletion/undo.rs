//! The undo of a deletion, from the link mailed with the request: the account is as it was
//! before (enabled, unless it was disabled then), its sessions and grants are not restored, and
//! `account.deletion_undone` is audited.

use chrono::NaiveDateTime;

use super::request::UNDO;
use crate::flows::context::Minter;
use crate::flows::error::FlowError;
use crate::flows::mail_link;
use crate::store::{self, DbConnection, Tenant, deletions, users};

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
        let tenant = Tenant::of(m.tenant);
        let Some(user_id) = mail_link::use_link(m, conn, UNDO, token)?.and_then(|l| l.user_id)
        else {
            return Ok(Undone::Expired);
        };
        let Some(deletion) = deletions::cancel(conn, tenant, &user_id)? else {
            return Ok(Undone::Expired);
        };
        users::set_disabled(conn, tenant, &user_id, deletion.was_disabled, m.now)?;
        m.audit("account.deletion_undone")
            .user(user_id.as_str())
            .record(conn)?;
        Ok(Undone::Done)
    })
}
