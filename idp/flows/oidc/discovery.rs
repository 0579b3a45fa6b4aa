//! The discovery document (OpenID Connect Discovery 1.0 §3) of one tenant.

use serde_json::{Value, json};

use super::supported::{CLAIMS, SCOPES};
use crate::config::{Config, TenantConfig};

/// The endpoints of a tenant, below its issuer.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// `{issuer}/authorize`
    pub authorization: String,
    /// `{issuer}/token`
    pub token: String,
    /// `{issuer}/userinfo`
    pub userinfo: String,
    /// `{issuer}/jwks`
    pub jwks: String,
    /// `{issuer}/introspect`
    pub introspection: String,
    /// `{issuer}/revoke`
    pub revocation: String,
    /// `{issuer}/logout`
    pub end_session: String,
    /// `{issuer}/par`
    pub par: String,
}

impl Endpoints {
    /// The endpoints below `issuer`.
    pub fn of(issuer: &str) -> Endpoints {
        Endpoints {
            authorization: format!("{issuer}/authorize"),
            token: format!("{issuer}/token"),
            userinfo: format!("{issuer}/userinfo"),
            jwks: format!("{issuer}/jwks"),
            introspection: format!("{issuer}/introspect"),
            revocation: format!("{issuer}/revoke"),
            end_session: format!("{issuer}/logout"),
            par: format!("{issuer}/par"),
        }
    }
}

/// The client authentication methods the token, introspection and revocation endpoints accept.
pub const AUTH_METHODS: [&str; 4] = [
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "none",
];

/// The metadata of `tenant`.
pub fn document(config: &Config, tenant: &TenantConfig) -> Value {
    let issuer = config.issuer(tenant);
    let endpoints = Endpoints::of(&issuer);
    let algs = ["RS256", "ES256", "EdDSA"];
    let locales: Vec<&str> = tenant.languages.iter().map(|l| l.tag()).collect();
    json!({
        "issuer": issuer,
        "authorization_endpoint": endpoints.authorization,
        "token_endpoint": endpoints.token,
        "userinfo_endpoint": endpoints.userinfo,
        "jwks_uri": endpoints.jwks,
        "introspection_endpoint": endpoints.introspection,
        "revocation_endpoint": endpoints.revocation,
        "end_session_endpoint": endpoints.end_session,
        "pushed_authorization_request_endpoint": endpoints.par,
        "require_pushed_authorization_requests": false,
        "scopes_supported": SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
        "userinfo_signing_alg_values_supported": ["none"],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": algs,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": CLAIMS,
        "claim_types_supported": ["normal"],
        "prompt_values_supported": ["none", "login", "consent"],
        "acr_values_supported": [tenant.acr.password, tenant.acr.mfa],
        "ui_locales_supported": locales,
        "claims_locales_supported": locales,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "require_request_uri_registration": false,
        "authorization_response_iss_parameter_supported": true,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "frontchannel_logout_supported": false,
    })
}
