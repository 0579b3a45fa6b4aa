//! The `login_throttle` table: password checks per account and per client address, and checks of
//! a user's one-time and recovery codes per user, of one tenant, shared by every node.
//!
//! A check is counted before its hash runs ([`reserve`]), in one write transaction that holds the
//! counter: on SQLite the writers take turns (`BEGIN IMMEDIATE`), on PostgreSQL the row is made or
//! locked by one `INSERT … ON CONFLICT DO UPDATE … RETURNING`. So
//! parallel guesses are counted one after the other, and no more run than are allowed.
//!
//! A refused check is audited once per block, not once per refusal: [`reserve`] marks each
//! counter's block at its first refusal (`refused_block`, the block's `blocked_until`), in the
//! same transaction, and tells the caller ([`Blocked::first_of`]); later refusals of that block
//! are only counted in the metrics. Each refused request would otherwise add an audit event under
//! the account for free (no hash runs): without end, in the account's export and its erasure.

use chrono::{Duration, NaiveDateTime, SubsecRound};
use diesel::prelude::*;
use diesel::upsert::excluded;
use serde_json::json;

use super::audit::Event;
use super::audit_chain::timestamp;
use super::schema::login_throttle;
use super::{DbConnection, Result, Tenant, write_transaction};
use crate::crypto::secret;
use crate::domain::counting_key;

/// What a counter counts checks of.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ThrottleKey {
    /// A user of the tenant, by id: the checks of the first factor (a password, a passkey).
    User(String),
    /// The second factor of a user of the tenant, by id: one-time codes and recovery codes, which
    /// a correct password must not give back (it clears [`ThrottleKey::User`] only).
    SecondFactor(String),
    /// Every first-factor check of a user, by id (of an old account, `legacy:` and its id), right
    /// or wrong: a right password forgets [`ThrottleKey::User`] but is counted here, so that an
    /// account logging in correctly in a loop (its own, registered by anyone) cannot keep the
    /// hashing pool busy for ever.
    Checks(String),
    /// An old account of the tenant, by id.
    Legacy(String),
    /// An identifier that names no account (normalised): throttled as if it did.
    Unknown(String),
    /// A client address, counted under its [`counting_key`] (an IPv6 address per /64).
    Address(String),
}

impl ThrottleKey {
    /// The `throttle_key` column (the tenant is a column of its own).
    pub fn column(&self) -> String {
        match self {
            ThrottleKey::User(id) => format!("user:{id}"),
            ThrottleKey::SecondFactor(id) => format!("second_factor:{id}"),
            ThrottleKey::Checks(id) => format!("checks:{id}"),
            ThrottleKey::Legacy(id) => format!("legacy:{id}"),
            // Hashed: the identifier is whatever anyone typed, of any length (a 60,000-character
            // one made a row of its size on SQLite and broke PostgreSQL's index), and an
            // address without an account is not kept in clear.
            ThrottleKey::Unknown(name) => format!("name:{}", secret::hash(name)),
            ThrottleKey::Address(ip) => format!("address:{}", counting_key(ip)),
        }
    }

    /// Whether this counts a client address (which many residents may share, behind a NAT).
    pub fn is_address(&self) -> bool {
        matches!(self, ThrottleKey::Address(_))
    }

    /// What the counter counts, as `login.throttled` names a block: `account` (a user, an old
    /// account, an identifier that names none), `second_factor` or `address`.
    fn counts(&self) -> &'static str {
        match self {
            ThrottleKey::User(_)
            | ThrottleKey::Checks(_)
            | ThrottleKey::Legacy(_)
            | ThrottleKey::Unknown(_) => "account",
            ThrottleKey::SecondFactor(_) => "second_factor",
            ThrottleKey::Address(_) => "address",
        }
    }
}

/// A check refused because a counter is blocked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    /// When the last of the blocks ends: no check before then (the answer's `Retry-After`).
    pub until: NaiveDateTime,
    /// The counters whose block this refusal is the first of, with the end of each: the blocks
    /// to audit. Empty for a later refusal of blocks already audited.
    pub first_of: Vec<(ThrottleKey, NaiveDateTime)>,
}

impl Blocked {
    /// `event` (a `login.throttled` of the caller's, with its user, client and address) to record
    /// for this refusal, with the blocks it is the first refusal of as its detail:
    /// `{"blocked":["account"],"until":"2026-12-09T08:00:30.000000Z"}`, what is blocked and until
    /// when the last of them lasts. `None` for a later refusal of blocks already audited, which
    /// the caller only counts.
    pub fn audit<'a>(&self, event: Event<'a>) -> Option<Event<'a>> {
        let until = self.first_of.iter().map(|(_, until)| *until).max()?;
        let blocked: Vec<&str> = self.first_of.iter().map(|(key, _)| key.counts()).collect();
        Some(event.detail(&json!({ "blocked": blocked, "until": timestamp(until) })))
    }
}

