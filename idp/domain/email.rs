//! A mail address as residents type it, and its normalised form used for lookups.

use std::fmt;

/// A syntactically valid mail address.
///
/// `as_entered` keeps what the resident typed (trimmed); `normalized` (lowercased) is what is unique
/// per tenant and what every lookup compares, at login, registration and import alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    as_entered: String,
    normalized: String,
}

/// Why a string is not an [`Email`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Nothing was given.
    #[error("the mail address is empty")]
    Empty,
    /// Longer than RFC 5321 allows.
    #[error("the mail address is longer than 254 characters")]
    TooLong,
    /// Not of the form local@domain.
    #[error("\"{0}\" is not a mail address")]
    Invalid(String),
}

impl Email {
    /// Trims, checks and normalises `input`.
    pub fn parse(input: &str) -> Result<Email, EmailError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        if trimmed.chars().count() > 254 {
            return Err(EmailError::TooLong);
        }
        // Display names and comments are valid in RFC 5322 but not as a username.
        let plain = !trimmed.contains(['<', '>', '(', ')', ' ', ',', ';']);
        if !plain || !email_address::EmailAddress::is_valid(trimmed) {
            return Err(EmailError::Invalid(trimmed.to_string()));
        }
        Ok(Email {
            as_entered: trimmed.to_string(),
            normalized: normalize(trimmed),
        })
    }

    /// The address as typed, trimmed.
    pub fn as_entered(&self) -> &str {
        &self.as_entered
    }

    /// The lowercased address: the lookup and uniqueness key.
    pub fn normalized(&self) -> &str {
        &self.normalized
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_entered)
    }
}

/// The lookup key of an address: trimmed and lowercased (Unicode-aware).
pub fn normalize(address: &str) -> String {
    address.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_lowercases() {
        let email = Email::parse("  Esimerkki.Erkki@Testi.FI \n").unwrap();
        assert_eq!(email.as_entered(), "Esimerkki.Erkki@Testi.FI");
        assert_eq!(email.normalized(), "esimerkki.erkki@testi.fi");
    }

    #[test]
    fn lowercases_non_ascii() {
        assert_eq!(
            Email::parse("ÄIJÄ@Kylä.fi").unwrap().normalized(),
            "äijä@kylä.fi"
        );
    }

    #[test]
    fn rejects_what_is_not_an_address() {
        assert_eq!(Email::parse("   "), Err(EmailError::Empty));
        assert_eq!(
            Email::parse("erkki"),
            Err(EmailError::Invalid("erkki".into()))
        );
        assert_eq!(
            Email::parse("Erkki <erkki@testi.fi>"),
            Err(EmailError::Invalid("Erkki <erkki@testi.fi>".into()))
        );
        let long = format!("{}@testi.fi", "a".repeat(250));
        assert_eq!(Email::parse(&long), Err(EmailError::TooLong));
    }
}
