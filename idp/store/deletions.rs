//! The `account_deletions` table: accounts whose deletion was asked for, waiting out their grace
//! period (the undo link works until `erase_at`), and those erased since (the row stays with the
//! tombstone, `erased_at` set).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::account_deletions;
use super::{DbConnection, Result, Tenant};

/// A deletion as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = account_deletions)]
pub struct DeletionRow {
    /// The account.
    pub user_id: String,
    /// The tenant.
    pub tenant_id: String,
    /// Asked for.
    pub requested_at: NaiveDateTime,
    /// The end of the grace period: the undo link works until then, the erasure is due then.
    pub erase_at: NaiveDateTime,
    /// Whether the account was disabled before the request (restored by an undo).
    pub was_disabled: bool,
    /// `resident` or `cli`.
    pub requested_by: String,
    /// Erased (the account is a tombstone).
    pub erased_at: Option<NaiveDateTime>,
}

/// Records a deletion request.
pub fn insert(conn: &mut DbConnection, row: &DeletionRow) -> Result<()> {
    super::rows::insert(conn, account_deletions::table, row)
}

/// The deletion of the user `user_id` of `tenant`, pending or done.
pub fn find(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user_id: &str,
) -> Result<Option<DeletionRow>> {
    Ok(account_deletions::table
        .find(user_id)
        .filter(account_deletions::tenant_id.eq(tenant.id()))
        .select(DeletionRow::as_select())
        .get_result(conn)
        .optional()?)
}

/// Removes the pending deletion of the user `user_id` of `tenant` (an undo); the row it was, or
/// `None` when there is none pending (already undone, or erased).
pub fn cancel(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user_id: &str,
) -> Result<Option<DeletionRow>> {
    let Some(row) = find(conn, tenant, user_id)?.filter(|d| d.erased_at.is_none()) else {
        return Ok(None);
    };
    let gone = diesel::delete(
        account_deletions::table
            .find(user_id)
            .filter(account_deletions::tenant_id.eq(tenant.id()))
            .filter(account_deletions::erased_at.is_null()),
    )
    .execute(conn)?;
    Ok((gone == 1).then_some(row))
}

/// Up to `limit` pending deletions of `tenant` whose grace period ended before `now`, the
/// oldest first.
pub fn due(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    now: NaiveDateTime,
    limit: i64,
) -> Result<Vec<DeletionRow>> {
    Ok(account_deletions::table
        .filter(account_deletions::tenant_id.eq(tenant.id()))
        .filter(account_deletions::erased_at.is_null())
        .filter(account_deletions::erase_at.le(now))
        .order((
            account_deletions::erase_at.asc(),
            account_deletions::user_id.asc(),
        ))
        .limit(limit)
        .select(DeletionRow::as_select())
        .load(conn)?)
}

/// Sets every time of the erased deletion of `user_id` to `at` (the erasure's
/// [`super::erasure::TOMBSTONE_TIME`]: each equals an audit event's time).
pub fn blur(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user_id: &str,
    at: NaiveDateTime,
) -> Result<()> {
    diesel::update(
        account_deletions::table
            .find(user_id)
            .filter(account_deletions::tenant_id.eq(tenant.id())),
    )
    .set((
        account_deletions::requested_at.eq(at),
        account_deletions::erase_at.eq(at),
        account_deletions::erased_at.eq(Some(at)),
    ))
    .execute(conn)?;
    Ok(())
}

/// Moves the deletion of the user `user_id` of `tenant` to the user `to` (an erased account's
/// tombstone under its new id).
pub fn rekey(conn: &mut DbConnection, tenant: Tenant<'_>, user_id: &str, to: &str) -> Result<()> {
    diesel::update(
        account_deletions::table
            .find(user_id)
            .filter(account_deletions::tenant_id.eq(tenant.id())),
    )
    .set(account_deletions::user_id.eq(to))
    .execute(conn)?;
    Ok(())
}

/// Marks the deletion of the user `user_id` of `tenant` done at `now`; whether it was pending.
pub fn mark_erased(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user_id: &str,
    now: NaiveDateTime,
) -> Result<bool> {
    let changed = diesel::update(
        account_deletions::table
            .find(user_id)
            .filter(account_deletions::tenant_id.eq(tenant.id()))
            .filter(account_deletions::erased_at.is_null()),
    )
    .set(account_deletions::erased_at.eq(now))
    .execute(conn)?;
    Ok(changed == 1)
}
