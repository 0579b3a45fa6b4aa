//! The `mail_limit_events` table: one row per mail and limit it counted against, so that the limits
//! on mail that anyone can trigger hold across nodes.
//!
//! Counting and checking are one step: [`count_mail`] runs inside a write transaction
//! ([`super::write_transaction`]). On SQLite that transaction holds the database's write lock
//! (`BEGIN IMMEDIATE`), so writers take turns. On PostgreSQL it first takes a transaction-scoped
//! advisory lock per limit key, in a fixed order, so that parallel requests of one key count one
//! after another; the lock goes with the commit, after which the next request's count sees the row.
//! Of parallel requests past a limit none slips through.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::mail_limit_events;
use super::{DbConnection, Result, Tenant};

/// The class of the advisory locks of mail limits (the first of the two-integer lock key; the
/// clean-up's and the migrations' locks use the one-integer space, which does not overlap).
const MAIL_LIMIT_LOCK_CLASS: i32 = 0x1d9_0003;

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

#[derive(Insertable)]
#[diesel(table_name = mail_limit_events)]
struct NewEvent<'a> {
    tenant_id: &'a str,
    limit_key: &'a str,
    occurred_at: NaiveDateTime,
}

/// The advisory lock of a key: 32 bits of its hash (a collision only makes two keys wait for each
/// other).
fn lock_key(key: &str) -> i32 {
    let digest = crate::crypto::secret::hash(key);
    let prefix = u32::from_str_radix(digest.get(..8).unwrap_or("0"), 16).unwrap_or(0);
    i32::from_ne_bytes(prefix.to_ne_bytes())
}

/// Counts one mail of `tenant` against every limit, unless one of them is reached already: then
/// nothing is counted and the index of the first limit reached is returned. Call it inside a
/// write transaction (see the module's documentation).
pub fn count_mail(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    limits: &[Limit<'_>],
    now: NaiveDateTime,
) -> Result<Option<usize>> {
    if let DbConnection::Postgres(pg) = conn {
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
        let counted: i64 = mail_limit_events::table
            .filter(mail_limit_events::tenant_id.eq(tenant.id()))
            .filter(mail_limit_events::limit_key.eq(limit.key))
            .filter(mail_limit_events::occurred_at.gt(limit.since))
            .count()
            .get_result(conn)?;
        if counted >= limit.max {
            return Ok(Some(index));
        }
    }
    add_mail(conn, tenant, limits, now)?;
    Ok(None)
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
        let event = NewEvent {
            tenant_id: tenant.id(),
            limit_key: limit.key,
            occurred_at: now,
        };
        super::rows::insert(conn, mail_limit_events::table, &event)?;
    }
    Ok(())
}

/// Deletes the rows older than `before` (no limit's window reaches back that far).
pub fn purge(conn: &mut DbConnection, before: NaiveDateTime) -> Result<usize> {
    Ok(
        diesel::delete(mail_limit_events::table.filter(mail_limit_events::occurred_at.lt(before)))
            .execute(conn)?,
    )
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
