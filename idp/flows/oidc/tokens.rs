//! Minting and checking tokens: ID tokens through openidconnect's types, RFC 9068 access tokens.
//! They are methods of the flow's context, [`Minter`] (`flows/context.rs`), which holds the keys.

use std::sync::Arc;

use chrono::Duration;
use openidconnect::core::{
    CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AccessToken, AdditionalClaims, Audience, AuthenticationContextClass,
    AuthenticationMethodReference, EndUserEmail, EndUserName, EndUserUsername, IdToken,
    IdTokenClaims, IssuerUrl, LanguageTag, LocalizedClaim, Nonce, StandardClaims,
    SubjectIdentifier,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::{ErrorCode, OAuthError};
use crate::config::SigningAlg;
use crate::crypto::keyring::TenantKeys;
use crate::crypto::keys::{SigningKey, core_alg};
use crate::crypto::secret;
use crate::flows::context::Minter;
use crate::flows::former::Former;
use crate::store::grants::GrantRow;
use crate::store::users::UserRow;

/// Claims of ours beyond the standard ones.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IdpClaims {
    /// The SSO session (back-channel logout's `sid`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The usernames of the old accounts bound to this one (`profile` scope).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub former_usernames: Option<Vec<String>>,
    /// The subjects of the old accounts bound after the first, whose subject is `sub`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub former_subjects: Option<Vec<String>>,
}

impl AdditionalClaims for IdpClaims {}

/// An ID token of ours.
pub type IdpIdToken =
    IdToken<IdpClaims, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;

/// The claims of an access token we issued.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer.
    pub iss: String,
    /// Subject: the user, or the client for client_credentials.
    pub sub: String,
    /// Audience: the client.
    pub aud: String,
    /// The client.
    pub client_id: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Unique id (revocation by RFC 7009).
    pub jti: String,
    /// Granted scope.
    pub scope: String,
    /// The grant, so revoking the grant revokes the token; absent in a machine token
    /// (`client_credentials`), which has no grant and is checked by its signature, its expiry and
    /// the list of revoked tokens alone.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub gid: String,
    /// When the user authenticated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// The SSO session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

