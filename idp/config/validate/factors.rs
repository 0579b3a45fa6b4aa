//! Checks of a tenant's second factors and passkeys: its `acr` values, and how often a passkey
//! is offered.

use super::rules::DAYS;
use crate::config::factors::AcrValues;
use crate::config::tenant::TenantConfig;

/// Each problem of the tenant's `[acr]` and `[passkeys]`, as (key, message).
pub(super) fn factors(tenant: &TenantConfig) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let AcrValues { password, mfa } = &tenant.acr;
    for (key, value) in [("acr.password", password), ("acr.mfa", mfa)] {
        if let Err(message) = acr_value(value) {
            problems.push((key.to_string(), message));
        }
    }
    if password == mfa {
        problems.push((
            "acr.mfa".into(),
            "must differ from acr.password: an e-service asks for a level by its value".into(),
        ));
    }
    let offer = [(
        "passkeys.offer_again_days",
        u64::from(tenant.passkeys.offer_again_days),
    )];
    for (key, message) in DAYS.outside(offer) {
        problems.push((key.into(), message.into()));
    }
    problems
}

/// An `acr` value: printable ASCII without spaces (`acr_values` separates values by spaces).
fn acr_value(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("must not be empty".into());
    }
    if !value.chars().all(|c| c.is_ascii_graphic()) {
        return Err(format!(
            "\"{value}\" must be printable ASCII without spaces (acr_values separates by spaces)"
        ));
    }
    Ok(())
}
