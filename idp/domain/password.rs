//! A password a user chooses: long enough, not absurdly long, not one of the most common.

use secrecy::{ExposeSecret, SecretString};

/// The fewest characters a new password may have.
pub const MIN_CHARS: usize = 8;
/// The most bytes a password may have (hashing cost grows with it).
pub const MAX_BYTES: usize = 1024;

/// Passwords too common to allow (a short list in English, Finnish and Swedish; compared
/// case-insensitively).
const COMMON: &str = include_str!("common_passwords.txt");

/// A new password that meets the rules; the text stays secret (no Debug, no Display).
pub struct NewPassword(SecretString);

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
}

impl PasswordError {
    /// The translation key of the error.
    pub fn message_key(&self) -> &'static str {
        match self {
            PasswordError::TooShort(_) => "password-too-short",
            PasswordError::TooLong => "password-too-long",
            PasswordError::Common => "password-common",
        }
    }
}

impl NewPassword {
    /// Checks `password` against the default rules.
    pub fn parse(password: SecretString) -> Result<NewPassword, PasswordError> {
        NewPassword::parse_with(password, MIN_CHARS)
    }

    /// Checks `password` against rules asking for at least `min_chars` characters (never
    /// fewer than [`MIN_CHARS`]).
    pub fn parse_with(
        password: SecretString,
        min_chars: usize,
    ) -> Result<NewPassword, PasswordError> {
        let min_chars = min_chars.max(MIN_CHARS);
        let text = password.expose_secret();
        if text.chars().count() < min_chars {
            return Err(PasswordError::TooShort(min_chars));
        }
        if text.len() > MAX_BYTES {
            return Err(PasswordError::TooLong);
        }
        let lowered = text.to_lowercase();
        if COMMON.lines().any(|common| common == lowered) {
            return Err(PasswordError::Common);
        }
        Ok(NewPassword(password))
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
    }
}
