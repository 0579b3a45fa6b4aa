//! The userinfo endpoint (OIDC Core §5.3; errors per RFC 6750 §3.1).

use serde_json::Value;

use super::error::{ErrorCode, OAuthError};
use super::tokens::AccessClaims;
use crate::flows::context::Minter;
use crate::flows::former::released;
use crate::store::grants;
use crate::store::users::UserRow;
use crate::store::{DbConnection, Tenant};

/// Checks an access token against the database: its grant still stands, it was not revoked, and
/// its client is still configured (a removed e-service's tokens end with it, as its refresh
/// tokens do at the token endpoint). Returns its claims and the grant's user (one statement). A
/// machine token
/// (`client_credentials`, no grant) stands while its client is configured for that grant and its
/// `jti` is not listed as revoked; it has no user.
pub fn check_live(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    token: &str,
) -> Result<(AccessClaims, Option<UserRow>), OAuthError> {
    let claims = m.verify_access_token(token)?;
    let user = if claims.gid.is_empty() {
        live_machine_token(m, conn, &claims)?.then_some(None)
    } else if m.tenant.client(&claims.client_id).is_none() {
        None
    } else {
        grants::find_live(conn, Tenant::of(m.tenant), &claims.gid, &claims.jti)?
    };
    user.map(|user| (claims, user)).ok_or_else(not_live)
}

/// The claims of `token` when it is live, as [`check_live`] says, without reading its user:
/// introspection's question.
pub fn live_claims(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    token: &str,
) -> Result<AccessClaims, OAuthError> {
    let claims = m.verify_access_token(token)?;
    let live = if claims.gid.is_empty() {
        live_machine_token(m, conn, &claims)?
    } else {
        m.tenant.client(&claims.client_id).is_some()
            && grants::is_live(conn, Tenant::of(m.tenant), &claims.gid, &claims.jti)?
    };
    live.then_some(claims).ok_or_else(not_live)
}

/// Whether a machine token (`client_credentials`, no grant) stands: its client is configured for
/// that grant and its `jti` is not listed as revoked.
fn live_machine_token(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    claims: &AccessClaims,
) -> Result<bool, OAuthError> {
    let machine = claims.sub == claims.client_id
        && m.tenant.client(&claims.client_id).is_some_and(|c| {
            c.grant_types
                .contains(&crate::config::GrantType::ClientCredentials)
        });
    Ok(machine && !grants::access_token_revoked(conn, Tenant::of(m.tenant), &claims.jti)?)
}

fn not_live() -> OAuthError {
    OAuthError::new(ErrorCode::InvalidToken, "the access token is not valid")
}

/// The claims the token's scope releases about its user.
pub fn userinfo(m: &Minter<'_>, conn: &mut DbConnection, token: &str) -> Result<Value, OAuthError> {
    let (claims, user) = check_live(m, conn, token)?;
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
