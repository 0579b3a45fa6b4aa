//! The export's format, `idp-export/1`: what [`Export`] serialises to, field by field
//! (`docs/privacy.md` describes it for a city's data protection officer). Times are UTC, RFC 3339
//! to the second (`2026-11-23T18:16:09Z`); a missing value is `null`, an empty list `[]`. A new
//! field may be added within version 1; a field renamed, removed or changed in meaning makes it
//! `idp-export/2`.

use chrono::{NaiveDateTime, SecondsFormat};
use serde::Serialize;

/// The format's name and version, the document's first field.
pub const FORMAT: &str = "idp-export/1";

/// A time as the export writes it: UTC, RFC 3339, to the second.
pub fn utc(time: NaiveDateTime) -> String {
    time.and_utc().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// [`utc`] of a time that may be missing.
pub fn utc_opt(time: Option<NaiveDateTime>) -> Option<String> {
    time.map(utc)
}

/// Everything idp holds about one account.
#[derive(Debug, Clone, Serialize)]
pub struct Export {
    /// [`FORMAT`].
    pub format: &'static str,
    /// When the export was made.
    pub exported_at: String,
    /// The city whose service holds the data.
    pub tenant: TenantSeen,
    /// The account itself.
    pub account: Account,
    /// When the address was changed, or a change undone.
    pub address_history: Vec<AddressChange>,
    /// The old login system's accounts bound to this one.
    pub legacy_accounts: Vec<LegacyAccount>,
    /// Logins (browser sessions), live or ended.
    pub sessions: Vec<Session>,
    /// The e-services that hold a consent or a grant.
    pub e_services: Vec<EService>,
    /// Passkeys, by name.
    pub passkeys: Vec<Passkey>,
    /// When idp last offered to add a passkey after a login.
    pub passkey_last_offered_at: Option<String>,
    /// The second factor of the login.
    pub second_factors: SecondFactors,
    /// Links mailed for the account.
    pub links: Vec<Link>,
    /// Mails to the account's address still in the outbox.
    pub mails: Vec<Mail>,
    /// The audit events about the account.
    pub audit_events: Vec<AuditEvent>,
    /// The deletion of the account under way (its grace period), if one is.
    pub deletion: Option<Deletion>,
}

impl Export {
    /// The document as the download and `idp users export` give it: JSON, indented.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self)
    }
}

/// The tenant: its id and name.
#[derive(Debug, Clone, Serialize)]
pub struct TenantSeen {
    /// The tenant's id (`seinajoki`).
    pub id: String,
    /// Its name (`Seinäjoen kaupunki`).
    pub name: String,
}

/// The account, without its password hash.
#[derive(Debug, Clone, Serialize)]
pub struct Account {
    /// The identifier the e-services know the account by (`sub`).
    pub subject: String,
    /// The mail address.
    pub email: Option<String>,
    /// Whether the address was proven.
    pub email_verified: bool,
    /// An authority user's username.
    pub username: Option<String>,
    /// The name.
    pub name: Option<String>,
    /// Whether the account is an authority user's.
    pub authority_user: bool,
    /// The preferred language, when one is stored.
    pub language: Option<String>,
    /// Whether logins are blocked.
    pub disabled: bool,
    /// Whether a password is set.
    pub password_set: bool,
    /// When the password was last set.
    pub password_changed_at: Option<String>,
    /// Created.
    pub created_at: String,
    /// Last changed.
    pub updated_at: String,
}

/// A change of address, from the audit trail.
#[derive(Debug, Clone, Serialize)]
pub struct AddressChange {
    /// When.
    pub at: String,
    /// `changed` (a new address confirmed) or `undone` (the old one restored).
    pub change: &'static str,
}

/// An old account bound to this one, without its old password hash.
#[derive(Debug, Clone, Serialize)]
pub struct LegacyAccount {
    /// The old username.
    pub username: String,
    /// The old subject, which the e-services keep knowing the resident by.
    pub subject: String,
    /// The address the old system had.
    pub email: Option<String>,
    /// The name the old system had.
    pub name: Option<String>,
    /// Whether it was an authority user's.
    pub authority_user: bool,
    /// When the city's export of it was imported.
    pub imported_at: String,
    /// When it was bound to this account.
    pub bound_at: Option<String>,
}

