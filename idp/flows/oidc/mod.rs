//! The OpenID Connect provider: discovery, authorization, tokens, userinfo, introspection,
//! revocation, logout. Each file is one endpoint's logic, free of HTTP types.

pub mod assertion;
pub mod authorize;
pub mod backchannel;
pub mod client_auth;
pub mod client_keys;
pub mod discovery;
pub mod error;
pub mod introspect;
pub mod login;
pub mod logout;
pub mod par;
pub mod request;
pub mod revoke;
pub mod session;
pub mod token;
pub mod tokens;
pub mod userinfo;

#[cfg(test)]
mod proptests;

pub use error::{ErrorCode, OAuthError};

/// Runs `f` in one write transaction: one commit (one fsync on SQLite) for all it writes. What a
/// refused request wrote (a used code, a replay's revocation, a failed login's count) is
/// committed with its refusal; a server-side error (a database or signing failure) rolls
/// everything back.
pub fn committed<T>(
    conn: &mut crate::store::DbConnection,
    f: impl FnOnce(&mut crate::store::DbConnection) -> Result<T, OAuthError>,
) -> Result<T, OAuthError> {
    crate::store::write_transaction(conn, |conn| match f(conn) {
        Err(e) if e.is_server_side() => Err(e),
        answer => Ok(answer),
    })?
}

/// The scopes this provider understands (others are ignored, as OIDC Core §3.1.2.1 asks).
pub const SCOPES: [&str; 4] = ["openid", "email", "profile", "offline_access"];

/// The claims this provider can release.
pub const CLAIMS: [&str; 17] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "sid",
    "email",
    "email_verified",
    "name",
    "preferred_username",
    "locale",
    "former_usernames",
    "former_subjects",
];

/// The `acr` of a password login: low assurance, not a strong (Suomi.fi) identification.
pub const ACR_PASSWORD: &str = "urn:idp:acr:password";
