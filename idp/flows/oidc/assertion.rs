//! `private_key_jwt` client authentication (RFC 7523 §2.2, §3; OIDC Core §9): a JWT signed with
//! a key the client publishes at its `jwks_uri`, used once.

use chrono::{DateTime, NaiveDateTime};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::error::{ErrorCode, OAuthError};
use crate::crypto::secret;
use crate::store::{DbConnection, grants};

/// The only `client_assertion_type` there is.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// An assertion whose signature and claims checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAssertion {
    /// `iss` and `sub`: the client.
    pub client_id: String,
    /// Its unique id.
    pub jti: String,
    /// Its expiry.
    pub expires_at: NaiveDateTime,
}

#[derive(Deserialize)]
struct Claims {
    /// A string or an array of strings (RFC 7519 §4.1.3).
    #[serde(default)]
    aud: serde_json::Value,
    iss: String,
    sub: String,
    jti: String,
    exp: i64,
    iat: Option<i64>,
    nbf: Option<i64>,
}

/// The longest an assertion may still live when it arrives (`exp` − now), in seconds: a client
/// makes a fresh one for each request.
pub const MAX_LIFETIME_SECONDS: i64 = 600;

/// How far in the future an assertion's `iat` may be, for the client's clock running ahead.
pub const CLOCK_SKEW_SECONDS: i64 = 60;

fn refuse(description: &str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClient, description)
}

/// The client an assertion claims to come from, read before its signature is checked (to find
/// the keys to check it with).
pub fn claimed_client(assertion: &str) -> Option<String> {
    let payload = assertion.split('.').nth(1)?;
    let bytes =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    value.get("iss")?.as_str().map(str::to_string)
}

/// The checks of an assertion's header that need no keys: a JWT, signed with an asymmetric
/// algorithm. Made before the client's keys are fetched, so that junk costs no fetch.
pub fn check_header(assertion: &str) -> Result<jsonwebtoken::Header, OAuthError> {
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|_| refuse("the client assertion is not a JWT"))?;
    if !matches!(
        header.alg,
        Algorithm::RS256 | Algorithm::ES256 | Algorithm::EdDSA
    ) {
        return Err(refuse(
            "the client assertion must be signed with RS256, ES256 or EdDSA",
        ));
    }
    Ok(header)
}

/// The audiences an assertion may name.
#[derive(Debug, Clone, Copy)]
pub enum Audiences<'a> {
    /// Any one of these, alone or among others in an array.
    AnyOf(&'a [String]),
    /// This one, as the sole audience: a string, or an array of it alone (the 2025 advice,
    /// draft-ietf-oauth-rfc7523bis: an array that names the issuer among others may have been
    /// signed for another server, whose metadata named our issuer as one of its endpoints).
    Sole(&'a str),
}

impl Audiences<'_> {
    /// What the library checks first: any of them named.
    fn accepted(&self) -> Vec<&str> {
        match self {
            Audiences::AnyOf(all) => all.iter().map(String::as_str).collect(),
            Audiences::Sole(one) => vec![one],
        }
    }

    /// Whether `aud` as sent is acceptable beyond naming one of them.
    fn hold_for(&self, aud: &serde_json::Value) -> bool {
        let Audiences::Sole(one) = self else {
            return true;
        };
        match aud {
            serde_json::Value::String(named) => named == one,
            serde_json::Value::Array(named) => named.len() == 1 && named[0].as_str() == Some(*one),
            _ => false,
        }
    }
}

/// Checks `assertion` against the client's keys: an asymmetric algorithm, the signature,
/// `iss` = `sub` = `client_id`, its audience as `audiences` ask, not expired, expiring within
/// [`MAX_LIFETIME_SECONDS`], not issued nor valid only in the future (`iat`, `nbf`, beyond
/// [`CLOCK_SKEW_SECONDS`]), a `jti`.
pub fn verify(
    assertion: &str,
    client_id: &str,
    keys: &JwkSet,
    audiences: Audiences<'_>,
    now: NaiveDateTime,
) -> Result<VerifiedAssertion, OAuthError> {
    let header = check_header(assertion)?;
    let candidates: Vec<_> = match header.kid.as_deref() {
        Some(kid) => keys.find(kid).into_iter().collect(),
        None => keys.keys.iter().collect(),
    };
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&audiences.accepted());
    validation.set_issuer(&[client_id]);
    validation.sub = Some(client_id.to_string());
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    // Our clock, not the library's: checked below.
    validation.validate_exp = false;
    for jwk in candidates {
        let Ok(key) = DecodingKey::from_jwk(jwk) else {
            continue;
        };
        let Ok(data) = jsonwebtoken::decode::<Claims>(assertion, &key, &validation) else {
            continue;
        };
        let claims = data.claims;
        if !audiences.hold_for(&claims.aud) {
            return Err(refuse(
                "the client assertion's aud must be the issuer alone",
            ));
        }
        if claims.iss != client_id || claims.sub != client_id {
            return Err(refuse(
                "the client assertion's iss and sub must be the client_id",
            ));
        }
        let now = now.and_utc().timestamp();
        if claims.exp <= now {
            return Err(refuse("the client assertion has expired"));
        }
        if claims.exp - now > MAX_LIFETIME_SECONDS {
            return Err(refuse("the client assertion must expire within 10 minutes"));
        }
        if claims.iat.is_some_and(|iat| iat > now + CLOCK_SKEW_SECONDS) {
            return Err(refuse("the client assertion's iat is in the future"));
        }
        // RFC 7523 §3: not to be accepted before its `nbf`.
        if claims.nbf.is_some_and(|nbf| nbf > now + CLOCK_SKEW_SECONDS) {
            return Err(refuse("the client assertion is not valid yet (nbf)"));
        }
        if claims.jti.is_empty() {
            return Err(refuse("the client assertion has no jti"));
        }
        let expires_at = DateTime::from_timestamp(claims.exp, 0)
            .ok_or_else(|| refuse("the client assertion's exp is out of range"))?
            .naive_utc();
        return Ok(VerifiedAssertion {
            client_id: client_id.to_string(),
            jti: claims.jti,
            expires_at,
        });
    }
    Err(refuse(
        "the client assertion does not verify with the client's keys",
    ))
}

/// Records the assertion's `jti`; a second use is refused (RFC 7523 §3, item 7).
pub fn use_once(
    conn: &mut DbConnection,
    tenant: &str,
    assertion: &VerifiedAssertion,
) -> Result<(), OAuthError> {
    let key = secret::hash(&format!(
        "{tenant}\n{}\n{}",
        assertion.client_id, assertion.jti
    ));
    if grants::record_assertion(conn, &key, assertion.expires_at)? {
        Ok(())
    } else {
        Err(refuse("the client assertion was used before"))
    }
}
