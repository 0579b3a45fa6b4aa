//! The OpenID Connect provider: discovery, authorization, tokens, userinfo, introspection,
//! revocation, logout. Each file is one endpoint's logic, free of HTTP types.

pub mod assertion;
pub mod authorize;
pub mod backchannel;
pub mod client_auth;
pub mod discovery;
pub mod error;
pub mod introspect;
pub mod login;
pub mod logout;
pub mod par;
pub mod request;
pub mod revoke;
pub mod session;
pub mod throttle;
pub mod token;
pub mod tokens;
pub mod userinfo;

pub use error::{ErrorCode, OAuthError};

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
