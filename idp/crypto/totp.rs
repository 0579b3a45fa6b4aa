//! Time-based one-time codes (RFC 6238) and recovery codes.
//!
//! A one-time code's secret is 20 random bytes (RFC 4226 §4's recommended length), shown to the
//! resident as base32 text and as a QR code of its `otpauth://` URI drawn here as SVG (no outside
//! service sees it), and stored sealed with the key-encryption key, bound to its tenant and user.
//! A code is checked against the time the caller gives (the app's clock), within one 30-second
//! step either way; the matched step is returned so that the caller can refuse a code of a step
//! it accepted before (RFC 6238 §5.2: totp-rs does not).
//!
//! Recovery codes are ten random codes of 50 bits, 10 characters of Crockford's base32 shown as
//! `xxxxx-xxxxx`, stored only as an HMAC-SHA256 of their normalised form (lowercase, without
//! dashes or spaces, `o` read as `0` and `i`/`l` as `1`) with the user's id, under a key derived
//! from the key-encryption key for the tenant ([`recovery_code_mac`]). 50 bits is too few for a
//! plain hash: with the database alone (a backup), 2^50 SHA-256 guesses with the known user id
//! find a code in hours on one GPU; without the key-encryption key, the HMAC cannot be computed.
//! Codes stored before (a plain SHA-256, [`unkeyed_recovery_code_hash`]) are still looked up,
//! after the HMAC, until they are used or replaced.

use chrono::NaiveDateTime;
use qrcode::QrCode;
use qrcode::render::svg;
use totp_rs::{Builder, Secret, Totp};

use super::kek::{Kek, KekError};
use super::secret;

/// HKDF's label of the recovery codes' key (`info`, with the tenant: one key per tenant).
pub const RECOVERY_CODES_LABEL: &str = "idp recovery codes v1";

/// What every recovery code stored as [`recovery_code_mac`] starts with: a row without it holds
/// a code stored before, as [`unkeyed_recovery_code_hash`].
pub const RECOVERY_CODE_PREFIX: &str = "hmac1:";

/// Bytes of a one-time code's secret.
pub const SECRET_BYTES: usize = 20;

/// How many recovery codes a user gets at a time.
pub const RECOVERY_CODES: usize = 10;

/// The 32 characters of a recovery code: Crockford's base32, lowercase (no i, l, o, u).
const RECOVERY_ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// A one-time code's secret could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TotpError {
    /// The sealed secret does not open (another key, or an altered row).
    #[error(transparent)]
    Kek(#[from] KekError),
    /// totp-rs refused the parameters (never with the secrets made here).
    #[error("one-time code: {0}")]
    Totp(String),
    /// The URI does not fit a QR code.
    #[error("QR code: {0}")]
    Qr(String),
}

/// A one-time code's shared secret (in memory only; stored sealed).
#[derive(Clone)]
pub struct TotpSecret(Vec<u8>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(REDACTED)")
    }
}

/// What the key-encryption key binds a user's sealed secret to: its tenant and user.
fn context(tenant: &str, user_id: &str) -> String {
    format!("totp:{tenant}:{user_id}")
}

impl TotpSecret {
    /// A fresh random secret.
    pub fn generate() -> TotpSecret {
        let bytes: [u8; SECRET_BYTES] = rand::random();
        TotpSecret(bytes.to_vec())
    }

    /// The secret sealed with `kek` for the user `user_id` of `tenant`.
    pub fn seal(&self, kek: &Kek, tenant: &str, user_id: &str) -> Result<String, TotpError> {
        Ok(kek.seal(&context(tenant, user_id), &self.0)?)
    }

    /// Opens what [`TotpSecret::seal`] made for the same tenant and user.
    pub fn open(
        kek: &Kek,
        tenant: &str,
        user_id: &str,
        sealed: &str,
    ) -> Result<TotpSecret, TotpError> {
        Ok(TotpSecret(kek.open(&context(tenant, user_id), sealed)?))
    }

    /// A secret as an authenticator app is given it (base32, spaces and case ignored); `None` when
    /// it is not base32.
    pub fn from_base32(text: &str) -> Option<TotpSecret> {
        let text: String = text.split_whitespace().collect();
        let secret = Secret::try_from_base32(text.to_uppercase()).ok()?;
        Some(TotpSecret(secret.as_ref().to_vec()))
    }

    /// The secret as the authenticator apps take it typed: base32 without padding.
    pub fn base32(&self) -> String {
        Secret::from(self.0.clone()).to_base32()
    }

    /// [`TotpSecret::base32`] in groups of four, for reading and typing.
    pub fn grouped(&self) -> String {
        let text = self.base32();
        let groups: Vec<String> = text
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        groups.join(" ")
    }

    fn totp(&self, issuer: &str, account: &str) -> Result<Totp, TotpError> {
        Builder::new()
            .with_secret(self.0.clone())
            .with_issuer(Some(label(issuer)))
            .with_account_name(label(account))
            .build()
            .map_err(|e| TotpError::Totp(e.to_string()))
    }

