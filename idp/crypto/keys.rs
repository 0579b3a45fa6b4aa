//! Signing keys: RS256, ES256 and EdDSA key pairs held parsed in memory (aws-lc-rs).
//!
//! Parsing a private key costs more than the rest of a token request (STACK.md), so a key is parsed
//! once when loaded and signs directly. Each key carries its public JWK, whose `kid` is the RFC 7638
//! thumbprint, and implements openidconnect's [`PrivateSigningKey`] so ID tokens are built with its
//! types.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256,
    RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{CoreJsonCurveType, CoreJsonWebKey, CoreJwsSigningAlgorithm};
use openidconnect::{JsonWebKeyId, PrivateSigningKey, SigningError};
use serde_json::{Value, json};

use crate::config::SigningAlg;

/// A key could not be made, read or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Generation failed.
    #[error("cannot generate a {0} key")]
    Generate(&'static str),
    /// The stored key is not a key of its algorithm.
    #[error("stored key {kid} is not a valid {alg} key: {reason}")]
    Invalid {
        /// The key's id.
        kid: String,
        /// Its algorithm.
        alg: &'static str,
        /// Why.
        reason: String,
    },
    /// Signing failed.
    #[error("signing with {0} failed")]
    Sign(&'static str),
}

enum Pair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A parsed signing key with its public JWK.
pub struct SigningKey {
    alg: SigningAlg,
    kid: String,
    pair: Pair,
    jwk: Value,
    /// Its public half, as jsonwebtoken verifies with it, built once (not at every verification).
    verifying: VerifyingKey,
    rng: SystemRandom,
}

/// The public half of a key: verifies what the key signed, and cannot sign. A retired key that
/// only verifies `id_token_hint`s is one of these, made from its stored public JWK: its private
/// part is never decrypted again.
#[derive(Clone)]
pub struct VerifyingKey {
    alg: SigningAlg,
    kid: String,
    decoding: jsonwebtoken::DecodingKey,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    /// From the public JWK `jwk` (as stored, JSON) of the key `kid` of `alg`; its RFC 7638
    /// thumbprint must be `kid`.
    pub fn from_public_jwk(
        alg: SigningAlg,
        kid: &str,
        jwk: &str,
    ) -> Result<VerifyingKey, KeyError> {
        let invalid = |reason: String| KeyError::Invalid {
            kid: kid.to_string(),
            alg: alg_name(alg),
            reason,
        };
        let jwk: Value = serde_json::from_str(jwk).map_err(|e| invalid(e.to_string()))?;
        let thumbprint = thumbprint(&jwk).map_err(invalid)?;
        if thumbprint != kid {
            return Err(invalid(format!("its thumbprint is {thumbprint}")));
        }
        VerifyingKey::of_jwk(alg, kid, &jwk).map_err(invalid)
    }

    fn of_jwk(alg: SigningAlg, kid: &str, jwk: &Value) -> Result<VerifyingKey, String> {
        let public = serde_json::from_value::<jsonwebtoken::jwk::Jwk>(jwk.clone())
            .map_err(|e| e.to_string())?;
        let decoding = jsonwebtoken::DecodingKey::from_jwk(&public).map_err(|e| e.to_string())?;
        Ok(VerifyingKey {
            alg,
            kid: kid.to_string(),
            decoding,
        })
    }

    /// The key's id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Its algorithm.
    pub fn alg(&self) -> SigningAlg {
        self.alg
    }

    /// The key for verifying what it signed (jsonwebtoken).
    pub fn decoding_key(&self) -> &jsonwebtoken::DecodingKey {
        &self.decoding
    }
}

impl std::fmt::Debug for SigningKey {
    /// Its public half's: never the private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SigningKey").field(&self.verifying).finish()
    }
}

/// The JOSE name of an algorithm.
pub fn alg_name(alg: SigningAlg) -> &'static str {
    match alg {
        SigningAlg::RS256 => "RS256",
        SigningAlg::ES256 => "ES256",
        SigningAlg::EdDSA => "EdDSA",
    }
}

/// The algorithm with a JOSE name.
pub fn alg_from_name(name: &str) -> Option<SigningAlg> {
    match name {
        "RS256" => Some(SigningAlg::RS256),
        "ES256" => Some(SigningAlg::ES256),
        "EdDSA" => Some(SigningAlg::EdDSA),
        _ => None,
    }
}