impl Minter<'_> {
    fn tenant_keys(&self) -> Result<&TenantKeys, OAuthError> {
        self.keys
            .tenant(&self.tenant.id)
            .ok_or_else(|| OAuthError::server("the tenant has no signing keys"))
    }

    fn key(&self, alg: SigningAlg) -> Result<&Arc<SigningKey>, OAuthError> {
        self.tenant_keys()?
            .signing(alg, self.now)
            .ok_or_else(|| OAuthError::server(format!("no active {alg:?} key")))
    }

    /// A signed RFC 9068 access token; returns it and its claims.
    pub fn access_token(
        &self,
        grant: &GrantRow,
        subject: &str,
    ) -> Result<(String, AccessClaims), OAuthError> {
        let iat = self.now.and_utc().timestamp();
        let lifetime =
            i64::try_from(self.config.settings.tokens.access_token_seconds).unwrap_or(300);
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            sub: subject.to_string(),
            aud: grant.client_id.clone(),
            client_id: grant.client_id.clone(),
            exp: iat
                + lifetime
                    .min(grant.expires_at.and_utc().timestamp() - iat)
                    .max(1),
            iat,
            jti: secret::random_token(),
            scope: grant.scope.clone(),
            gid: grant.id.clone(),
            auth_time: grant.auth_time.map(|t| t.and_utc().timestamp()),
            sid: grant.session_id.clone(),
        };
        let value = serde_json::to_value(&claims).map_err(OAuthError::server)?;
        let key = self.key(self.config.settings.tokens.access_token_alg)?;
        let token = key
            .sign_jwt(Some("at+jwt"), &value)
            .map_err(OAuthError::server)?;
        Ok((token, claims))
    }

    /// A signed ID token for `user` in `grant`, with `at_hash` of `access_token`.
    pub fn id_token(
        &self,
        grant: &GrantRow,
        user: &UserRow,
        former: &Former,
        nonce: Option<&str>,
        access_token: &str,
    ) -> Result<String, OAuthError> {
        let client = self
            .tenant
            .client(&grant.client_id)
            .ok_or_else(|| OAuthError::server("the grant's client is gone"))?;
        let alg = client.id_token_signed_response_alg;
        let key = self.key(alg)?;
        let issuer = IssuerUrl::new(self.issuer.clone()).map_err(OAuthError::server)?;
        let issued = self.now.and_utc();
        let lifetime = i64::try_from(self.config.settings.tokens.id_token_seconds).unwrap_or(300);
        let scope: Vec<&str> = grant.scope.split(' ').collect();
        let mut standard = StandardClaims::new(SubjectIdentifier::new(user.subject.clone()));
        if scope.contains(&"email")
            && let Some(email) = &user.email
        {
            standard = standard
                .set_email(Some(EndUserEmail::new(email.clone())))
                .set_email_verified(Some(user.email_verified));
        }
        if scope.contains(&"profile") {
            if let Some(name) = &user.name {
                let mut localized = LocalizedClaim::new();
                localized.insert(None, EndUserName::new(name.clone()));
                standard = standard.set_name(Some(localized));
            }
            if let Some(username) = preferred_username(user, &scope) {
                standard =
                    standard.set_preferred_username(Some(EndUserUsername::new(username.clone())));
            }
            if let Some(locale) = &user.locale {
                standard = standard.set_locale(Some(LanguageTag::new(locale.clone())));
            }
        }
        let claims = IdTokenClaims::new(
            issuer,
            vec![Audience::new(grant.client_id.clone())],
            issued + Duration::seconds(lifetime),
            issued,
            standard,
            IdpClaims {
                sid: grant.session_id.clone(),
                former_usernames: scope
                    .contains(&"profile")
                    .then(|| former.usernames.clone())
                    .filter(|u| !u.is_empty()),
                former_subjects: scope
                    .contains(&"profile")
                    .then(|| former.subjects.clone())
                    .filter(|s| !s.is_empty()),
            },
        )
        .set_nonce(nonce.map(|n| Nonce::new(n.to_string())))
        .set_auth_time(grant.auth_time.map(|t| t.and_utc()))
        .set_auth_context_ref(acr_of(self, grant).map(AuthenticationContextClass::new))
        .set_auth_method_refs(grant.amr.as_ref().map(|amr| {
            amr.split(' ')
                .map(|m| AuthenticationMethodReference::new(m.to_string()))
                .collect()
        }));
        let token = IdpIdToken::new(
            claims,
            key.as_ref(),
            core_alg(alg),
            Some(&AccessToken::new(access_token.to_string())),
            None,
        )
        .map_err(OAuthError::server)?;
        Ok(token.to_string())
    }

    /// Checks an access token we issued: signature, type, issuer, expiry. (Revocation is the
    /// caller's: it needs the database.)
    pub fn verify_access_token(&self, token: &str) -> Result<AccessClaims, OAuthError> {
        let invalid = || OAuthError::new(ErrorCode::InvalidToken, "the access token is not valid");
        // A token this key snapshot verified before skips the signature check, not the expiry.
        let digest = crate::crypto::secret::hash(&format!("{}\n{token}", self.tenant.id));
        let value = match self.keys.verified(&digest) {
            Some(claims) => {
                let exp = claims
                    .get("exp")
                    .and_then(Value::as_i64)
                    .ok_or_else(invalid)?;
                if exp <= self.now.and_utc().timestamp() {
                    return Err(invalid());
                }
                claims
            }
            None => {
                let claims = self
                    .verify_jwt(token, Some("at+jwt"), true)
                    .ok_or_else(invalid)?;
                self.keys.remember_verified(digest, &claims);
                claims
            }
        };
        serde_json::from_value(value).map_err(|_| invalid())
    }

    /// Verifies a JWT signed by one of this tenant's keys and issued by this issuer; returns its
    /// claims. `check_exp` false accepts an expired token (an `id_token_hint` may be expired),
    /// and with it a key that has left the JWKS but is kept for hints; a token whose expiry is
    /// checked verifies with a published key only.
    pub fn verify_jwt(&self, token: &str, typ: Option<&str>, check_exp: bool) -> Option<Value> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        match typ {
            Some(typ) if header.typ.as_deref() != Some(typ) => return None,
            // An ID token: never one of our other JWTs.
            None if matches!(header.typ.as_deref(), Some("at+jwt" | "logout+jwt")) => return None,
            _ => {}
        }
        let keys = self.tenant_keys().ok()?;
        let kid = header.kid.as_deref()?;
        let key = if check_exp {
            keys.by_kid(kid)?.verifying()
        } else {
            keys.by_kid_for_hint(kid)?
        };
        // The key's own algorithm, never the one the token's header names.
        let alg = match key.alg() {
            SigningAlg::RS256 => jsonwebtoken::Algorithm::RS256,
            SigningAlg::ES256 => jsonwebtoken::Algorithm::ES256,
            SigningAlg::EdDSA => jsonwebtoken::Algorithm::EdDSA,
        };
        if header.alg != alg {
            return None;
        }
        let mut validation = jsonwebtoken::Validation::new(alg);
        validation.set_issuer(&[&self.issuer]);
        validation.validate_aud = false;
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<Value>(token, key.decoding_key(), &validation).ok()?;
        if data.claims.get("iss").and_then(Value::as_str) != Some(self.issuer.as_str())
            || data.claims.get("aud").is_none()
            || data.claims.get("sub").is_none()
        {
            return None;
        }
        if check_exp {
            let exp = data.claims.get("exp").and_then(Value::as_i64)?;
            if exp <= self.now.and_utc().timestamp() {
                return None;
            }
        }
        Some(data.claims)
    }

    /// The claims of `user` that `scope` releases at the userinfo endpoint.
    pub fn userinfo(&self, user: &UserRow, former: &Former, scope: &str) -> Value {
        let scope: Vec<&str> = scope.split(' ').collect();
        let mut claims = json!({ "sub": user.subject });
        if let Value::Object(map) = &mut claims {
            if scope.contains(&"email")
                && let Some(email) = &user.email
            {
                map.insert("email".into(), json!(email));
                map.insert("email_verified".into(), json!(user.email_verified));
            }
            if scope.contains(&"profile") {
                if let Some(name) = &user.name {
                    map.insert("name".into(), json!(name));
                }
                if let Some(username) = preferred_username(user, &scope) {
                    map.insert("preferred_username".into(), json!(username));
                }
                if let Some(locale) = &user.locale {
                    map.insert("locale".into(), json!(locale));
                }
                if !former.usernames.is_empty() {
                    map.insert("former_usernames".into(), json!(former.usernames));
                }
                if !former.subjects.is_empty() {
                    map.insert("former_subjects".into(), json!(former.subjects));
                }
            }
        }
        claims
    }
}

