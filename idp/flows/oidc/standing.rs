//! A login starts its session only while its account is as the login proved it, and a session
//! that a recovery ends gets nothing written in it after: a recovery that commits while a login
//! or a request of a session is under way is not outrun by it (docs/security.md, "A login checked
//! before a recovery does not finish after it").
//!
//! A recovery (`logout::end_everything`: a reset, "sign out everywhere", the undo of a change of
//! address, support's reset of the second factor, a deletion) ends the sessions, grants and
//! pending logins that exist when its statements run. Two ways a login could still end after it
//! with a fresh session:
//!
//! - **The password login's three steps** (`login.rs`): `prepare` reads the account, the check
//!   hashes the password in the pool (milliseconds, seconds when the pool is queued), `finish`
//!   starts the session. A recovery or a change of password can commit in between. So `prepare`
//!   keeps the account's [`Standing`] — its password hash and its epoch (`store/epochs.rs`,
//!   advanced by every recovery) — and `finish` starts the session only when [`Standing::still`]
//!   finds, with the account's row held, the account able to log in and both unchanged.
//! - **Transactions side by side on PostgreSQL** (READ COMMITTED): a login's session inserted
//!   but not yet committed is invisible to a recovery's `live_for_user`. So both hold the
//!   account's row ([`hold`], `store::users::lock`: `SELECT … FOR UPDATE`) before they write
//!   anything of the account's: the recovery first thing, a login before it writes its session
//!   (`steps.rs`) and, where it proves something the recovery would end (a passkey, a one-time
//!   code, a mailed link), before that. Whichever holds it first commits first; the other then
//!   reads what it committed. SQLite's writers take turns, so there a recovery and a login's
//!   transaction never overlap.
//!
//! The same holds for what is written in a session that already exists, which a recovery ends:
//! a request that read the session as live, then wrote after the recovery committed, would
//! outlive it. So such writes read the session again in their own write transaction, after the
//! account's row is held (on SQLite, inside the writers' turn), and write nothing when it ended:
//!
//! - **A code in an existing session** — single sign-on at `/authorize`, the consent page's
//!   answer, the answer to the passkey offer: `session::held` holds the row as it looks up the
//!   session's user (no statement more than the plain read) and reads the session after it,
//!   before the session's use is recorded (that update after the row, as a recovery's end of the
//!   session is, or the two would deadlock) and before the pending request is taken. A session
//!   gone is answered as none: the login (`login_required` for `prompt=none`), or "expired".
//!   The token endpoint refuses a code whose grant ends with its session once that session has
//!   ended, in case whatever ended it did not see the grant (a logout holds no row).
//! - **A change on the account page** (`flows::account::signed_in`): every change runs in one
//!   write transaction that holds the row and reads the session again; gone, it changes nothing
//!   and the page sends the browser to the login.

use crate::store::users::{self, UserRow};
use crate::store::{DbConnection, StoreError, Tenant, epochs};

/// What a login's first step read of its account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// The password hash the password is checked against.
    password_hash: Option<String>,
    /// How many times everything the account held had been ended.
    epoch: i64,
}

impl Standing {
    /// The standing of `user` (as just read) of `tenant`.
    pub fn of(
        conn: &mut DbConnection,
        tenant: Tenant<'_>,
        user: &UserRow,
    ) -> Result<Standing, StoreError> {
        Ok(Standing {
            password_hash: user.password_hash.clone(),
            epoch: epochs::current(conn, tenant, &user.id)?,
        })
    }

    /// The user `user_id` of `tenant` as it is now, held for the rest of the caller's write
    /// transaction ([`hold`]), when it may still log in and its standing is still this one;
    /// `None` when it was disabled (a deletion) or removed, its password changed, or everything
    /// it held was ended since.
    pub fn still(
        &self,
        conn: &mut DbConnection,
        tenant: Tenant<'_>,
        user_id: &str,
    ) -> Result<Option<UserRow>, StoreError> {
        let Some(user) = hold(conn, tenant, user_id)? else {
            return Ok(None);
        };
        let now = Standing::of(conn, tenant, &user)?;
        Ok((now == *self).then_some(user))
    }
}

/// Holds the row of the user `user_id` of `tenant` for the rest of the caller's write
/// transaction (`store::users::lock`) and reads it afresh: the user, when it may still log in
/// (not disabled: a deletion disables it; not removed).
pub fn hold(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user_id: &str,
) -> Result<Option<UserRow>, StoreError> {
    Ok(users::lock(conn, tenant, user_id)?.filter(|u| !u.disabled))
}
