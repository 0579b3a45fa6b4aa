//! Expiry clean-up: deletes what no flow can use any more, so the database does not grow with every
//! login. Every node runs it; on PostgreSQL a transaction-scoped advisory lock lets one node at a
//! time do the work and the others skip the round.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::erasure::WalCleared;
use super::schema::{
    auth_codes, auth_requests, ceremonies, client_assertion_jtis, grants, login_throttle,
    logout_deliveries, mail_outbox, one_time_links, refresh_tokens, revoked_access_tokens,
    sso_sessions,
};
use super::transaction::try_lock;
use super::{DbConnection, Result, Tenant};

/// The advisory lock of the clean-up (an arbitrary constant, next to the migrations' one).
const CLEANUP_LOCK: i64 = 0x1d9_0002;

/// How long sent and given-up mails and logout deliveries are kept (a mail's text holds links).
pub const KEEP_DELIVERED_DAYS: i64 = 7;

/// How long past their expiry the rows that refuse a still-valid token are kept (revoked access
/// tokens, used client assertions): far more than the nodes' clocks differ, and than a client
/// assertion's allowed clock skew.
pub const CLOCK_MARGIN_SECONDS: i64 = 600;

/// What one round deleted, per table.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    /// Whether this node did the round (false: another node held the lock).
    pub ran: bool,
    /// Rows deleted in all.
    pub rows: usize,
    /// Accounts erased (counted in `rows` too).
    pub erased: usize,
}

/// Deletes expired pending requests, codes, grants (with their tokens), revocation and assertion
/// records, links, ceremonies, sessions, throttle counters, mail-limit counts older than a day,
/// and old delivered mail, in one transaction.
pub fn purge_expired(conn: &mut DbConnection, now: NaiveDateTime) -> Result<Purged> {
    purge(conn, now, &[], &[])
}

/// [`purge_expired`], the audit events of each tenant of `audit_before` that occurred before
/// its time (the tenant's retention: the sealed ones only, and only a beginning of the tenant's
/// chain, with an `audit.purged` event that says where it starts now,
/// [`super::audit_chain::purge`], so that what is left still verifies), and the
/// erasure of the accounts of the tenants `erasing` whose grace period has ended
/// (`erasure::erase_due`; an erased account counts as a row). When it erased one, SQLite's WAL is
/// emptied after the commit (`erasure::clear_wal`; when that cannot complete it is logged, and
/// the round still succeeds).
pub fn purge(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    audit_before: &[(String, NaiveDateTime)],
    erasing: &[Tenant<'_>],
) -> Result<Purged> {
    let purged = purge_rows(conn, now, audit_before, erasing)?;
    if purged.erased > 0
        && let WalCleared::Unfinished(why) = super::erasure::clear_wal(conn)
    {
        tracing::warn!(
            erased = purged.erased,
            why,
            "the erased accounts' old values stay in the SQLite WAL until it is overwritten"
        );
    }
    Ok(purged)
}

/// [`purge`]'s transaction.
fn purge_rows(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    audit_before: &[(String, NaiveDateTime)],
    erasing: &[Tenant<'_>],
) -> Result<Purged> {
    super::write_transaction(conn, |conn| {
        if !try_lock(conn, CLEANUP_LOCK)? {
            return Ok(Purged::default());
        }
        let mut rows = 0;
        let mut erased = 0;
        // Erasures first: what they leave to expire (a session ended a day ago) goes below.
        for tenant in erasing {
            erased += super::erasure::erase_due(conn, *tenant, now)?;
        }
        rows += erased;
        let keep = now - Duration::days(KEEP_DELIVERED_DAYS);
        let day_ago = now - Duration::days(1);
        rows += diesel::delete(auth_requests::table.filter(auth_requests::expires_at.lt(now)))
            .execute(conn)?;
        rows += diesel::delete(auth_codes::table.filter(auth_codes::expires_at.lt(now)))
            .execute(conn)?;
        rows += diesel::delete(refresh_tokens::table.filter(refresh_tokens::expires_at.lt(now)))
            .execute(conn)?;
        // What refuses a token that is still valid (a revoked access token, a used assertion)
        // stays past its expiry by the margin the nodes' clocks may differ: deleted by this
        // node's clock, it would let the token in again at a node whose clock is behind.
        let refused_until = now - Duration::seconds(CLOCK_MARGIN_SECONDS);
        rows += diesel::delete(
            revoked_access_tokens::table
                .filter(revoked_access_tokens::expires_at.lt(refused_until)),
        )
        .execute(conn)?;
        rows += diesel::delete(
            client_assertion_jtis::table
                .filter(client_assertion_jtis::expires_at.lt(refused_until)),
        )
        .execute(conn)?;
        rows += diesel::delete(one_time_links::table.filter(one_time_links::expires_at.lt(now)))
            .execute(conn)?;
        rows += diesel::delete(ceremonies::table.filter(ceremonies::expires_at.lt(now)))
            .execute(conn)?;
        // An ended session stays a day for late back-channel deliveries and `sid` look-ups.
        rows += diesel::delete(
            sso_sessions::table.filter(
                sso_sessions::expires_at
                    .lt(now)
                    .or(sso_sessions::ended_at.lt(day_ago)),
            ),
        )
        .execute(conn)?;
        // A grant's codes and refresh tokens go with it (ON DELETE CASCADE). An expired grant
        // stays while its session does (a "remember me" session lives 30 days, a renewed one
        // longer than its first grants): it is how a logout knows which e-services shared the
        // session and tells them by back-channel. Its tokens are refused by their own expiry.
        // Sessions go first, above: their grants' `session_id` is then NULL (ON DELETE SET
        // NULL), and an expired one goes in the same round.
        let session_gone = diesel::dsl::not(diesel::dsl::exists(
            sso_sessions::table.filter(sso_sessions::id.nullable().eq(grants::session_id)),
        ));
        rows += diesel::delete(
            grants::table
                .filter(grants::expires_at.lt(now))
                .filter(grants::session_id.is_null().or(session_gone)),
        )
        .execute(conn)?;
        // Of a live session's expired grants, one a client is enough to tell it of the logout:
        // the older ones of the same client go (silent renewals write a grant each).
        let newer = diesel::alias!(grants as newer);
        let superseded = diesel::dsl::exists(
            newer
                .filter(newer.field(grants::session_id).eq(grants::session_id))
                .filter(newer.field(grants::client_id).eq(grants::client_id))
                .filter(newer.field(grants::created_at).gt(grants::created_at)),
        );
        rows += diesel::delete(
            grants::table
                .filter(grants::expires_at.lt(now))
                .filter(superseded),
        )
        .execute(conn)?;
        rows += diesel::delete(
            login_throttle::table
                .filter(login_throttle::updated_at.lt(day_ago))
                .filter(
                    login_throttle::blocked_until
                        .is_null()
                        .or(login_throttle::blocked_until.lt(now)),
                ),
        )
        .execute(conn)?;
        // No mail limit's window is longer than a day (check-config).
        rows += super::mail_limits::purge(conn, day_ago)?;
        rows += diesel::delete(
            mail_outbox::table
                .filter(mail_outbox::status.ne("pending"))
                .filter(mail_outbox::created_at.lt(keep)),
        )
        .execute(conn)?;
        rows += diesel::delete(
            logout_deliveries::table
                .filter(logout_deliveries::status.ne("pending"))
                .filter(logout_deliveries::created_at.lt(keep)),
        )
        .execute(conn)?;
        rows += super::audit_chain::purge(conn, now, audit_before)?;
        Ok(Purged {
            ran: true,
            rows,
            erased,
        })
    })
}
