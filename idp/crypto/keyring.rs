//! The signing keys of every tenant, parsed, as one immutable snapshot.
//!
//! A snapshot is rebuilt from the database at start and every 60 seconds (so keys rotated by
//! `idp keys rotate`, or by another node, appear); handlers take the current one without waiting.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use chrono::NaiveDateTime;
use serde_json::{Value, json};

use super::keys::{SigningKey, VerifyingKey};
use crate::config::SigningAlg;

/// A key with its schedule.
#[derive(Debug, Clone)]
pub struct ScheduledKey {
    /// The parsed key.
    pub key: Arc<SigningKey>,
    /// Signs from then on.
    pub activates_at: NaiveDateTime,
    /// Stops signing then.
    pub retired_at: Option<NaiveDateTime>,
}

/// One tenant's keys.
#[derive(Debug, Default)]
pub struct TenantKeys {
    /// Published: in the JWKS, signing when active, verifying every JWT we accept back.
    keys: Vec<ScheduledKey>,
    /// Retired and out of the JWKS, still verifying `id_token_hint`s (which may be older than any
    /// token whose expiry we enforce: they live as long as their session); public halves only.
    hints_only: Vec<VerifyingKey>,
    jwks: String,
}

impl TenantKeys {
    /// From the published keys in activation order (oldest first), which make the JWKS and sign,
    /// and the retired ones kept for hints (`hints_only`), looked up by
    /// [`TenantKeys::by_kid_for_hint`] alone.
    pub fn new(keys: Vec<ScheduledKey>, hints_only: Vec<VerifyingKey>) -> TenantKeys {
        let jwks = json!({
            "keys": keys.iter().map(|k| k.key.public_jwk().clone()).collect::<Vec<Value>>()
        })
        .to_string();
        TenantKeys {
            keys,
            hints_only,
            jwks,
        }
    }

    /// The key that signs with `alg` at `now`: the newest active one.
    pub fn signing(&self, alg: SigningAlg, now: NaiveDateTime) -> Option<&Arc<SigningKey>> {
        self.active(alg, now).map(|k| &k.key)
    }

    /// The key of `alg` that signs at `now`, with its schedule.
    pub fn active(&self, alg: SigningAlg, now: NaiveDateTime) -> Option<&ScheduledKey> {
        self.keys.iter().rev().find(|k| {
            k.key.alg() == alg
                && k.activates_at <= now
                && k.retired_at.is_none_or(|retired| retired > now)
        })
    }

    /// A published key by id: verifies what we signed and enforce the expiry of (an access
    /// token). A key that left the JWKS is not found: its tokens have all expired.
    pub fn by_kid(&self, kid: &str) -> Option<&Arc<SigningKey>> {
        self.keys
            .iter()
            .find(|k| k.key.kid() == kid)
            .map(|k| &k.key)
    }

    /// A published key by id, or a retired one still kept for hints: verifies an
    /// `id_token_hint`, whose expiry is not checked and which lives as long as its session.
    pub fn by_kid_for_hint(&self, kid: &str) -> Option<&VerifyingKey> {
        self.by_kid(kid)
            .map(|k| k.verifying())
            .or_else(|| self.hints_only.iter().find(|k| k.kid() == kid))
    }

    /// The JWKS document, serialised once.
    pub fn jwks(&self) -> &str {
        &self.jwks
    }

    /// Every published key, oldest first.
    pub fn keys(&self) -> &[ScheduledKey] {
        &self.keys
    }
}

/// Every tenant's keys.
#[derive(Debug, Default)]
pub struct KeyRing {
    tenants: HashMap<String, TenantKeys>,
    verified: Verified,
}

/// The most access tokens a snapshot remembers as verified; when full it forgets them all.
const VERIFIED_CAPACITY: usize = 4096;

