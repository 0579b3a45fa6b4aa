//! What the e-services hold of a resident, for the account page: the consents the resident gave
//! and the live `offline_access` grants, listed and revoked per client. Every query names its
//! tenant and the user: a client id from a form reaches only the signed-in resident's rows.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{consents, grants};
use super::{DbConnection, Result, Tenant};

/// One client's hold on a user: a consent, or a live offline grant.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct Held {
    /// The client.
    pub client_id: String,
    /// The scope consented to, or granted.
    pub scope: String,
    /// When the consent was given, or the grant made.
    pub since: NaiveDateTime,
}

/// The consents `user_id` of `tenant` gave, oldest first.
pub fn consents_of(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user_id: &str,
) -> Result<Vec<Held>> {
    Ok(consents::table
        .filter(consents::tenant_id.eq(tenant.id()))
        .filter(consents::user_id.eq(user_id))
        .order((consents::granted_at.asc(), consents::client_id.asc()))
        .select((consents::client_id, consents::scope, consents::granted_at))
        .load(conn)?)
}

/// The `offline_access` grants of `user_id` of `tenant` live at `now` (not revoked, not
/// expired), oldest first.
pub fn offline_grants_of(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user_id: &str,
    now: NaiveDateTime,
) -> Result<Vec<Held>> {
    Ok(grants::table
        .filter(grants::tenant_id.eq(tenant.id()))
        .filter(grants::user_id.eq(user_id))
        .filter(grants::offline.eq(true))
        .filter(grants::revoked_at.is_null())
        .filter(grants::expires_at.gt(now))
        .order((grants::created_at.asc(), grants::client_id.asc()))
        .select((grants::client_id, grants::scope, grants::created_at))
        .load(conn)?)
}

/// Deletes the consent `user_id` of `tenant` gave `client_id`; false when there was none.
pub fn delete_consent(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user_id: &str,
    client_id: &str,
) -> Result<bool> {
    let deleted = diesel::delete(
        consents::table
            .filter(consents::tenant_id.eq(tenant.id()))
            .filter(consents::user_id.eq(user_id))
            .filter(consents::client_id.eq(client_id)),
    )
    .execute(conn)?;
    Ok(deleted > 0)
}

/// Deletes every consent of `user_id` of `tenant` (the deletion of the account); returns how
/// many went.
pub fn delete_consents(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user_id: &str,
) -> Result<usize> {
    Ok(diesel::delete(
        consents::table
            .filter(consents::tenant_id.eq(tenant.id()))
            .filter(consents::user_id.eq(user_id)),
    )
    .execute(conn)?)
}

/// Revokes every unrevoked grant of `user_id` of `tenant` to `client_id`, offline ones included
/// (and with them their codes, refresh and access tokens); returns how many.
pub fn revoke_client_grants(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user_id: &str,
    client_id: &str,
    now: NaiveDateTime,
) -> Result<usize> {
    Ok(diesel::update(
        grants::table
            .filter(grants::tenant_id.eq(tenant.id()))
            .filter(grants::user_id.eq(user_id))
            .filter(grants::client_id.eq(client_id))
            .filter(grants::revoked_at.is_null()),
    )
    .set(grants::revoked_at.eq(now))
    .execute(conn)?)
}
