//! The `one_time_links` table: mailed links, stored as the hash of their secret.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Nullable};

use super::schema::one_time_links;
use super::{Backend, DbConnection, Result, Tenant};

/// The purpose of a change of address's undo link, mailed to the old address.
pub const UNDO_EMAIL_CHANGE: &str = "undo_email_change";
/// The purpose of a deletion's undo link, mailed to the account's address.
pub const UNDO_DELETION: &str = "undo_deletion";
/// The links that give an account back to whoever it was taken from (a change of address or a
/// deletion undone): what ends everything on an account voids every other link, never these.
pub const WAYS_BACK: [&str; 2] = [UNDO_EMAIL_CHANGE, UNDO_DELETION];

/// A link as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = one_time_links)]
pub struct LinkRow {
    /// SHA-256 of the link's secret.
    pub token_hash: String,
    /// The tenant.
    pub tenant_id: String,
    /// `reset_password`, …
    pub purpose: String,
    /// The account it acts on.
    pub user_id: Option<String>,
    /// The legacy account it proves (the linker).
    pub legacy_account_id: Option<String>,
    /// The address it was sent to.
    pub email: Option<String>,
    /// The authorization request to continue afterwards.
    pub auth_request_id: Option<String>,
    /// Purpose-specific JSON.
    pub payload: Option<String>,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Void after.
    pub expires_at: NaiveDateTime,
    /// Used (once).
    pub used_at: Option<NaiveDateTime>,
}

/// Stores a link.
pub fn insert(conn: &mut DbConnection, row: &LinkRow) -> Result<()> {
    super::rows::insert(conn, one_time_links::table, row)
}

/// An unused, unexpired link of `tenant` for `purpose`.
pub fn find_usable(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    purpose: &str,
    token_hash: &str,
    now: NaiveDateTime,
) -> Result<Option<LinkRow>> {
    Ok(one_time_links::table
        .find(token_hash)
        .filter(one_time_links::tenant_id.eq(tenant.id()))
        .filter(one_time_links::purpose.eq(purpose))
        .filter(one_time_links::used_at.is_null())
        .filter(one_time_links::expires_at.gt(now))
        .select(LinkRow::as_select())
        .get_result(conn)
        .optional()?)
}

/// The pending authorization request an unused, unexpired link of `tenant` was sent for, if any
/// (whatever its purpose).
pub fn auth_request_of(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    token_hash: &str,
    now: NaiveDateTime,
) -> Result<Option<String>> {
    Ok(one_time_links::table
        .find(token_hash)
        .filter(one_time_links::tenant_id.eq(tenant.id()))
        .filter(one_time_links::used_at.is_null())
        .filter(one_time_links::expires_at.gt(now))
        .select(one_time_links::auth_request_id)
        .get_result::<Option<String>>(conn)
        .optional()?
        .flatten())
}

/// Every link of `tenant` that acts on the user `user_id`, used or not, the oldest first: the
/// resident's data export lists them, and the undo of a change of address reads the account's
/// changes from their undo links.
pub fn of_user(conn: &mut DbConnection, tenant: Tenant<'_>, user_id: &str) -> Result<Vec<LinkRow>> {
    Ok(one_time_links::table
        .filter(one_time_links::tenant_id.eq(tenant.id()))
        .filter(one_time_links::user_id.eq(user_id))
        .order((
            one_time_links::created_at.asc(),
            one_time_links::token_hash.asc(),
        ))
        .select(LinkRow::as_select())
        .load(conn)?)
}

/// Marks a link of `tenant` used; false when it was used already (by a concurrent request).
pub fn use_once(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    token_hash: &str,
    now: NaiveDateTime,
) -> Result<bool> {
    let which = one_time_links::token_hash.eq(token_hash).nullable();
    Ok(void_unused(conn, tenant, Box::new(which), now)? == 1)
}

/// Replaces the payload of the link of `tenant` whose token hash is `token_hash`.
pub fn set_payload(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    token_hash: &str,
    payload: &str,
) -> Result<()> {
    diesel::update(
        one_time_links::table
            .filter(one_time_links::tenant_id.eq(tenant.id()))
            .filter(one_time_links::token_hash.eq(token_hash)),
    )
    .set(one_time_links::payload.eq(payload))
    .execute(conn)?;
    Ok(())
}

/// The addresses the links of the old account `legacy_account_id` of `tenant` were sent to,
/// used or not.
pub fn addresses_of_legacy(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    legacy_account_id: &str,
) -> Result<Vec<String>> {
    Ok(one_time_links::table
        .filter(one_time_links::tenant_id.eq(tenant.id()))
        .filter(one_time_links::legacy_account_id.eq(legacy_account_id))
        .select(one_time_links::email)
        .load::<Option<String>>(conn)?
        .into_iter()
        .flatten()
        .collect())
}

/// Voids the unused links of `purpose` for a user (a password set another way ends its reset
/// links).
pub fn void_for_user(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user_id: &str,
    purpose: &str,
    now: NaiveDateTime,
) -> Result<usize> {
    let which = one_time_links::user_id
        .eq(user_id)
        .and(one_time_links::purpose.eq(purpose));
    void_unused(conn, tenant, Box::new(which), now)
}

/// Voids the unused links of `tenant` among `token_hashes` (the undo of a change of address voids
/// the undo links of the changes made after it).
pub fn void_these(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    token_hashes: &[&str],
    now: NaiveDateTime,
) -> Result<usize> {
    if token_hashes.is_empty() {
        return Ok(0);
    }
    let which = one_time_links::token_hash.eq_any(token_hashes).nullable();
    void_unused(conn, tenant, Box::new(which), now)
}

/// Voids every unused link of a user of `tenant` but those of the `kept` purposes (a confirmed
/// change of address ends the reset, verification and linker links sent before it).
pub fn void_all_for_user(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user_id: &str,
    kept: &[&str],
    now: NaiveDateTime,
) -> Result<usize> {
    let which = one_time_links::user_id
        .eq(user_id)
        .and(one_time_links::purpose.ne_all(kept));
    void_unused(conn, tenant, Box::new(which), now)
}

/// Voids the unused links that would bind a legacy account (it was bound another way).
pub fn void_for_legacy(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    legacy_account_id: &str,
    now: NaiveDateTime,
) -> Result<usize> {
    let which = one_time_links::legacy_account_id.eq(legacy_account_id);
    void_unused(conn, tenant, Box::new(which), now)
}

/// Marks used, at `now`, the unused links of `tenant` that `which` picks; returns how many.
/// `which` is of SQL type `Nullable<Bool>`, as the columns it compares are nullable.
fn void_unused<'a>(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    which: Box<
        dyn BoxableExpression<one_time_links::table, Backend, SqlType = Nullable<Bool>> + 'a,
    >,
    now: NaiveDateTime,
) -> Result<usize> {
    Ok(diesel::update(
        one_time_links::table
            .filter(which)
            .filter(one_time_links::tenant_id.eq(tenant.id()))
            .filter(one_time_links::used_at.is_null()),
    )
    .set(one_time_links::used_at.eq(now))
    .execute(conn)?)
}
