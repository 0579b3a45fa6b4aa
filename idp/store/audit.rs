//! The audit trail: security events a city can query (`audit_events`).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::audit_events;
use super::{DbConnection, StoreError, Tenant};

/// An event to record.
#[derive(Debug, Insertable)]
#[diesel(table_name = audit_events)]
pub struct NewEvent<'a> {
    /// The tenant, when the event belongs to one.
    pub tenant_id: Option<&'a str>,
    /// When.
    pub occurred_at: NaiveDateTime,
    /// What, as `noun.verb`: `user.created`, `login.failed`.
    pub kind: &'a str,
    /// Whose account.
    pub user_id: Option<&'a str>,
    /// Which e-service.
    pub client_id: Option<&'a str>,
    /// From which address.
    pub remote_addr: Option<&'a str>,
    /// More, as JSON; never a secret.
    pub detail: Option<&'a str>,
}

/// Appends an event.
pub fn record(conn: &mut DbConnection, event: &NewEvent<'_>) -> Result<(), StoreError> {
    diesel::insert_into(audit_events::table)
        .values(event)
        .execute(conn)?;
    Ok(())
}

/// The kinds of a tenant's events, oldest first (tests and reports).
pub fn kinds(conn: &mut DbConnection, tenant: Tenant<'_>) -> Result<Vec<String>, StoreError> {
    Ok(audit_events::table
        .filter(audit_events::tenant_id.eq(tenant.id()))
        .order(audit_events::id.asc())
        .select(audit_events::kind)
        .load(conn)?)
}
