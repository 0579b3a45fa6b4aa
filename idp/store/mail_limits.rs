//! The `mail_limit_events` table: one row per mail and limit it counted against, so that the limits
//! on mail that anyone can trigger hold across nodes.
//!
//! Counting and checking are one step: [`count_mail`] runs inside a write transaction
//! ([`super::write_transaction`]). On SQLite that transaction holds the database's write lock
//! (`BEGIN IMMEDIATE`), so writers take turns. On PostgreSQL it first takes a transaction-scoped
//! advisory lock per limit key, in a fixed order, so that parallel requests of one key count one
//! after another; the lock goes with the commit, after which the next request's count sees the row.
//! Of parallel requests past a limit none slips through.
//!
//! A refusal is audited once per limit key and window: [`count_mail`] tells the caller whether a
//! refusal is the first of its key within the limit's window ([`Reached::first`]) and then writes
//! a row for it (`refused`), which is not a mail and is never counted against the limit. Every
//! other refusal within the window is only counted in the metrics, so that repeating a refused
//! request adds nothing to the recipient's audit trail.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::mail_limit_events;
use super::{DbConnection, Result, Tenant};

/// The class of the advisory locks of mail limits (the first of the two-integer lock key; the
/// clean-up's and the migrations' locks use the one-integer space, which does not overlap).
const MAIL_LIMIT_LOCK_CLASS: i32 = 0x1d9_0003;

/// The budgets of a recipient address, each limited on its own (`[mail_limits] per_address`).
///
/// Forgot password has one of its own: only forgot-password requests spend it, and every one of
/// them for an enabled account mails that account a working reset link. Whoever fills it (three
/// requests in 15 minutes by default) thus fills the owner's mailbox with links that let the owner
/// in; nothing else anyone can cause (a registration's "you have an account" notice) can refuse
/// the owner's own reset. A change of address has one too: a signed-in resident asking to move
/// their address to an account's address mails nothing there, and spends only that budget, not
/// the one of the mail the owner asks for (the account page's link to bind an old account).
/// Each budget is spent by what one form asks for, never by whether the address has an account,
/// so none tells an asker more than the single budget did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// Forgot-password requests, in every case (an account, old accounts only, nothing).
    Forgot,
    /// Changes of address to it, in every case (another account's address, or a free one).
    AddressChange,
    /// Every other mail anyone can cause to the address.
    Shared,
}

impl Budget {
    /// Every budget, for the erasure of an address's counts.
    pub const ALL: [Self; 3] = [Self::Forgot, Self::AddressChange, Self::Shared];

    /// The limit key of the normalised `address` in this budget: a hash, never the address.
    pub fn key(self, address: &str) -> String {
        let prefix = match self {
            Self::Forgot => "forgot",
            Self::AddressChange => "change",
            Self::Shared => "to",
        };
        crate::crypto::secret::hash(&format!("{prefix}:{address}"))
    }
}

/// One limit a mail counts against.
#[derive(Debug, Clone, Copy)]
pub struct Limit<'a> {
    /// What is counted: a hash of the recipient or of the client address, never either in clear.
    pub key: &'a str,
    /// At most this many mails…
    pub max: i64,
    /// …since then.
    pub since: NaiveDateTime,
}

/// A limit reached: the mail must not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reached {
    /// The index of the first limit reached, in the caller's list.
    pub index: usize,
    /// Whether this is the first refusal of the limit's key within its window (the one to
    /// audit); its row is written.
    pub first: bool,
}

#[derive(Insertable)]
#[diesel(table_name = mail_limit_events)]
struct NewEvent<'a> {
    tenant_id: &'a str,
    limit_key: &'a str,
    occurred_at: NaiveDateTime,
    /// A refusal, not a mail.
    refused: bool,
}

/// The advisory lock of a key: 32 bits of its hash (a collision only makes two keys wait for each
/// other).
fn lock_key(key: &str) -> i32 {
    let digest = crate::crypto::secret::hash(key);
    let prefix = u32::from_str_radix(digest.get(..8).unwrap_or("0"), 16).unwrap_or(0);
    i32::from_ne_bytes(prefix.to_ne_bytes())
}

/// The name of a limit key of `tenant` in the node's gate and turns (`store/gate.rs`): each city's
/// requests of a key have their own (the lock in the database, shared, is only waited for).
pub fn turn_of(tenant: Tenant<'_>, key: &str) -> String {
    format!("mail-limit:{}:{}", tenant.id(), lock_key(key))
}

/// Counts one mail of `tenant` against every limit, unless one of them is reached already: then
/// no mail is counted, and the first limit reached is returned, with whether this is the first
/// refusal of its key within its window (then recorded as such). Call it inside a write
/// transaction (see the module's documentation).
pub fn count_mail(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    limits: &[Limit<'_>],
    now: NaiveDateTime,
) -> Result<Option<Reached>> {
    if let DbConnection::Postgres(pg) = conn {
        // Not waited for while two other requests of this node are (`gate.rs`): then refused as
        // past the limit, unaudited (the page says the same; nothing is written).
        let gated: Vec<String> = limits.iter().map(|l| turn_of(tenant, l.key)).collect();
        if let Err(super::gate::Crowded(index)) = super::gate::enter(&gated) {
            return Ok(Some(Reached {
                index,
                first: false,
            }));
        }
        let mut locks: Vec<i32> = limits.iter().map(|l| lock_key(l.key)).collect();
        locks.sort_unstable();
        locks.dedup();
        for lock in locks {
            diesel::sql_query(format!(
                "SELECT pg_advisory_xact_lock({MAIL_LIMIT_LOCK_CLASS}, {lock})"
            ))
            .execute(pg)?;
        }
    }
    for (index, limit) in limits.iter().enumerate() {
        let window = || {
            mail_limit_events::table
                .filter(mail_limit_events::tenant_id.eq(tenant.id()))
                .filter(mail_limit_events::limit_key.eq(limit.key))
                .filter(mail_limit_events::occurred_at.gt(limit.since))
        };
        let counted: i64 = window()
            .filter(mail_limit_events::refused.eq(false))
            .count()
            .get_result(conn)?;
        if counted >= limit.max {
            let refused_before: bool = diesel::select(diesel::dsl::exists(
                window().filter(mail_limit_events::refused.eq(true)),
            ))
            .get_result(conn)?;
            if !refused_before {
                insert(conn, tenant, limit, now, true)?;
            }
            return Ok(Some(Reached {
                index,
                first: !refused_before,
            }));
        }
    }
    add_mail(conn, tenant, limits, now)?;
    Ok(None)
}

/// Writes one row of `limit`'s key: a mail, or a refusal (`refused`).
fn insert(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    limit: &Limit<'_>,
    now: NaiveDateTime,
    refused: bool,
) -> Result<()> {
    let event = NewEvent {
        tenant_id: tenant.id(),
        limit_key: limit.key,
        occurred_at: now,
        refused,
    };
    super::rows::insert(conn, mail_limit_events::table, &event)
}

/// Counts one mail of `tenant` against every limit whether or not one is reached already: for
/// the mail that is never refused (`flows::mail_limit::count`). Call it inside a write
/// transaction, as [`count_mail`].
pub fn add_mail(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    limits: &[Limit<'_>],
    now: NaiveDateTime,
) -> Result<()> {
    for limit in limits {
        insert(conn, tenant, limit, now, false)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::lock_key;

    #[test]
    fn lock_keys_are_stable_and_differ() {
        assert_eq!(lock_key("a"), lock_key("a"));
        assert_ne!(lock_key("a"), lock_key("b"));
    }
}
