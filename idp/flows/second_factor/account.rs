//! The second factor on an authority user's account page: what the user has, and new recovery
//! codes (a one-time code is set up or replaced with `codes::start` and `codes::confirm`). The
//! page checks the current password before each change (`http/pages/account/current.rs`).

use serde::Serialize;

use super::codes;
use crate::crypto::kek::Kek;
use crate::flows::context::Minter;
use crate::flows::error::FlowError;
use crate::flows::notice::{self, Change, Tell};
use crate::flows::oidc::steps::Factors;
use crate::store::users::UserRow;
use crate::store::{DbConnection, Tenant, second_factors, write_transaction};

/// What the account page says of a user's second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AccountFactor {
    /// A one-time code is set up.
    pub totp: bool,
    /// Whether the user has any second factor (a one-time code or a passkey).
    pub any: bool,
    /// Unused recovery codes.
    pub unused_codes: i64,
}

/// What `user` of the tenant has, for the account page.
pub fn status(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user_id: &str,
) -> Result<AccountFactor, FlowError> {
    let tenant = Tenant::of(m.tenant);
    let factors = Factors::of(m, conn, user_id)?;
    Ok(AccountFactor {
        totp: factors.totp,
        any: factors.any(),
        unused_codes: second_factors::unused_recovery_codes(conn, tenant, user_id)?,
    })
}

/// Ten new recovery codes for `user`, voiding the old, audited as
/// `second_factor.recovery_codes_renewed`; `None` when the user has no second factor for them to
/// stand in for.
pub fn renew_recovery_codes(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    (kek, tell): (&Kek, &Tell),
    user: &UserRow,
) -> Result<Option<Vec<String>>, FlowError> {
    write_transaction(conn, |conn| {
        let factors = Factors::of(m, conn, &user.id)?;
        if !factors.any() {
            return Ok(None);
        }
        let codes = codes::issue_recovery_codes(m, conn, kek, user)?;
        m.audit("second_factor.recovery_codes_renewed")
            .user(user.id.as_str())
            .record(conn)?;
        let change = (user, Change::RecoveryCodes);
        notice::account_changed(m, conn, &tell.mails, change, tell.language)?;
        Ok(Some(codes))
    })
}
