//! The `account_epochs` table: how many times everything an account held was ended
//! (`flows::oidc::logout::end_everything`, every recovery). A password login reads the epoch
//! with the account, before the password is hashed, and starts its session only while it is
//! unchanged (`flows/oidc/standing.rs`). No row is epoch 0.

use diesel::prelude::*;

use super::schema::account_epochs;
use super::{DbConnection, Result, Tenant};

/// The epoch of the user `user_id` of `tenant`: 0 until everything it held was first ended.
pub fn current(conn: &mut DbConnection, tenant: Tenant<'_>, user_id: &str) -> Result<i64> {
    Ok(account_epochs::table
        .find(user_id)
        .filter(account_epochs::tenant_id.eq(tenant.id()))
        .select(account_epochs::epoch)
        .get_result(conn)
        .optional()?
        .unwrap_or(0))
}

/// Starts the next epoch of the user `user_id` of `tenant`. The caller holds the user's row
/// ([`super::users::lock`]), so no other transaction advances it between the update and the
/// insert of a first row.
pub fn advance(conn: &mut DbConnection, tenant: Tenant<'_>, user_id: &str) -> Result<()> {
    let advanced = diesel::update(
        account_epochs::table
            .find(user_id)
            .filter(account_epochs::tenant_id.eq(tenant.id())),
    )
    .set(account_epochs::epoch.eq(account_epochs::epoch + 1))
    .execute(conn)?;
    if advanced == 0 {
        let first = (
            account_epochs::user_id.eq(user_id),
            account_epochs::tenant_id.eq(tenant.id()),
            account_epochs::epoch.eq(1_i64),
        );
        super::rows::insert(conn, account_epochs::table, first)?;
    }
    Ok(())
}

/// Forgets the epoch of the user `user_id` of `tenant` (its erasure: a tombstone never logs in).
pub fn forget(conn: &mut DbConnection, tenant: Tenant<'_>, user_id: &str) -> Result<()> {
    diesel::delete(
        account_epochs::table
            .find(user_id)
            .filter(account_epochs::tenant_id.eq(tenant.id())),
    )
    .execute(conn)?;
    Ok(())
}
