//! The `webauthn_ceremonies` table: a WebAuthn registration or authentication between its two
//! requests (webauthn-rs's state, with its challenge), found by the hash of the id the page holds
//! and taken (read and deleted) once.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::webauthn_ceremonies;
use super::{DbConnection, Result, Tenant};

/// A ceremony as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webauthn_ceremonies)]
pub struct CeremonyRow {
    /// SHA-256 of the id the page holds.
    pub id_hash: String,
    /// The tenant.
    pub tenant_id: String,
    /// The user it is for; none for a login that learns the user from the passkey.
    pub user_id: Option<String>,
    /// What it is for (`register`, `login`, `confirm`, …): a state is only taken for its purpose.
    pub purpose: String,
    /// webauthn-rs's state, JSON.
    pub state: String,
    /// Started.
    pub created_at: NaiveDateTime,
    /// Void after.
    pub expires_at: NaiveDateTime,
}

/// Stores a ceremony.
pub fn insert(conn: &mut DbConnection, row: &CeremonyRow) -> Result<()> {
    super::rows::insert(conn, webauthn_ceremonies::table, row)
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
    let row = webauthn_ceremonies::table
        .find(id_hash)
        .filter(webauthn_ceremonies::tenant_id.eq(tenant.id()))
        .filter(webauthn_ceremonies::purpose.eq(purpose))
        .select(CeremonyRow::as_select())
        .get_result(conn)
        .optional()?;
    let Some(row) = row else { return Ok(None) };
    let deleted = diesel::delete(webauthn_ceremonies::table.find(&row.id_hash)).execute(conn)?;
    Ok((deleted == 1 && row.expires_at > now).then_some(row))
}