impl SigningKey {
    /// Generates a key; returns it and its private key as PKCS#8 DER (to be encrypted and stored).
    pub fn generate(alg: SigningAlg) -> Result<(SigningKey, Vec<u8>), KeyError> {
        let name = alg_name(alg);
        let pkcs8 = match alg {
            SigningAlg::RS256 => RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                .and_then(|k| k.as_der())
                .map(|der| der.as_ref().to_vec()),
            SigningAlg::ES256 => EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                .and_then(|k| k.to_pkcs8v1())
                .map(|doc| doc.as_ref().to_vec()),
            SigningAlg::EdDSA => Ed25519KeyPair::generate()
                .and_then(|k| k.to_pkcs8v1())
                .map(|doc| doc.as_ref().to_vec()),
        }
        .map_err(|_| KeyError::Generate(name))?;
        let key = SigningKey::from_pkcs8(alg, &pkcs8, None)?;
        Ok((key, pkcs8))
    }

    /// Parses a PKCS#8 private key; `expected_kid`, when given, must match the computed one.
    pub fn from_pkcs8(
        alg: SigningAlg,
        pkcs8: &[u8],
        expected_kid: Option<&str>,
    ) -> Result<SigningKey, KeyError> {
        let invalid = |reason: String| KeyError::Invalid {
            kid: expected_kid.unwrap_or("(new)").to_string(),
            alg: alg_name(alg),
            reason,
        };
        let (pair, mut jwk) = match alg {
            SigningAlg::RS256 => {
                let pair = RsaKeyPair::from_pkcs8(pkcs8).map_err(|e| invalid(e.to_string()))?;
                let public = pair.public_key();
                let jwk = json!({
                    "kty": "RSA",
                    "n": b64(public.modulus().big_endian_without_leading_zero()),
                    "e": b64(public.exponent().big_endian_without_leading_zero()),
                });
                (Pair::Rsa(pair), jwk)
            }
            SigningAlg::ES256 => {
                let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                    .map_err(|e| invalid(e.to_string()))?;
                // Uncompressed point: 0x04 || x (32 bytes) || y (32 bytes).
                let point = pair.public_key().as_ref();
                if point.len() != 65 {
                    return Err(invalid("unexpected public key length".into()));
                }
                let jwk = json!({
                    "kty": "EC",
                    "crv": "P-256",
                    "x": b64(&point[1..33]),
                    "y": b64(&point[33..65]),
                });
                (Pair::Ec(pair), jwk)
            }
            SigningAlg::EdDSA => {
                let pair = Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|e| invalid(e.to_string()))?;
                let jwk = json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": b64(pair.public_key().as_ref()),
                });
                (Pair::Ed(pair), jwk)
            }
        };
        let kid = thumbprint(&jwk).map_err(invalid)?;
        if let Some(expected) = expected_kid
            && expected != kid
        {
            return Err(invalid(format!("its thumbprint is {kid}")));
        }
        if let Value::Object(map) = &mut jwk {
            map.insert("kid".into(), Value::String(kid.clone()));
            map.insert("alg".into(), Value::String(alg_name(alg).into()));
            map.insert("use".into(), Value::String("sig".into()));
        }
        let verifying = VerifyingKey::of_jwk(alg, &kid, &jwk).map_err(invalid)?;
        Ok(SigningKey {
            alg,
            kid,
            pair,
            jwk,
            verifying,
            rng: SystemRandom::new(),
        })
    }

    /// The key's id: its RFC 7638 thumbprint.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Its algorithm.
    pub fn alg(&self) -> SigningAlg {
        self.alg
    }

    /// The public JWK with `kid`, `alg` and `use`.
    pub fn public_jwk(&self) -> &Value {
        &self.jwk
    }

    /// Signs `message` with the key's algorithm.
    pub fn sign_bytes(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let name = alg_name(self.alg);
        match &self.pair {
            Pair::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &self.rng, message, &mut signature)
                    .map_err(|_| KeyError::Sign(name))?;
                Ok(signature)
            }
            Pair::Ec(pair) => pair
                .sign(&self.rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| KeyError::Sign(name)),
            Pair::Ed(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }

    /// A JWS in compact form over `claims`, with `typ` in the header when given.
    pub fn sign_jwt(&self, typ: Option<&str>, claims: &Value) -> Result<String, KeyError> {
        let mut header = json!({ "alg": alg_name(self.alg), "kid": self.kid });
        if let (Some(typ), Value::Object(map)) = (typ, &mut header) {
            map.insert("typ".into(), Value::String(typ.into()));
        }
        let signing_input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let signature = self.sign_bytes(signing_input.as_bytes())?;
        Ok(format!("{signing_input}.{}", b64(&signature)))
    }

    /// The key for verifying what this key signed (jsonwebtoken).
    pub fn decoding_key(&self) -> &jsonwebtoken::DecodingKey {
        self.verifying.decoding_key()
    }

    /// Its public half.
    pub fn verifying(&self) -> &VerifyingKey {
        &self.verifying
    }

    fn field(&self, name: &str) -> Vec<u8> {
        self.jwk[name]
            .as_str()
            .and_then(|s| URL_SAFE_NO_PAD.decode(s).ok())
            .unwrap_or_default()
    }
}