    /// The `otpauth://totp/…` URI of the secret (SHA-1, 6 digits, 30 seconds: what every app
    /// takes), naming `issuer` (the tenant) and `account` (the username).
    pub fn uri(&self, issuer: &str, account: &str) -> Result<String, TotpError> {
        self.totp(issuer, account)?
            .to_url()
            .map_err(|e| TotpError::Totp(e.to_string()))
    }

    /// The step (30-second window since the epoch) whose code `code` is, among the step of `now`
    /// and the one before and after; `None` when it is none of them. Spaces in the code are
    /// ignored.
    pub fn check(&self, code: &str, now: NaiveDateTime) -> Option<i64> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        let totp = self.totp("idp", "user").ok()?;
        let step = totp.check(&code, unix(now))?;
        i64::try_from(step).ok()
    }

    /// The code of the step of `at` (what an authenticator app shows then).
    pub fn code_at(&self, at: NaiveDateTime) -> String {
        self.totp("idp", "user")
            .map(|totp| totp.generate(unix(at)).to_string())
            .unwrap_or_default()
    }
}

/// The seconds since the epoch of `at`, zero before it.
fn unix(at: NaiveDateTime) -> u64 {
    u64::try_from(at.and_utc().timestamp()).unwrap_or(0)
}

/// The 30-second step of `at`.
pub fn step_of(at: NaiveDateTime) -> i64 {
    at.and_utc().timestamp().div_euclid(30)
}

/// A name as the `otpauth` label may hold it: totp-rs refuses `:` (the label's separator), and an
/// empty one.
fn label(name: &str) -> String {
    let cleaned = name.trim().replace(':', "-");
    if cleaned.is_empty() {
        "-".to_string()
    } else {
        cleaned
    }
}

/// `text` (an `otpauth` URI) as a QR code in SVG, ready to inline in a page: without the XML
/// prologue, scaled by its `viewBox`.
pub fn qr_svg(text: &str) -> Result<String, TotpError> {
    let code = QrCode::new(text.as_bytes()).map_err(|e| TotpError::Qr(e.to_string()))?;
    let image = code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    let start = image.find("<svg").unwrap_or(0);
    Ok(image[start..].to_string())
}

/// Ten fresh recovery codes, as shown (`xxxxx-xxxxx`).
pub fn recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODES).map(|_| recovery_code()).collect()
}

fn recovery_code() -> String {
    let bits: u64 = rand::random();
    let chars: String = (0..10)
        .map(|i| {
            let index = usize::try_from((bits >> (5 * i)) & 31).unwrap_or(0);
            char::from(RECOVERY_ALPHABET[index])
        })
        .collect();
    format!("{}-{}", &chars[..5], &chars[5..])
}

/// A recovery code as typed, in the form that is hashed: lowercase, without dashes and spaces,
/// the letters read as digits that Crockford's base32 reads so.
pub fn normalise_recovery_code(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_lowercase() {
            'o' => '0',
            'i' | 'l' => '1',
            other => other,
        })
        .collect()
}

/// What is stored for the recovery code `typed` of the user `user_id` of `tenant`:
/// [`RECOVERY_CODE_PREFIX`] and the HMAC-SHA256, hex, of the user's id and the normalised code,
/// under the key HKDF derives from `kek` for [`RECOVERY_CODES_LABEL`] and the tenant. Without the
/// key-encryption key a stored value cannot be checked against a guess; the user's id keeps one
/// value from standing for two users' codes, the tenant's key for two tenants'.
pub fn recovery_code_mac(
    kek: &Kek,
    tenant: &str,
    user_id: &str,
    typed: &str,
) -> Result<String, TotpError> {
    let message = format!("{user_id}\n{}", normalise_recovery_code(typed));
    let mac = kek.mac(RECOVERY_CODES_LABEL, tenant, message.as_bytes())?;
    Ok(format!("{RECOVERY_CODE_PREFIX}{mac}"))
}

