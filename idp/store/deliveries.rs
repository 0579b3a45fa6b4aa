//! The `logout_deliveries` queue: back-channel logout tokens waiting for their relying party.
//!
//! Every node works the queue. A row is claimed by a conditional update that sets a lease
//! (`locked_until`), atomic on both backends, so no two nodes send the same row at once.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::logout_deliveries;
use super::{DbConnection, StoreError, Tenant};

/// A delivery as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = logout_deliveries)]
pub struct DeliveryRow {
    /// Id.
    pub id: String,
    /// The tenant whose issuer signs the token.
    pub tenant_id: String,
    /// The relying party.
    pub client_id: String,
    /// Its back-channel logout URI.
    pub uri: String,
    /// The logout token's claims, JSON; signed afresh at each attempt.
    pub logout_token: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts made.
    pub attempts: i64,
    /// Not before.
    pub next_attempt_at: NaiveDateTime,
    /// Claimed by a node until then.
    pub locked_until: Option<NaiveDateTime>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Queued.
    pub created_at: NaiveDateTime,
    /// Delivered.
    pub delivered_at: Option<NaiveDateTime>,
}

/// Queues a delivery.
pub fn insert(conn: &mut DbConnection, row: &DeliveryRow) -> Result<(), StoreError> {
    diesel::insert_into(logout_deliveries::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Claims up to `limit` due deliveries until `lease_until`; returns the rows claimed.
pub fn claim_due(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> Result<Vec<DeliveryRow>, StoreError> {
    let free = logout_deliveries::locked_until
        .is_null()
        .or(logout_deliveries::locked_until.le(now));
    let candidates: Vec<String> = logout_deliveries::table
        .filter(logout_deliveries::status.eq("pending"))
        .filter(logout_deliveries::next_attempt_at.le(now))
        .filter(free)
        .order(logout_deliveries::next_attempt_at.asc())
        .limit(limit)
        .select(logout_deliveries::id)
        .load(conn)?;
    let mut claimed = Vec::new();
    for id in candidates {
        let free = logout_deliveries::locked_until
            .is_null()
            .or(logout_deliveries::locked_until.le(now));
        let won = diesel::update(
            logout_deliveries::table
                .find(&id)
                .filter(logout_deliveries::status.eq("pending"))
                .filter(free),
        )
        .set(logout_deliveries::locked_until.eq(lease_until))
        .execute(conn)?;
        if won == 1
            && let Some(row) = logout_deliveries::table
                .find(&id)
                .select(DeliveryRow::as_select())
                .get_result(conn)
                .optional()?
        {
            claimed.push(row);
        }
    }
    Ok(claimed)
}

/// Records a successful delivery.
pub fn delivered(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> Result<(), StoreError> {
    diesel::update(logout_deliveries::table.find(id))
        .set((
            logout_deliveries::status.eq("delivered"),
            logout_deliveries::delivered_at.eq(now),
            logout_deliveries::attempts.eq(logout_deliveries::attempts + 1),
            logout_deliveries::locked_until.eq(None::<NaiveDateTime>),
            logout_deliveries::last_error.eq(None::<String>),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records a failed attempt: retry at `next` or, when `next` is none, give up.
pub fn failed(
    conn: &mut DbConnection,
    id: &str,
    error: &str,
    next: Option<NaiveDateTime>,
) -> Result<(), StoreError> {
    let row = logout_deliveries::table.find(id);
    let common = (
        logout_deliveries::attempts.eq(logout_deliveries::attempts + 1),
        logout_deliveries::locked_until.eq(None::<NaiveDateTime>),
        logout_deliveries::last_error.eq(error),
    );
    match next {
        Some(next) => diesel::update(row)
            .set((common, logout_deliveries::next_attempt_at.eq(next)))
            .execute(conn)?,
        None => diesel::update(row)
            .set((common, logout_deliveries::status.eq("failed")))
            .execute(conn)?,
    };
    Ok(())
}

/// Every delivery to `client_id` of `tenant` (tests and reports).
pub fn for_client(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    client_id: &str,
) -> Result<Vec<DeliveryRow>, StoreError> {
    Ok(logout_deliveries::table
        .filter(logout_deliveries::client_id.eq(client_id))
        .filter(logout_deliveries::tenant_id.eq(tenant.id()))
        .order(logout_deliveries::created_at.asc())
        .select(DeliveryRow::as_select())
        .load(conn)?)
}
