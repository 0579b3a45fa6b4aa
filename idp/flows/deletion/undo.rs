//! The undo of a deletion, from the link mailed with the request: the account is as it was
//! before (enabled, unless it was disabled then), its sessions and grants are not restored, and
//! `account.deletion_undone` is audited. A link undoes only the deletion it was mailed for, and
//! every undo voids the deletion's undo links: whoever held the account when a deletion was
//! asked for (someone who had moved it to his own address) cannot use that deletion's link to
//! cancel a later one, its owner's own.

use chrono::NaiveDateTime;
use serde_json::json;

use super::request::UNDO;
use crate::domain::lookup_key;
use crate::flows::context::Minter;
use crate::flows::error::FlowError;
use crate::flows::mail_link;
use crate::store::deletions::{self, DeletionRow};
use crate::store::{self, DbConnection, StoreError, Tenant, links, users};

/// What following the undo link led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undone {
    /// The account is back.
    Done,
    /// The link is unknown, expired or used, or the deletion is no longer pending.
    Expired,
}

/// When the account of a usable undo link `token` would be erased; `None` when the link is
/// unknown, expired or used, or its deletion is no longer the pending one (the page then says
/// so).
pub fn pending(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    token: &str,
) -> Result<Option<NaiveDateTime>, FlowError> {
    let Some(link) = mail_link::find_link(m, conn, UNDO, token)? else {
        return Ok(None);
    };
    let Some(user_id) = link.user_id.as_deref() else {
        return Ok(None);
    };
    let deletion = deletions::find(conn, Tenant::of(m.tenant), user_id)?;
    Ok(deletion
        .filter(|d| d.erased_at.is_none() && Asked::At(link.created_at).covers(d))
        .map(|d| d.erase_at))
}

/// Uses the undo link `token` and brings its account back, in one transaction: only from the
/// deletion the link was mailed for.
pub fn undo(m: &Minter<'_>, conn: &mut DbConnection, token: &str) -> Result<Undone, FlowError> {
    store::write_transaction(conn, |conn| {
        let Some(link) = mail_link::use_link(m, conn, UNDO, token)? else {
            return Ok(Undone::Expired);
        };
        let Some(user_id) = link.user_id.as_deref() else {
            return Ok(Undone::Expired);
        };
        Ok(
            if bring_back(m, conn, user_id, Asked::At(link.created_at), "link")? {
                Undone::Done
            } else {
                Undone::Expired
            },
        )
    })
}

/// Undoes the pending deletion of `user_id` if it was asked for since a change of address that
/// is being undone, as its undo link would (`by`: what undid it, for the audit trail); whether
/// there was one. The undo of a change of address gives the account back as it was before the
/// change.
///
/// "Since the change": asked at or after `since` (the change's confirmation), or its undo link
/// mailed to another address than `restored` (the one the undo gives back). A deletion asked for
/// after the change mailed its link to the new address even when the node that took it had a
/// clock behind the one that confirmed the change; one asked before, to the restored address.
pub fn cancel_since(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user_id: &str,
    (since, restored): (NaiveDateTime, &str),
    by: &str,
) -> Result<bool, StoreError> {
    bring_back(m, conn, user_id, Asked::Since(since, restored), by)
}

/// Undoes the pending deletion of `user_id`, whichever it is, as support does it (`by`: what
/// undid it, for the audit trail): after a restore, a deletion its owner undid after the backup
/// is pending again (docs/operations.md, "After a restore"). Whether there was one.
pub fn cancel_pending(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user_id: &str,
    by: &str,
) -> Result<bool, StoreError> {
    store::write_transaction(conn, |conn| bring_back(m, conn, user_id, Asked::Any, by))
}

/// Which deletion an undo may cancel.
#[derive(Debug, Clone, Copy)]
enum Asked<'a> {
    /// Whichever is pending ([`cancel_pending`]).
    Any,
    /// The one asked for at this moment: an undo link is written in the request's transaction,
    /// so its `created_at` is its deletion's `requested_at`. A link mailed for a deletion that
    /// was undone never cancels one asked for later.
    At(NaiveDateTime),
    /// One asked for since a change of address: at or after this moment, or with its undo link
    /// mailed elsewhere than this address (normalised) ([`cancel_since`]).
    Since(NaiveDateTime, &'a str),
}

impl Asked<'_> {
    /// Whether `deletion` is the one by its time.
    fn covers(self, deletion: &DeletionRow) -> bool {
        match self {
            Asked::Any => true,
            Asked::At(at) => deletion.requested_at == at,
            Asked::Since(since, _) => deletion.requested_at >= since,
        }
    }

    /// Whether `deletion`, asked for since a change of address by a clock behind the change's,
    /// is the one all the same: its undo link went elsewhere than the address restored.
    fn mailed_elsewhere(
        self,
        conn: &mut DbConnection,
        tenant: Tenant<'_>,
        deletion: &DeletionRow,
    ) -> Result<bool, StoreError> {
        let Asked::Since(_, restored) = self else {
            return Ok(false);
        };
        Ok(links::of_user(conn, tenant, &deletion.user_id)?
            .iter()
            .filter(|l| l.purpose == UNDO && l.created_at == deletion.requested_at)
            .filter_map(|l| l.email.as_deref())
            .any(|to| lookup_key(to) != restored))
    }
}

/// Cancels the pending deletion of `user_id` when it is the one `asked` names, enables the account
/// again unless it was disabled before, voids every undo link of the account's deletion (none
/// outlives the deletion it was mailed for) and audits `account.deletion_undone`.
fn bring_back(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user_id: &str,
    asked: Asked,
    by: &str,
) -> Result<bool, StoreError> {
    let tenant = Tenant::of(m.tenant);
    let Some(pending) = deletions::find(conn, tenant, user_id)? else {
        return Ok(false);
    };
    if !asked.covers(&pending) && !asked.mailed_elsewhere(conn, tenant, &pending)? {
        return Ok(false);
    }
    let Some(deletion) = deletions::cancel(conn, tenant, user_id)? else {
        return Ok(false);
    };
    users::set_disabled(conn, tenant, user_id, deletion.was_disabled, m.now)?;
    links::void_for_user(conn, tenant, user_id, UNDO, m.now)?;
    m.audit("account.deletion_undone")
        .user(user_id)
        .detail(&json!({ "by": by }))
        .record(conn)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration, NaiveDateTime};

    use super::{Asked, DeletionRow};

    /// A pending deletion asked for at `at`.
    fn asked_at(at: NaiveDateTime) -> DeletionRow {
        DeletionRow {
            user_id: "u".into(),
            tenant_id: "t".into(),
            requested_at: at,
            erase_at: at + Duration::days(30),
            was_disabled: false,
            requested_by: "resident".into(),
            erased_at: None,
        }
    }

    #[test]
    fn an_undo_link_cancels_only_the_deletion_it_was_mailed_for() {
        let mailed = DateTime::from_timestamp(1_800_000_000, 0)
            .unwrap()
            .naive_utc();
        let later = mailed + Duration::days(3);
        assert!(Asked::At(mailed).covers(&asked_at(mailed)));
        assert!(!Asked::At(mailed).covers(&asked_at(later)));
        assert!(!Asked::At(later).covers(&asked_at(mailed)));
        // The undo of a change of address: any deletion asked for since the change.
        assert!(Asked::Since(mailed, "a@testi.fi").covers(&asked_at(later)));
        assert!(!Asked::Since(later, "a@testi.fi").covers(&asked_at(mailed)));
    }
}
