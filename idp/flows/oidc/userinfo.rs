//! The userinfo endpoint (OIDC Core §5.3; errors per RFC 6750 §3.1).

use serde_json::Value;

use super::error::{ErrorCode, OAuthError};
use super::tokens::AccessClaims;
use crate::flows::context::Minter;
use crate::flows::former::released;
use crate::store::grants::{self, GrantRow};
use crate::store::users::UserRow;
use crate::store::{DbConnection, Tenant};

/// Checks an access token against the database: its grant still stands, it was not revoked.
/// Returns its claims, its grant and the grant's user (one statement). A machine token
/// (`client_credentials`, no grant) stands while its client is configured for that grant and its
/// `jti` is not listed as revoked; it has neither grant nor user.
pub fn check_live(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    token: &str,
) -> Result<(AccessClaims, Option<GrantRow>, Option<UserRow>), OAuthError> {
    let invalid = || OAuthError::new(ErrorCode::InvalidToken, "the access token is not valid");
    let claims = m.verify_access_token(token)?;
    let tenant = Tenant::of(m.tenant);
    if claims.gid.is_empty() {
        let machine = claims.sub == claims.client_id
            && m.tenant.client(&claims.client_id).is_some_and(|c| {
                c.grant_types
                    .contains(&crate::config::GrantType::ClientCredentials)
            });
        if !machine || grants::access_token_revoked(conn, tenant, &claims.jti)? {
            return Err(invalid());
        }
        return Ok((claims, None, None));
    }
    let (grant, user) =
        grants::find_live(conn, tenant, &claims.gid, &claims.jti)?.ok_or_else(invalid)?;
    Ok((claims, Some(grant), user))
}

/// The claims the token's scope releases about its user.
pub fn userinfo(m: &Minter<'_>, conn: &mut DbConnection, token: &str) -> Result<Value, OAuthError> {
    let (claims, _, user) = check_live(m, conn, token)?;
    if !claims.scope.split(' ').any(|s| s == "openid") {
        return Err(OAuthError::new(
            ErrorCode::InvalidToken,
            "the access token was not issued for openid",
        ));
    }
    let user = user
        .filter(|u| !u.disabled)
        .ok_or_else(|| OAuthError::new(ErrorCode::InvalidToken, "the account is gone"))?;
    let former = released(conn, Tenant::of(m.tenant), &user, &claims.scope)?;
    Ok(m.userinfo(&user, &former, &claims.scope))
}
