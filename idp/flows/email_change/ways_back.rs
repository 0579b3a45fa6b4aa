//! What the undo link of a change of address remembers of its change, and which of the account's
//! changes came after the one being undone.
//!
//! Someone who knows the password can change the address more than once: from the owner's A to
//! his B (the undo link goes to A), then from B to C (the undo link goes to B, his own mailbox).
//! The owner's undo gives A back; the undo links of the changes made after the undone one are the
//! intruder's ways back into the account and are voided with it, and the old accounts those
//! changes bound are unbound. The earlier links stay: they belong to changes made before, by
//! whoever held the account then, and the owner's own way back is always older than the changes
//! made after the account was taken from him, so nothing the intruder follows can void it.
//!
//! The order is a number each change takes when it is confirmed (one more than the highest among
//! the account's undo links still stored), not a time: the nodes' clocks need not agree, and two
//! changes in one clock tick still differ. Links written before the number was kept have 0 and
//! are ordered by when they were sent.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use super::request::UNDO;
use crate::flows::context::Minter;
use crate::flows::linker::bind::unbind_from_user;
use crate::store::links::{self, LinkRow};
use crate::store::users::UserRow;
use crate::store::{DbConnection, StoreError, Tenant};

/// What an undo link's payload holds of its change.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct Change {
    /// The address the change switched to.
    pub new: String,
    /// The change's place among the account's changes of address (module documentation).
    #[serde(default)]
    pub seq: i64,
    /// The old account the change bound at the new address, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound: Option<Bound>,
    /// When the undo was first refused because the old address had become another account's
    /// (`follow::undo`): the refusal that ended everything the account held; the ones after it
    /// end nothing again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused_at: Option<NaiveDateTime>,
}

/// An old account a change of address bound.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Bound {
    /// The old account's internal id.
    pub account: String,
    /// The address its export gave before the binding forgot it (`exported_email_normalized`).
    pub exported: Option<String>,
    /// Its old hash, which the binding forgot (`legacy::link`): the undo gives it back, for the
    /// old account's own first login. Kept here only as long as the undo link lives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
}

impl Change {
    /// What the undo link `link` remembers; a link without a readable payload remembers nothing
    /// but when it was sent.
    pub(super) fn of(link: &LinkRow) -> Change {
        link.payload
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok())
            .unwrap_or_default()
    }

    /// The payload to store.
    pub fn json(&self) -> String {
        serde_json::json!(self).to_string()
    }
}

/// Where the change of the undo link `link` stands among the account's changes.
fn order(link: &LinkRow, change: &Change) -> (i64, NaiveDateTime) {
    (change.seq, link.created_at)
}

/// Every undo link of a change of address of the user `user_id`, used or not.
fn undo_links(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user_id: &str,
) -> Result<Vec<LinkRow>, StoreError> {
    let all = links::of_user(conn, Tenant::of(m.tenant), user_id)?;
    Ok(all.into_iter().filter(|l| l.purpose == UNDO).collect())
}

/// The number the next change of address of the user `user_id` takes.
pub(super) fn next_seq(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user_id: &str,
) -> Result<i64, StoreError> {
    let stored = undo_links(m, conn, user_id)?;
    let highest = stored.iter().map(|l| Change::of(l).seq).max();
    Ok(highest.unwrap_or(0) + 1)
}

/// Ends the ways back of the changes of `user`'s address made after the one the undo link `link`
/// undoes: their undo links voided (never `link` itself); with `unbind`, the old accounts that
/// change and those after it bound are unbound (`legacy.unlinked`, `by`: `email_change_undo`).
pub(super) fn end_later(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
    link: &LinkRow,
    unbind: bool,
) -> Result<(), StoreError> {
    let tenant = Tenant::of(m.tenant);
    let undone = order(link, &Change::of(link));
    let since: Vec<(LinkRow, Change)> = undo_links(m, conn, &user.id)?
        .into_iter()
        .map(|l| {
            let change = Change::of(&l);
            (l, change)
        })
        .filter(|(l, change)| order(l, change) >= undone)
        .collect();
    let later: Vec<&str> = since
        .iter()
        .map(|(l, _)| l.token_hash.as_str())
        .filter(|hash| *hash != link.token_hash)
        .collect();
    links::void_these(conn, tenant, &later, m.now)?;
    if unbind {
        for bound in since.iter().filter_map(|(_, change)| change.bound.as_ref()) {
            let exported = (bound.exported.as_deref(), bound.hash.as_deref());
            unbind_from_user(m, conn, &bound.account, user, exported, "email_change_undo")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration};

    use super::{Change, UNDO, order};
    use crate::store::links::LinkRow;

    /// An undo link sent `seconds` into the test's day, of the change numbered `seq` (`None`: a
    /// link written before the number was kept, with only the new address).
    fn undo_link(seconds: i64, seq: Option<i64>) -> (LinkRow, Change) {
        let at = DateTime::from_timestamp(1_800_000_000 + seconds, 0)
            .unwrap()
            .naive_utc();
        let payload = match seq {
            Some(seq) => serde_json::json!({ "new": "b@testi.fi", "seq": seq }),
            None => serde_json::json!({ "new": "b@testi.fi" }),
        };
        let link = LinkRow {
            token_hash: format!("{seconds}"),
            tenant_id: "t".into(),
            purpose: UNDO.into(),
            user_id: Some("u".into()),
            legacy_account_id: None,
            email: Some("a@testi.fi".into()),
            auth_request_id: None,
            payload: Some(payload.to_string()),
            created_at: at,
            expires_at: at + Duration::days(14),
            used_at: None,
        };
        let change = Change::of(&link);
        (link, change)
    }

    #[test]
    fn changes_are_ordered_by_their_number_not_by_the_nodes_clocks() {
        let (first, first_change) = undo_link(10, Some(1));
        // Confirmed after the first on a node whose clock is a second behind.
        let (second, second_change) = undo_link(9, Some(2));
        assert!(order(&second, &second_change) > order(&first, &first_change));
        // Links written before the number was kept come first, in the order they were sent.
        let (older, older_change) = undo_link(5, None);
        let (old, old_change) = undo_link(3, None);
        assert_eq!(older_change.seq, 0);
        assert!(order(&older, &older_change) > order(&old, &old_change));
        assert!(order(&first, &first_change) > order(&older, &older_change));
    }
}
