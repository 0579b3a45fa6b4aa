//! The account page's passkeys: renamed, removed (after the page checked the current password or
//! another passkey), each audited; and the names a password reset mail lists. Removing the last
//! passkey locks no one out: the password stays.

use serde_json::json;

use super::register::clean_name;
use crate::flows::context::Minter;
use crate::flows::error::FlowError;
use crate::store::users::UserRow;
use crate::store::{self, DbConnection, Tenant, passkeys};

/// Renames `user`'s passkey `id` to `typed` (trimmed, bounded); false when the name is empty or
/// the user has no such passkey.
pub fn rename(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
    id: &str,
    typed: &str,
) -> Result<bool, FlowError> {
    let Some(name) = clean_name(typed) else {
        return Ok(false);
    };
    store::write_transaction(conn, |conn| {
        if !passkeys::rename(conn, Tenant::of(m.tenant), &user.id, id, &name)? {
            return Ok(false);
        }
        m.audit("passkey.renamed")
            .user(user.id.as_str())
            .detail(&json!({ "passkey": id, "name": name }))
            .record(conn)?;
        Ok(true)
    })
}

/// Removes `user`'s passkey `id` (the caller checked the password or a passkey); false when the
/// user has no such passkey.
pub fn remove(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
    id: &str,
) -> Result<bool, FlowError> {
    store::write_transaction(conn, |conn| {
        if !passkeys::remove(conn, Tenant::of(m.tenant), &user.id, id)? {
            return Ok(false);
        }
        m.audit("passkey.removed")
            .user(user.id.as_str())
            .detail(&json!({ "passkey": id }))
            .record(conn)?;
        Ok(true)
    })
}

/// The names of a user's passkeys, the oldest first (the password reset mail lists them).
pub fn names(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user_id: &str,
) -> Result<Vec<String>, FlowError> {
    Ok(passkeys::of_user(conn, tenant, user_id)?
        .into_iter()
        .map(|p| p.name)
        .collect())
}
