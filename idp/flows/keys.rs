//! Signing keys: created on first start, loaded into the key ring, rotated by `idp keys rotate`.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::NaiveDateTime;

use crate::config::{Config, SigningAlg};
use crate::crypto::kek::{Kek, KekError};
use crate::crypto::keyring::{KeyRing, ScheduledKey, TenantKeys};
use crate::crypto::keys::{KeyError, SigningKey, VerifyingKey, alg_from_name, alg_name};
use crate::flows::context::seconds;
use crate::store::{DbConnection, StoreError, Tenant, audit, keys as key_store};

/// Every algorithm a tenant signs with.
pub const ALGORITHMS: [SigningAlg; 3] = [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA];

/// Why keys could not be made or loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A key could not be generated or parsed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The key-encryption key is wrong.
    #[error(transparent)]
    Kek(#[from] KekError),
}

impl From<diesel::result::Error> for KeysError {
    fn from(e: diesel::result::Error) -> Self {
        KeysError::Store(e.into())
    }
}

/// The configured key-encryption key, or the development one (created with a warning).
pub fn key_encryption_key(config: &Config) -> Result<Kek, KekError> {
    match &config.settings.keys.encryption_key {
        Some(key) => Kek::from_base64(secrecy::ExposeSecret::expose_secret(key)),
        None => {
            let path = &config.settings.keys.development_key_file;
            let (kek, created) = Kek::development(path)?;
            tracing::warn!(
                file = %path.display(),
                created,
                "keys.encryption_key is not set: signing keys are encrypted with a development key; set IDP__KEYS__ENCRYPTION_KEY in production"
            );
            Ok(kek)
        }
    }
}

/// A new key of `alg`, generated and sealed: the slow part (RSA), done before a writer's turn.
struct NewKey {
    kid: String,
    alg: SigningAlg,
    public_jwk: String,
    private_key_encrypted: String,
}

impl NewKey {
    fn generate(kek: &Kek, alg: SigningAlg) -> Result<NewKey, KeysError> {
        let (key, pkcs8) = SigningKey::generate(alg)?;
        let kid = key.kid().to_string();
        Ok(NewKey {
            private_key_encrypted: kek.seal(&kid, &pkcs8)?,
            public_jwk: key.public_jwk().to_string(),
            kid,
            alg,
        })
    }

    /// Stores the key, and audits it, in the caller's transaction.
    fn store(
        self,
        conn: &mut DbConnection,
        tenant: &str,
        now: NaiveDateTime,
        activates_at: NaiveDateTime,
    ) -> Result<String, KeysError> {
        let NewKey {
            kid,
            alg,
            public_jwk,
            private_key_encrypted,
        } = self;
        key_store::insert(
            conn,
            &key_store::KeyRow {
                kid: kid.clone(),
                tenant_id: tenant.to_string(),
                alg: alg_name(alg).to_string(),
                public_jwk,
                private_key_encrypted,
                created_at: now,
                activates_at,
                retired_at: None,
                expires_at: None,
            },
        )?;
        audit::Event::new(tenant, now, "key.created")
            .detail(&serde_json::json!({"kid": kid, "alg": alg_name(alg), "activates_at": activates_at}))
            .record(conn)?;
        Ok(kid)
    }
}

/// Makes sure every tenant has an unretired key of every algorithm, creating those missing. A
/// missing key is generated before the write transaction (RSA takes a while, and SQLite's writers
/// of the file wait for the transaction), which checks again under its lock and stores it only if
/// the key is still missing: nodes that start together end with one key set (on PostgreSQL an
/// advisory lock orders them, on SQLite the write lock).
pub fn ensure(
    conn: &mut DbConnection,
    kek: &Kek,
    config: &Config,
    now: NaiveDateTime,
) -> Result<Vec<String>, KeysError> {
    let mut created = Vec::new();
    for tenant in config.tenants.keys() {
        for alg in ALGORITHMS {
            if !key_store::unretired(conn, tenant, alg_name(alg))?.is_empty() {
                continue;
            }
            let key = NewKey::generate(kek, alg)?;
            let kid = crate::store::write_transaction(conn, |conn| {
                key_store::lock_creation(conn)?;
                if key_store::unretired(conn, tenant, alg_name(alg))?.is_empty() {
                    key.store(conn, tenant, now, now).map(Some)
                } else {
                    Ok::<_, KeysError>(None)
                }
            })?;
            created.extend(kid);
        }
    }
    Ok(created)
}

