//! The tenant a command acts for: its configuration, or the error that lists the configured
//! ones, and the [`Minter`] a flow run from the command line works in.

use std::collections::HashMap;
use std::sync::Arc;

use super::failure::Failure;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, TenantConfig};
use crate::crypto::keyring::KeyRing;
use crate::flows::context::Minter;

/// The configuration of the tenant `tenant`, or the error that lists the configured ones.
pub(super) fn tenant_config<'c>(
    config: &'c Config,
    tenant: &str,
) -> Result<&'c TenantConfig, Failure> {
    config.tenant(tenant).ok_or_else(|| {
        let known: Vec<&str> = config.tenants.keys().map(String::as_str).collect();
        Failure::Other(format!(
            "unknown tenant \"{tenant}\" (configured: {})",
            known.join(", ")
        ))
    })
}

/// What a flow run from the command line for the configured tenant `tenant` works in: now, no
/// client address, and no keys (nothing is signed here: back-channel logouts are queued and
/// signed by the server).
pub(super) fn minter<'c>(config: &'c Config, tenant: &str) -> Result<Minter<'c>, Failure> {
    let tenant = tenant_config(config, tenant)?;
    Ok(Minter {
        config,
        tenant,
        issuer: config.issuer(tenant),
        keys: Arc::new(KeyRing::new(HashMap::new())),
        now: SystemClock.now(),
        remote_addr: None,
        user_agent: None,
        geo: None,
        language: None,
        tally: Default::default(),
    })
}