/// What was stored for a recovery code before [`recovery_code_mac`]: the plain SHA-256 of
/// `recovery`, the user's id and the normalised code. Never written any more; only looked up, so
/// that codes issued before still work until they are used or the user makes new ones.
pub fn unkeyed_recovery_code_hash(user_id: &str, typed: &str) -> String {
    secret::hash(&format!(
        "recovery\n{user_id}\n{}",
        normalise_recovery_code(typed)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use chrono::DateTime;

    fn at(seconds: i64) -> NaiveDateTime {
        DateTime::from_timestamp(seconds, 0).unwrap().naive_utc()
    }

    #[test]
    fn rfc_6238_vector_and_the_window() {
        // RFC 6238 appendix B, SHA-1, the last six digits of 94287082 at T = 59.
        let secret = TotpSecret(b"12345678901234567890".to_vec());
        assert_eq!(secret.code_at(at(59)), "287082");
        assert_eq!(secret.check("287082", at(59)), Some(1));
        assert_eq!(secret.check("287 082", at(59)), Some(1));
        // One step before and after still match, as their own step; two steps away does not.
        assert_eq!(secret.check("287082", at(89)), Some(1));
        assert_eq!(secret.check("287082", at(0)), Some(1));
        assert_eq!(secret.check("287082", at(119)), None);
        assert_eq!(secret.check("28708", at(59)), None);
        assert_eq!(secret.check("+87082", at(59)), None);
        assert_eq!(step_of(at(59)), 1);
    }

    #[test]
    fn the_secret_is_sealed_for_its_user() {
        let kek =
            Kek::from_base64(&base64::engine::general_purpose::STANDARD.encode([3u8; 32])).unwrap();
        let secret = TotpSecret::generate();
        assert_eq!(secret.base32().len(), 32);
        assert_eq!(secret.grouped().len(), 32 + 7);
        let sealed = secret.seal(&kek, "seinajoki", "u1").unwrap();
        let opened = TotpSecret::open(&kek, "seinajoki", "u1", &sealed).unwrap();
        assert_eq!(opened.base32(), secret.base32());
        let typed = TotpSecret::from_base32(&secret.grouped().to_lowercase()).unwrap();
        assert_eq!(typed.base32(), secret.base32());
        assert!(TotpSecret::from_base32("not base32!").is_none());
        assert!(TotpSecret::open(&kek, "seinajoki", "u2", &sealed).is_err());
        assert!(TotpSecret::open(&kek, "kouvola", "u1", &sealed).is_err());
    }

    #[test]
    fn the_uri_names_tenant_and_user_without_colons() {
        let secret = TotpSecret(b"12345678901234567890".to_vec());
        let uri = secret.uri("Seinäjoen kaupunki", "viran:omainen").unwrap();
        assert_eq!(
            uri,
            "otpauth://totp/Sein%C3%A4joen%20kaupunki:viran-omainen?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Sein%C3%A4joen%20kaupunki"
        );
        let svg = qr_svg(&uri).unwrap();
        assert!(
            svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
            "{svg}"
        );
        assert!(svg.ends_with("</svg>"));
    }

    #[test]
    fn recovery_codes_are_random_grouped_and_forgiving() {
        let codes = recovery_codes();
        assert_eq!(codes.len(), 10);
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 10);
        for code in &codes {
            assert_eq!(code.len(), 11);
            assert_eq!(&code[5..6], "-");
            assert!(
                code.chars()
                    .all(|c| c == '-' || RECOVERY_ALPHABET.contains(&(c as u8)))
            );
        }
        assert_eq!(normalise_recovery_code(" AB0CD-1EFGH "), "ab0cd1efgh");
        let kek = kek(3);
        let mac = |tenant: &str, user: &str, typed: &str| {
            recovery_code_mac(&kek, tenant, user, typed).unwrap()
        };
        assert_eq!(
            mac("seinajoki", "u1", "abOcd eFGHl"),
            mac("seinajoki", "u1", "ab0cd-efgh1")
        );
        assert_eq!(
            unkeyed_recovery_code_hash("u1", "abOcd eFGHl"),
            unkeyed_recovery_code_hash("u1", "ab0cd-efgh1")
        );
    }

    fn kek(byte: u8) -> Kek {
        Kek::from_base64(&base64::engine::general_purpose::STANDARD.encode([byte; 32])).unwrap()
    }

    #[test]
    fn a_stored_recovery_code_cannot_be_guessed_without_the_key_encryption_key() {
        let code = "ab0cd-efgh1";
        let stored = recovery_code_mac(&kek(3), "seinajoki", "u1", code).unwrap();
        assert!(stored.starts_with(RECOVERY_CODE_PREFIX), "{stored}");
        assert_eq!(stored.len(), RECOVERY_CODE_PREFIX.len() + 64);
        // The attack: the salt is known (the user's id), so SHA-256 of salt and code, guessed
        // over the 2^50 codes, is what a plain hash gives away. The stored value is none of them.
        let known_salt = [
            "recovery\nu1\nab0cdefgh1".to_string(),
            "u1\nab0cdefgh1".to_string(),
            "ab0cdefgh1".to_string(),
        ];
        for guessed in &known_salt {
            let hash = secret::hash(guessed);
            assert!(!stored.contains(&hash), "{guessed}");
        }
        assert_eq!(
            unkeyed_recovery_code_hash("u1", code),
            secret::hash(&known_salt[0])
        );
        // The same code of another user, of another tenant, or under another key: another value.
        assert_ne!(
            stored,
            recovery_code_mac(&kek(3), "seinajoki", "u2", code).unwrap()
        );
        assert_ne!(
            stored,
            recovery_code_mac(&kek(3), "kouvola", "u1", code).unwrap()
        );
        assert_ne!(
            stored,
            recovery_code_mac(&kek(4), "seinajoki", "u1", code).unwrap()
        );
        // It is the HMAC of the tenant's key (the key-encryption key's, per tenant).
        let mac = kek(3)
            .mac(RECOVERY_CODES_LABEL, "seinajoki", b"u1\nab0cdefgh1")
            .unwrap();
        assert_eq!(stored, format!("{RECOVERY_CODE_PREFIX}{mac}"));
    }
}