/// Reads and decrypts every configured tenant's published keys, and the retired keys that left
/// its JWKS less than its longest session ago, or after its oldest live session began (a session
/// of before a city shortened its sessions, or one renewed by logins): those only verify
/// `id_token_hint`s, which are ID tokens as old as the session they name (logout and
/// `/authorize` accept them expired).
pub fn load(
    conn: &mut DbConnection,
    kek: &Kek,
    config: &Config,
    now: NaiveDateTime,
) -> Result<KeyRing, KeysError> {
    let mut tenants = HashMap::new();
    for tenant in config.tenants.values() {
        let horizon = seconds(tenant.longest_session_seconds(&config.settings.tokens));
        let since = now
            .checked_sub_signed(horizon)
            .unwrap_or(NaiveDateTime::MIN);
        let oldest = crate::store::sessions::oldest_live_created(conn, Tenant::of(tenant), now)?;
        let since = oldest.map_or(since, |began| since.min(began));
        let (mut keys, mut hints) = (Vec::new(), Vec::new());
        for row in key_store::published_since(conn, Tenant::of(tenant), since)? {
            let Some(alg) = alg_from_name(&row.alg) else {
                tracing::warn!(kid = %row.kid, alg = %row.alg, "skipping a key of an unknown algorithm");
                continue;
            };
            if row.expires_at.is_some_and(|expires| expires <= now) {
                // Out of the JWKS, kept for hints: its public half only, never decrypted again. A
                // damaged one costs a hint's check, not the node's start.
                match VerifyingKey::from_public_jwk(alg, &row.kid, &row.public_jwk) {
                    Ok(key) => hints.push(key),
                    Err(error) => tracing::warn!(%error, "skipping a retired key kept for hints"),
                }
                continue;
            }
            let pkcs8 = kek.open(&row.kid, &row.private_key_encrypted)?;
            let key = SigningKey::from_pkcs8(alg, &pkcs8, Some(&row.kid))?;
            keys.push(ScheduledKey {
                key: Arc::new(key),
                activates_at: row.activates_at,
                retired_at: row.retired_at,
            });
        }
        if !keys.is_empty() || !hints.is_empty() {
            tenants.insert(tenant.id.clone(), TenantKeys::new(keys, hints));
        }
    }
    Ok(KeyRing::new(tenants))
}

/// Adds a key for `alg` that is published now and signs after `keys.activation_delay_seconds`;
/// the keys it replaces stop signing then and leave the JWKS once their tokens have expired.
pub fn rotate(
    conn: &mut DbConnection,
    kek: &Kek,
    config: &Config,
    tenant: &str,
    alg: SigningAlg,
    now: NaiveDateTime,
) -> Result<(String, NaiveDateTime), KeysError> {
    let delay = seconds(config.settings.keys.activation_delay_seconds);
    let activates_at = now + delay;
    let expires_at = activates_at + seconds(config.settings.tokens.longest_signed_token_seconds());
    let key = NewKey::generate(kek, alg)?;
    crate::store::write_transaction(conn, |conn| {
        // Two rotations at once (two machines' cron) one after the other: the second retires
        // the first's key, rather than each keeping the other's unretired.
        key_store::lock_creation(conn)?;
        let kid = key.store(conn, tenant, now, activates_at)?;
        key_store::retire_others(conn, tenant, alg_name(alg), &kid, activates_at, expires_at)?;
        Ok((kid, activates_at))
    })
}

/// What the key ring `ring` lacks at `now` to sign for every tenant of `config` with every
/// algorithm, one line each ("seinajoki: no ES256 key"): empty when it can sign everything.
pub fn missing(config: &Config, ring: &KeyRing, now: NaiveDateTime) -> Vec<String> {
    let mut missing = Vec::new();
    for tenant in config.tenants.keys() {
        for alg in ALGORITHMS {
            let keys = ring.tenant(tenant);
            if keys.and_then(|k| k.signing(alg, now)).is_none() {
                missing.push(format!("{tenant}: no {} key", alg_name(alg)));
            }
        }
    }
    missing
}
