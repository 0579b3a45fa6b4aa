//! Throttling password guesses, per account and per client address, with growing delays.
//!
//! Five failures within 15 minutes block the key for 30 seconds, doubling with each further
//! failure up to 15 minutes. Kept in the database, so it holds across nodes.

use chrono::{Duration, NaiveDateTime};

use crate::store::throttle::{self, ThrottleRow};
use crate::store::{DbConnection, StoreError};

/// Failures allowed before an account is blocked.
pub const FREE_FAILURES: i64 = 5;
/// Failures allowed from one address (many residents may share one, behind a NAT).
pub const FREE_FAILURES_PER_ADDRESS: i64 = 50;
/// The window failures are counted in.
pub const WINDOW_SECONDS: i64 = 15 * 60;

/// The keys a login attempt counts against.
pub fn keys(tenant: &str, identifier: &str, address: Option<&str>) -> Vec<String> {
    let mut keys = vec![format!(
        "account:{tenant}:{}",
        identifier.trim().to_lowercase()
    )];
    if let Some(address) = address {
        keys.push(format!("address:{tenant}:{address}"));
    }
    keys
}

/// Until when any of `keys` is blocked, if it is.
pub fn blocked_until(
    conn: &mut DbConnection,
    keys: &[String],
    now: NaiveDateTime,
) -> Result<Option<NaiveDateTime>, StoreError> {
    let mut until = None;
    for key in keys {
        if let Some(row) = throttle::find(conn, key)?
            && let Some(blocked) = row.blocked_until
            && blocked > now
        {
            until = until.max(Some(blocked));
        }
    }
    Ok(until)
}

/// Counts a failure against every key.
pub fn failed(
    conn: &mut DbConnection,
    keys: &[String],
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    for key in keys {
        let previous = throttle::find(conn, key)?
            .filter(|row| (now - row.window_started_at).num_seconds() < WINDOW_SECONDS);
        let (failures, window_started_at) = match previous {
            Some(row) => (row.failures + 1, row.window_started_at),
            None => (1, now),
        };
        let free = if key.starts_with("address:") {
            FREE_FAILURES_PER_ADDRESS
        } else {
            FREE_FAILURES
        };
        let blocked_until = (failures >= free).then(|| {
            let exponent = u32::try_from((failures - free).clamp(0, 10)).unwrap_or(10);
            now + Duration::seconds((30 * 2_i64.pow(exponent)).min(WINDOW_SECONDS))
        });
        throttle::save(
            conn,
            &ThrottleRow {
                throttle_key: key.clone(),
                failures,
                window_started_at,
                blocked_until,
                updated_at: now,
            },
        )?;
    }
    Ok(())
}

/// Forgets the account's failures after a successful login.
pub fn succeeded(conn: &mut DbConnection, account_key: &str) -> Result<(), StoreError> {
    throttle::clear(conn, account_key)
}