/// Access tokens whose signature this snapshot's keys verified: the claims, by a digest of the
/// tenant and the token. It saves the signature check (an ES256 verification, ~50 µs) when an
/// e-service presents the same token again, as it does at userinfo. It belongs to the snapshot,
/// so every key reload (60 s) starts it empty: a key removed from the ring stops vouching for
/// its tokens then. Expiry and revocation are still checked at every use, by the caller.
#[derive(Debug, Default)]
struct Verified(Mutex<HashMap<String, Value>>);

impl KeyRing {
    /// From each tenant's keys.
    pub fn new(tenants: HashMap<String, TenantKeys>) -> KeyRing {
        KeyRing {
            tenants,
            verified: Verified::default(),
        }
    }

    /// The claims of an access token this snapshot verified before (`digest` names the tenant
    /// and the token).
    pub fn verified(&self, digest: &str) -> Option<Value> {
        let map = self.verified.0.lock().ok()?;
        map.get(digest).cloned()
    }

    /// Remembers that the access token `digest` names verified with these claims.
    pub fn remember_verified(&self, digest: String, claims: &Value) {
        if let Ok(mut map) = self.verified.0.lock() {
            if map.len() >= VERIFIED_CAPACITY {
                map.clear();
            }
            map.insert(digest, claims.clone());
        }
    }

    /// A tenant's keys (empty when it has none).
    pub fn tenant(&self, tenant: &str) -> Option<&TenantKeys> {
        self.tenants.get(tenant)
    }
}

/// The current snapshot, replaceable while handlers read.
#[derive(Debug, Default)]
pub struct SharedKeyRing(RwLock<Arc<KeyRing>>);

impl SharedKeyRing {
    /// Holding `ring`.
    pub fn new(ring: KeyRing) -> SharedKeyRing {
        SharedKeyRing(RwLock::new(Arc::new(ring)))
    }

    /// The current snapshot.
    pub fn current(&self) -> Arc<KeyRing> {
        match self.0.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the snapshot.
    pub fn replace(&self, ring: KeyRing) {
        let ring = Arc::new(ring);
        match self.0.write() {
            Ok(mut guard) => *guard = ring,
            Err(poisoned) => *poisoned.into_inner() = ring,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hour: u32) -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2027, 3, 1)
            .unwrap()
            .and_hms_opt(hour, 0, 0)
            .unwrap()
    }

    fn key(activates_at: NaiveDateTime, retired_at: Option<NaiveDateTime>) -> ScheduledKey {
        let (key, _) = SigningKey::generate(SigningAlg::EdDSA).unwrap();
        ScheduledKey {
            key: Arc::new(key),
            activates_at,
            retired_at,
        }
    }

    #[test]
    fn a_verify_only_key_verifies_hints_alone_and_is_neither_published_nor_signing() {
        // A key retired at 2 (out of the JWKS since), kept for hints as its public half; its
        // successor.
        let retired = key(at(0), None);
        let hints = retired.key.verifying().clone();
        let current = key(at(2), None);
        let (old, new) = (hints.kid().to_string(), current.key.kid().to_string());
        let keys = TenantKeys::new(vec![current], vec![hints]);

        let jwks: Value = serde_json::from_str(keys.jwks()).unwrap();
        assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(1));
        assert_eq!(jwks["keys"][0]["kid"], new.as_str());
        assert_eq!(keys.keys().len(), 1);
        assert_eq!(
            keys.signing(SigningAlg::EdDSA, at(1)).map(|k| k.kid()),
            None
        );
        assert_eq!(
            keys.signing(SigningAlg::EdDSA, at(3)).map(|k| k.kid()),
            Some(new.as_str())
        );

        assert!(keys.by_kid(&old).is_none(), "an access token's key");
        assert_eq!(
            keys.by_kid_for_hint(&old).map(|k| k.kid()),
            Some(old.as_str())
        );
        assert_eq!(keys.by_kid(&new).map(|k| k.kid()), Some(new.as_str()));
        assert_eq!(
            keys.by_kid_for_hint(&new).map(|k| k.kid()),
            Some(new.as_str())
        );
        assert!(keys.by_kid_for_hint("other").is_none());
    }
}
