//! The userinfo endpoint (OIDC Core §5.3; errors per RFC 6750 §3.1).

use serde_json::Value;

use super::error::{ErrorCode, OAuthError};
use super::tokens::{AccessClaims, Minter};
use crate::store::grants::{self, GrantRow};
use crate::store::{DbConnection, users};

/// Checks an access token against the database: its grant still stands, it was not revoked.
/// Returns its claims and its grant.
pub fn check_live(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    token: &str,
) -> Result<(AccessClaims, GrantRow), OAuthError> {
    let claims = m.verify_access_token(token)?;
    let invalid = || OAuthError::new(ErrorCode::InvalidToken, "the access token is not valid");
    let grant = grants::find_grant(conn, &claims.gid)?.ok_or_else(invalid)?;
    if grant.revoked_at.is_some() || grants::is_access_token_revoked(conn, &claims.jti)? {
        return Err(invalid());
    }
    Ok((claims, grant))
}

/// The claims the token's scope releases about its user.
pub fn userinfo(m: &Minter<'_>, conn: &mut DbConnection, token: &str) -> Result<Value, OAuthError> {
    let (claims, grant) = check_live(m, conn, token)?;
    if !claims.scope.split(' ').any(|s| s == "openid") {
        return Err(OAuthError::new(
            ErrorCode::InvalidToken,
            "the access token was not issued for openid",
        ));
    }
    let user = match grant.user_id {
        Some(id) => users::find(conn, &id)?,
        None => None,
    };
    let user = user
        .filter(|u| !u.disabled)
        .ok_or_else(|| OAuthError::new(ErrorCode::InvalidToken, "the account is gone"))?;
    let former = if claims.scope.split(' ').any(|s| s == "profile") {
        crate::flows::linker::former(conn, &user)?
    } else {
        crate::flows::linker::Former::default()
    };
    Ok(m.userinfo(&user, &former, &claims.scope))
}
