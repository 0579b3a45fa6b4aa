//! Client authentication at the token, introspection and revocation endpoints (RFC 6749 §2.3).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::NaiveDateTime;

use super::assertion::{JWT_BEARER, VerifiedAssertion, use_once};
use super::error::{ErrorCode, OAuthError};
use crate::config::{AuthMethod, ClientConfig, TenantConfig};
use crate::crypto::secret;
use crate::store::DbConnection;

/// What a request presented to identify its client.
#[derive(Debug, Default, Clone)]
pub struct Presented {
    /// From `Authorization: Basic`: the client id and secret, form-decoded.
    pub basic: Option<(String, String)>,
    /// `client_id` in the body.
    pub client_id: Option<String>,
    /// `client_secret` in the body.
    pub client_secret: Option<String>,
    /// `client_assertion_type` in the body.
    pub assertion_type: Option<String>,
    /// `client_assertion` in the body.
    pub assertion: Option<String>,
    /// The assertion, once checked against the client's keys (by the caller, which can fetch
    /// them).
    pub verified: Option<Result<VerifiedAssertion, OAuthError>>,
}

impl Presented {
    /// Whether it presents a client assertion (`private_key_jwt`), whose `jti` is recorded: its
    /// authentication writes to the store.
    pub fn has_assertion(&self) -> bool {
        self.assertion_type.is_some() || self.assertion.is_some()
    }
}

/// Why the Authorization header is unusable.
pub const BAD_BASIC: &str = "the Basic credentials are malformed";

/// Decodes `Authorization: Basic …` as RFC 6749 §2.3.1 asks: base64, then each half form-decoded.
pub fn parse_basic(header: &str) -> Result<Option<(String, String)>, OAuthError> {
    let Some((scheme, value)) = header.trim().split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let invalid = || OAuthError::new(ErrorCode::InvalidClient, BAD_BASIC);
    let decoded = STANDARD.decode(value.trim()).map_err(|_| invalid())?;
    let decoded = String::from_utf8(decoded).map_err(|_| invalid())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(invalid)?;
    let form = |s: &str| {
        url::form_urlencoded::parse(format!("x={}", s.replace('&', "%26")).as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((form(id), form(secret))))
}

fn refuse(description: &str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClient, description)
}

/// Authenticates the client of `tenant` that `presented` names, by its registered method, at
/// `now` (a previous secret is taken until its expiry).
pub fn authenticate<'t>(
    tenant: &'t TenantConfig,
    conn: &mut DbConnection,
    presented: &Presented,
    now: NaiveDateTime,
) -> Result<&'t ClientConfig, OAuthError> {
    if presented.has_assertion() {
        if presented.basic.is_some() || presented.client_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "use one client authentication method, not several",
            ));
        }
        if presented.assertion_type.as_deref() != Some(JWT_BEARER) {
            return Err(refuse(
                "client_assertion_type must be jwt-bearer (RFC 7523)",
            ));
        }
        let verified = match &presented.verified {
            Some(Ok(verified)) => verified,
            Some(Err(error)) => return Err(error.clone()),
            None => return Err(refuse("the client assertion is not valid")),
        };
        if presented
            .client_id
            .as_ref()
            .is_some_and(|id| id != &verified.client_id)
        {
            return Err(refuse("client_id differs from the client assertion's"));
        }
        let client = tenant
            .client(&verified.client_id)
            .filter(|c| c.token_endpoint_auth_method == AuthMethod::PrivateKeyJwt)
            .ok_or_else(|| refuse("the client does not use private_key_jwt"))?;
        use_once(conn, &tenant.id, verified)?;
        return Ok(client);
    }
    by_secret(tenant, presented, now)
}

