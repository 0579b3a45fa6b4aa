//! What this provider speaks: the scopes, claims and `acr` that discovery announces and the
//! requests and sessions use.

/// The scopes this provider understands (others are ignored, as OIDC Core §3.1.2.1 asks).
pub const SCOPES: [&str; 4] = crate::config::IDENTITY_SCOPES;

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
