//! `[deletion]` of a tenant: how long a deleted account can be brought back.

use serde::Deserialize;

/// `[deletion]` of a tenant.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeletionSettings {
    /// Days after a deletion request during which the mailed link undoes it (1 to 90); then the
    /// expiry clean-up erases the account.
    pub undo_days: u32,
}

impl Default for DeletionSettings {
    fn default() -> Self {
        Self { undo_days: 14 }
    }
}
