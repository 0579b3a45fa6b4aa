//! The `ceremonies` table: a two-request exchange kept on the server between its requests — a
//! WebAuthn registration or authentication (webauthn-rs's state, with its challenge), or a
//! one-time code's enrolment (the new secret, sealed) — found by the hash of the id the page holds
//! and taken (read and deleted) once.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::ceremonies;
use super::{DbConnection, Result, Tenant};

/// A ceremony as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = ceremonies)]
pub struct CeremonyRow {
    /// SHA-256 of the id the page holds.
    pub id_hash: String,
    /// The tenant.
    pub tenant_id: String,
    /// The user it is for; none for a login that learns the user from the passkey.
    pub user_id: Option<String>,
    /// What it is for (`passkey_register`, `passkey_login`, `totp_enrol`, …): a state is only
    /// taken for its purpose.
    pub purpose: String,
    /// The state: webauthn-rs's as JSON, or a sealed secret.
    pub state: String,
    /// Started.
    pub created_at: NaiveDateTime,
    /// Void after.
    pub expires_at: NaiveDateTime,
}

/// Stores a ceremony.
pub fn insert(conn: &mut DbConnection, row: &CeremonyRow) -> Result<()> {
    super::rows::insert(conn, ceremonies::table, row)
}

/// The ceremony of `tenant` for `purpose` whose id hashes to `id_hash`, expired or not.
fn lookup(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    purpose: &str,
    id_hash: &str,
) -> Result<Option<CeremonyRow>> {
    Ok(ceremonies::table
        .find(id_hash)
        .filter(ceremonies::tenant_id.eq(tenant.id()))
        .filter(ceremonies::purpose.eq(purpose))
        .select(CeremonyRow::as_select())
        .get_result(conn)
        .optional()?)
}

/// Takes (reads and deletes) the unexpired ceremony of `tenant` for `purpose` whose id hashes to
/// `id_hash`; `None` when there is none, it expired, or a concurrent request took it first.
pub fn take(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    purpose: &str,
    id_hash: &str,
    now: NaiveDateTime,
) -> Result<Option<CeremonyRow>> {
    let Some(row) = lookup(conn, tenant, purpose, id_hash)? else {
        return Ok(None);
    };
    let deleted = diesel::delete(ceremonies::table.find(&row.id_hash)).execute(conn)?;
    Ok((deleted == 1 && row.expires_at > now).then_some(row))
}

/// Reads, without taking it, the unexpired ceremony of `tenant` for `purpose` whose id hashes to
/// `id_hash` (a form shown again after a wrong answer keeps its ceremony).
pub fn find(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    purpose: &str,
    id_hash: &str,
    now: NaiveDateTime,
) -> Result<Option<CeremonyRow>> {
    Ok(lookup(conn, tenant, purpose, id_hash)?.filter(|row| row.expires_at > now))
}

/// Deletes every ceremony of `tenant` for the user `user_id` (support's reset of the user's second
/// factor); returns how many went.
pub fn remove_for_user(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user_id: &str,
) -> Result<usize> {
    Ok(diesel::delete(
        ceremonies::table
            .filter(ceremonies::tenant_id.eq(tenant.id()))
            .filter(ceremonies::user_id.eq(user_id)),
    )
    .execute(conn)?)
}
