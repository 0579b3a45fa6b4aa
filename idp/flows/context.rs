//! What every flow works in: [`Minter`], the tenant, its issuer and keys, the request's time and
//! client address. `app::Services::minter` makes one per request; the OpenID Connect flows sign
//! with it (`oidc/tokens.rs`), every flow reads its tenant and time from it and audits through it.

use std::sync::Arc;

use chrono::{Duration, NaiveDateTime};

use crate::config::{Config, Language, TenantConfig};
use crate::crypto::keyring::KeyRing;
use crate::crypto::secret;
use crate::domain::counting_key;
use crate::flows::location::GeoIp;
use crate::store::audit::Event;
use crate::telemetry::metrics::{LoginOutcome, Tally};

/// What a flow needs of its request: the tenant, its issuer and keys, and the time.
pub struct Minter<'a> {
    /// The configuration.
    pub config: &'a Config,
    /// The tenant.
    pub tenant: &'a TenantConfig,
    /// Its issuer.
    pub issuer: String,
    /// The key ring snapshot.
    pub keys: Arc<KeyRing>,
    /// Now.
    pub now: NaiveDateTime,
    /// The address of the client whose request this is (for the audit trail and the limits), as
    /// `server.trust_forwarded_for` says to take it; `None` outside a request.
    pub remote_addr: Option<String>,
    /// The request's `User-Agent` header as it came (a session keeps it, cleaned, to name its
    /// browser on the account page); `None` outside a request or without the header.
    pub user_agent: Option<String>,
    /// The location database, for a session's coarse location (`None` without one, and outside
    /// the server).
    pub geo: Option<&'a GeoIp>,
    /// The language of the page the request was made on (a login's, an account page's): what a
    /// login keeps as the resident's language (`users.locale`); `None` outside the pages.
    pub language: Option<Language>,
    /// What the flow decided that the metrics count (a login's outcome): counted by the HTTP
    /// layer once the flow has returned `Ok`, its transaction committed.
    pub tally: Tally,
}

/// The key the per-client-address limits count the client `address` under ([`Minter::client_key`]).
pub fn client_key_of(address: &str) -> String {
    secret::hash(&format!("client:{}", counting_key(address)))
}

impl Minter<'_> {
    /// An audit event of `kind` in this tenant, now, from the request's client address.
    pub fn audit<'e>(&'e self, kind: &'e str) -> Event<'e> {
        Event::new(&self.tenant.id, self.now, kind).address(self.remote_addr.as_deref())
    }

    /// What the per-client-address limits stored in the database (the mail limits, the waiting
    /// authorization requests) count this request's client under: the SHA-256 of its
    /// [`counting_key`] (an IPv6 address per /64), never the address in clear. `None` outside a
    /// request.
    pub fn client_key(&self) -> Option<String> {
        self.remote_addr.as_deref().map(client_key_of)
    }

    /// Notes a login's outcome for the metrics (`idp_logins_total`).
    pub fn count_login(&self, outcome: LoginOutcome) {
        self.tally.login(outcome);
    }

    /// Whether this tenant's residents can use passkeys: the tenant allows them and the public
    /// URL's host is a name (browsers refuse WebAuthn on an IP address).
    pub fn passkeys_on(&self) -> bool {
        self.tenant.passkeys.enabled && self.config.settings.server.webauthn_host().is_some()
    }

    /// The time `value` seconds (of the configuration) from now.
    pub fn after(&self, value: u64) -> NaiveDateTime {
        self.now + seconds(value)
    }

    /// When a link mailed now stops working (`tokens.link_seconds` from now).
    pub fn link_expiry(&self) -> NaiveDateTime {
        let seconds = i64::try_from(self.config.settings.tokens.link_seconds).unwrap_or(3600);
        self.now + Duration::seconds(seconds)
    }
}

/// Seconds of the configuration as a duration, saturating (a value beyond a duration's range is
/// the longest one).
pub fn seconds(value: u64) -> Duration {
    Duration::seconds(i64::try_from(value).unwrap_or(i64::MAX / 1000))
}
