//! The `auth_requests` table: authorization requests waiting for the resident, and pushed ones.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::auth_requests;
use super::{DbConnection, Result, Tenant};

/// A pending request as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = auth_requests)]
pub struct AuthRequestRow {
    /// Random id, carried by the login page.
    pub id: String,
    /// The tenant.
    pub tenant_id: String,
    /// The client.
    pub client_id: String,
    /// The validated parameters, JSON.
    pub params: String,
    /// For a pushed request: the hash of its `request_uri`.
    pub request_uri_hash: Option<String>,
    /// Who logged in for it.
    pub user_id: Option<String>,
    /// The session it was completed in.
    pub session_id: Option<String>,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Void after.
    pub expires_at: NaiveDateTime,
}

/// Stores a request.
pub fn insert(conn: &mut DbConnection, row: &AuthRequestRow) -> Result<()> {
    super::rows::insert(conn, auth_requests::table, row)
}

/// An unexpired request of `tenant` by id.
pub fn find(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    id: &str,
    now: NaiveDateTime,
) -> Result<Option<AuthRequestRow>> {
    Ok(auth_requests::table
        .find(id)
        .filter(auth_requests::tenant_id.eq(tenant.id()))
        .filter(auth_requests::expires_at.gt(now))
        .select(AuthRequestRow::as_select())
        .get_result(conn)
        .optional()?)
}

/// Takes (reads and deletes) an unexpired pushed request by its `request_uri` hash.
pub fn take_pushed(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    request_uri_hash: &str,
    now: NaiveDateTime,
) -> Result<Option<AuthRequestRow>> {
    let row = auth_requests::table
        .filter(auth_requests::request_uri_hash.eq(request_uri_hash))
        .filter(auth_requests::tenant_id.eq(tenant.id()))
        .select(AuthRequestRow::as_select())
        .get_result(conn)
        .optional()?;
    let Some(row) = row else { return Ok(None) };
    let deleted = diesel::delete(auth_requests::table.find(&row.id)).execute(conn)?;
    Ok((deleted == 1 && row.expires_at > now).then_some(row))
}

/// Replaces the parameters of `tenant`'s request `id`; returns whether there was one.
pub fn set_params(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    id: &str,
    params: &str,
) -> Result<bool> {
    let updated = diesel::update(
        auth_requests::table
            .find(id)
            .filter(auth_requests::tenant_id.eq(tenant.id())),
    )
    .set(auth_requests::params.eq(params))
    .execute(conn)?;
    Ok(updated == 1)
}

/// Deletes a request of `tenant` (it was answered); false when it was gone already (a
/// concurrent request answered it).
pub fn delete(conn: &mut DbConnection, tenant: Tenant<'_>, id: &str) -> Result<bool> {
    let deleted = diesel::delete(
        auth_requests::table
            .find(id)
            .filter(auth_requests::tenant_id.eq(tenant.id())),
    )
    .execute(conn)?;
    Ok(deleted == 1)
}
