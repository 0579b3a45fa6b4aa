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
    /// The pending request it belongs to, if any (a passkey login's).
    pub auth_request_id: Option<String>,
}

/// Stores a ceremony.
pub fn insert(conn: &mut DbConnection, row: &CeremonyRow) -> Result<()> {
    super::rows::insert(conn, ceremonies::table, row)
}

/// Whose ceremonies [`trim`] keeps a few of.
#[derive(Debug, Clone, Copy)]
pub enum Owned<'a> {
    /// A pending login's, by its id (a passkey login, a passkey as its second factor).
    Request(&'a str),
    /// A signed-in user's on the account page (no pending login), by the user's id.
    User(&'a str),
}

/// Deletes the ceremonies of `tenant` for `purpose` of `owner` but the `keep` newest; returns how
/// many went. Before a new one is stored, so that one login or one account page keeps only a few
/// waiting however often its page asks.
pub fn trim(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    (owner, purpose): (Owned<'_>, &str),
    keep: i64,
) -> Result<usize> {
    let mut query = ceremonies::table
        .filter(ceremonies::tenant_id.eq(tenant.id()))
        .filter(ceremonies::purpose.eq(purpose))
        .into_boxed();
    query = match owner {
        Owned::Request(id) => query.filter(ceremonies::auth_request_id.eq(id)),
        Owned::User(id) => query
            .filter(ceremonies::user_id.eq(id))
            .filter(ceremonies::auth_request_id.is_null()),
    };
    let older: Vec<String> = query
        .order((ceremonies::created_at.desc(), ceremonies::id_hash.desc()))
        // SQLite takes an OFFSET only with a LIMIT (a boxed query writes none of its own); a
        // trim a round keeps the rows bounded all the same.
        .limit(1_000)
        .offset(keep)
        .select(ceremonies::id_hash)
        .load(conn)?;
    if older.is_empty() {
        return Ok(0);
    }
    Ok(diesel::delete(
        ceremonies::table
            .filter(ceremonies::tenant_id.eq(tenant.id()))
            .filter(ceremonies::id_hash.eq_any(&older)),
    )
    .execute(conn)?)
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

/// The unexpired ceremonies of `tenant` for `purpose` of the user `user_id`, newest first, at most
/// `most` (a trimmed few: [`trim`]).
pub fn live_of_user(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    (purpose, user_id): (&str, &str),
    now: NaiveDateTime,
    most: i64,
) -> Result<Vec<CeremonyRow>> {
    Ok(ceremonies::table
        .filter(ceremonies::tenant_id.eq(tenant.id()))
        .filter(ceremonies::purpose.eq(purpose))
        .filter(ceremonies::user_id.eq(user_id))
        .filter(ceremonies::expires_at.gt(now))
        .order((ceremonies::created_at.desc(), ceremonies::id_hash.desc()))
        .limit(most)
        .select(CeremonyRow::as_select())
        .load(conn)?)
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
