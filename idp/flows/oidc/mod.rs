//! The OpenID Connect provider: discovery, authorization, tokens, userinfo, introspection,
//! revocation, logout. Each file is one endpoint's logic, free of HTTP types.

pub mod assertion;
pub mod authorize;
pub mod backchannel;
pub mod client_auth;
pub mod client_keys;
pub mod decide;
pub mod discovery;
pub mod error;
pub mod family;
pub mod introspect;
pub mod login;
pub mod logout;
pub mod outcome;
pub mod par;
pub mod pending;
pub mod proof;
pub mod request;
pub mod resume;
pub mod revoke;
pub mod session;
pub mod standing;
pub mod steps;
pub mod supported;
pub mod token;
pub mod tokens;
pub mod userinfo;

#[cfg(test)]
mod proptests;
