//! `[audit]` of a tenant: how long its audit trail is kept.

use serde::Deserialize;

/// `[audit]` of a tenant.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// Days an audit event is kept; the expiry clean-up deletes older ones. None: kept for ever.
    pub retention_days: Option<u32>,
}
