//! The `auth_requests` table: authorization requests waiting for the resident, and pushed ones.
//!
//! Anyone can make a row (an anonymous `/authorize`, a public client's push), so such a row
//! carries its client address's key (`client_key`, a hash) and is stored only while that address
//! has fewer than so many rows not yet expired, in every tenant together ([`insert_within`]). A
//! confidential client's push carries its client's key instead, counted the same way.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text, Timestamp};

use super::connection::on_backend;
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
    /// For a request anyone can make (an anonymous one, a public client's push): the hash of its
    /// client address's counting key, which [`insert_within`] counts; else none.
    pub client_key: Option<String>,
}

/// Stores a request.
pub fn insert(conn: &mut DbConnection, row: &AuthRequestRow) -> Result<()> {
    super::rows::insert(conn, auth_requests::table, row)
}

/// Stores `row` unless its client address or client (`row.client_key`) has `max` requests or more not
/// expired at `now` already, of any tenant (they share the disk); returns whether it stored it. A
/// row without a client key is stored uncounted.
///
/// One statement, `INSERT … SELECT … WHERE (SELECT count(*) …) < max`, over the index
/// `auth_requests_client_key`: no more statements than a plain insert, and no lock. On SQLite the
/// writers take turns, so the count is exact; on PostgreSQL two inserts of one address at the
/// same moment may both count the other's row as not there yet, and pass together at `max - 1`
/// (a soft cap: a parallel burst passes it by at most the requests in flight at once).
pub fn insert_within(
    conn: &mut DbConnection,
    row: &AuthRequestRow,
    max: i64,
    now: NaiveDateTime,
) -> Result<bool> {
    let Some(key) = row.client_key.as_deref() else {
        insert(conn, row)?;
        return Ok(true);
    };
    let waiting = auth_requests::table
        .filter(auth_requests::client_key.eq(key))
        .filter(auth_requests::expires_at.gt(now))
        .count()
        .single_value();
    let values = diesel::select((
        row.id.as_str().into_sql::<Text>(),
        row.tenant_id.as_str().into_sql::<Text>(),
        row.client_id.as_str().into_sql::<Text>(),
        row.params.as_str().into_sql::<Text>(),
        row.request_uri_hash.as_deref().into_sql::<Nullable<Text>>(),
        row.user_id.as_deref().into_sql::<Nullable<Text>>(),
        row.session_id.as_deref().into_sql::<Nullable<Text>>(),
        row.created_at.into_sql::<Timestamp>(),
        row.expires_at.into_sql::<Timestamp>(),
        Some(key).into_sql::<Nullable<Text>>(),
    ))
    .filter(waiting.lt(max));
    let insert = diesel::insert_into(auth_requests::table)
        .values(values)
        .into_columns((
            auth_requests::id,
            auth_requests::tenant_id,
            auth_requests::client_id,
            auth_requests::params,
            auth_requests::request_uri_hash,
            auth_requests::user_id,
            auth_requests::session_id,
            auth_requests::created_at,
            auth_requests::expires_at,
            auth_requests::client_key,
        ));
    let stored = on_backend!(conn, |c| insert.execute(c))?;
    Ok(stored == 1)
}

/// Keeps the request `id` of `tenant` waiting until `until` at least (a link mailed for it lives
/// that long).
pub fn wait_until(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    id: &str,
    until: NaiveDateTime,
) -> Result<()> {
    diesel::update(
        auth_requests::table
            .find(id)
            .filter(auth_requests::tenant_id.eq(tenant.id()))
            .filter(auth_requests::expires_at.lt(until)),
    )
    .set(auth_requests::expires_at.eq(until))
    .execute(conn)?;
    Ok(())
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

/// Deletes `tenant`'s request `row` only while it is as it was read (its parameters, which name
/// its step, unchanged); false when it was gone or had changed (a concurrent login answered it,
/// and a row of the same id now stands for that answer).
pub fn delete_as_read(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    row: &AuthRequestRow,
) -> Result<bool> {
    let deleted = diesel::delete(
        auth_requests::table
            .find(&row.id)
            .filter(auth_requests::tenant_id.eq(tenant.id()))
            .filter(auth_requests::params.eq(&row.params)),
    )
    .execute(conn)?;
    Ok(deleted == 1)
}
