//! What a running node holds: configuration, store, clock, key-encryption key and signing keys.
//!
//! [`Services::start`] is the start-up sequence shared by `idp serve` and the tests: make sure every
//! tenant has its keys, then load them.

use std::sync::Arc;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::crypto::kek::Kek;
use crate::crypto::keyring::SharedKeyRing;
use crate::flows::keys::{self, KeysError};
use crate::store::{Store, StoreError};

/// The long-lived parts of a node; cheap to clone.
#[derive(Clone)]
pub struct Services {
    /// The configuration.
    pub config: Arc<Config>,
    /// The database.
    pub store: Store,
    /// The clock.
    pub clock: SharedClock,
    /// Encrypts signing keys at rest.
    pub kek: Arc<Kek>,
    /// The signing keys of every tenant.
    pub keys: Arc<SharedKeyRing>,
}

/// Start-up failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Keys could not be made or read.
    #[error(transparent)]
    Keys(#[from] KeysError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Services {
    /// Creates missing keys and loads them (blocking: run before serving or on a blocking thread).
    pub fn start(
        config: Arc<Config>,
        store: Store,
        clock: SharedClock,
    ) -> Result<Services, StartError> {
        let kek = keys::key_encryption_key(&config).map_err(KeysError::from)?;
        let now = clock.now();
        let mut conn = store.conn()?;
        let created = keys::ensure(&mut conn, &kek, &config, now)?;
        if !created.is_empty() {
            tracing::info!(count = created.len(), "created signing keys");
        }
        let ring = keys::load(&mut conn, &kek, now)?;
        Ok(Services {
            config,
            store,
            clock,
            kek: Arc::new(kek),
            keys: Arc::new(SharedKeyRing::new(ring)),
        })
    }

    /// Re-reads the keys (rotated here or on another node; expired ones leave).
    pub fn reload_keys(&self) -> Result<(), KeysError> {
        let mut conn = self.store.conn()?;
        let ring = keys::load(&mut conn, &self.kek, self.clock.now())?;
        self.keys.replace(ring);
        Ok(())
    }

    /// Re-reads the keys every `period` on a blocking thread, until the runtime stops.
    pub fn spawn_key_reloader(&self, period: std::time::Duration) {
        let services = self.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(period);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let services = services.clone();
                match tokio::task::spawn_blocking(move || services.reload_keys()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => tracing::warn!(%error, "reloading signing keys failed"),
                    Err(error) => tracing::warn!(%error, "reloading signing keys failed"),
                }
            }
        });
    }
}
