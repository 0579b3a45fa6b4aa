//! Expiry clean-up: deletes what no flow can use any more, so the database does not grow with every
//! login. Every node runs it, a batch a transaction; on PostgreSQL a transaction-scoped advisory
//! lock lets one node at a time write, and a node that finds it taken skips the round (or, between
//! another node's batches, that table's). Each batch deletes its rows with their condition checked
//! again, so two rounds taking turns delete nothing wrongly.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::erasure::WalCleared;
use super::schema::{
    auth_codes, auth_requests, ceremonies, client_assertion_jtis, grants, login_throttle,
    logout_deliveries, mail_limit_events, mail_outbox, one_time_links, refresh_tokens,
    revoked_access_tokens, sso_sessions,
};
use super::transaction::try_lock;
use super::{DbConnection, Result, Tenant};

/// The advisory lock of the clean-up (an arbitrary constant, next to the migrations' one).
const CLEANUP_LOCK: i64 = 0x1d9_0002;

/// How long sent and given-up mails and logout deliveries are kept (without their text and
/// token, emptied when they left the queue: `store/lease_queue.rs`).
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
    /// The write transactions it took (a large backlog takes a batch of [`BATCH`] rows each).
    pub transactions: usize,
}

/// Deletes expired pending requests, codes, grants (with their tokens), revocation and assertion
/// records, links, ceremonies, sessions, throttle counters, mail-limit counts older than a day,
/// and old delivered mail, at most [`BATCH`] rows a transaction.
pub fn purge_expired(conn: &mut DbConnection, now: NaiveDateTime) -> Result<Purged> {
    purge(conn, now, &[], &[])
}

