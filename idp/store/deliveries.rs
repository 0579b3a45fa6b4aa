//! The `logout_deliveries` queue: back-channel logout tokens waiting for their relying party.
//!
//! Every node works the queue, through [`QUEUE`] ([`super::lease_queue`]: a row is claimed with a
//! lease, `locked_until`, so no two nodes send the same row at once).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::lease_queue::{LeaseQueue, QueueState};
use super::schema::logout_deliveries;
use super::{DbConnection, Result};

/// A delivery as stored.
#[derive(Debug, Clone, QueryableByName, Insertable)]
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
    /// The logout token's claims, JSON; signed afresh at each attempt; emptied once the row is
    /// delivered or given up.
    pub logout_token: String,
    /// Where it stands in the queue (`pending`, `delivered` or `failed`).
    #[diesel(embed)]
    pub queue: QueueState,
    /// Queued.
    pub created_at: NaiveDateTime,
    /// Delivered.
    pub delivered_at: Option<NaiveDateTime>,
}

/// Queues a delivery.
pub fn insert(conn: &mut DbConnection, row: &DeliveryRow) -> Result<()> {
    super::rows::insert(conn, logout_deliveries::table, row)
}

/// The queue: a delivered row is `delivered`, at `delivered_at`. A claim takes each back-channel
/// URI's tokens in turn, so that an endpoint with many tokens due (one that never answers, whose
/// tokens wait for their retries) does not fill every round while other e-services' wait.
pub const QUEUE: LeaseQueue = LeaseQueue {
    table: "logout_deliveries",
    done: "delivered",
    done_at: <logout_deliveries::delivered_at as Column>::NAME,
    turns_by: Some(<logout_deliveries::uri as Column>::NAME),
    // Delivered or given up, the token's claims (`sub`, `sid`) are of no more use: kept, they
    // tied an erased account's subject to the time of its erasure for the row's week.
    spent: &[<logout_deliveries::logout_token as Column>::NAME],
};
