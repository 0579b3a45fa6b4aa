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
/// Returns its claims, its grant and the grant's user (one statement).
pub fn check_live(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    token: &str,
) -> Result<(AccessClaims, GrantRow, Option<UserRow>), OAuthError> {
    let claims = m.verify_access_token(token)?;
    let (grant, user) = grants::find_live(conn, Tenant::of(m.tenant), &claims.gid, &claims.jti)?
        .ok_or_else(|| OAuthError::new(ErrorCode::InvalidToken, "the access token is not valid"))?;
    Ok((claims, grant, user))
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
