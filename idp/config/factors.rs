//! A tenant's second factors and passkeys: whether its authority users need a second factor, when
//! idp offers residents a passkey, and the `acr` values its logins are described by.

use serde::Deserialize;

/// `authority_second_factor` of a tenant: whether its authority users (the city's staff) need a
/// second factor — a passkey or a one-time code — on top of the password.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecondFactorPolicy {
    /// Every authority user has one: a login without one enrols it before it finishes.
    #[default]
    Required,
    /// An authority user may enrol one (on the account page); once enrolled it is asked.
    Optional,
    /// Never asked of authority users (an e-service may still ask for it with `acr_values`).
    Off,
}

/// `[passkeys]` of a tenant.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasskeySettings {
    /// Whether residents may add passkeys and log in with them (off also when the public URL's
    /// host is an IP address: browsers refuse WebAuthn there).
    pub enabled: bool,
    /// After a password login without a passkey, idp offers one; "not now" waits this many days.
    pub offer_again_days: u32,
}

impl Default for PasskeySettings {
    fn default() -> Self {
        PasskeySettings {
            enabled: true,
            offer_again_days: 30,
        }
    }
}

/// `[acr]` of a tenant: the `acr` value of each level of login, which discovery announces and
/// e-services ask for with `acr_values`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AcrValues {
    /// One factor: a password (or a mailed link).
    pub password: String,
    /// Two factors: a password and a one-time code, or a passkey (possession with user
    /// verification).
    pub mfa: String,
}

/// The `acr` of a password login, unless the tenant names its own.
pub const ACR_PASSWORD: &str = "urn:idp:acr:password";
/// The `acr` of a two-factor login, unless the tenant names its own.
pub const ACR_MFA: &str = "urn:idp:acr:mfa";

impl Default for AcrValues {
    fn default() -> Self {
        AcrValues {
            password: ACR_PASSWORD.into(),
            mfa: ACR_MFA.into(),
        }
    }
}