/// The hash a PKCE S256 verifier must match: base64url(SHA-256(verifier)).
pub fn s256(verifier: &str) -> String {
    use sha2::Digest;
    crate::crypto::keys::b64(&sha2::Sha256::digest(verifier.as_bytes()))
}

/// The `acr` of `grant`'s ID tokens: the level its `amr` proves, named as the tenant's `[acr]`
/// names it now. A city that renames its levels and restarts must not have sessions and grants of
/// before answer the old name, which discovery no longer lists and an e-service that asked for
/// the new one refuses (OIDC Core §5.5.1.1). A grant without `amr` keeps what it stored.
fn acr_of(m: &Minter<'_>, grant: &GrantRow) -> Option<String> {
    match &grant.amr {
        Some(amr) => Some(
            super::proof::Proof::parse(amr)
                .acr(&m.tenant.acr)
                .to_string(),
        ),
        None => grant.acr.clone(),
    }
}

/// The `preferred_username` of `user` under `scope` (which has `profile`): the old username of a
/// bound resident or an authority user's username; otherwise the address, but only where
/// `email` was granted too: an e-service the resident allowed only their profile does not get
/// their address under another name.
fn preferred_username<'u>(user: &'u UserRow, scope: &[&str]) -> Option<&'u String> {
    user.username
        .as_ref()
        .or(user.email.as_ref().filter(|_| scope.contains(&"email")))
}