/// How many checks a counter allows, and in what window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    /// Checks of an account (that did not succeed) before it is blocked.
    pub per_account: i64,
    /// Checks from a client address (that did not succeed) before it is blocked.
    pub per_address: i64,
    /// Checks of an account, right or wrong ([`ThrottleKey::Checks`]), before it is blocked.
    pub checks_per_account: i64,
    /// The window checks are counted in, in seconds; also the longest block.
    pub window_seconds: i64,
    /// The window of a second factor's counter ([`ThrottleKey::SecondFactor`]), longer: a
    /// one-time code has six digits, and only time stands between them and a patient guesser who
    /// has the password.
    pub second_factor_window_seconds: i64,
}

impl Allowance {
    fn window(&self, key: &ThrottleKey) -> i64 {
        match key {
            ThrottleKey::SecondFactor(_) => self.second_factor_window_seconds,
            _ => self.window_seconds,
        }
    }

    fn free(&self, key: &ThrottleKey) -> i64 {
        match key {
            ThrottleKey::Address(_) => self.per_address,
            ThrottleKey::Checks(_) => self.checks_per_account,
            _ => self.per_account,
        }
    }
}

/// A counter as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = login_throttle, treat_none_as_null = true)]
struct ThrottleRow {
    tenant_id: String,
    throttle_key: String,
    /// Checks counted in the current window (given back when one succeeded).
    failures: i64,
    window_started_at: NaiveDateTime,
    /// No checks until then.
    blocked_until: Option<NaiveDateTime>,
    updated_at: NaiveDateTime,
    /// The `blocked_until` of the block whose first refusal was audited.
    refused_block: Option<NaiveDateTime>,
}

/// The counter of `key`, locked until the transaction ends (created when missing).
fn locked(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    key: &str,
    now: NaiveDateTime,
) -> Result<ThrottleRow> {
    let fresh = ThrottleRow {
        tenant_id: tenant.id().to_string(),
        throttle_key: key.to_string(),
        failures: 0,
        window_started_at: now,
        blocked_until: None,
        updated_at: now,
        refused_block: None,
    };
    Ok(match conn {
        // Inside `BEGIN IMMEDIATE`: no other writer until the commit.
        DbConnection::Sqlite(conn) => {
            diesel::insert_into(login_throttle::table)
                .values(&fresh)
                .on_conflict_do_nothing()
                .execute(conn)?;
            login_throttle::table
                .find((tenant.id(), key))
                .select(ThrottleRow::as_select())
                .get_result(conn)?
        }
        // One statement that makes the row or locks it, and returns it: it waits for a
        // transaction that holds the row (or inserts it) to end, and inserts it again when that
        // one deleted it (a success forgets the account's counter). Making sure of the row and
        // then locking it in two statements failed with "not found" when a success deleted it
        // in between.
        DbConnection::Postgres(conn) => diesel::insert_into(login_throttle::table)
            .values(&fresh)
            .on_conflict((login_throttle::tenant_id, login_throttle::throttle_key))
            .do_update()
            .set(login_throttle::throttle_key.eq(excluded(login_throttle::throttle_key)))
            .returning(ThrottleRow::as_returning())
            .get_result(conn)?,
    })
}

/// Whether `row` is one [`locked`] has just made at `now` (nothing counted on it yet; times as
/// the store keeps them, to the microsecond on PostgreSQL).
fn is_fresh(row: &ThrottleRow, now: NaiveDateTime) -> bool {
    let now = now.trunc_subsecs(6);
    row.failures == 0
        && row.blocked_until.is_none()
        && row.refused_block.is_none()
        && row.window_started_at.trunc_subsecs(6) == now
        && row.updated_at.trunc_subsecs(6) == now
}

fn save(conn: &mut DbConnection, row: &ThrottleRow) -> Result<()> {
    diesel::update(login_throttle::table.find((&row.tenant_id, &row.throttle_key)))
        .set(row)
        .execute(conn)?;
    Ok(())
}

/// The block that follows the `failures`-th failure: none below `free`, then 30 seconds,
/// doubling with each further failure up to the window.
fn block_after(failures: i64, free: i64, window: i64, now: NaiveDateTime) -> Option<NaiveDateTime> {
    (failures >= free).then(|| {
        let exponent = u32::try_from((failures - free).clamp(0, 10)).unwrap_or(10);
        now + Duration::seconds((30 * 2_i64.pow(exponent)).min(window))
    })
}

/// The name of a counter's row in the node's gate and turns (`store/gate.rs`).
pub fn gated(tenant: Tenant<'_>, key: &ThrottleKey) -> String {
    format!("throttle:{}:{}", tenant.id(), key.column())
}

