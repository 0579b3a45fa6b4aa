//! A password a user chooses: long enough, not absurdly long, not one of the most common; and
//! the one form every password is hashed and checked in.
//!
//! A password is kept in Unicode's compatibility composition (NFKC, as NIST SP 800-63B §5.1.1.2
//! advises): "ä" typed as one character on one device and as "a" with a combining diaeresis on
//! another (pasted from a document or a file name, some input methods) is one password. New
//! passwords are hashed in that form; a check tries it, and the text as typed where it differs
//! (hashes set before, and old systems' hashes, were made from what was typed then:
//! `flows::password_check`).

use std::borrow::Cow;

use secrecy::{ExposeSecret, SecretString};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::{IsNormalized, is_nfkc_quick};

/// The fewest characters a new password may have.
pub const MIN_CHARS: usize = 8;
/// The most bytes a password may have (hashing cost grows with it).
pub const MAX_BYTES: usize = 1024;

/// Passwords too common to allow (a short list in English, Finnish and Swedish; compared
/// case-insensitively).
const COMMON: &str = include_str!("common_passwords.txt");

/// A new password that meets the rules; the text stays secret (no Debug, no Display).
pub struct NewPassword(SecretString);

/// `text` in the form passwords are hashed in (NFKC); borrowed when it is in that form already.
pub fn normalised(text: &str) -> Cow<'_, str> {
    match is_nfkc_quick(text.chars()) {
        IsNormalized::Yes => Cow::Borrowed(text),
        _ => {
            let normal: String = text.nfkc().collect();
            if normal == text {
                Cow::Borrowed(text)
            } else {
                Cow::Owned(normal)
            }
        }
    }
}

/// A letter of Finnish and Swedish as the common passwords are listed, without its dots and ring.
fn plain(c: char) -> char {
    match c {
        'ä' | 'å' => 'a',
        'ö' => 'o',
        other => other,
    }
}

/// Why a new password is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Fewer characters than the rules ask.
    #[error("the password must have at least {0} characters")]
    TooShort(usize),
    /// More than [`MAX_BYTES`] bytes.
    #[error("the password must have at most {MAX_BYTES} bytes")]
    TooLong,
    /// On the list of common passwords.
    #[error("the password is too common")]
    Common,
    /// A control character (a NUL, a line break, a tab): no password field sends one, so a
    /// password with one (given on the command line's standard input) could never be typed.
    #[error("the password has a control character (a line break, a tab, a NUL)")]
    Control,
}

impl PasswordError {
    /// The translation key of the error.
    pub fn message_key(&self) -> &'static str {
        match self {
            PasswordError::TooShort(_) => "password-too-short",
            PasswordError::TooLong => "password-too-long",
            PasswordError::Common => "password-common",
            PasswordError::Control => "password-control",
        }
    }
}

impl NewPassword {
    /// Checks `password` against the default rules.
    pub fn parse(password: SecretString) -> Result<NewPassword, PasswordError> {
        NewPassword::parse_with(password, MIN_CHARS)
    }

    /// Checks `password`, in its [`normalised`] form, against rules asking for at least
    /// `min_chars` characters (never fewer than [`MIN_CHARS`]); keeps that form.
    pub fn parse_with(
        password: SecretString,
        min_chars: usize,
    ) -> Result<NewPassword, PasswordError> {
        let min_chars = min_chars.max(MIN_CHARS);
        let typed = password.expose_secret();
        if typed.len() > MAX_BYTES {
            return Err(PasswordError::TooLong);
        }
        let text = normalised(typed);
        if text.chars().any(char::is_control) {
            return Err(PasswordError::Control);
        }
        if text.chars().count() < min_chars {
            return Err(PasswordError::TooShort(min_chars));
        }
        if text.len() > MAX_BYTES {
            return Err(PasswordError::TooLong);
        }
        // "Lösenord123" and "Seinäjoki1" as the list has them, "losenord123" and "seinajoki1".
        let lowered: String = text.to_lowercase().chars().map(plain).collect();
        if COMMON.lines().any(|common| common == lowered) {
            return Err(PasswordError::Common);
        }
        let text = text.into_owned();
        Ok(NewPassword(SecretString::from(text)))
    }

    /// The password, for hashing.
    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<(), PasswordError> {
        NewPassword::parse(SecretString::from(text)).map(|_| ())
    }

    #[test]
    fn enforces_the_rules() {
        assert_eq!(parse("short"), Err(PasswordError::TooShort(8)));
        assert_eq!(
            NewPassword::parse_with(SecretString::from("kymmenen?"), 10).map(|_| ()),
            Err(PasswordError::TooShort(10))
        );
        assert_eq!(parse("pitkä salasana"), Ok(()));
        assert_eq!(parse("ääääääää"), Ok(()), "characters, not bytes");
        assert_eq!(parse(&"x".repeat(1025)), Err(PasswordError::TooLong));
        assert_eq!(parse("Salasana123"), Err(PasswordError::Common));
        assert_eq!(parse("password"), Err(PasswordError::Common));
        // Listed without their dots and rings, typed with them.
        assert_eq!(parse("Lösenord123"), Err(PasswordError::Common));
        assert_eq!(parse("Seinäjoki1"), Err(PasswordError::Common));
        for control in ["pitkä\0salasana", "pitkä\rsalasana", "pitkä\tsalasana"] {
            assert_eq!(parse(control), Err(PasswordError::Control), "{control:?}");
        }
    }

    /// "ä" as one character and as "a" with a combining diaeresis is one password: kept in NFKC,
    /// and counted in its characters so.
    #[test]
    fn a_new_password_is_kept_in_one_form() {
        let composed = "Kes\u{e4}p\u{e4}iv\u{e4}-2026";
        let decomposed = "Kesa\u{308}pa\u{308}iva\u{308}-2026";
        let kept = |text: &str| {
            NewPassword::parse(SecretString::from(text))
                .map(|p| p.secret().expose_secret().to_string())
        };
        assert_eq!(kept(decomposed), Ok(composed.to_string()));
        assert_eq!(kept(composed), Ok(composed.to_string()));
        assert_eq!(normalised(composed), std::borrow::Cow::Borrowed(composed));
        // Eight characters composed, eleven as typed: long enough either way, by the first.
        assert_eq!(
            NewPassword::parse_with(SecretString::from("a\u{308}".repeat(8)), 9).map(|_| ()),
            Err(PasswordError::TooShort(9))
        );
    }
}
