//! A tenant file: one city, its migration policy, languages, texts, look, support contact, session
//! and password rules, and mail limits. Its clients are in `client.rs`, its `[legacy]` section in
//! `legacy.rs`.

use serde::Deserialize;
use url::Url;

use super::audit::AuditSettings;
use super::client::ClientConfig;
use super::deletion::DeletionSettings;
use super::factors::{AcrValues, PasskeySettings, SecondFactorPolicy};
use super::legacy::LegacySettings;
use super::settings::TokenSettings;
use super::statement::{AccessibilityStatement, Notice};

/// One tenant (a city), as read from `<tenants.dir>/<id>.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// The tenant's id, the last path segment of its issuer: lowercase letters, digits, `-`.
    pub id: String,
    /// The name residents see, "Seinäjoen kaupunki".
    pub name: String,
    /// How legacy accounts are bound on first login.
    pub policy: Policy,
    /// The languages offered, the first being the default.
    #[serde(default = "default_languages")]
    pub languages: Vec<Language>,
    /// Link to the login instructions ("ohje sisäänkirjautumiseen (pdf)").
    pub help_url: Option<Url>,
    /// Whether the identifier page may reveal that an address is unknown (default: conceal).
    #[serde(default)]
    pub reveal_unknown_identifier: bool,
    /// The support contact shown when something cannot be done online.
    #[serde(default)]
    pub support: Support,
    /// The notice banner on the identifier page, per language.
    #[serde(default)]
    pub notice: Notice,
    /// The city's logo and colour on its pages.
    #[serde(default)]
    pub branding: Branding,
    /// Session lifetimes of this tenant (default: `[tokens]` of the main file).
    #[serde(default)]
    pub sessions: TenantSessions,
    /// Password rules of this tenant.
    #[serde(default)]
    pub passwords: PasswordRules,
    /// How the city's old accounts are read and bound (the linker).
    #[serde(default)]
    pub legacy: LegacySettings,
    /// Limits on the mail that anyone can cause (forgot password, registration, the linker's
    /// links, a change of address).
    #[serde(default)]
    pub mail_limits: MailLimits,
    /// The tenant's privacy notice (tietosuojaseloste), linked from every page and mail.
    #[serde(default)]
    pub privacy_url: Option<Url>,
    /// The time zone the pages write times in (an IANA name; default `Europe/Helsinki`). idp
    /// keeps every time in UTC.
    #[serde(default = "default_time_zone")]
    pub time_zone: chrono_tz::Tz,
    /// The accessibility statement of the login pages.
    #[serde(default)]
    pub accessibility: AccessibilityStatement,
    /// How long the audit trail is kept.
    #[serde(default)]
    pub audit: AuditSettings,
    /// How long a deleted account can be brought back before it is erased.
    #[serde(default)]
    pub deletion: DeletionSettings,
    /// Whether authority users need a second factor.
    #[serde(default)]
    pub authority_second_factor: SecondFactorPolicy,
    /// Passkeys: on or off, and how often idp offers one.
    #[serde(default)]
    pub passkeys: PasskeySettings,
    /// The `acr` value of each level of login.
    #[serde(default)]
    pub acr: AcrValues,
    /// The e-services (relying parties) of this tenant.
    #[serde(default)]
    pub clients: Vec<ClientConfig>,
}

fn default_time_zone() -> chrono_tz::Tz {
    chrono_tz::Europe::Helsinki
}

fn default_languages() -> Vec<Language> {
    vec![Language::Fi, Language::Sv, Language::En]
}

/// `[sessions]` of a tenant.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenantSessions {
    /// A session without "remember me", seconds.
    pub session_seconds: Option<u64>,
    /// A "remember me" session and its cookie, seconds.
    pub remember_seconds: Option<u64>,
    /// Whether the account page names each session's coarse location (city and country), looked
    /// up in `server.geoip_database` from the client address when the session starts; only the
    /// location is kept, never the address. Off by default.
    pub location: bool,
}