/// Counts one check against every key of `keys` of `tenant`, before it runs, in one write
/// transaction. `Err(blocked)` when one of them is blocked: then nothing is counted and the
/// check must not run; the blocks this refusal is the first of are marked as refused
/// ([`Blocked::first_of`]). A check counted here stays counted as a failure unless
/// [`give_back`] gives it back.
pub fn reserve(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    keys: &[ThrottleKey],
    allowance: Allowance,
    now: NaiveDateTime,
) -> Result<Result<(), Blocked>> {
    // The counters' rows are waited for on PostgreSQL: not while two other requests of this node
    // wait (`gate.rs`; [`super::StoreError::Crowded`]). SQLite's writers take turns whatever
    // they write.
    if let DbConnection::Postgres(_) = conn {
        let gated: Vec<String> = keys.iter().map(|k| gated(tenant, k)).collect();
        super::gate::enter(&gated)?;
    }
    write_transaction(conn, |conn| {
        let mut rows = Vec::with_capacity(keys.len());
        let mut blocked: Option<Blocked> = None;
        for key in keys {
            let mut row = locked(conn, tenant, &key.column(), now)?;
            if let Some(until) = row.blocked_until.filter(|until| *until > now) {
                let refused = blocked.get_or_insert(Blocked {
                    until,
                    first_of: Vec::new(),
                });
                refused.until = refused.until.max(until);
                if row.refused_block != Some(until) {
                    row.refused_block = Some(until);
                    save(conn, &row)?;
                    refused.first_of.push((key.clone(), until));
                }
            }
            rows.push((key, row));
        }
        if let Some(blocked) = blocked {
            // A refused check leaves nothing new behind: the counters this request made (a
            // made-up identifier's, behind a blocked address) go again, so that a blocked
            // address cannot fill the table with a row per identifier it makes up.
            for (_, row) in rows.iter().filter(|(_, row)| is_fresh(row, now)) {
                diesel::delete(login_throttle::table.find((&row.tenant_id, &row.throttle_key)))
                    .execute(conn)?;
            }
            return Ok(Err(blocked));
        }
        for (key, mut row) in rows {
            let window = allowance.window(key);
            if (now - row.window_started_at).num_seconds() >= window {
                row.failures = 0;
                row.window_started_at = now;
            }
            row.failures += 1;
            row.blocked_until = block_after(row.failures, allowance.free(key), window, now);
            row.updated_at = now;
            save(conn, &row)?;
        }
        Ok(Ok(()))
    })
}

/// Gives back a check counted by [`reserve`]: when it succeeded (`succeeded`), the account's
/// counters of failures are forgotten and its [`ThrottleKey::Checks`] keeps the check; otherwise
/// (it never ran) each counter gets the check back. A client address always gets its check back,
/// and loses its block if that check made it. A counter back at no failures is deleted.
pub fn give_back(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    keys: &[ThrottleKey],
    allowance: Allowance,
    now: NaiveDateTime,
    succeeded: bool,
) -> Result<()> {
    write_transaction(conn, |conn| {
        for key in keys {
            let column = key.column();
            if succeeded && matches!(key, ThrottleKey::Checks(_)) {
                continue;
            }
            if succeeded && !key.is_address() {
                diesel::delete(login_throttle::table.find((tenant.id(), column.as_str())))
                    .execute(conn)?;
                continue;
            }
            let mut row = locked(conn, tenant, &column, now)?;
            row.failures = (row.failures - 1).max(0);
            if row.failures < allowance.free(key) {
                row.blocked_until = None;
            }
            // A counter at nothing says what no counter says: it goes, so that checks the pool
            // refused (a made-up identifier each) leave no row behind, as refused blocked ones do.
            if row.failures == 0 && row.blocked_until.is_none() {
                diesel::delete(login_throttle::table.find((tenant.id(), column.as_str())))
                    .execute(conn)?;
                continue;
            }
            row.updated_at = now;
            save(conn, &row)?;
        }
        Ok(())
    })
}

/// Deletes the counters of the old account `id` of `tenant` (it is deleted, or becomes a
/// tombstone under another id): its failures and its checks.
pub fn forget_legacy(conn: &mut DbConnection, tenant: Tenant<'_>, id: &str) -> Result<()> {
    let counters = [
        ThrottleKey::Legacy(id.to_string()).column(),
        ThrottleKey::Checks(format!("legacy:{id}")).column(),
    ];
    diesel::delete(
        login_throttle::table
            .filter(login_throttle::tenant_id.eq(tenant.id()))
            .filter(login_throttle::throttle_key.eq_any(&counters)),
    )
    .execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::{Blocked, Event, ThrottleKey};

    #[test]
    fn a_refusal_is_audited_only_as_the_first_of_a_block() {
        let at = |second| {
            NaiveDate::from_ymd_opt(2026, 12, 9)
                .and_then(|d| d.and_hms_opt(8, 0, second))
                .unwrap()
        };
        let event = || Event::new("seinajoki", at(0), "login.throttled");
        let later = Blocked {
            until: at(30),
            first_of: Vec::new(),
        };
        assert!(later.audit(event()).is_none());
        let first = Blocked {
            until: at(50),
            first_of: vec![
                (ThrottleKey::User("u1".into()), at(30)),
                (ThrottleKey::Address("192.0.2.1".into()), at(50)),
            ],
        };
        let audited = first.audit(event()).unwrap();
        assert_eq!(
            format!("{audited:?}"),
            format!(
                "{:?}",
                event().detail(&serde_json::json!({
                    "blocked": ["account", "address"],
                    "until": "2026-12-09T08:00:50.000000Z",
                }))
            )
        );
    }
}