/// Authenticates the client of `tenant` that `presented` names by its secret, or as a public
/// client (none): the methods that need no store. A client assertion is refused here (it is
/// [`authenticate`]'s to check).
pub fn by_secret<'t>(
    tenant: &'t TenantConfig,
    presented: &Presented,
    now: NaiveDateTime,
) -> Result<&'t ClientConfig, OAuthError> {
    if presented.has_assertion() {
        return Err(refuse("the client assertion is not valid"));
    }
    let (client_id, secret, method) = match (&presented.basic, &presented.client_secret) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_request(
                "use one client authentication method, not several",
            ));
        }
        (Some((id, secret)), None) => {
            if presented.client_id.as_ref().is_some_and(|body| body != id) {
                return Err(OAuthError::invalid_request(
                    "client_id in the body differs from the Basic credentials",
                ));
            }
            (
                id.as_str(),
                Some(secret.as_str()),
                AuthMethod::ClientSecretBasic,
            )
        }
        (None, Some(secret)) => {
            let id = presented
                .client_id
                .as_deref()
                .ok_or_else(|| refuse("client_id is missing"))?;
            (id, Some(secret.as_str()), AuthMethod::ClientSecretPost)
        }
        (None, None) => {
            let id = presented
                .client_id
                .as_deref()
                .ok_or_else(|| refuse("client authentication is missing"))?;
            (id, None, AuthMethod::None)
        }
    };
    let client = tenant
        .client(client_id)
        .ok_or_else(|| refuse("unknown client or wrong credentials"))?;
    if client.token_endpoint_auth_method != method {
        return Err(refuse(
            "the client must authenticate with its registered token_endpoint_auth_method",
        ));
    }
    if let Some(secret) = secret
        && !secret_matches(client, secret, now)
    {
        return Err(refuse("unknown client or wrong credentials"));
    }
    Ok(client)
}

/// Whether `presented` is the client's secret (compared as SHA-256, in constant time), or its
/// previous one before that one's expiry (logged: the operator sees whether the e-service has
/// moved to the new one); an empty one never is (the configuration refuses an empty secret too).
fn secret_matches(client: &ClientConfig, presented: &str, now: NaiveDateTime) -> bool {
    if presented.is_empty() {
        return false;
    }
    let expected = match (&client.client_secret, &client.client_secret_sha256) {
        (Some(plain), _) => secret::hash(secrecy::ExposeSecret::expose_secret(plain)),
        (None, Some(hash)) => hash.to_ascii_lowercase(),
        (None, None) => return false,
    };
    let presented = secret::hash(presented);
    let current = secret::constant_time_eq(&presented, &expected);
    let previous = match (
        &client.previous_client_secret_sha256,
        client.previous_secret_expires,
    ) {
        (Some(hash), Some(expiry)) if now < expiry.0 => {
            secret::constant_time_eq(&presented, &hash.to_ascii_lowercase())
        }
        _ => false,
    };
    if previous && !current {
        tracing::info!(
            client = %client.client_id,
            "a client authenticated with its previous secret"
        );
    }
    current | previous
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_secret_never_matches() {
        let client: ClientConfig = toml::from_str(
            "client_id = \"rp\"\nclient_secret = \"\"\nredirect_uris = [\"https://rp.example.fi/cb\"]",
        )
        .unwrap();
        let now = chrono::DateTime::UNIX_EPOCH.naive_utc();
        assert!(!secret_matches(&client, "", now));
        assert!(!secret_matches(&client, "x", now));
    }

    #[test]
    fn a_previous_secret_is_taken_until_its_expiry_only() {
        let (new, old) = ("uusi-salaisuus", "vanha-salaisuus");
        let client: ClientConfig = toml::from_str(&format!(
            "client_id = \"rp\"\nclient_secret_sha256 = \"{}\"\n\
             previous_client_secret_sha256 = \"{}\"\n\
             previous_secret_expires = 2027-01-31T12:00:00+02:00\n",
            secret::hash(new).to_uppercase(),
            secret::hash(old)
        ))
        .unwrap();
        let at = |text: &str| {
            chrono::DateTime::parse_from_rfc3339(text)
                .unwrap()
                .naive_utc()
        };
        let before = at("2027-01-31T09:59:59Z");
        let after = at("2027-01-31T10:00:00Z");
        assert!(secret_matches(&client, new, before) && secret_matches(&client, new, after));
        assert!(secret_matches(&client, old, before));
        assert!(!secret_matches(&client, old, after));
        assert!(!secret_matches(&client, "muu", before));
        // Without its expiry (the configuration refuses that), never.
        let unbounded = ClientConfig {
            previous_secret_expires: None,
            ..client
        };
        assert!(!secret_matches(&unbounded, old, before));
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        // "a%3Ab:p%2Bw d" → id "a:b", secret "p+w d" (RFC 6749 §2.3.1, Appendix B).
        let header = format!("Basic {}", STANDARD.encode("a%3Ab:p%2Bw+d"));
        assert_eq!(
            parse_basic(&header).unwrap(),
            Some(("a:b".to_string(), "p+w d".to_string()))
        );
        assert_eq!(parse_basic("Bearer x").unwrap(), None);
        assert_eq!(
            parse_basic("Basic !!!").unwrap_err().code,
            ErrorCode::InvalidClient
        );
    }
}
