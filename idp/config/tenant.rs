//! A tenant file: one city, its migration policy, texts, support contact and e-service clients.

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use super::settings::{SigningAlg, TokenSettings};

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
    #[serde(default)]
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
    /// The e-services (relying parties) of this tenant.
    #[serde(default)]
    pub clients: Vec<ClientConfig>,
}

/// `[legacy]` of a tenant: how its old accounts are read and bound (`docs/migration.md`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegacySettings {
    /// Whether the address of an account bound by its old password counts as verified (the city
    /// vouched for it). An account bound through a mailed link always has a verified address.
    #[serde(default = "yes")]
    pub email_verified: bool,
    /// Whether the choice between several old accounts of one address shows their usernames
    /// masked (`m***a`) instead of whole.
    #[serde(default)]
    pub mask_usernames: bool,
    /// The layout of the old system's salted SHA-1/SHA-256 hashes, if it had them.
    #[serde(default)]
    pub salted_sha: Option<SaltedShaLayout>,
    /// A legacy export imported (idempotently) at every start: for demo configurations.
    #[serde(default)]
    pub import_at_start: Option<std::path::PathBuf>,
}

impl Default for LegacySettings {
    fn default() -> Self {
        Self {
            email_verified: true,
            mask_usernames: false,
            salted_sha: None,
            import_at_start: None,
        }
    }
}

fn yes() -> bool {
    true
}

/// The file formats of a legacy export (`legacy.import_at_start`, `idp import-legacy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportFormat {
    /// Comma-separated, a header row naming the columns.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

impl ImportFormat {
    /// The format a file name's extension says: `.csv`, `.jsonl` or `.ndjson`.
    pub fn from_path(path: &std::path::Path) -> Option<ImportFormat> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "csv" => Some(ImportFormat::Csv),
            "jsonl" | "ndjson" => Some(ImportFormat::Jsonl),
            _ => None,
        }
    }
}

/// `[legacy.salted_sha]`: how an old system stored `digest(salt + password)` (or the other
/// order): `<prefix><salt><separator><hash>` or `<prefix><hash><separator><salt>`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaltedShaLayout {
    /// `sha1` or `sha256`.
    pub digest: ShaDigest,
    /// What precedes the fields, e.g. `"{SSHA256}"`; empty by default.
    #[serde(default)]
    pub prefix: String,
    /// What separates salt and hash, e.g. `"$"` or `":"`.
    pub separator: String,
    /// Which field comes first.
    pub order: FieldOrder,
    /// How the digest is written.
    pub hash_encoding: Encoding,
    /// How the salt is written (`text`: its bytes are the salt).
    pub salt_encoding: SaltEncoding,
    /// What was hashed.
    pub input: HashInput,
}

/// The digest of a salted SHA hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShaDigest {
    /// SHA-1 (20 bytes).
    Sha1,
    /// SHA-256 (32 bytes).
    Sha256,
}

/// Which field of a salted SHA hash comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FieldOrder {
    /// `<salt><separator><hash>`.
    SaltHash,
    /// `<hash><separator><salt>`.
    HashSalt,
}

/// How a digest is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// Hexadecimal, either case.
    Hex,
    /// Standard base64, padding optional.
    Base64,
}

/// How a salt is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SaltEncoding {
    /// The salt is the text's UTF-8 bytes.
    Text,
    /// Hexadecimal.
    Hex,
    /// Standard base64.
    Base64,
}

/// What the old system fed the digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HashInput {
    /// The salt, then the password.
    SaltPassword,
    /// The password, then the salt.
    PasswordSalt,
}

fn default_languages() -> Vec<Language> {
    vec![Language::Fi, Language::Sv, Language::En]
}

/// `[sessions]` of a tenant.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSessions {
    /// A session without "remember me", seconds.
    #[serde(default)]
    pub session_seconds: Option<u64>,
    /// A "remember me" session and its cookie, seconds.
    #[serde(default)]
    pub remember_seconds: Option<u64>,
}

