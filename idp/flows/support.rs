//! Support's recovery of an account from the command line (`idp users end-sessions`): everything
//! the account holds ended, as "sign out everywhere" or a password reset ends it, and the
//! password forgotten on request, so that its owner sets a new one through "forgot password".
//!
//! For two cases: a resident who calls because someone else may be in the account, and a
//! restore, which brings back what a resident ended after the backup was taken — the sessions
//! and grants a reset, "sign out everywhere" or the undo of a change of address ended, and the
//! password a reset replaced (docs/operations.md, "After a restore").

use serde_json::json;

use crate::flows::context::Minter;
use crate::flows::oidc::logout::end_everything;
use crate::store::users::{self, UserRow};
use crate::store::{DbConnection, StoreError, Tenant, deletions, sessions, write_transaction};

/// What [`end_sessions`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    /// Sessions ended.
    pub sessions: usize,
    /// Whether the password was forgotten.
    pub password: bool,
}

/// Ends every session, grant, consent and pending link of `user` (`logout::end_everything`),
/// and with `forget_password` its password too, in one transaction; audited as
/// `sessions.ended_everywhere` with `{"by":"cli","sessions":n,"password_forgotten":bool}`.
/// `None` for an erased account (a tombstone, found by its subject): it holds nothing, and its
/// trail names a pseudonym, not a user.
pub fn end_sessions(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
    forget_password: bool,
) -> Result<Option<Ended>, StoreError> {
    let tenant = Tenant::of(m.tenant);
    write_transaction(conn, |conn| {
        // The row held first, as an erasure holds it: one under way ends before (its re-key
        // leaves no row under this id), or waits for this transaction.
        if users::lock(conn, tenant, &user.id)?.is_none() {
            return Ok(None);
        }
        let erased =
            deletions::find(conn, tenant, &user.id)?.is_some_and(|d| d.erased_at.is_some());
        if erased {
            return Ok(None);
        }
        let sessions = sessions::live_for_user(conn, tenant, &user.id, m.now)?.len();
        end_everything(m, conn, user)?;
        let password = forget_password && user.password_hash.is_some();
        if password {
            users::forget_password(conn, tenant, &user.id, m.now)?;
        }
        m.audit("sessions.ended_everywhere")
            .user(user.id.as_str())
            .detail(&json!({
                "by": "cli",
                "sessions": sessions,
                "password_forgotten": password,
            }))
            .record(conn)?;
        Ok(Some(Ended { sessions, password }))
    })
}