/// A login, without its cookie or the cookie's hash.
#[derive(Debug, Clone, Serialize)]
pub struct Session {
    /// Started.
    pub started_at: String,
    /// Last used.
    pub last_used_at: String,
    /// Ends then at the latest.
    pub expires_at: String,
    /// Ended (logout), or `null` while live or expired.
    pub ended_at: Option<String>,
    /// "Remember me": a cookie that outlives the browser.
    pub remember_me: bool,
    /// How the login was proven (`pwd`, `otp`, `hwk`, `swk`, `mfa`).
    pub methods: Vec<String>,
    /// The assurance class (`acr`).
    pub assurance: Option<String>,
    /// The browser's `User-Agent` header at the login, as kept.
    pub user_agent: Option<String>,
    /// The coarse location of the login ("Tampere, Finland"), when the city shows locations.
    pub location: Option<String>,
}

/// An e-service that holds a consent or a grant.
#[derive(Debug, Clone, Serialize)]
pub struct EService {
    /// Its client id.
    pub client_id: String,
    /// Its name, as configured (the client id when it has none; `null` when it is no longer
    /// configured).
    pub name: Option<String>,
    /// The consent given to it, if any (e-services of the city itself ask none).
    pub consent: Option<Consent>,
    /// Its grants, the oldest first.
    pub grants: Vec<Grant>,
}

/// A consent.
#[derive(Debug, Clone, Serialize)]
pub struct Consent {
    /// What it covers.
    pub scope: String,
    /// Given.
    pub given_at: String,
}

/// A grant: what a login gave the e-service, without its codes or tokens.
#[derive(Debug, Clone, Serialize)]
pub struct Grant {
    /// What it covers.
    pub scope: String,
    /// Offline access: refresh tokens that outlive the login.
    pub offline: bool,
    /// Given.
    pub given_at: String,
    /// Void after.
    pub expires_at: String,
    /// Revoked.
    pub revoked_at: Option<String>,
}

/// A passkey, without its key.
#[derive(Debug, Clone, Serialize)]
pub struct Passkey {
    /// The name the resident gave it.
    pub name: String,
    /// Whether the authenticator may copy it to other devices.
    pub synced: bool,
    /// Added.
    pub created_at: String,
    /// Last used.
    pub last_used_at: Option<String>,
}

/// The second factor, without its secret or codes.
#[derive(Debug, Clone, Serialize)]
pub struct SecondFactors {
    /// The one-time code (an authenticator app), if one is set up.
    pub one_time_code: Option<OneTimeCode>,
    /// How many recovery codes are left unused.
    pub unused_recovery_codes: i64,
}

/// A one-time code set up.
#[derive(Debug, Clone, Serialize)]
pub struct OneTimeCode {
    /// When.
    pub set_up_at: String,
}

/// A mailed link, without its secret.
#[derive(Debug, Clone, Serialize)]
pub struct Link {
    /// What it does (`reset_password`, `change_email`, `undo_email_change`…).
    pub purpose: String,
    /// The address it was sent to.
    pub sent_to: Option<String>,
    /// Sent.
    pub sent_at: String,
    /// Void after.
    pub expires_at: String,
    /// Used or voided.
    pub used_at: Option<String>,
}

/// A mail to the account's address, without its text.
#[derive(Debug, Clone, Serialize)]
pub struct Mail {
    /// What mail (`reset_password`…).
    pub kind: String,
    /// Written.
    pub written_at: String,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    /// Handed to the mail server.
    pub sent_at: Option<String>,
}

/// A deletion of the account asked for and not yet done or undone.
#[derive(Debug, Clone, Serialize)]
pub struct Deletion {
    /// Asked for.
    pub requested_at: String,
    /// When the account will be erased (the undo link works until then).
    pub erase_at: String,
    /// Who asked: `resident` (the account page) or `cli` (support).
    pub requested_by: String,
}

/// An audit event about the account.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEvent {
    /// What (`login.succeeded`…, docs/security.md lists them).
    pub kind: String,
    /// When.
    pub at: String,
    /// Which e-service.
    pub client_id: Option<String>,
    /// The client address of the request.
    pub address: Option<String>,
    /// More, as the event recorded it.
    pub detail: Option<serde_json::Value>,
}
