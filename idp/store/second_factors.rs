//! The `totp_factors` and `recovery_codes` tables: a user's time-based one-time code (its secret
//! sealed with the key-encryption key, and the last step accepted) and single-use recovery codes,
//! stored as HMACs (`crypto::totp::recovery_code_mac`; rows from before, plain SHA-256). And support's reset of them also ends the user's logins that a first factor
//! began ([`remove_pending_logins`]).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{auth_requests, recovery_codes, totp_factors};
use super::{DbConnection, Result, Tenant};

/// A one-time-code factor as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = totp_factors)]
pub struct TotpRow {
    /// Its user.
    pub user_id: String,
    /// The tenant.
    pub tenant_id: String,
    /// The shared secret, sealed with the key-encryption key.
    pub secret: String,
    /// The last time step a code was accepted for; a code of it or of an earlier step is refused.
    pub last_step: Option<i64>,
    /// Enrolled.
    pub created_at: NaiveDateTime,
}

/// The one-time-code factor of a user of `tenant`.
pub fn totp(conn: &mut DbConnection, tenant: Tenant<'_>, user_id: &str) -> Result<Option<TotpRow>> {
    Ok(totp_factors::table
        .find(user_id)
        .filter(totp_factors::tenant_id.eq(tenant.id()))
        .select(TotpRow::as_select())
        .get_result(conn)
        .optional()?)
}

/// Enrols a one-time-code factor, replacing the user's earlier one.
pub fn set_totp(conn: &mut DbConnection, row: &TotpRow) -> Result<()> {
    diesel::delete(totp_factors::table.find(&row.user_id)).execute(conn)?;
    super::rows::insert(conn, totp_factors::table, row)
}

/// Accepts the code of time step `step` for a user of `tenant` unless a code of that step or a
/// later one was accepted before; false when it was (a replay, or a concurrent use).
pub fn accept_step(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user_id: &str,
    step: i64,
) -> Result<bool> {
    let changed = diesel::update(
        totp_factors::table
            .find(user_id)
            .filter(totp_factors::tenant_id.eq(tenant.id()))
            .filter(
                totp_factors::last_step
                    .is_null()
                    .or(totp_factors::last_step.lt(step)),
            ),
    )
    .set(totp_factors::last_step.eq(step))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Replaces the recovery codes of a user of `tenant` with `hashes` (new codes void the old).
pub fn set_recovery_codes(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user_id: &str,
    hashes: &[String],
    now: NaiveDateTime,
) -> Result<()> {
    remove_recovery_codes(conn, tenant, user_id)?;
    let rows: Vec<_> = hashes
        .iter()
        .map(|hash| {
            (
                recovery_codes::user_id.eq(user_id),
                recovery_codes::code_hash.eq(hash.as_str()),
                recovery_codes::tenant_id.eq(tenant.id()),
                recovery_codes::created_at.eq(now),
            )
        })
        .collect();
    for row in rows {
        super::rows::insert(conn, recovery_codes::table, row)?;
    }
    Ok(())
}

/// How many unused recovery codes a user of `tenant` has.
pub fn unused_recovery_codes(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user_id: &str,
) -> Result<i64> {
    Ok(recovery_codes::table
        .filter(recovery_codes::tenant_id.eq(tenant.id()))
        .filter(recovery_codes::user_id.eq(user_id))
        .filter(recovery_codes::used_at.is_null())
        .count()
        .get_result(conn)?)
}

/// Uses the recovery code of a user of `tenant` that hashes to `code_hash`; false when there is
/// no such unused code.
pub fn use_recovery_code(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user_id: &str,
    code_hash: &str,
    now: NaiveDateTime,
) -> Result<bool> {
    let changed = diesel::update(
        recovery_codes::table
            .find((user_id, code_hash))
            .filter(recovery_codes::tenant_id.eq(tenant.id()))
            .filter(recovery_codes::used_at.is_null()),
    )
    .set(recovery_codes::used_at.eq(now))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Removes the one-time-code factor and the recovery codes of a user of `tenant` (support's
/// reset); returns how many rows went.
pub fn remove_all(conn: &mut DbConnection, tenant: Tenant<'_>, user_id: &str) -> Result<usize> {
    let totp = diesel::delete(
        totp_factors::table
            .find(user_id)
            .filter(totp_factors::tenant_id.eq(tenant.id())),
    )
    .execute(conn)?;
    Ok(totp + remove_recovery_codes(conn, tenant, user_id)?)
}

fn remove_recovery_codes(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user_id: &str,
) -> Result<usize> {
    Ok(diesel::delete(
        recovery_codes::table
            .filter(recovery_codes::tenant_id.eq(tenant.id()))
            .filter(recovery_codes::user_id.eq(user_id)),
    )
    .execute(conn)?)
}

/// Deletes the pending requests of `tenant` whose first factor proved the user `user_id` (a
/// half-done login at its second factor, a login at the passkey offer or at the consent); returns
/// how many went.
pub fn remove_pending_logins(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user_id: &str,
) -> Result<usize> {
    Ok(diesel::delete(
        auth_requests::table
            .filter(auth_requests::tenant_id.eq(tenant.id()))
            .filter(auth_requests::user_id.eq(user_id)),
    )
    .execute(conn)?)
}
