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
//!
//! The changes that add to the account's audit trail without a password check (a name, a passkey
//! added or renamed, the data downloaded, a change of address asked for, a one-time code set up,
//! recovery codes renewed, an old account's link mailed) are [`Counted`]: with the user's row held,
//! the gate counts the events of [`COUNTED_KINDS`] the account has had in the last hour, and at
//! `[limits] account_changes_per_hour` it refuses the change ([`Ran::TooMany`]). Without it one
//! script with a resident's cookie could write a million rows an hour into the trail, which the
//! export reads whole and the erasure rewrites in one statement. What ends or removes (sessions,
//! an e-service's access, a passkey), the password and the deletion are never counted nor refused:
//! an intruder who spends the allowance cannot keep the owner from taking the account back, and
//! each of them is bounded by what was added before or by the password's hashing.

use chrono::TimeDelta;

use crate::flows::context::Minter;
use crate::flows::oidc::standing::hold;
use crate::store::{self, DbConnection, StoreError, Tenant, audit, sessions};
use crate::telemetry::metrics::Counted as Metric;

/// The events a [`Counted`] change writes, which count against `[limits]
/// account_changes_per_hour` (`legacy.link_sent` only where it names the user: the account
/// page's; `passkey.added` and `second_factor.enrolled` of a login's offer count too).
pub const COUNTED_KINDS: [&str; 8] = [
    "user.name_changed",
    "passkey.added",
    "passkey.renamed",
    "account.exported",
    "email.change_requested",
    "second_factor.enrolled",
    "second_factor.recovery_codes_renewed",
    "legacy.link_sent",
];

/// The `Retry-After` of a change refused past the allowance: within the hour the oldest counted
/// change leaves the window.
pub const TOO_MANY_CHANGES_RETRY_SECONDS: i64 = 3600;

/// Whether a change counts against `[limits] account_changes_per_hour`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// It adds to the trail without a password check: counted, refused past the allowance.
    Yes,
    /// It ends, removes, or checks the password: never refused.
    No,
}

/// How a change of the account page ran.
#[derive(Debug)]
pub enum Ran<T> {
    /// Made: what it made.
    Done(T),
    /// Nothing done: the session is no longer live, or the user is disabled or removed.
    SignedOut,
    /// Nothing done: a [`Counted`] change past `[limits] account_changes_per_hour`.
    TooMany,
}

/// Runs `change`, a change of the account page asked for by the session `session_id` of the user
/// `user_id`, in one write transaction that first holds the user's row and then reads the session
/// again: [`Ran::Done`] with what `change` made; [`Ran::SignedOut`] — nothing done — when the user
/// was disabled or removed, or the session is no longer one of the user's live sessions (ended by
/// a recovery, a logout, or expired meanwhile); [`Ran::TooMany`] — nothing done, counted in the
/// metrics — when the change is [`Counted`] and the account has had `[limits]
/// account_changes_per_hour` events of [`COUNTED_KINDS`] in the last hour.
pub fn while_signed_in<T, E>(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    (user_id, session_id): (&str, &str),
    counted: Counted,
    change: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<Ran<T>, E>
where
    E: From<StoreError>,
{
    store::write_transaction(conn, |conn| {
        let tenant = Tenant::of(m.tenant);
        if hold(conn, tenant, user_id)?.is_none() {
            return Ok(Ran::SignedOut);
        }
        if sessions::live_of_user(conn, tenant, session_id, user_id, m.now)?.is_none() {
            return Ok(Ran::SignedOut);
        }
        if counted == Counted::Yes && spent(m, conn, user_id)? {
            m.tally.note(Metric::ChangeRefused);
            return Ok(Ran::TooMany);
        }
        change(conn).map(Ran::Done)
    })
}

/// Whether the user `user_id` has made `[limits] account_changes_per_hour` counted changes in the
/// hour before `m.now` (the user's row held by the caller, so that changes in parallel count one
/// after another and none slips past the allowance).
fn spent(m: &Minter<'_>, conn: &mut DbConnection, user_id: &str) -> Result<bool, StoreError> {
    let allowance = m.config.settings.limits.account_changes_per_hour;
    let since = m.now - TimeDelta::hours(1);
    let at_most = i64::try_from(allowance).unwrap_or(i64::MAX);
    let whose = (user_id, COUNTED_KINDS.as_slice());
    let made = audit::count_recent(conn, Tenant::of(m.tenant), whose, since, at_most)?;
    Ok(u64::try_from(made).unwrap_or(u64::MAX) >= allowance)
}