/// `[mail_limits]` of a tenant: at most `per_address` mails to one address in
/// `per_address_minutes`, and at most `per_client_address` mails caused from one client address in
/// `per_client_address_minutes`. A key left out keeps its default (3 in 15 minutes, 20 in 60).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailLimits {
    /// Mails to one recipient address in the window.
    pub per_address: u32,
    /// The recipient's window, minutes (1 to 1440).
    pub per_address_minutes: u32,
    /// Mails caused from one client address in the window.
    pub per_client_address: u32,
    /// The client address's window, minutes (1 to 1440).
    pub per_client_address_minutes: u32,
}

impl Default for MailLimits {
    fn default() -> Self {
        Self {
            per_address: 3,
            per_address_minutes: 15,
            per_client_address: 20,
            per_client_address_minutes: 60,
        }
    }
}

/// `[passwords]` of a tenant.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordRules {
    /// The fewest characters of a new password (never below 8).
    pub min_length: Option<usize>,
}

impl TenantConfig {
    /// The lifetime of a session without "remember me".
    pub fn session_seconds(&self, defaults: &TokenSettings) -> u64 {
        self.sessions
            .session_seconds
            .unwrap_or(defaults.session_seconds)
    }

    /// The lifetime of a "remember me" session.
    pub fn remember_seconds(&self, defaults: &TokenSettings) -> u64 {
        self.sessions
            .remember_seconds
            .unwrap_or(defaults.remember_seconds)
    }

    /// The longest a session here can live ("remember me" or not): how long an ID token of one
    /// stays usable as an `id_token_hint`.
    pub fn longest_session_seconds(&self, defaults: &TokenSettings) -> u64 {
        self.session_seconds(defaults)
            .max(self.remember_seconds(defaults))
    }

    /// The fewest characters of a new password here.
    pub fn min_password_chars(&self) -> usize {
        self.passwords
            .min_length
            .unwrap_or(crate::domain::password::MIN_CHARS)
            .max(crate::domain::password::MIN_CHARS)
    }

    /// A client of this tenant by id.
    pub fn client(&self, client_id: &str) -> Option<&ClientConfig> {
        self.clients.iter().find(|c| c.client_id == client_id)
    }
}

/// The legacy-account migration policy: whether an old password is kept and checked, or every
/// old account is bound through a mailed link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// The old password keeps working on first login (Seinäjoki).
    KeepPassword,
    /// First login mails a set-password link (Kouvola).
    EmailLink,
}

/// A language of the pages and mails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// Finnish.
    Fi,
    /// Swedish.
    Sv,
    /// English.
    En,
}

impl Language {
    /// The BCP 47 tag.
    pub fn tag(self) -> &'static str {
        match self {
            Language::Fi => "fi",
            Language::Sv => "sv",
            Language::En => "en",
        }
    }
}

/// `[support]`: how residents reach the city's customer service.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Support {
    /// Support mail address.
    pub email: Option<String>,
    /// Support phone number, as residents should dial it.
    pub phone: Option<String>,
}

/// `[branding]`: how the city's pages look.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Branding {
    /// A PNG or SVG file shown in the page header (served by idp, so the CSP stays `'self'`).
    pub logo_file: Option<std::path::PathBuf>,
    /// The colour of buttons and links, `#rrggbb`; must contrast 4.5:1 with white (WCAG AA).
    pub color: Option<String>,
}

/// The contrast ratio (WCAG 2.1) of `#rrggbb` against white, if it is a colour.
pub fn contrast_with_white(color: &str) -> Option<f64> {
    let hex = color.strip_prefix('#')?;
    if hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let channel = |i: usize| {
        let value = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).ok()?) / 255.0;
        Some(if value <= 0.039_28 {
            value / 12.92
        } else {
            ((value + 0.055) / 1.055).powf(2.4)
        })
    };
    let luminance = 0.2126 * channel(0)? + 0.7152 * channel(2)? + 0.0722 * channel(4)?;
    Some(1.05 / (luminance + 0.05))
}
