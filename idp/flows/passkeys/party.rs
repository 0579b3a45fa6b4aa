//! The WebAuthn relying party of a tenant: its id is the public URL's host, its origin the public
//! URL's origin, its name the tenant's. None when the tenant has passkeys off, or when the public
//! URL's host is an IP address (browsers refuse WebAuthn there); a start-up warning says so.

use std::time::Duration;

use webauthn_rs::prelude::{Url, Webauthn, WebauthnBuilder};

use crate::config::Config;
use crate::flows::context::Minter;

/// How long a ceremony (and the browser's prompt) may take: five minutes.
pub const CEREMONY_SECONDS: u64 = 300;

/// The relying party of the request's tenant; `None` when passkeys are off there.
pub fn relying_party(m: &Minter<'_>) -> Option<Webauthn> {
    if !m.passkeys_on() {
        return None;
    }
    let server = &m.config.settings.server;
    let rp_id = server.webauthn_host()?;
    let origin = Url::parse(&server.public_url.origin().ascii_serialization()).ok()?;
    let built = WebauthnBuilder::new(rp_id, &origin)
        .and_then(|builder| {
            builder
                .rp_name(&m.tenant.name)
                .timeout(Duration::from_secs(CEREMONY_SECONDS))
                .build()
        })
        .inspect_err(|error| tracing::error!(%error, rp_id, "cannot build the WebAuthn party"));
    built.ok()
}

/// Logs a warning at start when a tenant allows passkeys but the public URL's host is an IP
/// address: passkeys stay off until the public URL names a host (`http://localhost:8080`).
pub fn warn_if_off(config: &Config) {
    let server = &config.settings.server;
    if server.webauthn_host().is_some() {
        return;
    }
    let wanted: Vec<&str> = config
        .tenants
        .values()
        .filter(|t| t.passkeys.enabled)
        .map(|t| t.id.as_str())
        .collect();
    if !wanted.is_empty() {
        tracing::warn!(
            public_url = %server.public_url,
            tenants = ?wanted,
            "passkeys are off: the public URL's host is an IP address, where browsers refuse \
             WebAuthn; give server.public_url a host name (such as http://localhost:8080)"
        );
    }
}