/// [`purge_expired`], the audit events of each tenant of `audit_before` that occurred before
/// its time (the tenant's retention: the sealed ones only, and only a beginning of the tenant's
/// chain, with an `audit.purged` event that says where it starts now,
/// [`super::audit_chain::purge`], so that what is left still verifies), and the
/// erasure of the accounts of the tenants `erasing` whose grace period has ended
/// (`erasure::erase_due`; an erased account counts as a row). When it erased one, SQLite's WAL is
/// emptied right after the erasures' commit, before the other steps (`erasure::clear_wal`; when
/// that cannot complete it is logged, and the round goes on).
pub fn purge(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    audit_before: &[(String, NaiveDateTime)],
    erasing: &[Tenant<'_>],
) -> Result<Purged> {
    purge_rows(conn, now, audit_before, erasing)
}

/// Empties SQLite's WAL after `erased` accounts were erased (`erasure::clear_wal`); when that
/// cannot complete it is logged.
fn clear_wal_after(conn: &mut DbConnection, erased: usize) {
    if erased > 0
        && let WalCleared::Unfinished(why) = super::erasure::clear_wal(conn)
    {
        tracing::warn!(
            erased,
            why,
            "the erased accounts' old values stay in the SQLite WAL until it is overwritten"
        );
    }
}

/// The most rows one statement of the clean-up deletes. A table with more (a start after
/// downtime, a busy day's sessions) is deleted a batch a transaction: on SQLite every other
/// writer waits while a transaction writes, and one statement over a large backlog held them for
/// seconds.
pub const BATCH: i64 = 2_000;

/// The most batches one table takes in a round; what is left waits for the next round.
const BATCHES_A_TABLE: usize = 100;

/// One kind of expired row: deletes at most `limit` of them as of `now`; how many.
type Step = fn(&mut DbConnection, NaiveDateTime, i64) -> Result<usize>;

/// A step that deletes a batch of the rows of `$table` that `$due` (an expression of the table's
/// columns and `$now`) selects: their keys (`$key`, of Rust type `$type`) read, at most `limit`,
/// then those rows deleted, in the caller's transaction.
macro_rules! expired {
    ($table:ident, $key:ident: $type:ty, |$now:ident| $due:expr) => {{
        fn step(conn: &mut DbConnection, $now: NaiveDateTime, limit: i64) -> Result<usize> {
            let keys: Vec<$type> = $table::table
                .select($table::$key)
                .filter($due)
                .limit(limit)
                .load(conn)?;
            if keys.is_empty() {
                return Ok(0);
            }
            // The condition again: on PostgreSQL a row another transaction changed since the
            // read (a request extended, a session renewed) is checked anew, and stays.
            let due = $table::table
                .filter($table::$key.eq_any(&keys))
                .filter($due);
            Ok(diesel::delete(due).execute(conn)?)
        }
        step as Step
    }};
}

/// The clean-up's steps, in their order: sessions before the grants they name (a grant whose
/// session went is deleted in the same round).
fn steps() -> [Step; 14] {
    [
        expired!(auth_requests, id: String, |now| auth_requests::expires_at.lt(now)),
        // An unused code goes at its expiry (the partial index `auth_codes_unused_expires` finds
        // them), with its grant (its code goes with it, ON DELETE CASCADE): a grant has the one
        // code its authorization wrote, and one whose code was never exchanged issued nothing
        // and no e-service knows its session by it. Otherwise any signed-in browser looping on
        // `/authorize` (single sign-on answers at once, with no waiting request to count) left a
        // grant a call for the grant's lifetime — 30 days with `offline_access`. A used code
        // stays as long as its grant (below): a replay of it (RFC 6749 §4.1.2) then still
        // revokes what it issued, after the code's minute too; and no round reads the used ones
        // to find nothing to delete.
        // The code's expiry past the clocks' margin: on PostgreSQL an exchange under way at the
        // code's last second (or a node whose clock is behind) commits its tokens under a grant
        // this delete would otherwise take with them, as the code's own row is not re-checked.
        expired!(grants, id: String, |now| grants::id.eq_any(
            auth_codes::table
                .select(auth_codes::grant_id)
                .filter(auth_codes::expires_at.lt(now - Duration::seconds(CLOCK_MARGIN_SECONDS)))
                .filter(auth_codes::used_at.is_null())
        )),
        expired!(refresh_tokens, token_hash: String, |now| refresh_tokens::expires_at
            .lt(now)),
        // What refuses a token that is still valid (a revoked access token, a used assertion)
        // stays past its expiry by the margin the nodes' clocks may differ: deleted by this
        // node's clock, it would let the token in again at a node whose clock is behind.
        expired!(revoked_access_tokens, jti: String, |now| {
            revoked_access_tokens::expires_at.lt(now - Duration::seconds(CLOCK_MARGIN_SECONDS))
        }),
        expired!(client_assertion_jtis, jti_key: String, |now| {
            client_assertion_jtis::expires_at.lt(now - Duration::seconds(CLOCK_MARGIN_SECONDS))
        }),
        expired!(one_time_links, token_hash: String, |now| one_time_links::expires_at
            .lt(now)),
        expired!(ceremonies, id_hash: String, |now| ceremonies::expires_at.lt(now)),
        // An ended session stays a day for late back-channel deliveries and `sid` look-ups.
        expired!(sso_sessions, id: String, |now| sso_sessions::expires_at
            .lt(now)
            .or(sso_sessions::ended_at.lt(now - Duration::days(1)))),
        // A grant's codes and refresh tokens go with it (ON DELETE CASCADE). An expired grant
        // stays while its session does (a "remember me" session lives 30 days, a renewed one
        // longer than its first grants): it is how a logout knows which e-services shared the
        // session and tells them by back-channel. Its tokens are refused by their own expiry.
        // Sessions go first, above: their grants' `session_id` is then NULL (ON DELETE SET
        // NULL), and an expired one goes in the same round.
        expired!(grants, id: String, |now| {
            let session_gone = diesel::dsl::not(diesel::dsl::exists(
                sso_sessions::table.filter(sso_sessions::id.nullable().eq(grants::session_id)),
            ));
            grants::expires_at
                .lt(now)
                .and(grants::session_id.is_null().or(session_gone))
        }),
        // Of a live session's expired grants, one a client is enough to tell it of the logout:
        // the older ones of the same client go (silent renewals write a grant each) — once a
        // newer one was exchanged. A newer one never exchanged goes itself a round later (above),
        // and had it superseded the last exchanged one, nothing would tie the e-service that
        // holds its ID token to the session any more: no back-channel logout.
        expired!(grants, id: String, |now| {
            let newer = diesel::alias!(grants as newer);
            let exchanged = diesel::dsl::exists(
                auth_codes::table
                    .filter(auth_codes::grant_id.eq(newer.field(grants::id)))
                    .filter(auth_codes::used_at.is_not_null()),
            );
            let superseded = diesel::dsl::exists(
                newer
                    .filter(newer.field(grants::session_id).eq(grants::session_id))
                    .filter(newer.field(grants::client_id).eq(grants::client_id))
                    .filter(newer.field(grants::created_at).gt(grants::created_at))
                    .filter(exchanged),
            );
            grants::expires_at.lt(now).and(superseded)
        }),
        // No mail limit's window is longer than a day (check-config).
        expired!(mail_limit_events, id: i64, |now| mail_limit_events::occurred_at
            .lt(now - Duration::days(1))),
        expired!(mail_outbox, id: String, |now| mail_outbox::status
            .ne("pending")
            .and(mail_outbox::created_at.lt(now - Duration::days(KEEP_DELIVERED_DAYS)))),
        expired!(logout_deliveries, id: String, |now| logout_deliveries::status
            .ne("pending")
            .and(logout_deliveries::created_at.lt(now - Duration::days(KEEP_DELIVERED_DAYS)))),
        idle_throttle_counters,
    ]
}

/// A batch of the throttle counters idle for a day and not blocking: keyed by (tenant, key), so
/// a batch's keys are read and deleted tenant by tenant.
fn idle_throttle_counters(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    limit: i64,
) -> Result<usize> {
    let idle = || {
        login_throttle::updated_at.lt(now - Duration::days(1)).and(
            login_throttle::blocked_until
                .is_null()
                .or(login_throttle::blocked_until.lt(now)),
        )
    };
    let idle_keys: Vec<(String, String)> = login_throttle::table
        .filter(idle())
        .select((login_throttle::tenant_id, login_throttle::throttle_key))
        .limit(limit)
        .load(conn)?;
    let mut by_tenant: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for (tenant, key) in &idle_keys {
        by_tenant.entry(tenant).or_default().push(key);
    }
    let mut deleted = 0;
    for (tenant, keys) in by_tenant {
        // Still idle: a counter a check counted since the read stays.
        deleted += diesel::delete(
            login_throttle::table
                .filter(login_throttle::tenant_id.eq(tenant))
                .filter(login_throttle::throttle_key.eq_any(keys))
                .filter(idle()),
        )
        .execute(conn)?;
    }
    Ok(deleted)
}

/// [`purge`]'s transactions: the erasures in the first, which takes the round's lock on
/// PostgreSQL (another node's round holding it: nothing done); then each step a batch a
/// transaction, each taking the lock again; then the audit retention.
fn purge_rows(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    audit_before: &[(String, NaiveDateTime)],
    erasing: &[Tenant<'_>],
) -> Result<Purged> {
    // Erasures first: what they leave to expire (a session ended a day ago) goes below.
    let erased = super::write_transaction(conn, |conn| {
        if !try_lock(conn, CLEANUP_LOCK)? {
            return Ok(None);
        }
        let mut erased = 0;
        for tenant in erasing {
            erased += super::erasure::erase_due(conn, *tenant, now)?;
        }
        Ok::<_, super::StoreError>(Some(erased))
    })?;
    let Some(erased) = erased else {
        return Ok(Purged::default());
    };
    // At once, not after the steps: a step that fails (the database busy with an import) ends
    // the round, and the erased values stayed in the WAL.
    clear_wal_after(conn, erased);
    let mut rows = erased;
    let mut transactions = 1;
    for step in steps() {
        for _ in 0..BATCHES_A_TABLE {
            let deleted = super::write_transaction(conn, |conn| {
                if !try_lock(conn, CLEANUP_LOCK)? {
                    return Ok(0);
                }
                step(conn, now, BATCH)
            })?;
            transactions += 1;
            rows += deleted;
            if deleted < usize::try_from(BATCH).unwrap_or(usize::MAX) {
                break;
            }
        }
    }
    rows += super::write_transaction(conn, |conn| {
        if !try_lock(conn, CLEANUP_LOCK)? {
            return Ok(0);
        }
        super::audit_chain::purge(conn, now, audit_before)
    })?;
    Ok(Purged {
        ran: true,
        rows,
        erased,
        transactions: transactions + 1,
    })
}
