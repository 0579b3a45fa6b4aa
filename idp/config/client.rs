//! `[[clients]]` of a tenant: one e-service (relying party), its grants and its authentication.

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use super::settings::SigningAlg;

/// The scopes of a resident's identity, the ones idp itself understands at `/authorize`
/// (`flows::oidc::supported::SCOPES`); never a machine token's.
pub const IDENTITY_SCOPES: [&str; 4] = ["openid", "email", "profile", "offline_access"];

/// `[[clients]]`: one e-service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// The OAuth `client_id`.
    pub client_id: String,
    /// The name residents see on a consent page; default: the client id.
    pub name: Option<String>,
    /// The client secret in plain text (prefer `client_secret_sha256`).
    pub client_secret: Option<SecretString>,
    /// SHA-256 of the client secret, 64 hex digits.
    pub client_secret_sha256: Option<String>,
    /// SHA-256 of the secret the client had before this one, still taken until
    /// `previous_secret_expires`: a rotation lets the e-service move to the new secret at its own
    /// moment, not at the one when idp's nodes restart.
    pub previous_client_secret_sha256: Option<String>,
    /// When the previous secret stops being taken; required with it.
    pub previous_secret_expires: Option<Expiry>,
    /// Redirect URIs, matched exactly.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may return to, matched exactly.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Back-channel logout endpoint of the client.
    pub backchannel_logout_uri: Option<String>,
    /// Grants the client may use.
    #[serde(default = "default_grant_types")]
    pub grant_types: Vec<GrantType>,
    /// How the client authenticates at the token endpoint.
    #[serde(default)]
    pub token_endpoint_auth_method: AuthMethod,
    /// The city's own e-service: no consent page.
    #[serde(default)]
    pub first_party: bool,
    /// Algorithm of the client's ID tokens.
    #[serde(default)]
    pub id_token_signed_response_alg: SigningAlg,
    /// Where the client publishes its keys (for `private_key_jwt`).
    pub jwks_uri: Option<Url>,
    /// Which `aud` its `private_key_jwt` assertions may name.
    #[serde(default)]
    pub assertion_audience: AssertionAudience,
    /// Refuse its authorization requests without PKCE (`code_challenge`), as a public client's
    /// are always (RFC 9700 §2.1.1: a code injected into the e-service's callback is then of no
    /// use). Off by default: the OpenID certification's confidential clients send none.
    #[serde(default)]
    pub require_pkce: bool,
    /// The scopes its `client_credentials` tokens may carry (of the city's APIs); any other asked
    /// for is `invalid_scope`. None by default: a machine token of no scope.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The origins (`https://asiointi.kunta.fi`) of the pages that call the token, userinfo,
    /// revocation and PAR endpoints from the browser (a single-page application): those endpoints
    /// answer their cross-origin requests (CORS). A public client's only; none by default.
    #[serde(default)]
    pub web_origins: Vec<String>,
    /// The origins (`https://palvelu.kunta.fi`) the client's callback or post-logout page sends the
    /// browser on to by a redirect, beside its redirect URIs' own. Browsers apply the login
    /// pages' `form-action` to every redirect after the login's post, so a redirect on to an
    /// origin not listed there stops the login at its last step. None by default.
    #[serde(default)]
    pub onward_origins: Vec<String>,
}

/// An instant in the configuration, UTC: an RFC 3339 date and time with its offset
/// (`"2027-01-31T12:00:00+02:00"`), quoted or written as TOML's own date-time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiry(pub chrono::NaiveDateTime);

impl<'de> Deserialize<'de> for Expiry {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// A string, or the TOML reader's form of an unquoted date-time.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Text(String),
            Toml {
                #[serde(rename = "$__toml_private_datetime")]
                value: String,
            },
        }
        let text = match Written::deserialize(deserializer)? {
            Written::Text(text) | Written::Toml { value: text } => text,
        };
        chrono::DateTime::parse_from_rfc3339(&text)
            .map(|at| Expiry(at.naive_utc()))
            .map_err(|_| {
                serde::de::Error::custom(format!(
                    "{text:?} is not a date and time with its offset (RFC 3339): write \"2027-01-31T12:00:00+02:00\""
                ))
            })
    }
}

fn default_grant_types() -> Vec<GrantType> {
    vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
}

/// An OAuth grant type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    /// `authorization_code`
    AuthorizationCode,
    /// `refresh_token`
    RefreshToken,
    /// `client_credentials`
    ClientCredentials,
}

/// The audiences a client's `private_key_jwt` assertion may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssertionAudience {
    /// The issuer, the token endpoint, or the endpoint called: what OpenID Connect Core §9 and
    /// most client libraries send.
    #[default]
    IssuerOrEndpoint,
    /// The issuer only: the 2025 advice against audience injection (a client that talks to
    /// several authorization servers, one of them hostile, can be made to sign an assertion for
    /// an endpoint URL that one names; an issuer it cannot be made to name).
    Issuer,
}

/// Client authentication at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// HTTP Basic with the client secret.
    #[default]
    ClientSecretBasic,
    /// The client secret in the form body.
    ClientSecretPost,
    /// A JWT signed with the client's key (RFC 7523).
    PrivateKeyJwt,
    /// A public client: no secret, PKCE required.
    None,
}
