//! The `passkeys` table: the WebAuthn credentials users registered, each of one tenant. The key's
//! public part and its signature counter are webauthn-rs's `Passkey`, stored as JSON. And
//! `passkey_offers`: when idp last offered a user to add one.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{passkey_offers, passkeys};
use super::{DbConnection, Result, Tenant};

/// A passkey as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = passkeys)]
pub struct PasskeyRow {
    /// Internal id (what the account page names it by).
    pub id: String,
    /// The tenant.
    pub tenant_id: String,
    /// Its user.
    pub user_id: String,
    /// base64url of the credential id.
    pub credential_id: String,
    /// The name the user gave it.
    pub name: String,
    /// webauthn-rs's `Passkey`, JSON.
    pub passkey: String,
    /// Whether the key may be copied to other devices (synced).
    pub backup_eligible: bool,
    /// Added.
    pub created_at: NaiveDateTime,
    /// Last used to log in or to confirm.
    pub last_used_at: Option<NaiveDateTime>,
}

/// Stores a passkey; [`super::StoreError::UniqueViolation`] when the credential is registered
/// already in the tenant.
pub fn insert(conn: &mut DbConnection, row: &PasskeyRow) -> Result<()> {
    super::rows::insert(conn, passkeys::table, row)
}

/// The passkeys of a user of `tenant`, the oldest first.
pub fn of_user(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user_id: &str,
) -> Result<Vec<PasskeyRow>> {
    Ok(passkeys::table
        .filter(passkeys::tenant_id.eq(tenant.id()))
        .filter(passkeys::user_id.eq(user_id))
        .order((passkeys::created_at.asc(), passkeys::id.asc()))
        .select(PasskeyRow::as_select())
        .load(conn)?)
}

/// The passkey of `tenant` with this credential id (base64url), whoever's it is.
pub fn by_credential(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    credential_id: &str,
) -> Result<Option<PasskeyRow>> {
    Ok(passkeys::table
        .filter(passkeys::tenant_id.eq(tenant.id()))
        .filter(passkeys::credential_id.eq(credential_id))
        .select(PasskeyRow::as_select())
        .get_result(conn)
        .optional()?)
}

/// After a use: the key's new state (its counter) and when; false when it is gone.
pub fn used(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    id: &str,
    passkey: &str,
    now: NaiveDateTime,
) -> Result<bool> {
    let changed = diesel::update(
        passkeys::table
            .find(id)
            .filter(passkeys::tenant_id.eq(tenant.id())),
    )
    .set((
        passkeys::passkey.eq(passkey),
        passkeys::last_used_at.eq(now),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Renames a passkey of a user of `tenant`; false when the user has no such passkey.
pub fn rename(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user_id: &str,
    id: &str,
    name: &str,
) -> Result<bool> {
    let changed = diesel::update(
        passkeys::table
            .find(id)
            .filter(passkeys::tenant_id.eq(tenant.id()))
            .filter(passkeys::user_id.eq(user_id)),
    )
    .set(passkeys::name.eq(name))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Removes a passkey of a user of `tenant`; false when the user has no such passkey.
pub fn remove(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user_id: &str,
    id: &str,
) -> Result<bool> {
    let deleted = diesel::delete(
        passkeys::table
            .find(id)
            .filter(passkeys::tenant_id.eq(tenant.id()))
            .filter(passkeys::user_id.eq(user_id)),
    )
    .execute(conn)?;
    Ok(deleted == 1)
}

/// Removes every passkey of a user of `tenant` (support's reset of a second factor); returns how
/// many.
pub fn remove_all(conn: &mut DbConnection, tenant: Tenant<'_>, user_id: &str) -> Result<usize> {
    Ok(diesel::delete(
        passkeys::table
            .filter(passkeys::tenant_id.eq(tenant.id()))
            .filter(passkeys::user_id.eq(user_id)),
    )
    .execute(conn)?)
}

/// When idp last offered a user of `tenant` to add a passkey.
pub fn offered_at(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user_id: &str,
) -> Result<Option<NaiveDateTime>> {
    Ok(passkey_offers::table
        .find(user_id)
        .filter(passkey_offers::tenant_id.eq(tenant.id()))
        .select(passkey_offers::offered_at)
        .get_result(conn)
        .optional()?)
}

/// Records that idp offered a user of `tenant` to add a passkey at `now`.
pub fn offered(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user_id: &str,
    now: NaiveDateTime,
) -> Result<()> {
    diesel::delete(passkey_offers::table.find(user_id)).execute(conn)?;
    let offer = (
        passkey_offers::user_id.eq(user_id),
        passkey_offers::tenant_id.eq(tenant.id()),
        passkey_offers::offered_at.eq(now),
    );
    super::rows::insert(conn, passkey_offers::table, offer)
}
