//! Support's reset of a user's second factor (`idp users reset-second-factor`): for a user who
//! lost the phone with the authenticator app and the recovery codes, or whose account may be in
//! other hands.
//!
//! In one transaction: the one-time code, the recovery codes and the passkeys go; every session of
//! the user ends and every grant is revoked, with the back-channel logouts queued, as after a
//! password reset (`oidc::logout::end_everything`): whoever logged in with the old factor keeps
//! nothing. The user's pending logins that a first factor began (a half-done login waiting for
//! its second factor, or at the passkey offer or the consent) and the user's ceremonies go too:
//! a login begun before the reset cannot be finished after it, e.g. by enrolling a new factor. Audited as `second_factor.reset` (`"by": "cli"`). Where the tenant requires a second
//! factor, the user's next login enrols a new one.

use crate::flows::context::Minter;
use crate::flows::lookup::any_account;
use crate::flows::oidc::logout::end_everything;
use crate::store::users;
use crate::store::{
    DbConnection, StoreError, Tenant, passkeys, second_factors, sessions, write_transaction,
};

/// What a reset removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reset {
    /// The user's username (or address).
    pub who: String,
    /// Whether a one-time code was removed.
    pub totp: bool,
    /// Recovery codes removed (used or not).
    pub recovery_codes: usize,
    /// Passkeys removed.
    pub passkeys: usize,
    /// Sessions ended.
    pub sessions: usize,
}

/// Why a reset did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    /// No user by that name.
    #[error("no user \"{username}\" in tenant {tenant}")]
    Unknown {
        /// As given.
        username: String,
        /// The tenant.
        tenant: String,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Removes the second factors of the user `username` of `m`'s tenant and ends everything the user
/// holds (see the module's documentation).
pub fn reset(m: &Minter<'_>, conn: &mut DbConnection, username: &str) -> Result<Reset, ResetError> {
    let tenant = Tenant::of(m.tenant);
    write_transaction(conn, |conn| {
        // As a login reads an identifier: an address names its resident before any username
        // (an old username may look like an address, and be someone else's address).
        let user = any_account(conn, tenant, username)?.ok_or_else(|| ResetError::Unknown {
            username: username.trim().to_string(),
            tenant: m.tenant.id.clone(),
        })?;
        // Held before the factors go, as a login holds it before it uses one
        // (`oidc/standing.rs`): on PostgreSQL the two wait for each other instead of deadlocking.
        users::lock(conn, tenant, &user.id)?;
        let totp = second_factors::totp(conn, tenant, &user.id)?.is_some();
        let removed = second_factors::remove_all(conn, tenant, &user.id)?;
        let recovery_codes = removed - usize::from(totp);
        let passkeys = passkeys::remove_all(conn, tenant, &user.id)?;
        let sessions = sessions::live_for_user(conn, tenant, &user.id, m.now)?.len();
        end_everything(m, conn, &user)?;
        m.audit("second_factor.reset")
            .user(user.id.as_str())
            .detail(&serde_json::json!({
                "by": "cli",
                "totp": totp,
                "recovery_codes": recovery_codes,
                "passkeys": passkeys,
                "sessions": sessions,
            }))
            .record(conn)?;
        Ok(Reset {
            who: match (user.username, user.email) {
                (Some(username), Some(email)) => format!("{username} <{email}>"),
                (username, email) => username.or(email).unwrap_or_default(),
            },
            totp,
            recovery_codes,
            passkeys,
            sessions,
        })
    })
}
