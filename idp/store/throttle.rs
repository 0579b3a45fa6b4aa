//! The `login_throttle` table: failed logins per account and per client address, shared by
//! every node.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::login_throttle;
use super::{DbConnection, StoreError};

/// A throttle counter as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = login_throttle, treat_none_as_null = true)]
pub struct ThrottleRow {
    /// `account:{tenant}:{identifier}` or `address:{tenant}:{ip}`.
    pub throttle_key: String,
    /// Failures in the current window.
    pub failures: i64,
    /// When the window started.
    pub window_started_at: NaiveDateTime,
    /// No attempts until then.
    pub blocked_until: Option<NaiveDateTime>,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// A counter by key.
pub fn find(conn: &mut DbConnection, key: &str) -> Result<Option<ThrottleRow>, StoreError> {
    Ok(login_throttle::table
        .find(key)
        .select(ThrottleRow::as_select())
        .get_result(conn)
        .optional()?)
}

/// Writes a counter (insert or replace).
pub fn save(conn: &mut DbConnection, row: &ThrottleRow) -> Result<(), StoreError> {
    let updated = diesel::update(login_throttle::table.find(&row.throttle_key))
        .set(row)
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(login_throttle::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}

/// Forgets a counter.
pub fn clear(conn: &mut DbConnection, key: &str) -> Result<(), StoreError> {
    diesel::delete(login_throttle::table.find(key)).execute(conn)?;
    Ok(())
}