impl PrivateSigningKey for SigningKey {
    type VerificationKey = CoreJsonWebKey;

    fn sign(
        &self,
        signature_alg: &CoreJwsSigningAlgorithm,
        message: &[u8],
    ) -> Result<Vec<u8>, SigningError> {
        let matches = matches!(
            (self.alg, signature_alg),
            (
                SigningAlg::RS256,
                CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256
            ) | (SigningAlg::ES256, CoreJwsSigningAlgorithm::EcdsaP256Sha256)
                | (SigningAlg::EdDSA, CoreJwsSigningAlgorithm::EdDsa)
        );
        if !matches {
            return Err(SigningError::UnsupportedAlg(format!("{signature_alg:?}")));
        }
        self.sign_bytes(message)
            .map_err(|e| SigningError::Other(e.to_string()))
    }

    fn as_verification_key(&self) -> CoreJsonWebKey {
        let kid = Some(JsonWebKeyId::new(self.kid.clone()));
        match self.alg {
            SigningAlg::RS256 => CoreJsonWebKey::new_rsa(self.field("n"), self.field("e"), kid),
            SigningAlg::ES256 => CoreJsonWebKey::new_ec(
                self.field("x"),
                self.field("y"),
                CoreJsonCurveType::P256,
                kid,
            ),
            SigningAlg::EdDSA => {
                CoreJsonWebKey::new_okp(self.field("x"), CoreJsonCurveType::Ed25519, kid)
            }
        }
    }
}

/// The openidconnect name of an algorithm.
pub fn core_alg(alg: SigningAlg) -> CoreJwsSigningAlgorithm {
    match alg {
        SigningAlg::RS256 => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        SigningAlg::ES256 => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        SigningAlg::EdDSA => CoreJwsSigningAlgorithm::EdDsa,
    }
}

/// base64url without padding.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The RFC 7638 thumbprint (SHA-256) of a public JWK, computed by jsonwebtoken.
fn thumbprint(jwk: &Value) -> Result<String, String> {
    let parsed: jsonwebtoken::jwk::Jwk =
        serde_json::from_value(jwk.clone()).map_err(|e| e.to_string())?;
    parsed
        .thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest;

    #[test]
    fn each_algorithm_signs_what_jsonwebtoken_verifies() {
        for alg in [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA] {
            let (key, pkcs8) = SigningKey::generate(alg).unwrap();
            let claims = json!({"sub": "erkki", "exp": 4_000_000_000_u64});
            let token = key.sign_jwt(Some("at+jwt"), &claims).unwrap();
            let mut validation = jsonwebtoken::Validation::new(match alg {
                SigningAlg::RS256 => jsonwebtoken::Algorithm::RS256,
                SigningAlg::ES256 => jsonwebtoken::Algorithm::ES256,
                SigningAlg::EdDSA => jsonwebtoken::Algorithm::EdDSA,
            });
            validation.required_spec_claims.clear();
            let data =
                jsonwebtoken::decode::<Value>(&token, key.decoding_key(), &validation).unwrap();
            assert_eq!(data.claims, claims);
            assert_eq!(data.header.typ.as_deref(), Some("at+jwt"));
            assert_eq!(data.header.kid.as_deref(), Some(key.kid()));

            // The same key comes back from its PKCS#8 form; a different kid is refused.
            let again = SigningKey::from_pkcs8(alg, &pkcs8, Some(key.kid())).unwrap();
            assert_eq!(again.public_jwk(), key.public_jwk());
            assert!(SigningKey::from_pkcs8(alg, &pkcs8, Some("other")).is_err());
            assert_eq!(key.public_jwk()["alg"], alg_name(alg));
            assert_eq!(key.public_jwk()["use"], "sig");
        }
    }

    #[test]
    fn kid_is_the_rfc7638_thumbprint() {
        // RFC 7638 §3.1: the example RSA key and its thumbprint.
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
        });
        assert_eq!(
            thumbprint(&jwk).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        // And by hand for an EC key: SHA-256 over the required members in lexicographic order.
        let (key, _) = SigningKey::generate(SigningAlg::ES256).unwrap();
        let jwk = key.public_jwk();
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk["x"].as_str().unwrap(),
            jwk["y"].as_str().unwrap()
        );
        assert_eq!(key.kid(), b64(&sha2::Sha256::digest(canonical.as_bytes())));
    }
}
