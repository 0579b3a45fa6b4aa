//! Token revocation (RFC 7009): a refresh token revokes its grant (and with it the access tokens
//! issued from it); an access token is listed as revoked until it expires. Either is audited as
//! `token.revoked`, in the revocation's transaction.

use chrono::DateTime;
use serde_json::json;

use super::client_auth::{self, Presented};
use super::error::OAuthError;
use super::family;
use super::request::Params;
use crate::flows::context::Minter;
use crate::store::{self, DbConnection, StoreError, Tenant, grants};

/// Revokes `token` if it is the authenticated client's; answers the same either way (§2.2).
pub fn revoke(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    presented: &Presented,
    params: &Params,
) -> Result<(), OAuthError> {
    let client = client_auth::authenticate(m.tenant, conn, presented, m.now)?;
    let tenant = Tenant::of(m.tenant);
    let token = params
        .get("token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let revoked = |kind: &str| {
        m.audit("token.revoked")
            .client(client.client_id.as_str())
            .detail(&json!({ "token": kind }))
    };
    // `token_type_hint` is not read: both kinds are looked for, and an unknown hint "is ignored
    // by the authorization server and does not influence the revocation response" (§2.2.1).
    let access = m.verify_access_token(token).ok();
    store::write_transaction(conn, |conn| {
        // A refresh token, current or rotated (of a family, or kept since before families).
        if let Some(grant) = family::Presented::of(token).grant(conn, tenant)? {
            if grant.client_id == client.client_id {
                // Audited once: a repeated revocation changes nothing.
                if grants::revoke_grant(conn, tenant, &grant.id, m.now)? {
                    revoked("refresh_token")
                        .user(grant.user_id.as_deref())
                        .record(conn)?;
                }
            }
            return Ok(());
        }
        if let Some(claims) = access
            && claims.client_id == client.client_id
            && let Some(expires) = DateTime::from_timestamp(claims.exp, 0)
        {
            if !grants::revoke_access_token(conn, tenant, &claims.jti, expires.naive_utc())? {
                return Ok(());
            }
            // A machine token has no grant, and no user.
            let grant = match claims.gid.as_str() {
                "" => None,
                gid => grants::find_grant(conn, tenant, gid)?,
            };
            revoked("access_token")
                .user(grant.and_then(|g| g.user_id).as_deref())
                .record(conn)?;
        }
        Ok::<_, StoreError>(())
    })?;
    Ok(())
}