/// `[mail_limits]` of a tenant: at most `per_address` mails to one address in
/// `per_address_minutes`, and at most `per_client_address` mails caused from one client address in
/// `per_client_address_minutes`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailLimits {
    /// Mails to one recipient address in the window.
    #[serde(default = "default_per_address")]
    pub per_address: u32,
    /// The recipient's window, minutes (1 to 1440).
    #[serde(default = "default_per_address_minutes")]
    pub per_address_minutes: u32,
    /// Mails caused from one client address in the window.
    #[serde(default = "default_per_client_address")]
    pub per_client_address: u32,
    /// The client address's window, minutes (1 to 1440).
    #[serde(default = "default_per_client_address_minutes")]
    pub per_client_address_minutes: u32,
}

impl Default for MailLimits {
    fn default() -> Self {
        Self {
            per_address: default_per_address(),
            per_address_minutes: default_per_address_minutes(),
            per_client_address: default_per_client_address(),
            per_client_address_minutes: default_per_client_address_minutes(),
        }
    }
}

fn default_per_address() -> u32 {
    3
}

fn default_per_address_minutes() -> u32 {
    15
}

fn default_per_client_address() -> u32 {
    20
}

fn default_per_client_address_minutes() -> u32 {
    60
}

/// `[passwords]` of a tenant.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordRules {
    /// The fewest characters of a new password (never below 8).
    #[serde(default)]
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
#[serde(deny_unknown_fields)]
pub struct Support {
    /// Support mail address.
    #[serde(default)]
    pub email: Option<String>,
    /// Support phone number, as residents should dial it.
    #[serde(default)]
    pub phone: Option<String>,
}

/// `[branding]`: how the city's pages look.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Branding {
    /// A PNG or SVG file shown in the page header (served by idp, so the CSP stays `'self'`).
    #[serde(default)]
    pub logo_file: Option<std::path::PathBuf>,
    /// The colour of buttons and links, `#rrggbb`; must contrast 4.5:1 with white (WCAG AA).
    #[serde(default)]
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

/// `[notice]`: the banner on the identifier page, per language.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notice {
    /// Finnish text.
    #[serde(default)]
    pub fi: Option<String>,
    /// Swedish text.
    #[serde(default)]
    pub sv: Option<String>,
    /// English text.
    #[serde(default)]
    pub en: Option<String>,
}

/// `[[clients]]`: one e-service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// The OAuth `client_id`.
    pub client_id: String,
    /// The name residents see on a consent page; default: the client id.
    #[serde(default)]
    pub name: Option<String>,
    /// The client secret in plain text (prefer `client_secret_sha256`).
    #[serde(default)]
    pub client_secret: Option<SecretString>,
    /// SHA-256 of the client secret, 64 hex digits.
    #[serde(default)]
    pub client_secret_sha256: Option<String>,
    /// Redirect URIs, matched exactly.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may return to, matched exactly.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Back-channel logout endpoint of the client.
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
    /// Grants the client may use.
    #[serde(default = "default_grant_types")]
    pub grant_types: Vec<GrantType>,
    /// How the client authenticates at the token endpoint.
    #[serde(default)]
    pub token_endpoint_auth_method: AuthMethod,
    /// The city's own e-service: no consent page.
    #[serde(default)]
    pub first_party: bool,
    /// Algorithm of the client's ID tokens.
    #[serde(default)]
    pub id_token_signed_response_alg: SigningAlg,
    /// Where the client publishes its keys (for `private_key_jwt`).
    #[serde(default)]
    pub jwks_uri: Option<Url>,
}

fn default_grant_types() -> Vec<GrantType> {
    vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
}

/// An OAuth grant type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    /// `authorization_code`
    AuthorizationCode,
    /// `refresh_token`
    RefreshToken,
    /// `client_credentials`
    ClientCredentials,
}

/// Client authentication at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// HTTP Basic with the client secret.
    #[default]
    ClientSecretBasic,
    /// The client secret in the form body.
    ClientSecretPost,
    /// A JWT signed with the client's key (RFC 7523).
    PrivateKeyJwt,
    /// A public client: no secret, PKCE required.
    None,
}
