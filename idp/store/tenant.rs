//! The tenant a store call acts for.
//!
//! Every function that reads or changes a tenant's rows (codes, refresh tokens, grants, access-token
//! records, sessions, pending requests, mailed links, consents, throttle counters, mail limits, legacy
//! accounts, users) takes a [`Tenant`], and its query filters by it. A call that forgets the tenant
//! does not compile, and a row of another tenant is simply not found: a token of one city is unknown
//! at another.

use crate::config::TenantConfig;

/// A configured tenant's id, as the store filters by it. Made only from a [`TenantConfig`], so that
/// a request's tenant is always one that the configuration knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tenant<'a>(&'a str);

impl<'a> Tenant<'a> {
    /// The tenant of `config`.
    pub fn of(config: &'a TenantConfig) -> Self {
        Tenant(&config.id)
    }

    /// The tenant's id (the `tenant_id` column).
    pub fn id(self) -> &'a str {
        self.0
    }
}

impl<'a> From<&'a TenantConfig> for Tenant<'a> {
    fn from(config: &'a TenantConfig) -> Self {
        Tenant::of(config)
    }
}

impl std::fmt::Display for Tenant<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}
