//! The `logout_deliveries` queue: back-channel logout tokens waiting for their relying party.
//!
//! Every node works the queue, through [`QUEUE`] ([`super::lease_queue`]: a row is claimed with a
//! lease, `locked_until`, so no two nodes send the same row at once).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::lease_queue::LeaseQueue;
use super::schema::logout_deliveries;
use super::{DbConnection, StoreError, Tenant};

/// A delivery as stored.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable)]
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

/// The queue: a delivered row is `delivered`, at `delivered_at`.
pub const QUEUE: LeaseQueue = LeaseQueue {
    table: "logout_deliveries",
    done: "delivered",
    done_at: <logout_deliveries::delivered_at as Column>::NAME,
};

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
