//! A change on the account page commits only while the session that asked for it is live
//! (docs/security.md, "A login checked before a recovery does not finish after it": "Nothing
//! written in a session after a recovery ended it").
//!
//! The page's `SignedIn` extractor reads the session in a transaction of its own; the handler
//! then checks a password in the hashing pool (milliseconds, seconds when the pool is queued)
//! and runs its flow in another. A recovery (`logout::end_everything`: a reset, "sign out
//! everywhere", the undo of a change of address, support's reset of the second factor, a
//! deletion) that ends the session in between would be outrun by the change: an intruder's
//! change of address to his own mailbox, his new password or passkey, landing after the
//! resident took the account back. So every change of the account page runs in
//! [`while_signed_in`]: one write transaction that first holds the user's row, as a recovery
//! does (`standing::hold`), and reads the session again. Whichever holds the row first commits
//! first; a change that comes second finds the session ended and does nothing.

use crate::flows::context::Minter;
use crate::flows::oidc::standing::hold;
use crate::store::{self, DbConnection, StoreError, Tenant, sessions};

/// Runs `change`, a change of the account page asked for by the session `session_id` of the user
/// `user_id`, in one write transaction that first holds the user's row and then reads the session
/// again: `Some` of what `change` made, or `None` — and nothing done — when the user was disabled
/// or removed, or the session is no longer one of the user's live sessions (ended by a recovery,
/// a logout, or expired meanwhile).
pub fn while_signed_in<T, E>(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    (user_id, session_id): (&str, &str),
    change: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<Option<T>, E>
where
    E: From<StoreError>,
{
    store::write_transaction(conn, |conn| {
        let tenant = Tenant::of(m.tenant);
        if hold(conn, tenant, user_id)?.is_none() {
            return Ok(None);
        }
        if sessions::live_of_user(conn, tenant, session_id, user_id, m.now)?.is_none() {
            return Ok(None);
        }
        change(conn).map(Some)
    })
}
